package proxy

import (
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Backoff bounds. A Retry-After longer than maxRetryAfter is not waited
// for: the client gets the upstream's answer at once and decides itself.
const (
	backoffBase   = 200 * time.Millisecond
	backoffCap    = 5 * time.Second
	maxRetryAfter = 20 * time.Second
)

// retryTransport retries connection failures and 429/502/503/504 answers.
// It runs before ReverseProxy has written anything to the client, so every
// retry is invisible to the client apart from the delay.
type retryTransport struct {
	base    http.RoundTripper
	retries int
	log     *slog.Logger
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ex, _ := req.Context().Value(ctxKey{}).(*exchange)
	orig := req
	for attempt := 1; ; attempt++ {
		if ex != nil {
			ex.attempts = attempt
			ex.watch.touch() // each attempt gets the whole REQUEST_TIMEOUT
		}
		resp, err := t.base.RoundTrip(req)
		if attempt > t.retries || !retryable(req, resp, err) {
			return resp, err
		}
		wait, ok := backoff(attempt, resp)
		if !ok {
			return resp, err
		}
		if resp != nil {
			// Drain a little so the connection can be reused.
			io.CopyN(io.Discard, resp.Body, 64<<10)
			resp.Body.Close()
		}
		if t.log.Enabled(req.Context(), slog.LevelDebug) {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.log.Debug("retrying upstream", "path", req.URL.Path, "attempt", attempt, "status", status, "err", err, "wait", wait)
		}
		timer := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		case <-timer.C:
		}
		// A fresh request each time: the last attempt's may still be read
		// by the transport that sent it.
		req = orig.Clone(orig.Context())
		if orig.GetBody != nil {
			body, gerr := orig.GetBody()
			if gerr != nil {
				return nil, gerr
			}
			req.Body = body
		}
	}
}

// retryable reports whether an attempt may be repeated: the request body must
// be replayable and the failure one that a retry can cure.
func retryable(req *http.Request, resp *http.Response, err error) bool {
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return false
	}
	if err != nil {
		// Only when the request surely never reached the upstream: a POST
		// that did and broke off may have been generated, and billed,
		// already.
		return req.Context().Err() == nil && notSent(err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// backoff returns how long to wait before attempt+1: the upstream's
// Retry-After when it gives one, else capped exponential backoff with full
// jitter. It reports false when Retry-After asks for longer than we wait.
func backoff(attempt int, resp *http.Response) (time.Duration, bool) {
	if resp != nil {
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			d, ok := parseRetryAfter(ra)
			if ok {
				return d, d <= maxRetryAfter
			}
		}
	}
	d := min(backoffBase<<(attempt-1), backoffCap)
	return d/2 + rand.N(d/2+1), true
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string) (time.Duration, bool) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// notSent reports whether err means the request never left: the connection
// could not be made, or the host not found.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}
