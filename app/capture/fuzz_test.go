package capture_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// fuzzKey is forwarded with every fuzzed exchange; it must never survive.
const fuzzKey = "sk-or-v1-fuzzfuzzfuzzfuzzfuzzfuzzfuzz9999"

// minScrubLen is the shortest start of a key that is masked at the end of a
// body cut short (capture.minScrubLen).
const minScrubLen = 8

// FuzzAnalyze feeds arbitrary bytes as the response (and request) body.
// mode picks the content type (bit 0: SSE or JSON), the coding (bit 1:
// gzip) and the body limit (bit 2: small, so the tail path runs).
func FuzzAnalyze(f *testing.F) {
	seeds := []string{
		strings.Join(openRouterStream, ""),
		strings.Join(crlf(openRouterStream), ""),
		`data: {"error":{"code":502,"message":"Provider disconnected"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}` + "\n\n",
		`{"id":"gen-b","choices":[{"message":{"content":"x","tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}`,
		`{"error":{"message":"No auth credentials found","code":401}}`,
		`{"type":"message","content":[{"type":"tool_use","id":"t","name":"n","input":{"a":[1]}}],"usage":{"input_tokens":1}}`,
		`data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{"}}` + "\n\n",
		`data: {"type":"response.completed","response":{"usage":{"input_tokens":1},"error":{"code":"x"}}}` + "\n\n",
		"\x00\x01\xff\xfe",
		"data:\rdata:\r\n\r\n:\n\n",
		string(gzipped(f, `{"choices":[{"text":"z"}]}`)),
		`{"model":"m","api_key":"` + fuzzKey + `","messages":[{"role":"user","content":"` + fuzzKey + `"}]}`,
		`data: {"choices":[{"delta":{"content":"` + fuzzKey + `"}}]}` + "\n\n",
		"echo " + fuzzKey[:20],
	}
	long, _ := longStream(8)
	seeds = append(seeds, strings.Join(long, ""))
	for _, s := range seeds {
		for mode := range uint8(8) {
			f.Add([]byte(s), mode)
		}
	}

	f.Fuzz(func(t *testing.T, body []byte, mode uint8) {
		h := http.Header{"Content-Type": {"application/json"}, "X-Key-Echo": {fuzzKey}}
		if mode&1 != 0 {
			h.Set("Content-Type", "text/event-stream")
		}
		if mode&2 != 0 {
			h.Set("Content-Encoding", "gzip")
		}
		limit := 1 << 20
		if mode&4 != 0 {
			limit = 64
		}
		r := &capture.Record{
			Status:     200,
			URL:        "/v1/chat/completions?key=" + fuzzKey + "&q=" + url.QueryEscape(string(body)),
			Query:      "api_key=" + fuzzKey + "&q=" + url.QueryEscape(string(body)),
			APIKey:     fuzzKey,
			ReqHeader:  http.Header{"Authorization": {"Bearer " + fuzzKey}},
			RespHeader: h,
			ReqBody:    capture.Body{Limit: limit},
			RespBody:   capture.Body{Limit: limit},
		}
		// Two writes, so that the tail path sees bodies cut anywhere.
		half := len(body) / 2
		for _, p := range [][]byte{body[:half], body[half:]} {
			r.RespBody.Write(p)
			r.Marks.Add(r.RespBody.Size, 1)
		}
		r.ReqBody.Write(body)
		r.Analyze()

		if !r.Analyzed {
			t.Fatal("Analyzed = false")
		}
		want := body[:min(len(body), limit)]
		// Bodies are stored as they came unless something in them was
		// scrubbed: a secret JSON member (which needs a '"') or the key.
		asIs := !bytes.ContainsAny(want, `"`) && !bytes.Contains(want, []byte(fuzzKey[:minScrubLen]))
		if asIs && mode&2 == 0 && !bytes.Equal(r.RespBodyStored, want) {
			t.Fatalf("RespBodyStored = %q, want %q", r.RespBodyStored, want)
		}
		if asIs && !bytes.Equal(r.ReqBodyStored, want) {
			t.Fatalf("ReqBodyStored = %q, want %q", r.ReqBodyStored, want)
		}
		if r.RespTruncated != (len(body) > limit) && mode&2 == 0 {
			t.Fatalf("RespTruncated = %v for %d bytes under a %d-byte limit", r.RespTruncated, len(body), limit)
		}
		for _, s := range []string{r.APIKey, r.ReqHeaderJSON, r.RespHeaderJSON, r.URL, r.Query,
			string(r.ReqBodyStored), string(r.RespBodyStored), r.Content, r.Reasoning, r.ToolCallsJSON, r.Error} {
			if strings.Contains(s, fuzzKey) {
				t.Fatalf("the key survived: %q", s)
			}
		}
		if r.Outcome == "" {
			t.Fatal("no Outcome")
		}
	})
}

// BenchmarkAnalyzeStream measures the analysis of a typical 200-chunk chat
// stream, the common case on the writer goroutine.
func BenchmarkAnalyzeStream(b *testing.B) {
	pieces, _ := longStream(200)
	body := []byte(strings.Join(pieces, ""))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r := &capture.Record{
			Status:     200,
			URL:        "/v1/chat/completions?key=" + fuzzKey + "&q=" + url.QueryEscape(string(body)),
			Query:      "api_key=" + fuzzKey + "&q=" + url.QueryEscape(string(body)),
			APIKey:     fuzzKey,
			ReqHeader:  http.Header{"Authorization": {"Bearer " + fuzzKey}, "Content-Type": {"application/json"}},
			RespHeader: sseHeader(),
			RespBody:   capture.Body{Limit: 1 << 20},
		}
		r.RespBody.Write(body)
		r.Marks.Add(int64(len(body)), 1)
		r.Analyze()
		if r.TotalTokens != 209 {
			b.Fatalf("TotalTokens = %d", r.TotalTokens)
		}
	}
}
