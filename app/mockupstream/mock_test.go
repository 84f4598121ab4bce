package mockupstream_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/openrouter-proxy/openrouter-proxy/app/mockupstream"
)

const hello = "Hello from the mock! You said: "

// fixture is a mock behind a real listener, with its events on a channel.
type fixture struct {
	mock   *mockupstream.Mock
	srv    *httptest.Server
	events chan mockupstream.Event
}

// newFixture starts a mock; configure runs before it serves, since the
// mock's fields must not change while it serves.
func newFixture(t testing.TB, configure ...func(*mockupstream.Mock)) *fixture {
	t.Helper()
	f := &fixture{mock: mockupstream.New(), events: make(chan mockupstream.Event, 256)}
	f.mock.OnDone = func(e mockupstream.Event) {
		select {
		case f.events <- e:
		default: // never block the server on a test that does not listen
		}
	}
	for _, c := range configure {
		c(f.mock)
	}
	f.srv = httptest.NewServer(f.mock)
	t.Cleanup(f.srv.Close)
	return f
}

// event waits for the next Event.
func (f *fixture) event(t *testing.T) mockupstream.Event {
	t.Helper()
	select {
	case e := <-f.events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no Event from the mock within 5s")
		return mockupstream.Event{}
	}
}

// do sends a request to path on the mock and returns the response.
func (f *fixture) do(t *testing.T, ctx context.Context, method, path string, header map[string]string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (f *fixture) sdk() openai.Client {
	return openai.NewClient(
		option.WithBaseURL(f.srv.URL+"/api/v1/"),
		option.WithAPIKey("sk-test"),
		option.WithMaxRetries(0),
	)
}

// chatBody is a chat request with one user message.
func chatBody(model, text string, stream bool, extra string) string {
	b, _ := json.Marshal(text)
	s := `{"model":"` + model + `","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":` + string(b) + `}]`
	if stream {
		s += `,"stream":true`
	}
	return s + extra + "}"
}

// chunk is a streamed chat or text completion chunk.
type chunk struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Model    string `json:"model"`
	Provider string `json:"provider"`
	Choices  []struct {
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
		Delta        struct {
			Role      string `json:"role"`
			Content   string `json:"content"`
			Reasoning string `json:"reasoning"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens            int     `json:"prompt_tokens"`
		CompletionTokens        int     `json:"completion_tokens"`
		TotalTokens             int     `json:"total_tokens"`
		Cost                    float64 `json:"cost"`
		CompletionTokensDetails struct {
			ReasoningTokens int `json:"reasoning_tokens"`
		} `json:"completion_tokens_details"`
	} `json:"usage"`
	Error *apiError `json:"error"`
}

type apiError struct {
	Code     int            `json:"code"`
	Message  string         `json:"message"`
	Metadata map[string]any `json:"metadata"`
}

// sseEvent is one event of a stream and when the test read it.
type sseEvent struct {
	text string // the event without its terminating blank line
	at   time.Time
}

// readSSE reads events as they arrive, timing each.
func readSSE(t *testing.T, r io.Reader) []sseEvent {
	t.Helper()
	var events []sseEvent
	var cur strings.Builder
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line == "\n" {
			events = append(events, sseEvent{text: strings.TrimSuffix(cur.String(), "\n"), at: time.Now()})
			cur.Reset()
		} else {
			cur.WriteString(line)
		}
		if errors.Is(err, io.EOF) {
			if cur.Len() > 0 {
				t.Fatalf("stream ends inside an event: %q", cur.String())
			}
			return events
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// chunks decodes the data events, skipping comments and [DONE].
func chunks(t *testing.T, events []sseEvent) []chunk {
	t.Helper()
	var out []chunk
	for _, e := range events {
		data, ok := strings.CutPrefix(e.text, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		out = append(out, c)
	}
	return out
}

// decodeError reads an OpenRouter error body.
func decodeError(t *testing.T, resp *http.Response) apiError {
	t.Helper()
	var body struct {
		Error *apiError `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Error == nil {
		t.Fatal("body has no error object")
	}
	return *body.Error
}

func TestSDKChat(t *testing.T) {
	f := newFixture(t)
	client := f.sdk()
	res, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
		Model:    "anthropic/claude-3.5-sonnet",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Say hi")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Choices[0].Message.Content, hello+"Say hi"; got != want {
		t.Errorf("content = %q, want %q", got, want)
	}
	if res.Model != "anthropic/claude-3.5-sonnet" {
		t.Errorf("model = %q", res.Model)
	}
	if !strings.HasPrefix(res.ID, "gen-") || len(res.ID) != 24 {
		t.Errorf("id = %q, want gen- and 20 characters", res.ID)
	}
	u := res.Usage
	if u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage = %+v", u)
	}
	cost, err := strconv.ParseFloat(u.JSON.ExtraFields["cost"].Raw(), 64)
	if err != nil || cost <= 0 {
		t.Errorf("usage.cost = %q (%v), want > 0", u.JSON.ExtraFields["cost"].Raw(), err)
	}
	if e := f.event(t); e.Path != "/api/v1/chat/completions" || e.Status != 200 || e.Cancelled {
		t.Errorf("event = %+v", e)
	}
}

func TestSDKStream(t *testing.T) {
	f := newFixture(t)
	client := f.sdk()
	stream := client.Chat.Completions.NewStreaming(t.Context(), openai.ChatCompletionNewParams{
		Model:    "openai/gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Stream, please")},
	})
	var acc openai.ChatCompletionAccumulator
	var usageChunks int
	var cost string
	for stream.Next() {
		c := stream.Current()
		if !acc.AddChunk(c) {
			t.Fatalf("accumulator rejected chunk %s", c.RawJSON())
		}
		if c.JSON.Usage.Valid() && c.Usage.TotalTokens > 0 {
			usageChunks++
			if len(c.Choices) != 0 {
				t.Errorf("usage chunk has %d choices, want 0", len(c.Choices))
			}
			cost = c.Usage.JSON.ExtraFields["cost"].Raw()
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := acc.Choices[0].Message.Content, hello+"Stream, please"; got != want {
		t.Errorf("content = %q, want %q", got, want)
	}
	if got := acc.Choices[0].FinishReason; got != "stop" {
		t.Errorf("finish_reason = %q", got)
	}
	if usageChunks != 1 {
		t.Errorf("%d usage chunks, want 1", usageChunks)
	}
	if c, err := strconv.ParseFloat(cost, 64); err != nil || c <= 0 {
		t.Errorf("usage.cost = %q, want > 0", cost)
	}
}

func TestSDKEmbeddings(t *testing.T) {
	f := newFixture(t)
	client := f.sdk()
	res, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
		Model: "openai/text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"one", "two"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 || len(res.Data[0].Embedding) != 8 || res.Data[1].Index != 1 {
		t.Fatalf("data = %+v", res.Data)
	}
	if res.Usage.PromptTokens <= 0 || res.Usage.TotalTokens != res.Usage.PromptTokens {
		t.Errorf("usage = %+v", res.Usage)
	}
}

func TestStreamRaw(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		body     string
		object   string
		wantText string
	}{
		{"chat/api-v1", "/api/v1/chat/completions", chatBody("openai/gpt-4o-mini", "one two", true, ""), "chat.completion.chunk", hello + "one two"},
		{"chat/v1", "/v1/chat/completions", chatBody("", "x", true, ""), "chat.completion.chunk", hello + "x"},
		{"chat/bare", "/chat/completions", chatBody("", "a\n\"quoted\"  spaced", true, ""), "chat.completion.chunk", hello + "a\n\"quoted\"  spaced"},
		{"chat/content-parts", "/chat/completions", `{"stream":true,"messages":[{"role":"user","content":[{"type":"text","text":"part one"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"two"}]}]}`, "chat.completion.chunk", hello + "part one two"},
		{"chat/truncated", "/chat/completions", chatBody("", strings.Repeat("é", 130), true, ""), "chat.completion.chunk", hello + strings.Repeat("é", 120)},
		{"completions", "/api/v1/completions", `{"model":"m","prompt":"legacy prompt","stream":true}`, "text_completion", hello + "legacy prompt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			resp := f.do(t, t.Context(), "POST", tt.path, nil, tt.body)
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
				t.Errorf("Cache-Control = %q", cc)
			}
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(raw, []byte(": OPENROUTER PROCESSING\n\n")) {
				t.Errorf("stream starts %q", raw[:min(len(raw), 40)])
			}
			if !bytes.HasSuffix(raw, []byte("data: [DONE]\n\n")) {
				t.Errorf("stream ends %q", raw[max(0, len(raw)-40):])
			}
			cs := chunks(t, readSSE(t, bytes.NewReader(raw)))
			genID := resp.Header.Get("X-Generation-Id")
			if !strings.HasPrefix(genID, "gen-") {
				t.Errorf("X-Generation-Id = %q", genID)
			}
			var text strings.Builder
			var finishes []string
			for i, c := range cs {
				if c.ID != genID || c.Object != tt.object || c.Provider != "Mock" {
					t.Errorf("chunk %d: id %q object %q provider %q", i, c.ID, c.Object, c.Provider)
				}
				for _, ch := range c.Choices {
					text.WriteString(ch.Text + ch.Delta.Content)
					if ch.FinishReason != nil {
						finishes = append(finishes, *ch.FinishReason)
					}
				}
			}
			if text.String() != tt.wantText {
				t.Errorf("text = %q, want %q", text.String(), tt.wantText)
			}
			if len(finishes) != 1 || finishes[0] != "stop" {
				t.Errorf("finish reasons = %q, want one stop", finishes)
			}
			last := cs[len(cs)-1]
			if last.Usage == nil || len(last.Choices) != 0 || last.Usage.TotalTokens == 0 || last.Usage.Cost <= 0 {
				t.Errorf("last chunk is not a usage chunk: %+v", last)
			}
		})
	}
}

func TestStreamChunkCount(t *testing.T) {
	for _, n := range []int{1, 3, 20, 57} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			f := newFixture(t)
			resp := f.do(t, t.Context(), "POST", "/chat/completions",
				map[string]string{"X-Mock-Chunks": strconv.Itoa(n)}, chatBody("", "bench", true, ""))
			content := 0
			var text strings.Builder
			for _, c := range chunks(t, readSSE(t, resp.Body)) {
				if len(c.Choices) > 0 && c.Choices[0].Delta.Content != "" {
					content++
					text.WriteString(c.Choices[0].Delta.Content)
				}
			}
			if content != n {
				t.Errorf("%d content chunks, want %d", content, n)
			}
			if n > 6 && !strings.Contains(text.String(), "bench Hello") {
				t.Errorf("cycled text lacks a separator: %q", text.String())
			}
		})
	}
}

func TestNonStream(t *testing.T) {
	tests := []struct {
		name, path, body, want string
	}{
		{"chat", "/chat/completions", chatBody("", "plain", false, ""), hello + "plain"},
		{"completions", "/completions", `{"prompt":["first","second"]}`, hello + "first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			resp := f.do(t, t.Context(), "POST", tt.path, nil, tt.body)
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/json" {
				t.Fatalf("status %d, Content-Type %q", resp.StatusCode, ct)
			}
			var body struct {
				ID       string `json:"id"`
				Model    string `json:"model"`
				Provider string `json:"provider"`
				Choices  []struct {
					Text         string `json:"text"`
					FinishReason string `json:"finish_reason"`
					Message      struct {
						Role    string `json:"role"`
						Content string `json:"content"`
					} `json:"message"`
				} `json:"choices"`
				Usage struct {
					PromptTokens        int     `json:"prompt_tokens"`
					Cost                float64 `json:"cost"`
					PromptTokensDetails *struct {
						CachedTokens int `json:"cached_tokens"`
					} `json:"prompt_tokens_details"`
					CostDetails *struct {
						UpstreamInferenceCost float64 `json:"upstream_inference_cost"`
					} `json:"cost_details"`
				} `json:"usage"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if body.ID != resp.Header.Get("X-Generation-Id") || body.Model != "openai/gpt-4o-mini" || body.Provider != "Mock" {
				t.Errorf("id %q (header %q), model %q, provider %q", body.ID, resp.Header.Get("X-Generation-Id"), body.Model, body.Provider)
			}
			c := body.Choices[0]
			if got := c.Text + c.Message.Content; got != tt.want || c.FinishReason != "stop" {
				t.Errorf("text %q finish %q, want %q stop", got, c.FinishReason, tt.want)
			}
			u := body.Usage
			if u.PromptTokens <= 0 || u.Cost <= 0 || u.PromptTokensDetails == nil || u.CostDetails == nil || u.CostDetails.UpstreamInferenceCost != u.Cost {
				t.Errorf("usage = %+v", u)
			}
		})
	}
}

func TestScenarioError(t *testing.T) {
	tests := []struct {
		name       string
		header     map[string]string
		model      string
		wantStatus int
		wantRetry  string
	}{
		{"default status", map[string]string{"X-Mock-Scenario": "error"}, "", 400, ""},
		{"by model", nil, "mock/error", 400, ""},
		{"429 with retry", map[string]string{"X-Mock-Scenario": "error", "X-Mock-Status": "429", "X-Mock-Retry-After": "0"}, "", 429, "0"},
		{"503", map[string]string{"X-Mock-Scenario": "error", "X-Mock-Status": "503"}, "", 503, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			resp := f.do(t, t.Context(), "POST", "/api/v1/chat/completions", tt.header, chatBody(tt.model, "x", true, ""))
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			e := decodeError(t, resp)
			if e.Code != tt.wantStatus || e.Message != "Mock error "+strconv.Itoa(tt.wantStatus) || e.Metadata["provider_name"] != "Mock" {
				t.Errorf("error = %+v", e)
			}
			if ev := f.event(t); ev.Scenario != "error" || ev.Status != tt.wantStatus {
				t.Errorf("event = %+v", ev)
			}
		})
	}
}

func TestScenarioMidstreamError(t *testing.T) {
	tests := []struct {
		name, path, model string
		header            map[string]string
	}{
		{"chat by header", "/chat/completions", "", map[string]string{"X-Mock-Scenario": "midstream-error"}},
		{"chat by model", "/chat/completions", "mock/midstream-error", nil},
		{"completions", "/completions", "mock/midstream-error", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			resp := f.do(t, t.Context(), "POST", tt.path, tt.header, chatBody(tt.model, "x", true, ""))
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			events := readSSE(t, resp.Body)
			if events[len(events)-1].text == "data: [DONE]" {
				t.Error("stream ends with [DONE]")
			}
			cs := chunks(t, events)
			content := 0
			for _, c := range cs[:len(cs)-1] {
				if len(c.Choices) > 0 && c.Choices[0].Delta.Content+c.Choices[0].Text != "" {
					content++
				}
			}
			if content != 2 {
				t.Errorf("%d content chunks before the error, want 2", content)
			}
			last := cs[len(cs)-1]
			if last.Error == nil || last.Error.Code != 502 || last.Error.Metadata["provider_name"] != "Mock" {
				t.Fatalf("last chunk error = %+v", last.Error)
			}
			if fr := last.Choices[0].FinishReason; fr == nil || *fr != "error" {
				t.Errorf("finish_reason = %v, want error", fr)
			}
			if last.ID != resp.Header.Get("X-Generation-Id") {
				t.Errorf("error chunk id %q, header %q", last.ID, resp.Header.Get("X-Generation-Id"))
			}
		})
	}
}

func TestScenarioHang(t *testing.T) {
	m := mockupstream.New()
	events := make(chan mockupstream.Event, 1)
	m.OnDone = func(e mockupstream.Event) { events <- e }
	started := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		m.ServeHTTP(w, r)
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/api/v1/chat/completions",
			strings.NewReader(chatBody("mock/hang", "x", true, "")))
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	<-started
	select {
	case e := <-events:
		t.Fatalf("handler ended before the client left: %+v", e)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("client error = %v, want context.Canceled", err)
	}
	select {
	case e := <-events:
		if !e.Cancelled || e.Scenario != "hang" || e.Status != 0 {
			t.Errorf("event = %+v, want cancelled hang with no status", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hang handler did not end after the client left")
	}
}

func TestScenarioFlaky(t *testing.T) {
	f := newFixture(t)
	steps := []struct {
		key, failTimes string
		want           int
	}{
		{"a", "2", 503},
		{"b", "", 503}, // keys count separately; default is one failure
		{"a", "2", 503},
		{"b", "", 200},
		{"a", "2", 200},
		{"a", "2", 200},
	}
	for i, s := range steps {
		h := map[string]string{"X-Mock-Scenario": "flaky", "X-Mock-Key": s.key, "X-Mock-Retry-After": "0"}
		if s.failTimes != "" {
			h["X-Mock-Fail-Times"] = s.failTimes
		}
		resp := f.do(t, t.Context(), "POST", "/chat/completions", h, chatBody("", "x", false, ""))
		if resp.StatusCode != s.want {
			t.Fatalf("step %d (key %q): status %d, want %d", i, s.key, resp.StatusCode, s.want)
		}
		if s.want == 503 {
			if e := decodeError(t, resp); e.Code != 503 || resp.Header.Get("Retry-After") != "0" {
				t.Errorf("step %d: error %+v, Retry-After %q", i, e, resp.Header.Get("Retry-After"))
			}
		}
		if ev := f.event(t); ev.Key != s.key || ev.Scenario != "flaky" || ev.Status != s.want {
			t.Errorf("step %d: event %+v", i, ev)
		}
	}
}

func TestScenarioSlowStream(t *testing.T) {
	f := newFixture(t)
	const delay = 100 * time.Millisecond
	resp := f.do(t, t.Context(), "POST", "/chat/completions",
		map[string]string{"X-Mock-Scenario": "slow", "X-Mock-Delay-Ms": "100", "X-Mock-Chunks": "2"},
		chatBody("", "x", true, ""))
	events := readSSE(t, resp.Body)
	// processing, role, 2 content, usage, [DONE]
	if len(events) != 6 {
		t.Fatalf("%d events, want 6", len(events))
	}
	if gap := events[1].at.Sub(events[0].at); gap < delay/2 {
		t.Errorf("second event %v after the first: the stream was buffered", gap)
	}
	if span, want := events[len(events)-1].at.Sub(events[0].at), delay*3/4*time.Duration(len(events)-1)/2; span < want {
		t.Errorf("events spread over %v, want ≥ %v", span, want)
	}
	if ev := f.event(t); ev.Cancelled || ev.Scenario != "slow" {
		t.Errorf("event = %+v", ev)
	}
}

func TestScenarioSlowCancel(t *testing.T) {
	f := newFixture(t)
	// The timeout fails the test, rather than hanging it, if the first
	// event is never flushed.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp := f.do(t, ctx, "POST", "/chat/completions",
		map[string]string{"X-Mock-Scenario": "slow", "X-Mock-Delay-Ms": "60000"},
		chatBody("", "x", true, ""))
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != ": OPENROUTER PROCESSING\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	// f.event fails after 5s, far less than the 60s pause.
	if ev := f.event(t); !ev.Cancelled || ev.Status != 200 {
		t.Errorf("event = %+v, want cancelled", ev)
	}
}

func TestScenarioDelays(t *testing.T) {
	tests := []struct {
		name     string
		scenario string
		stream   bool
	}{
		{"slow non-stream", "slow", false},
		{"slow-first stream", "slow-first", true},
		{"slow-first non-stream", "slow-first", false},
	}
	const delay = 80 * time.Millisecond
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			start := time.Now()
			resp := f.do(t, t.Context(), "POST", "/chat/completions",
				map[string]string{"X-Mock-Scenario": tt.scenario, "X-Mock-Delay-Ms": "80"},
				chatBody("", "x", tt.stream, ""))
			if ttfb := time.Since(start); ttfb < delay {
				t.Errorf("headers after %v, want ≥ %v", ttfb, delay)
			}
			if resp.StatusCode != 200 {
				t.Errorf("status = %d", resp.StatusCode)
			}
			io.Copy(io.Discard, resp.Body)
		})
	}
}

func TestDefaultDelay(t *testing.T) {
	f := newFixture(t, func(m *mockupstream.Mock) { m.DefaultDelay = 50 * time.Millisecond })
	start := time.Now()
	resp := f.do(t, t.Context(), "POST", "/chat/completions", nil, chatBody("mock/slow-first", "x", false, ""))
	if elapsed := time.Since(start); resp.StatusCode != 200 || elapsed < 50*time.Millisecond || elapsed > 250*time.Millisecond {
		t.Errorf("status %d after %v, want 200 after about 50ms", resp.StatusCode, elapsed)
	}
}

func TestTools(t *testing.T) {
	tools := `,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`
	t.Run("stream", func(t *testing.T) {
		f := newFixture(t)
		resp := f.do(t, t.Context(), "POST", "/chat/completions", nil, chatBody("", "Weather?", true, tools))
		var args strings.Builder
		var name, id, finish string
		pieces := 0
		for _, c := range chunks(t, readSSE(t, resp.Body)) {
			for _, ch := range c.Choices {
				if ch.Delta.Content != "" {
					t.Errorf("text content %q in a tool call", ch.Delta.Content)
				}
				for _, tc := range ch.Delta.ToolCalls {
					name += tc.Function.Name
					id += tc.ID
					if tc.Function.Arguments != "" {
						pieces++
						args.WriteString(tc.Function.Arguments)
					}
				}
				if ch.FinishReason != nil {
					finish = *ch.FinishReason
				}
			}
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(args.String()), &got); err != nil || got["city"] != "Paris" || len(got) != 1 {
			t.Errorf("arguments %q (%v), want {\"city\":\"Paris\"}", args.String(), err)
		}
		if pieces < 3 || name != "get_weather" || !strings.HasPrefix(id, "call_") || finish != "tool_calls" {
			t.Errorf("pieces %d, name %q, id %q, finish %q", pieces, name, id, finish)
		}
	})
	t.Run("sdk", func(t *testing.T) {
		f := newFixture(t)
		client := f.sdk()
		res, err := client.Chat.Completions.New(t.Context(), openai.ChatCompletionNewParams{
			Model:    "openai/gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather?")},
			Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
				Name: "get_weather",
			})},
		})
		if err != nil {
			t.Fatal(err)
		}
		c := res.Choices[0]
		if c.FinishReason != "tool_calls" || len(c.Message.ToolCalls) != 1 {
			t.Fatalf("choice = %+v", c)
		}
		fn := c.Message.ToolCalls[0].Function
		if fn.Name != "get_weather" || fn.Arguments != `{"city":"Paris"}` {
			t.Errorf("function = %+v", fn)
		}
	})
}

func TestReasoning(t *testing.T) {
	tests := []struct {
		model         string
		wantReasoning bool
	}{
		{"deepseek/deepseek-r1", true},
		{"anthropic/claude-3.7-sonnet:thinking", true},
		{"some/reasoning-model", true},
		{"openai/gpt-4o-mini", false},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			f := newFixture(t)
			resp := f.do(t, t.Context(), "POST", "/chat/completions", nil, chatBody(tt.model, "think", true, ""))
			var reasoning, content strings.Builder
			reasoningAfterContent := false
			cs := chunks(t, readSSE(t, resp.Body))
			for _, c := range cs {
				for _, ch := range c.Choices {
					if ch.Delta.Reasoning != "" && content.Len() > 0 {
						reasoningAfterContent = true
					}
					reasoning.WriteString(ch.Delta.Reasoning)
					content.WriteString(ch.Delta.Content)
				}
			}
			if got := reasoning.Len() > 0; got != tt.wantReasoning || reasoningAfterContent {
				t.Errorf("reasoning %q (after content: %v), want reasoning: %v", reasoning.String(), reasoningAfterContent, tt.wantReasoning)
			}
			if content.String() != hello+"think" {
				t.Errorf("content = %q", content.String())
			}
			u := cs[len(cs)-1].Usage
			if got := u.CompletionTokensDetails.ReasoningTokens > 0; got != tt.wantReasoning || u.CompletionTokens <= u.CompletionTokensDetails.ReasoningTokens {
				t.Errorf("usage = %+v", u)
			}
		})
	}
}

func TestEcho(t *testing.T) {
	invalidUTF8 := []byte{'a', 0xff, 0xfe, 0x00, 0xc3, 0x28, '\n', 0x80}
	tests := []struct {
		name        string
		body        []byte
		contentType string
		gzip        bool
		wantType    string
	}{
		{"invalid utf-8", invalidUTF8, "application/json", false, "application/json"},
		{"no content type", invalidUTF8, "", false, "application/octet-stream"},
		{"empty", nil, "text/plain", false, "text/plain"},
		{"gzip", bytes.Repeat([]byte("compress me "), 1000), "text/plain", true, "text/plain"},
		{"gzip invalid utf-8", invalidUTF8, "", true, "application/octet-stream"},
	}
	// Without DisableCompression the transport would silently gunzip and
	// hide Content-Encoding from the test.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			req, _ := http.NewRequestWithContext(t.Context(), "POST", f.srv.URL+"/api/v1/echo", bytes.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.gzip {
				req.Header.Set("X-Mock-Gzip", "1")
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var r io.Reader = resp.Body
			if enc := resp.Header.Get("Content-Encoding"); (enc == "gzip") != tt.gzip {
				t.Errorf("Content-Encoding = %q", enc)
			}
			if tt.gzip {
				zr, err := gzip.NewReader(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				r = zr
			}
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.body) {
				t.Errorf("echo = %q, want %q", got, tt.body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", ct, tt.wantType)
			}
		})
	}
}

// pattern is an endless, deterministic, non-repeating-looking byte stream.
type pattern struct{ n uint32 }

func (p *pattern) Read(b []byte) (int, error) {
	for i := range b {
		p.n = p.n*1664525 + 1013904223
		b[i] = byte(p.n >> 24)
	}
	return len(b), nil
}

func TestSink(t *testing.T) {
	f := newFixture(t)
	const size = 10 << 20
	h := sha256.New()
	body := io.TeeReader(io.LimitReader(&pattern{}, size), h)
	// The reader hides its length, so the upload is chunked: the mock must
	// not rely on Content-Length.
	req, _ := http.NewRequestWithContext(t.Context(), "POST", f.srv.URL+"/sink", io.NopCloser(body))
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Bytes  int64  `json:"bytes"`
		SHA256 string `json:"sha256"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(h.Sum(nil)); got.Bytes != size || got.SHA256 != want {
		t.Errorf("sink = %+v, want %d bytes, sha256 %s", got, size, want)
	}
}

func TestHeaders(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			f := newFixture(t)
			resp := f.do(t, t.Context(), method, "/api/v1/headers", map[string]string{
				"X-OpenRouter-Title": "My App",
				"HTTP-Referer":       "https://example.com",
				"Authorization":      "Bearer sk-or-v1-test",
			}, "")
			var got map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{
				"X-Openrouter-Title": "My App",
				"Http-Referer":       "https://example.com",
				"Authorization":      "Bearer sk-or-v1-test",
				"Host":               strings.TrimPrefix(f.srv.URL, "http://"),
			}
			for k, v := range want {
				vs, _ := got[k].([]any)
				if len(vs) != 1 || vs[0] != v {
					t.Errorf("%s = %v, want [%s]", k, got[k], v)
				}
			}
			if ra, _ := got["_remote_addr"].(string); !strings.HasPrefix(ra, "127.0.0.1:") {
				t.Errorf("_remote_addr = %v", got["_remote_addr"])
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantMessage              string
	}{
		{"unknown path", "GET", "/api/v1/nope", "", 404, "Not found: /api/v1/nope"},
		{"unknown bare path", "POST", "/v1x/chat/completions", "", 404, "Not found: /v1x/chat/completions"},
		{"wrong method", "GET", "/api/v1/chat/completions", "", 405, "Method not allowed: GET /api/v1/chat/completions"},
		{"wrong method on models", "POST", "/models", "{}", 405, "Method not allowed: POST /models"},
		{"invalid json", "POST", "/chat/completions", "{not json", 400, ""},
		{"invalid json completions", "POST", "/completions", "[", 400, ""},
		{"unknown scenario", "POST", "/chat/completions", `{"model":"mock/nonsense"}`, 400, "Unknown mock scenario: nonsense"},
		{"generation without id", "GET", "/generation", "", 400, "Missing id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			resp := f.do(t, t.Context(), tt.method, tt.path, nil, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			e := decodeError(t, resp)
			if e.Code != tt.wantStatus || e.Metadata == nil || (tt.wantMessage != "" && e.Message != tt.wantMessage) {
				t.Errorf("error = %+v, want code %d, message %q, metadata {}", e, tt.wantStatus, tt.wantMessage)
			}
		})
	}
}

func TestInfoEndpoints(t *testing.T) {
	tests := []struct {
		path  string
		check func(t *testing.T, body map[string]any)
	}{
		{"/api/v1/models", func(t *testing.T, body map[string]any) {
			data, _ := body["data"].([]any)
			ids := map[string]bool{}
			for _, d := range data {
				m := d.(map[string]any)
				ids[m["id"].(string)] = true
				if _, ok := m["pricing"].(map[string]any)["prompt"].(string); !ok || m["context_length"] == nil || m["name"] == nil {
					t.Errorf("model %v lacks pricing, name or context_length", m["id"])
				}
			}
			for _, id := range []string{"openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet", "deepseek/deepseek-r1", "google/gemini-2.0-flash-001", "meta-llama/llama-3.3-70b-instruct"} {
				if !ids[id] {
					t.Errorf("models lack %s", id)
				}
			}
		}},
		{"/api/v1/key", func(t *testing.T, body map[string]any) {
			d := body["data"].(map[string]any)
			if d["label"] != "sk-or-v1-abc...xyz" || d["usage"] != 0.12 || d["limit"] != nil || d["is_free_tier"] != false {
				t.Errorf("key = %v", d)
			}
		}},
		{"/v1/credits", func(t *testing.T, body map[string]any) {
			d := body["data"].(map[string]any)
			if d["total_credits"] != 10.0 || d["total_usage"] != 0.12 {
				t.Errorf("credits = %v", d)
			}
		}},
		{"/generation?id=gen-abc", func(t *testing.T, body map[string]any) {
			d := body["data"].(map[string]any)
			if d["id"] != "gen-abc" || d["provider_name"] != "Mock" || d["cancelled"] != false || d["total_cost"].(float64) <= 0 {
				t.Errorf("generation = %v", d)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f := newFixture(t)
			resp := f.do(t, t.Context(), "GET", tt.path, nil, "")
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d", resp.StatusCode)
			}
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			tt.check(t, body)
		})
	}
}

func TestEmbeddingsRaw(t *testing.T) {
	f := newFixture(t)
	get := func(input string) []float64 {
		resp := f.do(t, t.Context(), "POST", "/embeddings", nil, `{"model":"e","input":`+input+`}`)
		var body struct {
			Object string `json:"object"`
			Model  string `json:"model"`
			Data   []struct {
				Object    string    `json:"object"`
				Embedding []float64 `json:"embedding"`
			} `json:"data"`
			Usage struct {
				PromptTokens int `json:"prompt_tokens"`
			} `json:"usage"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if body.Object != "list" || body.Model != "e" || len(body.Data) != 1 || body.Data[0].Object != "embedding" || body.Usage.PromptTokens <= 0 {
			t.Fatalf("body = %+v", body)
		}
		return body.Data[0].Embedding
	}
	a, b, c := get(`"same"`), get(`"same"`), get(`"other"`)
	if len(a) != 8 || !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Errorf("embeddings %v %v %v: want 8 floats, equal for equal input", a, b, c)
	}
}

func TestServe(t *testing.T) {
	// Serve does not report its address, so reserve a free port first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	errc := make(chan error, 1)
	go func() { errc <- mockupstream.Serve(ctx, addr, logger) }()

	base := "http://" + addr + "/api/v1"
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(base + "/models")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET /models: %d", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Serve never answered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A long-running request must not hold up shutdown: request contexts
	// end with Serve's. A slow stream with a minute between events is
	// certainly in its handler once its first bytes have arrived; were
	// shutdown to wait for it, Serve would time out and return an error.
	req, _ := http.NewRequest("POST", base+"/chat/completions", strings.NewReader(chatBody("mock/slow", "x", true, "")))
	req.Header.Set("X-Mock-Delay-Ms", "60000")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatalf("no first event: %v", err)
	}
	hung := make(chan struct{})
	go func() {
		defer close(hung)
		io.Copy(io.Discard, resp.Body)
	}()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after a clean shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	<-hung

	if err := mockupstream.Serve(t.Context(), "256.0.0.1:bad", nil); err == nil {
		t.Error("Serve on a bad address returned nil")
	}
}

func BenchmarkStream(b *testing.B) {
	f := newFixture(b, func(m *mockupstream.Mock) { m.OnDone = nil })
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	body := chatBody("openai/gpt-4o-mini", "benchmark me", true, "")
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Mock-Chunks", "20")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n == 0 {
			b.Fatalf("status %d, %d bytes, %v", resp.StatusCode, n, err)
		}
	}
}
