-- +goose Up

-- A list of one key's records within a time window (a user's table with
-- from/to, or a breakdown row's link) reads them in start order from this
-- index and stops after a page: (key_hash, id) would walk down every newer
-- record of the key first, and the timestamp index would sort the window.
CREATE INDEX requests_key_hash_timestamp ON requests (key_hash, timestamp, id);

-- +goose Down
DROP INDEX requests_key_hash_timestamp;
