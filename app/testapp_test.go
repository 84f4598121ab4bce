package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/internal/syncbuf"
	"github.com/openrouter-proxy/openrouter-proxy/app/mockupstream"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// testApp is the real program, started by run() on free loopback ports.
type testApp struct {
	t        *testing.T
	proxyURL string // http://127.0.0.1:port
	webURL   string
	dataDir  string
	cancel   context.CancelFunc
	done     chan error
	logs     *syncBuffer
	stdout   *bannerWriter
	stopped  bool
	commits  chan struct{} // signalled after each commit of the store's writer
	dbh      *sql.DB       // opened by db() once
}

// syncBuffer is a buffer safe for the concurrent writes of a logger.
type syncBuffer = syncbuf.Buffer

// bannerWriter waits for the start-up banner of any role, whose URLs
// bannerURL finds.
type bannerWriter struct {
	syncBuffer
	once  sync.Once
	ready chan struct{}
}

// bannerDone matches a whole banner: its title, a line of '=', the lines
// that say where the process listens, and the closing line of '='.
var bannerDone = regexp.MustCompile(`(?m)^🚀 OpenRouter proxy.*\n=+\n(?:.*\n)*?=+\n`)

// bannerURL finds, in a whole banner, the proxy's URL (empty for the
// dashboard role) and the web port's: the dashboard, or for the proxy role
// the address of its /healthz and /metrics.
var bannerURL = regexp.MustCompile(`(?m)^(?:📡 Proxy server: (http://\S+)\n)?(?:🌐 Web dashboard: (http://\S+)|🩺 Health and metrics: (http://[^/\s]+)/healthz, /metrics)$`)

func (b *bannerWriter) Write(p []byte) (int, error) {
	n, err := b.syncBuffer.Write(p)
	if bannerDone.MatchString(b.String()) {
		b.once.Do(func() { close(b.ready) })
	}
	return n, err
}

// urls returns the proxy's URL and the web port's from the banner; either
// is empty when the role has none.
func (b *bannerWriter) urls() (proxyURL, webURL string) {
	m := bannerURL.FindStringSubmatch(b.String())
	if m == nil {
		return "", ""
	}
	return m[1], m[2] + m[3]
}

// startMockServer runs the mock upstream on a real loopback listener and
// returns its OPENAI_API_BASE.
func startMockServer(t *testing.T) (*mockupstream.Mock, string) {
	t.Helper()
	m := mockupstream.New()
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, srv.URL + "/api/v1"
}

// startApp runs the program with env on top of test defaults: free ports,
// a temporary DATA_DIR and debug logs.
func startApp(t *testing.T, env map[string]string, args ...string) *testApp {
	t.Helper()
	vars := map[string]string{
		"PROXY_PORT": "0",
		"WEB_PORT":   "0",
		"DATA_DIR":   t.TempDir(),
		"LOG_LEVEL":  "debug",
	}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &testApp{t: t, dataDir: vars["DATA_DIR"], cancel: cancel, done: make(chan error, 1), logs: &syncBuffer{},
		commits: make(chan struct{}, 1)}
	out := &bannerWriter{ready: make(chan struct{})}
	a.stdout = out
	committed := store.Hook{AfterCommit: func([]*capture.Record) {
		select {
		case a.commits <- struct{}{}:
		default: // a signal is already pending
		}
	}}
	go func() { a.done <- run(ctx, args, func(k string) string { return vars[k] }, out, a.logs, committed) }()
	select {
	case <-out.ready:
	case err := <-a.done:
		t.Fatalf("run exited before start: %v\nlogs:\n%s", err, a.logs)
	case <-time.After(20 * time.Second):
		t.Fatalf("no banner after 20s; stdout %q; logs:\n%s", out.String(), a.logs)
	}
	a.proxyURL, a.webURL = out.urls()
	t.Cleanup(func() { a.stop() })
	return a
}

// stop ends the program as SIGTERM would and returns run's error.
func (a *testApp) stop() error {
	if a.stopped {
		return nil
	}
	a.stopped = true
	a.cancel()
	select {
	case err := <-a.done:
		return err
	case <-time.After(60 * time.Second):
		a.t.Fatalf("run did not return within 60s of cancel")
		return nil
	}
}

// client returns an openai-go client pointed at the proxy.
func (a *testApp) client(key string, opts ...option.RequestOption) openai.Client {
	base := []option.RequestOption{
		option.WithBaseURL(a.proxyURL + "/v1/"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
	}
	return openai.NewClient(append(base, opts...)...)
}

// db opens the app's SQLite file read-only, as the dashboard would, once.
func (a *testApp) db() *sql.DB {
	a.t.Helper()
	if a.dbh != nil {
		return a.dbh
	}
	db, err := sql.Open("sqlite3", "file:"+a.dataDir+"/proxy_requests.db?mode=ro&_busy_timeout=5000")
	if err != nil {
		a.t.Fatal(err)
	}
	a.t.Cleanup(func() { db.Close() })
	a.dbh = db
	return db
}

// row is the part of a stored record the tests look at.
type row struct {
	ID, Method, URL, Path, Outcome, Error, Content, Reasoning, ToolCalls string
	KeyHash, KeyMask, Headers, Model, FinishReason, GenerationID         string
	Status, Attempts, PromptTokens, CompletionTokens                     int64
	Stream, BodyTruncated                                                bool
	Cost, TTFT, Duration                                                 float64
	Body, RespBody                                                       []byte
	BodySize                                                             int64
}

const rowColumns = `id, method, url, path, outcome, coalesce(error,''), coalesce(content,''), coalesce(reasoning,''),
	coalesce(tool_calls,''), key_hash, key_mask, headers, coalesce(model,''), coalesce(finish_reason,''),
	coalesce(generation_id,''), coalesce(response_status,0), coalesce(attempts,0), coalesce(prompt_tokens,0),
	coalesce(completion_tokens,0), coalesce(is_stream,0), coalesce(body_truncated,0), coalesce(cost,0),
	coalesce(ttft_ms,0), coalesce(duration_ms,0), body, response_body, coalesce(body_size,0)`

// rows waits until the query `where` matches want records, then returns them.
// Records reach SQLite asynchronously through the batch writer, so the test
// checks again after each commit.
func (a *testApp) rows(want int, where string, args ...any) []row {
	a.t.Helper()
	db := a.db()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		var n int
		err := db.QueryRow("SELECT count(*) FROM requests WHERE "+where, args...).Scan(&n)
		if err == nil && n >= want {
			if n > want {
				a.t.Fatalf("want %d records matching %q, have %d", want, where, n)
			}
			break
		}
		select {
		case <-a.commits:
		case <-deadline.C:
			a.t.Fatalf("want %d records matching %q, have %d (err %v)", want, where, n, err)
		}
	}
	q, err := db.Query("SELECT "+rowColumns+" FROM requests WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		a.t.Fatal(err)
	}
	defer q.Close()
	var out []row
	for q.Next() {
		var r row
		if err := q.Scan(&r.ID, &r.Method, &r.URL, &r.Path, &r.Outcome, &r.Error, &r.Content, &r.Reasoning,
			&r.ToolCalls, &r.KeyHash, &r.KeyMask, &r.Headers, &r.Model, &r.FinishReason, &r.GenerationID,
			&r.Status, &r.Attempts, &r.PromptTokens, &r.CompletionTokens, &r.Stream, &r.BodyTruncated,
			&r.Cost, &r.TTFT, &r.Duration, &r.Body, &r.RespBody, &r.BodySize); err != nil {
			a.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := q.Err(); err != nil {
		a.t.Fatal(err)
	}
	return out
}

// one returns the single record matching where.
func (a *testApp) one(where string, args ...any) row {
	a.t.Helper()
	return a.rows(1, where, args...)[0]
}

// post sends a raw request to the proxy.
func (a *testApp) do(method, path string, body io.Reader, header map[string]string) *http.Response {
	a.t.Helper()
	return a.send(method, a.proxyURL+path, body, header)
}

// send sends a request to url with the given headers.
func (a *testApp) send(method, url string, body io.Reader, header map[string]string) *http.Response {
	a.t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		a.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	return resp
}

// doWeb sends a request to the dashboard.
func (a *testApp) doWeb(method, path string, header map[string]string) *http.Response {
	a.t.Helper()
	return a.send(method, a.webURL+path, nil, header)
}

// readEvents reads SSE events (the text before each blank line) from r and
// sends them on a channel, closing it at the end of the stream.
func readEvents(r io.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev strings.Builder
		for sc.Scan() {
			if sc.Text() == "" {
				ch <- ev.String()
				ev.Reset()
				continue
			}
			ev.WriteString(sc.Text())
			ev.WriteString("\n")
		}
	}()
	return ch
}

// next waits for the next event or fails the test.
func next(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream ended early")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s: the stream is buffered")
	}
	return ""
}

func errorString(err error) string {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("status %d: %s", apiErr.StatusCode, apiErr.RawJSON())
	}
	return fmt.Sprint(err)
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

// slowStream starts a streamed chat completion through the proxy at
// proxyURL, with the mock pausing delayMs between events, and returns the
// events as they arrive. The response body is closed at the end of the test
// or when ctx ends.
func slowStream(t *testing.T, ctx context.Context, proxyURL, prompt string, delayMs int) <-chan string {
	t.Helper()
	body := `{"model":"mock/slow","stream":true,"messages":[{"role":"user","content":"` + prompt + `"}]}`
	req, _ := http.NewRequestWithContext(ctx, "POST", proxyURL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("X-Mock-Delay-Ms", strconv.Itoa(delayMs))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return readEvents(resp.Body)
}

// drain reads events to the end of the stream and returns the last one.
func drain(events <-chan string) string {
	var last string
	for ev := range events {
		last = ev
	}
	return last
}
