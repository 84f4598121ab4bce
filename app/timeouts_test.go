package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Tests of the proxy's time limits: REQUEST_TIMEOUT bounds silences, never
// a stream that keeps sending; STREAM_MAX_DURATION caps a whole exchange.
// Each checks what the client got, what the record says, and that no
// goroutine is left behind (so, like the fault tests, none is parallel).

// TestHealthyStreamOutlivesRequestTimeout streams for about three times
// REQUEST_TIMEOUT, an event every 0.4 s: nothing is silent that long, so
// nothing is cut.
func TestHealthyStreamOutlivesRequestTimeout(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base, "REQUEST_TIMEOUT": "1"})
	settled := goroutineBaseline(t, func() { closeIdle(up) })
	req, _ := http.NewRequest("POST", app.proxyURL+"/v1/chat/completions", strings.NewReader(
		`{"model":"mock/slow","stream":true,"messages":[{"role":"user","content":"a long healthy stream"}]}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("X-Mock-Delay-Ms", "400")
	req.Header.Set("X-Mock-Chunks", "8")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !strings.Contains(string(body), "data: [DONE]") {
		t.Fatalf("stream cut after %v: err %v, body %q", time.Since(start), err, body)
	}
	if took := time.Since(start); took < 2*time.Second {
		t.Fatalf("the stream took %v; the test needs it to outlast REQUEST_TIMEOUT twice", took)
	}
	r := app.one("1=1")
	if r.Outcome != "ok" || r.Error != "" {
		t.Errorf("outcome %q error %q", r.Outcome, r.Error)
	}
	settled()
}

// TestUpstreamSilentMidStream: the upstream sends its first event and then
// nothing. The client gets an SSE error event naming the limit, the upstream
// request is cancelled, and the record says which timeout fired.
func TestUpstreamSilentMidStream(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base, "REQUEST_TIMEOUT": "0.5"})
	settled := goroutineBaseline(t, func() { closeIdle(up) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := slowStream(t, ctx, app.proxyURL, "falls silent", 60_000)
	if ev := next(t, events); !strings.Contains(ev, "OPENROUTER PROCESSING") {
		t.Fatalf("first event %q", ev)
	}
	var last string
	for ev := range events {
		last = ev
	}
	if !strings.Contains(last, `"type":"timeout"`) || !strings.Contains(last, "REQUEST_TIMEOUT") {
		t.Fatalf("last event %q: want an error event naming REQUEST_TIMEOUT", last)
	}
	if e := up.event(t); !e.Cancelled {
		t.Error("the upstream finished: it was not cancelled")
	}
	r := app.one("1=1")
	if r.Outcome != "timeout" || !strings.Contains(r.Error, "REQUEST_TIMEOUT: the upstream sent nothing") || !strings.Contains(r.Error, "cut off") {
		t.Errorf("outcome %q error %q", r.Outcome, r.Error)
	}
	cancel()
	settled()
}

// TestStreamMaxDuration caps a stream that is still sending.
func TestStreamMaxDuration(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base, "REQUEST_TIMEOUT": "30", "STREAM_MAX_DURATION": "1"})
	settled := goroutineBaseline(t, func() { closeIdle(up) })
	start := time.Now()
	req, _ := http.NewRequest("POST", app.proxyURL+"/v1/chat/completions", strings.NewReader(
		`{"model":"mock/slow","stream":true,"messages":[{"role":"user","content":"capped"}]}`))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("X-Mock-Delay-Ms", "200")
	req.Header.Set("X-Mock-Chunks", "30")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := readEvents(resp.Body)
	var last string
	for ev := range events {
		last = ev
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the stream ran %v past a 1 s cap", took)
	}
	if !strings.Contains(last, "STREAM_MAX_DURATION") {
		t.Fatalf("last event %q: want an error event naming STREAM_MAX_DURATION", last)
	}
	r := app.one("1=1")
	if r.Outcome != "timeout" || !strings.Contains(r.Error, "STREAM_MAX_DURATION") || r.Content == "" {
		t.Errorf("outcome %q error %q content %q: want the cap named and the partial kept", r.Outcome, r.Error, r.Content)
	}
	resp.Body.Close()
	settled()
}

// rawRequest opens a TCP connection to the proxy and writes head.
func rawRequest(t *testing.T, proxyURL, head string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(proxyURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRequestBodySilence: a client declares a body and stops one byte
// short. It gets a 408 once REQUEST_TIMEOUT has passed in silence, and the
// record says so; the proxy does not hold the connection until the client
// leaves.
func TestRequestBodySilence(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base, "REQUEST_TIMEOUT": "0.5"})
	settled := goroutineBaseline(t, func() { closeIdle(up) })
	for _, tc := range []struct{ name, head string }{
		{"buffered", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":"},
		{"chunked", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n{\"model\":\r\n"},
	} {
		c := rawRequest(t, app.proxyURL, tc.head)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s: no answer to a stalled upload: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "the client sent no request body") {
			t.Errorf("%s: status %d body %s", tc.name, resp.StatusCode, body)
		}
		c.Close()
	}
	for _, r := range app.rows(2, "1=1") {
		if r.Outcome != "timeout" || r.Status != 408 || !strings.Contains(r.Error, "REQUEST_TIMEOUT: the client sent no request body") {
			t.Errorf("outcome %q status %d error %q", r.Outcome, r.Status, r.Error)
		}
	}
	settled()
}

// TestSlowUploadIsNotSilence: an upload that trickles in, a byte every
// 0.3 s for longer than REQUEST_TIMEOUT, is never silent that long and goes
// through.
func TestSlowUploadIsNotSilence(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base, "REQUEST_TIMEOUT": "1"})
	settled := goroutineBaseline(t, func() { closeIdle(up) })
	body := `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"x"}]}`
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(body[:len(body)-6]))
		for i := len(body) - 6; i < len(body); i++ {
			time.Sleep(300 * time.Millisecond)
			pw.Write([]byte{body[i]})
		}
		pw.Close()
	}()
	resp := app.do("POST", "/v1/chat/completions", pr, map[string]string{"Authorization": "Bearer " + testKey, "Content-Type": "application/json"})
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if r := app.one("1=1"); r.Outcome != "ok" {
		t.Errorf("outcome %q error %q", r.Outcome, r.Error)
	}
	settled()
}

// TestClientNotReading: the client asks for an endless fast stream and
// reads nothing. Once the proxy's writes have made no progress for
// REQUEST_TIMEOUT it lets go of the client and the upstream, and the record
// blames the client.
func TestClientNotReading(t *testing.T) {
	upstreamDone := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(upstreamDone)
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := []byte("data: " + strings.Repeat("x", 4000) + "\n\n")
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(up.Close)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.URL + "/api/v1", "REQUEST_TIMEOUT": "0.5"})
	settled := goroutineBaseline(t, up.CloseClientConnections)
	c := rawRequest(t, app.proxyURL, "GET /v1/firehose HTTP/1.1\r\nHost: x\r\n\r\n")
	c.(*net.TCPConn).SetReadBuffer(4096)
	select {
	case <-upstreamDone:
	case <-time.After(20 * time.Second):
		t.Fatal("the upstream was still streaming 20 s after the client stopped reading")
	}
	r := app.one("1=1")
	if r.Outcome != "timeout" || !strings.Contains(r.Error, "the client did not read the answer") {
		t.Errorf("outcome %q error %q", r.Outcome, r.Error)
	}
	c.Close()
	settled()
}

// TestRefusedRequests: a method that is not letters and hyphens, and a path
// with dot-segments (encoded or not), get a 400 and are recorded, and never
// reach the upstream.
func TestRefusedRequests(t *testing.T) {
	up := startFaultUpstream(t)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": up.base, "DEFAULT_APIKEY": "sk-or-v1-default-key-0123456789abcdef"})
	cases := []struct{ method, target string }{
		{"X`curl$IFS-s$IFS'127.0.0.1'|sh`", "/v1/models"},
		{"GET", "/v1/%2e%2e/%2e%2e/internal"},
		{"GET", "/v1/../../internal"},
		{"GET", "/v1/models/..%2f..%2finternal"},
		{"GET", "/v1/./models"},
		{"GET", `/v1/..\internal`},
	}
	for _, tc := range cases {
		c := rawRequest(t, app.proxyURL, fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", tc.method, tc.target))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.target, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "invalid_request_error") {
			t.Errorf("%s %s: status %d body %s", tc.method, tc.target, resp.StatusCode, body)
		}
	}
	for _, r := range app.rows(len(cases), "1=1") {
		if r.Status != 400 || !strings.HasPrefix(r.Error, "refused: ") {
			t.Errorf("%s %s: status %d error %q", r.Method, r.URL, r.Status, r.Error)
		}
	}
	select {
	case got := <-up.started:
		t.Errorf("a refused request reached the upstream: %s", got)
	default:
	}
}
