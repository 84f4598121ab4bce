package bench_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"log/slog"

	"github.com/openrouter-proxy/openrouter-proxy/app/mockupstream"
	"github.com/openrouter-proxy/openrouter-proxy/app/proxy"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

// target is one way to reach the upstream.
type target struct {
	name string
	base string // base URL the client uses, ending in /api/v1
}

// rig is the three targets over one upstream.
type rig struct {
	direct, bare, recording target
	store                   *sqlite.SQLite
	proxy                   *proxy.Proxy // the recording target's
	upstream                *url.URL     // the upstream's API base, for more recording targets
}

func newRig(b *testing.B, upstream http.Handler) rig {
	b.Helper()
	up := httptest.NewServer(upstream)
	b.Cleanup(up.Close)
	upURL, _ := url.Parse(up.URL + "/api/v1")

	bare := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, "/v1")
			pr.SetURL(upURL)
		},
		FlushInterval: -1,
		Transport:     proxy.NewTransport(),
	}
	bareSrv := httptest.NewServer(bare)
	b.Cleanup(bareSrv.Close)

	st, err := sqlite.Open(context.Background(), b.TempDir()+"/proxy_requests.db", sqlite.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	recording, px := serveRecording(b, "proxy", upURL, st)
	return rig{
		direct:    target{"direct", up.URL + "/api/v1"},
		bare:      target{"bare", bareSrv.URL + "/v1"},
		recording: recording,
		store:     st,
		proxy:     px,
		upstream:  upURL,
	}
}

// quiet is the benchmarks' logger: they check what they need themselves.
var quiet = slog.New(slog.DiscardHandler)

// serveRecording serves a recording proxy over the upstream at upURL that
// hands its records to rec, configured as the program configures it.
func serveRecording(b *testing.B, name string, upURL *url.URL, rec proxy.Recorder) (target, *proxy.Proxy) {
	b.Helper()
	px := proxy.New(proxy.Options{
		Upstream: upURL, Timeout: time.Minute, Retries: 2, RetryBodyLimit: 4 << 20,
		BodyLimit: 1 << 20, Recorder: rec, Logger: quiet,
	})
	srv := httptest.NewServer(px)
	b.Cleanup(srv.Close)
	return target{name, srv.URL + "/v1"}, px
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 512, DisableCompression: true}}

const chatBody = `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"benchmark hello"}]}`

// chat sends one non-streaming chat completion and returns its latency.
func chat(b *testing.B, base string) time.Duration { return send(b, base, chatBody) }

// send posts body to base's chat completions, reads the whole answer, and
// returns the latency.
func send(b *testing.B, base, body string) time.Duration {
	start := time.Now()
	req, _ := http.NewRequest("POST", base+"/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer sk-bench")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
	return time.Since(start)
}

// load runs n chat completions at concurrency c against base and returns
// the elapsed time and every latency.
func load(b *testing.B, base string, n, c int) (time.Duration, []time.Duration) {
	return spread(b, []string{base}, chatBody, n, c)
}

// spread is load with any request body, split round-robin between bases:
// request i goes to bases[i%len(bases)], as a load balancer would send it.
func spread(b *testing.B, bases []string, body string, n, c int) (time.Duration, []time.Duration) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				lat[i] = send(b, bases[i%int64(len(bases))], body)
			}
		})
	}
	wg.Wait()
	return time.Since(start), lat
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// BenchmarkChat measures non-streaming chat completions. Each iteration sends
// the same requests through all three targets, interleaved, so that the
// machine's noise falls on all of them alike.
func BenchmarkChat(b *testing.B) {
	r := newRig(b, mockupstream.New())
	for _, c := range []int{1, 32} {
		b.Run("c="+strconv.Itoa(c), func(b *testing.B) {
			n := 400 * c
			if c == 1 {
				n = 2000
			}
			targets := []target{r.direct, r.bare, r.recording}
			for _, t := range targets { // warm connections
				load(b, t.base, 2*c, c)
			}
			elapsed := map[string]time.Duration{}
			lats := map[string][]time.Duration{}
			for i := 0; b.Loop(); i++ {
				for j := range targets {
					t := targets[(i+j)%len(targets)]
					e, l := load(b, t.base, n, c)
					elapsed[t.name] += e
					lats[t.name] = append(lats[t.name], l...)
				}
			}
			if err := r.store.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			rps := map[string]float64{}
			for _, t := range targets {
				rps[t.name] = float64(len(lats[t.name])) / elapsed[t.name].Seconds()
				b.ReportMetric(rps[t.name], t.name+"_req/s")
				b.ReportMetric(us(pct(lats[t.name], 0.50)), t.name+"_p50_µs")
				b.ReportMetric(us(pct(lats[t.name], 0.99)), t.name+"_p99_µs")
			}
			b.ReportMetric(rps["proxy"]/rps["bare"], "proxy/bare_throughput")
			b.ReportMetric(rps["bare"]/rps["direct"], "bare/direct_throughput")
			b.ReportMetric(us(pct(lats["proxy"], 0.99)-pct(lats["bare"], 0.99)), "added_p99_µs")
			b.ReportMetric(us(pct(lats["proxy"], 0.50)-pct(lats["bare"], 0.50)), "added_p50_µs")
		})
	}
}

// stampedStream is an upstream that writes SSE events, each carrying the
// moment it was written, so the client can measure each event's transit.
func stampedStream(events int, gap time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		io.WriteString(w, ": OPENROUTER PROCESSING\n\n")
		fl.Flush()
		for i := range events {
			if i > 0 {
				time.Sleep(gap)
			}
			fmt.Fprintf(w, `data: {"id":"gen-bench","model":"m","choices":[{"index":0,"delta":{"content":"token %d "}}],"t":%d}`+"\n\n", i, time.Now().UnixNano())
			fl.Flush()
		}
		io.WriteString(w, `data: {"id":"gen-bench","model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":50,"total_tokens":55,"cost":0.0001}}`+"\n\ndata: [DONE]\n\n")
	})
}

// stream reads one stream and returns the time to the first content event
// and the transit time of every content event.
func stream(b *testing.B, base string) (ttft time.Duration, transit []time.Duration) {
	start := time.Now()
	req, _ := http.NewRequest("POST", base+"/chat/completions", strings.NewReader(`{"model":"m","stream":true}`))
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.LastIndex(line, []byte(`,"t":`))
		if i < 0 {
			continue
		}
		now := time.Now()
		if ttft == 0 {
			ttft = now.Sub(start)
		}
		sent, _ := strconv.ParseInt(string(line[i+5:len(line)-1]), 10, 64)
		transit = append(transit, now.Sub(time.Unix(0, sent)))
	}
	return ttft, transit
}

// BenchmarkSSE measures what the proxy adds to a stream: the delay of the
// first token and of every later event, against the bare proxy.
func BenchmarkSSE(b *testing.B) {
	r := newRig(b, stampedStream(50, time.Millisecond))
	targets := []target{r.direct, r.bare, r.recording}
	ttft := map[string][]time.Duration{}
	transit := map[string][]time.Duration{}
	for i := 0; b.Loop(); i++ {
		for j := range targets {
			t := targets[(i+j)%len(targets)]
			for range 20 {
				f, tr := stream(b, t.base)
				ttft[t.name] = append(ttft[t.name], f)
				transit[t.name] = append(transit[t.name], tr[1:]...)
			}
		}
	}
	for _, t := range targets {
		b.ReportMetric(us(pct(ttft[t.name], 0.5)), t.name+"_ttft_p50_µs")
		b.ReportMetric(us(pct(transit[t.name], 0.5)), t.name+"_event_p50_µs")
	}
	b.ReportMetric(us(pct(ttft["proxy"], 0.5)-pct(ttft["bare"], 0.5)), "added_ttft_p50_µs")
	b.ReportMetric(us(pct(transit["proxy"], 0.5)-pct(transit["bare"], 0.5)), "added_event_p50_µs")
	b.ReportMetric(us(pct(transit["proxy"], 0.99)-pct(transit["bare"], 0.99)), "added_event_p99_µs")
}
