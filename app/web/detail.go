package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/views"
)

func (s *Server) handleDetail(w http.ResponseWriter, r *http.Request) {
	rec, err := s.Store.Get(r.Context(), r.PathValue("id"), identity(r).Viewer())
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	render(w, r, http.StatusOK, views.DetailPage(s.detail(r, rec)))
}

func (s *Server) detail(r *http.Request, rec *capture.Record) views.Detail {
	iso, text := timeTexts(rec.Start)
	d := views.Detail{
		Page: s.page(r, rec.Method+" "+rec.Path),
		ID:   rec.ID, TimeISO: iso, TimeText: text, Method: rec.Method, URL: rec.URL, Path: rec.Path,
		Model: rec.Model, ModelRequested: rec.ModelRequested, Provider: rec.Provider, Outcome: string(rec.Outcome), Error: rec.Error,
		FinishReason: rec.FinishReason, GenerationID: rec.GenerationID, KeyMask: rec.KeyMask, ClientAddr: rec.ClientAddr,
		Status: rec.Status, Attempts: rec.Attempts, Stream: rec.Stream,
		DurationMs: ms(rec.Duration), TTFBMs: ms(rec.TTFB), TTFTMs: ms(rec.TTFT),
		PromptTokens: rec.PromptTokens, CompletionTokens: rec.CompletionTokens, TotalTokens: rec.TotalTokens,
		CachedTokens: rec.CachedTokens, ReasoningTokens: rec.ReasoningTokens, Cost: rec.Cost, UpstreamCost: rec.UpstreamCost,
		HasUsage:   rec.HasUsage,
		ReqHeaders: headerList(rec.ReqHeaderJSON), RespHeaders: headerList(rec.RespHeaderJSON),
		ReqTruncated: rec.ReqTruncated, RespTruncated: rec.RespTruncated, ReqSize: rec.ReqBody.Size, RespSize: rec.RespBody.Size,
		ReplyContent: rec.Content, ReplyReasoning: rec.Reasoning, ReplyToolCalls: prettyJSON([]byte(rec.ToolCallsJSON)),
	}
	d.TokensPerSec = tokensPerSecond(rec)
	d.ReqBodyRaw = displayText(rec.ReqBodyStored)
	d.ReqBodyPretty = prettyJSON(rec.ReqBodyStored)
	d.RespBodyRaw = displayText(rec.RespBodyStored)
	if rec.Stream {
		d.RawSSE = d.RespBodyRaw
	} else {
		d.RespBodyPretty = prettyJSON(rec.RespBodyStored)
	}
	d.Messages = conversation(rec.ReqBodyStored)
	d.Curl = curlCommand(s.ProxyURL, rec)
	if identity(r).Admin && rec.KeyHash != "" {
		d.KeyFilterURL = "/?" + url.Values{"key": {rec.KeyHash}}.Encode()
	}
	return d
}

// tokensPerSecond is the completion rate while tokens were arriving: from
// the first token to the end for streams, over the whole call otherwise.
func tokensPerSecond(rec *capture.Record) float64 {
	span := rec.Duration
	if rec.Stream && rec.TTFT > 0 && rec.Duration > rec.TTFT {
		span = rec.Duration - rec.TTFT
	}
	if rec.CompletionTokens == 0 || span <= 0 {
		return 0
	}
	return float64(rec.CompletionTokens) / span.Seconds()
}

// headerList turns the stored (already redacted) header JSON into sorted
// name/value pairs.
func headerList(js string) []views.Header {
	var m map[string]string
	if json.Unmarshal([]byte(js), &m) != nil {
		return nil
	}
	out := make([]views.Header, 0, len(m))
	for k, v := range m {
		out = append(out, views.Header{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// displayText shows a body as text; bytes that are not UTF-8 become U+FFFD,
// so binary bodies display without breaking the page.
func displayText(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// prettyJSON indents a JSON body, or returns "" when it is not JSON.
func prettyJSON(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return ""
	}
	var out bytes.Buffer
	if json.Indent(&out, b, "", "  ") != nil {
		return ""
	}
	return out.String()
}

// conversation reads a chat request's messages for display.
func conversation(body []byte) []views.Message {
	var req struct {
		Messages []struct {
			Role       string          `json:"role"`
			Name       string          `json:"name"`
			Content    json.RawMessage `json:"content"`
			ToolCalls  json.RawMessage `json:"tool_calls"`
			ToolCallID string          `json:"tool_call_id"`
		} `json:"messages"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	out := make([]views.Message, 0, len(req.Messages))
	for _, m := range req.Messages {
		msg := views.Message{Role: m.Role, Name: m.Name, Content: contentText(m.Content), ToolCallID: m.ToolCallID}
		if len(m.ToolCalls) > 0 && string(m.ToolCalls) != "null" {
			msg.ToolCalls = prettyJSON(m.ToolCalls)
		}
		out = append(out, msg)
	}
	return out
}

// contentText flattens a message's content: a string, or an array of parts
// of which text parts are shown and others named.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return string(raw)
	}
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteString("\n")
		}
		if p.Type == "text" || p.Text != "" {
			b.WriteString(p.Text)
		} else {
			b.WriteString("[" + p.Type + "]")
		}
	}
	return b.String()
}

// curlCommand rebuilds the request as a curl command line through the
// proxy, with the key masked: the user pastes their own.
func curlCommand(proxyURL string, rec *capture.Record) string {
	var b strings.Builder
	b.WriteString("curl")
	if rec.Method != "GET" {
		// Quoted like every other part: the method comes from the client,
		// and records made before the proxy refused non-token methods may
		// hold shell syntax.
		b.WriteString(" -X " + shellQuote(rec.Method))
	}
	b.WriteString(" " + shellQuote(strings.TrimRight(proxyURL, "/")+rec.URL))
	for _, h := range headerList(rec.ReqHeaderJSON) {
		switch strings.ToLower(h.Name) {
		case "content-length", "accept-encoding", "connection", "user-agent", "host":
			continue
		}
		b.WriteString(" \\\n  -H " + shellQuote(h.Name+": "+h.Value))
	}
	if len(rec.ReqBodyStored) > 0 {
		b.WriteString(" \\\n  --data-raw " + shellQuote(displayText(rec.ReqBodyStored)))
	}
	return b.String()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
