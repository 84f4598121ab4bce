package search

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/google/uuid"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/internal/syncbuf"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

// world is a real SQLite store and an index fed by its hooks, as main
// wires them.
type world struct {
	t     *testing.T
	dir   string
	st    *sqlite.SQLite
	ix    *Index
	hooks *hookSwitch
}

// hookSwitch lets a test cut the index off the store's commits, as a
// process killed between the SQLite commit and the index commit would.
type hookSwitch struct{ ix *Index }

func (h *hookSwitch) committed(b []*capture.Record) {
	if h.ix != nil {
		h.ix.Committed(b)
	}
}

func (h *hookSwitch) pruned(ids []string) {
	if h.ix != nil {
		h.ix.Pruned(ids)
	}
}

func newWorld(t *testing.T, opts sqlite.Options) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir(), hooks: &hookSwitch{}}
	opts.Hooks = append(opts.Hooks, store.Hook{AfterCommit: w.hooks.committed, AfterPrune: w.hooks.pruned})
	st, err := sqlite.Open(context.Background(), filepath.Join(w.dir, "proxy_requests.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.st = st
	w.open()
	return w
}

// open opens the index and attaches it to the store.
func (w *world) open() {
	w.t.Helper()
	ix, err := Open(Options{Dir: filepath.Join(w.dir, "search"), Source: w.st, BatchDocs: 7})
	if err != nil {
		w.t.Fatal(err)
	}
	w.ix = ix
	w.hooks.ix = ix
	w.t.Cleanup(func() { ix.Close() })
}

// close detaches and closes the index.
func (w *world) close() {
	w.t.Helper()
	w.hooks.ix = nil
	if err := w.ix.Close(); err != nil {
		w.t.Fatal(err)
	}
}

// record commits a record whose reply says text, and returns it.
func (w *world) record(text string) *capture.Record {
	w.t.Helper()
	rec := w.raw(text)
	w.commit(rec)
	return rec
}

func (w *world) raw(text string) *capture.Record {
	return &capture.Record{
		ID: uuid.Must(uuid.NewV7()).String(), Start: time.Now(), Method: "POST", URL: "/v1/chat/completions",
		Path: "/chat/completions", Status: 200, Analyzed: true, KeyHash: "k", ReqHeaderJSON: "{}", RespHeaderJSON: "{}",
		Outcome: capture.OutcomeOK, Content: text, Model: "openai/gpt-4o",
	}
}

func (w *world) commit(recs ...*capture.Record) {
	w.t.Helper()
	for _, r := range recs {
		if err := w.st.Record(r); err != nil {
			w.t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.st.Flush(ctx); err != nil {
		w.t.Fatal(err)
	}
}

// sync waits until the index holds everything SQLite has.
func (w *world) sync() {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := w.st.Feed(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.ix.Wait(ctx, st.MaxSeq); err != nil {
		w.t.Fatal(err)
	}
}

// find returns the ids whose reply holds word, newest first.
func (w *world) find(word string) []string {
	w.t.Helper()
	q := bleve.NewMatchQuery(word)
	q.SetField(FieldResponse)
	return w.search(q)
}

func (w *world) search(q query.Query) []string {
	w.t.Helper()
	bi := w.ix.current()
	if bi == nil {
		w.t.Fatal("the index is not ready")
	}
	res, err := run(context.Background(), bi, q, Request{Limit: 1000})
	if err != nil {
		w.t.Fatal(err)
	}
	return res.IDs
}

func ids(recs ...*capture.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	slices.Reverse(out) // newest first
	return out
}

func TestFeedIndexesCommits(t *testing.T) {
	w := newWorld(t, sqlite.Options{})
	a, b := w.record("alpha bravo"), w.record("bravo charlie")
	w.sync()
	if got := w.find("bravo"); !slices.Equal(got, ids(a, b)) {
		t.Fatalf("bravo: %v, want %v", got, ids(a, b))
	}
	if got := w.find("charlie"); !slices.Equal(got, ids(b)) {
		t.Fatalf("charlie: %v", got)
	}
}

// TestCatchUpAfterKill: records committed to SQLite while the index was not
// fed (the process died between the two commits) are indexed on the next
// start.
func TestCatchUpAfterKill(t *testing.T) {
	w := newWorld(t, sqlite.Options{})
	first := w.record("before the crash")
	w.sync()
	w.close()
	var lost []*capture.Record
	for range 20 { // more than one batch of 7
		lost = append(lost, w.record("lost between commits zulu"))
	}
	w.open()
	w.sync()
	if got := w.find("zulu"); len(got) != 20 {
		t.Fatalf("after catch-up, %d of 20 found", len(got))
	}
	if got := w.find("crash"); !slices.Equal(got, ids(first)) {
		t.Fatalf("crash: %v", got)
	}
}

// TestLateCommitOfOldIDIsIndexed: a long stream takes its id first and
// commits after newer ones; following commit order, it is indexed.
func TestLateCommitOfOldIDIsIndexed(t *testing.T) {
	w := newWorld(t, sqlite.Options{})
	long := w.raw("the long stream yankee")
	long.Start = time.Now().Add(-5 * time.Minute)
	for range 10 {
		w.record("short one")
	}
	w.sync()
	w.commit(long)
	w.sync()
	if got := w.find("yankee"); !slices.Equal(got, ids(long)) {
		t.Fatalf("yankee: %v", got)
	}
}

// TestWatermarkAheadOfSQLite: SQLite lost its last commits (a power cut
// after the index had them), so their sequences are given again to new
// records. The index drops what SQLite no longer has and indexes the new
// records, whether they were committed after it opened (Purged) or before
// (Diverged: it is rebuilt).
func TestWatermarkAheadOfSQLite(t *testing.T) {
	for _, freshFirst := range []bool{false, true} {
		name := map[bool]string{false: "Purged", true: "Diverged"}[freshFirst]
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, sqlite.Options{})
			kept := w.record("kept xray")
			lostA, lostB := w.record("lost xray"), w.record("lost xray")
			w.sync()
			w.close()
			// What a power cut does to SQLite's last commits, from outside.
			db, err := sql.Open("sqlite3", "file:"+filepath.Join(w.dir, "proxy_requests.db")+"?_foreign_keys=on&_busy_timeout=5000")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(`DELETE FROM requests WHERE id IN (?, ?)`, lostA.ID, lostB.ID); err != nil {
				t.Fatal(err)
			}
			db.Close()
			var fresh *capture.Record
			if freshFirst {
				fresh = w.record("fresh xray")
				w.open()
			} else {
				w.open()
				fresh = w.record("fresh xray")
			}
			if fresh.Seq != lostA.Seq {
				t.Fatalf("the test needs the sequence reused: %d vs %d", fresh.Seq, lostA.Seq)
			}
			w.sync()
			if got := w.find("xray"); !slices.Equal(got, ids(kept, fresh)) {
				t.Fatalf("xray: %v; want the kept and the fresh record only, %v", got, ids(kept, fresh))
			}
		})
	}
}

// TestRetentionRemovesFromIndex, through the hook and, when the hook's
// deletes were missed, through the reconcile on start.
func TestRetentionRemovesFromIndex(t *testing.T) {
	w := newWorld(t, sqlite.Options{MaxHistory: 3, PruneEvery: time.Hour})
	var recs []*capture.Record
	for range 6 {
		recs = append(recs, w.record("whiskey"))
	}
	if _, err := w.st.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.sync()
	waitFor(t, func() bool { return len(w.find("whiskey")) == 3 })
	if got := w.find("whiskey"); !slices.Equal(got, ids(recs[3:]...)) {
		t.Fatalf("after retention: %v", got)
	}

	// Missed deletes: pruned while the index was closed.
	w.close()
	for range 3 {
		recs = append(recs, w.record("whiskey"))
	}
	if _, err := w.st.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.open()
	w.sync()
	waitFor(t, func() bool { return len(w.find("whiskey")) == 3 })
	if got := w.find("whiskey"); !slices.Equal(got, ids(recs[6:]...)) {
		t.Fatalf("after retention while closed: %v", got)
	}
}

// TestBuildLogsProgress: a build of the index from the database says how
// far it is, in lines a log reader can follow, ending at the total.
func TestBuildLogsProgress(t *testing.T) {
	old := progressEvery
	progressEvery = 0
	t.Cleanup(func() { progressEvery = old })
	w := newWorld(t, sqlite.Options{})
	for range 30 {
		w.record("quartz")
	}
	w.close()
	var logs syncbuf.Buffer
	ix, err := Open(Options{Dir: filepath.Join(t.TempDir(), "fresh"), Source: w.st, BatchDocs: 7,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ix.Wait(ctx, 30); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="search: building the index"`) {
			lines = append(lines, l)
		}
	}
	// Batches of 7 of 30: progress after 7, 14, 21 and 28.
	if len(lines) != 4 || !strings.Contains(lines[0], "done=7 of=30 percent=23") || !strings.Contains(lines[3], "done=28 of=30 percent=93") ||
		!strings.Contains(lines[3], "eta=") {
		t.Fatalf("progress lines:\n%s", strings.Join(lines, "\n"))
	}
}

// TestReconcile: records another process prunes from a shared database
// (no AfterPrune reaches this index) leave the index once it is asked to
// reconcile.
func TestReconcile(t *testing.T) {
	w := newWorld(t, sqlite.Options{MaxHistory: 2, PruneEvery: time.Hour})
	var recs []*capture.Record
	base := time.Now().Add(-time.Minute)
	for i := range 5 {
		// A second apart: reconciling deletes by start time, to the
		// millisecond.
		r := w.raw("xylophone")
		r.Start = base.Add(time.Duration(i) * time.Second)
		recs = append(recs, r)
	}
	w.commit(recs...)
	w.sync()
	if got := w.find("xylophone"); len(got) != 5 {
		t.Fatalf("indexed %d, want 5", len(got))
	}
	w.hooks.ix = nil // the prune below happens elsewhere, as far as the index knows
	if n, err := w.st.Prune(context.Background()); err != nil || n != 3 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	if got := w.find("xylophone"); len(got) != 5 {
		t.Fatalf("before Reconcile the index still holds %d, want 5", len(got))
	}
	w.ix.Reconcile()
	waitFor(t, func() bool { return len(w.find("xylophone")) == 2 })
	if got := w.find("xylophone"); !slices.Equal(got, ids(recs[3:]...)) {
		t.Fatalf("after Reconcile: %v, want the 2 the database keeps", got)
	}
}

// TestRebuild: a deleted, corrupt or older-mapping index is rebuilt in the
// background; meanwhile Search says it is not ready (the caller uses SQL).
func TestRebuild(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(dir string, bi bleve.Index)
	}{
		{"Deleted", func(dir string, _ bleve.Index) { os.RemoveAll(dir) }},
		{"Corrupt", func(dir string, _ bleve.Index) {
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					os.WriteFile(p, []byte("garbage"), 0o600)
				}
				return nil
			})
		}},
		{"OlderMapping", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, sqlite.Options{})
			for range 30 {
				w.record("victor")
			}
			w.sync()
			dir := filepath.Join(w.dir, "search", currentDir)
			if tc.break_ == nil {
				if err := w.ix.current().SetInternal(keyMapping, []byte("0")); err != nil {
					t.Fatal(err)
				}
			}
			w.close()
			if tc.break_ != nil {
				tc.break_(dir, nil)
			}
			// A slow source keeps the build going while the test looks.
			gate := make(chan struct{})
			w.hooks.ix = nil
			ix, err := Open(Options{Dir: filepath.Join(w.dir, "search"), Source: gated{w.st, gate}, BatchDocs: 7})
			if err != nil {
				t.Fatal(err)
			}
			w.ix, w.hooks.ix = ix, ix
			t.Cleanup(func() { ix.Close() })
			if st := ix.Status(); st.State != StateBuilding {
				t.Fatalf("state %q, want building", st.State)
			}
			if _, err := ix.Search(context.Background(), Request{Viewer: store.Viewer{Admin: true}}); err != ErrNotReady {
				t.Fatalf("Search while building: %v, want ErrNotReady", err)
			}
			close(gate)
			w.sync()
			if st := ix.Status(); st.State != StateReady {
				t.Fatalf("state %q after the build", st.State)
			}
			if got := w.find("victor"); len(got) != 30 {
				t.Fatalf("after the rebuild, %d of 30 found", len(got))
			}
		})
	}
}

// gated is a Source whose Since waits until gate is closed.
type gated struct {
	*sqlite.SQLite
	gate chan struct{}
}

func (g gated) Since(ctx context.Context, after int64, limit int) ([]*capture.Record, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.SQLite.Since(ctx, after, limit)
}

// TestOneProcessPerIndex: a second Open of the same directory fails with a
// message that says why.
func TestOneProcessPerIndex(t *testing.T) {
	w := newWorld(t, sqlite.Options{})
	_, err := Open(Options{Dir: filepath.Join(w.dir, "search"), Source: w.st})
	if err == nil {
		t.Fatal("a second Open of a held index succeeded")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBroadPrefixIsNarrowedNotRefused: a short word whose prefix forms
// expand past maxExpansion is searched without them, not refused.
func TestBroadPrefixIsNarrowedNotRefused(t *testing.T) {
	w := newWorld(t, sqlite.Options{})
	var recs []*capture.Record
	for i := range maxExpansion + 10 {
		r := w.raw(fmt.Sprintf("zeta%04d", i))
		recs = append(recs, r)
	}
	exact := w.raw("zeta")
	w.commit(append(recs, exact)...)
	w.sync()
	q, err := Parse("zeta")
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.ix.Search(context.Background(), Request{Query: q, Viewer: store.Viewer{Admin: true}, Limit: 10})
	if err != nil {
		t.Fatalf("a broad prefix: %v", err)
	}
	if res.Total == 0 || res.Total > 100 {
		t.Fatalf("zeta: %d matches; want the word itself and its near forms, not all %d prefixed words", res.Total, len(recs))
	}
	q, _ = Parse("zeta0007")
	if res, err := w.ix.Search(context.Background(), Request{Query: q, Viewer: store.Viewer{Admin: true}, Limit: 10}); err != nil || res.Total == 0 {
		t.Fatalf("zeta0007: %v %v", res, err)
	}
}

// TestIndexesNewTurnsOnly: a chat client resends the whole history; the
// index takes the turns since the last assistant message (and the system
// prompt of a first call), so an older turn is found through the exchange
// in which it was new.
func TestIndexesNewTurnsOnly(t *testing.T) {
	w := newWorld(t, sqlite.Options{})
	first := w.raw("reply one")
	first.ReqBodyStored = []byte(`{"model":"m","messages":[{"role":"system","content":"you are quokka"},{"role":"user","content":"tell me about wombats"}]}`)
	second := w.raw("reply two")
	second.ReqBodyStored = []byte(`{"model":"m","messages":[{"role":"system","content":"you are quokka"},{"role":"user","content":"tell me about wombats"},{"role":"assistant","content":"reply one"},{"role":"user","content":"and numbats"}]}`)
	w.commit(first, second)
	w.sync()
	find := func(word string) []string {
		q := bleve.NewMatchQuery(word)
		q.SetField(FieldRequest)
		return w.search(q)
	}
	for word, want := range map[string][]string{"wombats": ids(first), "quokka": ids(first), "numbats": ids(second)} {
		if got := find(word); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", word, got, want)
		}
	}
}

// TestPace: the indexer pauses after a batch only while batches wait for
// it, pauseFactor times as long as the batch took, at most maxPause.
func TestPace(t *testing.T) {
	ix := &Index{pending: make(chan []*capture.Record, 2)}
	var slept []time.Duration
	ix.sleep = func(_ context.Context, d time.Duration) { slept = append(slept, d) }
	ix.pace(context.Background(), 10*time.Millisecond)
	if len(slept) != 0 {
		t.Fatalf("paused %v with nothing waiting", slept)
	}
	ix.pending <- nil
	ix.pace(context.Background(), 10*time.Millisecond)
	ix.pace(context.Background(), time.Hour)
	if want := []time.Duration{pauseFactor * 10 * time.Millisecond, maxPause}; !slices.Equal(slept, want) {
		t.Fatalf("paused %v, want %v", slept, want)
	}
}
