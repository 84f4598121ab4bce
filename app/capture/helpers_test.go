package capture_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// bigLimit is a body limit no test body reaches.
const bigLimit = 1 << 20

// exchange builds a finished record the way the proxy does: the response
// body is written piece by piece, with a mark after each piece at
// (i+1)*10ms.
func exchange(status int, header http.Header, limit int, pieces ...string) *capture.Record {
	r := &capture.Record{
		Status:     status,
		RespHeader: header,
		RespBody:   capture.Body{Limit: limit},
		ReqBody:    capture.Body{Limit: limit},
	}
	for i, p := range pieces {
		r.RespBody.Write([]byte(p))
		r.Marks.Add(r.RespBody.Size, time.Duration(i+1)*10*time.Millisecond)
	}
	return r
}

// sseHeader is the header of an OpenRouter stream.
func sseHeader() http.Header {
	return http.Header{"Content-Type": {"text/event-stream"}, "Cache-Control": {"no-cache"}}
}

// jsonHeader is the header of an OpenRouter JSON answer.
func jsonHeader() http.Header {
	return http.Header{"Content-Type": {"application/json"}}
}

// crlf rewrites the line endings of SSE pieces to "\r\n".
func crlf(pieces []string) []string {
	out := make([]string, len(pieces))
	for i, p := range pieces {
		out[i] = strings.ReplaceAll(p, "\n", "\r\n")
	}
	return out
}

// gzipped compresses s.
func gzipped(tb testing.TB, s string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(s)); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// openRouterStream is a realistic OpenRouter chat stream of a reasoning
// model that answers with text and two tool calls. Each piece is one read
// from the upstream.
var openRouterStream = []string{
	": OPENROUTER PROCESSING\n\n",
	": OPENROUTER PROCESSING\n\n",
	`data: {"id":"gen-1750000000-abc","provider":"OpenAI","model":"openai/o4-mini","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}` + "\n\n",
	`data: {"id":"gen-1750000000-abc","provider":"OpenAI","model":"openai/o4-mini","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"Let me think","reasoning_details":[{"type":"reasoning.text","text":"Let me think","format":"unknown","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}` + "\n\n",
	`data: {"id":"gen-1750000000-abc","provider":"OpenAI","model":"openai/o4-mini","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":" about it."},"finish_reason":null}]}` + "\n\n",
	": OPENROUTER PROCESSING\n\n",
	`data: {"id":"gen-1750000000-abc","provider":"OpenAI","model":"openai/o4-mini","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}` + "\n\n",
	`data: {"id":"gen-1750000000-abc","provider":"OpenAI","model":"openai/o4-mini","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":", wörld \"quoted\"\n\u00e9"},"finish_reason":null}]}` + "\n\n",
	`data: {"id":"gen-1750000000-abc","provider":"OpenAI","model":"openai/o4-mini","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}` + "\n\n",
	`data: {"id":"gen-1750000000-abc","provider":"OpenAI","model":"openai/o4-mini","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}` + "\n\n",
	`data: {"id":"gen-1750000000-abc","provider":"OpenAI","model":"openai/o4-mini","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":1,"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"finish_reason":null}]}` + "\n\n",
	`data: {"id":"gen-1750000000-abc","provider":"OpenAI","model":"openai/o4-mini","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}` + "\n\n",
	`data: {"id":"gen-1750000000-abc","provider":"OpenAI","model":"openai/o4-mini","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"tool_calls","native_finish_reason":"tool_calls"}]}` + "\n\n",
	`data: {"id":"gen-1750000000-abc","provider":"OpenAI","model":"openai/o4-mini-2025-04-16","object":"chat.completion.chunk","created":1750000000,"choices":[],"usage":{"prompt_tokens":42,"completion_tokens":17,"total_tokens":59,"cost":0.000123,"is_byok":false,"prompt_tokens_details":{"cached_tokens":8},"cost_details":{"upstream_inference_cost":0.0001},"completion_tokens_details":{"reasoning_tokens":5}}}` + "\n\n",
	"data: [DONE]\n\n",
}

// The reassembly of openRouterStream.
const (
	wantStreamContent   = "Hello, wörld \"quoted\"\né"
	wantStreamReasoning = "Let me think about it."
	wantStreamTools     = `[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},{"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]`
	// The first output is the reasoning in piece 3, marked at 40ms.
	wantStreamTTFT = 40 * time.Millisecond
)
