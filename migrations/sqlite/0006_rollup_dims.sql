-- +goose Up

-- rollup_dims holds the rollups summed over the keys: the same buckets,
-- dimensions (but the key), sums and histograms as rollups (see 0004). An
-- admin's statistics that filter or group by model, provider, status,
-- stream or method read these rows, as many per bucket as there are
-- combinations of those, instead of that many for every key. The writer
-- keeps it in the same transaction as the others.
CREATE TABLE rollup_dims (
    grain             INTEGER NOT NULL,
    bucket            INTEGER NOT NULL,
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

    PRIMARY KEY (grain, bucket, model_requested, model, provider, status, ok, stream, method)
) WITHOUT ROWID;

-- Built from the rollups already there: hist_sum, which the store
-- registers on its writer's connection, adds stored histograms.
INSERT INTO rollup_dims
SELECT grain, bucket, model_requested, model, provider, status, ok, stream, method,
    SUM(requests), SUM(duration_ms), SUM(ttfb_ms), SUM(ttfb_count), SUM(ttft_ms), SUM(ttft_count),
    SUM(gen_ms), SUM(gen_tokens), SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens),
    SUM(cached_tokens), SUM(reasoning_tokens), SUM(cost),
    COALESCE(hist_sum(duration_hist), X''), COALESCE(hist_sum(ttft_hist), X'')
FROM rollups
GROUP BY grain, bucket, model_requested, model, provider, status, ok, stream, method;

-- +goose Down
DROP TABLE rollup_dims;
