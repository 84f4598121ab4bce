package main

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/openrouter-proxy/openrouter-proxy/app/metrics/metricstest"
)

// TestMetrics drives known exchanges through the real program and reads
// them back from GET /metrics on the dashboard port, parsed as Prometheus
// text.
func TestMetrics(t *testing.T) {
	_, base := startMockServer(t)
	const token = "metrics-scrape-token-42"
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base, "METRICS_TOKEN": token})
	ctx := context.Background()
	const gpt, r1 = "openai/gpt-4o-mini", "deepseek/deepseek-r1"

	t.Run("Token", func(t *testing.T) {
		for auth, want := range map[string]int{"": 401, "Bearer wrong": 401, "Bearer " + token: 200} {
			resp := app.doWeb("GET", "/metrics", map[string]string{"Authorization": auth})
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("Authorization %q: status %d, want %d", auth, resp.StatusCode, want)
			}
		}
	})

	client := app.client(testKey)
	var prompt, completion int64
	for _, text := range []string{"count me once", "count me twice"} {
		resp, err := client.Chat.Completions.New(ctx, chatParams(gpt, text))
		if err != nil {
			t.Fatal(errorString(err))
		}
		prompt += resp.Usage.PromptTokens
		completion += resp.Usage.CompletionTokens
	}
	stream := client.Chat.Completions.NewStreaming(ctx, chatParams(r1, "think, then stream"))
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(errorString(err))
	}
	failing := app.client(testKey, option.WithHeader("X-Mock-Scenario", "error"), option.WithHeader("X-Mock-Status", "400"))
	if _, err := failing.Chat.Completions.New(ctx, chatParams(gpt, "refused")); err == nil {
		t.Fatal("the error scenario answered")
	}
	// A client that pastes its key into the model field: the mock serves
	// "that model", and the key must not become a label.
	if _, err := client.Chat.Completions.New(ctx, chatParams(testKey, "key as model")); err != nil {
		t.Fatal(errorString(err))
	}
	if _, err := client.Models.List(ctx); err != nil {
		t.Fatal(errorString(err))
	}
	const exchanges = 6
	app.rows(exchanges, "1=1")
	fams, text := app.scrapeMetrics(token, exchanges)

	t.Run("Requests", func(t *testing.T) {
		for _, w := range []struct {
			model, status, stream, outcome string
			n                              float64
		}{
			{gpt, "2xx", "false", "ok", 2},
			{r1, "2xx", "true", "ok", 1},
			{gpt, "4xx", "false", "upstream_error", 1}, // no served model: the requested one
			{"other", "2xx", "false", "ok", 1},         // the key in the model field
			{"none", "2xx", "false", "ok", 1},          // GET /models
		} {
			v, ok := fams.Value("orp_requests_total", "model", w.model, "status", w.status, "stream", w.stream, "outcome", w.outcome)
			if v != w.n {
				t.Errorf("orp_requests_total%+v = %v (present %v)", w, v, ok)
			}
		}
		if n := len(fams["orp_requests_total"].GetMetric()); n != 5 {
			t.Errorf("%d series of orp_requests_total, want 5", n)
		}
	})

	t.Run("TokensAndCost", func(t *testing.T) {
		r1Usage := acc.Usage
		for _, w := range []struct {
			model, kind string
			n           int64
		}{
			{gpt, "prompt", prompt},
			{gpt, "completion", completion},
			{gpt, "cached", 0},
			{gpt, "reasoning", 0},
			{r1, "prompt", r1Usage.PromptTokens},
			{r1, "completion", r1Usage.CompletionTokens},
			{r1, "reasoning", r1Usage.CompletionTokensDetails.ReasoningTokens},
		} {
			if v, ok := fams.Value("orp_tokens_total", "model", w.model, "kind", w.kind); !ok || v != float64(w.n) {
				t.Errorf("orp_tokens_total{%s,%s} = %v (present %v), want %d", w.model, w.kind, v, ok, w.n)
			}
		}
		if r1Usage.CompletionTokensDetails.ReasoningTokens == 0 || prompt == 0 {
			t.Error("the mock reported no reasoning or no prompt tokens: the test proves nothing")
		}
		// The mock charges 150 and 600 nano-dollars per prompt and
		// completion token; the counter adds what the records hold.
		for model, want := range map[string]float64{
			gpt: app.sqlFloat("SELECT sum(cost) FROM requests WHERE model = ?", gpt),
			r1:  app.sqlFloat("SELECT sum(cost) FROM requests WHERE model = ?", r1),
		} {
			if v, _ := fams.Value("orp_cost_usd_total", "model", model); v != want || v <= 0 {
				t.Errorf("orp_cost_usd_total{%s} = %v, want %v", model, v, want)
			}
		}
		if want := float64(prompt*150+completion*600) / 1e9; math.Abs(app.sqlFloat("SELECT sum(cost) FROM requests WHERE model = ?", gpt)-want) > 1e-15 {
			t.Errorf("recorded cost of %s is not the mock's price %v", gpt, want)
		}
	})

	t.Run("Histograms", func(t *testing.T) {
		const served = "COALESCE(NULLIF(model, ''), model_requested)" // the model label's rule
		for _, w := range []struct {
			model, stream string
			count         uint64
			where         string
		}{
			{gpt, "false", 3, served + " = '" + gpt + "' AND is_stream = 0"},
			{r1, "true", 1, served + " = '" + r1 + "' AND is_stream = 1"},
			{"none", "false", 1, "path = '/models'"},
		} {
			count, sum, ok := fams.Histogram("orp_request_duration_seconds", "model", w.model, "stream", w.stream)
			want := app.sqlFloat("SELECT sum(duration_ms) FROM requests WHERE "+w.where) / 1000
			if !ok || count != w.count || math.Abs(sum-want) > 1e-6 {
				t.Errorf("orp_request_duration_seconds{%s,%s}: count %d sum %v (present %v), want %d and %v", w.model, w.stream, count, sum, ok, w.count, want)
			}
		}
		count, sum, ok := fams.Histogram("orp_time_to_first_token_seconds", "model", r1, "stream", "true")
		want := app.sqlFloat("SELECT ttft_ms FROM requests WHERE model = ?", r1) / 1000
		if !ok || count != 1 || want <= 0 || math.Abs(sum-want) > 1e-6 {
			t.Errorf("TTFT of the stream: count %d sum %v (present %v), want 1 and %v", count, sum, ok, want)
		}
		if n := len(fams["orp_time_to_first_token_seconds"].GetMetric()); n != 1 {
			t.Errorf("%d TTFT series, want 1 (only the stream has a first token)", n)
		}
		batches, records, _ := fams.Histogram("orp_writer_batch_records")
		commits, _, _ := fams.Histogram("orp_writer_commit_seconds")
		if records != exchanges || batches == 0 || commits != batches {
			t.Errorf("%d batches of %v records, %d commits timed; want %d records, one time per batch", batches, records, commits, exchanges)
		}
	})

	t.Run("Pipeline", func(t *testing.T) {
		for _, name := range []string{"orp_records_lost_total", "orp_writer_queue_records", "orp_writer_queue_bytes",
			"orp_search_index_lag_records", "orp_search_index_lag_seconds", "go_goroutines", "process_resident_memory_bytes"} {
			if fams[name] == nil {
				t.Errorf("%s missing", name)
			}
		}
		if v, _ := fams.Value("orp_records_lost_total"); v != 0 {
			t.Errorf("%v records lost", v)
		}
		if lag, _ := fams.Value("orp_search_index_lag_records"); lag < 0 || lag > exchanges {
			t.Errorf("index lag %v records; %d were committed", lag, exchanges)
		}
	})

	t.Run("NoKey", func(t *testing.T) {
		for _, secret := range []string{testKey, testKey[:24], fingerprint(testKey), fingerprint(testKey)[:16], "…feed", token} {
			if strings.Contains(text, secret) {
				t.Errorf("the scrape contains %q", secret)
			}
		}
	})
}

// scrapeMetrics scrapes /metrics until it counts want exchanges. The test
// sees a commit in SQLite before the metrics hook has counted it; the
// test's own hook runs after that one, so each of its signals means the
// count may have moved.
func (a *testApp) scrapeMetrics(token string, want float64) (metricstest.Families, string) {
	a.t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		fams, text := metricstest.Scrape(a.t, a.webURL+"/metrics", token)
		got := fams.Sum("orp_requests_total")
		if got == want {
			return fams, text
		}
		if got > want {
			a.t.Fatalf("/metrics counts %v exchanges, want %v", got, want)
		}
		select {
		case <-a.commits:
		case <-deadline.C:
			a.t.Fatalf("/metrics counts %v exchanges after 15s, want %v", got, want)
		}
	}
}

// sqlFloat returns the single number query yields from the app's database.
func (a *testApp) sqlFloat(query string, args ...any) float64 {
	a.t.Helper()
	var f float64
	if err := a.db().QueryRow(query, args...).Scan(&f); err != nil {
		a.t.Fatalf("%s: %v", query, err)
	}
	return f
}
