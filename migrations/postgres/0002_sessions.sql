-- +goose Up

-- sessions holds the dashboard's logins on the server side, so that logging
-- out (deleting the row) revokes a session at once, whatever the browser
-- still holds, and so that every dashboard replica on this database accepts
-- every session. id_hash is the hex SHA-256 of the random session id the
-- cookie carries: a copy of this database does not hold usable session ids.
-- Times are UTC text in the requests table's fixed-width form (see 0001),
-- so text order is time order.
CREATE TABLE sessions (
    id_hash    text COLLATE "C" PRIMARY KEY NOT NULL,
    key_hash   text COLLATE "C" NOT NULL, -- hex SHA-256 of the key the user logged in with
    key_mask   text COLLATE "C" NOT NULL, -- its display form
    admin      boolean NOT NULL,          -- true when the session sees every key's records
    created_at text COLLATE "C" NOT NULL,
    expires_at text COLLATE "C" NOT NULL
);

CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- +goose Down
DROP TABLE sessions;
