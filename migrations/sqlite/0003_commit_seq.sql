-- +goose Up

-- request_seq gives every committed record a commit sequence, assigned in
-- the writer's transaction, so that it follows commit order, not id order:
-- an exchange's UUIDv7 is taken when it starts, and a five-minute stream
-- commits after thousands of newer ids. The search index is fed in this
-- order and keeps the last seq it holds as its watermark.
--
-- A narrow table of its own rather than a column of requests: adding a
-- column would rewrite every row, bodies included, of an existing
-- database. seq is the rowid, so VACUUM keeps it; deleting a record
-- deletes its row here too.
CREATE TABLE request_seq (
    seq INTEGER PRIMARY KEY,
    id  TEXT NOT NULL UNIQUE REFERENCES requests (id) ON DELETE CASCADE
);

-- Existing records, in the order they were inserted: with one writer, the
-- order they were committed.
INSERT INTO request_seq (id) SELECT id FROM requests ORDER BY rowid;

-- +goose Down
DROP TABLE request_seq;
