-- +goose Up

-- login_failures counts the failed dashboard logins of each client (an
-- address, as auth.Client names it) in its current window, so that the
-- login limit holds across restarts and, on a shared database, across
-- every dashboard replica. window_start is UTC text in the requests
-- table's fixed-width form; a window older than the limit's is over.
CREATE TABLE login_failures (
    client       TEXT PRIMARY KEY NOT NULL,
    window_start TEXT NOT NULL,
    failures     INTEGER NOT NULL
);

-- secrets holds values every process on the database must share and that
-- are generated once: the session cookie key when SESSION_SECRET is unset.
CREATE TABLE secrets (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);

-- +goose Down
DROP TABLE secrets;
DROP TABLE login_failures;
