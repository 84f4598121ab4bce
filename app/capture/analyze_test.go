package capture_test

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

func TestAnalyzeOpenRouterStream(t *testing.T) {
	tests := []struct {
		name     string
		pieces   []string
		genID    string // X-Generation-Id header, if any
		wantGen  string
		wantTTFT time.Duration
	}{
		{"LF", openRouterStream, "", "gen-1750000000-abc", wantStreamTTFT},
		{"CRLF", crlf(openRouterStream), "", "gen-1750000000-abc", wantStreamTTFT},
		{"HeaderIDWins", openRouterStream, "gen-from-header", "gen-from-header", wantStreamTTFT},
		// One read holding the whole stream: the first token came with it.
		{"OneRead", []string{strings.Join(openRouterStream, "")}, "", "gen-1750000000-abc", 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sseHeader()
			if tt.genID != "" {
				h.Set("X-Generation-Id", tt.genID)
			}
			r := exchange(200, h, bigLimit, tt.pieces...)
			r.Analyze()

			want := strings.Join(tt.pieces, "")
			if string(r.RespBodyStored) != want {
				t.Errorf("RespBodyStored differs from the body sent")
			}
			checks := []struct {
				field     string
				got, want any
			}{
				{"Stream", r.Stream, true},
				{"Content", r.Content, wantStreamContent},
				{"Reasoning", r.Reasoning, wantStreamReasoning},
				{"ToolCallsJSON", r.ToolCallsJSON, wantStreamTools},
				{"FinishReason", r.FinishReason, "tool_calls"},
				{"Model", r.Model, "openai/o4-mini-2025-04-16"},
				{"Provider", r.Provider, "OpenAI"},
				{"GenerationID", r.GenerationID, tt.wantGen},
				{"HasUsage", r.HasUsage, true},
				{"PromptTokens", r.PromptTokens, int64(42)},
				{"CompletionTokens", r.CompletionTokens, int64(17)},
				{"TotalTokens", r.TotalTokens, int64(59)},
				{"CachedTokens", r.CachedTokens, int64(8)},
				{"ReasoningTokens", r.ReasoningTokens, int64(5)},
				{"Cost", r.Cost, 0.000123},
				{"UpstreamCost", r.UpstreamCost, 0.0001},
				{"TTFT", r.TTFT, tt.wantTTFT},
				{"Outcome", r.Outcome, capture.OutcomeOK},
				{"Error", r.Error, ""},
				{"RespTruncated", r.RespTruncated, false},
				{"Analyzed", r.Analyzed, true},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
				}
			}
		})
	}
}

func TestAnalyzeStreamShapes(t *testing.T) {
	tests := []struct {
		name string
		body string
		want capture.Record // only the fields compared below
	}{
		{
			name: "NoSpaceAfterColonAndMultiLineData",
			body: "data:{\"choices\":[{\"index\":0,\n" +
				"data:\"delta\":{\"content\":\"a\"}}]}\n\n" +
				"event: ignored\nid: 7\nretry: 10\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n\n" +
				"data: [DONE]\n\n" +
				"data: {\"choices\":[{\"delta\":{\"content\":\"after done\"}}]}\n\n",
			want: capture.Record{Content: "ab"},
		},
		{
			name: "LegacyCompletions",
			body: `data: {"id":"cmpl-1","model":"m","choices":[{"index":0,"text":"Once","finish_reason":null}]}` + "\n\n" +
				`data: {"id":"cmpl-1","model":"m","choices":[{"index":0,"text":" upon","finish_reason":"length"}],"usage":{"prompt_tokens":3,"completion_tokens":2}}` + "\n\n",
			want: capture.Record{Content: "Once upon", FinishReason: "length", GenerationID: "cmpl-1", Model: "m",
				HasUsage: true, PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5},
		},
		{
			name: "OnlyFirstChoice",
			body: `data: {"choices":[{"index":1,"delta":{"content":"X"}},{"index":0,"delta":{"content":"a"}}]}` + "\n\n" +
				`data: {"choices":[{"index":1,"delta":{"content":"Y"},"finish_reason":"length"}]}` + "\n\n" +
				`data: {"choices":[{"index":0,"delta":{"reasoning_content":"r"},"finish_reason":"stop"}]}` + "\n\n",
			want: capture.Record{Content: "a", Reasoning: "r", FinishReason: "stop"},
		},
		{
			name: "ReasoningDetailsOnly",
			body: `data: {"choices":[{"delta":{"reasoning_details":[{"type":"reasoning.summary","summary":"sum"},{"type":"reasoning.text","text":"txt"}]}}]}` + "\n\n",
			want: capture.Record{Reasoning: "sumtxt"},
		},
		{
			name: "ToolCallsWithoutIndex",
			body: `data: {"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"x\":"}}]}}]}` + "\n\n" +
				`data: {"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"1}"}}]}}]}` + "\n\n" +
				`data: {"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":{"y":2}}}]}}]}` + "\n\n",
			want: capture.Record{ToolCallsJSON: `[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},{"id":"b","type":"function","function":{"name":"g","arguments":"{\"y\":2}"}}]`},
		},
		{
			name: "ResponsesAPI",
			body: "event: response.created\n" + `data: {"type":"response.created","response":{"id":"resp_1","model":"openai/gpt-5","status":"in_progress"}}` + "\n\n" +
				"event: response.reasoning_summary_text.delta\n" + `data: {"type":"response.reasoning_summary_text.delta","delta":"think"}` + "\n\n" +
				`data: {"type":"response.output_text.delta","output_index":1,"delta":"Hi"}` + "\n\n" +
				`data: {"type":"response.output_text.delta","output_index":1,"delta":" there"}` + "\n\n" +
				`data: {"type":"response.output_item.added","output_index":2,"item":{"type":"function_call","id":"fc_1","call_id":"call_9","name":"lookup","arguments":""}}` + "\n\n" +
				`data: {"type":"response.function_call_arguments.delta","output_index":2,"delta":"{\"q\":1}"}` + "\n\n" +
				`data: {"type":"response.completed","response":{"id":"resp_1","model":"openai/gpt-5-2025","status":"completed","usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":16,"cost":0.5}}}` + "\n\n",
			want: capture.Record{Content: "Hi there", Reasoning: "think", GenerationID: "resp_1", Model: "openai/gpt-5-2025",
				FinishReason: "completed", HasUsage: true, PromptTokens: 10, CompletionTokens: 6, TotalTokens: 16,
				CachedTokens: 4, ReasoningTokens: 2, Cost: 0.5,
				ToolCallsJSON: `[{"id":"call_9","type":"function","function":{"name":"lookup","arguments":"{\"q\":1}"}}]`},
		},
		{
			name: "AnthropicMessages",
			body: "event: message_start\n" + `data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"anthropic/claude-sonnet-4","content":[],"usage":{"input_tokens":20,"cache_read_input_tokens":5,"output_tokens":1}}}` + "\n\n" +
				"event: ping\n" + `data: {"type":"ping"}` + "\n\n" +
				`data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}` + "\n\n" +
				`data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}` + "\n\n" +
				`data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}` + "\n\n" +
				`data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello"}}` + "\n\n" +
				`data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"calc","input":{}}}` + "\n\n" +
				`data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}` + "\n\n" +
				`data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"1}"}}` + "\n\n" +
				`data: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":15}}` + "\n\n" +
				`data: {"type":"message_stop"}` + "\n\n",
			want: capture.Record{Content: "Hello", Reasoning: "hmm", GenerationID: "msg_1", Model: "anthropic/claude-sonnet-4",
				FinishReason: "tool_use", HasUsage: true, PromptTokens: 25, CompletionTokens: 15, TotalTokens: 40, CachedTokens: 5,
				ToolCallsJSON: `[{"id":"toolu_1","type":"function","function":{"name":"calc","arguments":"{\"a\":1}"}}]`},
		},
		{
			name: "ErrorAsJSONUnderStreamType",
			body: `{"error":{"code":429,"message":"Rate limit exceeded"}}`,
			want: capture.Record{Outcome: capture.OutcomeUpstreamError, Error: "429: Rate limit exceeded"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchange(200, sseHeader(), bigLimit, tt.body)
			r.Analyze()
			compareDerived(t, r, &tt.want)
		})
	}
}

// compareDerived compares the extracted fields of got with want. An empty
// want.Outcome means OutcomeOK.
func compareDerived(t *testing.T, got, want *capture.Record) {
	t.Helper()
	if want.Outcome == "" {
		want.Outcome = capture.OutcomeOK
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"Content", got.Content, want.Content},
		{"Reasoning", got.Reasoning, want.Reasoning},
		{"ToolCallsJSON", got.ToolCallsJSON, want.ToolCallsJSON},
		{"FinishReason", got.FinishReason, want.FinishReason},
		{"GenerationID", got.GenerationID, want.GenerationID},
		{"Model", got.Model, want.Model},
		{"Provider", got.Provider, want.Provider},
		{"HasUsage", got.HasUsage, want.HasUsage},
		{"PromptTokens", got.PromptTokens, want.PromptTokens},
		{"CompletionTokens", got.CompletionTokens, want.CompletionTokens},
		{"TotalTokens", got.TotalTokens, want.TotalTokens},
		{"CachedTokens", got.CachedTokens, want.CachedTokens},
		{"ReasoningTokens", got.ReasoningTokens, want.ReasoningTokens},
		{"Cost", got.Cost, want.Cost},
		{"UpstreamCost", got.UpstreamCost, want.UpstreamCost},
		{"Outcome", got.Outcome, want.Outcome},
		{"Error", got.Error, want.Error},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
		}
	}
}

func TestAnalyzeStreamError(t *testing.T) {
	pieces := []string{
		": OPENROUTER PROCESSING\n\n",
		`data: {"id":"gen-9","model":"m","choices":[{"index":0,"delta":{"content":"partial"},"finish_reason":null}]}` + "\n\n",
		`data: {"id":"gen-9","object":"chat.completion.chunk","created":1,"model":"m","provider":"Fireworks","error":{"code":502,"message":"Provider disconnected","metadata":{"raw":"EOF"}},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}` + "\n\n",
		"data: [DONE]\n\n",
	}
	r := exchange(200, sseHeader(), bigLimit, pieces...)
	r.Analyze()
	compareDerived(t, r, &capture.Record{
		Content: "partial", FinishReason: "error", GenerationID: "gen-9", Model: "m", Provider: "Fireworks",
		Outcome: capture.OutcomeStreamError, Error: "502: Provider disconnected",
	})
}

func TestAnalyzeJSON(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   capture.Record
	}{
		{
			name:   "ChatCompletion",
			status: 200,
			header: http.Header{"Content-Type": {"application/json"}, "X-Generation-Id": {"gen-h"}},
			body: `{"id":"gen-b","provider":"Google","model":"google/gemini-2.5-flash","object":"chat.completion","created":1,
				"choices":[{"logprobs":null,"finish_reason":"stop","native_finish_reason":"STOP","index":0,
				"message":{"role":"assistant","content":"Paris.","refusal":null,"reasoning":"Capital of France.",
				"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}}],
				"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"cost":0.00002,
				"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":2},
				"cost_details":{"upstream_inference_cost":null}}}`,
			want: capture.Record{Content: "Paris.", Reasoning: "Capital of France.", FinishReason: "stop",
				GenerationID: "gen-h", Model: "google/gemini-2.5-flash", Provider: "Google",
				ToolCallsJSON: `[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]`,
				HasUsage:      true, PromptTokens: 12, CompletionTokens: 3, TotalTokens: 15, ReasoningTokens: 2, Cost: 0.00002},
		},
		{
			name:   "ContentParts",
			status: 200,
			header: jsonHeader(),
			body:   `{"id":"gen-p","choices":[{"message":{"content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]}}]}`,
			want:   capture.Record{Content: "ab", GenerationID: "gen-p"},
		},
		{
			name:   "NoUsage",
			status: 200,
			header: jsonHeader(),
			body:   `{"choices":[{"text":"legacy","finish_reason":"stop"}],"usage":null}`,
			want:   capture.Record{Content: "legacy", FinishReason: "stop"},
		},
		{
			name:   "Unauthorized",
			status: 401,
			header: jsonHeader(),
			body:   `{"error":{"message":"No auth credentials found","code":401}}`,
			want:   capture.Record{Outcome: capture.OutcomeUpstreamError, Error: "No auth credentials found"},
		},
		{
			name:   "ServiceUnavailableHTML",
			status: 503,
			header: http.Header{"Content-Type": {"text/html"}},
			body:   `<html><body>503</body></html>`,
			want:   capture.Record{Outcome: capture.OutcomeUpstreamError, Error: "HTTP 503 Service Unavailable"},
		},
		{
			name:   "ErrorObjectWith200",
			status: 200,
			header: jsonHeader(),
			body:   `{"error":{"code":"server_error","message":"upstream failed"}}`,
			want:   capture.Record{Outcome: capture.OutcomeUpstreamError, Error: "server_error: upstream failed"},
		},
		{
			name:   "ResponsesAPI",
			status: 200,
			header: jsonHeader(),
			body: `{"id":"resp_2","object":"response","model":"openai/gpt-5","status":"completed","error":null,"output":[
				{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"why"}]},
				{"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"Answer","annotations":[]}]},
				{"type":"function_call","id":"fc_1","call_id":"call_3","name":"run","arguments":"{}"}],
				"usage":{"input_tokens":7,"output_tokens":3,"total_tokens":10}}`,
			want: capture.Record{Content: "Answer", Reasoning: "why", GenerationID: "resp_2", Model: "openai/gpt-5",
				FinishReason: "completed", HasUsage: true, PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10,
				ToolCallsJSON: `[{"id":"call_3","type":"function","function":{"name":"run","arguments":"{}"}}]`},
		},
		{
			name:   "AnthropicMessage",
			status: 200,
			header: jsonHeader(),
			body: `{"id":"msg_2","type":"message","role":"assistant","model":"anthropic/claude-sonnet-4",
				"content":[{"type":"thinking","thinking":"t"},{"type":"text","text":"Sure"},{"type":"tool_use","id":"toolu_2","name":"calc","input":{"a": 1}}],
				"stop_reason":"tool_use","usage":{"input_tokens":9,"output_tokens":4}}`,
			want: capture.Record{Content: "Sure", Reasoning: "t", GenerationID: "msg_2", Model: "anthropic/claude-sonnet-4",
				FinishReason: "tool_use", HasUsage: true, PromptTokens: 9, CompletionTokens: 4, TotalTokens: 13,
				ToolCallsJSON: `[{"id":"toolu_2","type":"function","function":{"name":"calc","arguments":"{\"a\":1}"}}]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchange(tt.status, tt.header, bigLimit, tt.body)
			r.Analyze()
			if r.Stream {
				t.Error("Stream = true for a JSON answer")
			}
			if string(r.RespBodyStored) != tt.body {
				t.Error("RespBodyStored differs from the body sent")
			}
			compareDerived(t, r, &tt.want)
		})
	}
}

func TestAnalyzeRequest(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		limit     int
		wantModel string
		wantTrunc bool
	}{
		{"Whole", `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}]}`, bigLimit, "openai/gpt-4o", false},
		{"ModelLast", `{"messages":[],"stream":true,"model":"x/y"}`, bigLimit, "x/y", false},
		{"CutAfterModel", `{"model":"a/b","messages":[{"role":"user","content":"` + strings.Repeat("x", 100) + `"}]}`, 40, "a/b", true},
		{"NotJSON", `model=a`, bigLimit, "", false},
		{"ModelNotString", `{"model":5}`, bigLimit, "", false},
		{"Empty", ``, bigLimit, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &capture.Record{ReqBody: capture.Body{Limit: tt.limit}}
			r.ReqBody.Write([]byte(tt.body))
			r.Analyze()
			if r.ModelRequested != tt.wantModel {
				t.Errorf("ModelRequested = %q, want %q", r.ModelRequested, tt.wantModel)
			}
			if r.ReqTruncated != tt.wantTrunc {
				t.Errorf("ReqTruncated = %v, want %v", r.ReqTruncated, tt.wantTrunc)
			}
			if want := tt.body[:min(len(tt.body), tt.limit)]; string(r.ReqBodyStored) != want {
				t.Errorf("ReqBodyStored = %q, want %q", r.ReqBodyStored, want)
			}
		})
	}
}

// noisyText is text that compresses poorly, so a cut compressed body
// decodes to a proper prefix.
func noisyText(n int) string {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < n {
		fmt.Fprintf(&b, "%x ", rng.Uint64())
	}
	return b.String()[:n]
}

func TestAnalyzeCompressed(t *testing.T) {
	chat := `{"id":"gen-z","model":"m","choices":[{"message":{"content":"zipped"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`
	stream := strings.Join(openRouterStream, "")
	zl := func(s string) []byte {
		var buf bytes.Buffer
		zw := zlib.NewWriter(&buf)
		zw.Write([]byte(s))
		zw.Close()
		return buf.Bytes()
	}
	raw := func(s string) []byte {
		var buf bytes.Buffer
		fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
		fw.Write([]byte(s))
		fw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name, enc, ctype string
		body             []byte
		want             string
		wantContent      string
	}{
		{"GzipJSON", "gzip", "application/json", gzipped(t, chat), chat, "zipped"},
		{"XGzipJSON", "x-gzip", "application/json", gzipped(t, chat), chat, "zipped"},
		{"ZlibDeflate", "deflate", "application/json", zl(chat), chat, "zipped"},
		{"RawDeflate", "deflate", "application/json", raw(chat), chat, "zipped"},
		{"GzipSSE", "gzip", "text/event-stream; charset=utf-8", gzipped(t, stream), stream, wantStreamContent},
		{"NotReallyGzip", "gzip", "application/json", []byte(chat), chat, "zipped"},
		{"Brotli", "br", "application/json", []byte("\x1b\x03\x00\xf8"), "\x1b\x03\x00\xf8", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Content-Type": {tt.ctype}, "Content-Encoding": {tt.enc}}
			r := exchange(200, h, bigLimit, string(tt.body))
			r.Analyze()
			if string(r.RespBodyStored) != tt.want {
				t.Errorf("RespBodyStored = %q, want %q", r.RespBodyStored, tt.want)
			}
			if r.Content != tt.wantContent {
				t.Errorf("Content = %q, want %q", r.Content, tt.wantContent)
			}
			if r.RespTruncated {
				t.Error("RespTruncated = true")
			}
			if r.TTFT != 0 {
				t.Errorf("TTFT = %v from offsets into compressed bytes", r.TTFT)
			}
		})
	}

	t.Run("TruncatedGzipKeepsPrefix", func(t *testing.T) {
		plain := noisyText(200_000)
		z := gzipped(t, plain)
		limit := len(z) / 2
		r := exchange(200, http.Header{"Content-Type": {"text/plain"}, "Content-Encoding": {"gzip"}}, limit, string(z))
		r.Analyze()
		got := r.RespBodyStored
		if len(got) < len(plain)/4 || len(got) >= len(plain) {
			t.Fatalf("decoded %d of %d bytes from half the gzip stream", len(got), len(plain))
		}
		if !strings.HasPrefix(plain, string(got)) {
			t.Error("decoded bytes are not a prefix of the body")
		}
		if !r.RespTruncated {
			t.Error("RespTruncated = false")
		}
	})

	t.Run("DecodedOutputCapped", func(t *testing.T) {
		plain := strings.Repeat("a", 3<<20) // a small gzip that inflates past 1 MiB
		r := exchange(200, http.Header{"Content-Encoding": {"gzip"}}, 100_000, string(gzipped(t, plain)))
		r.Analyze()
		if len(r.RespBodyStored) != 1<<20 {
			t.Errorf("decoded %d bytes, want the 1 MiB cap (the limit is smaller)", len(r.RespBodyStored))
		}
		if !r.RespTruncated {
			t.Error("RespTruncated = false")
		}
	})
}

// longStream is a stream of n content chunks, a finish chunk and a usage
// chunk, and the full text it carries.
func longStream(n int) (pieces []string, content string) {
	var text strings.Builder
	pieces = append(pieces, ": OPENROUTER PROCESSING\n\n")
	for i := range n {
		tok := fmt.Sprintf("tok%d ", i)
		text.WriteString(tok)
		pieces = append(pieces, fmt.Sprintf(`data: {"id":"gen-long","model":"meta/llama","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":%q},"finish_reason":null}]}`+"\n\n", tok))
	}
	pieces = append(pieces,
		`data: {"id":"gen-long","model":"meta/llama","choices":[{"index":0,"delta":{"content":""},"finish_reason":"length"}]}`+"\n\n",
		`data: {"id":"gen-long","model":"meta/llama-3","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":`+fmt.Sprint(n)+`,"total_tokens":`+fmt.Sprint(n+9)+`,"cost":0.25}}`+"\n\n",
		"data: [DONE]\n\n")
	return pieces, text.String()
}

func TestAnalyzeTruncatedStream(t *testing.T) {
	pieces, full := longStream(3000) // ~450 KiB: far past the head and the tail
	for _, limit := range []int{0, 1000, 100_000} {
		t.Run(fmt.Sprint("Limit", limit), func(t *testing.T) {
			r := exchange(200, sseHeader(), limit, pieces...)
			r.Analyze()
			if !r.RespTruncated {
				t.Error("RespTruncated = false")
			}
			if len(r.RespBodyStored) != limit {
				t.Errorf("stored %d bytes, want the %d-byte limit", len(r.RespBodyStored), limit)
			}
			if !strings.HasPrefix(full, r.Content) || len(r.Content) >= len(full)/2 {
				t.Errorf("Content (%d bytes) is not a short prefix of the text: tail text was appended", len(r.Content))
			}
			compare := []struct {
				field     string
				got, want any
			}{
				{"FinishReason", r.FinishReason, "length"},
				{"Model", r.Model, "meta/llama-3"},
				{"HasUsage", r.HasUsage, true},
				{"CompletionTokens", r.CompletionTokens, int64(3000)},
				{"TotalTokens", r.TotalTokens, int64(3009)},
				{"Cost", r.Cost, 0.25},
				{"Outcome", r.Outcome, capture.OutcomeOK},
			}
			for _, c := range compare {
				if c.got != c.want {
					t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
				}
			}
		})
	}

	t.Run("ErrorInTail", func(t *testing.T) {
		pieces, _ := longStream(3000)
		pieces = append(pieces[:len(pieces)-3],
			`data: {"id":"gen-long","error":{"code":502,"message":"Provider disconnected"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}`+"\n\n")
		r := exchange(200, sseHeader(), 1000, pieces...)
		r.Analyze()
		if r.Outcome != capture.OutcomeStreamError || r.Error != "502: Provider disconnected" || r.FinishReason != "error" {
			t.Errorf("Outcome, Error, FinishReason = %q, %q, %q", r.Outcome, r.Error, r.FinishReason)
		}
	})

	t.Run("JSONUsageInTail", func(t *testing.T) {
		body := `{"id":"gen-j","model":"m","choices":[{"message":{"content":"` + noisyText(300_000) +
			`\"usage\": {\"prompt_tokens\": 1}"},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":6}}`
		r := exchange(200, jsonHeader(), 1000, body)
		r.Analyze()
		if r.GenerationID != "gen-j" || r.Model != "m" {
			t.Errorf("GenerationID, Model = %q, %q from the cut head", r.GenerationID, r.Model)
		}
		if !r.HasUsage || r.PromptTokens != 5 || r.CompletionTokens != 6 || r.TotalTokens != 11 {
			t.Errorf("usage = %v %d/%d/%d, want 5/6/11 from the tail", r.HasUsage, r.PromptTokens, r.CompletionTokens, r.TotalTokens)
		}
	})
}

func TestAnalyzeCancelledStream(t *testing.T) {
	pieces, _ := longStream(10)
	// The client left after the third token; the last event was cut.
	cut := append(append([]string{}, pieces[:4]...), `data: {"id":"gen-long","choices":[{"index":0,"delta":{"content":"to`)
	tests := []struct {
		name         string
		pieces       []string
		cancelled    bool
		timedOut     bool
		proxyErr     string
		wantOutcome  capture.Outcome
		wantError    string
		wantContent  string
		wantHasUsage bool
	}{
		{"Cancelled", cut, true, false, "context canceled", capture.OutcomeCancelled, "client cancelled the request", "tok0 tok1 tok2 ", false},
		{"CancelledWholeLastEvent", pieces[:4], true, false, "", capture.OutcomeCancelled, "client cancelled the request", "tok0 tok1 tok2 ", false},
		{"TimedOut", cut, false, true, "", capture.OutcomeTimeout, "upstream timed out", "tok0 tok1 tok2 ", false},
		{"TimedOutWithReason", cut, false, true, "no answer within 5m0s", capture.OutcomeTimeout, "no answer within 5m0s", "tok0 tok1 tok2 ", false},
		{"ProxyError", cut, false, false, "upstream connection reset", capture.OutcomeProxyError, "upstream connection reset", "tok0 tok1 tok2 ", false},
		{"CancelledAfterUsage", pieces[:len(pieces)-1], true, false, "", capture.OutcomeCancelled, "client cancelled the request", "tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7 tok8 tok9 ", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchange(200, sseHeader(), bigLimit, tt.pieces...)
			r.Cancelled, r.TimedOut, r.ProxyErr = tt.cancelled, tt.timedOut, tt.proxyErr
			r.Analyze()
			if r.Outcome != tt.wantOutcome || r.Error != tt.wantError {
				t.Errorf("Outcome, Error = %q, %q, want %q, %q", r.Outcome, r.Error, tt.wantOutcome, tt.wantError)
			}
			if r.Content != tt.wantContent {
				t.Errorf("Content = %q, want %q", r.Content, tt.wantContent)
			}
			if r.HasUsage != tt.wantHasUsage {
				t.Errorf("HasUsage = %v, want %v", r.HasUsage, tt.wantHasUsage)
			}
			if r.TTFT != 20*time.Millisecond {
				t.Errorf("TTFT = %v, want the mark of the first token", r.TTFT)
			}
		})
	}
}

func TestAnalyzeOutcomePrecedence(t *testing.T) {
	streamErr := `data: {"error":{"code":502,"message":"boom"}}` + "\n\n"
	tests := []struct {
		name        string
		status      int
		body        string
		cancelled   bool
		timedOut    bool
		proxyErr    string
		wantOutcome capture.Outcome
		wantError   string
	}{
		{"CancelledKeepsSpecific", 200, streamErr, true, true, "x", capture.OutcomeCancelled, "502: boom"},
		{"TimeoutBeforeProxyErr", 200, streamErr, false, true, "deadline", capture.OutcomeTimeout, "deadline"},
		{"ProxyErrBeforeStatus", 502, "", false, false, "dial tcp: refused", capture.OutcomeProxyError, "dial tcp: refused"},
		{"StatusBeforeStreamErr", 500, streamErr, false, false, "", capture.OutcomeUpstreamError, "boom"},
		{"UnknownStatus", 599, "", false, false, "", capture.OutcomeUpstreamError, "HTTP 599"},
		{"StreamErr", 200, streamErr, false, false, "", capture.OutcomeStreamError, "502: boom"},
		{"OK", 200, "data: {}\n\n", false, false, "", capture.OutcomeOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchange(tt.status, sseHeader(), bigLimit, tt.body)
			r.Cancelled, r.TimedOut, r.ProxyErr = tt.cancelled, tt.timedOut, tt.proxyErr
			r.Analyze()
			if r.Outcome != tt.wantOutcome || r.Error != tt.wantError {
				t.Errorf("Outcome, Error = %q, %q, want %q, %q", r.Outcome, r.Error, tt.wantOutcome, tt.wantError)
			}
		})
	}
}

func TestAnalyzeOddBodies(t *testing.T) {
	bodies := map[string]string{
		"Binary":       "\x00\x01\x02\xff\xfe\x89PNG\r\n\x1a\n",
		"InvalidUTF8":  "data: {\"choices\":[{\"delta\":{\"content\":\"\xff\xfe\"}}]}\n\n",
		"Empty":        "",
		"NotJSON":      "hello world",
		"BrokenJSON":   `{"choices":[{"message":{"content":"x"`,
		"DeepNesting":  strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
		"OnlyComments": ": ping\n\n: ping\n\n",
		"LoneCR":       "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\rdata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\r\r",
	}
	for name, body := range bodies {
		for _, ctype := range []string{"text/event-stream", "application/json", "application/octet-stream"} {
			t.Run(name+"/"+ctype, func(t *testing.T) {
				r := exchange(200, http.Header{"Content-Type": {ctype}}, bigLimit, body)
				r.ReqBody.Write([]byte(body))
				r.Analyze()
				if !bytes.Equal(r.RespBodyStored, []byte(body)) {
					t.Errorf("RespBodyStored = %q, want the body unchanged", r.RespBodyStored)
				}
				if !bytes.Equal(r.ReqBodyStored, []byte(body)) {
					t.Errorf("ReqBodyStored = %q, want the body unchanged", r.ReqBodyStored)
				}
				if r.Outcome != capture.OutcomeOK {
					t.Errorf("Outcome = %q", r.Outcome)
				}
			})
		}
	}

	t.Run("InvalidUTF8Content", func(t *testing.T) {
		r := exchange(200, sseHeader(), bigLimit, bodies["InvalidUTF8"])
		r.Analyze()
		if r.Content != "\ufffd\ufffd" {
			t.Errorf("Content = %q, want invalid bytes replaced", r.Content)
		}
	})
	t.Run("LoneCRContent", func(t *testing.T) {
		r := exchange(200, sseHeader(), bigLimit, bodies["LoneCR"])
		r.Analyze()
		if r.Content != "ab" {
			t.Errorf("Content = %q, want %q", r.Content, "ab")
		}
	})
}

func TestAnalyzeIdempotent(t *testing.T) {
	r := exchange(200, sseHeader(), bigLimit, openRouterStream...)
	r.APIKey = "sk-or-v1-0123456789abcdef0123456789abcdefa1b2"
	r.Analyze()
	first := *r
	r.Analyze()
	if r.KeyHash != first.KeyHash || r.Content != first.Content || r.TotalTokens != first.TotalTokens {
		t.Error("a second Analyze changed the record")
	}
	r.Content = "edited"
	r.Analyze()
	if r.Content != "edited" {
		t.Error("Analyze ran again on an analyzed record")
	}

	var nilRecord *capture.Record
	nilRecord.Analyze() // must not panic
}

func TestAnalyzeEmptyRecord(t *testing.T) {
	var r capture.Record
	r.Analyze()
	if r.ReqHeaderJSON != "{}" || r.RespHeaderJSON != "{}" {
		t.Errorf("header JSON = %q, %q, want {}", r.ReqHeaderJSON, r.RespHeaderJSON)
	}
	if r.Outcome != capture.OutcomeOK || r.ToolCallsJSON != "" || r.HasUsage || r.KeyHash != "" {
		t.Errorf("unexpected derived fields: %+v", r)
	}
}
