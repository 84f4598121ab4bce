package storetest

import (
	"math"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Exchange is one record of the fixed set whose sums the rollup tests
// know.
type Exchange struct {
	Key, Model, Provider, Method string
	Status                       int
	Outcome                      capture.Outcome
	Stream                       bool
	At                           time.Duration // after the base time given to RecordOf
	Dur, TTFT                    time.Duration
	Prompt, Completion           int64
	Cached, Reasoning            int64
	Cost                         float64
}

// RollupBase is a fixed minute in the past, well within the minute
// rollups' 48 hours whenever the tests run, and not at an hour boundary.
func RollupBase() time.Time {
	return time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour).Add(17 * time.Minute)
}

// FixedExchanges are seven exchanges: alice has four (two models, one
// error), bob two (one 500), and one came without a key.
var FixedExchanges = []Exchange{
	{Key: "alice", Model: "openai/gpt-4o", Provider: "OpenAI", Method: "POST", Status: 200, Outcome: capture.OutcomeOK, Stream: true,
		At: 10 * time.Second, Dur: 2 * time.Second, TTFT: 500 * time.Millisecond, Prompt: 100, Completion: 50, Cached: 20, Reasoning: 5, Cost: 0.01},
	{Key: "alice", Model: "openai/gpt-4o", Provider: "Azure", Method: "POST", Status: 200, Outcome: capture.OutcomeOK, Stream: true,
		At: 70 * time.Second, Dur: 4 * time.Second, TTFT: 1 * time.Second, Prompt: 200, Completion: 150, Cost: 0.03},
	{Key: "alice", Model: "anthropic/claude", Provider: "Anthropic", Method: "POST", Status: 429, Outcome: capture.OutcomeUpstreamError,
		At: 2 * time.Hour, Dur: 100 * time.Millisecond},
	{Key: "alice", Model: "anthropic/claude", Provider: "Anthropic", Method: "POST", Status: 200, Outcome: capture.OutcomeOK,
		At: 2*time.Hour + 30*time.Second, Dur: 1 * time.Second, Prompt: 10, Completion: 10, Cost: 0.002},
	{Key: "bob", Model: "openai/gpt-4o", Provider: "OpenAI", Method: "POST", Status: 500, Outcome: capture.OutcomeUpstreamError,
		At: 30 * time.Second, Dur: 300 * time.Millisecond},
	{Key: "bob", Model: "meta/llama", Provider: "Together", Method: "GET", Status: 200, Outcome: capture.OutcomeOK,
		At: 90 * time.Minute, Dur: 200 * time.Millisecond, Prompt: 1, Completion: 1, Cost: 0.5},
	{Key: "", Model: "", Method: "POST", Status: 0, Outcome: capture.OutcomeProxyError, At: 45 * time.Second, Dur: 50 * time.Millisecond},
}

// RecordOf returns the record of x, started x.At after base.
func RecordOf(tb testing.TB, x Exchange, base time.Time) *capture.Record {
	tb.Helper()
	rec := NewRecord(tb, x.Key)
	rec.KeyMask = "mask-" + x.Key
	rec.Start = base.Add(x.At)
	rec.Method, rec.Status, rec.Outcome, rec.Stream = x.Method, x.Status, x.Outcome, x.Stream
	rec.Model, rec.ModelRequested, rec.Provider = x.Model, x.Model, x.Provider
	rec.Duration, rec.TTFT = x.Dur, x.TTFT
	rec.PromptTokens, rec.CompletionTokens, rec.TotalTokens = x.Prompt, x.Completion, x.Prompt+x.Completion
	rec.CachedTokens, rec.ReasoningTokens, rec.Cost = x.Cached, x.Reasoning, x.Cost
	if x.Outcome != capture.OutcomeOK {
		rec.Error = "failed"
	}
	return rec
}

// Near reports whether x equals y but for floating-point rounding.
func Near(x, y float64) bool { return math.Abs(x-y) <= 1e-9*max(1, math.Abs(y)) }

// WithinHist reports whether a percentile read from a histogram is within
// the histograms' stated error (store.HistRelativeError) of the exact one.
func WithinHist(got, exact float64) bool {
	return math.Abs(got-exact) <= store.HistRelativeError*exact+1e-9
}

// StatsEqual compares Stats, allowing rounding in the float fields and the
// histograms' error in the percentiles.
func StatsEqual(a, b store.Stats) bool {
	floats := Near(a.SuccessRate, b.SuccessRate) && Near(a.ErrorRate, b.ErrorRate) && Near(a.AvgDurationMs, b.AvgDurationMs) &&
		Near(a.AvgTTFTMs, b.AvgTTFTMs) && Near(a.TotalCost, b.TotalCost) && Near(a.TokensPerSecond, b.TokensPerSecond) &&
		WithinHist(a.P50DurationMs, b.P50DurationMs) && WithinHist(a.P95DurationMs, b.P95DurationMs) &&
		WithinHist(a.P99DurationMs, b.P99DurationMs) && WithinHist(a.P50TTFTMs, b.P50TTFTMs) && WithinHist(a.P95TTFTMs, b.P95TTFTMs)
	for _, s := range []*store.Stats{&a, &b} {
		s.SuccessRate, s.ErrorRate, s.AvgDurationMs, s.AvgTTFTMs, s.TotalCost, s.TokensPerSecond = 0, 0, 0, 0, 0, 0
		s.P50DurationMs, s.P95DurationMs, s.P99DurationMs, s.P50TTFTMs, s.P95TTFTMs = 0, 0, 0, 0, 0
	}
	return floats && a == b
}

// NewSession returns a session of alice's key, created at now, that lasts
// a day.
func NewSession(idHash string, now time.Time) store.Session {
	return store.Session{
		IDHash:  idHash,
		KeyHash: "alice",
		KeyMask: "sk-or-v1…a1b2",
		Created: now,
		Expires: now.Add(24 * time.Hour),
	}
}

// SessionsEqual compares sessions, their times to the microsecond the
// stores keep.
func SessionsEqual(a, b store.Session) bool {
	return a.IDHash == b.IDHash && a.KeyHash == b.KeyHash && a.KeyMask == b.KeyMask && a.Admin == b.Admin &&
		a.Created.Equal(b.Created.Truncate(time.Microsecond)) && a.Expires.Equal(b.Expires.Truncate(time.Microsecond))
}
