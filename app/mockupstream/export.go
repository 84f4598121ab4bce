package mockupstream

import "strconv"

// The appenders below let code outside the mock write OpenRouter's wire
// shapes the way the mock does, without a server: app/dataset builds a
// million recorded exchanges with them, and must not spend its time in
// encoding/json either.

// AppendJSONString appends s as a quoted JSON string, escaped as
// encoding/json escapes it; invalid UTF-8 becomes U+FFFD.
func AppendJSONString(b []byte, s string) []byte { return appendString(b, s) }

// AppendJSONStringBody appends s escaped like AppendJSONString, without the
// quotes, so that one JSON string can be built from several parts.
func AppendJSONStringBody(b []byte, s string) []byte { return appendStringBody(b, s) }

// Usage is one generation's accounting as OpenRouter reports it, with a
// price of the caller's choosing (the mock charges every model alike).
type Usage struct {
	Prompt     int // prompt tokens, cached ones included
	Completion int // completion tokens, reasoning ones included
	Cached     int // prompt tokens read from the provider's cache
	Reasoning  int // completion tokens spent reasoning
	// CostNano is the cost in nano-dollars (1e-9 credits). An integer keeps
	// the decimal written exact: 10500 is written 0.0000105.
	CostNano int64
}

// AppendUsage appends u as OpenRouter's usage object, in the shape of the
// mock's own answers: token counts, their details, cost and cost_details.
func AppendUsage(b []byte, u Usage) []byte {
	cost := float64(u.CostNano) / 1e9
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.Prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.Completion), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.Prompt+u.Completion), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, int64(u.Cached), 10)
	b = append(b, `},"completion_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, int64(u.Reasoning), 10)
	b = append(b, `},"cost":`...)
	b = appendFloat(b, cost)
	b = append(b, `,"is_byok":false,"cost_details":{"upstream_inference_cost":`...)
	b = appendFloat(b, cost)
	return append(b, `}}`...)
}
