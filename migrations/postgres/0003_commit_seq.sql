-- +goose Up

-- request_seq gives every committed record a commit sequence, so that the
-- search index of every dashboard replica is fed in commit order and keeps
-- the last seq it holds as its watermark, as on SQLite: the feed reads
-- "seq > watermark ORDER BY seq". An exchange's UUIDv7 is taken when it
-- starts, and a five-minute stream commits after thousands of newer ids,
-- hence a sequence of its own. Deleting a record deletes its row here too.
--
-- A PostgreSQL SEQUENCE (or an identity column) cannot be this sequence:
-- nextval() is taken at insert, not at commit. With several writers, the
-- transaction that took 10 may commit after the one that took 11; a feed
-- that read 11 and moved its watermark there would never see 10.
--
-- So seq comes from request_seq_counter, a single row that holds the last
-- seq handed out, and a writer takes its seqs last, just before COMMIT:
--
--   BEGIN;                                  -- READ COMMITTED, the default
--   INSERT INTO requests …; rollups …;      -- the batch, no lock held
--   UPDATE request_seq_counter SET seq = seq + n RETURNING seq;   -- = last
--   INSERT INTO request_seq (seq, id) VALUES (last-n+1, …) … (last, …);
--   COMMIT;
--
-- The UPDATE locks the row until COMMIT, so the writers of all replicas
-- take their seqs one transaction at a time, in commit order: the next
-- writer's UPDATE waits for the lock, and then reads the counter as the
-- previous one committed it. PostgreSQL makes a commit visible before it
-- releases the transaction's locks, so a reader that sees seq N already
-- sees every seq below N: the feed skips nothing. A rolled back batch
-- rolls its UPDATE back too, so seqs have no gaps from aborts. (Under
-- REPEATABLE READ the waiting UPDATE would fail with a serialization
-- error: the writer must stay at READ COMMITTED.)
--
-- The cost is that the writers' commits are serialised (the lock is held
-- through the commit's WAL flush), once per batch, not per record.
-- The alternative considered, an xid8 column and a feed that reads only
-- below pg_snapshot_xmin(pg_current_snapshot()), needs no lock, but its
-- order is (xid, seq), not seq: the watermark would be a pair, and the
-- feed would differ from SQLite's.
--
-- The counter also gives the dashboards a cheap check for new records
-- (one row, one index lookup): SELECT seq FROM request_seq_counter.
CREATE TABLE request_seq (
    seq bigint PRIMARY KEY,
    id  text COLLATE "C" NOT NULL UNIQUE REFERENCES requests (id) ON DELETE CASCADE
);

-- request_seq_counter has exactly one row: seq is the last seq handed out,
-- 0 when none. Retention never lowers it.
CREATE TABLE request_seq_counter (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq bigint NOT NULL
);

-- Existing records, oldest first (a new database has none).
INSERT INTO request_seq (seq, id)
SELECT row_number() OVER (ORDER BY timestamp, id), id FROM requests;
INSERT INTO request_seq_counter (seq) SELECT COUNT(*) FROM request_seq;

-- +goose Down
DROP TABLE request_seq_counter;
DROP TABLE request_seq;
