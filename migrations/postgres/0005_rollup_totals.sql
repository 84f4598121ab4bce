-- +goose Up

-- rollup_totals holds each key's totals per bucket, split only by ok: the
-- same sums and histograms as rollups (see 0004), without the model,
-- provider, status, stream and method dimensions. Queries that filter by
-- nothing but the key and the outcome read these few rows per bucket
-- instead of the hundreds of rollups. The writer keeps both in the same
-- transaction.
CREATE TABLE rollup_totals (
    grain             bigint NOT NULL,
    bucket            bigint NOT NULL,
    key_hash          text COLLATE "C" NOT NULL,
    ok                boolean NOT NULL,

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

    PRIMARY KEY (grain, bucket, key_hash, ok)
) WITH (fillfactor = 80);

-- Rollups built before this table existed lack its rows: build them all
-- again from the records (as on SQLite; a PostgreSQL database is never
-- that old in practice).
DELETE FROM rollups;
DELETE FROM api_keys;
DELETE FROM rollup_state;
INSERT INTO rollup_state (name, value) SELECT 'built', '1' WHERE NOT EXISTS (SELECT 1 FROM requests);

-- +goose Down
DROP TABLE rollup_totals;
