package web

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
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
		out["total_is_estimate"] = f.approx
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
func (s *Server) handleAPIStats(w http.ResponseWriter, r *http.Request) {
	q, err := s.parseQuery(r.URL.Query(), identity(r))
	if err != nil {
		s.fail(w, r, err, true)
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
		"p95_response_time":     orNull(st.P95DurationMs),
		"avg_ttft":              orNull(st.AvgTTFTMs),
		"prompt_tokens":         orNull(st.PromptTokens),
		"completion_tokens":     orNull(st.CompletionTokens),
		"total_tokens":          orNull(st.TotalTokens),
		"total_cost":            orNull(st.TotalCost),
	}
	if q.searching() {
		out["search_backend"] = f.backend()
		out["total_is_estimate"] = f.approx
	}
	writeJSON(w, http.StatusOK, out)
}
