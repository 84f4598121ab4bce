package web

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// apiRequest is one record in GET /api/requests. The names follow the
// original system's columns (id, timestamp, method, url, response_status,
// duration_ms, error) so existing scripts keep working.
type apiRequest struct {
	ID             string  `json:"id"`
	Timestamp      string  `json:"timestamp"`
	Method         string  `json:"method"`
	URL            string  `json:"url"`
	Path           string  `json:"path"`
	ResponseStatus int     `json:"response_status"`
	DurationMs     float64 `json:"duration_ms"`
	TTFBMs         float64 `json:"ttfb_ms"`
	TTFTMs         float64 `json:"ttft_ms"`
	Error          string  `json:"error"`
	Outcome        string  `json:"outcome"`
	Stream         bool    `json:"is_stream"`
	ModelRequested string  `json:"model_requested"`
	Model          string  `json:"model"`
	KeyMask        string  `json:"key_mask"`
	Usage          usage   `json:"usage"`
	Cost           float64 `json:"cost"`
	FinishReason   string  `json:"finish_reason"`
	GenerationID   string  `json:"generation_id"`
	Attempts       int     `json:"attempts"`
	// Preview, while searching, is the start of the last user message and
	// of the reply, around the first hit.
	Preview *apiPreview `json:"preview,omitempty"`
}

// apiPreview is a record's preview in a search: each text with its hits as
// [start, end) byte offsets into it.
type apiPreview struct {
	Request      string   `json:"request"`
	RequestHits  [][2]int `json:"request_hits"`
	Response     string   `json:"response"`
	ResponseHits [][2]int `json:"response_hits"`
}

func toAPIPreview(p preview) *apiPreview {
	hits := func(sn snippet) [][2]int {
		out := make([][2]int, len(sn.hits))
		for i, h := range sn.hits {
			out[i] = [2]int{h.Start, h.End}
		}
		return out
	}
	return &apiPreview{Request: p.request.text, RequestHits: hits(p.request), Response: p.response.text, ResponseHits: hits(p.response)}
}

type usage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
	CachedTokens     int64 `json:"cached_tokens"`
	ReasoningTokens  int64 `json:"reasoning_tokens"`
}

// apiDetail is GET /api/request/{id}: everything stored.
type apiDetail struct {
	apiRequest
	Query             string          `json:"query"`
	ClientAddr        string          `json:"client_addr"`
	Headers           json.RawMessage `json:"headers"`
	Body              string          `json:"body"`
	BodyEncoding      string          `json:"body_encoding"` // "utf-8" or "base64"
	BodySize          int64           `json:"body_size"`
	BodyTruncated     bool            `json:"body_truncated"`
	ResponseHeaders   json.RawMessage `json:"response_headers"`
	ResponseBody      string          `json:"response_body"`
	ResponseEncoding  string          `json:"response_body_encoding"`
	ResponseSize      int64           `json:"response_size"`
	ResponseTruncated bool            `json:"response_truncated"`
	Content           string          `json:"content"`
	Reasoning         string          `json:"reasoning"`
	ToolCalls         json.RawMessage `json:"tool_calls"`
	UpstreamCost      float64         `json:"upstream_cost"`
	HasUsage          bool            `json:"has_usage"`
}

func toAPIRequest(rec *capture.Record, admin bool) apiRequest {
	a := apiRequest{
		ID: rec.ID, Timestamp: rec.Start.UTC().Format(time.RFC3339Nano), Method: rec.Method, URL: rec.URL, Path: rec.Path,
		ResponseStatus: rec.Status, DurationMs: ms(rec.Duration), TTFBMs: ms(rec.TTFB), TTFTMs: ms(rec.TTFT),
		Error: rec.Error, Outcome: string(rec.Outcome), Stream: rec.Stream, ModelRequested: rec.ModelRequested, Model: rec.Model,
		Usage: usage{rec.PromptTokens, rec.CompletionTokens, rec.TotalTokens, rec.CachedTokens, rec.ReasoningTokens},
		Cost:  rec.Cost, FinishReason: rec.FinishReason, GenerationID: rec.GenerationID, Attempts: rec.Attempts,
	}
	if admin {
		a.KeyMask = rec.KeyMask
	}
	return a
}

// bodyField returns a body as a JSON string: as text when it is UTF-8,
// else base64, so binary bodies survive the round trip.
func bodyField(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), "utf-8"
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

func rawOr(js, def string) json.RawMessage {
	if js == "" || !json.Valid([]byte(js)) {
		return json.RawMessage(def)
	}
	return json.RawMessage(js)
}

func (s *Server) handleAPIRequests(w http.ResponseWriter, r *http.Request) {
	id := identity(r)
	q, err := s.parseQuery(r.URL.Query(), id)
	if err != nil {
		s.fail(w, r, err, true)
		return
	}
	f, err := s.find(r.Context(), q)
	if err != nil {
		s.fail(w, r, err, true)
		return
	}
	var previews map[string]preview
	if q.searching() && len(f.recs) > 0 {
		if previews, err = s.previews(r.Context(), q, f.recs); err != nil {
			s.fail(w, r, err, true)
			return
		}
	}
	list := make([]apiRequest, 0, len(f.recs))
	for _, rec := range f.recs {
		a := toAPIRequest(rec, id.Admin)
		if p, ok := previews[rec.ID]; ok {
			a.Preview = toAPIPreview(p)
		}
		list = append(list, a)
	}
	out := map[string]any{"requests": list, "total_count": f.total, "page": q.page, "page_size": q.pageSize}
	if q.searching() {
		out["search_backend"] = f.backend()
		out["total_is_estimate"] = f.res.Approx
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAPIRequest(w http.ResponseWriter, r *http.Request) {
	id := identity(r)
	rec, err := s.Store.Get(r.Context(), r.PathValue("id"), id.Viewer())
	if err != nil {
		s.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, toAPIDetail(rec, id.Admin))
}

// toAPIDetail is everything stored of rec, as GET /api/request/{id} and
// the JSONL export show it.
func toAPIDetail(rec *capture.Record, admin bool) apiDetail {
	d := apiDetail{
		apiRequest: toAPIRequest(rec, admin), Query: rec.Query, ClientAddr: rec.ClientAddr,
		Headers: rawOr(rec.ReqHeaderJSON, "{}"), BodySize: rec.ReqBody.Size, BodyTruncated: rec.ReqTruncated,
		ResponseHeaders: rawOr(rec.RespHeaderJSON, "{}"), ResponseSize: rec.RespBody.Size, ResponseTruncated: rec.RespTruncated,
		Content: rec.Content, Reasoning: rec.Reasoning, ToolCalls: rawOr(rec.ToolCallsJSON, "[]"),
		UpstreamCost: rec.UpstreamCost, HasUsage: rec.HasUsage,
	}
	d.KeyMask = rec.KeyMask // the caller's own key, or an admin
	d.Body, d.BodyEncoding = bodyField(rec.ReqBodyStored)
	d.ResponseBody, d.ResponseEncoding = bodyField(rec.RespBodyStored)
	return d
}

// handleAPIStats answers the original system's four fields plus more.
// "Recent" means the last hour. For a search with more matches than
// maxSummed, the sums (latency, tokens, cost) are null.
//
// window= (1h, 24h, 7d, 30d, all; all by default) or from/to choose the
// period; breakdown= (model, provider, status, key) adds the groups of one
// dimension, and series=1 the steps the statistics page charts. Neither
// takes a search: they come from the rollups alone.
func (s *Server) handleAPIStats(w http.ResponseWriter, r *http.Request) {
	id := identity(r)
	vals := r.URL.Query()
	sq, _, err := s.parseStatsQuery(r.Context(), vals, id, "all", true)
	if err != nil {
		s.fail(w, r, err, true)
		return
	}
	q := sq.query
	var dim store.Dimension
	if b := vals.Get("breakdown"); b != "" {
		i := slices.IndexFunc(breakdownDims, func(d breakdownDim) bool { return d.id == b })
		if i < 0 {
			s.fail(w, r, badInput("breakdown=%q: want model, provider, status or key", b), true)
			return
		}
		dim = breakdownDims[i].by
	}
	if dim == store.ByKey && !id.Admin {
		writeJSONError(w, http.StatusForbidden, "forbidden", "breakdown=key is for admins; your own key's numbers are the totals")
		return
	}
	series := false
	switch v := vals.Get("series"); v {
	case "", "0", "false":
	case "1", "true":
		series = true
	default:
		s.fail(w, r, badInput("series=%q: want 1 or 0", v), true)
		return
	}
	if q.searching() && (dim != "" || series) {
		s.fail(w, r, badInput("breakdown and series do not take a search; leave out one or the other"), true)
		return
	}
	f := found{}
	if q.searching() {
		// Only the count and the facets: no page of rows.
		res, ok, err := s.indexSearch(r.Context(), q.searchRequest(0, 0, true))
		if err != nil {
			s.fail(w, r, err, true)
			return
		}
		f = found{indexed: ok, res: res, total: int64(res.Total)}
	}
	sum, err := s.summarize(r.Context(), q, f)
	if err != nil {
		s.fail(w, r, err, true)
		return
	}
	st := sum.Stats
	orNull := func(v any) any {
		if !sum.summed {
			return nil
		}
		return v
	}
	out := map[string]any{
		"total_requests":        st.TotalRequests,
		"success_rate":          st.SuccessRate,
		"avg_response_time":     orNull(st.AvgDurationMs),
		"recent_requests_count": st.RecentRequests,
		"recent_window_seconds": int(recentWindow / time.Second),
		"success_count":         st.SuccessCount,
		"error_count":           st.ErrorCount,
		"error_rate":            st.ErrorRate,
		"p50_response_time":     orNull(st.P50DurationMs),
		"p95_response_time":     orNull(st.P95DurationMs),
		"p99_response_time":     orNull(st.P99DurationMs),
		"avg_ttft":              orNull(st.AvgTTFTMs),
		"p50_ttft":              orNull(st.P50TTFTMs),
		"p95_ttft":              orNull(st.P95TTFTMs),
		"tokens_per_second":     orNull(st.TokensPerSecond),
		"prompt_tokens":         orNull(st.PromptTokens),
		"completion_tokens":     orNull(st.CompletionTokens),
		"total_tokens":          orNull(st.TotalTokens),
		"cached_tokens":         orNull(st.CachedTokens),
		"reasoning_tokens":      orNull(st.ReasoningTokens),
		"total_cost":            orNull(st.TotalCost),
		"window":                sq.window,
		"from":                  apiTime(sq.filter.From),
		"to":                    apiTime(sq.filter.To),
	}
	if q.searching() {
		out["search_backend"] = f.backend()
		out["total_is_estimate"] = f.res.Approx
	}
	if dim != "" {
		rows, err := s.Store.Breakdown(r.Context(), sq.filter, dim)
		if err != nil {
			s.fail(w, r, err, true)
			return
		}
		list := make([]apiGroup, len(rows))
		for i, g := range rows {
			list[i] = toAPIGroup(g, dim)
		}
		out["breakdown"] = list
	}
	if series {
		points, err := s.Store.Series(r.Context(), sq.series, sq.step)
		if err != nil {
			s.fail(w, r, err, true)
			return
		}
		list := make([]apiPoint, len(points))
		for i, p := range points {
			list[i] = toAPIPoint(p)
		}
		out["series"] = map[string]any{"step_seconds": int64(sq.step / time.Second), "points": list}
	}
	writeJSON(w, http.StatusOK, out)
}

// apiTime is a window bound in JSON: RFC 3339, or null when unbounded.
func apiTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// apiGroup is one group of GET /api/stats?breakdown=…, named like the
// totals.
type apiGroup struct {
	// Value is what the table filters by (model=, provider=, status=,
	// key=); Label is how to show it: for a key, its mask.
	Value            string  `json:"value"`
	Label            string  `json:"label"`
	Requests         int64   `json:"total_requests"`
	Errors           int64   `json:"error_count"`
	ErrorRate        float64 `json:"error_rate"`
	AvgMs            float64 `json:"avg_response_time"`
	P50Ms            float64 `json:"p50_response_time"`
	P95Ms            float64 `json:"p95_response_time"`
	P99Ms            float64 `json:"p99_response_time"`
	P50TTFTMs        float64 `json:"p50_ttft"`
	P95TTFTMs        float64 `json:"p95_ttft"`
	TokensPerSecond  float64 `json:"tokens_per_second"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	TotalTokens      int64   `json:"total_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	ReasoningTokens  int64   `json:"reasoning_tokens"`
	Cost             float64 `json:"total_cost"`
}

func toAPIGroup(g store.BreakdownRow, dim store.Dimension) apiGroup {
	a := apiGroup{
		Value: g.Value, Label: g.Label, Requests: g.Requests, Errors: g.Errors, ErrorRate: g.ErrorRate,
		AvgMs: g.AvgDurationMs, P50Ms: g.P50DurationMs, P95Ms: g.P95DurationMs, P99Ms: g.P99DurationMs,
		P50TTFTMs: g.P50TTFTMs, P95TTFTMs: g.P95TTFTMs, TokensPerSecond: g.TokensPerSecond,
		PromptTokens: g.PromptTokens, CompletionTokens: g.CompletionTokens, TotalTokens: g.TotalTokens,
		CachedTokens: g.CachedTokens, ReasoningTokens: g.ReasoningTokens, Cost: g.Cost,
	}
	if dim == store.ByKey && a.Label == "" {
		a.Label = "(no key)"
	}
	return a
}

// apiPoint is one step of GET /api/stats?series=1.
type apiPoint struct {
	Start            string     `json:"start"`
	Requests         int64      `json:"total_requests"`
	Errors           int64      `json:"error_count"`
	P50Ms            float64    `json:"p50_response_time"`
	P95Ms            float64    `json:"p95_response_time"`
	PromptTokens     int64      `json:"prompt_tokens"`
	CompletionTokens int64      `json:"completion_tokens"`
	Cost             float64    `json:"total_cost"`
	Models           []apiModel `json:"models"`
}

// apiModel is one model's share of a step.
type apiModel struct {
	Model            string  `json:"model"`
	Requests         int64   `json:"total_requests"`
	PromptTokens     int64   `json:"prompt_tokens"`
	CompletionTokens int64   `json:"completion_tokens"`
	Cost             float64 `json:"total_cost"`
}

func toAPIPoint(p store.Point) apiPoint {
	a := apiPoint{
		Start: p.Start.UTC().Format(time.RFC3339), Requests: p.Requests, Errors: p.Errors,
		P50Ms: p.P50DurationMs, P95Ms: p.P95DurationMs, PromptTokens: p.PromptTokens, CompletionTokens: p.CompletionTokens,
		Cost: p.Cost, Models: make([]apiModel, len(p.Models)),
	}
	for i, m := range p.Models {
		a.Models[i] = apiModel{Model: m.Model, Requests: m.Requests, PromptTokens: m.PromptTokens, CompletionTokens: m.CompletionTokens, Cost: m.Cost}
	}
	return a
}
