// Package search keeps a Bleve index of the recorded exchanges beside the
// SQLite store, and answers the dashboard's searches from it.
//
// SQLite is the truth; the index is derived from it and can always be
// rebuilt. It is fed after SQLite commits, in commit order (the store's
// commit sequence), by one goroutine: the store's AfterCommit hook hands it
// each committed batch without waiting, and when its bounded queue is full
// the batch is dropped and read back from SQLite later. The index keeps the
// last sequence it holds (its watermark) in the same Bleve batch as the
// documents, so on start it catches up from SQLite exactly where it
// stopped, whatever crashed in between.
package search

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Source is what the index is fed from: the store, in commit order.
type Source interface {
	// Since returns up to limit records committed after sequence after,
	// in commit order, with their bodies.
	Since(ctx context.Context, after int64, limit int) ([]*capture.Record, error)
	// Feed returns the last sequence, the number of records and the
	// start of the oldest.
	Feed(ctx context.Context) (store.FeedState, error)
	// Texts returns the texts of the records with these ids that v may
	// see, for checking a phrase's word order (verify.go).
	Texts(ctx context.Context, ids []string, v store.Viewer) (map[string]store.Texts, error)
}

// ErrNotReady is returned by Search while the index is being built or is
// unavailable; the caller answers from SQL meanwhile.
var ErrNotReady = errors.New("search: the index is not ready")

// Options configure an Index.
type Options struct {
	// Dir holds the index (DATA_DIR/search).
	Dir    string
	Source Source
	Logger *slog.Logger
	// QueueBatches is how many committed batches may wait for the indexer
	// before further ones are dropped and read back from SQLite. Default 64.
	QueueBatches int
	// BatchDocs is the most records read from SQLite, and indexed, in one
	// Bleve batch. Default 500.
	BatchDocs int
	// Progress, if set, is told how far a build from scratch has got.
	Progress func(done, total int64)
}

// State is what the index can do now.
type State string

// The states of an Index.
const (
	StateReady    State = "ready"    // searches are answered from the index
	StateBuilding State = "building" // built in the background; searches fall back to SQL
	StateFailed   State = "failed"   // could not be built; searches fall back to SQL
)

// Status describes the index.
type Status struct {
	State State
	// Watermark is the commit sequence of the last record indexed.
	Watermark int64
	// Done and Total count the records of a build under way.
	Done, Total int64
	// Err is why the index failed, when it did.
	Err string
}

// Index is the search index and the goroutine that feeds it.
type Index struct {
	opts Options
	log  *slog.Logger
	lock *os.File // flock on Dir/lock: one process per index

	mu     sync.RWMutex // guards bi and status against a swap
	bi     bleve.Index  // nil unless ready
	status Status

	watermark atomic.Int64
	changedMu sync.Mutex
	changed   chan struct{} // closed and replaced whenever the watermark moves
	pending   chan []*capture.Record
	prunes    chan []string
	poke      chan struct{} // a batch or a prune was dropped: read SQLite
	reconcile atomic.Bool   // prunes were dropped: delete what SQLite no longer has

	cancel context.CancelFunc
	done   chan struct{}

	foreground bool // Reindex: nobody searches meanwhile

	sleep func(ctx context.Context, d time.Duration) // pace's pause; tests watch it
}

// Keys of the index's internal storage.
var (
	keyWatermark = []byte("orp_watermark")
	keyMapping   = []byte("orp_mapping_version")
)

// The directories under Dir.
const (
	currentDir = "index"
	newDir     = "index.new"
	oldDir     = "index.old"
)

// Open opens the index in opts.Dir and starts feeding it. An index that is
// missing, corrupt or of an older mapping is rebuilt from the Source in the
// background, into a new directory swapped in when ready; until then
// Search returns ErrNotReady. Open fails only when Dir cannot be used, or
// another process holds the index.
func Open(opts Options) (*Index, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.QueueBatches <= 0 {
		opts.QueueBatches = 64
	}
	if opts.BatchDocs <= 0 {
		opts.BatchDocs = 500
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	ix := &Index{
		opts:    opts,
		log:     opts.Logger,
		lock:    lock,
		pending: make(chan []*capture.Record, opts.QueueBatches),
		prunes:  make(chan []string, opts.QueueBatches),
		poke:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		sleep:   sleep,
	}
	// Leftovers of a build or swap that a crash interrupted.
	os.RemoveAll(filepath.Join(opts.Dir, newDir))
	os.RemoveAll(filepath.Join(opts.Dir, oldDir))
	bi, wm, err := openExisting(filepath.Join(opts.Dir, currentDir))
	if err == nil {
		// Before anything new is committed: main opens the index before
		// the proxy serves.
		if err = ix.verify(bi, wm); err != nil {
			bi.Close()
		}
	}
	if err == nil {
		ix.bi = bi
		ix.status = Status{State: StateReady}
	} else {
		if !errors.Is(err, os.ErrNotExist) {
			ix.log.Warn("search: the index cannot be used; rebuilding it in the background, searches use SQL meanwhile", "err", err)
		}
		ix.status = Status{State: StateBuilding}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ix.cancel = cancel
	go ix.run(ctx)
	return ix, nil
}

// verify checks that the index agrees with SQLite where it stopped, and
// sets the watermark. A watermark ahead of SQLite (a power cut lost
// SQLite's last commits after the index had them) loses the documents
// SQLite no longer has. If the record at the watermark is another one than
// the index holds there (new records took the lost sequences before the
// index was opened), the index is of no use and is rebuilt.
func (ix *Index) verify(bi bleve.Index, wm int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := ix.opts.Source.Feed(ctx)
	if err != nil {
		return err
	}
	if wm > st.MaxSeq {
		ix.log.Warn("search: the index is ahead of the database (its last commits were lost); dropping what the database no longer has",
			"index", wm, "sqlite", st.MaxSeq)
		if err := ix.deleteMatching(bi, seqAbove(st.MaxSeq)); err != nil {
			return err
		}
		if err := bi.SetInternal(keyWatermark, encodeSeq(st.MaxSeq)); err != nil {
			return err
		}
		wm = st.MaxSeq
	}
	ix.watermark.Store(wm)
	if wm == 0 {
		return nil
	}
	recs, err := ix.opts.Source.Since(ctx, wm-1, 1)
	if err != nil {
		return err
	}
	if len(recs) == 0 || recs[0].Seq != wm {
		return nil // pruned since: nothing to compare with
	}
	q := bleve.NewTermQuery(seqTerm(wm))
	q.SetField(FieldSeq)
	res, err := bi.Search(bleve.NewSearchRequestOptions(q, 2, 0, false))
	if err != nil {
		return err
	}
	if len(res.Hits) != 1 || res.Hits[0].ID != recs[0].ID {
		return fmt.Errorf("the index holds another record than SQLite at sequence %d", wm)
	}
	return nil
}

// lockDir creates dir and takes an exclusive lock on dir/lock, so that two
// processes never write one index.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("search: the index in %s is in use by another process (is the service running?)", dir)
	}
	return f, nil
}

// openExisting opens the index at path and checks its mapping version.
func openExisting(path string) (bleve.Index, int64, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, 0, err
	}
	bi, err := bleve.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("open %s: %w", path, err)
	}
	v, err := bi.GetInternal(keyMapping)
	if err != nil || string(v) != mappingVersion {
		bi.Close()
		return nil, 0, fmt.Errorf("%s has mapping version %q, want %q", path, v, mappingVersion)
	}
	wm, err := bi.GetInternal(keyWatermark)
	if err != nil {
		bi.Close()
		return nil, 0, fmt.Errorf("%s: read watermark: %w", path, err)
	}
	return bi, decodeSeq(wm), nil
}

// create makes a new, empty index at path.
func create(path string) (bleve.Index, error) {
	if err := os.RemoveAll(path); err != nil {
		return nil, err
	}
	// Not unsafe_batch: with it, Close drops what is not yet persisted,
	// the mapping of a new index included. Each batch waits for its
	// segment to be on disk, off the request path, and batches grow with
	// the load.
	bi, err := bleve.NewUsing(path, newMapping(), scorch.Name, scorch.Name, nil)
	if err != nil {
		return nil, err
	}
	if err := bi.SetInternal(keyMapping, []byte(mappingVersion)); err != nil {
		bi.Close()
		return nil, err
	}
	return bi, nil
}

func encodeSeq(seq int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(seq)) }

func decodeSeq(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// Committed is the store's AfterCommit hook. It never waits: when the
// queue is full it drops the batch and the indexer reads it back from
// SQLite.
func (ix *Index) Committed(batch []*capture.Record) {
	select {
	case ix.pending <- batch:
	default:
		ix.nudge()
	}
}

// Pruned is the store's AfterPrune hook. It never waits: when the queue is
// full the indexer later deletes whatever is older than SQLite's oldest
// record.
func (ix *Index) Pruned(ids []string) {
	select {
	case ix.prunes <- ids:
	default:
		ix.reconcile.Store(true)
		ix.nudge()
	}
}

// Reconcile asks the indexer to drop the records the database no longer
// holds, by age, as after a missed AfterPrune: for a dashboard whose
// database another process prunes. It never waits.
func (ix *Index) Reconcile() {
	ix.reconcile.Store(true)
	ix.nudge()
}

func (ix *Index) nudge() {
	select {
	case ix.poke <- struct{}{}:
	default:
	}
}

// Watermark returns the commit sequence of the last record indexed. It
// changes whenever the index does, so a live poll that finds it unchanged
// need not search again.
func (ix *Index) Watermark() int64 { return ix.watermark.Load() }

// setWatermark moves the watermark and wakes Wait.
func (ix *Index) setWatermark(seq int64) {
	ix.watermark.Store(seq)
	ix.changedMu.Lock()
	close(ix.changed)
	ix.changed = make(chan struct{})
	ix.changedMu.Unlock()
}

// Wait returns once the index holds every record up to commit sequence
// seq and can be searched, or when ctx ends.
func (ix *Index) Wait(ctx context.Context, seq int64) error {
	for {
		ix.changedMu.Lock()
		ch := ix.changed
		ix.changedMu.Unlock()
		if ix.watermark.Load() >= seq && ix.current() != nil {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("search: wait for %d (at %d): %w", seq, ix.watermark.Load(), ctx.Err())
		}
	}
}

// Status returns what the index can do now.
func (ix *Index) Status() Status {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	st := ix.status
	st.Watermark = ix.watermark.Load()
	return st
}

// Close stops the feed and closes the index. What was not indexed yet is
// caught up from SQLite on the next start.
func (ix *Index) Close() error {
	ix.cancel()
	<-ix.done
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var err error
	if ix.bi != nil {
		err = ix.bi.Close()
		ix.bi = nil
	}
	ix.lock.Close()
	return err
}

// run is the feed goroutine: the only writer of the index.
func (ix *Index) run(ctx context.Context) {
	defer close(ix.done)
	if ix.current() == nil {
		if _, err := ix.rebuild(ctx); err != nil {
			if ctx.Err() == nil {
				ix.fail(err)
			}
			return
		}
	}
	if err := ix.catchUp(ctx, false); err != nil && ctx.Err() == nil {
		ix.log.Error("search: catch up from the database", "err", err)
	}
	ix.purgeOld(ctx)
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case batch := <-ix.pending:
			start := time.Now()
			ix.applyPending(ctx, batch)
			ix.pace(ctx, time.Since(start))
		case ids := <-ix.prunes:
			ix.delete(ids)
		case <-ix.poke:
			if err := ix.catchUp(ctx, true); err != nil && ctx.Err() == nil {
				ix.log.Error("search: catch up from the database", "err", err)
			}
			if ix.reconcile.Swap(false) {
				ix.purgeOld(ctx)
			}
		case <-tick.C:
			if ix.reconcile.Swap(false) {
				ix.purgeOld(ctx)
			}
		}
	}
}

// The indexer yields to the proxy. While it is behind (committed batches
// wait for it when it finishes one), it pauses after each batch for
// pauseFactor times as long as the batch took, up to maxPause, so that it
// works at most a quarter of the time: under a load that saturates the
// machine the proxy keeps the CPU, and the index falls behind and catches
// up when the load eases. The batches that wait meanwhile are indexed
// together, up to maxPendingDocs×BatchDocs records, and a big batch costs
// less per record than small ones. Under ordinary load nothing waits after
// a batch, and the indexer never pauses.
const (
	pauseFactor    = 3
	maxPause       = 2 * time.Second
	maxPendingDocs = 4
)

// pace pauses the indexer after work took this long, if it is behind.
func (ix *Index) pace(ctx context.Context, work time.Duration) {
	if len(ix.pending) == 0 {
		return
	}
	ix.sleep(ctx, min(work*pauseFactor, maxPause))
}

// sleep waits for d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// current returns the index searches use, or nil.
func (ix *Index) current() bleve.Index {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.bi
}

func (ix *Index) fail(err error) {
	ix.log.Error("search: the index could not be built; searches use SQL", "err", err)
	ix.mu.Lock()
	ix.status = Status{State: StateFailed, Err: err.Error()}
	ix.mu.Unlock()
}

// applyPending indexes a committed batch, and whatever else is queued, in
// one Bleve batch. A batch that does not follow the watermark (one before
// it was dropped) sends the indexer to SQLite instead.
func (ix *Index) applyPending(ctx context.Context, first []*capture.Record) {
	recs := first
more:
	for len(recs) < maxPendingDocs*ix.opts.BatchDocs {
		select {
		case batch := <-ix.pending:
			recs = append(recs, batch...)
		default:
			break more
		}
	}
	wm := ix.watermark.Load()
	var fresh []*capture.Record
	for _, r := range recs {
		switch {
		case r.Seq <= wm:
			// Indexed already, by a catch-up from SQLite.
		case r.Seq == wm+1:
			fresh = append(fresh, r)
			wm++
		default:
			// A gap: a batch was dropped. SQLite has everything.
			if err := ix.catchUp(ctx, true); err != nil && ctx.Err() == nil {
				ix.log.Error("search: catch up from the database", "err", err)
			}
			return
		}
	}
	if err := ix.index(ix.current(), fresh); err != nil {
		ix.log.Error("search: index batch; reading it back from the database", "err", err)
		ix.nudge()
	}
}

// index adds recs, in commit order, to bi, and moves the watermark to the
// last of them in the same Bleve batch.
func (ix *Index) index(bi bleve.Index, recs []*capture.Record) error {
	if len(recs) == 0 || bi == nil {
		return nil
	}
	b := bi.NewBatch()
	for _, r := range recs {
		doc, err := newDocument(bi.Mapping(), r)
		if err == nil {
			err = b.IndexAdvanced(doc)
		}
		if err != nil {
			return fmt.Errorf("search: index %s: %w", r.ID, err)
		}
	}
	last := recs[len(recs)-1].Seq
	b.SetInternal(keyWatermark, encodeSeq(last))
	if err := bi.Batch(b); err != nil {
		return fmt.Errorf("search: index batch: %w", err)
	}
	if bi == ix.current() {
		ix.setWatermark(last)
	}
	return nil
}

// catchUp indexes from SQLite everything committed after the watermark.
// Paced, it pauses between reads as pace does, while new batches wait: it
// is then catching up with batches it dropped under a load that may still
// be on. The catch-up on start goes at full speed.
func (ix *Index) catchUp(ctx context.Context, paced bool) error {
	bi := ix.current()
	if bi == nil {
		return nil
	}
	st, err := ix.opts.Source.Feed(ctx)
	if err != nil {
		return err
	}
	wm := ix.watermark.Load()
	if wm >= st.MaxSeq {
		return nil
	}
	start, n := time.Now(), 0
	for ctx.Err() == nil {
		work := time.Now()
		recs, err := ix.opts.Source.Since(ctx, wm, ix.opts.BatchDocs)
		if err != nil {
			return err
		}
		if err := ix.index(bi, recs); err != nil {
			return err
		}
		n += len(recs)
		if len(recs) < ix.opts.BatchDocs {
			break
		}
		wm = recs[len(recs)-1].Seq
		if paced {
			ix.pace(ctx, time.Since(work))
		}
	}
	if n > ix.opts.BatchDocs {
		ix.log.Info("search: caught up from the database", "records", n, "took", time.Since(start).Round(time.Millisecond))
	}
	return ctx.Err()
}

// rebuild builds a new index from SQLite in the background directory and
// swaps it in. It returns the number of records indexed.
func (ix *Index) rebuild(ctx context.Context) (int64, error) {
	path := filepath.Join(ix.opts.Dir, newDir)
	bi, err := create(path)
	if err != nil {
		return 0, fmt.Errorf("search: create %s: %w", path, err)
	}
	st, err := ix.opts.Source.Feed(ctx)
	if err != nil {
		bi.Close()
		return 0, err
	}
	if ix.foreground {
		ix.log.Info("search: building the index from the database", "records", st.Count)
	} else {
		ix.log.Info("search: building the index from the database in the background; searches use SQL until it is ready", "records", st.Count)
	}
	start, reported := time.Now(), time.Now()
	var wm, done int64
	for {
		if ctx.Err() != nil {
			bi.Close()
			return done, ctx.Err()
		}
		recs, err := ix.opts.Source.Since(ctx, wm, ix.opts.BatchDocs)
		if err != nil {
			bi.Close()
			return done, err
		}
		if err := ix.index(bi, recs); err != nil {
			bi.Close()
			return done, err
		}
		done += int64(len(recs))
		ix.mu.Lock()
		ix.status.Done, ix.status.Total = done, max(st.Count, done)
		ix.mu.Unlock()
		if time.Since(reported) >= progressEvery && len(recs) == ix.opts.BatchDocs {
			reported = time.Now()
			ix.logProgress(done, max(st.Count, done), time.Since(start))
		}
		if ix.opts.Progress != nil {
			ix.opts.Progress(done, max(st.Count, done))
		}
		if len(recs) < ix.opts.BatchDocs {
			break
		}
		wm = recs[len(recs)-1].Seq
	}
	forceMerge(ctx, bi, ix.log)
	if err := bi.Close(); err != nil {
		return done, err
	}
	cur, old := filepath.Join(ix.opts.Dir, currentDir), filepath.Join(ix.opts.Dir, oldDir)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.bi != nil {
		ix.bi.Close()
		ix.bi = nil
	}
	if err := os.Rename(cur, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return done, err
	}
	if err := os.Rename(path, cur); err != nil {
		return done, err
	}
	os.RemoveAll(old)
	nbi, nwm, err := openExisting(cur)
	if err != nil {
		return done, err
	}
	ix.bi = nbi
	ix.status = Status{State: StateReady, Watermark: nwm}
	ix.setWatermark(nwm)
	ix.log.Info("search: the index is ready", "records", done, "took", time.Since(start).Round(time.Millisecond))
	return done, nil
}

// progressEvery is how often a build of the index logs how far it is: the
// progress bar of a service, whose dashboard shows the same figure. A
// variable for tests.
var progressEvery = 10 * time.Second

// logProgress logs how far a build is, with an estimate of the time left.
func (ix *Index) logProgress(done, total int64, took time.Duration) {
	left := time.Duration(0)
	if done > 0 {
		left = time.Duration(float64(took) * float64(total-done) / float64(done))
	}
	ix.log.Info("search: building the index", "done", done, "of", total,
		"percent", done*100/max(total, 1), "eta", left.Round(time.Second))
}

// forceMerge merges a freshly built index into one segment: a search
// visits every segment, and a build leaves a dozen or more. The merge
// policy keeps later additions in few segments by itself.
func forceMerge(ctx context.Context, bi bleve.Index, log *slog.Logger) {
	adv, err := bi.Advanced()
	if err != nil {
		return
	}
	if s, ok := adv.(*scorch.Scorch); ok {
		start := time.Now()
		if err := s.ForceMerge(ctx, nil); err != nil {
			log.Warn("search: merge the new index", "err", err)
			return
		}
		log.Info("search: merged the new index into one segment", "took", time.Since(start).Round(time.Millisecond))
	}
}

// delete removes pruned records from the index.
func (ix *Index) delete(ids []string) {
	bi := ix.current()
	if bi == nil {
		ix.reconcile.Store(true)
		return
	}
	b := bi.NewBatch()
	for _, id := range ids {
		b.Delete(id)
	}
	if err := bi.Batch(b); err != nil {
		ix.log.Error("search: delete pruned records", "err", err)
		ix.reconcile.Store(true)
	}
}

// purgeOld deletes the documents of records that started before SQLite's
// oldest record, less a millisecond (ids sort by start at millisecond
// precision): records retention pruned while their deletes could not be
// applied.
func (ix *Index) purgeOld(ctx context.Context) {
	bi := ix.current()
	if bi == nil {
		return
	}
	st, err := ix.opts.Source.Feed(ctx)
	if err != nil {
		ix.reconcile.Store(true)
		return
	}
	var q query.Query
	if st.Oldest.IsZero() {
		q = bleve.NewMatchAllQuery()
	} else {
		q = startedBefore(st.Oldest.Add(-time.Millisecond))
	}
	if err := ix.deleteMatching(bi, q); err != nil {
		ix.log.Error("search: delete pruned records", "err", err)
		ix.reconcile.Store(true)
	}
}

// deleteMatching deletes every document q matches, in batches.
func (ix *Index) deleteMatching(bi bleve.Index, q query.Query) error {
	for {
		req := bleve.NewSearchRequestOptions(q, 1000, 0, false)
		res, err := bi.Search(req)
		if err != nil {
			return err
		}
		if len(res.Hits) == 0 {
			return nil
		}
		b := bi.NewBatch()
		for _, h := range res.Hits {
			b.Delete(h.ID)
		}
		if err := bi.Batch(b); err != nil {
			return err
		}
	}
}

// seqAbove matches the records committed after seq.
func seqAbove(seq int64) query.Query {
	no := false
	q := bleve.NewTermRangeInclusiveQuery(seqTerm(seq), "", &no, nil)
	q.SetField(FieldSeq)
	return q
}

// startedBefore matches the records that started before t.
func startedBefore(t time.Time) query.Query {
	no := false
	q := bleve.NewTermRangeInclusiveQuery("", timeTerm(t), nil, &no)
	q.SetField(FieldTime)
	return q
}

// Reindex rebuilds the index in opts.Dir from scratch, in the foreground,
// telling opts.Progress how far it has got, and returns the number of
// records indexed. The service must not be running: it holds the index.
func Reindex(ctx context.Context, opts Options) (int64, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BatchDocs <= 0 {
		opts.BatchDocs = 500
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return 0, err
	}
	defer lock.Close()
	ix := &Index{opts: opts, log: opts.Logger, changed: make(chan struct{}), foreground: true, sleep: sleep}
	n, err := ix.rebuild(ctx)
	if err != nil {
		return n, err
	}
	return n, ix.bi.Close()
}
