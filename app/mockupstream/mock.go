// Package mockupstream is an OpenRouter look-alike HTTP server for tests, the
// offline demo and benchmarks.
//
// It answers the endpoints clients use (chat and text completions, streamed
// or not, embeddings, models, key, credits, generation) with deterministic
// bodies in OpenRouter's shapes, plus a few diagnostic endpoints (/echo,
// /sink, /headers) that let tests see exactly what reached the upstream.
//
// Requests steer the mock with headers:
//
//	X-Mock-Scenario     slow, error, midstream-error, hang, flaky, slow-first,
//	                    or a fault: reset, hangup, short-body, malformed-sse,
//	                    big-line, gzip-bomb (faults.go describes them)
//	                    (or send model "mock/<scenario>")
//	X-Mock-Delay-Ms     pause for slow and slow-first (default Mock.DefaultDelay),
//	                    and before the cut of reset and hangup (default none)
//	X-Mock-Status       status for the error scenario (default 400)
//	X-Mock-Retry-After  Retry-After value for error and flaky answers
//	X-Mock-Key          flaky counter key (default "")
//	X-Mock-Fail-Times   failures before flaky succeeds (default 1)
//	X-Mock-Chunks       exact number of streamed content chunks
//	X-Mock-Gzip         "1" makes /echo answer gzip-compressed
//	X-Mock-Size         bytes of the big-line content or of the inflated gzip-bomb
//
// The mock is built to sit under benchmark load without being the
// bottleneck: stream chunks are appended into a pooled buffer instead of
// going through encoding/json, and the only lock is the flaky counter's.
package mockupstream

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scenario names accepted in X-Mock-Scenario or as model "mock/<scenario>".
const (
	scenarioSlow           = "slow"
	scenarioError          = "error"
	scenarioMidstreamError = "midstream-error"
	scenarioHang           = "hang"
	scenarioFlaky          = "flaky"
	scenarioSlowFirst      = "slow-first"
)

// defaultDelay is the slow-scenario pause when neither X-Mock-Delay-Ms nor
// Mock.DefaultDelay says otherwise.
const defaultDelay = 300 * time.Millisecond

// Mock is an OpenRouter look-alike HTTP handler.
//
// Configure the exported fields before serving the first request; the mock
// reads them without synchronisation.
type Mock struct {
	// OnDone, if set, is called when a request's handler ends. It runs on the
	// request's goroutine, so it should be quick; tests typically send the
	// Event on a buffered channel.
	OnDone func(Event)
	// DefaultDelay is the pause between stream events for the "slow" scenario
	// (and before headers for "slow-first") when X-Mock-Delay-Ms is absent.
	// Zero means 300ms.
	DefaultDelay time.Duration

	// flakyMu guards flaky, the number of flaky requests seen per X-Mock-Key.
	// It is the only lock on the request path, and only flaky requests take it.
	flakyMu sync.Mutex
	flaky   map[string]int
}

// Event describes one request the mock served.
type Event struct {
	// Method and Path are as received, before any /api/v1 prefix is stripped.
	Method, Path string
	// Scenario is the scenario that applied, or "" for a normal answer.
	Scenario string
	// Key is the X-Mock-Key header.
	Key string
	// Cancelled reports that the handler stopped before completing its
	// writes because the client went away: the request context ended, or a
	// write or flush to the connection failed.
	Cancelled bool
	// Status is the HTTP status the handler wrote, or 0 if it wrote nothing
	// (for example in the "hang" scenario).
	Status int
}

// New returns a Mock with the default settings.
func New() *Mock {
	return &Mock{DefaultDelay: defaultDelay}
}

// ServeHTTP answers one request as OpenRouter would.
//
// Paths are accepted with or without a leading /api/v1 or /v1, because
// clients point their OpenAI base URL at http://host:port/api/v1 and tests
// often use bare paths.
func (m *Mock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := exchange{w: w, r: r, rc: http.NewResponseController(w)}
	x.key = r.Header.Get("X-Mock-Key")
	if m.OnDone != nil {
		defer func() {
			m.OnDone(Event{
				Method:    r.Method,
				Path:      r.URL.Path,
				Scenario:  x.scenario,
				Key:       x.key,
				Cancelled: x.aborted,
				Status:    x.status,
			})
		}()
	}

	path := trimVersion(r.URL.Path)
	switch path {
	case "/chat/completions":
		if x.allow(http.MethodPost) {
			m.generate(&x, kindChat)
		}
	case "/completions":
		if x.allow(http.MethodPost) {
			m.generate(&x, kindText)
		}
	case "/embeddings":
		if x.allow(http.MethodPost) {
			handleEmbeddings(&x)
		}
	case "/models":
		if x.allow(http.MethodGet) {
			x.writeJSON(http.StatusOK, modelsBody)
		}
	case "/key":
		if x.allow(http.MethodGet) {
			x.writeJSON(http.StatusOK, keyBody)
		}
	case "/credits":
		if x.allow(http.MethodGet) {
			x.writeJSON(http.StatusOK, creditsBody)
		}
	case "/generation":
		if x.allow(http.MethodGet) {
			handleGeneration(&x)
		}
	case "/echo":
		if x.allow(http.MethodPost) {
			handleEcho(&x)
		}
	case "/sink":
		if x.allow(http.MethodPost) {
			handleSink(&x)
		}
	case "/headers":
		if x.allow(http.MethodGet, http.MethodPost) {
			handleHeaders(&x)
		}
	default:
		x.fail(http.StatusNotFound, "Not found: "+r.URL.Path, false)
	}
}

// trimVersion strips one leading /api/v1 or /v1 segment.
func trimVersion(p string) string {
	for _, prefix := range [...]string{"/api/v1", "/v1"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok && (rest == "" || rest[0] == '/') {
			if rest == "" {
				return "/"
			}
			return rest
		}
	}
	return p
}

// flakyShouldFail counts a flaky request for key and reports whether it is
// among the first failTimes ones, which must fail.
func (m *Mock) flakyShouldFail(key string, failTimes int) bool {
	m.flakyMu.Lock()
	defer m.flakyMu.Unlock()
	if m.flaky == nil {
		m.flaky = make(map[string]int)
	}
	m.flaky[key]++
	return m.flaky[key] <= failTimes
}

// delay is the pause the slow scenarios use for r.
func (m *Mock) delay(r *http.Request) time.Duration {
	if ms, ok := headerInt(r, "X-Mock-Delay-Ms"); ok && ms >= 0 {
		return time.Duration(ms) * time.Millisecond
	}
	if m.DefaultDelay > 0 {
		return m.DefaultDelay
	}
	return defaultDelay
}

// headerInt parses header name of r as an int; ok is false when the header
// is absent or not a number, so callers fall back to their default.
func headerInt(r *http.Request, name string) (n int, ok bool) {
	v := r.Header.Get(name)
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	return n, err == nil
}

// exchange is the state of one request: it records what the Event reports
// and turns write failures into an early stop.
type exchange struct {
	w  http.ResponseWriter
	r  *http.Request
	rc *http.ResponseController

	key      string
	scenario string
	status   int
	// aborted is set once the client is known to be gone; later writes are
	// skipped so a dead stream ends at once.
	aborted bool
}

// allow answers 405 unless the request method is one of methods. HEAD is
// accepted wherever GET is, as net/http's own mux does.
func (x *exchange) allow(methods ...string) bool {
	for _, m := range methods {
		if x.r.Method == m || (m == http.MethodGet && x.r.Method == http.MethodHead) {
			return true
		}
	}
	x.w.Header().Set("Allow", strings.Join(methods, ", "))
	x.fail(http.StatusMethodNotAllowed, "Method not allowed: "+x.r.Method+" "+x.r.URL.Path, false)
	return false
}

// writeHeader sends the status line and headers.
func (x *exchange) writeHeader(status int) {
	x.status = status
	x.w.WriteHeader(status)
}

// write sends b and reports whether the client can still be written to.
func (x *exchange) write(b []byte) bool {
	if x.aborted {
		return false
	}
	if _, err := x.w.Write(b); err != nil {
		x.aborted = true
		return false
	}
	return true
}

// flush pushes buffered bytes to the client. A stream must reach the client
// event by event (buffering all tokens until the end is the bug LiteLLM #26102
// describes), so every event is flushed.
func (x *exchange) flush() bool {
	if x.aborted {
		return false
	}
	if err := x.rc.Flush(); err != nil {
		// A writer that cannot flush at all (http.ErrNotSupported) still
		// delivers the bytes at the end; only a failed flush means the client
		// is gone.
		if err != http.ErrNotSupported {
			x.aborted = true
			return false
		}
	}
	return true
}

// pause waits d, or less if the client goes away, and reports whether the
// client is still there. It selects on the context so that a cancelled client
// ends a slow handler at once instead of after the remaining pauses.
func (x *exchange) pause(d time.Duration) bool {
	ctx := x.r.Context()
	if d <= 0 {
		return x.alive(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		x.aborted = true
		return false
	}
}

// alive reports whether ctx is still live, recording the abort if not.
func (x *exchange) alive(ctx context.Context) bool {
	if ctx.Err() != nil {
		x.aborted = true
		return false
	}
	return !x.aborted
}

// writeJSON answers status with a complete JSON body.
func (x *exchange) writeJSON(status int, body []byte) {
	h := x.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	x.writeHeader(status)
	x.write(body)
}

// fail answers status in OpenRouter's error shape. Errors the "upstream
// provider" produced carry metadata.provider_name, as OpenRouter's do;
// errors about the request itself carry empty metadata.
func (x *exchange) fail(status int, message string, fromProvider bool) {
	b := getBuf()
	defer putBuf(b)
	*b = appendError(*b, status, message, fromProvider)
	x.writeJSON(status, *b)
}

// appendError appends an OpenRouter error object: {"error":{...}}.
func appendError(b []byte, status int, message string, fromProvider bool) []byte {
	b = append(b, `{"error":`...)
	b = appendErrorFields(b, status, message, fromProvider)
	return append(b, '}')
}

// appendErrorFields appends the inner {"code","message","metadata"} object.
func appendErrorFields(b []byte, status int, message string, fromProvider bool) []byte {
	b = append(b, `{"code":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"message":`...)
	b = appendString(b, message)
	if fromProvider {
		b = append(b, `,"metadata":{"provider_name":"Mock"}}`...)
	} else {
		b = append(b, `,"metadata":{}}`...)
	}
	return b
}

// bufPool recycles response and request-body buffers; allocating them per
// request would dominate the mock's cost under benchmark load.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 4096)
	return &b
}}

// maxPooledBuf keeps one huge echo body from pinning memory in the pool.
const maxPooledBuf = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
