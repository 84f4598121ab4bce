package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Stats summarises the records matching f, ignoring its Limit and Offset.
// RecentRequests counts those started in the hour before now. Without a
// Search or IDs, it reads the rollups, which count the records retention
// deleted too, for whole buckets and the stored records for the ragged
// edges of the window (see findStats); its percentiles then come from
// histograms. Everything runs in one read transaction, so it sees one
// state of the database.
func (s *Postgres) Stats(ctx context.Context, f store.Filter, now time.Time) (_ store.Stats, err error) {
	defer func() { err = unavailable(err) }()
	tx, err := s.readTx(ctx)
	if err != nil {
		return store.Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	defer tx.Rollback(ctx)
	st, err := findStats(ctx, tx, f, now)
	if err != nil {
		return store.Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}

// listTable is the day rollups' table that lists what v may see: an admin
// sees every key, and the rows summed over the keys are fewer.
func listTable(v store.Viewer) string {
	if v.Admin {
		return "rollup_dims"
	}
	return "rollups"
}

// Models returns the distinct models of the records v may see, sorted:
// the model that served each request, or the one requested when the
// upstream named none. It reads the day rollups, so it lists the models of
// records retention has deleted too.
func (s *Postgres) Models(ctx context.Context, v store.Viewer) (_ []string, err error) {
	defer func() { err = unavailable(err) }()
	vis, args := visibleWhere(v)
	names, err := queryStrings(ctx, s.pool, `
		SELECT DISTINCT m FROM (
			SELECT CASE WHEN model <> '' THEN model ELSE model_requested END AS m
			FROM `+listTable(v)+`
			WHERE grain = `+strconv.Itoa(grainDay)+` AND `+vis+`
		) AS models
		WHERE m <> ''
		ORDER BY m`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: models: %w", err)
	}
	return names, nil
}

// Methods returns the distinct HTTP methods of the records v may see, in
// upper case (as Filter.Method ignores case), sorted. Like Models, it reads
// the day rollups.
func (s *Postgres) Methods(ctx context.Context, v store.Viewer) (_ []string, err error) {
	defer func() { err = unavailable(err) }()
	vis, args := visibleWhere(v)
	names, err := queryStrings(ctx, s.pool, `
		SELECT DISTINCT UPPER(method) COLLATE "C" AS m
		FROM `+listTable(v)+`
		WHERE grain = `+strconv.Itoa(grainDay)+` AND `+vis+` AND method <> ''
		ORDER BY m`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: methods: %w", err)
	}
	return names, nil
}

// Keys returns every API key that has made requests, most recently used
// first, from the small table the writer keeps: Requests counts every
// request made with the key, those retention deleted included. It applies
// no visibility rule: only admins may be shown it.
func (s *Postgres) Keys(ctx context.Context) (_ []store.KeyInfo, err error) {
	defer func() { err = unavailable(err) }()
	rows, err := s.pool.Query(ctx, `
		SELECT key_hash, key_mask, requests, last_seen
		FROM api_keys
		ORDER BY last_seen DESC, key_hash`)
	if err != nil {
		return nil, fmt.Errorf("store: keys: %w", err)
	}
	defer rows.Close()
	var keys []store.KeyInfo
	for rows.Next() {
		var (
			k    store.KeyInfo
			last string
		)
		if err := rows.Scan(&k.Hash, &k.Mask, &k.Requests, &last); err != nil {
			return nil, fmt.Errorf("store: keys: %w", err)
		}
		if k.LastSeen, err = parseTime(last); err != nil {
			return nil, fmt.Errorf("store: keys: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: keys: %w", err)
	}
	return keys, nil
}

// lastIDSQL finds the newest id v may see. Ids are UUIDv7, so the newest
// is the greatest; the primary key's index, or (key_hash, id) for a user,
// answers it without reading the table.
func lastIDSQL(v store.Viewer) (string, []any) {
	vis, args := visibleWhere(v)
	return `SELECT id FROM requests WHERE ` + vis + ` ORDER BY id DESC LIMIT 1`, args
}

// LastID returns the id of the newest record v may see, or "" when there
// is none. A poller compares it with the one it saw before to learn
// whether anything new arrived.
func (s *Postgres) LastID(ctx context.Context, v store.Viewer) (_ string, err error) {
	defer func() { err = unavailable(err) }()
	query, args := lastIDSQL(v)
	var id string
	err = queryRow(ctx, s.pool, query, args...).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("store: last id: %w", err)
	}
	return id, nil
}

// HasKey reports whether any record was made with the key whose
// fingerprint is keyHash. The dashboard lets a key log in only then.
func (s *Postgres) HasKey(ctx context.Context, keyHash string) (_ bool, err error) {
	defer func() { err = unavailable(err) }()
	if keyHash == "" {
		return false, nil
	}
	id, err := s.LastID(ctx, store.Viewer{KeyHash: keyHash})
	return id != "", err
}

// queryStrings runs a query selecting one text column and returns its
// values.
func queryStrings(ctx context.Context, db querier, sql string, args ...any) ([]string, error) {
	rows, err := query(ctx, db, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
