package proxy_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/proxy"
)

// recorder hands the test each record the proxy finishes.
type recorder chan *capture.Record

func (r recorder) Record(rec *capture.Record) error { r <- rec; return nil }

// next waits for the next record.
func (r recorder) next(t *testing.T) *capture.Record {
	t.Helper()
	select {
	case rec := <-r:
		return rec
	case <-time.After(10 * time.Second):
		t.Fatal("no record within 10 s")
		return nil
	}
}

// serve starts the proxy in front of upstream on a real loopback listener.
func serve(t *testing.T, upstream string, opts proxy.Options) (string, recorder) {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rec := make(recorder, 16)
	opts.Upstream, opts.Recorder = u, rec
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.BodyLimit == 0 {
		opts.BodyLimit = 1 << 20
	}
	if opts.RetryBodyLimit == 0 {
		opts.RetryBodyLimit = 4 << 20
	}
	srv := httptest.NewServer(proxy.New(opts))
	t.Cleanup(srv.Close)
	return srv.URL, rec
}

// TestHTTP2Upstream: the upstream speaks HTTP/2 over TLS, as OpenRouter
// does, and the proxy uses it.
func TestHTTP2Upstream(t *testing.T) {
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"proto":"`+r.Proto+`"}`)
	}))
	up.EnableHTTP2 = true
	up.StartTLS()
	t.Cleanup(up.Close)
	tr := proxy.NewTransport()
	tr.TLSClientConfig = &tls.Config{RootCAs: up.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	base, recs := serve(t, up.URL+"/api/v1", proxy.Options{Transport: tr})
	resp, err := http.Get(base + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != `{"proto":"HTTP/2.0"}` {
		t.Fatalf("upstream saw %s", body)
	}
	if rec := recs.next(t); rec.Status != 200 {
		t.Errorf("recorded status %d", rec.Status)
	}
}

// TestExpectContinue: a client that waits for 100 Continue before sending
// its body gets it, and the body reaches the upstream whole.
func TestExpectContinue(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(w, r.Body)
	}))
	t.Cleanup(up.Close)
	base, recs := serve(t, up.URL, proxy.Options{})
	payload := bytes.Repeat([]byte("expect-continue "), 4096)
	req, _ := http.NewRequest("POST", base+"/v1/echo", bytes.NewReader(payload))
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 5 * time.Second}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, payload) {
		t.Fatalf("status %d, %d bytes back of %d", resp.StatusCode, len(got), len(payload))
	}
	if rec := recs.next(t); rec.ReqBody.Size != int64(len(payload)) {
		t.Errorf("recorded %d request bytes", rec.ReqBody.Size)
	}
}

// TestUpgradePassesThrough: a 101 Switching Protocols answer is tunnelled
// both ways and recorded as an upgrade, not as a failed exchange.
func TestUpgradePassesThrough(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	}))
	t.Cleanup(up.Close)
	base, recs := serve(t, up.URL, proxy.Options{})
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /v1/tunnel HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade answer: %v %v", resp, err)
	}
	io.WriteString(c, "hello\n")
	if line, _ := br.ReadString('\n'); line != "echo: hello\n" {
		t.Fatalf("through the tunnel: %q", line)
	}
	c.Close()
	rec := recs.next(t)
	rec.Analyze()
	if rec.Status != 101 || rec.Outcome != capture.OutcomeOK || rec.ProxyErr != "" || rec.Cancelled {
		t.Errorf("status %d outcome %q error %q cancelled %v", rec.Status, rec.Outcome, rec.ProxyErr, rec.Cancelled)
	}
}

// TestDashboardCookieNotForwarded: the dashboard's session cookie reaches
// the proxy (cookies ignore the port) but never the upstream; other cookies
// pass.
func TestDashboardCookieNotForwarded(t *testing.T) {
	got := make(chan string, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- strings.Join(r.Header.Values("Cookie"), " | ")
	}))
	t.Cleanup(up.Close)
	base, recs := serve(t, up.URL, proxy.Options{DropCookies: []string{"orp_session"}})
	for _, tc := range []struct{ cookie, want string }{
		{"orp_session=secret-session", ""},
		{"a=1; orp_session=secret-session; b=2", "a=1; b=2"},
		{"theirs=x", "theirs=x"},
	} {
		req, _ := http.NewRequest("GET", base+"/v1/models", nil)
		req.Header.Set("Cookie", tc.cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if c := <-got; c != tc.want {
			t.Errorf("Cookie %q reached the upstream as %q, want %q", tc.cookie, c, tc.want)
		}
		recs.next(t)
	}
}

// TestRecordHeadIsNotTheReplayBuffer: a buffered request body larger than
// the capture limit is kept whole for retries, but the record holds a copy
// of only its head, so the queue does not keep the whole buffer alive.
func TestRecordHeadIsNotTheReplayBuffer(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	t.Cleanup(up.Close)
	const limit = 1000
	base, recs := serve(t, up.URL, proxy.Options{BodyLimit: limit})
	for _, size := range []int{300 << 10, 100 << 10, 500} { // pieces, one allocation, under the limit
		resp, err := http.Post(base+"/v1/sink", "application/octet-stream", bytes.NewReader(bytes.Repeat([]byte("b"), size)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		rec := recs.next(t)
		if want := min(size, limit); len(rec.ReqBody.Head) != want || cap(rec.ReqBody.Head) > 2*limit {
			t.Errorf("%d-byte body: head len %d cap %d, want len %d and a copy, not the %d-byte buffer", size, len(rec.ReqBody.Head), cap(rec.ReqBody.Head), want, size)
		}
	}
}
