package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/openrouter-proxy/openrouter-proxy/app/mockupstream"
)

const testKey = "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef01234567feed"

func fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func chatParams(model, text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{
		Model:    model,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)},
	}
}

func TestSDKChat(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base})
	client := app.client(testKey)
	ctx := context.Background()

	t.Run("NonStreaming", func(t *testing.T) {
		resp, err := client.Chat.Completions.New(ctx, chatParams("openai/gpt-4o-mini", "plain hello"))
		if err != nil {
			t.Fatal(errorString(err))
		}
		got := resp.Choices[0].Message.Content
		if !strings.Contains(got, "plain hello") {
			t.Fatalf("content %q does not echo the prompt", got)
		}
		r := app.one("body LIKE ?", "%plain hello%")
		if r.Status != 200 || r.Outcome != "ok" || r.Stream {
			t.Errorf("status %d outcome %q stream %v", r.Status, r.Outcome, r.Stream)
		}
		if r.Content != got {
			t.Errorf("recorded content %q, client got %q", r.Content, got)
		}
		if r.Model != "openai/gpt-4o-mini" || r.PromptTokens == 0 || r.CompletionTokens != resp.Usage.CompletionTokens || r.Cost <= 0 {
			t.Errorf("model %q usage %d/%d cost %v; SDK saw %+v", r.Model, r.PromptTokens, r.CompletionTokens, r.Cost, resp.Usage)
		}
		if r.KeyHash != fingerprint(testKey) || r.KeyMask != "sk-or-v1…feed" {
			t.Errorf("key hash %q mask %q", r.KeyHash, r.KeyMask)
		}
		if r.Path != "/chat/completions" || r.URL != "/v1/chat/completions" || r.Method != "POST" {
			t.Errorf("method %q url %q path %q", r.Method, r.URL, r.Path)
		}
		if r.GenerationID == "" || r.GenerationID != resp.ID {
			t.Errorf("generation id %q, body id %q", r.GenerationID, resp.ID)
		}
	})

	t.Run("Streaming", func(t *testing.T) {
		stream := client.Chat.Completions.NewStreaming(ctx, chatParams("deepseek/deepseek-r1", "stream hello"))
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for stream.Next() {
			acc.AddChunk(stream.Current())
			chunks++
		}
		if err := stream.Err(); err != nil {
			t.Fatal(errorString(err))
		}
		got := acc.Choices[0].Message.Content
		if chunks < 3 || !strings.Contains(got, "stream hello") {
			t.Fatalf("%d chunks, content %q", chunks, got)
		}
		r := app.one("body LIKE ?", "%stream hello%")
		if !r.Stream || r.Outcome != "ok" || r.Status != 200 {
			t.Errorf("stream %v outcome %q status %d", r.Stream, r.Outcome, r.Status)
		}
		if r.Content != got {
			t.Errorf("reassembled %q, client got %q", r.Content, got)
		}
		if r.Reasoning == "" {
			t.Error("reasoning of a reasoning model was not reassembled")
		}
		if r.CompletionTokens != acc.Usage.CompletionTokens || r.Cost <= 0 || r.FinishReason != "stop" {
			t.Errorf("completion tokens %d (client %d), cost %v, finish %q", r.CompletionTokens, acc.Usage.CompletionTokens, r.Cost, r.FinishReason)
		}
		if r.TTFT <= 0 || r.TTFT > r.Duration {
			t.Errorf("ttft %vms duration %vms", r.TTFT, r.Duration)
		}
		if !bytes.HasPrefix(r.RespBody, []byte(": OPENROUTER PROCESSING")) || !bytes.HasSuffix(r.RespBody, []byte("data: [DONE]\n\n")) {
			t.Errorf("raw SSE not stored as received: %.80q…", r.RespBody)
		}
	})

	t.Run("APIPrefix", func(t *testing.T) {
		resp := app.do("GET", "/api/v1/models?supported_parameters=tools", nil, map[string]string{"Authorization": "Bearer " + testKey})
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		r := app.one("url = ?", "/api/v1/models?supported_parameters=tools")
		if r.Path != "/models" || r.Method != "GET" {
			t.Errorf("path %q method %q", r.Path, r.Method)
		}
	})

	t.Run("UnknownPrefix404", func(t *testing.T) {
		resp := app.do("GET", "/v2/models", nil, nil)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.Contains(string(body), `"error"`) {
			t.Fatalf("status %d body %s", resp.StatusCode, body)
		}
	})
}

// TestIncrementalSSE proves events reach the client one by one: the upstream
// will not write event 2 until the test has read event 1 through the proxy.
func TestIncrementalSSE(t *testing.T) {
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		fl := w.(http.Flusher)
		io.WriteString(w, ": OPENROUTER PROCESSING\n\n")
		fl.Flush()
		io.WriteString(w, `data: {"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"content":"one "}}]}`+"\n\n")
		fl.Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, `data: {"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"content":"two"},"finish_reason":"stop"}]}`+"\n\n")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	defer upstream.Close()
	app := startApp(t, map[string]string{"OPENAI_API_BASE": upstream.URL + "/api/v1"})

	resp := app.do("POST", "/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true}`), map[string]string{"Authorization": "Bearer " + testKey})
	defer resp.Body.Close()
	events := readEvents(resp.Body)
	if ev := next(t, events); ev != ": OPENROUTER PROCESSING\n" {
		t.Fatalf("first event %q: comment lines must pass through", ev)
	}
	if ev := next(t, events); !strings.Contains(ev, "one ") {
		t.Fatalf("second event %q", ev)
	}
	close(release)
	if ev := next(t, events); !strings.Contains(ev, "two") {
		t.Fatalf("third event %q", ev)
	}
	if ev := next(t, events); ev != "data: [DONE]\n" {
		t.Fatalf("last event %q", ev)
	}
	r := app.one("1=1")
	if r.Content != "one two" || r.FinishReason != "stop" || r.Outcome != "ok" {
		t.Errorf("content %q finish %q outcome %q", r.Content, r.FinishReason, r.Outcome)
	}
}

func TestUpstreamSees(t *testing.T) {
	_, base := startMockServer(t)
	const defaultKey = "sk-or-v1-default-key-for-anonymous-callers-000000000000000000cafe"
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base, "DEFAULT_APIKEY": defaultKey})

	headers := func(t *testing.T, h map[string]string) map[string][]string {
		resp := app.do("GET", "/v1/headers", nil, h)
		defer resp.Body.Close()
		var got map[string]json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
			t.Fatalf("status %d err %v", resp.StatusCode, err)
		}
		out := map[string][]string{}
		for k, v := range got {
			var vals []string
			if json.Unmarshal(v, &vals) == nil {
				out[k] = vals
			}
		}
		return out
	}

	t.Run("DefaultKeyInjected", func(t *testing.T) {
		h := headers(t, map[string]string{"X-Test": "keyless"})
		if got := h["Authorization"]; len(got) != 1 || got[0] != "Bearer "+defaultKey {
			t.Fatalf("upstream Authorization %q", got)
		}
		r := app.one("headers LIKE ?", "%keyless%")
		if r.KeyHash != fingerprint(defaultKey) {
			t.Errorf("key hash %q, want the default key's", r.KeyHash)
		}
	})

	t.Run("ClientKeyWins", func(t *testing.T) {
		h := headers(t, map[string]string{"Authorization": "Bearer " + testKey})
		if got := h["Authorization"]; len(got) != 1 || got[0] != "Bearer "+testKey {
			t.Fatalf("upstream Authorization %q", got)
		}
	})

	t.Run("AttributionPassesClientIPDoesNot", func(t *testing.T) {
		h := headers(t, map[string]string{
			"HTTP-Referer":       "https://example.test/app",
			"X-OpenRouter-Title": "My App",
			"X-Title":            "My Old App",
			"X-Forwarded-For":    "203.0.113.7",
			"X-Real-Ip":          "203.0.113.7",
			"Forwarded":          "for=203.0.113.7",
		})
		for k, want := range map[string]string{"Http-Referer": "https://example.test/app", "X-Openrouter-Title": "My App", "X-Title": "My Old App"} {
			if got := h[k]; len(got) != 1 || got[0] != want {
				t.Errorf("upstream %s = %q, want %q", k, got, want)
			}
		}
		for _, k := range []string{"X-Forwarded-For", "X-Real-Ip", "Forwarded", "X-Forwarded-Host", "X-Forwarded-Proto"} {
			if got, ok := h[k]; ok {
				t.Errorf("upstream got %s: %q", k, got)
			}
		}
	})

	t.Run("OnlyDecodableEncodings", func(t *testing.T) {
		for accept, want := range map[string]string{
			"br, gzip;q=0.8, zstd": "gzip;q=0.8",
			"gzip, deflate, br":    "gzip, deflate",
			"br":                   "",
		} {
			h := headers(t, map[string]string{"Accept-Encoding": accept})
			got := strings.Join(h["Accept-Encoding"], ",")
			if got != want {
				t.Errorf("client %q: upstream got %q, want %q", accept, got, want)
			}
		}
	})
}

func TestRetryThenOK(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base})
	client := app.client(testKey, option.WithHeader("X-Mock-Scenario", "flaky"), option.WithHeader("X-Mock-Key", "retry-test"))
	resp, err := client.Chat.Completions.New(context.Background(), chatParams("openai/gpt-4o-mini", "flaky hello"))
	if err != nil {
		t.Fatalf("want success after a retry, got %s", errorString(err))
	}
	if !strings.Contains(resp.Choices[0].Message.Content, "flaky hello") {
		t.Fatalf("content %q", resp.Choices[0].Message.Content)
	}
	r := app.one("body LIKE ?", "%flaky hello%")
	if r.Attempts != 2 || r.Status != 200 || r.Outcome != "ok" {
		t.Errorf("attempts %d status %d outcome %q", r.Attempts, r.Status, r.Outcome)
	}
}

func TestRetriesExhausted(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base, "RETRY_COUNT": "1"})
	client := app.client(testKey, option.WithHeader("X-Mock-Scenario", "flaky"), option.WithHeader("X-Mock-Key", "exhaust"), option.WithHeader("X-Mock-Fail-Times", "5"))
	_, err := client.Chat.Completions.New(context.Background(), chatParams("openai/gpt-4o-mini", "exhausted"))
	var apiErr *openai.Error
	if !errorsAs(err, &apiErr) || apiErr.StatusCode != 503 {
		t.Fatalf("want the upstream's 503, got %s", errorString(err))
	}
	r := app.one("body LIKE ?", "%exhausted%")
	if r.Attempts != 2 || r.Outcome != "upstream_error" || r.Error == "" {
		t.Errorf("attempts %d outcome %q error %q", r.Attempts, r.Outcome, r.Error)
	}
}

func TestTimeout504(t *testing.T) {
	mock, base := startMockServer(t)
	cancelled := make(chan bool, 1)
	mock.OnDone = func(e mockupstream.Event) { cancelled <- e.Cancelled }
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base, "REQUEST_TIMEOUT": "0.5", "RETRY_COUNT": "0"})
	resp := app.do("POST", "/v1/chat/completions", strings.NewReader(`{"model":"mock/hang","messages":[{"role":"user","content":"hang"}]}`),
		map[string]string{"Authorization": "Bearer " + testKey, "Content-Type": "application/json"})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct {
		Error struct {
			Message, Type string
			Code          int
		}
	}
	if resp.StatusCode != 504 || json.Unmarshal(body, &e) != nil || e.Error.Type != "timeout" || e.Error.Code != 504 || e.Error.Message == "" {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	select {
	case c := <-cancelled:
		if !c {
			t.Error("upstream request was not cancelled")
		}
	case <-time.After(10 * time.Second):
		t.Error("upstream handler never ended")
	}
	if !strings.Contains(e.Error.Message, "REQUEST_TIMEOUT: the upstream sent no response headers") {
		t.Errorf("the client is not told which limit fired: %q", e.Error.Message)
	}
	r := app.one("1=1")
	if r.Outcome != "timeout" || r.Status != 504 || !strings.Contains(r.Error, "REQUEST_TIMEOUT: the upstream sent no response headers") {
		t.Errorf("outcome %q status %d error %q", r.Outcome, r.Status, r.Error)
	}
}

func TestUpstreamUnreachable(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	base := dead.URL + "/api/v1"
	dead.Close()
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base, "RETRY_COUNT": "1"})
	resp := app.do("GET", "/v1/models", nil, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.Contains(string(body), `"type":"upstream_error"`) {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	r := app.one("1=1")
	if r.Outcome != "proxy_error" || r.Attempts != 2 || r.Status != 502 {
		t.Errorf("outcome %q attempts %d status %d", r.Outcome, r.Attempts, r.Status)
	}
}

func TestClientCancelStopsUpstream(t *testing.T) {
	mock, base := startMockServer(t)
	done := make(chan mockupstream.Event, 1)
	mock.OnDone = func(e mockupstream.Event) { done <- e }
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base})

	ctx, cancel := context.WithCancel(context.Background())
	events := slowStream(t, ctx, app.proxyURL, "please cancel me soon", 300)
	next(t, events) // processing comment
	next(t, events) // role chunk
	if ev := next(t, events); !strings.Contains(ev, "content") {
		t.Fatalf("event %q", ev)
	}
	cancel()
	select {
	case e := <-done:
		if !e.Cancelled {
			t.Error("the upstream handler finished its stream: it was not cancelled")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request was not cancelled when the client left")
	}
	r := app.one("1=1")
	if r.Outcome != "cancelled" {
		t.Errorf("outcome %q, want cancelled", r.Outcome)
	}
	if r.Content == "" || strings.Contains(r.Content, "cancel me soon") {
		t.Errorf("content %q: want what was streamed so far, not the whole reply", r.Content)
	}
}

func TestMidStreamErrorRecordedAsFailed(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base})
	client := app.client(testKey)
	stream := client.Chat.Completions.NewStreaming(context.Background(), chatParams("mock/midstream-error", "break please"))
	for stream.Next() {
	}
	stream.Close()
	r := app.one("1=1")
	if r.Status != 200 || r.Outcome != "stream_error" || !strings.Contains(r.Error, "mid-stream") {
		t.Errorf("status %d outcome %q error %q", r.Status, r.Outcome, r.Error)
	}
}

func TestUpstreamErrorPassesThrough(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base})
	client := app.client(testKey, option.WithHeader("X-Mock-Status", "402"))
	_, err := client.Chat.Completions.New(context.Background(), chatParams("mock/error", "no credits"))
	var apiErr *openai.Error
	if !errorsAs(err, &apiErr) || apiErr.StatusCode != 402 {
		t.Fatalf("got %s", errorString(err))
	}
	r := app.one("1=1")
	if r.Status != 402 || r.Outcome != "upstream_error" || !strings.Contains(r.Error, "Mock error 402") || r.Attempts != 1 {
		t.Errorf("status %d outcome %q error %q attempts %d", r.Status, r.Outcome, r.Error, r.Attempts)
	}
}

// patternReader yields n bytes of a repeating pattern without holding them.
type patternReader struct{ n, off int64 }

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.n-p.off)
	for i := range k {
		b[i] = byte((p.off + i) % 251)
	}
	p.off += k
	return int(k), nil
}

func TestLargeBodyBoundedMemory(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base, "LOG_LEVEL": "info"})
	const size = 50 << 20
	h := sha256.New()
	io.Copy(h, &patternReader{n: size})
	wantSum := hex.EncodeToString(h.Sum(nil))

	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			var body io.Reader = &patternReader{n: size}
			if chunked {
				body = io.MultiReader(body) // hides the length: Transfer-Encoding: chunked
			}
			req, _ := http.NewRequest("POST", app.proxyURL+"/v1/sink", body)
			if !chunked {
				req.ContentLength = size
			}
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Bytes  int64
				Sha256 string
			}
			json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			runtime.ReadMemStats(&after)
			if resp.StatusCode != 200 || got.Bytes != size || got.Sha256 != wantSum {
				t.Fatalf("status %d, upstream got %d bytes sha %s", resp.StatusCode, got.Bytes, got.Sha256)
			}
			// Everything in this process allocates together (client, proxy,
			// mock), yet far less than the body: it was never held whole.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 30<<20 {
				t.Errorf("allocated %d MiB to pass a %d MiB body", alloc>>20, size>>20)
			}
		})
	}
	rs := app.rows(2, "path = '/sink'")
	for _, r := range rs {
		if !r.BodyTruncated || r.BodySize != size || len(r.Body) != 1<<20 {
			t.Errorf("stored %d bytes of %d, truncated %v", len(r.Body), r.BodySize, r.BodyTruncated)
		}
	}
}

func TestOddBodiesPassAndAreStored(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base})
	cases := map[string][]byte{
		"invalid-utf8": {0xff, 0xfe, 'h', 'i', 0xc3, 0x28, 0x00, 0x80},
		"plain-text":   []byte("not json at all {"),
		"binary":       bytes.Repeat([]byte{0, 1, 2, 255, 254}, 1000),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			resp := app.do("POST", "/v1/echo?case="+name, bytes.NewReader(body), map[string]string{"Content-Type": "application/octet-stream"})
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(got, body) {
				t.Fatalf("client got %q, sent %q", got, body)
			}
			r := app.one("url = ?", "/v1/echo?case="+name)
			if !bytes.Equal(r.Body, body) || !bytes.Equal(r.RespBody, body) {
				t.Errorf("stored request %q response %q", r.Body, r.RespBody)
			}
		})
	}
}

func TestGzipPassesAndIsRecordedDecoded(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base})
	payload := []byte(`{"hello":"compressed world"}`)
	req, _ := http.NewRequest("POST", app.proxyURL+"/v1/echo", bytes.NewReader(payload))
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("X-Mock-Gzip", "1")
	req.Header.Set("Content-Type", "application/json")
	// A transport that does not decode, to see the bytes as they came.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(zr)
	if !bytes.Equal(got, payload) {
		t.Fatalf("client decoded %q", got)
	}
	r := app.one("path = '/echo'")
	if !bytes.Equal(r.RespBody, payload) {
		t.Errorf("stored %q, want it decoded", r.RespBody)
	}
}

func TestParallelStreamsRecordedOnce(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base, "LOG_LEVEL": "info"})
	client := app.client(testKey)
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			stream := client.Chat.Completions.NewStreaming(context.Background(), chatParams("openai/gpt-4o-mini", fmt.Sprintf("parallel-%03d", i)))
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				errs <- err
				return
			}
			if !strings.Contains(acc.Choices[0].Message.Content, fmt.Sprintf("parallel-%03d", i)) {
				errs <- fmt.Errorf("stream %d got %q", i, acc.Choices[0].Message.Content)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(errorString(err))
	}
	// Shut down first, which flushes the writer: then the count is final,
	// and a duplicate committed late cannot slip past.
	if err := app.stop(); err != nil {
		t.Fatal(err)
	}
	rs := app.rows(n, "body LIKE '%parallel-%'")
	seen := map[string]int{}
	for _, r := range rs {
		for i := range n {
			if strings.Contains(r.Content, fmt.Sprintf("parallel-%03d", i)) {
				seen[fmt.Sprint(i)]++
			}
		}
		if r.Outcome != "ok" || !r.Stream {
			t.Errorf("record %s outcome %q stream %v", r.ID, r.Outcome, r.Stream)
		}
	}
	for i := range n {
		if seen[fmt.Sprint(i)] != 1 {
			t.Errorf("stream %d recorded %d times", i, seen[fmt.Sprint(i)])
		}
	}
}

// TestPlaintextKeyStoredNowhere sends keys in every place a client can put
// one (the Authorization and X-Api-Key headers, a cookie, query parameters,
// JSON and form body fields, the injected default key), then greps every
// file in DATA_DIR, the logs, stdout and every API answer for them: no
// plaintext key appears anywhere.
func TestPlaintextKeyStoredNowhere(t *testing.T) {
	_, base := startMockServer(t)
	const secret = "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"
	const defaultKey = "sk-or-v1-another-secret-default-key-9d2f4a6c8e0b1d3f7f3e9a1c5b2d8e4f"
	const other = "sk-or-v1-third-secret-only-in-the-request-5e7f9a2c4b6d8e0f1a3c5e7b9d"
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base, "DEFAULT_APIKEY": defaultKey, "SUPER_ADMIN_APIKEY": secret,
		"LOG_LEVEL": "debug"})
	client := app.client(secret)
	ctx := context.Background()
	if _, err := client.Chat.Completions.New(ctx, chatParams("openai/gpt-4o-mini", "secret test")); err != nil {
		t.Fatal(errorString(err))
	}
	stream := client.Chat.Completions.NewStreaming(ctx, chatParams("openai/gpt-4o-mini", "secret stream"))
	for stream.Next() {
	}
	send := func(method, path, body string, header map[string]string) {
		resp := app.do(method, path, strings.NewReader(body), header)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// (Not /headers: that mock endpoint echoes the key back in its body.)
	send("GET", "/v1/models", "", map[string]string{"X-Api-Key": secret, "Cookie": "k=" + secret})
	send("GET", "/v1/models", "", nil) // injected default key
	for _, q := range []string{"key", "api-key", "api_key", "apiKey", "access_token", "token"} {
		send("GET", "/v1/models?"+q+"="+other+"&limit=5", "", map[string]string{"Authorization": "Bearer " + secret})
	}
	send("POST", "/v1/chat/completions", `{"model":"openai/gpt-4o-mini","api_key":"`+other+`","apiKey":"`+other+
		`","messages":[{"role":"user","content":"my key is `+secret+`"}]}`,
		map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"})
	send("POST", "/v1/echo", "api_key="+other+"&x=1",
		map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/x-www-form-urlencoded"})
	app.rows(12, "1=1")

	leaks := func(where, text string) {
		t.Helper()
		for _, k := range []string{secret, defaultKey, other} {
			if strings.Contains(text, k) || strings.Contains(text, k[9:40]) {
				i := strings.Index(text, k[9:40])
				t.Errorf("%s holds a plaintext key (%s…): …%s…", where, k[:16], text[max(0, i-200):i])
			}
		}
	}
	// Every API answer an admin can get.
	api := func(path string) string {
		resp := app.doWeb("GET", path, map[string]string{"Authorization": "Bearer " + secret})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	list := api("/api/requests?page_size=100")
	leaks("/api/requests", list)
	leaks("/api/stats", api("/api/stats"))
	var ids struct{ Requests []struct{ ID string } }
	if err := json.Unmarshal([]byte(list), &ids); err != nil || len(ids.Requests) != 12 {
		t.Fatalf("list: %v, %d records", err, len(ids.Requests))
	}
	for _, r := range ids.Requests {
		leaks("/api/request/"+r.ID, api("/api/request/"+r.ID))
		leaks("/request/"+r.ID, api("/request/"+r.ID))
	}
	leaks("the dashboard", api("/"))

	if err := app.stop(); err != nil {
		t.Fatal(err)
	}
	files := 0
	filepath.WalkDir(app.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files++
		leaks(path, string(b))
		return nil
	})
	if files == 0 {
		t.Fatal("DATA_DIR is empty")
	}
	leaks("the logs", app.logs.String())
	leaks("stdout", app.stdout.String())
}

func TestGracefulShutdownFinishesStream(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base})
	events := slowStream(t, context.Background(), app.proxyURL, "finish me during shutdown", 50)
	next(t, events)
	stopped := make(chan error, 1)
	go func() { stopped <- app.stop() }()
	if last := drain(events); last != "data: [DONE]\n" {
		t.Fatalf("stream cut during shutdown; last event %q", last)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("run returned %v", err)
	}
	// The program has exited: the record must already be on disk.
	r := app.one("1=1")
	if r.Outcome != "ok" || !strings.Contains(r.Content, "finish me during shutdown") {
		t.Errorf("outcome %q content %q", r.Outcome, r.Content)
	}
}

func TestBadConfigOneLine(t *testing.T) {
	for env, val := range map[string]string{"PROXY_PORT": "eighty", "OPENAI_API_BASE": "not a url", "REQUEST_TIMEOUT": "-1", "LOG_FORMAT": "xml"} {
		t.Run(env, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), nil, func(k string) string {
				if k == env {
					return val
				}
				return ""
			}, io.Discard, &stderr)
			if err == nil || !strings.Contains(err.Error(), env) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line naming %s", err, env)
			}
		})
	}
	t.Run("Flag", func(t *testing.T) {
		err := run(context.Background(), []string{"-proxy-port", "x"}, func(string) string { return "" }, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "PROXY_PORT") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestRetryAfterHonoured(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base})
	for _, tc := range []struct {
		name, after string
		attempts    int64
		status      int
	}{
		{"Short", "1", 2, 200}, // waited for, then retried
		{"Long", "60", 1, 503}, // passed to the client at once
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := app.do("POST", "/v1/chat/completions?case="+tc.name, strings.NewReader(`{"model":"mock/flaky","messages":[{"role":"user","content":"hi"}]}`),
				map[string]string{"Authorization": "Bearer " + testKey, "X-Mock-Key": "after-" + tc.name, "X-Mock-Retry-After": tc.after})
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			r := app.one("url = ?", "/v1/chat/completions?case="+tc.name)
			if r.Attempts != tc.attempts {
				t.Errorf("attempts %d, want %d", r.Attempts, tc.attempts)
			}
			if tc.attempts == 2 && r.Duration < 1000 {
				t.Errorf("duration %vms: Retry-After: 1 was not waited for", r.Duration)
			}
		})
	}
}

// TestNoRetryAfterSend: a connection that breaks after the request went out
// is not retried, since the upstream may already be generating (and
// billing) the answer.
func TestNoRetryAfterSend(t *testing.T) {
	var calls atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	defer upstream.Close()
	app := startApp(t, map[string]string{"OPENAI_API_BASE": upstream.URL + "/api/v1", "RETRY_COUNT": "3"})
	resp := app.do("POST", "/v1/chat/completions", strings.NewReader(`{"model":"m"}`), map[string]string{"Authorization": "Bearer " + testKey})
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	r := app.one("1=1")
	if n := calls.Load(); n != 1 || r.Attempts != 1 || r.Outcome != "proxy_error" {
		t.Errorf("upstream called %d times, attempts %d, outcome %q", n, r.Attempts, r.Outcome)
	}
}

// TestEarlyAnswerToLargeBody: the upstream answers before reading a large
// streamed body. The transport may still be sending when the exchange ends;
// the record must be consistent (run with -race).
func TestEarlyAnswerToLargeBody(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.CopyN(io.Discard, r.Body, 1<<20)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(413)
		io.WriteString(w, `{"error":{"code":413,"message":"too large"}}`)
	}))
	defer upstream.Close()
	app := startApp(t, map[string]string{"OPENAI_API_BASE": upstream.URL + "/api/v1", "RETRY_BODY_LIMIT": "1024", "LOG_LEVEL": "info"})
	req, _ := http.NewRequest("POST", app.proxyURL+"/v1/upload", &patternReader{n: 20 << 20})
	req.ContentLength = 20 << 20
	if resp, err := http.DefaultClient.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	r := app.one("path = '/upload'")
	if r.Status != 413 || r.Outcome != "upstream_error" || len(r.Body) == 0 {
		t.Errorf("status %d outcome %q stored %d bytes", r.Status, r.Outcome, len(r.Body))
	}
}

// TestShutdownCutOff: a stream still running when SHUTDOWN_GRACE runs out is
// cut, and its record blames the shutdown, not the client.
func TestShutdownCutOff(t *testing.T) {
	_, base := startMockServer(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base, "SHUTDOWN_GRACE": "0.3"})
	events := slowStream(t, context.Background(), app.proxyURL, "a long answer that will not finish in time", 2000)
	next(t, events)
	if err := app.stop(); err != nil {
		t.Fatalf("run returned %v", err)
	}
	r := app.one("1=1")
	if r.Outcome != "proxy_error" || !strings.Contains(r.Error, "shutdown") {
		t.Errorf("outcome %q error %q, want a shutdown cut-off", r.Outcome, r.Error)
	}
}
