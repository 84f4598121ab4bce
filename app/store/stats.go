package store

import "time"

// Summary is what the statistics say about a set of records.
//
// The percentiles are nearest-rank percentiles read from log-scale
// histograms, each within HistRelativeError (about 2.4%) of the exact one.
type Summary struct {
	Requests int64
	Errors   int64 // outcome not ok
	// ErrorRate is Errors as a percentage (0–100) of Requests.
	ErrorRate float64

	AvgDurationMs, P50DurationMs, P95DurationMs, P99DurationMs float64

	// The time to first token of the streams that have one.
	AvgTTFTMs, P50TTFTMs, P95TTFTMs float64

	// TokensPerSecond is the generation speed of the streams that have a
	// time to first token and report completion tokens: their completion
	// tokens over their time from the first token to the end.
	TokensPerSecond float64

	PromptTokens, CompletionTokens, TotalTokens, CachedTokens, ReasoningTokens int64

	// Cost is the sum of the reported costs in credits (USD).
	Cost float64
}

// Dimension is what Breakdown groups records by.
type Dimension string

// The dimensions of Breakdown.
const (
	// ByModel groups by the model that served each request, or the one
	// requested when the upstream named none, as Models lists them.
	ByModel Dimension = "model"
	// ByProvider groups by the provider behind OpenRouter; "" for records
	// whose answer named none (and records stored before providers were).
	ByProvider Dimension = "provider"
	// ByStatus groups by the exact response status, "0" when none was
	// sent.
	ByStatus Dimension = "status"
	// ByStatusClass groups by the status class: "1xx" … "5xx", the
	// values of Filter.Status where there is one, and "none" when no
	// status was sent.
	ByStatusClass Dimension = "status_class"
	// ByKey groups by API key hash. A viewer that is not an admin gets
	// their own key's row only: visibility holds here as everywhere.
	ByKey Dimension = "key"
)

// BreakdownRow is one group of a Breakdown.
type BreakdownRow struct {
	// Value is the group's model, provider, status, status class or key
	// hash, as the Dimension says; the value to filter the table by.
	Value string
	// Label is how to show it: the key's mask for ByKey (a key hash is
	// never shown), Value otherwise.
	Label string
	Summary
}

// Point is one step of a Series.
type Point struct {
	// Start is the start of the step: a multiple of the step since the
	// Unix epoch, in UTC.
	Start time.Time
	// Requests, Errors, the latency percentiles (histogram-based, within
	// HistRelativeError), Cost and tokens of the step's records.
	Requests, Errors             int64
	P50DurationMs, P95DurationMs float64
	Cost                         float64
	PromptTokens                 int64
	CompletionTokens             int64
	// Models splits the step's requests, cost and tokens by model (as
	// ByModel groups them), most costly first.
	Models []ModelUsage
}

// ModelUsage is one model's share of a Point.
type ModelUsage struct {
	Model            string
	Requests         int64
	Cost             float64
	PromptTokens     int64
	CompletionTokens int64
}

// MaxSeriesPoints bounds the points one Series returns.
const MaxSeriesPoints = 5000

// Coverage says what period the rollups cover, and at what grain.
type Coverage struct {
	// From is the start of the oldest day with records, zero when there
	// are none; the rollups hold every record since, pruned ones included.
	From time.Time
	// MinuteFrom and HourFrom are when the minute and hour rollups begin:
	// older periods are kept at a coarser grain only. Zero means from the
	// start.
	MinuteFrom, HourFrom time.Time
}
