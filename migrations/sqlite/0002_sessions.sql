-- +goose Up

-- sessions holds the dashboard's logins on the server side, so that logging
-- out (deleting the row) revokes a session at once, whatever the browser
-- still holds. id_hash is the hex SHA-256 of the random session id the
-- cookie carries: a copy of this file does not hold usable session ids.
-- Times are UTC text in the requests table's fixed-width form, so text
-- order is time order.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY NOT NULL,
    key_hash   TEXT NOT NULL,    -- hex SHA-256 of the key the user logged in with
    key_mask   TEXT NOT NULL,    -- its display form
    admin      INTEGER NOT NULL, -- 1 when the session sees every key's records
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- +goose Down
DROP TABLE sessions;
