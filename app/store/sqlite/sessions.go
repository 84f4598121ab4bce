package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Sessions and settings are small, rare writes. They go straight through
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
		sess.IDHash, sess.KeyHash, sess.KeyMask, sess.Admin, formatTime(sess.Created), formatTime(sess.Expires))
	if err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// GetSession returns the session with the given IDHash, or an error
// wrapping ErrNotFound when there is none or it has expired by now.
func (s *SQLite) GetSession(ctx context.Context, idHash string, now time.Time) (store.Session, error) {
	var (
		sess             store.Session
		created, expires string
	)
	err := s.rdb.QueryRowContext(ctx, `
		SELECT id_hash, key_hash, key_mask, admin, created_at, expires_at
		FROM sessions
		WHERE id_hash = ? AND expires_at > ?`,
		idHash, formatTime(now),
	).Scan(&sess.IDHash, &sess.KeyHash, &sess.KeyMask, &sess.Admin, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Session{}, fmt.Errorf("store: get session: %w", store.ErrNotFound)
	} else if err != nil {
		return store.Session{}, fmt.Errorf("store: get session: %w", err)
	}
	if sess.Created, err = parseTime(created); err != nil {
		return store.Session{}, fmt.Errorf("store: get session: %w", err)
	}
	if sess.Expires, err = parseTime(expires); err != nil {
		return store.Session{}, fmt.Errorf("store: get session: %w", err)
	}
	return sess, nil
}

// DeleteSession deletes a session, revoking it at once. Deleting a missing
// session is not an error.
func (s *SQLite) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := s.wdb.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes the sessions expired by now and returns how
// many it deleted.
func (s *SQLite) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, formatTime(now))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return n, nil
}
