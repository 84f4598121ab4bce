package bench_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/mockupstream"
)

// streamSize is the size of the streamed answer BenchmarkAnalyze1MiBStream
// analyses: the capture limit's default, the largest head a record holds.
const streamSize = 1 << 20

// keepAliveEvery is how many data events pass between two keep-alive
// comments in the benchmark stream; OpenRouter sends them while a provider
// is slow, so a long stream holds many.
const keepAliveEvery = 32

// mockStream returns a streamed chat answer of about size bytes as the mock
// upstream writes it (a reasoning model: reasoning chunks, then one content
// chunk per word, a finish chunk, the usage chunk and [DONE]), with a
// keep-alive comment between every keepAliveEvery events, and its headers.
func mockStream(tb testing.TB, size int) ([]byte, http.Header) {
	tb.Helper()
	fetch := func(chunks int) *httptest.ResponseRecorder {
		body := `{"model":"deepseek/deepseek-r1","stream":true,"messages":[{"role":"user","content":"Tell me a long story about a lighthouse keeper and the sea."}]}`
		req := httptest.NewRequest(http.MethodPost, "/api/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("X-Mock-Chunks", strconv.Itoa(chunks))
		w := httptest.NewRecorder()
		mockupstream.New().ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			tb.Fatalf("mock upstream: status %d: %s", w.Code, w.Body)
		}
		return w
	}
	// Size one chunk from a short stream, then ask for enough of them.
	probe := fetch(100).Body.Len()
	w := fetch(size * 100 / probe)

	var out bytes.Buffer
	out.Grow(size + size/16)
	for i, ev := range bytes.SplitAfter(w.Body.Bytes(), []byte("\n\n")) {
		if i > 0 && i%keepAliveEvery == 0 {
			out.WriteString(": OPENROUTER PROCESSING\n\n")
		}
		out.Write(ev)
	}
	return out.Bytes(), w.Header()
}

// eventPayloads returns the JSON payload of every data event in an SSE body.
func eventPayloads(body []byte) [][]byte {
	var out [][]byte
	for line := range bytes.Lines(body) {
		if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			if data = bytes.TrimSpace(data); data[0] == '{' {
				out = append(out, data)
			}
		}
	}
	return out
}

// BenchmarkAnalyze1MiBStream measures how many 1 MiB streamed answers the
// analysis gets through per second on one core: it runs on the store's
// single writer goroutine, so this rate caps how many such streams a second
// the proxy can record.
//
// The baseline, measured in the same run over the same bytes, is one
// json.Valid pass over every event's payload: the least any analysis that
// reads the JSON must do. x_baseline is the analysis time over the baseline
// time; it should stay a small multiple whatever machine runs it.
func BenchmarkAnalyze1MiBStream(b *testing.B) {
	body, header := mockStream(b, streamSize)
	payloads := eventPayloads(body)
	const key = "sk-or-v1-bench0bench0bench0bench0bench0bench0bench0bench0bench0"

	// proto is the exchange as the proxy leaves it for the writer. Analyze
	// replaces the record's header maps and never writes to its bodies, so
	// each iteration analyses a shallow copy and measures only the analysis.
	proto := capture.Record{
		Start:      time.Now(),
		Method:     http.MethodPost,
		URL:        "/v1/chat/completions",
		Path:       "/chat/completions",
		Status:     http.StatusOK,
		APIKey:     key,
		ReqHeader:  http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}},
		RespHeader: header,
		ReqBody:    capture.Body{Limit: streamSize},
		RespBody:   capture.Body{Limit: streamSize + streamSize/8},
	}
	proto.ReqBody.Write([]byte(`{"model":"deepseek/deepseek-r1","stream":true,"messages":[{"role":"user","content":"Tell me a long story."}]}`))
	for off := 0; off < len(body); off += 16 << 10 {
		end := min(off+16<<10, len(body))
		proto.RespBody.Write(body[off:end])
		proto.Marks.Add(int64(end), time.Duration(off))
	}
	// The expected result, from a first analysis, so each iteration can be
	// checked cheaply.
	want := proto
	want.Analyze()
	if !want.HasUsage || want.Content == "" || want.Reasoning == "" || want.Outcome != capture.OutcomeOK || want.RespTruncated {
		b.Fatalf("the benchmark stream did not analyse as a whole answer: usage %v, %d content bytes, outcome %s, truncated %v",
			want.HasUsage, len(want.Content), want.Outcome, want.RespTruncated)
	}

	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	var analysis, baseline time.Duration
	for b.Loop() {
		start := time.Now()
		for _, p := range payloads {
			if !json.Valid(p) {
				b.Fatal("invalid event payload")
			}
		}
		baseline += time.Since(start)
		r := proto
		start = time.Now()
		r.Analyze()
		analysis += time.Since(start)
		if r.Content != want.Content || r.TotalTokens != want.TotalTokens {
			b.Fatal("the analysis changed between runs")
		}
	}
	n := float64(b.N)
	b.ReportMetric(n/analysis.Seconds(), "records/s")
	b.ReportMetric(float64(analysis.Microseconds())/1e3/n, "ms/record")
	b.ReportMetric(analysis.Seconds()/baseline.Seconds(), "x_baseline")
	b.ReportMetric(float64(len(payloads)), "events/record")
}
