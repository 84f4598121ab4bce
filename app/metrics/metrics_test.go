package metrics_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/metrics"
	"github.com/openrouter-proxy/openrouter-proxy/app/metrics/metricstest"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// serve starts m's handler on a real listener and returns its URL.
func serve(t *testing.T, m *metrics.Metrics, token string) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler(token))
	t.Cleanup(srv.Close)
	return srv.URL
}

// commit reports batch to m as the store's writer does: the commit's
// time to OnCommit, then the batch to the hook.
func commit(t *testing.T, m *metrics.Metrics, batch ...*capture.Record) {
	t.Helper()
	m.ObserveCommit(3*time.Millisecond, len(batch))
	m.Hook().AfterCommit(batch)
}

const gpt = "openai/gpt-4o-mini"

// exchanges are analysed records of six exchanges; durations and costs
// are binary fractions, so that their sums are exact.
func exchanges() []*capture.Record {
	secret := "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef01234567beef"
	return []*capture.Record{
		{Seq: 1, Model: gpt, ModelRequested: gpt, Status: 200, Outcome: capture.OutcomeOK,
			Duration: 250 * time.Millisecond, HasUsage: true, PromptTokens: 10, CompletionTokens: 20, CachedTokens: 4, Cost: 0.25,
			APIKey: secret, KeyHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", KeyMask: "sk-or-v1…beef"},
		{Seq: 2, Model: gpt, ModelRequested: gpt, Status: 200, Stream: true, Outcome: capture.OutcomeOK,
			Duration: 2 * time.Second, TTFT: 500 * time.Millisecond,
			HasUsage: true, PromptTokens: 7, CompletionTokens: 30, ReasoningTokens: 12, Cost: 0.125},
		{Seq: 3, ModelRequested: "anthropic/claude-3.5-sonnet", Status: 429, Outcome: capture.OutcomeUpstreamError,
			Duration: 50 * time.Millisecond},
		{Seq: 4, Status: 200, Outcome: capture.OutcomeOK, Duration: 10 * time.Millisecond}, // GET /models
		{Seq: 5, ModelRequested: gpt, Status: 502, Outcome: capture.OutcomeProxyError, Duration: 1500 * time.Millisecond},
		{Seq: 6, ModelRequested: gpt, Stream: true, Outcome: capture.OutcomeCancelled, Duration: 5 * time.Second},
	}
}

func TestExchangeMetrics(t *testing.T) {
	m := metrics.New(metrics.Options{})
	recs := exchanges()
	commit(t, m, recs[:3]...)
	commit(t, m, recs[3:]...)
	fams, text := metricstest.Scrape(t, serve(t, m, ""), "")

	t.Run("Requests", func(t *testing.T) {
		want := []struct {
			model, status, stream, outcome string
		}{
			{gpt, "2xx", "false", "ok"},
			{gpt, "2xx", "true", "ok"},
			{"anthropic/claude-3.5-sonnet", "4xx", "false", "upstream_error"},
			{"none", "2xx", "false", "ok"},
			{gpt, "5xx", "false", "proxy_error"},
			{gpt, "none", "true", "cancelled"},
		}
		for _, w := range want {
			v, ok := fams.Value("orp_requests_total", "model", w.model, "status", w.status, "stream", w.stream, "outcome", w.outcome)
			if !ok || v != 1 {
				t.Errorf("orp_requests_total%+v = %v (present %v), want 1", w, v, ok)
			}
		}
		if n := len(fams["orp_requests_total"].GetMetric()); n != len(want) {
			t.Errorf("%d series of orp_requests_total, want %d", n, len(want))
		}
	})

	t.Run("Histograms", func(t *testing.T) {
		for _, h := range []struct {
			name, model, stream string
			count               uint64
			sum                 float64
		}{
			{"orp_request_duration_seconds", gpt, "false", 2, 1.75},
			{"orp_request_duration_seconds", gpt, "true", 2, 7},
			{"orp_request_duration_seconds", "anthropic/claude-3.5-sonnet", "false", 1, 0.05},
			{"orp_request_duration_seconds", "none", "false", 1, 0.01},
			{"orp_time_to_first_token_seconds", gpt, "true", 1, 0.5},
		} {
			count, sum, ok := fams.Histogram(h.name, "model", h.model, "stream", h.stream)
			if !ok || count != h.count || sum != h.sum {
				t.Errorf("%s{%s,%s}: count %d sum %v (present %v), want %d and %v", h.name, h.model, h.stream, count, sum, ok, h.count, h.sum)
			}
		}
		if n := len(fams["orp_time_to_first_token_seconds"].GetMetric()); n != 1 {
			t.Errorf("%d TTFT series, want 1: only one exchange had a first token", n)
		}
		var bounds []float64
		for _, b := range fams.Metric("orp_request_duration_seconds", "model", gpt, "stream", "true").GetHistogram().GetBucket() {
			bounds = append(bounds, b.GetUpperBound())
		}
		if bounds[0] != 0.05 || bounds[len(bounds)-2] != 300 || !math.IsInf(bounds[len(bounds)-1], 1) {
			t.Errorf("latency buckets %v, want 0.05 … 300 s", bounds)
		}
		if count, sum, _ := fams.Histogram("orp_writer_batch_records"); count != 2 || sum != 6 {
			t.Errorf("orp_writer_batch_records: count %d sum %v, want 2 batches of 6 records", count, sum)
		}
		if count, sum, _ := fams.Histogram("orp_writer_commit_seconds"); count != 2 || math.Abs(sum-0.006) > 1e-12 {
			t.Errorf("orp_writer_commit_seconds: count %d sum %v, want 2 commits of 3 ms", count, sum)
		}
	})

	t.Run("TokensAndCost", func(t *testing.T) {
		for kind, want := range map[string]float64{"prompt": 17, "completion": 50, "cached": 4, "reasoning": 12} {
			if v, ok := fams.Value("orp_tokens_total", "model", gpt, "kind", kind); v != want {
				t.Errorf("orp_tokens_total{%s} = %v (present %v), want %v", kind, v, ok, want)
			}
		}
		if v, _ := fams.Value("orp_cost_usd_total", "model", gpt); v != 0.375 {
			t.Errorf("orp_cost_usd_total = %v, want 0.375", v)
		}
		if got := fams.LabelValues("orp_tokens_total", "model"); !slices.Equal(got, []string{gpt}) {
			t.Errorf("token series for models %v, want only %s: the others reported no usage", got, gpt)
		}
	})

	t.Run("NoKey", func(t *testing.T) {
		for _, secret := range []string{"sk-or-v1-0123456789abcdef", "9f86d081884c7d65", "beef"} {
			if strings.Contains(text, secret) {
				t.Errorf("the scrape contains %q", secret)
			}
		}
	})
}

func TestModelLabelCap(t *testing.T) {
	m := metrics.New(metrics.Options{MaxModels: 2})
	var batch []*capture.Record
	for i, model := range []string{
		"a/one", "a/two", "a/three", "a/one", // the third distinct model is past the cap
		"sk-or-v1-0123456789abcdef",                    // a key in the model field
		"x/0123456789abcdef0123456789abcdef0123456789", // a hash
		"free text, not a model",
		strings.Repeat("m", 101),
		"", // no model
	} {
		batch = append(batch, &capture.Record{Seq: int64(i + 1), ModelRequested: model, Status: 200, Outcome: capture.OutcomeOK})
	}
	commit(t, m, batch...)
	fams, _ := metricstest.Scrape(t, serve(t, m, ""), "")
	if got := fams.LabelValues("orp_requests_total", "model"); !slices.Equal(got, []string{"a/one", "a/two", "none", "other"}) {
		t.Fatalf("model labels %q", got)
	}
	for model, want := range map[string]float64{"a/one": 2, "a/two": 1, "other": 5, "none": 1} {
		if v, _ := fams.Value("orp_requests_total", "model", model, "status", "2xx", "stream", "false", "outcome", "ok"); v != want {
			t.Errorf("model %q: %v requests, want %v", model, v, want)
		}
	}
}

func TestPipelineMetrics(t *testing.T) {
	health := store.Health{Degraded: true, Failing: true, Lost: 7, QueuedRecords: 3, QueuedBytes: 4096, BudgetBytes: 1 << 20}
	m := metrics.New(metrics.Options{})
	m.Watch(&fakePipeline{health: health}, nil)
	fams, _ := metricstest.Scrape(t, serve(t, m, ""), "")
	for name, want := range map[string]float64{
		"orp_records_lost_total": 7, "orp_recording_degraded": 1, "orp_database_failing": 1,
		"orp_writer_queue_records": 3, "orp_writer_queue_bytes": 4096, "orp_writer_queue_budget_bytes": 1 << 20,
	} {
		if v, ok := fams.Value(name); !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if fams["go_goroutines"] == nil || fams["process_resident_memory_bytes"] == nil {
		t.Error("the Go runtime and process collectors are missing")
	}
	if fams["orp_search_index_lag_records"] != nil {
		t.Error("an index lag without an index")
	}
}

func TestIndexLag(t *testing.T) {
	start := time.Now()
	p := &fakePipeline{feed: store.FeedState{MaxSeq: 10}}
	ix := &fakeIndex{}
	m := metrics.New(metrics.Options{})
	m.Watch(p, ix)
	url := serve(t, m, "")
	lag := func() (float64, float64) {
		t.Helper()
		fams, _ := metricstest.Scrape(t, url, "")
		records, ok1 := fams.Value("orp_search_index_lag_records")
		seconds, ok2 := fams.Value("orp_search_index_lag_seconds")
		if !ok1 || !ok2 {
			t.Fatal("no index lag in the scrape")
		}
		return records, seconds
	}

	ix.wm.Store(4)
	if records, seconds := lag(); records != 6 || seconds < 0 || seconds > time.Since(start).Seconds() {
		t.Errorf("before any commit, at 4 of 10: lag %v records, %vs", records, seconds)
	}
	if p.feeds.Load() != 1 {
		t.Errorf("the store's feed was read %d times, want once", p.feeds.Load())
	}
	committed := time.Now()
	commit(t, m, &capture.Record{Seq: 11}, &capture.Record{Seq: 12}, &capture.Record{Seq: 13})
	ix.wm.Store(10)
	if records, seconds := lag(); records != 3 || seconds < 0 || seconds > time.Since(committed).Seconds() {
		t.Errorf("at 10 of 13: lag %v records, %vs", records, seconds)
	}
	ix.wm.Store(13)
	if records, seconds := lag(); records != 0 || seconds != 0 {
		t.Errorf("caught up: lag %v records, %vs", records, seconds)
	}
	if p.feeds.Load() != 1 {
		t.Errorf("the store's feed was read %d times, want once", p.feeds.Load())
	}

	// Another replica's commits, handed on by a dashboard's follower, move
	// the lag too, and count no exchange here.
	m.Followed([]*capture.Record{{Seq: 14}, {Seq: 15}})
	if records, _ := lag(); records != 2 {
		t.Errorf("at 13 of 15 after a followed batch: lag %v records, want 2", records)
	}
	if fams, _ := metricstest.Scrape(t, url, ""); fams.Sum("orp_requests_total") != 3 {
		t.Errorf("requests counted %v, want the 3 committed here only", fams.Sum("orp_requests_total"))
	}

	t.Run("FeedFails", func(t *testing.T) {
		m := metrics.New(metrics.Options{})
		m.Watch(&fakePipeline{feedErr: errors.New("disk I/O error")}, &fakeIndex{})
		fams, _ := metricstest.Scrape(t, serve(t, m, ""), "")
		if fams["orp_search_index_lag_records"] != nil || fams["orp_writer_queue_records"] == nil {
			t.Error("want the lag left out of the scrape, and the rest in it")
		}
	})
}

func TestMetricsToken(t *testing.T) {
	url := serve(t, metrics.New(metrics.Options{}), "s3cret-token")
	for auth, want := range map[string]int{"": 401, "Bearer wrong": 401, "Basic s3cret-token": 401, "Bearer s3cret-token": 200} {
		req, _ := http.NewRequest("GET", url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Authorization %q: status %d, want %d", auth, resp.StatusCode, want)
		}
		if want == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("Authorization %q: no WWW-Authenticate", auth)
		}
	}
}

// fakePipeline stands in for the store.
type fakePipeline struct {
	health  store.Health
	feed    store.FeedState
	feedErr error
	feeds   atomic.Int64
}

func (p *fakePipeline) Health() store.Health { return p.health }

func (p *fakePipeline) LastSeq(context.Context) (int64, error) {
	p.feeds.Add(1)
	return p.feed.MaxSeq, p.feedErr
}

// fakeIndex stands in for the search index.
type fakeIndex struct{ wm atomic.Int64 }

func (ix *fakeIndex) Watermark() int64 { return ix.wm.Load() }
