package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/retention"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rollup"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// backend is the SQLite side of the write path: the pipeline analyses and
// batches records, and calls it on its writer goroutine.
type backend struct{ s *SQLite }

// Commit writes batch in one transaction.
func (b backend) Commit(ctx context.Context, batch []*capture.Record) error {
	return b.s.insert(ctx, batch)
}

// Failing reports whether err means the database itself cannot take
// writes now (rather than that one batch is bad): the writer then keeps
// the batch and retries until the database recovers.
func (backend) Failing(err error) bool {
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code {
	case sqlite3.ErrFull, sqlite3.ErrIoErr, sqlite3.ErrReadonly, sqlite3.ErrBusy,
		sqlite3.ErrLocked, sqlite3.ErrCantOpen, sqlite3.ErrNomem, sqlite3.ErrProtocol:
		return true
	}
	return false
}

// Record queues rec for the writer, which has it analysed (rec.Analyze) and
// commits it with others in one transaction; see pipeline.Pipeline.Record.
func (s *SQLite) Record(rec *capture.Record) error { return s.pipe.Record(rec) }

// Flush returns once every record queued before the call is committed (or
// given up on and logged). It returns store.ErrClosed after Close, which
// itself commits everything queued.
func (s *SQLite) Flush(ctx context.Context) error { return s.pipe.Flush(ctx) }

// Health returns the state of the recording pipeline.
func (s *SQLite) Health() store.Health { return s.pipe.Health() }

// Prune runs a full retention round now, on the writer goroutine, after
// every record queued before the call is committed. It returns the number
// of records deleted; with Options.MaxHistory 0 it deletes nothing.
func (s *SQLite) Prune(ctx context.Context) (int, error) {
	if err := s.pipe.Flush(ctx); err != nil {
		return 0, err
	}
	var (
		n   int
		err error
	)
	if e := s.pipe.Do(ctx, func(ctx context.Context) { n, err = s.pruneAll(ctx) }); e != nil {
		return 0, e
	}
	return n, err
}

// maintain is the store's maintenance goroutine: it compacts the rollups
// (Open did it once already) and runs retention, each step on the writer
// goroutine between batches (pipeline.Do), until ctx ends.
func (s *SQLite) maintain(ctx context.Context) {
	defer close(s.maintained)
	compact := func(ctx context.Context) {
		if err := s.compact(ctx, time.Now()); err != nil {
			s.log.Error("store: rollups", "err", err)
		}
	}
	var pruneEvery time.Duration
	if s.opts.MaxHistory > 0 {
		pruneEvery = s.opts.PruneEvery
	}
	rollup.Schedule(ctx, pruneEvery,
		func() bool { return s.pipe.Do(ctx, compact) == nil },
		func() bool { s.pruneRound(ctx); return true })
}

// pruneRound runs a retention round a step at a time, one step between two
// batches of records at most, so that neither starves, until nothing is
// left to delete or Close begins.
func (s *SQLite) pruneRound(ctx context.Context) {
	var cutoff string
	var err error
	if s.pipe.Do(ctx, func(ctx context.Context) { cutoff, err = s.findCutoff(ctx) }) != nil {
		return
	}
	for more := cutoff != ""; err == nil && more; {
		if s.pipe.Do(ctx, func(ctx context.Context) { _, more, err = s.pruneStep(ctx, cutoff) }) != nil {
			return
		}
	}
	if err != nil {
		s.log.Error("store: retention", "err", err)
	}
}

// insert writes batch in one transaction with one prepared statement and
// runs Options.InTx inside it.
func (s *SQLite) insert(ctx context.Context, batch []*capture.Record) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer tx.Rollback()

	stmt, err := tx.PrepareContext(ctx, insertSQL)
	if err != nil {
		return fmt.Errorf("store: prepare insert: %w", err)
	}
	defer stmt.Close()
	seqStmt, err := tx.PrepareContext(ctx, `INSERT INTO request_seq (id) VALUES (?)`)
	if err != nil {
		return fmt.Errorf("store: prepare insert: %w", err)
	}
	defer seqStmt.Close()
	args := make([]any, len(rows.Columns))
	for _, rec := range batch {
		for i, c := range rows.Columns {
			args[i] = c.Arg(rec)
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("store: insert %s: %w", rec.ID, err)
		}
		// The commit sequence: this transaction is the only writer, so
		// sequence order is commit order.
		res, err := seqStmt.ExecContext(ctx, rec.ID)
		if err != nil {
			return fmt.Errorf("store: insert %s: sequence: %w", rec.ID, err)
		}
		if rec.Seq, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("store: insert %s: sequence: %w", rec.ID, err)
		}
	}
	// The rollups count the batch in its own transaction, so they never
	// disagree with the rows.
	if err := s.writeRollups(ctx, tx, batch); err != nil {
		return fmt.Errorf("store: insert: %w", err)
	}
	if s.opts.InTx != nil {
		if err := s.opts.InTx(ctx, tx, batch); err != nil {
			return fmt.Errorf("store: hook: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// findCutoff returns the newest id beyond the newest MaxHistory records,
// or "" when there is nothing to delete: a retention round deletes up to
// it, so that each step is a cheap range delete and new records are never
// touched.
func (s *SQLite) findCutoff(ctx context.Context) (string, error) {
	if s.opts.MaxHistory <= 0 {
		return "", nil
	}
	var id string
	err := s.wdb.QueryRowContext(ctx,
		`SELECT id FROM requests ORDER BY id DESC LIMIT 1 OFFSET ?`, s.opts.MaxHistory).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("store: find retention cutoff: %w", err)
	}
	return id, nil
}

// pruneStep deletes up to PruneBatch of the oldest records with ids up to
// cutoff in one transaction and runs the AfterPrune hooks. It returns how
// many it deleted and whether any may be left.
func (s *SQLite) pruneStep(ctx context.Context, cutoff string) (n int, more bool, err error) {
	ids, err := s.deleteUpTo(ctx, cutoff, s.opts.PruneBatch)
	if err != nil {
		return 0, false, err
	}
	retention.AfterPrune(s.opts.Hooks, ids)
	return len(ids), len(ids) == s.opts.PruneBatch, nil
}

// pruneAll runs a whole retention round at once, on the writer goroutine.
func (s *SQLite) pruneAll(ctx context.Context) (int, error) {
	cutoff, err := s.findCutoff(ctx)
	total, more := 0, cutoff != ""
	for err == nil && more {
		var n int
		n, more, err = s.pruneStep(ctx, cutoff)
		total += n
	}
	return total, err
}

// deleteUpTo deletes the oldest records with ids up to cutoff, at most
// limit of them, and returns their ids in ascending order.
func (s *SQLite) deleteUpTo(ctx context.Context, cutoff string, limit int) ([]string, error) {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: prune: begin: %w", err)
	}
	defer tx.Rollback()

	rows, err := tx.QueryContext(ctx, `
		DELETE FROM requests WHERE id IN (
			SELECT id FROM requests WHERE id <= ? ORDER BY id LIMIT ?
		) RETURNING id, timestamp`, cutoff, limit)
	if err != nil {
		return nil, fmt.Errorf("store: prune: %w", err)
	}
	defer rows.Close()
	ids := make([]string, 0, limit)
	var newest string
	for rows.Next() {
		var id, ts string
		if err := rows.Scan(&id, &ts); err != nil {
			return nil, fmt.Errorf("store: prune: scan: %w", err)
		}
		ids = append(ids, id)
		newest = max(newest, ts)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: prune: %w", err)
	}
	rows.Close()
	// Counting records from the rollups is exact only after the newest
	// start time retention deleted (see countRecords).
	if newest != "" {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO rollup_state (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`, rollup.StatePrunedTo, newest); err != nil {
			return nil, fmt.Errorf("store: prune: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: prune: commit: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}
