package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/web"
)

// countingStore is the real store, counting the List and Stats calls a
// live update makes, and the other calls the statistics page makes.
type countingStore struct {
	web.Store
	lists, stats, others atomic.Int64
}

func (c *countingStore) Coverage(ctx context.Context) (store.Coverage, error) {
	c.others.Add(1)
	return c.Store.Coverage(ctx)
}

func (c *countingStore) Series(ctx context.Context, f store.Filter, step time.Duration) ([]store.Point, error) {
	c.others.Add(1)
	return c.Store.Series(ctx, f, step)
}

func (c *countingStore) Breakdown(ctx context.Context, f store.Filter, by store.Dimension) ([]store.BreakdownRow, error) {
	c.others.Add(1)
	return c.Store.Breakdown(ctx, f, by)
}

// statsPage returns the calls the statistics page reads the database with.
func (c *countingStore) statsPage() int64 { return c.stats.Load() + c.others.Load() }

func (c *countingStore) List(ctx context.Context, f store.Filter) ([]*capture.Record, int64, error) {
	c.lists.Add(1)
	return c.Store.List(ctx, f)
}

func (c *countingStore) Stats(ctx context.Context, f store.Filter, now time.Time) (store.Stats, error) {
	c.stats.Add(1)
	return c.Store.Stats(ctx, f, now)
}

// wantQueries checks that List and Stats were each called n times since
// the last check.
func (c *countingStore) wantQueries(t *testing.T, n int64) {
	t.Helper()
	if lists, stats := c.lists.Swap(0), c.stats.Swap(0); lists != n || stats != n {
		t.Errorf("%d List and %d Stats calls, want %d of each", lists, stats, n)
	}
}

func TestLiveCache(t *testing.T) {
	counts := new(countingStore)
	e := newSeededEnv(t, func(s *web.Server) { counts.Store, s.Store = s.Store, counts })
	users := e.sessions()
	counts.wantQueries(t, 0)

	// poll polls the table as user with query, and returns the rows it shows
	// and the URL it polls next.
	poll := func(t *testing.T, user, query string) (rows []string, next string) {
		t.Helper()
		w := e.get("/partials/requests?"+query, withCookie(users[user]), htmx())
		wantStatus(t, w, http.StatusOK)
		doc := page(t, w)
		return e.rowNames(doc, "request-row"), doc.Find(byTestID("requests")).AttrOr("hx-get", "")
	}

	version := e.aliceVersion()
	t.Run("ConcurrentPollsShareOneComputation", func(t *testing.T) {
		const n = 20
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			ws    [n]*httptest.ResponseRecorder
		)
		for i := range n {
			wg.Go(func() {
				<-start
				ws[i] = e.get("/partials/requests?v=stale", withCookie(users["alice"]), htmx())
			})
		}
		close(start)
		wg.Wait()
		counts.wantQueries(t, 1)
		for i, w := range ws {
			wantStatus(t, w, http.StatusOK)
			doc := page(t, w)
			if got := e.rowNames(doc, "request-row"); !slices.Equal(got, aliceSees) {
				t.Errorf("poll %d: rows %v, want %v", i, got, aliceSees)
			}
			if got := doc.Find(byTestID("requests")).AttrOr("hx-get", ""); !strings.HasSuffix(got, "v="+version) {
				t.Errorf("poll %d: next poll %q, want version %s", i, got, version)
			}
		}
	})

	t.Run("HTMXFragmentSharesTheEntry", func(t *testing.T) {
		w := e.get("/", withCookie(users["alice"]), htmx())
		wantStatus(t, w, http.StatusOK)
		if got := e.rowNames(page(t, w), "request-row"); !slices.Equal(got, aliceSees) {
			t.Errorf("rows %v, want %v", got, aliceSees)
		}
		counts.wantQueries(t, 0)
	})

	t.Run("FullPageReadsTheStore", func(t *testing.T) {
		wantStatus(t, e.get("/", withCookie(users["alice"])), http.StatusOK)
		counts.wantQueries(t, 1)
	})

	t.Run("EachViewerIsItsOwnEntry", func(t *testing.T) {
		for _, tc := range []struct {
			user string
			want []string
		}{{"bob", bobSees}, {"admin", adminSees}} {
			if got, _ := poll(t, tc.user, "v=stale"); !slices.Equal(got, tc.want) {
				t.Errorf("%s sees %v, want %v", tc.user, got, tc.want)
			}
			counts.wantQueries(t, 1)
		}
		// Another session with bob's key is the same viewer.
		users["bob2"] = e.login(bobKey)
		if got, _ := poll(t, "bob2", "v=stale"); !slices.Equal(got, bobSees) {
			t.Errorf("bob's second session sees %v, want %v", got, bobSees)
		}
		counts.wantQueries(t, 0)
	})

	t.Run("EachFilterIsItsOwnEntry", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"search=embeddings", []string{"alice-binary"}},
			{"page_size=2", aliceSees[:2]},
			{"page_size=2&page=2", aliceSees[2:]},
		} {
			if got, _ := poll(t, "alice", "v=stale&"+tc.query); !slices.Equal(got, tc.want) {
				t.Errorf("%s: rows %v, want %v", tc.query, got, tc.want)
			}
			counts.wantQueries(t, 1)
		}
	})

	// alice's version moves on; the data does not.
	e.live.Committed([]*capture.Record{{ID: "not-stored", KeyHash: capture.Fingerprint(aliceKey)}})
	t.Run("CachedUpdateKeepsItsVersion", func(t *testing.T) {
		_, next := poll(t, "alice", "v="+version)
		counts.wantQueries(t, 0)
		if !strings.HasSuffix(next, "v="+version) {
			t.Errorf("next poll %q, want the cached update's version %s", next, version)
		}
	})

	e.nextRefresh()
	t.Run("RecomputedAfterTheInterval", func(t *testing.T) {
		_, next := poll(t, "alice", "v="+version)
		counts.wantQueries(t, 1)
		if !strings.HasSuffix(next, "v="+e.aliceVersion()) {
			t.Errorf("next poll %q, want version %s", next, e.aliceVersion())
		}
		wantStatus(t, e.get(next, withCookie(users["alice"]), htmx()), http.StatusNoContent)
		counts.wantQueries(t, 0)
	})
}
