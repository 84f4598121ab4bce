package rows

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// GetSession returns the session whose id hash is id, the argument the
// store compares with id_hash, or an error wrapping ErrNotFound when there
// is none or it has expired by now.
func GetSession(ctx context.Context, q Querier, id any, now time.Time) (store.Session, error) {
	var (
		sess             store.Session
		created, expires string
	)
	found, err := scanOne(ctx, q, []any{&sess.IDHash, &sess.KeyHash, &sess.KeyMask, &sess.Admin, &created, &expires}, `
		SELECT id_hash, key_hash, key_mask, admin, created_at, expires_at
		FROM sessions
		WHERE id_hash = ? AND expires_at > ?`, id, FormatTime(now))
	if err == nil && !found {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Session{}, fmt.Errorf("store: get session: %w", err)
	}
	if sess.Created, err = ParseTime(created); err != nil {
		return store.Session{}, fmt.Errorf("store: get session: %w", err)
	}
	if sess.Expires, err = ParseTime(expires); err != nil {
		return store.Session{}, fmt.Errorf("store: get session: %w", err)
	}
	return sess, nil
}

// loginFailedSQL counts a failure: a window over (begun at or before the
// cutoff, $3) starts again at this failure; otherwise the count goes up,
// but no further than max+1 ($4), so that the count says whether this
// failure was within the limit (≤ max) or beyond it. Every SET expression
// reads the row as it was.
const loginFailedSQL = `
	INSERT INTO login_failures (client, window_start, failures) VALUES ($1, $2, 1)
	ON CONFLICT (client) DO UPDATE SET
		window_start = CASE WHEN login_failures.window_start <= $3 THEN excluded.window_start ELSE login_failures.window_start END,
		failures = CASE WHEN login_failures.window_start <= $3 THEN 1
			WHEN login_failures.failures > $4 THEN login_failures.failures
			ELSE login_failures.failures + 1 END
	RETURNING window_start, failures`

// LoginFailed counts one failed login from client, the argument the store
// stores, and reports whether it is within max failures in the client's
// window, and if not, how long until the window ends. Its statement numbers
// its placeholders, as both stores take them, to use one twice.
func LoginFailed(ctx context.Context, q Querier, client any, now time.Time, window time.Duration, max int) (bool, time.Duration, error) {
	var start string
	var n int64
	found, err := scanOne(ctx, q, []any{&start, &n}, loginFailedSQL, client, FormatTime(now), FormatTime(now.Add(-window)), int64(max))
	if err == nil && !found {
		err = errors.New("the upsert returned no row")
	}
	if err != nil {
		return false, 0, fmt.Errorf("store: login failed: %w", err)
	}
	if n <= int64(max) {
		return true, 0, nil
	}
	began, err := ParseTime(start)
	if err != nil {
		return false, 0, fmt.Errorf("store: login failed: %w", err)
	}
	return false, began.Add(window).Sub(now), nil
}
