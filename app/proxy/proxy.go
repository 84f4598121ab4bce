// Package proxy forwards every /v1/<path> and /api/v1/<path> request to the
// upstream base URL, byte for byte, streams included, and hands a record of
// each finished exchange to a Recorder. It never waits on disk: building the
// record costs a capped copy of each body and a timing mark per read.
//
// The package is split by job: proxy.go holds the handler and the
// ReverseProxy hooks, body.go the request and response body capture,
// watchdog.go the time limits, retry.go the retries, check.go what requests
// are refused, and transport.go the upstream transport and header rules.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// Recorder receives each finished exchange. Record may wait briefly for
// room; it must never drop a record silently, and must count and report
// one it could not keep.
type Recorder interface {
	Record(rec *capture.Record) error
}

// Tracker, when set, is told when an exchange starts and when its record
// has been handed to the Recorder, so a dashboard can show requests in flight.
type Tracker interface {
	Begin(rec *capture.Record)
	End(rec *capture.Record)
}

// Options configure a Proxy.
type Options struct {
	Upstream *url.URL // base URL; /v1/<path> goes to Upstream/<path>
	// DefaultKey is injected into requests without a key; "" = none.
	DefaultKey string
	// Timeout (REQUEST_TIMEOUT) bounds every silence of an exchange: the
	// wait for the upstream's headers, a pause within either body, and a
	// write the client does not read. A stream that keeps sending is
	// never cut by it.
	Timeout time.Duration
	// MaxDuration (STREAM_MAX_DURATION) caps a whole exchange; 0 = no cap.
	MaxDuration    time.Duration
	Retries        int // extra attempts before the first byte
	RetryBodyLimit int // request bodies up to this size are buffered so they can be retried
	BodyLimit      int // bytes of each body kept in the record
	// DropCookies names cookies never forwarded upstream: the dashboard's
	// session cookie reaches the proxy too, since cookies ignore the port.
	DropCookies []string
	Recorder    Recorder
	Tracker     Tracker           // optional
	Logger      *slog.Logger      // optional; defaults to slog.Default()
	Transport   http.RoundTripper // optional; defaults to NewTransport()
}

// Proxy is an http.Handler that forwards to the upstream and records.
type Proxy struct {
	opts     Options
	rp       *httputil.ReverseProxy
	log      *slog.Logger
	inflight sync.WaitGroup
	cutoff   atomic.Bool
}

// exchange is the per-request state shared by the ReverseProxy hooks,
// reached through the request context.
type exchange struct {
	rec       *capture.Record
	body      []byte // the buffered request body when it can be replayed
	injectKey bool
	attempts  int
	upstream  *teeBody
	ctx       context.Context // the exchange's context, to tell a timeout from a client that left
	watch     *watchdog
	reqTee    *teeReader // set when the request body streams through
	upgraded  bool       // the upstream switched protocols (101)
}

type ctxKey struct{}

// New returns a Proxy for opts.
func New(opts Options) *Proxy {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Transport == nil {
		opts.Transport = NewTransport()
	}
	p := &Proxy{opts: opts, log: opts.Logger}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      &retryTransport{base: opts.Transport, retries: opts.Retries, log: opts.Logger},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		// Streams flush on every write: ReverseProxy does this by itself for
		// text/event-stream and unknown lengths; -1 also covers upstreams
		// that stream with another content type.
		FlushInterval: -1,
		// Without a pool, ReverseProxy allocates a 32 KiB copy buffer per
		// response: by far the largest allocation per request.
		BufferPool: &bufferPool{},
		ErrorLog:   slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	return p
}

// CutOff tells the proxy that the server is about to close the connections
// that outlived the shutdown grace period, so that their records blame the
// shutdown rather than the client.
func (p *Proxy) CutOff() { p.cutoff.Store(true) }

// Wait blocks until every exchange that has started has been handed to the
// Recorder. main calls it after the servers have shut down.
func (p *Proxy) Wait() { p.inflight.Wait() }

// upstreamPath maps a client path to the path under the upstream base, or
// reports false for paths the proxy does not serve.
func upstreamPath(p string) (string, bool) {
	for _, prefix := range [...]string{"/api/v1", "/v1"} {
		if rest, ok := strings.CutPrefix(p, prefix); ok && (rest == "" || rest[0] == '/') {
			return rest, true
		}
	}
	return "", false
}

// ServeHTTP forwards r and records the exchange.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := upstreamPath(r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", "openrouter-proxy serves /v1/<path> and /api/v1/<path>; got "+r.URL.Path)
		return
	}
	p.inflight.Add(1)
	defer p.inflight.Done()

	start := time.Now()
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	rec := &capture.Record{
		ID:         id.String(),
		Start:      start,
		Method:     r.Method,
		URL:        r.URL.RequestURI(),
		Path:       rest,
		Query:      r.URL.RawQuery,
		ReqHeader:  r.Header,
		ClientAddr: r.RemoteAddr,
		ReqBody:    capture.Body{Limit: p.opts.BodyLimit},
		RespBody:   capture.Body{Limit: p.opts.BodyLimit},
	}
	ex := &exchange{rec: rec}
	rec.APIKey = requestKey(r.Header)
	if rec.APIKey == "" && p.opts.DefaultKey != "" {
		rec.APIKey, ex.injectKey = p.opts.DefaultKey, true
	}
	if why := refusal(r); why != "" {
		// Refused before anything is read or sent, and recorded, so an
		// admin sees who tried.
		rec.Status = http.StatusBadRequest
		rec.ProxyErr = "refused: " + why
		writeError(w, rec.Status, "invalid_request_error", why)
		p.finish(ex)
		return
	}

	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	ex.ctx = ctx
	ex.watch = newWatchdog(start, p.opts.Timeout, p.opts.MaxDuration, w, cancel)
	w = &watchedWriter{ResponseWriter: w, d: ex.watch}
	if err := p.prepareBody(r, ex); err != nil {
		if t := ex.watch.timedOut(); t != nil {
			rec.TimedOut, rec.Status, rec.ProxyErr = true, t.Status, t.Error()
			writeError(w, rec.Status, "timeout", rec.ProxyErr)
		} else {
			// The client's body broke off before we could forward it.
			rec.ProxyErr = "reading request body: " + err.Error()
			rec.Cancelled = r.Context().Err() != nil
			rec.Status = http.StatusBadRequest
			writeError(w, rec.Status, "invalid_request_error", "could not read the request body")
		}
		p.finish(ex)
		return
	}

	if p.opts.Tracker != nil {
		p.opts.Tracker.Begin(rec)
	}
	defer func() {
		// ReverseProxy panics with http.ErrAbortHandler when a stream breaks
		// off mid-way (golang/go#23643); the record must still be written.
		v := recover()
		told := v == http.ErrAbortHandler && p.endStream(w, ex)
		p.finish(ex)
		if v != nil && !told { // when told, the client learnt why in the stream itself
			panic(v)
		}
	}()
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, ex)))
}

// refusal returns why r must not be forwarded, or "".
func refusal(r *http.Request) string {
	switch {
	case !validMethod(r.Method):
		return "the HTTP method must be letters and hyphens, such as POST"
	case dotSegment(r.URL.Path):
		return "the path must not contain . or .. segments"
	}
	return ""
}

// requestKey returns the API key a request carries, or "".
func requestKey(h http.Header) string {
	if a := h.Get("Authorization"); a != "" {
		if token, ok := capture.BearerToken(a); ok {
			return token
		}
		return a
	}
	return h.Get("X-Api-Key")
}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	ex := pr.In.Context().Value(ctxKey{}).(*exchange)
	rest, _ := upstreamPath(pr.In.URL.Path)
	pr.Out.URL.Path = rest
	pr.Out.URL.RawPath = ""
	if raw := pr.In.URL.RawPath; raw != "" {
		pr.Out.URL.RawPath, _ = upstreamPath(raw)
	}
	pr.SetURL(p.opts.Upstream)
	pr.Out.Host = ""
	// Rewrite already drops Forwarded and X-Forwarded-*; these carry the
	// client's address too and must not reach the upstream.
	pr.Out.Header.Del("X-Real-Ip")
	pr.Out.Header.Del("True-Client-Ip")
	dropCookies(pr.Out.Header, p.opts.DropCookies)
	if ex.injectKey {
		pr.Out.Header.Set("Authorization", "Bearer "+p.opts.DefaultKey)
	}
	if ae := pr.In.Header.Get("Accept-Encoding"); ae != "" {
		narrowEncoding(pr.Out.Header, ae)
	}
	if ex.body != nil {
		body := ex.body
		pr.Out.Body = io.NopCloser(bytes.NewReader(body))
		pr.Out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		pr.Out.ContentLength = int64(len(body))
	}
}

func (p *Proxy) modifyResponse(resp *http.Response) error {
	ex := resp.Request.Context().Value(ctxKey{}).(*exchange)
	rec := ex.rec
	rec.TTFB = time.Since(rec.Start)
	rec.Status = resp.StatusCode
	rec.RespHeader = resp.Header
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// ReverseProxy tunnels the two connections itself and needs the
		// upstream body as it is (writable). The tunnel has no request or
		// response body to record, and no silence limit: either side may
		// be quiet for as long as the protocol allows.
		ex.upgraded = true
		ex.watch.stop()
		return nil
	}
	ex.watch.setPhase(phaseBody)
	if resp.ContentLength > 0 {
		// One allocation of the right size instead of append's doublings.
		rec.RespBody.Head = make([]byte, 0, min(resp.ContentLength, int64(rec.RespBody.Limit)))
	}
	ex.upstream = &teeBody{rc: resp.Body, rec: rec, d: ex.watch}
	resp.Body = ex.upstream
	return nil
}

// errorHandler answers when no upstream response could be had: the upstream
// was unreachable, or the exchange timed out or was cancelled first.
func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	ex := r.Context().Value(ctxKey{}).(*exchange)
	rec := ex.rec
	switch t := ex.watch.timedOut(); {
	case t != nil:
		rec.TimedOut = true
		rec.Status = t.Status
		rec.ProxyErr = t.Error()
		writeError(w, rec.Status, "timeout", rec.ProxyErr)
	case ex.ctx.Err() != nil:
		rec.Cancelled = true
		// Nobody is listening; the status is only for the record.
		rec.Status = 499
		rec.ProxyErr = "client went away before the upstream answered"
	default:
		rec.Status = http.StatusBadGateway
		rec.ProxyErr = "upstream unreachable: " + err.Error()
		writeError(w, rec.Status, "upstream_error", rec.ProxyErr)
	}
}

// endStream tells a streaming client why its stream was cut, when a time
// limit cut it and the client is still reading: an SSE error event in the
// OpenAI shape, which SDKs raise as an error. It reports whether it did;
// otherwise the connection is aborted, so the client sees the cut.
func (p *Proxy) endStream(w http.ResponseWriter, ex *exchange) bool {
	t := ex.watch.timedOut()
	if t == nil || ex.watch.writing.Load() || !isEventStream(ex.rec.RespHeader) {
		return false
	}
	msg := fmt.Sprintf(`{"error":{"message":%q,"type":"timeout","code":%d}}`, t.Error()+"; the stream was cut off", t.Status)
	if _, err := fmt.Fprintf(w, "\ndata: %s\n\n", msg); err != nil {
		return false
	}
	return http.NewResponseController(w).Flush() == nil
}

// isEventStream reports whether h declares a text/event-stream body.
func isEventStream(h http.Header) bool {
	ct, _, _ := strings.Cut(h.Get("Content-Type"), ";")
	return strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
}

// finish completes the record and hands it to the Recorder.
func (p *Proxy) finish(ex *exchange) {
	rec := ex.rec
	rec.Duration = time.Since(rec.Start)
	rec.Attempts = max(ex.attempts, 1)
	var t *Timeout
	if ex.watch != nil {
		t = ex.watch.stop()
	}
	if tr := ex.upstream; tr != nil && !tr.eof {
		// The response body broke off before its end.
		switch {
		case t != nil:
			rec.ProxyErr = t.Error() + "; the answer was cut off"
		case tr.err == nil || errors.Is(tr.err, context.Canceled):
			// Reading upstream went fine, so writing to the client failed,
			// or the client's context ended: the client left.
			rec.Cancelled = true
		default:
			rec.ProxyErr = "upstream connection lost: " + tr.err.Error()
		}
	}
	if t != nil {
		rec.TimedOut = true
		if rec.ProxyErr == "" {
			rec.ProxyErr = t.Error()
		}
	}
	if rec.Cancelled && p.cutoff.Load() {
		// The server closed the connection, not the client.
		rec.Cancelled = false
		rec.ProxyErr = "cut off at shutdown: still running when SHUTDOWN_GRACE ran out"
	}
	if ex.reqTee != nil {
		ex.reqTee.seal()
	}
	if p.log.Enabled(context.Background(), slog.LevelDebug) {
		p.log.Debug("exchange", "id", rec.ID, "method", rec.Method, "path", rec.Path,
			"status", rec.Status, "attempts", rec.Attempts, "duration", rec.Duration,
			"cancelled", rec.Cancelled, "timed_out", rec.TimedOut, "error", rec.ProxyErr)
	}
	if err := p.opts.Recorder.Record(rec); err != nil {
		p.log.Error("record lost", "id", rec.ID, "err", err)
	}
	if p.opts.Tracker != nil {
		p.opts.Tracker.End(rec)
	}
}
