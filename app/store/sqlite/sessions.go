package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// Sessions, login failures and secrets are small, rare writes. They go straight through
// the writer's single connection rather than the record queue: database/sql
// hands that connection to one user at a time, so they simply wait for a
// batch being committed and never contend for SQLite's write lock. Their
// reads use the read pool, so a dashboard request never waits behind the
// writer; in WAL mode each new read transaction sees every commit made
// before it began, so a session is readable as soon as CreateSession
// returns.

// CreateSession stores sess. Its IDHash must be new, and it must have an
// expiry; otherwise the error wraps ErrInvalid.
func (s *SQLite) CreateSession(ctx context.Context, sess store.Session) error {
	if sess.IDHash == "" || sess.Expires.IsZero() {
		return fmt.Errorf("store: create session: %w: id hash and expiry are required", store.ErrInvalid)
	}
	_, err := s.wdb.ExecContext(ctx, `
		INSERT INTO sessions (id_hash, key_hash, key_mask, admin, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		sess.IDHash, sess.KeyHash, sess.KeyMask, sess.Admin, rows.FormatTime(sess.Created), rows.FormatTime(sess.Expires))
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// GetSession returns the session with the given IDHash, or an error
// wrapping ErrNotFound when there is none or it has expired by now.
func (s *SQLite) GetSession(ctx context.Context, idHash string, now time.Time) (store.Session, error) {
	return rows.GetSession(ctx, querier{s.rdb}, idHash, now)
}

// DeleteSession deletes a session, revoking it at once. Deleting a missing
// session is not an error.
func (s *SQLite) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := s.wdb.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes the sessions expired by now, and the login
// failures counted more than store.LoginFailureKeep before now, and returns
// how many sessions it deleted.
func (s *SQLite) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, rows.FormatTime(now))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	if _, err := s.wdb.ExecContext(ctx, `DELETE FROM login_failures WHERE window_start < ?`,
		rows.FormatTime(now.Add(-store.LoginFailureKeep))); err != nil {
		return n, fmt.Errorf("store: delete old login failures: %w", err)
	}
	return n, nil
}

// LoginFailed counts one failed login from client and reports whether it
// is within max failures in the client's window.
func (s *SQLite) LoginFailed(ctx context.Context, client string, now time.Time, window time.Duration, max int) (bool, time.Duration, error) {
	return rows.LoginFailed(ctx, querier{s.wdb}, client, now, window, max)
}

// Secret returns the secret called name, storing value as it first if the
// database has none.
func (s *SQLite) Secret(ctx context.Context, name string, value []byte) ([]byte, error) {
	if _, err := s.wdb.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
		return nil, fmt.Errorf("store: secret %s: %w", name, err)
	}
	var v []byte
	if err := s.wdb.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("store: secret %s: %w", name, err)
	}
	return v, nil
}
