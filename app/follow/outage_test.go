package follow_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/follow"
	"github.com/openrouter-proxy/openrouter-proxy/app/internal/syncbuf"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres/pgtest"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// waitUntil polls cond, failing after 60 s: the follower offers a log,
// not an event, for its outage.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFollowThroughOutage: a follower on PostgreSQL says once that it
// cannot read while the server is down, says when it can again, and hands
// on what was committed around the outage, each record once, in order.
func TestFollowThroughOutage(t *testing.T) {
	c := pgtest.New(t)
	url := c.NewDatabase(t)
	st, err := postgres.Open(context.Background(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var logs syncbuf.Buffer
	c1 := newCollector()
	f := follow.New(follow.Options{Source: st, Every: 20 * time.Millisecond,
		Committed: []func([]*capture.Record){c1.committed}, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	before := storetest.NewRecord(t, "k")
	storetest.MustRecord(t, st, before)
	storetest.MustFlush(t, st)
	waitUntil(t, "the first record handed on", func() bool { ids, _ := c1.snapshot(); return len(ids) == 1 })

	c.Stop(t)
	waitUntil(t, "the outage logged", func() bool { return logs.Count("cannot read new records") == 1 })
	during := storetest.NewRecord(t, "k") // held by the store's queue until the server is back
	storetest.MustRecord(t, st, during)
	c.Restart(t)
	storetest.MustFlush(t, st)
	after := storetest.NewRecord(t, "k")
	storetest.MustRecord(t, st, after)
	storetest.MustFlush(t, st)

	waitUntil(t, "all three handed on", func() bool { ids, _ := c1.snapshot(); return len(ids) >= 3 })
	ids, seqs := c1.snapshot()
	if want := []string{before.ID, during.ID, after.ID}; !slices.Equal(ids, want) {
		t.Fatalf("handed on %v, want %v", ids, want)
	}
	if !slices.Equal(seqs, []int64{1, 2, 3}) {
		t.Fatalf("seqs %v", seqs)
	}
	if n := logs.Count("cannot read new records"); n != 1 {
		t.Errorf("the outage was logged %d times, want once", n)
	}
	waitUntil(t, "the recovery logged", func() bool { return logs.Count("reading new records from the database again") == 1 })
}
