package main

// Fault tests: the real program, started by run() on loopback, between a
// client and an upstream that misbehave, one fault at a time. Each proves
// what the client gets, what the record in SQLite says, and that the
// goroutines the fault started are gone afterwards.
//
// They count the goroutines of the whole test process, so they do not call
// t.Parallel: Go starts parallel tests only once every sequential one has
// finished, so nothing else runs beside them. The slowloris test waits on
// the server's fixed ReadHeaderTimeout instead, and runs in parallel.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/openrouter-proxy/openrouter-proxy/app/mockupstream"
)

// faultUpstream is the mock upstream on a server the test holds, so that it
// can close the proxy's pooled upstream connections before counting
// goroutines, and see each request the mock finished.
type faultUpstream struct {
	srv     *httptest.Server
	base    string                  // OPENAI_API_BASE
	done    chan mockupstream.Event // every request the mock finished
	started chan string             // the path of every request that reached the upstream
}

func startFaultUpstream(t *testing.T) *faultUpstream {
	t.Helper()
	m := mockupstream.New()
	u := &faultUpstream{done: make(chan mockupstream.Event, 2048), started: make(chan string, 2048)}
	m.OnDone = func(e mockupstream.Event) {
		select {
		case u.done <- e:
		default: // never block the mock on a test that does not listen
		}
	}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case u.started <- r.URL.Path:
		default:
		}
		m.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	u.base = u.srv.URL + "/api/v1"
	return u
}

// event waits for the mock to finish a request.
func (u *faultUpstream) event(t *testing.T) mockupstream.Event {
	t.Helper()
	select {
	case e := <-u.done:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request did not end within 10s")
		return mockupstream.Event{}
	}
}

// faultClient returns an HTTP client with a connection pool of its own,
// which neither asks for nor decodes compression, so the test sees the
// bytes as the proxy sent them.
func faultClient(t *testing.T) (*http.Client, *http.Transport) {
	tr := &http.Transport{DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, tr
}

// closeIdle closes the idle keep-alive connections of the test's clients
// and, when up is set, every connection to the upstream, which ends the
// proxy's pooled connections too. What is left running after it is what
// the program itself keeps.
func closeIdle(up *faultUpstream, trs ...*http.Transport) {
	for _, tr := range trs {
		tr.CloseIdleConnections()
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if up != nil {
		up.srv.CloseClientConnections()
	}
}

// goroutines returns the number of goroutines, leaving out the test's own
// read-only database handles (each *sql.DB the row helpers open runs a
// connectionOpener until the test ends), and their stacks.
func goroutines() (int, string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var kept []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if !strings.Contains(g, "database/sql.(*DB).connectionOpener") {
			kept = append(kept, g)
		}
	}
	return len(kept), strings.Join(kept, "\n\n")
}

// goroutineBaseline closes idle connections with quiesce, waits until the
// number of goroutines stops changing, and returns a check that, called
// after the fault, quiesces again and waits until the number is back to at
// most that baseline. Connections and handlers end asynchronously, so the
// check polls, with a deadline, instead of sleeping a fixed time. On
// failure it prints the stacks, which name the leak.
func goroutineBaseline(t *testing.T, quiesce func()) (check func()) {
	t.Helper()
	quiesce()
	// The program may still be starting (run starts a goroutine or two
	// after its banner), and closed connections take a moment to end.
	base, _ := goroutines()
	for steady, deadline := 0, time.Now().Add(3*time.Second); steady < 5 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		if n, _ := goroutines(); n != base {
			base, steady = n, 0
		} else {
			steady++
		}
	}
	return func() {
		t.Helper()
		quiesce()
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, stacks := goroutines()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("goroutine leak: %d goroutines 10s after the fault, %d before it\n%s", n, base, stacks)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// respMeta returns the stored response size and truncation flag of a
// record, which the row helper does not read.
func (a *testApp) respMeta(id string) (size int64, truncated bool) {
	a.t.Helper()
	err := a.db().QueryRow("SELECT coalesce(response_size,0), coalesce(response_truncated,0) FROM requests WHERE id = ?", id).Scan(&size, &truncated)
	if err != nil {
		a.t.Fatal(err)
	}
	return size, truncated
}

// count returns how many records match where, without waiting.
func (a *testApp) count(where string, args ...any) int {
	a.t.Helper()
	var n int
	if err := a.db().QueryRow("SELECT count(*) FROM requests WHERE "+where, args...).Scan(&n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// post sends a chat request with the given mock headers through client and
// returns the response; the test reads and closes its body.
func (a *testApp) post(t *testing.T, client *http.Client, body string, header ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", a.proxyURL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// proxyAddr is the proxy's host:port.
func (a *testApp) proxyAddr() string { return strings.TrimPrefix(a.proxyURL, "http://") }

// accumulate reads an SDK stream to its end and returns the content the
// client saw and the stream's error.
func accumulate(stream interface {
	Next() bool
	Current() openai.ChatCompletionChunk
	Err() error
}) (string, error) {
	var content strings.Builder
	for stream.Next() {
		for _, c := range stream.Current().Choices {
			content.WriteString(c.Delta.Content)
		}
	}
	return content.String(), stream.Err()
}

// chatOnce sends one chat completion through the proxy with client hc.
func chatOnce(app *testApp, hc *http.Client, ctx context.Context, params openai.ChatCompletionNewParams) (*openai.ChatCompletion, error) {
	client := app.client(testKey, option.WithHTTPClient(hc))
	return client.Chat.Completions.New(ctx, params)
}

// TestFaultUpstreamRefused: nothing listens on the upstream's port. The
// client gets a 502 that names the cause, and the record says the proxy
// could not reach the upstream, after its retry.
func TestFaultUpstreamRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := ln.Addr().String()
	ln.Close()
	app := startApp(t, map[string]string{"OPENAI_API_BASE": "http://" + closedPort + "/api/v1", "RETRY_COUNT": "1"})
	hc, tr := faultClient(t)
	settled := goroutineBaseline(t, func() { closeIdle(nil, tr) })

	client := app.client(testKey, option.WithHTTPClient(hc))
	const n = 5 // a leak of one goroutine per request shows as five
	for i := range n {
		_, err := client.Chat.Completions.New(context.Background(), chatParams("openai/gpt-4o-mini", fmt.Sprintf("refused-%d", i)))
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || !strings.Contains(apiErr.Message, "connection refused") || apiErr.Type != "upstream_error" {
			t.Fatalf("got %s; want a 502 upstream_error naming the refused connection", errorString(err))
		}
	}
	for _, r := range app.rows(n, "body LIKE '%refused-%'") {
		if r.Outcome != "proxy_error" || r.Status != 502 || r.Attempts != 2 || !strings.Contains(r.Error, "connection refused") {
			t.Errorf("record: outcome %q status %d attempts %d error %q", r.Outcome, r.Status, r.Attempts, r.Error)
		}
	}
	settled()
}

// TestFaultUpstreamCutMidStream: the upstream sends three chunks of a
// stream, then its connection breaks, with a reset or an orderly close. The
// client's stream ends in an error, not as if complete, and the record
// keeps the three chunks and says the upstream connection was lost.
func TestFaultUpstreamCutMidStream(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base})
	hc, tr := faultClient(t)
	settled := goroutineBaseline(t, func() { closeIdle(up, tr) })

	for _, scenario := range []string{"reset", "hangup"} {
		t.Run(scenario, func(t *testing.T) {
			client := app.client(testKey, option.WithHTTPClient(hc),
				option.WithHeader("X-Mock-Scenario", scenario), option.WithHeader("X-Mock-Chunks", "3"))
			got, err := accumulate(client.Chat.Completions.NewStreaming(context.Background(), chatParams("openai/gpt-4o-mini", "cut-"+scenario)))
			if err == nil {
				t.Error("the stream ended without an error: the client cannot tell it was cut short")
			}
			const sent = "part 1 part 2 part 3 "
			if got != sent {
				t.Errorf("client got %q before the cut, upstream sent %q", got, sent)
			}
			r := app.one("body LIKE ?", "%cut-"+scenario+"%")
			t.Logf("client: %v; record: outcome %q error %q", err, r.Outcome, r.Error)
			if !r.Stream || r.Status != 200 || r.Outcome != "proxy_error" || !strings.Contains(r.Error, "upstream connection lost") {
				t.Errorf("record: stream %v status %d outcome %q error %q", r.Stream, r.Status, r.Outcome, r.Error)
			}
			if r.Content != sent || r.FinishReason != "" {
				t.Errorf("record content %q finish %q: want the partial reply, unfinished", r.Content, r.FinishReason)
			}
		})
	}
	settled()
}

// TestFaultMalformedSSE: an upstream stream full of garbage lines and
// broken JSON reaches the client byte for byte, and the record holds what
// the event-stream rules make of it, without a crash.
func TestFaultMalformedSSE(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base})
	hc, tr := faultClient(t)
	settled := goroutineBaseline(t, func() { closeIdle(up, tr) })

	resp := app.post(t, hc, `{"model":"m","stream":true,"messages":[{"role":"user","content":"malformed"}]}`, "X-Mock-Scenario", "malformed-sse")
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(got, mockupstream.MalformedSSE) {
		t.Fatalf("status %d err %v; client got\n%q\nupstream sent\n%q", resp.StatusCode, err, got, mockupstream.MalformedSSE)
	}
	r := app.one("body LIKE '%malformed%'")
	if !r.Stream || r.Status != 200 || r.Outcome != "ok" || r.Error != "" {
		t.Errorf("record: stream %v status %d outcome %q error %q", r.Stream, r.Status, r.Outcome, r.Error)
	}
	if r.Content != "kept joined also kept" || r.FinishReason != "stop" || r.GenerationID != "gen-malformed" {
		t.Errorf("record content %q finish %q generation %q", r.Content, r.FinishReason, r.GenerationID)
	}
	if !bytes.Equal(r.RespBody, mockupstream.MalformedSSE) {
		t.Errorf("stored response body differs from what was sent:\n%q", r.RespBody)
	}
	// Still serving.
	if _, err := chatOnce(app, hc, context.Background(), chatParams("m", "after the garbage")); err != nil {
		t.Fatalf("request after the malformed stream: %s", errorString(err))
	}
	settled()
}

// lineStats reads r to the end through a small buffer, never holding a
// line, and returns the bytes read, the longest line and the last bytes.
func lineStats(r io.Reader) (n int64, longest int, last []byte, err error) {
	buf := make([]byte, 32<<10)
	cur := 0
	for {
		k, rerr := r.Read(buf)
		for _, c := range buf[:k] {
			if c == '\n' {
				longest, cur = max(longest, cur), 0
			} else {
				cur++
			}
		}
		n += int64(k)
		last = append(last, buf[max(0, k-64):k]...)
		last = last[max(0, len(last)-64):]
		if rerr == io.EOF {
			return n, max(longest, cur), last, nil
		}
		if rerr != nil {
			return n, max(longest, cur), last, rerr
		}
	}
}

// TestFaultHugeSSELine: a stream whose one data line is 10 MiB passes
// through whole, the whole process allocates less than the line while it
// does (so nothing held it), and the record keeps BODY_CAPTURE_LIMIT
// bytes, marked truncated, with the usage and finish from the stream's
// tail.
func TestFaultHugeSSELine(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base, "LOG_LEVEL": "info"})
	hc, tr := faultClient(t)
	settled := goroutineBaseline(t, func() { closeIdle(up, tr) })

	const size = 10 << 20
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp := app.post(t, hc, `{"model":"m","stream":true,"messages":[{"role":"user","content":"big line"}]}`,
		"X-Mock-Scenario", "big-line", "X-Mock-Size", strconv.Itoa(size))
	n, longest, last, err := lineStats(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || longest < size || !bytes.HasSuffix(last, []byte("data: [DONE]\n\n")) {
		t.Fatalf("status %d err %v: read %d bytes, longest line %d, ending %q", resp.StatusCode, err, n, longest, last)
	}
	// Wait for the record (analysis included) before measuring, but read
	// its 1 MiB body only after.
	for app.count("body LIKE '%big line%'") == 0 {
		select {
		case <-app.commits:
		case <-time.After(15 * time.Second):
			t.Fatal("no record after 15s")
		}
	}
	runtime.ReadMemStats(&after)
	r := app.one("body LIKE '%big line%'")
	alloc := after.TotalAlloc - before.TotalAlloc
	if alloc >= size {
		t.Errorf("the process allocated %d MiB to pass a %d MiB line", alloc>>20, size>>20)
	}
	t.Logf("passed %d bytes; the process allocated %.1f MiB", n, float64(alloc)/(1<<20))
	if r.Status != 200 || r.Outcome != "ok" || !r.Stream {
		t.Errorf("record: status %d outcome %q stream %v error %q", r.Status, r.Outcome, r.Stream, r.Error)
	}
	stored, truncated := app.respMeta(r.ID)
	if len(r.RespBody) != 1<<20 || !truncated || stored != n {
		t.Errorf("stored %d bytes of %d (record says %d), truncated %v; want BODY_CAPTURE_LIMIT (1 MiB)", len(r.RespBody), n, stored, truncated)
	}
	if r.FinishReason != "stop" || r.CompletionTokens != (size+3)/4 {
		t.Errorf("finish %q completion tokens %d: the tail of the stream was not read", r.FinishReason, r.CompletionTokens)
	}
	settled()
}

// TestFaultGzipBomb: the upstream answers about 1 MiB of gzip that
// inflates to 1 GiB. The client gets exactly the compressed bytes; the
// record keeps BODY_CAPTURE_LIMIT decoded bytes; and the heap never comes
// near the inflated size.
func TestFaultGzipBomb(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base, "LOG_LEVEL": "info"})
	hc, tr := faultClient(t)
	settled := goroutineBaseline(t, func() { closeIdle(up, tr) })

	const size = 1 << 30
	h := sha256.New()
	wantLen, _ := mockupstream.WriteGzipBomb(h, size)
	wantSum := h.Sum(nil)

	// Sample the heap while the bomb passes; ReadMemStats stops the world
	// briefly, so not too often.
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()

	resp := app.post(t, hc, `{"model":"m","messages":[{"role":"user","content":"bomb"}]}`,
		"X-Mock-Scenario", "gzip-bomb", "X-Mock-Size", strconv.Itoa(size), "Accept-Encoding", "gzip")
	h.Reset()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || n != wantLen || !bytes.Equal(h.Sum(nil), wantSum) {
		t.Fatalf("status %d encoding %q err %v: client got %d bytes (sha256 match %v), upstream sent %d",
			resp.StatusCode, resp.Header.Get("Content-Encoding"), err, n, bytes.Equal(h.Sum(nil), wantSum), wantLen)
	}
	r := app.one("body LIKE '%bomb%'")
	elapsed := time.Since(start)
	close(stop)
	<-sampled
	runtime.ReadMemStats(&after)

	if p := peak.Load(); p > 256<<20 {
		t.Errorf("heap in use peaked at %d MiB while a 1 GiB bomb passed", p>>20)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Errorf("the process allocated %d MiB: the bomb was inflated", alloc>>20)
	}
	if elapsed > 15*time.Second {
		t.Errorf("took %v", elapsed)
	}
	if r.Status != 200 || r.Outcome != "ok" {
		t.Errorf("record: status %d outcome %q error %q", r.Status, r.Outcome, r.Error)
	}
	stored, truncated := app.respMeta(r.ID)
	if len(r.RespBody) != 1<<20 || !truncated || !bytes.HasPrefix(r.RespBody, []byte(`{"id":"gen-gzip-bomb"`)) {
		t.Errorf("stored %d decoded bytes (truncated %v), starting %.40q; want BODY_CAPTURE_LIMIT (1 MiB) of the inflated JSON",
			len(r.RespBody), truncated, r.RespBody)
	}
	if stored != wantLen {
		t.Errorf("record says the response had %d bytes, the client got %d", stored, wantLen)
	}
	t.Logf("%d compressed bytes; %v; heap peak %d MiB; allocated %d MiB", wantLen, elapsed, peak.Load()>>20, (after.TotalAlloc-before.TotalAlloc)>>20)
	settled()
}

// TestFaultWrongContentLength: the upstream declares a longer body than it
// sends, then closes. The client's read fails with an unexpected EOF rather
// than returning a short body as whole, and the record keeps the half it
// got and says the connection was lost.
func TestFaultWrongContentLength(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base})
	hc, tr := faultClient(t)
	settled := goroutineBaseline(t, func() { closeIdle(up, tr) })

	resp := app.post(t, hc, `{"model":"m","messages":[{"role":"user","content":"short body"}]}`, "X-Mock-Scenario", "short-body")
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !errors.Is(err, io.ErrUnexpectedEOF) || len(got) == 0 || int64(len(got)) >= resp.ContentLength {
		t.Fatalf("status %d: read %d of %d declared bytes, err %v; want an unexpected EOF", resp.StatusCode, len(got), resp.ContentLength, err)
	}
	r := app.one("body LIKE '%short body%'")
	if r.Status != 200 || r.Outcome != "proxy_error" || !strings.Contains(r.Error, "upstream connection lost") || !strings.Contains(r.Error, "unexpected EOF") {
		t.Errorf("record: status %d outcome %q error %q", r.Status, r.Outcome, r.Error)
	}
	if !bytes.Equal(r.RespBody, got) {
		t.Errorf("stored %q, the client got %q", r.RespBody, got)
	}
	settled()
}

// TestFaultSlowlorisHeaders: a client that sends its headers a byte at a
// time is disconnected once the server's ReadHeaderTimeout (10s, fixed in
// newServer) runs out, without an answer or a record, while other clients
// are served meanwhile. The timeout is not configurable, so the test takes
// about 10s; it runs in parallel with the other slow tests.
func TestFaultSlowlorisHeaders(t *testing.T) {
	t.Parallel()
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base})
	conn, err := net.Dial("tcp", app.proxyAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: proxy\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	type result struct {
		n   int
		err error
		at  time.Duration
	}
	closed := make(chan result, 1)
	go func() {
		n, err := conn.Read(make([]byte, 1024))
		closed <- result{n, err, time.Since(start)}
	}()

	// Served meanwhile.
	hc, _ := faultClient(t)
	if _, err := chatOnce(app, hc, context.Background(), chatParams("m", "beside a slowloris")); err != nil {
		t.Fatalf("a normal request during the slowloris: %s", errorString(err))
	}

	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	giveUp := time.After(20 * time.Second)
	for {
		select {
		case res := <-closed:
			if res.n != 0 || res.err == nil {
				t.Errorf("read %d bytes, err %v: want the connection closed without an answer", res.n, res.err)
			}
			if res.at > 15*time.Second {
				t.Errorf("closed after %v: want the 10s ReadHeaderTimeout", res.at)
			}
			t.Logf("closed after %v", res.at)
			app.one("body LIKE '%beside a slowloris%'")
			if n := app.count("1=1"); n != 1 {
				t.Errorf("%d records; want only the normal request's", n)
			}
			return
		case <-tick.C:
			conn.Write([]byte("a")) // an error here means it is closed; the read says so
		case <-giveUp:
			t.Fatal("the slowloris connection is still open after 20s")
		}
	}
}

// TestFaultHugeHeaders431: a request with just over 1 MiB of headers (Go's
// limit is 1 MiB plus 4 KiB) gets 431, never reaches the proxy or the
// record, and the proxy serves the next request.
func TestFaultHugeHeaders431(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base})
	hc, tr := faultClient(t)
	settled := goroutineBaseline(t, func() { closeIdle(up, tr) })

	conn, err := net.Dial("tcp", app.proxyAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		var b bytes.Buffer
		b.WriteString("GET /v1/models HTTP/1.1\r\nHost: proxy\r\n")
		value := strings.Repeat("a", 64<<10)
		for i := range 17 { // 17 x 64 KiB = 1.06 MiB
			fmt.Fprintf(&b, "X-Big-%02d: %s\r\n", i, value)
		}
		b.WriteString("\r\n")
		conn.Write(b.Bytes()) // fails once the server hangs up; the answer tells
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to 1 MiB of headers: %v", err)
	}
	resp.Body.Close()
	conn.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
	if _, err := chatOnce(app, hc, context.Background(), chatParams("m", "after huge headers")); err != nil {
		t.Fatalf("request after the huge headers: %s", errorString(err))
	}
	app.one("body LIKE '%after huge headers%'")
	if n := app.count("1=1"); n != 1 {
		t.Errorf("%d records; want only the normal request's", n)
	}
	settled()
}

// TestFaultUploadAbort: a client sends part of a chunked body and closes
// its connection, either while the proxy still buffers the body (it
// buffers up to RETRY_BODY_LIMIT, 4 MiB, to be able to retry) or once it
// streams it upstream. Either way the exchange is recorded, and the record
// blames the client's body, not the upstream.
func TestFaultUploadAbort(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base, "LOG_LEVEL": "info"})
	settled := goroutineBaseline(t, func() { closeIdle(up) })

	for _, tc := range []struct {
		name     string
		sent     int  // bytes of body sent before the abort
		upstream bool // whether the upstream sees the request before it
	}{
		{"Buffered", 100 << 10, false},
		{"Streamed", 5 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", app.proxyAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			w := bufio.NewWriter(conn)
			fmt.Fprintf(w, "POST /v1/sink?abort=%s HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n", tc.name, testKey)
			chunk := bytes.Repeat([]byte("u"), 32<<10)
			for sent := 0; sent < tc.sent; sent += len(chunk) {
				fmt.Fprintf(w, "%x\r\n%s\r\n", len(chunk), chunk)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if tc.upstream {
				select {
				case p := <-up.started:
					if p != "/api/v1/sink" {
						t.Fatalf("upstream got %s", p)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("the proxy did not start streaming the body upstream")
				}
			}
			conn.Close() // without the last chunk

			r := app.one("url = ?", "/v1/sink?abort="+tc.name)
			t.Logf("record: status %d outcome %q error %q", r.Status, r.Outcome, r.Error)
			if r.Outcome != "cancelled" && !strings.Contains(r.Error, "request body") {
				t.Errorf("record: outcome %q error %q status %d; want the client's broken body named", r.Outcome, r.Error, r.Status)
			}
			if tc.upstream {
				if e := up.event(t); e.Path != "/api/v1/sink" || e.Status == 200 {
					t.Errorf("upstream finished %s with status %d: it got a whole body", e.Path, e.Status)
				}
			}
		})
	}
	settled()
}

// TestFaultClientAbortMidStream: the client leaves in the middle of a
// stream. The upstream request is cancelled (the mock sees its context
// end), and the record is marked cancelled and keeps the partial reply.
func TestFaultClientAbortMidStream(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base})
	hc, tr := faultClient(t)
	settled := goroutineBaseline(t, func() { closeIdle(up, tr) })

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := app.client(testKey, option.WithHTTPClient(hc),
		option.WithHeader("X-Mock-Scenario", "slow"), option.WithHeader("X-Mock-Delay-Ms", "100"))
	stream := client.Chat.Completions.NewStreaming(ctx, chatParams("openai/gpt-4o-mini", "abort me in the middle of a rather long reply"))
	var got strings.Builder
	for chunks := 0; chunks < 3 && stream.Next(); {
		for _, c := range stream.Current().Choices {
			if c.Delta.Content != "" {
				got.WriteString(c.Delta.Content)
				chunks++
			}
		}
	}
	cancel()
	stream.Close()
	if got.Len() == 0 {
		t.Fatalf("no content before the abort: %v", stream.Err())
	}
	if e := up.event(t); !e.Cancelled {
		t.Error("the upstream finished the stream: its request was not cancelled when the client left")
	}
	r := app.one("body LIKE '%abort me%'")
	if r.Outcome != "cancelled" || r.Status != 200 {
		t.Errorf("record: outcome %q status %d error %q", r.Outcome, r.Status, r.Error)
	}
	if !strings.HasPrefix(r.Content, got.String()) || strings.Contains(r.Content, "long reply") {
		t.Errorf("record content %q; the client read %q: want what was streamed until the abort", r.Content, got.String())
	}
	settled()
}

// TestFaultIdleKeepAlive: 1,000 clients each make a request and keep their
// connection open. The proxy still answers a new client at once, and once
// the connections close, every goroutine they held is gone.
func TestFaultIdleKeepAlive(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base, "LOG_LEVEL": "info"})
	hc, tr := faultClient(t)
	settled := goroutineBaseline(t, func() { closeIdle(up, tr) })
	base := runtime.NumGoroutine()

	const n = 1000
	conns := make([]net.Conn, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	var next atomic.Int32
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				c, err := net.Dial("tcp", app.proxyAddr())
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
				fmt.Fprintf(c, "GET /v1/models?idle=%d HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer %s\r\n\r\n", i, testKey)
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || resp.Close {
					errs <- fmt.Errorf("connection %d: status %d, close %v", i, resp.StatusCode, resp.Close)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if held := runtime.NumGoroutine() - base; held < n {
		t.Fatalf("%d more goroutines with %d idle connections open: the connections are not being held", held, n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := chatOnce(app, hc, ctx, chatParams("m", "beside 1000 idle connections")); err != nil {
		t.Fatalf("a new client beside %d idle connections: %s", n, errorString(err))
	}
	app.one("body LIKE '%beside 1000 idle%'")
	for i, c := range conns {
		c.Close()
		conns[i] = nil
	}
	settled()
}
