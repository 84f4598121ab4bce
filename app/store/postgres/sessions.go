package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// Sessions are small, rare writes straight to the pool. Every dashboard
// replica on the database reads the same table, so any of them accepts any
// session, and a logout on one revokes it on all.

// CreateSession stores sess. Its IDHash must be new, and it must have an
// expiry; otherwise the error wraps ErrInvalid.
func (s *Postgres) CreateSession(ctx context.Context, sess store.Session) (err error) {
	defer func() { err = unavailable(err) }()
	if sess.IDHash == "" || sess.Expires.IsZero() {
		return fmt.Errorf("store: create session: %w: id hash and expiry are required", store.ErrInvalid)
	}
	_, err = s.pool.Exec(ctx, `
		INSERT INTO sessions (id_hash, key_hash, key_mask, admin, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		validText(sess.IDHash), validText(sess.KeyHash), validText(sess.KeyMask), sess.Admin,
		rows.FormatTime(sess.Created), rows.FormatTime(sess.Expires))
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// GetSession returns the session with the given IDHash, or an error
// wrapping ErrNotFound when there is none or it has expired by now.
func (s *Postgres) GetSession(ctx context.Context, idHash string, now time.Time) (_ store.Session, err error) {
	defer func() { err = unavailable(err) }()
	var (
		sess             store.Session
		created, expires string
	)
	err = s.pool.QueryRow(ctx, `
		SELECT id_hash, key_hash, key_mask, admin, created_at, expires_at
		FROM sessions
		WHERE id_hash = $1 AND expires_at > $2`,
		textArg(idHash), rows.FormatTime(now),
	).Scan(&sess.IDHash, &sess.KeyHash, &sess.KeyMask, &sess.Admin, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Session{}, fmt.Errorf("store: get session: %w", store.ErrNotFound)
	} else if err != nil {
		return store.Session{}, fmt.Errorf("store: get session: %w", err)
	}
	if sess.Created, err = rows.ParseTime(created); err != nil {
		return store.Session{}, fmt.Errorf("store: get session: %w", err)
	}
	if sess.Expires, err = rows.ParseTime(expires); err != nil {
		return store.Session{}, fmt.Errorf("store: get session: %w", err)
	}
	return sess, nil
}

// DeleteSession deletes a session, revoking it at once. Deleting a missing
// session is not an error.
func (s *Postgres) DeleteSession(ctx context.Context, idHash string) (err error) {
	defer func() { err = unavailable(err) }()
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, textArg(idHash)); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes the sessions expired by now, and the login
// failures counted more than store.LoginFailureKeep before now, and returns
// how many sessions it deleted.
func (s *Postgres) DeleteExpiredSessions(ctx context.Context, now time.Time) (_ int64, err error) {
	defer func() { err = unavailable(err) }()
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, rows.FormatTime(now))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_failures WHERE window_start < $1`,
		rows.FormatTime(now.Add(-store.LoginFailureKeep))); err != nil {
		return tag.RowsAffected(), fmt.Errorf("store: delete old login failures: %w", err)
	}
	return tag.RowsAffected(), nil
}

// loginFailedSQL counts a failure in one statement, as on SQLite: a window
// over (begun at or before the cutoff, $3) starts again at this failure;
// otherwise the count goes up, but no further than max+1 ($4), so that it
// says whether this failure was within the limit. The upsert's row lock
// orders the failures of all replicas; every SET expression reads the row
// as it was.
const loginFailedSQL = `
	INSERT INTO login_failures (client, window_start, failures) VALUES ($1, $2, 1)
	ON CONFLICT (client) DO UPDATE SET
		window_start = CASE WHEN login_failures.window_start <= $3 THEN excluded.window_start ELSE login_failures.window_start END,
		failures = CASE WHEN login_failures.window_start <= $3 THEN 1
			WHEN login_failures.failures > $4 THEN login_failures.failures
			ELSE login_failures.failures + 1 END
	RETURNING window_start, failures`

// LoginFailed counts one failed login from client and reports whether it
// is within max failures in the client's window.
func (s *Postgres) LoginFailed(ctx context.Context, client string, now time.Time, window time.Duration, max int) (_ bool, _ time.Duration, err error) {
	defer func() { err = unavailable(err) }()
	var start string
	var n int64
	if err := s.pool.QueryRow(ctx, loginFailedSQL, validText(client), rows.FormatTime(now), rows.FormatTime(now.Add(-window)), int64(max)).Scan(&start, &n); err != nil {
		return false, 0, fmt.Errorf("store: login failed: %w", err)
	}
	if n <= int64(max) {
		return true, 0, nil
	}
	began, err := rows.ParseTime(start)
	if err != nil {
		return false, 0, fmt.Errorf("store: login failed: %w", err)
	}
	return false, began.Add(window).Sub(now), nil
}

// Secret returns the secret called name, storing value as it first if the
// database has none; the first replica to ask sets it for all.
func (s *Postgres) Secret(ctx context.Context, name string, value []byte) (_ []byte, err error) {
	defer func() { err = unavailable(err) }()
	if _, err := s.pool.Exec(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, validText(name), value); err != nil {
		return nil, fmt.Errorf("store: secret %s: %w", name, err)
	}
	var v []byte
	if err := s.pool.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, validText(name)).Scan(&v); err != nil {
		return nil, fmt.Errorf("store: secret %s: %w", name, err)
	}
	return v, nil
}
