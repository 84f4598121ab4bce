package bench_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/dataset"
	"github.com/openrouter-proxy/openrouter-proxy/app/mockupstream"
	"github.com/openrouter-proxy/openrouter-proxy/app/proxy"
	"github.com/openrouter-proxy/openrouter-proxy/app/search"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

// indexedRig is the recording proxy over the mock, with or without the
// search index fed from its store, as main wires them.
type indexedRig struct {
	base string
	st   *sqlite.SQLite
	ix   *search.Index

	mu        sync.Mutex
	committed map[int64]time.Time // when each sequence was committed
}

func newIndexedRig(b *testing.B, withIndex bool) *indexedRig {
	b.Helper()
	up := httptest.NewServer(mockupstream.New())
	b.Cleanup(up.Close)
	upURL, _ := url.Parse(up.URL + "/api/v1")
	quiet := slog.New(slog.DiscardHandler)
	r := &indexedRig{committed: map[int64]time.Time{}}
	var ix atomic.Pointer[search.Index]
	hook := store.Hook{AfterCommit: func(batch []*capture.Record) {
		now := time.Now()
		r.mu.Lock()
		for _, rec := range batch {
			r.committed[rec.Seq] = now
		}
		r.mu.Unlock()
		if x := ix.Load(); x != nil {
			x.Committed(batch)
		}
	}}
	dir := b.TempDir()
	st, err := sqlite.Open(context.Background(), dir+"/proxy_requests.db", sqlite.Options{Logger: quiet, Hooks: []store.Hook{hook}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	r.st = st
	if withIndex {
		x, err := search.Open(search.Options{Dir: dir + "/search", Source: st, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { x.Close() })
		ix.Store(x)
		r.ix = x
	}
	px := proxy.New(proxy.Options{Upstream: upURL, Timeout: time.Minute, Retries: 2, RetryBodyLimit: 4 << 20,
		BodyLimit: 1 << 20, Recorder: st, Logger: quiet})
	srv := httptest.NewServer(px)
	b.Cleanup(srv.Close)
	r.base = srv.URL + "/v1"
	return r
}

// realistic returns request bodies of generated multi-turn chats (English
// and CJK, 2–4 KiB with their replies), half of them streamed.
func realistic(n int) [][]byte {
	g := dataset.New(7, dataset.Options{})
	var out [][]byte
	for len(out) < n {
		rec := g.Next()
		if rec.Path != "/chat/completions" {
			continue
		}
		out = append(out, bytes.Clone(rec.ReqBody.Head))
	}
	return out
}

// saturate sends bodies round-robin at concurrency c for d and returns the
// exchanges completed.
func saturate(b *testing.B, base string, bodies [][]byte, c int, d time.Duration) int64 {
	var done atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range c {
		wg.Go(func() {
			for i := w; time.Now().Before(deadline); i += c {
				if !postChat(b, base, bodies[i%len(bodies)], "sk-bench-"+strconv.Itoa(w%4)) {
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return done.Load()
}

// postChat posts one chat completion with key and reads the answer; false
// when it failed (reported to b).
func postChat(b *testing.B, base string, body []byte, key string) bool {
	req, _ := http.NewRequest("POST", base+"/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		b.Error(err)
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return true
}

// steady sends bodies at rate exchanges a second for d, from enough
// workers that none waits for another, and returns the exchanges
// completed.
func steady(b *testing.B, base string, bodies [][]byte, rate int, d time.Duration) int64 {
	var done atomic.Int64
	work := make(chan []byte, rate)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for body := range work {
				if postChat(b, base, body, "sk-bench-steady") {
					done.Add(1)
				}
			}
		})
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for i, end := 0, time.Now().Add(d); time.Now().Before(end); i++ {
		<-tick.C
		select {
		case work <- bodies[i%len(bodies)]:
		default: // the workers are behind: the load is not steady
		}
	}
	tick.Stop()
	close(work)
	wg.Wait()
	return done.Load()
}

// lagWatcher records, for each sequence the index takes, how long after its
// SQLite commit that was.
func (r *indexedRig) lagWatcher(ctx context.Context) (stop func() []time.Duration) {
	var lags []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		wm := r.ix.Watermark()
		for {
			if err := r.ix.Wait(ctx, wm+1); err != nil {
				return
			}
			now, next := time.Now(), r.ix.Watermark()
			r.mu.Lock()
			for s := wm + 1; s <= next; s++ {
				if t, ok := r.committed[s]; ok {
					lags = append(lags, now.Sub(t))
				}
			}
			r.mu.Unlock()
			wm = next
		}
	}()
	return func() []time.Duration { <-done; return lags }
}

// BenchmarkIndexKeepsUp drives a saturation load of realistic chats at the
// recording proxy with the search index fed and without it, for
// ORP_BENCH_SECONDS (default 60) each, and reports the throughput ratio
// and how far the index lagged behind SQLite (p99, and at the end). Then,
// on a fresh proxy with the index, a steady load of 1 000 exchanges a
// second (a heavy load, below saturation) for the same time, and the
// index's lag under it (steady_lag_p99_s).
func BenchmarkIndexKeepsUp(b *testing.B) {
	d := 60 * time.Second
	if s, err := strconv.Atoi(os.Getenv("ORP_BENCH_SECONDS")); err == nil && s > 0 {
		d = time.Duration(s) * time.Second
	}
	bodies := realistic(2000)
	for range b.N {
		off := newIndexedRig(b, false)
		on := newIndexedRig(b, true)
		// Half the time each, interleaved, so that noise falls on both.
		var nOff, nOn int64
		ctx, cancel := context.WithCancel(context.Background())
		stop := on.lagWatcher(ctx)
		for range 2 {
			nOff += saturate(b, off.base, bodies, 16, d/2)
			nOn += saturate(b, on.base, bodies, 16, d/2)
		}
		// How long after the load the index holds everything SQLite has.
		flush, fc := context.WithTimeout(context.Background(), 10*time.Minute)
		on.st.Flush(flush)
		feed, _ := on.st.Feed(flush)
		end := time.Now()
		if err := on.ix.Wait(flush, feed.MaxSeq); err != nil {
			b.Fatal(err)
		}
		endLag := time.Since(end)
		fc()
		cancel()
		lags := stop()
		b.ReportMetric(float64(nOn)/float64(nOff), "on/off_throughput")
		b.ReportMetric(float64(nOn)/d.Seconds(), "on_req/s")
		b.ReportMetric(float64(nOff)/d.Seconds(), "off_req/s")
		if len(lags) > 0 {
			b.ReportMetric(pct(lags, 0.99).Seconds(), "lag_p99_s")
		}
		b.ReportMetric(endLag.Seconds(), "lag_at_end_s")

		calm := newIndexedRig(b, true)
		ctx, cancel = context.WithCancel(context.Background())
		stop = calm.lagWatcher(ctx)
		n := steady(b, calm.base, bodies, 1000, d)
		flush, fc = context.WithTimeout(context.Background(), 10*time.Minute)
		calm.st.Flush(flush)
		feed, _ = calm.st.Feed(flush)
		if err := calm.ix.Wait(flush, feed.MaxSeq); err != nil {
			b.Fatal(err)
		}
		fc()
		cancel()
		if lags := stop(); len(lags) > 0 {
			b.ReportMetric(pct(lags, 0.99).Seconds(), "steady_lag_p99_s")
		}
		b.ReportMetric(float64(n)/d.Seconds(), "steady_req/s")
	}
}
