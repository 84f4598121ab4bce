// Package metrics exposes the service's numbers in the Prometheus text
// format on the dashboard's GET /metrics. Label sets stay bounded: no key
// and no free text ever becomes a label.
package metrics

import (
	"crypto/subtle"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// New returns a registry with the Go runtime and process collectors and the
// recording pipeline's state, read from health at each scrape.
func New(health func() store.Health) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		pipeline{health},
	)
	return reg
}

// Handler serves reg. With a non-empty token it answers only requests that
// carry `Authorization: Bearer <token>` (METRICS_TOKEN).
func Handler(reg *prometheus.Registry, token string) http.Handler {
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := capture.BearerToken(r.Header.Get("Authorization"))
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics: a valid METRICS_TOKEN bearer token is required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// pipeline collects store.Health at scrape time, so the numbers are never
// stale and the writer does no extra work for them.
type pipeline struct{ health func() store.Health }

var (
	lostDesc = prometheus.NewDesc("orp_records_lost_total",
		"Exchanges forwarded but not recorded: the queue stayed full or the database refused them.", nil, nil)
	degradedDesc = prometheus.NewDesc("orp_recording_degraded",
		"1 while recording is degraded (the database refuses writes, or a record was lost in the last minute).", nil, nil)
	failingDesc = prometheus.NewDesc("orp_database_failing",
		"1 while commits to the database fail; the writer holds its batch and retries.", nil, nil)
	queueRecordsDesc = prometheus.NewDesc("orp_writer_queue_records",
		"Records waiting for the database writer.", nil, nil)
	queueBytesDesc = prometheus.NewDesc("orp_writer_queue_bytes",
		"Bytes held by the records waiting for the database writer.", nil, nil)
	queueBudgetDesc = prometheus.NewDesc("orp_writer_queue_budget_bytes",
		"The writer queue's byte budget (RECORD_QUEUE_BYTES).", nil, nil)
)

func (p pipeline) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{lostDesc, degradedDesc, failingDesc, queueRecordsDesc, queueBytesDesc, queueBudgetDesc} {
		ch <- d
	}
}

func (p pipeline) Collect(ch chan<- prometheus.Metric) {
	h := p.health()
	ch <- prometheus.MustNewConstMetric(lostDesc, prometheus.CounterValue, float64(h.Lost))
	ch <- prometheus.MustNewConstMetric(degradedDesc, prometheus.GaugeValue, boolValue(h.Degraded))
	ch <- prometheus.MustNewConstMetric(failingDesc, prometheus.GaugeValue, boolValue(h.Failing))
	ch <- prometheus.MustNewConstMetric(queueRecordsDesc, prometheus.GaugeValue, float64(h.QueuedRecords))
	ch <- prometheus.MustNewConstMetric(queueBytesDesc, prometheus.GaugeValue, float64(h.QueuedBytes))
	ch <- prometheus.MustNewConstMetric(queueBudgetDesc, prometheus.GaugeValue, float64(h.BudgetBytes))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
