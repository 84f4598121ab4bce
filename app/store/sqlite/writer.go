package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// A failed batch is tried commitAttempts times in all, waiting
// commitBackoff, then twice as long, and so on between tries. SQLite
// errors worth retrying (a lock held by another process beyond the busy
// timeout, a full disk being cleaned up) clear within that time or not
// at all.
const (
	commitAttempts = 4
	commitBackoff  = 25 * time.Millisecond
)

// op is one item on the writer's queue: a record to write, or a request
// the writer answers once everything queued before it is done.
type op struct {
	rec   *capture.Record
	ready chan struct{}    // closed once rec is analysed
	size  int64            // bytes rec counts against the budget; the analysis worker updates it before ready
	flush chan struct{}    // closed once everything before it is committed
	prune chan pruneResult // receives the result of a full retention round
}

// pruneResult is the answer to a Prune request.
type pruneResult struct {
	n   int
	err error
}

// Record queues rec for the writer, which has it analysed (rec.Analyze) and
// commits it with others in one transaction. The store owns rec from then
// on.
//
// The queue is bounded in bytes (Options.QueueBytes). While the writer is
// merely busy, Record waits up to Options.QueueWait for room; when there is
// none by then, or the database is failing, it gives the record up rather
// than hold up the client: the loss is counted (Health.Lost) and its id
// logged, and Record returns nil. After Close it returns ErrClosed.
func (s *SQLite) Record(rec *capture.Record) error {
	if rec == nil {
		return errors.New("store: record: nil record")
	}
	o := &op{rec: rec, ready: make(chan struct{}), size: rec.MemSize()}
	if !s.budget.take(o.size) {
		s.budget.lose(rec.ID)
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.budget.give(1, o.size)
		return store.ErrClosed
	}
	select {
	case s.queue <- o:
	default:
		// QueueSize records are waiting: only many tiny records get here.
		if !s.sendWait(o) {
			s.budget.give(1, o.size)
			s.budget.lose(rec.ID)
			return nil
		}
	}
	// work is as large as queue and drains first, so this never blocks.
	s.work <- o
	return nil
}

// sendWait waits up to QueueWait for room on the queue.
func (s *SQLite) sendWait(o *op) bool {
	if s.opts.QueueWait <= 0 {
		return false
	}
	t := time.NewTimer(s.opts.QueueWait)
	defer t.Stop()
	select {
	case s.queue <- o:
		return true
	case <-t.C:
		return false
	}
}

// analyze is an analysis worker: it derives each record's stored fields
// ahead of the writer, so that the single writer goroutine only writes.
func (s *SQLite) analyze() {
	for o := range s.work {
		s.prepare(o.rec)
		size := o.rec.MemSize()
		s.budget.adjust(size - o.size)
		o.size = size
		close(o.ready)
	}
}

// Flush returns once every record queued before the call is committed (or
// given up on and logged). It returns ErrClosed after Close, which itself
// commits everything queued.
func (s *SQLite) Flush(ctx context.Context) error {
	done := make(chan struct{})
	if err := s.send(ctx, &op{flush: done}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: flush: %w", ctx.Err())
	}
}

// Prune runs a full retention round now, on the writer goroutine, after
// every record queued before the call is committed. It returns the number
// of records deleted; with Options.MaxHistory 0 it deletes nothing.
func (s *SQLite) Prune(ctx context.Context) (int, error) {
	res := make(chan pruneResult, 1)
	if err := s.send(ctx, &op{prune: res}); err != nil {
		return 0, err
	}
	select {
	case r := <-res:
		return r.n, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("store: prune: %w", ctx.Err())
	}
}

// send queues a control request, giving up when ctx ends.
func (s *SQLite) send(ctx context.Context, o *op) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	select {
	case s.queue <- o:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: %w", ctx.Err())
	}
}

// run is the writer goroutine: the only code that writes to the database.
// It returns once Close has closed the queue and everything in it is
// committed.
func (s *SQLite) run() {
	defer close(s.done)
	ctx := context.Background()

	lostTick := time.NewTicker(time.Second)
	defer lostTick.Stop()
	defer s.logLost()

	if err := s.compact(ctx, time.Now()); err != nil {
		s.log.Error("store: rollups", "err", err)
	}
	compactTick := time.NewTicker(compactEvery)
	defer compactTick.Stop()

	var tick <-chan time.Time
	if s.opts.MaxHistory > 0 {
		t := time.NewTicker(s.opts.PruneEvery)
		defer t.Stop()
		tick = t.C
	}

	for {
		if s.pruneCutoff != "" {
			// A retention round is under way: alternate one small
			// delete with one batch of records, so neither starves.
			if _, err := s.pruneStep(ctx); err != nil {
				s.log.Error("store: retention", "err", err)
			}
			select {
			case o, ok := <-s.queue:
				if !ok || !s.handle(ctx, o) {
					return
				}
			default:
			}
			continue
		}
		select {
		case o, ok := <-s.queue:
			if !ok || !s.handle(ctx, o) {
				return
			}
		case <-tick:
			s.startPrune(ctx)
		case <-compactTick.C:
			if err := s.compact(ctx, time.Now()); err != nil {
				s.log.Error("store: rollups", "err", err)
			}
		case <-lostTick.C:
			s.logLost()
		}
	}
}

// handle carries out o. It returns false once the queue is closed.
func (s *SQLite) handle(ctx context.Context, o *op) bool {
	if o.rec != nil {
		batch, next, open := s.collect(o)
		s.commitOps(ctx, batch)
		if next == nil {
			return open
		}
		o = next
	}
	switch {
	case o.flush != nil:
		close(o.flush)
	case o.prune != nil:
		n, err := s.pruneAll(ctx)
		o.prune <- pruneResult{n, err}
	}
	return true
}

// collect gathers a batch that starts with first: it takes more records
// until the batch is full or BatchDelay has passed. It stops early at a
// control request, which it returns as next, or when the queue is closed,
// when open is false. Each record is taken once its analysis is done.
func (s *SQLite) collect(first *op) (batch []*op, next *op, open bool) {
	<-first.ready
	batch = make([]*op, 1, min(s.opts.BatchSize, 1+len(s.queue)))
	batch[0] = first
	s.timer.Reset(s.opts.BatchDelay)
	defer s.timer.Stop()
	for len(batch) < s.opts.BatchSize {
		select {
		case o, ok := <-s.queue:
			if !ok {
				return batch, nil, false
			}
			if o.rec == nil {
				return batch, o, true
			}
			<-o.ready
			batch = append(batch, o)
		case <-s.timer.C:
			return batch, nil, true
		}
	}
	return batch, nil, true
}

// commitOps commits the records of batch and gives their room back.
func (s *SQLite) commitOps(ctx context.Context, batch []*op) {
	// A fresh slice per batch: AfterCommit hooks may keep it.
	recs := make([]*capture.Record, len(batch))
	var size int64
	for i, o := range batch {
		recs[i] = o.rec
		size += o.size
	}
	s.commit(ctx, recs)
	s.budget.give(len(batch), size)
}

// commit writes batch, retrying with backoff. While the database itself
// is failing (storeFailing) it holds the batch and keeps retrying until the
// database recovers, so a full disk or a held lock loses only what the
// queue's budget cannot hold; at Close it gives up after a few more tries.
// If the batch fails for another reason, it writes the records one by one,
// so that one bad record (a duplicate id, say) does not take the others
// with it. Every record given up is counted and named in the log.
func (s *SQLite) commit(ctx context.Context, batch []*capture.Record) {
	err := s.insertRetry(ctx, batch)
	if err != nil && storeFailing(err) {
		err = s.holdAndRetry(ctx, batch, err)
	}
	if err == nil {
		if s.budget.health().Failing {
			s.budget.setFailing(nil)
			s.log.Info("store: the database takes writes again; recording resumed")
		}
		return
	}
	if storeFailing(err) || len(batch) == 1 {
		s.loseAll(batch, err)
		return
	}
	var lost []*capture.Record
	for _, rec := range batch {
		one := []*capture.Record{rec}
		if e := s.insert(ctx, one); e != nil {
			err = e
			lost = append(lost, rec)
			continue
		}
		s.afterCommit(one)
	}
	if len(lost) > 0 {
		s.loseAll(lost, err)
	}
}

// Retry pacing while the database is failing.
const (
	failingBackoffMax = 2 * time.Second
	closeAttempts     = 3 // tries left once Close has begun
)

// holdAndRetry keeps retrying batch while the database is failing, marking
// the store degraded meanwhile. It returns nil once the batch is committed,
// or the last error when Close has begun and the last tries failed too.
func (s *SQLite) holdAndRetry(ctx context.Context, batch []*capture.Record, err error) error {
	if !s.budget.health().Failing {
		s.log.Error("store: the database refuses writes; traffic is still forwarded, records wait in memory up to RECORD_QUEUE_BYTES and are lost beyond it",
			"err", err)
	}
	s.budget.setFailing(err)
	wait := commitBackoff
	left := closeAttempts
	for {
		s.logLost()
		select {
		case <-s.closing:
			left--
		default:
		}
		if left < 0 {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.closing:
			t.Stop()
		}
		wait = min(wait*2, failingBackoffMax)
		if err = s.insert(ctx, batch); err == nil {
			s.afterCommit(batch)
			return nil
		}
		if !storeFailing(err) {
			return err
		}
		s.budget.setFailing(err)
	}
}

// loseAll counts the records of batch as lost and names them in the log.
func (s *SQLite) loseAll(batch []*capture.Record, err error) {
	for _, rec := range batch {
		s.budget.lose(rec.ID)
	}
	s.logLost("err", err)
}

// logLost logs the records given up since the last call, by id, in one
// line; beyond maxLostIDs in one interval they are only counted.
func (s *SQLite) logLost(args ...any) {
	n, ids, total := s.budget.takeLost()
	if n == 0 {
		return
	}
	s.log.Error("store: records lost: not written to the database",
		append([]any{"lost", n, "ids", ids, "lost_total", total}, args...)...)
}

// insertRetry inserts batch, trying commitAttempts times in all, or only
// once when the database itself is failing.
func (s *SQLite) insertRetry(ctx context.Context, batch []*capture.Record) error {
	var err error
	wait := commitBackoff
	for attempt := 1; attempt <= commitAttempts; attempt++ {
		if err = s.insert(ctx, batch); err == nil {
			s.afterCommit(batch)
			return nil
		}
		if storeFailing(err) {
			return err // holdAndRetry takes over, and says so
		}
		s.log.Warn("store: commit failed",
			"attempt", attempt, "of", commitAttempts, "batch", len(batch), "err", err)
		if attempt < commitAttempts {
			time.Sleep(wait)
			wait *= 2
		}
	}
	return err
}

// prepare derives rec's stored fields, once, off the hot path, on an
// analysis worker.
func (s *SQLite) prepare(rec *capture.Record) {
	if rec.ID == "" {
		// The proxy assigns ids; this only keeps a bad record from
		// colliding with others on the empty id.
		if id, err := uuid.NewV7(); err == nil {
			rec.ID = id.String()
		}
	}
	if rec.Analyzed {
		return
	}
	defer func() {
		// Analyze parses whatever the upstream sent. A bug there must
		// cost this record its derived fields, not the process its writer.
		if v := recover(); v != nil {
			rec.Analyzed = true
			s.log.Error("store: analyze panicked; storing the record unanalysed", "id", rec.ID, "panic", v)
		}
	}()
	rec.Analyze()
}

// afterCommit runs the AfterCommit hooks.
func (s *SQLite) afterCommit(batch []*capture.Record) {
	for _, h := range s.opts.Hooks {
		if h.AfterCommit != nil {
			h.AfterCommit(batch)
		}
	}
}

// insert writes batch in one transaction with one prepared statement and
// runs the InTx hooks inside it.
func (s *SQLite) insert(ctx context.Context, batch []*capture.Record) error {
	began := time.Now()
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
	args := make([]any, len(columns))
	for _, rec := range batch {
		for i, c := range columns {
			args[i] = c.arg(rec)
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
	for _, h := range s.opts.Hooks {
		if h.InTx != nil {
			if err := h.InTx(ctx, tx, batch); err != nil {
				return fmt.Errorf("store: hook: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	if s.opts.OnCommit != nil {
		s.opts.OnCommit(time.Since(began), len(batch))
	}
	return nil
}

// startPrune begins a retention round if there are more than MaxHistory
// records: it notes the newest id to delete, so that each step of the
// round is a cheap range delete and new records are never touched.
func (s *SQLite) startPrune(ctx context.Context) {
	cutoff, err := s.findCutoff(ctx)
	if err != nil {
		s.log.Error("store: retention", "err", err)
		return
	}
	s.pruneCutoff = cutoff
}

// findCutoff returns the newest id beyond the newest MaxHistory records,
// or "" when there is nothing to delete.
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

// pruneStep deletes up to PruneBatch of the oldest records of the current
// round in one transaction, runs the AfterPrune hooks and ends the round
// when nothing is left. It returns how many it deleted.
func (s *SQLite) pruneStep(ctx context.Context) (int, error) {
	ids, err := s.deleteUpTo(ctx, s.pruneCutoff, s.opts.PruneBatch)
	if err != nil {
		s.pruneCutoff = "" // the next tick starts over
		return 0, err
	}
	if len(ids) < s.opts.PruneBatch {
		s.pruneCutoff = ""
	}
	if len(ids) > 0 {
		for _, h := range s.opts.Hooks {
			if h.AfterPrune != nil {
				h.AfterPrune(ids)
			}
		}
	}
	return len(ids), nil
}

// pruneAll runs a whole retention round at once.
func (s *SQLite) pruneAll(ctx context.Context) (int, error) {
	cutoff, err := s.findCutoff(ctx)
	if err != nil {
		return 0, err
	}
	s.pruneCutoff = cutoff
	total := 0
	for s.pruneCutoff != "" {
		n, err := s.pruneStep(ctx)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
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
			ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)`, statePrunedTo, newest); err != nil {
			return nil, fmt.Errorf("store: prune: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: prune: commit: %w", err)
	}
	slices.Sort(ids)
	return ids, nil
}
