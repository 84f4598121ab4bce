-- +goose Up

-- The PostgreSQL schema is SQLite's: the migrations of the same numbers
-- make the same tables, with the same columns in the same order, keys and
-- indexes (app/store/postgres/pgtest's TestMigrations holds them to it), in
-- PostgreSQL's types:
--
--   * Times stay text in the fixed-width UTC form
--     2006-01-02T15:04:05.000000Z, as on SQLite, not timestamptz. Both
--     stores then share the query code that compares and pages by time
--     (filters, cursors, the rollups' backfill point, the legacy import),
--     and a record reads back byte for byte what the other store returns.
--     Fixed-width UTC text sorts as time, so range scans and ORDER BY on
--     the indexes work as with a timestamp type.
--   * Every text column is COLLATE "C": comparison and order are by byte,
--     as SQLite's BINARY, whatever locale the database was created with,
--     so ORDER BY, ranges and cursors give what they give on SQLite. A "C"
--     btree also serves LIKE 'prefix%', and compares faster.
--   * Flags (0/1 INTEGER on SQLite) are boolean: the Go code binds and
--     scans them as bool on both stores.
--   * INTEGER is bigint (SQLite's integers are 64-bit), REAL is double
--     precision, BLOB is bytea.

-- requests holds one row per proxied exchange. The names id, timestamp,
-- method, url, headers, body, response_status, response_headers,
-- response_body, duration_ms and error are those of the old Python system's
-- table, so its data can be imported as is. Its plaintext
-- authorization_bearer column has no counterpart: only key_hash (hex
-- SHA-256) and key_mask (display form) are stored.
CREATE TABLE requests (
    id                 text COLLATE "C" PRIMARY KEY NOT NULL, -- UUIDv7: sorts by time as text
    timestamp          text COLLATE "C" NOT NULL,             -- UTC, 2006-01-02T15:04:05.000000Z (fixed width, sorts as text)
    method             text COLLATE "C" NOT NULL,
    url                text COLLATE "C" NOT NULL,             -- the client's request URI
    path               text COLLATE "C" NOT NULL,             -- upstream path relative to the API base
    query              text COLLATE "C" NOT NULL DEFAULT '',  -- raw query string without '?'
    headers            text COLLATE "C" NOT NULL,             -- redacted request headers, JSON object
    body               bytea,                                 -- request body as stored (capped)
    body_size          bigint,                                -- bytes the upstream got
    body_truncated     boolean,                               -- true when body is shorter than body_size
    key_hash           text COLLATE "C" NOT NULL DEFAULT '',  -- hex SHA-256 of the API key; '' when none
    key_mask           text COLLATE "C" NOT NULL DEFAULT '',  -- e.g. sk-or-v1…a1b2
    client_addr        text COLLATE "C",
    response_status    bigint,                                -- NULL when no status was sent
    response_headers   text COLLATE "C",                      -- redacted response headers, JSON object
    response_body      bytea,                                 -- decoded, capped
    response_size      bigint,
    response_truncated boolean,
    is_stream          boolean,
    model_requested    text COLLATE "C",
    model              text COLLATE "C",
    content            text COLLATE "C",
    reasoning          text COLLATE "C",
    tool_calls         text COLLATE "C",                      -- JSON array; '' when none
    finish_reason      text COLLATE "C",
    generation_id      text COLLATE "C",
    prompt_tokens      bigint,
    completion_tokens  bigint,
    total_tokens       bigint,
    cached_tokens      bigint,
    reasoning_tokens   bigint,
    cost               double precision,                      -- credits (USD)
    upstream_cost      double precision,
    has_usage          boolean,
    duration_ms        double precision,
    ttfb_ms            double precision,                      -- NULL when unknown
    ttft_ms            double precision,                      -- NULL when unknown
    attempts           bigint,
    outcome            text COLLATE "C" NOT NULL,
    error              text COLLATE "C"                       -- NULL on success
);

CREATE INDEX requests_timestamp ON requests (timestamp);
CREATE INDEX requests_key_hash_id ON requests (key_hash, id);
CREATE INDEX requests_model ON requests (model);
CREATE INDEX requests_response_status ON requests (response_status);

-- +goose Down
DROP TABLE requests;
