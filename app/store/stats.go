package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Stats summarises the records matching f, ignoring its Limit and Offset.
// RecentRequests counts those started in the hour before now. Both of its
// queries run in one read transaction, so they see the same records.
func (s *SQLite) Stats(ctx context.Context, f Filter, now time.Time) (Stats, error) {
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	defer tx.Rollback()
	st, err := findStats(ctx, tx, f, now)
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}

// findStats computes Stats with one aggregate query and, when there are
// durations, one query for their 95th percentile.
func findStats(ctx context.Context, tx *sql.Tx, f Filter, now time.Time) (Stats, error) {
	cond, args, err := filterWhere(f)
	if err != nil {
		return Stats{}, err
	}
	var (
		st        Stats
		durations int64
	)
	err = tx.QueryRowContext(ctx, `
		SELECT
			COUNT(*),
			COALESCE(SUM(outcome = 'ok'), 0),
			COUNT(duration_ms),
			COALESCE(AVG(duration_ms), 0.0),
			COALESCE(AVG(CASE WHEN is_stream = 1 THEN ttft_ms END), 0.0),
			COALESCE(SUM(timestamp >= ? AND timestamp <= ?), 0),
			COALESCE(SUM(prompt_tokens), 0),
			COALESCE(SUM(completion_tokens), 0),
			COALESCE(SUM(total_tokens), 0),
			COALESCE(SUM(cost), 0.0)
		FROM requests
		WHERE `+cond,
		append([]any{formatTime(now.Add(-time.Hour)), formatTime(now)}, args...)...,
	).Scan(
		&st.TotalRequests,
		&st.SuccessCount,
		&durations,
		&st.AvgDurationMs,
		&st.AvgTTFTMs,
		&st.RecentRequests,
		&st.PromptTokens,
		&st.CompletionTokens,
		&st.TotalTokens,
		&st.TotalCost,
	)
	if err != nil {
		return Stats{}, fmt.Errorf("aggregate: %w", err)
	}
	st.ErrorCount = st.TotalRequests - st.SuccessCount
	if st.TotalRequests > 0 {
		st.SuccessRate = 100 * float64(st.SuccessCount) / float64(st.TotalRequests)
	}

	if durations > 0 {
		// Nearest rank: the ceil(0.95·n)-th smallest duration.
		rank := (95*durations + 99) / 100
		err := tx.QueryRowContext(ctx, `
			SELECT duration_ms
			FROM requests
			WHERE `+cond+` AND duration_ms IS NOT NULL
			ORDER BY duration_ms
			LIMIT 1 OFFSET ?`,
			append(args, rank-1)...,
		).Scan(&st.P95DurationMs)
		if err != nil {
			return Stats{}, fmt.Errorf("p95: %w", err)
		}
	}
	return st, nil
}

// Models returns the distinct models of the records v may see, sorted:
// the model that served each request, or the one requested when the
// upstream named none.
func (s *SQLite) Models(ctx context.Context, v Viewer) ([]string, error) {
	vis, args := visibleWhere(v)
	names, err := queryStrings(ctx, s.rdb, `
		SELECT DISTINCT m FROM (
			SELECT COALESCE(NULLIF(model, ''), NULLIF(model_requested, '')) AS m
			FROM requests
			WHERE `+vis+`
		)
		WHERE m IS NOT NULL
		ORDER BY m`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: models: %w", err)
	}
	return names, nil
}

// Methods returns the distinct HTTP methods of the records v may see, in
// upper case (as Filter.Method ignores case), sorted.
func (s *SQLite) Methods(ctx context.Context, v Viewer) ([]string, error) {
	vis, args := visibleWhere(v)
	names, err := queryStrings(ctx, s.rdb, `
		SELECT DISTINCT UPPER(method) AS m
		FROM requests
		WHERE `+vis+` AND method <> ''
		ORDER BY m`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: methods: %w", err)
	}
	return names, nil
}

// Keys returns every API key that has records, most recently used first.
// It applies no visibility rule: only admins may be shown it.
func (s *SQLite) Keys(ctx context.Context) ([]KeyInfo, error) {
	// With a single max() aggregate, SQLite takes the bare column
	// key_mask from the row holding the maximum: the newest mask.
	rows, err := s.rdb.QueryContext(ctx, `
		SELECT key_hash, key_mask, COUNT(*), MAX(timestamp) AS last_seen
		FROM requests
		WHERE key_hash <> ''
		GROUP BY key_hash
		ORDER BY last_seen DESC, key_hash`)
	if err != nil {
		return nil, fmt.Errorf("store: keys: %w", err)
	}
	defer rows.Close()
	var keys []KeyInfo
	for rows.Next() {
		var (
			k    KeyInfo
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
func lastIDSQL(v Viewer) (string, []any) {
	vis, args := visibleWhere(v)
	return `SELECT id FROM requests WHERE ` + vis + ` ORDER BY id DESC LIMIT 1`, args
}

// LastID returns the id of the newest record v may see, or "" when there
// is none. A poller compares it with the one it saw before to learn
// whether anything new arrived.
func (s *SQLite) LastID(ctx context.Context, v Viewer) (string, error) {
	query, args := lastIDSQL(v)
	var id string
	err := s.rdb.QueryRowContext(ctx, query, args...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("store: last id: %w", err)
	}
	return id, nil
}

// HasKey reports whether any record was made with the key whose
// fingerprint is keyHash. The dashboard lets a key log in only then.
func (s *SQLite) HasKey(ctx context.Context, keyHash string) (bool, error) {
	if keyHash == "" {
		return false, nil
	}
	id, err := s.LastID(ctx, Viewer{KeyHash: keyHash})
	return id != "", err
}

// queryStrings runs a query selecting one text column and returns its
// values.
func queryStrings(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
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
