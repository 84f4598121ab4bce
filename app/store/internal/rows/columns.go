package rows

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// Column maps one column of the requests table to a Record field. Columns
// is the single source of the insert statements, the select lists and the
// scan targets, so they cannot drift apart.
type Column struct {
	Name  string
	sel   string // select expression; NULLs of imported rows become zero values
	heavy bool   // left out of List
	// Arg returns the value r stores in the column.
	Arg  func(r *capture.Record) any
	dest func(r *capture.Record, t *scanTemp) any
}

// scanTemp holds the columns whose stored form differs from the field's.
type scanTemp struct {
	timestamp                  string
	durationMS, ttfbMS, ttftMS float64
}

// Columns are the requests table's columns, in the order of its insert
// statements. FALSE is a boolean in PostgreSQL and 0 in SQLite, which
// stores booleans as integers.
var Columns = []Column{
	{Name: "id", Arg: func(r *capture.Record) any { return r.ID }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ID }},
	{Name: "timestamp", Arg: func(r *capture.Record) any { return FormatTime(r.Start) }, dest: func(_ *capture.Record, t *scanTemp) any { return &t.timestamp }},
	{Name: "method", Arg: func(r *capture.Record) any { return r.Method }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Method }},
	{Name: "url", Arg: func(r *capture.Record) any { return r.URL }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.URL }},
	{Name: "path", Arg: func(r *capture.Record) any { return r.Path }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Path }},
	{Name: "query", Arg: func(r *capture.Record) any { return r.Query }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Query }},
	{Name: "headers", heavy: true, Arg: func(r *capture.Record) any { return r.ReqHeaderJSON }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ReqHeaderJSON }},
	{Name: "body", heavy: true, Arg: func(r *capture.Record) any { return r.ReqBodyStored }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ReqBodyStored }},
	{Name: "body_size", sel: "COALESCE(body_size, 0)", Arg: func(r *capture.Record) any { return r.ReqBody.Size }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ReqBody.Size }},
	{Name: "body_truncated", sel: "COALESCE(body_truncated, FALSE)", Arg: func(r *capture.Record) any { return r.ReqTruncated }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ReqTruncated }},
	{Name: "key_hash", Arg: func(r *capture.Record) any { return r.KeyHash }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.KeyHash }},
	{Name: "key_mask", Arg: func(r *capture.Record) any { return r.KeyMask }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.KeyMask }},
	{Name: "client_addr", sel: "COALESCE(client_addr, '')", Arg: func(r *capture.Record) any { return r.ClientAddr }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ClientAddr }},
	{Name: "response_status", sel: "COALESCE(response_status, 0)", Arg: func(r *capture.Record) any { return NullInt(r.Status) }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Status }},
	{Name: "response_headers", sel: "COALESCE(response_headers, '')", heavy: true, Arg: func(r *capture.Record) any { return r.RespHeaderJSON }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.RespHeaderJSON }},
	{Name: "response_body", heavy: true, Arg: func(r *capture.Record) any { return r.RespBodyStored }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.RespBodyStored }},
	{Name: "response_size", sel: "COALESCE(response_size, 0)", Arg: func(r *capture.Record) any { return r.RespBody.Size }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.RespBody.Size }},
	{Name: "response_truncated", sel: "COALESCE(response_truncated, FALSE)", Arg: func(r *capture.Record) any { return r.RespTruncated }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.RespTruncated }},
	{Name: "is_stream", sel: "COALESCE(is_stream, FALSE)", Arg: func(r *capture.Record) any { return r.Stream }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Stream }},
	{Name: "model_requested", sel: "COALESCE(model_requested, '')", Arg: func(r *capture.Record) any { return r.ModelRequested }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ModelRequested }},
	{Name: "model", sel: "COALESCE(model, '')", Arg: func(r *capture.Record) any { return r.Model }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Model }},
	{Name: "content", sel: "COALESCE(content, '')", Arg: func(r *capture.Record) any { return r.Content }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Content }},
	{Name: "reasoning", sel: "COALESCE(reasoning, '')", Arg: func(r *capture.Record) any { return r.Reasoning }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Reasoning }},
	{Name: "tool_calls", sel: "COALESCE(tool_calls, '')", Arg: func(r *capture.Record) any { return r.ToolCallsJSON }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ToolCallsJSON }},
	{Name: "finish_reason", sel: "COALESCE(finish_reason, '')", Arg: func(r *capture.Record) any { return r.FinishReason }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.FinishReason }},
	{Name: "generation_id", sel: "COALESCE(generation_id, '')", Arg: func(r *capture.Record) any { return r.GenerationID }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.GenerationID }},
	{Name: "prompt_tokens", sel: "COALESCE(prompt_tokens, 0)", Arg: func(r *capture.Record) any { return r.PromptTokens }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.PromptTokens }},
	{Name: "completion_tokens", sel: "COALESCE(completion_tokens, 0)", Arg: func(r *capture.Record) any { return r.CompletionTokens }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.CompletionTokens }},
	{Name: "total_tokens", sel: "COALESCE(total_tokens, 0)", Arg: func(r *capture.Record) any { return r.TotalTokens }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.TotalTokens }},
	{Name: "cached_tokens", sel: "COALESCE(cached_tokens, 0)", Arg: func(r *capture.Record) any { return r.CachedTokens }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.CachedTokens }},
	{Name: "reasoning_tokens", sel: "COALESCE(reasoning_tokens, 0)", Arg: func(r *capture.Record) any { return r.ReasoningTokens }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ReasoningTokens }},
	{Name: "cost", sel: "COALESCE(cost, 0.0)", Arg: func(r *capture.Record) any { return r.Cost }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Cost }},
	{Name: "upstream_cost", sel: "COALESCE(upstream_cost, 0.0)", Arg: func(r *capture.Record) any { return r.UpstreamCost }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.UpstreamCost }},
	{Name: "has_usage", sel: "COALESCE(has_usage, FALSE)", Arg: func(r *capture.Record) any { return r.HasUsage }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.HasUsage }},
	{Name: "duration_ms", sel: "COALESCE(duration_ms, 0.0)", Arg: func(r *capture.Record) any { return ToMS(r.Duration) }, dest: func(_ *capture.Record, t *scanTemp) any { return &t.durationMS }},
	{Name: "ttfb_ms", sel: "COALESCE(ttfb_ms, 0.0)", Arg: func(r *capture.Record) any { return NullMS(r.TTFB) }, dest: func(_ *capture.Record, t *scanTemp) any { return &t.ttfbMS }},
	{Name: "ttft_ms", sel: "COALESCE(ttft_ms, 0.0)", Arg: func(r *capture.Record) any { return NullMS(r.TTFT) }, dest: func(_ *capture.Record, t *scanTemp) any { return &t.ttftMS }},
	{Name: "attempts", sel: "COALESCE(attempts, 0)", Arg: func(r *capture.Record) any { return r.Attempts }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Attempts }},
	{Name: "outcome", Arg: func(r *capture.Record) any { return string(r.Outcome) }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Outcome }},
	{Name: "error", sel: "COALESCE(error, '')", Arg: func(r *capture.Record) any { return NullString(r.Error) }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Error }},
	{Name: "provider", sel: "COALESCE(provider, '')", Arg: func(r *capture.Record) any { return r.Provider }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Provider }},
}

// Names returns the columns' names, in order.
func Names() []string {
	names := make([]string, len(Columns))
	for i, c := range Columns {
		names[i] = c.Name
	}
	return names
}

// SelectList returns the select expressions, without the heavy columns
// unless full is set.
func SelectList(full bool) string {
	var exprs []string
	for _, c := range Columns {
		if c.heavy && !full {
			continue
		}
		exprs = append(exprs, cmp.Or(c.sel, c.Name))
	}
	return strings.Join(exprs, ", ")
}

// ScanRecord reads one row selected with SelectList(full).
func ScanRecord(row Scanner, full bool) (*capture.Record, error) {
	var (
		r     capture.Record
		t     scanTemp
		dests = make([]any, 0, len(Columns))
	)
	for _, c := range Columns {
		if c.heavy && !full {
			continue
		}
		dests = append(dests, c.dest(&r, &t))
	}
	if err := row.Scan(dests...); err != nil {
		return nil, err
	}
	start, err := ParseTime(t.timestamp)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.ID, err)
	}
	r.Start = start
	r.Duration = FromMS(t.durationMS)
	r.TTFB = FromMS(t.ttfbMS)
	r.TTFT = FromMS(t.ttftMS)
	r.Analyzed = true
	return &r, nil
}

// StatSelect selects what the rollups are made of from requests, for
// ScanStat: the light columns only.
const StatSelect = `timestamp, key_hash, key_mask, COALESCE(model_requested, ''), COALESCE(model, ''),
	COALESCE(provider, ''), method, COALESCE(response_status, 0), outcome, COALESCE(is_stream, FALSE),
	COALESCE(duration_ms, 0.0), COALESCE(ttfb_ms, 0.0), COALESCE(ttft_ms, 0.0),
	COALESCE(prompt_tokens, 0), COALESCE(completion_tokens, 0), COALESCE(total_tokens, 0),
	COALESCE(cached_tokens, 0), COALESCE(reasoning_tokens, 0), COALESCE(cost, 0.0)`

// ScanStat reads a row selected with StatSelect into a record holding
// only those fields, and returns its stored timestamp too.
func ScanStat(row Scanner) (ts string, r *capture.Record, err error) {
	r = &capture.Record{}
	var durMS, ttfbMS, ttftMS float64
	var outcome string
	if err := row.Scan(&ts, &r.KeyHash, &r.KeyMask, &r.ModelRequested, &r.Model, &r.Provider,
		&r.Method, &r.Status, &outcome, &r.Stream, &durMS, &ttfbMS, &ttftMS,
		&r.PromptTokens, &r.CompletionTokens, &r.TotalTokens, &r.CachedTokens, &r.ReasoningTokens, &r.Cost); err != nil {
		return "", nil, err
	}
	if r.Start, err = ParseTime(ts); err != nil {
		return "", nil, err
	}
	r.Outcome = capture.Outcome(outcome)
	r.Duration, r.TTFB, r.TTFT = FromMS(durMS), FromMS(ttfbMS), FromMS(ttftMS)
	return ts, r, nil
}
