package metrics_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/openrouter-proxy/openrouter-proxy/app/metrics"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

func TestPipelineMetrics(t *testing.T) {
	health := store.Health{Degraded: true, Failing: true, Lost: 7, QueuedRecords: 3, QueuedBytes: 4096, BudgetBytes: 1 << 20}
	m := metrics.New(metrics.Options{})
	m.Watch(fakePipeline{health: health}, nil)
	srv := httptest.NewServer(m.Handler(""))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("not Prometheus text: %v", err)
	}
	for name, want := range map[string]float64{
		"orp_records_lost_total": 7, "orp_recording_degraded": 1, "orp_database_failing": 1,
		"orp_writer_queue_records": 3, "orp_writer_queue_bytes": 4096, "orp_writer_queue_budget_bytes": 1 << 20,
	} {
		f := families[name]
		if f == nil || len(f.Metric) != 1 {
			t.Errorf("%s missing", name)
			continue
		}
		m := f.Metric[0]
		got := m.GetGauge().GetValue() + m.GetCounter().GetValue()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if families["go_goroutines"] == nil || families["process_resident_memory_bytes"] == nil {
		t.Error("the Go runtime and process collectors are missing")
	}
}

func TestMetricsToken(t *testing.T) {
	srv := httptest.NewServer(metrics.New(metrics.Options{}).Handler("s3cret-token"))
	defer srv.Close()
	for auth, want := range map[string]int{"": 401, "Bearer wrong": 401, "Basic s3cret-token": 401, "Bearer s3cret-token": 200} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
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
	health store.Health
	feed   store.FeedState
}

func (p fakePipeline) Health() store.Health { return p.health }

func (p fakePipeline) Feed(context.Context) (store.FeedState, error) { return p.feed, nil }
