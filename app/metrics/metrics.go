// Package metrics exposes the service's numbers in the Prometheus text
// format on the dashboard's GET /metrics. Label sets stay bounded: no key
// and no free text ever becomes a label, and the model label takes at most
// Options.MaxModels distinct values.
//
// The exchange metrics are counted off the hot path, by a store hook after
// each commit: what is counted is what was analysed and recorded. The
// pipeline's state (queue, losses, the search index's lag) is read at each
// scrape, so it is never stale and the writer does no extra work for it.
package metrics

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// DefaultMaxModels is the default of Options.MaxModels.
const DefaultMaxModels = 100

// The model label's stand-ins for names it does not take.
const (
	// ModelOther counts the models seen after the first MaxModels, and
	// model fields that do not look like a model id.
	ModelOther = "other"
	// ModelNone counts the exchanges that named no model (GET /models,
	// say).
	ModelNone = "none"
)

// maxModelLen is the longest model id taken as a label; OpenRouter's are
// well under it ("meta-llama/llama-3.1-405b-instruct:free" is 39 bytes).
const maxModelLen = 100

// maxModelRun is the longest run of letters and digits a model id may have.
// Model ids are short words between separators; a longer run is a token,
// a hash or a key that a client put in the model field.
const maxModelRun = 32

// LLM exchanges take from tens of milliseconds (a cached answer, an error)
// to minutes (a long reasoning stream); these buckets cover 50 ms to
// REQUEST_TIMEOUT's default of 300 s.
var latencyBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300}

// A batch commit takes from a fraction of a millisecond (a few rows, an idle
// disk) to seconds (fsync on a busy disk): 0.25 ms to 8 s, doubling.
var commitBuckets = prometheus.ExponentialBuckets(0.00025, 2, 16)

// Batches hold 1 to sqlite.DefaultBatchSize records.
var batchBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512}

// Options configure Metrics. The zero value is usable.
type Options struct {
	// MaxModels bounds the distinct values of the model label: the first
	// MaxModels models seen since the start get their own, later ones
	// count under ModelOther. Default DefaultMaxModels.
	MaxModels int
}

// Pipeline is the recording pipeline, read at each scrape: the store.
type Pipeline interface {
	// Health reports the writer queue, the losses and the database's state.
	Health() store.Health
	// LastSeq reports the last commit sequence; it is read once, when no
	// commit has been seen yet.
	LastSeq(ctx context.Context) (int64, error)
}

// Index is the search index, whose lag behind SQLite is read at each
// scrape.
type Index interface {
	// Watermark returns the commit sequence of the last record indexed.
	Watermark() int64
}

// Metrics counts the recorded exchanges and serves them with the
// pipeline's state, the Go runtime and the process.
type Metrics struct {
	reg       *prometheus.Registry
	maxModels int

	requests *prometheus.CounterVec   // model, status, stream, outcome
	duration *prometheus.HistogramVec // model, stream
	ttft     *prometheus.HistogramVec // model, stream
	tokens   *prometheus.CounterVec   // model, kind
	cost     *prometheus.CounterVec   // model
	commit   prometheus.Histogram
	batch    prometheus.Histogram

	mu     sync.Mutex
	models map[string]struct{} // the model label's values, at most maxModels

	commits *commits
	watched atomic.Pointer[watched]
}

// New returns Metrics with nothing counted yet. Pass Hook to the store, and
// call Watch once the store and the search index are open.
func New(opts Options) *Metrics {
	if opts.MaxModels <= 0 {
		opts.MaxModels = DefaultMaxModels
	}
	m := &Metrics{
		reg:       prometheus.NewRegistry(),
		maxModels: opts.MaxModels,
		models:    make(map[string]struct{}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orp_requests_total",
			Help: "Recorded exchanges, by model (served, else requested), status class, stream and outcome.",
		}, []string{"model", "status", "stream", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orp_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its exchange, of the recorded exchanges.",
			Buckets: latencyBuckets,
		}, []string{"model", "stream"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "orp_time_to_first_token_seconds",
			Help:    "Time from a request's arrival to the first token of its answer, of the recorded exchanges that had one.",
			Buckets: latencyBuckets,
		}, []string{"model", "stream"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orp_tokens_total",
			Help: "Tokens the upstream reported, by model and kind: prompt and completion; cached (part of prompt) and reasoning (part of completion).",
		}, []string{"model", "kind"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "orp_cost_usd_total",
			Help: "Cost the upstream reported (usage.cost, in USD credits), by model.",
		}, []string{"model"}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "orp_writer_commit_seconds",
			Help:    "Time the writer took to write a batch: its transaction from BEGIN through the rows and rollups to the end of COMMIT.",
			Buckets: commitBuckets,
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "orp_writer_batch_records",
			Help:    "Records committed per transaction.",
			Buckets: batchBuckets,
		}),
		commits: newCommits(time.Now()),
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration, m.ttft, m.tokens, m.cost, m.commit, m.batch,
		pipeline{m},
	)
	return m
}

// Hook returns the store hook that counts each committed batch.
func (m *Metrics) Hook() store.Hook {
	return store.Hook{AfterCommit: m.committed}
}

// ObserveCommit times one committed batch; it is the store's
// Options.OnCommit.
func (m *Metrics) ObserveCommit(took time.Duration, _ int) {
	m.commit.Observe(took.Seconds())
}

// Watch makes each scrape read the pipeline's state from p and the search
// index's lag from ix; either may be nil. Call it before serving.
func (m *Metrics) Watch(p Pipeline, ix Index) {
	m.watched.Store(&watched{p: p, ix: ix})
}

// Handler serves the metrics. With a non-empty token it answers only
// requests that carry `Authorization: Bearer <token>` (METRICS_TOKEN).
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
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

// committed counts a committed batch, on the writer goroutine.
func (m *Metrics) committed(batch []*capture.Record) {
	m.batch.Observe(float64(len(batch)))
	for _, rec := range batch {
		m.count(rec)
	}
	m.Followed(batch)
}

// Followed notes the commit sequence of a batch committed to the database,
// here or by another process on a shared one (a dashboard's follower hands
// it every batch), so that the search index's lag is measured against the
// whole database. It counts no exchange: each process counts its own.
func (m *Metrics) Followed(batch []*capture.Record) {
	var maxSeq, minSeq int64
	for _, rec := range batch {
		if rec.Seq > maxSeq {
			maxSeq = rec.Seq
		}
		if minSeq == 0 || rec.Seq < minSeq {
			minSeq = rec.Seq
		}
	}
	if maxSeq > 0 {
		m.commits.add(minSeq, maxSeq, time.Now())
		if w := m.watched.Load(); w != nil && w.ix != nil {
			m.commits.indexed(w.ix.Watermark())
		}
	}
}

// count adds one recorded exchange to the exchange metrics.
func (m *Metrics) count(rec *capture.Record) {
	model := m.modelLabel(rec)
	stream := strconv.FormatBool(rec.Stream)
	m.requests.WithLabelValues(model, statusClass(rec.Status), stream, outcomeLabel(rec.Outcome)).Inc()
	m.duration.WithLabelValues(model, stream).Observe(rec.Duration.Seconds())
	if rec.TTFT > 0 {
		m.ttft.WithLabelValues(model, stream).Observe(rec.TTFT.Seconds())
	}
	if rec.HasUsage {
		m.tokens.WithLabelValues(model, "prompt").Add(float64(max(rec.PromptTokens, 0)))
		m.tokens.WithLabelValues(model, "completion").Add(float64(max(rec.CompletionTokens, 0)))
		m.tokens.WithLabelValues(model, "cached").Add(float64(max(rec.CachedTokens, 0)))
		m.tokens.WithLabelValues(model, "reasoning").Add(float64(max(rec.ReasoningTokens, 0)))
		m.cost.WithLabelValues(model).Add(max(rec.Cost, 0))
	}
}

// modelLabel returns the model label of rec: the model that served it,
// else the one requested, if it looks like a model id and is among the
// first maxModels seen.
func (m *Metrics) modelLabel(rec *capture.Record) string {
	name := rec.Model
	if name == "" {
		name = rec.ModelRequested
	}
	if name == "" {
		return ModelNone
	}
	if !modelID(name) {
		return ModelOther
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.models[name]; ok {
		return name
	}
	if len(m.models) >= m.maxModels {
		return ModelOther
	}
	m.models[name] = struct{}{}
	return name
}

// modelID reports whether s has the shape of a model id, such as
// "openai/gpt-4o-mini" or "meta-llama/llama-3.1-8b-instruct:free": short,
// of letters, digits and -._/:@+ only, with no run of letters and digits
// long enough to be a key or a hash, and not starting as keys do ("sk-").
// The requested model is whatever the client sent; this keeps a key pasted
// into the model field out of the labels.
func modelID(s string) bool {
	if len(s) > maxModelLen || strings.HasPrefix(strings.ToLower(s), "sk-") {
		return false
	}
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			run++
			if run > maxModelRun {
				return false
			}
		case strings.IndexByte("-._/:@+", c) >= 0:
			run = 0
		default:
			return false
		}
	}
	return true
}

// statusClass returns "2xx" and the like for the status sent to the client,
// or "none" when none was sent.
func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "none"
	}
	return strconv.Itoa(status/100) + "xx"
}

// outcomeLabel returns the outcome as a label: one of capture's outcomes,
// or "unknown" for a record whose analysis failed.
func outcomeLabel(o capture.Outcome) string {
	switch o {
	case capture.OutcomeOK, capture.OutcomeUpstreamError, capture.OutcomeStreamError,
		capture.OutcomeCancelled, capture.OutcomeTimeout, capture.OutcomeProxyError:
		return string(o)
	}
	return "unknown"
}
