package postgres

import (
	"context"
	"fmt"
	"time"

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
	return rows.GetSession(ctx, shared{s.pool}, textArg(idHash), now)
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

// LoginFailed counts one failed login from client and reports whether it
// is within max failures in the client's window. It is one upsert, whose
// row lock orders the failures of all replicas.
func (s *Postgres) LoginFailed(ctx context.Context, client string, now time.Time, window time.Duration, max int) (_ bool, _ time.Duration, err error) {
	defer func() { err = unavailable(err) }()
	return rows.LoginFailed(ctx, shared{s.pool}, validText(client), now, window, max)
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
