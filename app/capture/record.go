// Package capture holds the record of one proxied exchange: the raw parts
// collected on the hot path (capped body copies, timing marks) and the
// analysis that turns them into searchable fields (reassembled stream text,
// usage, cost, time to first token) once the exchange has finished.
//
// The package imports nothing of this module, so every other package can
// depend on it.
package capture

import (
	"net/http"
	"time"
)

// Outcome classifies how an exchange ended.
type Outcome string

// The outcomes an exchange can have.
const (
	// OutcomeOK is a 1xx–3xx answer with no error event in its stream.
	OutcomeOK Outcome = "ok"
	// OutcomeUpstreamError is a 4xx/5xx status from the upstream, or a
	// non-streamed answer whose body is an error object.
	OutcomeUpstreamError Outcome = "upstream_error"
	// OutcomeStreamError is an HTTP 200 stream that carried an SSE error event.
	OutcomeStreamError Outcome = "stream_error"
	// OutcomeCancelled means the client went away before the exchange ended.
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeTimeout means REQUEST_TIMEOUT elapsed before the exchange ended.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeProxyError means the proxy could not reach the upstream at all.
	OutcomeProxyError Outcome = "proxy_error"
)

// Record is one exchange. The proxy fills the raw fields while the exchange
// runs; Analyze fills the derived fields afterwards, off the hot path.
type Record struct {
	// Raw fields, set by the proxy.

	ID         string    // time-sortable UUIDv7
	Start      time.Time // when the request arrived
	Method     string
	URL        string      // the client's request URI, e.g. /v1/chat/completions?x=1
	Path       string      // the upstream path relative to OPENAI_API_BASE, e.g. /chat/completions
	Query      string      // raw query string without '?'
	ReqHeader  http.Header // as the client sent it; Analyze redacts it
	ReqBody    Body
	ClientAddr string // the client's address (host:port); never sent upstream
	APIKey     string // the key forwarded upstream; Analyze hashes, masks and clears it
	Status     int    // status sent to the client; 0 when none was sent
	RespHeader http.Header
	RespBody   Body
	Marks      Marks         // when each piece of the response body passed through
	TTFB       time.Duration // time to the first response byte; 0 when none
	Duration   time.Duration // time until the exchange ended
	Attempts   int           // upstream attempts made, 1 when no retry happened
	Cancelled  bool          // the client went away before the end
	TimedOut   bool          // REQUEST_TIMEOUT elapsed
	ProxyErr   string        // the proxy's own error (unreachable, timeout), if any

	// Seq is the record's commit sequence, set by the store when it
	// commits the record: commit order, unlike ID's start order.
	Seq int64

	// Derived fields, set by Analyze.

	Analyzed         bool
	KeyHash          string // hex SHA-256 of APIKey, "" when none; the live tracker may set it first
	KeyMask          string // display form such as "sk-or-v1…a1b2"
	ReqHeaderJSON    string // redacted request headers as a JSON object
	RespHeaderJSON   string // redacted response headers as a JSON object
	ReqBodyStored    []byte // the request body as stored (capped)
	RespBodyStored   []byte // the response body as stored: decoded, capped
	RespTruncated    bool   // RespBodyStored is shorter than the body the client got
	ReqTruncated     bool   // ReqBodyStored is shorter than the body the upstream got
	Stream           bool   // the answer was text/event-stream
	ModelRequested   string // "model" of the request body
	Model            string // "model" the upstream says served the request
	Provider         string // "provider" the upstream says served it behind OpenRouter, e.g. "OpenAI"; "" when not said
	Content          string // assistant output; reassembled for streams
	Reasoning        string // reasoning text; reassembled for streams
	ToolCallsJSON    string // tool calls with joined arguments as a JSON array; "" when none
	FinishReason     string
	GenerationID     string
	PromptTokens     int64
	CompletionTokens int64
	TotalTokens      int64
	CachedTokens     int64
	ReasoningTokens  int64
	Cost             float64 // usage.cost in credits (USD)
	UpstreamCost     float64 // usage.cost_details.upstream_inference_cost
	HasUsage         bool    // the upstream reported usage
	TTFT             time.Duration
	Outcome          Outcome
	Error            string // human-readable error text; "" on success
}

// Mark notes that the response body had reached Offset bytes At a time after
// Start. The proxy appends one per read from the upstream.
type Mark struct {
	Offset int64
	At     time.Duration
}

// maxMarks bounds the timing marks kept per exchange: the first token
// arrives early, so later marks are not needed and memory stays bounded.
const maxMarks = 4096

// Marks is a bounded list of Mark.
type Marks []Mark

// Add appends a mark unless the list is full.
func (m *Marks) Add(offset int64, at time.Duration) {
	if len(*m) < maxMarks {
		*m = append(*m, Mark{offset, at})
	}
}

// At returns when the body had reached offset bytes, or false if unknown.
func (m Marks) At(offset int64) (time.Duration, bool) {
	for _, k := range m {
		if k.Offset >= offset {
			return k.At, true
		}
	}
	return 0, false
}
