-- +goose Up

-- rollup_totals holds each key's totals per bucket, split only by ok: the
-- same sums and histograms as rollups (see 0004), without the model,
-- provider, status, stream and method dimensions. Queries that filter by
-- nothing but the key and the outcome read these few rows per bucket
-- instead of the hundreds of rollups. The writer keeps both in the same
-- transaction.
CREATE TABLE rollup_totals (
    grain             INTEGER NOT NULL,
    bucket            INTEGER NOT NULL,
    key_hash          TEXT NOT NULL,
    ok                INTEGER NOT NULL,

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

    PRIMARY KEY (grain, bucket, key_hash, ok)
) WITHOUT ROWID;

-- Rollups built before this table existed lack its rows: build them all
-- again from the records at the next Open (see store.Options.Progress).
DELETE FROM rollups;
DELETE FROM api_keys;
DELETE FROM rollup_state;
INSERT INTO rollup_state (name, value) SELECT 'built', '1' WHERE NOT EXISTS (SELECT 1 FROM requests);

-- +goose Down
DROP TABLE rollup_totals;
