-- +goose Up

-- provider is who served the request behind OpenRouter ("OpenAI",
-- "Google Vertex"), from the answer's "provider" field. ADD COLUMN of a
-- nullable column without a default rewrites no row: existing rows read it
-- as NULL.
ALTER TABLE requests ADD COLUMN provider TEXT;

-- rollups holds the statistics of the records, per time bucket and per
-- combination of the dimensions the dashboard filters and breaks down by.
-- The writer keeps it in the transaction that inserts the records, so it
-- never disagrees with them; retention deletes records but never rollups.
--
-- Every record is counted at three grains at once: minute (60), hour (3600)
-- and day (86400) buckets, bucket being the Unix time of the bucket's start.
-- A query reads whole days from day rows, the ragged hours at its edges from
-- hour rows and the ragged minutes from minute rows. Compaction deletes
-- minute rows older than 48 hours and hour rows older than 60 days (see
-- rollup_state), so old history is kept at a coarser grain only.
--
-- status is the response status, 0 when none was sent; ok is 1 when the
-- outcome was ok. Text dimensions are '' when unknown, never NULL, so that
-- they take part in the primary key. The ttft_* and gen_* sums cover the
-- streams that have a time to first token; gen_ms is their time after it
-- (duration - TTFT) and gen_tokens their completion tokens, for tokens per
-- second. duration_hist and ttft_hist are log-scale histograms (see
-- app/store/hist.go): sparse (bucket, count) varints.
CREATE TABLE rollups (
    grain             INTEGER NOT NULL,
    bucket            INTEGER NOT NULL,
    key_hash          TEXT NOT NULL,
    model_requested   TEXT NOT NULL,
    model             TEXT NOT NULL,
    provider          TEXT NOT NULL,
    status            INTEGER NOT NULL,
    ok                INTEGER NOT NULL,
    stream            INTEGER NOT NULL,
    method            TEXT NOT NULL,

    requests          INTEGER NOT NULL,
    duration_ms       REAL NOT NULL,
    ttfb_ms           REAL NOT NULL,
    ttfb_count        INTEGER NOT NULL,
    ttft_ms           REAL NOT NULL,
    ttft_count        INTEGER NOT NULL,
    gen_ms            REAL NOT NULL,
    gen_tokens        INTEGER NOT NULL,
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    total_tokens      INTEGER NOT NULL,
    cached_tokens     INTEGER NOT NULL,
    reasoning_tokens  INTEGER NOT NULL,
    cost              REAL NOT NULL,
    duration_hist     BLOB NOT NULL,
    ttft_hist         BLOB NOT NULL,

    PRIMARY KEY (grain, bucket, key_hash, model_requested, model, provider, status, ok, stream, method)
) WITHOUT ROWID;

-- One key's rows in time order, for the users who see only their own key.
CREATE INDEX rollups_key ON rollups (grain, key_hash, bucket);

-- api_keys is every API key that has made requests, kept by the writer, so
-- that the key list never scans the records. requests counts every request
-- made, pruned ones included.
CREATE TABLE api_keys (
    key_hash  TEXT PRIMARY KEY NOT NULL,
    key_mask  TEXT NOT NULL, -- the newest record's
    requests  INTEGER NOT NULL,
    last_seen TEXT NOT NULL  -- the newest record's start, in the requests table's form
) WITHOUT ROWID;

-- rollup_state holds the rollups' bookkeeping, one row per name:
--   built       present once the rollups hold every record (the backfill of
--               an existing database is done);
--   backfill    the backfill's resume point, "timestamp rowid", while it runs;
--   minute_from, hour_from: Unix time from which minute and hour rows are
--               complete (older ones were compacted away);
--   pruned_to   the newest start time of a record retention deleted, in the
--               requests table's form: newer records are all still stored.
CREATE TABLE rollup_state (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- A new database has nothing to build.
INSERT INTO rollup_state (name, value) SELECT 'built', '1' WHERE NOT EXISTS (SELECT 1 FROM requests);

-- +goose Down
DROP TABLE rollup_state;
DROP TABLE api_keys;
DROP TABLE rollups;
ALTER TABLE requests DROP COLUMN provider;
