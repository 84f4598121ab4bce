package follow_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/follow"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// openStore opens a SQLite store at path, closed when the test ends.
func openStore(t *testing.T, path string) *sqlite.SQLite {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// collector gathers what a follower hands on.
type collector struct {
	mu   sync.Mutex
	ids  []string
	seqs []int64
	got  chan struct{} // receives after each batch
}

func newCollector() *collector { return &collector{got: make(chan struct{}, 1000)} }

func (c *collector) committed(batch []*capture.Record) {
	c.mu.Lock()
	for _, r := range batch {
		c.ids = append(c.ids, r.ID)
		c.seqs = append(c.seqs, r.Seq)
	}
	c.mu.Unlock()
	c.got <- struct{}{}
}

func (c *collector) snapshot() ([]string, []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ids), slices.Clone(c.seqs)
}

// TestStepHandsOnNewRecordsInCommitOrder: a follower started on a store
// with history hands on only what is committed later, all of it, in commit
// order, in batches of at most Batch, each record once.
func TestStepHandsOnNewRecordsInCommitOrder(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "proxy.db"))
	ctx := context.Background()
	for range 3 {
		storetest.MustRecord(t, s, storetest.NewRecord(t, "old"))
	}
	storetest.MustFlush(t, s)
	from, err := s.LastSeq(ctx)
	if err != nil || from != 3 {
		t.Fatalf("LastSeq = %d, %v", from, err)
	}

	c := newCollector()
	var sizes []int
	f := follow.New(follow.Options{Source: s, Batch: 4, Committed: []func([]*capture.Record){
		c.committed, func(b []*capture.Record) { sizes = append(sizes, len(b)) },
	}}, from)

	var want []string
	for range 10 {
		rec := storetest.NewRecord(t, "new")
		want = append(want, rec.ID)
		storetest.MustRecord(t, s, rec)
	}
	storetest.MustFlush(t, s)
	if err := f.Step(ctx); err != nil {
		t.Fatal(err)
	}
	ids, seqs := c.snapshot()
	if !slices.Equal(ids, want) {
		t.Fatalf("handed on %v, want %v", ids, want)
	}
	if !slices.Equal(seqs, []int64{4, 5, 6, 7, 8, 9, 10, 11, 12, 13}) {
		t.Fatalf("seqs %v", seqs)
	}
	if !slices.Equal(sizes, []int{4, 4, 2}) {
		t.Fatalf("batch sizes %v, want [4 4 2]", sizes)
	}
	if f.Seq() != 13 {
		t.Fatalf("Seq = %d, want 13", f.Seq())
	}
	// Nothing new: nothing handed on.
	if err := f.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if ids, _ := c.snapshot(); len(ids) != 10 {
		t.Fatalf("a step without commits handed on %d more", len(ids)-10)
	}
}

// TestRunFollowsAnotherWriter: records committed by another store on the
// same database (another process, as far as the follower can tell) reach
// the hooks while Run runs.
func TestRunFollowsAnotherWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proxy.db")
	reader, writer := openStore(t, path), openStore(t, path)

	c := newCollector()
	f := follow.New(follow.Options{Source: reader, Every: 10 * time.Millisecond, Committed: []func([]*capture.Record){c.committed}}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()

	rec := storetest.NewRecord(t, "k")
	storetest.MustRecord(t, writer, rec)
	storetest.MustFlush(t, writer)
	select {
	case <-c.got:
	case <-time.After(30 * time.Second):
		t.Fatal("the other writer's record was not handed on")
	}
	if ids, _ := c.snapshot(); !slices.Equal(ids, []string{rec.ID}) {
		t.Fatalf("handed on %v", ids)
	}
	cancel()
	<-done
}
