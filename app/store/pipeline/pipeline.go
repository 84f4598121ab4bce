// Package pipeline is the write path every store shares, whatever its
// database: a queue bounded in bytes, analysis workers that run
// capture.Analyze on each record once before any database sees it, and one
// writer goroutine that commits records in batches through a Backend,
// retrying with backoff, holding its batch while the database is failing,
// isolating a bad record, and counting and logging every record it gives
// up.
//
// A Backend only writes a batch in one transaction; the rest of the
// recording pipeline's behaviour (back pressure, degraded mode, lost
// records, hooks) is this package's, so it is the same on every backend.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Backend writes batches of analysed records to a database.
type Backend interface {
	// Commit writes batch in one transaction: the rows, each record's
	// Seq (it sets rec.Seq), the rollups and whatever else the backend
	// keeps with them. On error nothing of the batch is kept. It runs on
	// the writer goroutine only.
	Commit(ctx context.Context, batch []*capture.Record) error
	// Failing reports whether err means the database as a whole cannot
	// take writes now (unreachable, restarting, full, read-only, locked),
	// rather than that this batch is bad: the writer then holds the batch
	// and retries it until the database recovers, instead of writing its
	// records one by one to isolate a bad one.
	Failing(err error) bool
}

// Defaults for the zero values of Options.
const (
	DefaultQueueSize  = 1 << 16
	DefaultBatchSize  = 512
	DefaultBatchDelay = 20 * time.Millisecond
)

// Options tunes a Pipeline. The zero value is usable.
type Options struct {
	// QueueSize is how many records may wait for the writer at most.
	// Default DefaultQueueSize; the byte budget usually binds first.
	QueueSize int
	// QueueBytes is the byte budget of the records waiting for the writer,
	// counted by capture.Record.MemSize. Default DefaultQueueBytes.
	QueueBytes int64
	// QueueWait is how long Record waits for room in the queue before it
	// gives the record up (counted and logged). While the database is
	// failing it does not wait. Default DefaultQueueWait; negative means
	// no wait.
	QueueWait time.Duration
	// AnalyzeWorkers is how many goroutines analyse records ahead of the
	// writer. Default GOMAXPROCS.
	AnalyzeWorkers int
	// BatchSize is the most records committed in one transaction.
	// Default DefaultBatchSize.
	BatchSize int
	// BatchDelay is how long the writer waits for more records after the
	// first of a batch arrived. Default DefaultBatchDelay.
	BatchDelay time.Duration

	// Hooks' AfterCommit functions run after each successful commit, in
	// order, on the writer goroutine.
	Hooks []store.Hook
	// OnCommit, when set, is called on the writer goroutine after each
	// batch commits, with the time Backend.Commit took and how many
	// records the batch held. It must return quickly, as hooks must.
	OnCommit func(took time.Duration, records int)
	// Logger receives commit failures and lost records. Default
	// slog.Default().
	Logger *slog.Logger
}

// withDefaults returns o with its zero values replaced by defaults.
func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.QueueWait == 0 {
		o.QueueWait = DefaultQueueWait
	}
	if o.AnalyzeWorkers <= 0 {
		o.AnalyzeWorkers = runtime.GOMAXPROCS(0)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BatchDelay <= 0 {
		o.BatchDelay = DefaultBatchDelay
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// A failed batch is tried commitAttempts times in all, waiting
// commitBackoff, then twice as long, and so on between tries. Errors worth
// retrying that are not Failing ones (a serialisation failure, a lock held
// by another process beyond the busy timeout) clear within that time or
// not at all.
const (
	commitAttempts = 4
	commitBackoff  = 25 * time.Millisecond
)

// Retry pacing while the database is failing.
const (
	failingBackoffMax = 2 * time.Second
	closeAttempts     = 3 // tries left once Close has begun
)

// Pipeline queues records, has them analysed and commits them in batches
// through its Backend, on one writer goroutine.
type Pipeline struct {
	b    Backend
	opts Options
	log  *slog.Logger

	// mu guards closed and sending on queue and work: senders hold it for
	// reading, Close takes it for writing before closing them, so a send
	// never meets a closed channel.
	mu      sync.RWMutex
	closed  bool
	queue   chan *op      // to the writer, in arrival order
	work    chan *op      // the same records, to the analysis workers
	jobs    chan *job     // Do's functions, run between batches
	closing chan struct{} // closed when Close begins
	done    chan struct{} // closed when the writer goroutine has exited
	budget  *budget

	timer *time.Timer // owned by the writer: ends a batch's collection after BatchDelay

	closeOnce sync.Once
}

// op is one item on the writer's queue: a record to write, or a flush the
// writer answers once everything queued before it is done.
type op struct {
	rec   *capture.Record
	ready chan struct{} // closed once rec is analysed
	size  int64         // bytes rec counts against the budget; the analysis worker updates it before ready
	flush chan struct{} // closed once everything before it is committed
}

// job is a function Do runs on the writer goroutine.
type job struct {
	fn   func(ctx context.Context)
	done chan struct{}
}

// New starts a pipeline writing through b: its analysis workers and its
// writer goroutine. Close stops them.
func New(b Backend, opts Options) *Pipeline {
	opts = opts.withDefaults()
	p := &Pipeline{
		b:       b,
		opts:    opts,
		log:     opts.Logger,
		queue:   make(chan *op, opts.QueueSize),
		work:    make(chan *op, opts.QueueSize),
		jobs:    make(chan *job),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		budget:  newBudget(opts.QueueBytes, opts.QueueWait),
		timer:   time.NewTimer(time.Hour),
	}
	p.timer.Stop()
	for range opts.AnalyzeWorkers {
		go p.analyze()
	}
	go p.run()
	return p
}

// Record queues rec for the writer, which has it analysed (rec.Analyze) and
// commits it with others in one transaction. The pipeline owns rec from
// then on.
//
// The queue is bounded in bytes (Options.QueueBytes). While the writer is
// merely busy, Record waits up to Options.QueueWait for room; when there is
// none by then, or the database is failing, it gives the record up rather
// than hold up the client: the loss is counted (Health.Lost) and its id
// logged, and Record returns nil. After Close it returns store.ErrClosed.
func (p *Pipeline) Record(rec *capture.Record) error {
	if rec == nil {
		return errors.New("store: record: nil record")
	}
	o := &op{rec: rec, ready: make(chan struct{}), size: rec.MemSize()}
	if !p.budget.take(o.size) {
		p.budget.lose(rec.ID)
		return nil
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		p.budget.give(1, o.size)
		return store.ErrClosed
	}
	select {
	case p.queue <- o:
	default:
		// QueueSize records are waiting: only many tiny records get here.
		if !p.sendWait(o) {
			p.budget.give(1, o.size)
			p.budget.lose(rec.ID)
			return nil
		}
	}
	// work is as large as queue and drains first, so this never blocks.
	p.work <- o
	return nil
}

// sendWait waits up to QueueWait for room on the queue.
func (p *Pipeline) sendWait(o *op) bool {
	if p.opts.QueueWait <= 0 {
		return false
	}
	t := time.NewTimer(p.opts.QueueWait)
	defer t.Stop()
	select {
	case p.queue <- o:
		return true
	case <-t.C:
		return false
	}
}

// Health returns the state of the recording pipeline.
func (p *Pipeline) Health() store.Health { return p.budget.health() }

// analyze is an analysis worker: it derives each record's stored fields
// ahead of the writer, so that the single writer goroutine only writes.
func (p *Pipeline) analyze() {
	for o := range p.work {
		p.prepare(o.rec)
		size := o.rec.MemSize()
		p.budget.adjust(size - o.size)
		o.size = size
		close(o.ready)
	}
}

// prepare derives rec's stored fields, once, off the hot path, on an
// analysis worker.
func (p *Pipeline) prepare(rec *capture.Record) {
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
			p.log.Error("store: analyze panicked; storing the record unanalysed", "id", rec.ID, "panic", v)
		}
	}()
	rec.Analyze()
}

// Flush returns once every record queued before the call is committed (or
// given up on and logged). It returns store.ErrClosed after Close, which
// itself commits everything queued.
func (p *Pipeline) Flush(ctx context.Context) error {
	done := make(chan struct{})
	if err := p.send(ctx, &op{flush: done}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: flush: %w", ctx.Err())
	}
}

// send queues a flush, giving up when ctx ends.
func (p *Pipeline) send(ctx context.Context, o *op) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return store.ErrClosed
	}
	select {
	case p.queue <- o:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: %w", ctx.Err())
	}
}

// Do runs fn on the writer goroutine, between two batches, and returns
// once it has run: work that must not run beside a commit, such as a
// retention step on a database that takes one writer at a time. It does
// not wait for the records queued before it (Flush first for that), so
// that maintenance keeps its pace under load, one step per batch at
// worst. It returns store.ErrClosed once Close has begun, and ctx's error
// if ctx ends before fn starts; once started, fn runs to its end.
func (p *Pipeline) Do(ctx context.Context, fn func(ctx context.Context)) error {
	j := &job{fn: fn, done: make(chan struct{})}
	select {
	case p.jobs <- j:
	case <-p.closing:
		return store.ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("store: %w", ctx.Err())
	}
	<-j.done
	return nil
}

// run is the writer goroutine: the only code that calls Backend.Commit.
// It returns once Close has closed the queue and everything in it is
// committed.
func (p *Pipeline) run() {
	defer close(p.done)
	ctx := context.Background()

	lostTick := time.NewTicker(time.Second)
	defer lostTick.Stop()
	defer p.logLost()

	for {
		select {
		case o, ok := <-p.queue:
			if !ok || !p.handle(ctx, o) {
				return
			}
		case j := <-p.jobs:
			j.fn(ctx)
			close(j.done)
		case <-lostTick.C:
			p.logLost()
		}
	}
}

// handle carries out o. It returns false once the queue is closed.
func (p *Pipeline) handle(ctx context.Context, o *op) bool {
	if o.rec != nil {
		batch, next, open := p.collect(o)
		p.commitOps(ctx, batch)
		if next == nil {
			return open
		}
		o = next
	}
	close(o.flush)
	return true
}

// collect gathers a batch that starts with first: it takes more records
// until the batch is full or BatchDelay has passed. It stops early at a
// flush, which it returns as next, or when the queue is closed, when open
// is false. Each record is taken once its analysis is done.
func (p *Pipeline) collect(first *op) (batch []*op, next *op, open bool) {
	<-first.ready
	batch = make([]*op, 1, min(p.opts.BatchSize, 1+len(p.queue)))
	batch[0] = first
	p.timer.Reset(p.opts.BatchDelay)
	defer p.timer.Stop()
	for len(batch) < p.opts.BatchSize {
		select {
		case o, ok := <-p.queue:
			if !ok {
				return batch, nil, false
			}
			if o.rec == nil {
				return batch, o, true
			}
			<-o.ready
			batch = append(batch, o)
		case <-p.timer.C:
			return batch, nil, true
		}
	}
	return batch, nil, true
}

// commitOps commits the records of batch and gives their room back.
func (p *Pipeline) commitOps(ctx context.Context, batch []*op) {
	// A fresh slice per batch: AfterCommit hooks may keep it.
	recs := make([]*capture.Record, len(batch))
	var size int64
	for i, o := range batch {
		recs[i] = o.rec
		size += o.size
	}
	p.commit(ctx, recs)
	p.budget.give(len(batch), size)
}

// commit writes batch, retrying with backoff. While the database itself
// is failing (Backend.Failing) it holds the batch and keeps retrying until
// the database recovers, so an outage or a full disk loses only what the
// queue's budget cannot hold; at Close it gives up after a few more tries.
// If the batch fails for another reason, it writes the records one by one,
// so that one bad record (a duplicate id, say) does not take the others
// with it. Every record given up is counted and named in the log.
func (p *Pipeline) commit(ctx context.Context, batch []*capture.Record) {
	err := p.commitRetry(ctx, batch)
	if err != nil && p.b.Failing(err) {
		err = p.holdAndRetry(ctx, batch, err)
	}
	if err == nil {
		if p.budget.health().Failing {
			p.budget.setFailing(nil)
			p.log.Info("store: the database takes writes again; recording resumed")
		}
		return
	}
	if p.b.Failing(err) || len(batch) == 1 {
		p.loseAll(batch, err)
		return
	}
	var lost []*capture.Record
	for _, rec := range batch {
		one := []*capture.Record{rec}
		if e := p.commitOnce(ctx, one); e != nil {
			err = e
			lost = append(lost, rec)
		}
	}
	if len(lost) > 0 {
		p.loseAll(lost, err)
	}
}

// commitOnce commits batch once and, when it commits, times it and runs the
// AfterCommit hooks.
func (p *Pipeline) commitOnce(ctx context.Context, batch []*capture.Record) error {
	began := time.Now()
	if err := p.b.Commit(ctx, batch); err != nil {
		return err
	}
	if p.opts.OnCommit != nil {
		p.opts.OnCommit(time.Since(began), len(batch))
	}
	for _, h := range p.opts.Hooks {
		if h.AfterCommit != nil {
			h.AfterCommit(batch)
		}
	}
	return nil
}

// commitRetry commits batch, trying commitAttempts times in all, or only
// once when the database itself is failing.
func (p *Pipeline) commitRetry(ctx context.Context, batch []*capture.Record) error {
	var err error
	wait := commitBackoff
	for attempt := 1; attempt <= commitAttempts; attempt++ {
		if err = p.commitOnce(ctx, batch); err == nil {
			return nil
		}
		if p.b.Failing(err) {
			return err // holdAndRetry takes over, and says so
		}
		p.log.Warn("store: commit failed",
			"attempt", attempt, "of", commitAttempts, "batch", len(batch), "err", err)
		if attempt < commitAttempts {
			time.Sleep(wait)
			wait *= 2
		}
	}
	return err
}

// holdAndRetry keeps retrying batch while the database is failing, marking
// the store degraded meanwhile. It returns nil once the batch is committed,
// or the last error when Close has begun and the last tries failed too.
func (p *Pipeline) holdAndRetry(ctx context.Context, batch []*capture.Record, err error) error {
	if !p.budget.health().Failing {
		p.log.Error("store: the database refuses writes; traffic is still forwarded, records wait in memory up to RECORD_QUEUE_BYTES and are lost beyond it",
			"err", err)
	}
	p.budget.setFailing(err)
	wait := commitBackoff
	left := closeAttempts
	for {
		p.logLost()
		select {
		case <-p.closing:
			left--
		default:
		}
		if left < 0 {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-p.closing:
			t.Stop()
		}
		wait = min(wait*2, failingBackoffMax)
		if err = p.commitOnce(ctx, batch); err == nil {
			return nil
		}
		if !p.b.Failing(err) {
			return err
		}
		p.budget.setFailing(err)
	}
}

// loseAll counts the records of batch as lost and names them in the log.
func (p *Pipeline) loseAll(batch []*capture.Record, err error) {
	for _, rec := range batch {
		p.budget.lose(rec.ID)
	}
	p.logLost("err", err)
}

// logLost logs the records given up since the last call, by id, in one
// line; beyond maxLostIDs in one interval they are only counted.
func (p *Pipeline) logLost(args ...any) {
	n, ids, total := p.budget.takeLost()
	if n == 0 {
		return
	}
	p.log.Error("store: records lost: not written to the database",
		append([]any{"lost", n, "ids", ids, "lost_total", total}, args...)...)
}

// Close stops accepting records and jobs, commits everything already
// queued (what it must give up is counted and logged as lost) and stops the
// writer. Later calls return once the first has finished.
func (p *Pipeline) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.mu.Lock()
		p.closed = true
		close(p.queue)
		close(p.work)
		p.mu.Unlock()
	})
	<-p.done
}
