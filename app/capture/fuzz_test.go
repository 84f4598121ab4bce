package capture_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

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

// roundTrip returns the string a JSON encoder and decoder make of s:
// invalid UTF-8 becomes U+FFFD.
func roundTrip(s string) string {
	b, _ := json.Marshal(s)
	var out string
	json.Unmarshal(b, &out)
	return out
}

// jsonQuote returns s as a JSON string literal.
func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// FuzzStreamReassembly builds an OpenRouter chat stream whose deltas are the
// input split at NUL bytes (every third one reasoning, if mode says so),
// with keep-alives, CRLF line ends and gzip as mode picks, writes it in
// pieces cut where seed says, and checks the reassembly: the text and
// reasoning joined exactly, the finish reason, usage and outcome, and the
// time to first token at the mark of the read that completed the first
// event with output.
func FuzzStreamReassembly(f *testing.F) {
	f.Add([]byte("Hello\x00, wörld\x00 \"quoted\"\n\x00\xff<&>"), uint64(1), uint8(0))
	f.Add([]byte("think\x00answer\x00more"), uint64(2), uint8(1|2))
	f.Add([]byte("a\x00\x00b"), uint64(3), uint8(4|2))
	f.Add([]byte("zipped\x00text"), uint64(4), uint8(8|1))
	f.Add([]byte{}, uint64(5), uint8(15))
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, mode uint8) {
		eol := "\n"
		if mode&4 != 0 {
			eol = "\r\n"
		}
		var stream strings.Builder
		var content, reasoning strings.Builder
		firstOutputEnd := -1
		event := func(payload string) {
			stream.WriteString("data: " + payload + eol + eol)
		}
		stream.WriteString(": OPENROUTER PROCESSING" + eol + eol)
		for i, p := range bytes.Split(in, []byte{0}) {
			s := string(p)
			if mode&2 != 0 && i%3 == 2 {
				stream.WriteString(": OPENROUTER PROCESSING" + eol + eol)
			}
			delta := `{"role":"assistant","content":` + jsonQuote(s) + `}`
			if mode&1 != 0 && i%3 == 0 {
				delta = `{"role":"assistant","content":"","reasoning":` + jsonQuote(s) +
					`,"reasoning_details":[{"type":"reasoning.text","text":` + jsonQuote(s) + `}]}`
				reasoning.WriteString(roundTrip(s))
			} else {
				content.WriteString(roundTrip(s))
			}
			event(`{"id":"gen-f","provider":"P","model":"m","object":"chat.completion.chunk","created":1,"choices":[{"index":0,"delta":` + delta + `,"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}`)
			if s != "" && firstOutputEnd < 0 {
				firstOutputEnd = stream.Len()
			}
		}
		event(`{"id":"gen-f","model":"m","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}]}`)
		event(`{"id":"gen-f","model":"m-served","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"cost":0.5}}`)
		event("[DONE]")

		body := []byte(stream.String())
		h := sseHeader()
		if mode&8 != 0 {
			body = gzipped(t, stream.String())
			h.Set("Content-Encoding", "gzip")
		}
		// Write it in pieces, as reads from the upstream arrive.
		rng := rand.New(rand.NewPCG(seed, 7))
		var pieces []string
		for rest := body; len(rest) > 0; {
			n := 1 + rng.IntN(min(len(rest), 64))
			if rng.IntN(4) == 0 {
				n = len(rest)
			}
			pieces = append(pieces, string(rest[:n]))
			rest = rest[n:]
		}
		r := exchange(200, h, bigLimit, pieces...)
		r.Analyze()

		checks := []struct {
			field     string
			got, want any
		}{
			{"Content", r.Content, content.String()},
			{"Reasoning", r.Reasoning, reasoning.String()},
			{"FinishReason", r.FinishReason, "stop"},
			{"Model", r.Model, "m-served"},
			{"GenerationID", r.GenerationID, "gen-f"},
			{"TotalTokens", r.TotalTokens, int64(3)},
			{"Cost", r.Cost, 0.5},
			{"Outcome", r.Outcome, capture.OutcomeOK},
			{"Stream", r.Stream, true},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
			}
		}
		// Time to first token: the mark of the read that completed the
		// first event with output; none for a compressed body, whose
		// offsets are not the text's.
		var wantTTFT time.Duration
		if mode&8 == 0 && firstOutputEnd >= 0 {
			sent := 0
			for i, p := range pieces {
				sent += len(p)
				if sent >= firstOutputEnd {
					wantTTFT = time.Duration(i+1) * 10 * time.Millisecond
					break
				}
			}
		}
		if r.TTFT != wantTTFT {
			t.Errorf("TTFT = %v, want %v", r.TTFT, wantTTFT)
		}
	})
}

// FuzzBodyText checks the text taken from whole JSON bodies in each API's
// shape (chat message, legacy text, content parts split at k, Responses
// output, Anthropic content, reasoning) and the model named in a request
// body cut short after it, for any string s: each is s as a JSON decoder
// gives it back. A response body cut at cut still yields its id and model
// once they are whole.
func FuzzBodyText(f *testing.F) {
	f.Add("Hello, wörld", uint8(3), uint16(30))
	f.Add("\"quoted\"\n\\ <&> \u2028", uint8(0), uint16(0))
	f.Add("\xff\xfeinvalid", uint8(1), uint16(500))
	f.Add("", uint8(9), uint16(12))
	f.Fuzz(func(t *testing.T, s string, k uint8, cut uint16) {
		q := jsonQuote(s)
		split := int(k) % (len(s) + 1)
		want := roundTrip(s)
		bodies := []struct {
			name, body         string
			content, reasoning string
		}{
			{"Chat", `{"id":"g","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":` + q + `},"finish_reason":"stop"}]}`, want, ""},
			{"Legacy", `{"id":"g","model":"m","choices":[{"text":` + q + `}]}`, want, ""},
			{"Parts", `{"id":"g","model":"m","choices":[{"message":{"content":[{"type":"text","text":` + jsonQuote(s[:split]) + `},{"type":"text","text":` + jsonQuote(s[split:]) + `}]}}]}`,
				roundTrip(s[:split]) + roundTrip(s[split:]), ""},
			{"Responses", `{"id":"g","model":"m","output":[{"type":"message","content":[{"type":"output_text","text":` + q + `}]}],"status":"completed"}`, want, ""},
			{"Anthropic", `{"id":"g","model":"m","type":"message","content":[{"type":"text","text":` + q + `}],"stop_reason":"end_turn"}`, want, ""},
			{"Reasoning", `{"id":"g","model":"m","choices":[{"message":{"content":"","reasoning":` + q + `}}]}`, "", want},
		}
		for _, b := range bodies {
			r := exchange(200, jsonHeader(), bigLimit, b.body)
			r.Analyze()
			if r.Content != b.content || r.Reasoning != b.reasoning || r.Model != "m" || r.GenerationID != "g" {
				t.Errorf("%s: Content %q, Reasoning %q, Model %q, GenerationID %q; want %q, %q, m, g",
					b.name, r.Content, r.Reasoning, r.Model, r.GenerationID, b.content, b.reasoning)
			}

			// The same body cut short.
			n := int(cut) % (len(b.body) + 1)
			r = exchange(200, jsonHeader(), n, b.body)
			r.Analyze()
			if whole := len(`{"id":"g","model":"m"`); n >= whole && (r.Model != "m" || r.GenerationID != "g") {
				t.Errorf("%s cut at %d: Model %q, GenerationID %q", b.name, n, r.Model, r.GenerationID)
			}
		}

		// The model of a request body cut short after it.
		req := `{"model":` + q + `,"messages":[{"role":"user","content":"hi"}]}`
		limit := len(`{"model":`) + len(q) + int(cut)%8
		r := exchange(200, jsonHeader(), bigLimit, `{}`)
		r.ReqBody = capture.Body{Limit: limit}
		r.ReqBody.Write([]byte(req))
		r.Analyze()
		if r.ModelRequested != want {
			t.Errorf("ModelRequested = %q from %q, want %q", r.ModelRequested, r.ReqBodyStored, want)
		}
	})
}
