package proxy

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Timeout is why an exchange's context ended when one of its time limits
// fired, as context.Cause reports it. Its message is what the client and
// the record are told.
type Timeout struct {
	// Setting names the limit: REQUEST_TIMEOUT or STREAM_MAX_DURATION.
	Setting string
	// What says which wait ran out, e.g. "upstream sent nothing".
	What string
	// Limit is the configured duration.
	Limit time.Duration
	// Status is what the client gets when no answer has been sent yet.
	Status int
}

func (t *Timeout) Error() string {
	return t.Setting + ": " + t.What + " for " + t.Limit.String()
}

// The phases of an exchange, for naming a silence.
const (
	phaseRequest int32 = iota // reading the client's request body
	phaseHeaders              // waiting for the upstream's response headers
	phaseBody                 // copying the response body
)

// watchdog enforces an exchange's time limits with one timer:
//
//   - REQUEST_TIMEOUT bounds every silence: in the request body, before the
//     response headers, within the response body, and on a write the client
//     does not take. A stream that keeps sending is never cut by it;
//     OpenRouter sends keep-alive comments while a model thinks.
//   - STREAM_MAX_DURATION, when set, caps the whole exchange.
//
// The hot path only stores a timestamp per read or write (touch); the timer
// goroutine decides, when it fires, whether the exchange really went silent
// and rearms itself otherwise. When a limit fires it cancels the exchange's
// context with a *Timeout cause, which cancels the upstream request, and
// unblocks a read from or a write to the client that is stuck in the kernel
// by setting the connection's deadline to now.
type watchdog struct {
	start   time.Time
	idle    time.Duration // REQUEST_TIMEOUT
	max     time.Duration // STREAM_MAX_DURATION; 0 = none
	cancel  context.CancelCauseFunc
	rc      *http.ResponseController
	last    atomic.Int64 // time of the last progress, as nanoseconds since start
	phase   atomic.Int32
	writing atomic.Bool // a write to the client is under way

	mu    sync.Mutex
	timer *time.Timer
	fired *Timeout
}

// newWatchdog starts the limits of an exchange that began at start.
func newWatchdog(start time.Time, idle, max time.Duration, w http.ResponseWriter, cancel context.CancelCauseFunc) *watchdog {
	d := &watchdog{start: start, idle: idle, max: max, cancel: cancel, rc: http.NewResponseController(w)}
	d.mu.Lock()
	d.timer = time.AfterFunc(d.next(0), d.check)
	d.mu.Unlock()
	return d
}

// next returns how long from elapsed until the timer must look again.
func (d *watchdog) next(elapsed time.Duration) time.Duration {
	wait := time.Duration(d.last.Load()) + d.idle - elapsed
	if d.max > 0 {
		wait = min(wait, d.max-elapsed)
	}
	return max(wait, time.Millisecond)
}

// touch notes progress. It is the only watchdog call per read and write.
func (d *watchdog) touch() { d.last.Store(int64(time.Since(d.start))) }

// setPhase moves the exchange on to phase p and counts that as progress.
func (d *watchdog) setPhase(p int32) {
	d.phase.Store(p)
	d.touch()
}

// check runs on the timer: it fires a limit that has run out, or rearms.
func (d *watchdog) check() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer == nil {
		return // stopped
	}
	elapsed := time.Since(d.start)
	var t *Timeout
	switch {
	case d.max > 0 && elapsed >= d.max:
		t = &Timeout{Setting: "STREAM_MAX_DURATION", What: "the exchange ran", Limit: d.max, Status: http.StatusGatewayTimeout}
	case elapsed-time.Duration(d.last.Load()) >= d.idle:
		t = d.silence()
	default:
		d.timer.Reset(d.next(elapsed))
		return
	}
	d.fired = t
	now := time.Now()
	// Unblock what may be stuck on the client's connection. Both are safe
	// from another goroutine; either may be unsupported (an error we
	// ignore) on a hijacked or HTTP/2 connection.
	if d.writing.Load() {
		d.rc.SetWriteDeadline(now)
	}
	if d.phase.Load() == phaseRequest {
		d.rc.SetReadDeadline(now)
	}
	d.cancel(t)
}

// silence names the REQUEST_TIMEOUT that fired, by what was being waited on.
func (d *watchdog) silence() *Timeout {
	t := &Timeout{Setting: "REQUEST_TIMEOUT", Limit: d.idle, Status: http.StatusGatewayTimeout}
	switch {
	case d.writing.Load():
		t.What = "the client did not read the answer"
	case d.phase.Load() == phaseRequest:
		t.What, t.Status = "the client sent no request body", http.StatusRequestTimeout
	case d.phase.Load() == phaseHeaders:
		t.What = "the upstream sent no response headers"
	default:
		t.What = "the upstream sent nothing"
	}
	return t
}

// stop ends the watchdog and returns the limit that fired, if any.
func (d *watchdog) stop() *Timeout {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	return d.fired
}

// timedOut returns the limit that fired, if any.
func (d *watchdog) timedOut() *Timeout {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fired
}

// watchedWriter is the client's ResponseWriter with its writes and flushes
// watched, so that a client that stops reading is noticed. ReverseProxy
// reaches Flush and Hijack through http.ResponseController, which finds
// FlushError here and the rest through Unwrap.
type watchedWriter struct {
	http.ResponseWriter
	d *watchdog
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.d.writing.Store(true)
	n, err := w.ResponseWriter.Write(p)
	w.d.writing.Store(false)
	w.d.touch()
	return n, err
}

// FlushError flushes, watched like Write: with small SSE events the write
// only fills a buffer, and it is the flush that waits for the client.
func (w *watchedWriter) FlushError() error {
	w.d.writing.Store(true)
	err := w.d.rc.Flush()
	w.d.writing.Store(false)
	w.d.touch()
	return err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *watchedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
