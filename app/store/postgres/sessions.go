package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
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
		formatTime(sess.Created), formatTime(sess.Expires))
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
		textArg(idHash), formatTime(now),
	).Scan(&sess.IDHash, &sess.KeyHash, &sess.KeyMask, &sess.Admin, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
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
func (s *Postgres) DeleteSession(ctx context.Context, idHash string) (err error) {
	defer func() { err = unavailable(err) }()
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, textArg(idHash)); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes the sessions expired by now and returns how
// many it deleted.
func (s *Postgres) DeleteExpiredSessions(ctx context.Context, now time.Time) (_ int64, err error) {
	defer func() { err = unavailable(err) }()
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, formatTime(now))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}
