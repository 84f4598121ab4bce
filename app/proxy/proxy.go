// Package proxy forwards every /v1/<path> and /api/v1/<path> request to the
// upstream base URL, byte for byte, streams included, and hands a record of
// each finished exchange to a Recorder. It never waits on disk: building the
// record costs a capped copy of each body and a timing mark per read.
package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
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

// Recorder receives each finished exchange. Record may block to apply
// back-pressure; it must not drop a record silently.
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
	Upstream       *url.URL      // base URL; /v1/<path> goes to Upstream/<path>
	DefaultKey     string        // injected into requests without a key; "" = none
	Timeout        time.Duration // bounds one exchange, retries included
	Retries        int           // extra attempts before the first byte
	RetryBodyLimit int           // request bodies up to this size are buffered so they can be retried
	BodyLimit      int           // bytes of each body kept in the record
	Recorder       Recorder
	Tracker        Tracker           // optional
	Logger         *slog.Logger      // optional; defaults to slog.Default()
	Transport      http.RoundTripper // optional; defaults to NewTransport()
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
	deadline  context.Context // the exchange's context, to tell a timeout from a client that left
	reqTee    *teeReader      // set when the request body streams through
}

type ctxKey struct{}

// NewTransport returns the tuned transport the proxy uses by default: many
// idle connections per host (all traffic goes to one upstream) and no
// transparent decompression, so compressed bodies pass through untouched.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

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

	ctx, cancel := context.WithTimeout(r.Context(), p.opts.Timeout)
	defer cancel()
	ex.deadline = ctx
	if err := p.prepareBody(r, ex); err != nil {
		// The client's body broke off before we could forward it.
		rec.ProxyErr = "reading request body: " + err.Error()
		rec.Cancelled = r.Context().Err() != nil
		rec.Status = http.StatusBadRequest
		writeError(w, rec.Status, "invalid_request_error", "could not read the request body")
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
		p.finish(ex)
		if v != nil {
			panic(v)
		}
	}()
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, ex)))
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

// prepareBody buffers a request body of up to RetryBodyLimit bytes so that
// it can be replayed on retry; a larger body streams straight through, never
// held whole in memory, and is not retried.
func (p *Proxy) prepareBody(r *http.Request, ex *exchange) error {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	limit := int64(p.opts.RetryBodyLimit)
	if r.ContentLength > limit {
		ex.rec.ReqBody.Head = make([]byte, 0, ex.rec.ReqBody.Limit)
		ex.reqTee = &teeReader{r: r.Body, body: &ex.rec.ReqBody}
		r.Body = ex.reqTee
		return nil
	}
	if r.ContentLength >= 0 && r.ContentLength <= smallBody {
		// The usual case: a known, small length, read in one allocation.
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return err
		}
		// Read on to EOF: only then does net/http start watching the
		// connection, which is how a client that leaves cancels r.Context()
		// and so the upstream request.
		var eof [1]byte
		r.Body.Read(eof[:])
		p.buffered(r, ex, buf)
		return nil
	}
	// A larger or unknown length: read fixed-size pieces as they arrive, so
	// a client cannot make the proxy allocate by declaring a length, and a
	// huge chunked body costs at most the limit before it streams on.
	const piece = 64 << 10
	var pieces [][]byte
	var total int64
	for total <= limit {
		b := make([]byte, piece)
		n, err := io.ReadFull(r.Body, b)
		pieces, total = append(pieces, b[:n]), total+int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if r.ContentLength >= 0 && total != r.ContentLength {
				return io.ErrUnexpectedEOF
			}
			p.buffered(r, ex, bytes.Join(pieces, nil))
			return nil
		}
		if err != nil {
			return err
		}
	}
	ex.rec.ReqBody.Head = make([]byte, 0, ex.rec.ReqBody.Limit)
	readers := make([]io.Reader, 0, len(pieces)+1)
	for _, b := range pieces {
		ex.rec.ReqBody.Write(b)
		readers = append(readers, bytes.NewReader(b))
	}
	ex.reqTee = &teeReader{r: io.MultiReader(append(readers, r.Body)...), body: &ex.rec.ReqBody, skip: total, closer: r.Body}
	r.Body = ex.reqTee
	return nil
}

// smallBody is the largest declared request length read in one allocation.
const smallBody = 256 << 10

// buffered keeps a whole request body for replay. The buffer is ours, so the
// record shares it instead of copying.
func (p *Proxy) buffered(r *http.Request, ex *exchange, buf []byte) {
	ex.body = buf
	ex.rec.ReqBody.Head = buf[:min(len(buf), ex.rec.ReqBody.Limit)]
	ex.rec.ReqBody.Size = int64(len(buf))
	r.Body = http.NoBody
	r.ContentLength = int64(len(buf))
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
	if resp.ContentLength > 0 {
		// One allocation of the right size instead of append's doublings.
		rec.RespBody.Head = make([]byte, 0, min(resp.ContentLength, int64(rec.RespBody.Limit)))
	}
	ex.upstream = &teeBody{rc: resp.Body, rec: rec}
	resp.Body = ex.upstream
	return nil
}

// errorHandler answers when no upstream response could be had: the upstream
// was unreachable, or the exchange timed out or was cancelled first.
func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	ex := r.Context().Value(ctxKey{}).(*exchange)
	rec := ex.rec
	switch {
	case ex.timedOut():
		rec.TimedOut = true
		rec.Status = http.StatusGatewayTimeout
		rec.ProxyErr = "upstream did not answer within " + p.opts.Timeout.String()
		writeError(w, rec.Status, "timeout", rec.ProxyErr)
	case ex.deadline.Err() != nil:
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

// timedOut reports whether the exchange's context ended because
// REQUEST_TIMEOUT fired, rather than because the client left.
func (ex *exchange) timedOut() bool {
	return errors.Is(context.Cause(ex.deadline), context.DeadlineExceeded)
}

// finish completes the record and hands it to the Recorder.
func (p *Proxy) finish(ex *exchange) {
	rec := ex.rec
	rec.Duration = time.Since(rec.Start)
	rec.Attempts = max(ex.attempts, 1)
	if t := ex.upstream; t != nil && !t.eof {
		// The response body broke off before its end.
		switch {
		case ex.timedOut():
			rec.TimedOut = true
			rec.ProxyErr = "exchange exceeded " + p.opts.Timeout.String() + " and was cut off"
		case t.err == nil || errors.Is(t.err, context.Canceled):
			// Reading upstream went fine, so writing to the client failed,
			// or the client's context ended: the client left.
			rec.Cancelled = true
		default:
			rec.ProxyErr = "upstream connection lost: " + t.err.Error()
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

// teeBody copies the upstream response body into the record as the
// ReverseProxy reads it, noting when each piece arrived.
type teeBody struct {
	rc  io.ReadCloser
	rec *capture.Record
	eof bool
	err error
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	if n > 0 {
		t.rec.RespBody.Write(p[:n])
		t.rec.Marks.Add(t.rec.RespBody.Size, time.Since(t.rec.Start))
	}
	if err == io.EOF {
		t.eof = true
	} else if err != nil {
		t.err = err
	}
	return n, err
}

func (t *teeBody) Close() error { return t.rc.Close() }

// teeReader copies a streamed request body into the record as it is sent,
// skipping the first skip bytes, which were recorded already. The
// transport may still be reading the body after the exchange has ended (an
// upstream can answer before reading it all), so finish seals the tee
// before handing the record on, and later reads are passed on unrecorded.
type teeReader struct {
	r      io.Reader
	body   *capture.Body
	skip   int64
	closer io.Closer

	mu     sync.Mutex
	sealed bool
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		b := p[:n]
		t.mu.Lock()
		if !t.sealed {
			if t.skip > 0 {
				s := min(t.skip, int64(n))
				b, t.skip = b[s:], t.skip-s
			}
			t.body.Write(b)
		}
		t.mu.Unlock()
	}
	return n, err
}

// seal stops recording; after it returns the record's body is not touched.
func (t *teeReader) seal() {
	t.mu.Lock()
	t.sealed = true
	t.mu.Unlock()
}

func (t *teeReader) Close() error {
	if c, ok := t.r.(io.Closer); ok {
		return c.Close()
	}
	if t.closer != nil {
		return t.closer.Close()
	}
	return nil
}

// narrowEncoding offers the upstream only the compressions the record can
// decode (gzip, deflate) among those the client accepts. A brotli or zstd
// answer would pass through fine but be stored undecodable: no model, no
// usage, no cost, nothing to search.
func narrowEncoding(h http.Header, accept string) {
	var keep []string
	for part := range strings.SplitSeq(accept, ",") {
		coding, _, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip", "deflate", "identity":
			keep = append(keep, strings.TrimSpace(part))
		}
	}
	if len(keep) == 0 {
		h.Del("Accept-Encoding")
		return
	}
	h.Set("Accept-Encoding", strings.Join(keep, ", "))
}

// bufferPool recycles ReverseProxy's copy buffers.
type bufferPool struct{ p sync.Pool }

// Get returns a 32 KiB buffer.
func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

// Put returns buf to the pool.
func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
