-- +goose Up

-- requests holds one row per proxied exchange. The names id, timestamp,
-- method, url, headers, body, response_status, response_headers,
-- response_body, duration_ms and error are those of the old Python system's
-- table, so its data can be imported as is. Its plaintext
-- authorization_bearer column has no counterpart: only key_hash (hex
-- SHA-256) and key_mask (display form) are stored.
--
-- The table is not STRICT: legacy rows carry bodies as TEXT, and a plain
-- BLOB column accepts them without a cast.
CREATE TABLE requests (
    id                 TEXT PRIMARY KEY NOT NULL, -- UUIDv7: sorts by time as text
    timestamp          TEXT NOT NULL,             -- UTC, 2006-01-02T15:04:05.000000Z (fixed width, sorts as text)
    method             TEXT NOT NULL,
    url                TEXT NOT NULL,             -- the client's request URI
    path               TEXT NOT NULL,             -- upstream path relative to the API base
    query              TEXT NOT NULL DEFAULT '',  -- raw query string without '?'
    headers            TEXT NOT NULL,             -- redacted request headers, JSON object
    body               BLOB,                      -- request body as stored (capped)
    body_size          INTEGER,                   -- bytes the upstream got
    body_truncated     INTEGER,                   -- 1 when body is shorter than body_size
    key_hash           TEXT NOT NULL DEFAULT '',  -- hex SHA-256 of the API key; '' when none
    key_mask           TEXT NOT NULL DEFAULT '',  -- e.g. sk-or-v1…a1b2
    client_addr        TEXT,
    response_status    INTEGER,                   -- NULL when no status was sent
    response_headers   TEXT,                      -- redacted response headers, JSON object
    response_body      BLOB,                      -- decoded, capped
    response_size      INTEGER,
    response_truncated INTEGER,
    is_stream          INTEGER,
    model_requested    TEXT,
    model              TEXT,
    content            TEXT,
    reasoning          TEXT,
    tool_calls         TEXT,                      -- JSON array; '' when none
    finish_reason      TEXT,
    generation_id      TEXT,
    prompt_tokens      INTEGER,
    completion_tokens  INTEGER,
    total_tokens       INTEGER,
    cached_tokens      INTEGER,
    reasoning_tokens   INTEGER,
    cost               REAL,                      -- credits (USD)
    upstream_cost      REAL,
    has_usage          INTEGER,
    duration_ms        REAL,
    ttfb_ms            REAL,                      -- NULL when unknown
    ttft_ms            REAL,                      -- NULL when unknown
    attempts           INTEGER,
    outcome            TEXT NOT NULL,
    error              TEXT                       -- NULL on success
);

CREATE INDEX requests_timestamp ON requests (timestamp);
CREATE INDEX requests_key_hash_id ON requests (key_hash, id);
CREATE INDEX requests_model ON requests (model);
CREATE INDEX requests_response_status ON requests (response_status);

-- +goose Down
DROP TABLE requests;
