-- +goose Up

-- provider is who served the request behind OpenRouter ("OpenAI",
-- "Google Vertex"), from the answer's "provider" field. ADD COLUMN of a
-- nullable column without a default rewrites no row.
ALTER TABLE requests ADD COLUMN provider text COLLATE "C";

-- rollups holds the statistics of the records, per time bucket and per
-- combination of the dimensions the dashboard filters and breaks down by,
-- as on SQLite (see SQLite's 0004_rollups.sql for the grains, compaction
-- and the meaning of each column). The writer keeps it in the
-- transaction that inserts the records, so it never disagrees with them;
-- retention deletes records but never rollups.
--
-- Several writers (proxy replicas) update the same rows at once. Each one
-- upserts its batch's rows with INSERT … ON CONFLICT DO UPDATE, adding to
-- the stored sums, in primary key order: the row locks make the sums exact,
-- and taking them in one order everywhere rules out deadlocks. The
-- histograms (sparse (bucket, count) varints, app/store hist.go) are merged
-- the same way, under the row lock the upsert holds.
--
-- status is the response status, 0 when none was sent; ok is true when the
-- outcome was ok. Text dimensions are '' when unknown, never NULL, so that
-- they take part in the primary key.
--
-- fillfactor leaves room in each page, so that the constant updates of the
-- sums (no indexed column changes) are HOT: no index entry per update.
CREATE TABLE rollups (
    grain             bigint NOT NULL,
    bucket            bigint NOT NULL,
    key_hash          text COLLATE "C" NOT NULL,
    model_requested   text COLLATE "C" NOT NULL,
    model             text COLLATE "C" NOT NULL,
    provider          text COLLATE "C" NOT NULL,
    status            bigint NOT NULL,
    ok                boolean NOT NULL,
    stream            boolean NOT NULL,
    method            text COLLATE "C" NOT NULL,

    requests          bigint NOT NULL,
    duration_ms       double precision NOT NULL,
    ttfb_ms           double precision NOT NULL,
    ttfb_count        bigint NOT NULL,
    ttft_ms           double precision NOT NULL,
    ttft_count        bigint NOT NULL,
    gen_ms            double precision NOT NULL,
    gen_tokens        bigint NOT NULL,
    prompt_tokens     bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    total_tokens      bigint NOT NULL,
    cached_tokens     bigint NOT NULL,
    reasoning_tokens  bigint NOT NULL,
    cost              double precision NOT NULL,
    duration_hist     bytea NOT NULL,
    ttft_hist         bytea NOT NULL,

    PRIMARY KEY (grain, bucket, key_hash, model_requested, model, provider, status, ok, stream, method)
) WITH (fillfactor = 80);

-- One key's rows in time order, for the users who see only their own key.
CREATE INDEX rollups_key ON rollups (grain, key_hash, bucket);

-- api_keys is every API key that has made requests, kept by the writer, so
-- that the key list never scans the records. requests counts every request
-- made, pruned ones included. Concurrent writers upsert it like rollups:
-- requests = requests + n, and the newest record's mask and start win.
CREATE TABLE api_keys (
    key_hash  text COLLATE "C" PRIMARY KEY NOT NULL,
    key_mask  text COLLATE "C" NOT NULL, -- the newest record's
    requests  bigint NOT NULL,
    last_seen text COLLATE "C" NOT NULL  -- the newest record's start, in the requests table's form
) WITH (fillfactor = 80);

-- rollup_state holds the rollups' bookkeeping, one row per name, as on
-- SQLite (built, backfill, minute_from, hour_from, pruned_to). PostgreSQL
-- has no rowid: the backfill's resume point is "timestamp id" here.
CREATE TABLE rollup_state (
    name  text COLLATE "C" PRIMARY KEY NOT NULL,
    value text COLLATE "C" NOT NULL
);

-- A new database has nothing to build.
INSERT INTO rollup_state (name, value) SELECT 'built', '1' WHERE NOT EXISTS (SELECT 1 FROM requests);

-- +goose Down
DROP TABLE rollup_state;
DROP TABLE api_keys;
DROP TABLE rollups;
ALTER TABLE requests DROP COLUMN provider;
