package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/retention"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rollup"
)

// maintenanceLock is the key of the PostgreSQL advisory lock under which
// retention and compaction run, so that one replica at a time does them.
// Each step takes it for its own transaction only (pg_*_advisory_xact_lock),
// so a replica that dies mid-round holds nothing.
const maintenanceLock int64 = 0x6f72702d6d61696e // "orp-main"

// maintenance is the goroutine of retention (when MaxHistory is set), the
// compaction of rollups and the refresh of what this replica knows of
// the rollups' grains. It returns when Close begins.
func (s *Postgres) maintenance() {
	defer close(s.maintain)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.closing
		cancel()
	}()

	var pruneEvery time.Duration
	if s.opts.MaxHistory > 0 {
		pruneEvery = s.opts.PruneEvery
	}
	rollup.Schedule(ctx, pruneEvery, func() bool {
		if err := s.compact(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Error("store: rollups", "err", err)
		}
		return true
	}, func() bool {
		if _, err := s.pruneRound(ctx, false); err != nil && ctx.Err() == nil {
			s.log.Error("store: retention", "err", err)
		}
		return true
	})
}

// Prune runs a full retention round now, after every record queued before
// the call is committed, and returns the number of records it deleted;
// with Options.MaxHistory 0 it deletes nothing. It waits for a round that
// another replica runs to finish its step.
func (s *Postgres) Prune(ctx context.Context) (_ int, err error) {
	defer func() { err = unavailable(err) }()
	if err := s.Flush(ctx); err != nil {
		return 0, err
	}
	return s.pruneRound(ctx, true)
}

// pruneRound deletes the records beyond the newest MaxHistory, oldest
// first, PruneBatch at a time, each step in a transaction of its own under
// the maintenance lock, and runs the AfterPrune hooks after each step.
// With wait unset it gives up when another replica holds the lock: that
// one is pruning.
func (s *Postgres) pruneRound(ctx context.Context, wait bool) (int, error) {
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()
	cutoff, err := s.findCutoff(ctx)
	if err != nil || cutoff == "" {
		return 0, err
	}
	total := 0
	for {
		ids, locked, err := s.deleteUpTo(ctx, cutoff, s.opts.PruneBatch, wait)
		if err != nil || !locked {
			return total, err
		}
		total += len(ids)
		retention.AfterPrune(s.opts.Hooks, ids)
		if len(ids) < s.opts.PruneBatch {
			return total, nil
		}
	}
}

// findCutoff returns the newest id beyond the newest MaxHistory records,
// or "" when there is nothing to delete.
func (s *Postgres) findCutoff(ctx context.Context) (string, error) {
	if s.opts.MaxHistory <= 0 {
		return "", nil
	}
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id FROM requests ORDER BY id DESC LIMIT 1 OFFSET $1`, s.opts.MaxHistory).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("store: find retention cutoff: %w", err)
	}
	return id, nil
}

// lockMaintenance takes the maintenance lock for tx: waiting for it when
// wait is set, else reporting false when another replica holds it.
func lockMaintenance(ctx context.Context, tx pgx.Tx, wait bool) (bool, error) {
	if wait {
		_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, maintenanceLock)
		return err == nil, err
	}
	var ok bool
	err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, maintenanceLock).Scan(&ok)
	return ok, err
}

// deleteUpTo deletes the oldest records with ids up to cutoff, at most
// limit of them, and returns their ids in ascending order; locked is false
// when it did not get the maintenance lock and deleted nothing. It moves
// pruned_to to the newest start time it deleted, in the same transaction:
// counting from the rollups is exact only after it (see countStored).
func (s *Postgres) deleteUpTo(ctx context.Context, cutoff string, limit int, wait bool) (ids []string, locked bool, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("store: prune: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	if locked, err = lockMaintenance(ctx, tx, wait); err != nil || !locked {
		return nil, false, err
	}
	rows, err := tx.Query(ctx, `
		DELETE FROM requests WHERE id IN (
			SELECT id FROM requests WHERE id <= $1 ORDER BY id LIMIT $2
		) RETURNING id, timestamp`, cutoff, limit)
	if err != nil {
		return nil, true, fmt.Errorf("store: prune: %w", err)
	}
	ids = make([]string, 0, limit)
	var newest string
	for rows.Next() {
		var id, ts string
		if err := rows.Scan(&id, &ts); err != nil {
			rows.Close()
			return nil, true, fmt.Errorf("store: prune: scan: %w", err)
		}
		ids = append(ids, id)
		newest = max(newest, ts)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, true, fmt.Errorf("store: prune: %w", err)
	}
	if newest != "" {
		if err := raiseState(ctx, tx, rollup.StatePrunedTo, newest); err != nil {
			return nil, true, fmt.Errorf("store: prune: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, true, fmt.Errorf("store: prune: commit: %w", err)
	}
	slices.Sort(ids)
	return ids, true, nil
}

// compact deletes the minute rows older than rollup.MinuteKeep and the
// hour rows older than rollup.HourKeep before now, under the maintenance
// lock (another replica holding it is compacting): the hour and day rows
// hold the same records. It first moves the coverage bounds, in a transaction of their
// own, so that no query uses a grain while its old rows are being deleted.
// Whether or not it compacts, it refreshes what this replica knows of the
// bounds, which its writer honours.
func (s *Postgres) compact(ctx context.Context, now time.Time) error {
	want := rollup.Kept(now)
	done, err := s.inMaintenance(ctx, func(tx pgx.Tx) error {
		if err := raiseBound(ctx, tx, rollup.StateMinuteFrom, want.MinuteFrom); err != nil {
			return err
		}
		return raiseBound(ctx, tx, rollup.StateHourFrom, want.HourFrom)
	})
	if err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	lv, err := rollup.ReadLevels(ctx, shared{s.pool})
	if err != nil {
		return fmt.Errorf("store: compact: %w", err)
	}
	s.levels.Store(&lv)
	if !done {
		return nil
	}
	for _, g := range lv.Thinning() {
		for _, table := range rollup.TableNames {
			for more := true; more; {
				// A step of buckets at a time, oldest first.
				ran, err := s.inMaintenance(ctx, func(tx pgx.Tx) error {
					var oldest *int64
					if err := tx.QueryRow(ctx, `SELECT MIN(bucket) FROM `+table+` WHERE grain = $1`, g.Grain).Scan(&oldest); err != nil {
						return err
					}
					if oldest == nil || *oldest >= g.Before {
						more = false
						return nil
					}
					_, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE grain = $1 AND bucket < $2`, g.Grain, min(g.Before, *oldest+g.Step))
					return err
				})
				if err != nil {
					return fmt.Errorf("store: compact: %w", err)
				}
				if !ran {
					return nil // another replica took over
				}
			}
		}
	}
	return nil
}

// inMaintenance runs fn in a transaction holding the maintenance lock, and
// reports whether it ran: not when another replica holds the lock.
func (s *Postgres) inMaintenance(ctx context.Context, fn func(tx pgx.Tx) error) (bool, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback(ctx)
	if ok, err := lockMaintenance(ctx, tx, false); err != nil || !ok {
		return false, err
	}
	if err := fn(tx); err != nil {
		return true, err
	}
	return true, tx.Commit(ctx)
}
