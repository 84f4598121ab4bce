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
	recs, total, err := s.Store.List(r.Context(), q.filter)
	if err != nil {
		s.fail(w, r, err, true)
		return
	}
	list := make([]apiRequest, 0, len(recs))
	for _, rec := range recs {
		list = append(list, toAPIRequest(rec, id.Admin))
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": list, "total_count": total, "page": q.page, "page_size": q.pageSize})
}

func (s *Server) handleAPIRequest(w http.ResponseWriter, r *http.Request) {
	id := identity(r)
	rec, err := s.Store.Get(r.Context(), r.PathValue("id"), id.Viewer())
	if err != nil {
		s.fail(w, r, err, true)
		return
	}
	d := apiDetail{
		apiRequest: toAPIRequest(rec, id.Admin), Query: rec.Query, ClientAddr: rec.ClientAddr,
		Headers: rawOr(rec.ReqHeaderJSON, "{}"), BodySize: rec.ReqBody.Size, BodyTruncated: rec.ReqTruncated,
		ResponseHeaders: rawOr(rec.RespHeaderJSON, "{}"), ResponseSize: rec.RespBody.Size, ResponseTruncated: rec.RespTruncated,
		Content: rec.Content, Reasoning: rec.Reasoning, ToolCalls: rawOr(rec.ToolCallsJSON, "[]"),
		UpstreamCost: rec.UpstreamCost, HasUsage: rec.HasUsage,
	}
	d.KeyMask = rec.KeyMask // the caller's own key, or an admin
	d.Body, d.BodyEncoding = bodyField(rec.ReqBodyStored)
	d.ResponseBody, d.ResponseEncoding = bodyField(rec.RespBodyStored)
	writeJSON(w, http.StatusOK, d)
}

// handleAPIStats answers the original system's four fields plus more.
// "Recent" means the last hour.
func (s *Server) handleAPIStats(w http.ResponseWriter, r *http.Request) {
	q, err := s.parseQuery(r.URL.Query(), identity(r))
	if err != nil {
		s.fail(w, r, err, true)
		return
	}
	st, err := s.Store.Stats(r.Context(), q.filter, time.Now())
	if err != nil {
		s.fail(w, r, err, true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"total_requests":        st.TotalRequests,
		"success_rate":          st.SuccessRate,
		"avg_response_time":     st.AvgDurationMs,
		"recent_requests_count": st.RecentRequests,
		"recent_window_seconds": int(recentWindow / time.Second),
		"success_count":         st.SuccessCount,
		"error_count":           st.ErrorCount,
		"p95_response_time":     st.P95DurationMs,
		"avg_ttft":              st.AvgTTFTMs,
		"prompt_tokens":         st.PromptTokens,
		"completion_tokens":     st.CompletionTokens,
		"total_tokens":          st.TotalTokens,
		"total_cost":            st.TotalCost,
	})
}
