package auth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// FailureCounter is where failed logins are counted: the store, so that
// every dashboard process on one database applies one limit
// (store.Store.LoginFailed).
type FailureCounter interface {
	LoginFailed(ctx context.Context, client string, now time.Time, window time.Duration, max int) (ok bool, wait time.Duration, err error)
}

// Limiter counts failed logins per client and refuses the failures beyond
// Max within Window. It never refuses a valid key: callers check the key
// first and report only failures, so that ten wrong guesses from an address
// shared by many people (an office, a reverse proxy) cannot lock the admin
// out. What it limits is how fast one client learns that its guesses are
// wrong.
type Limiter struct {
	Max    int
	Window time.Duration

	counter FailureCounter
}

// NewLimiter allows max failures per client per window, counted in c.
func NewLimiter(max int, per time.Duration, c FailureCounter) *Limiter {
	return &Limiter{Max: max, Window: per, counter: c}
}

// Fail counts one failed login from client (as Client names it) and reports
// whether it is within the limit, and if not, how long until the client's
// window ends. Counting and deciding in one step means parallel failures,
// on any dashboard sharing the database, cannot all slip under the limit.
func (l *Limiter) Fail(ctx context.Context, client string) (bool, time.Duration, error) {
	ok, wait, err := l.counter.LoginFailed(ctx, client, time.Now(), l.Window, l.Max)
	if err != nil {
		return false, 0, fmt.Errorf("auth: count a failed login: %w", err)
	}
	return ok, wait, nil
}

// Client names who a request comes from, for the Limiter: the address of
// the direct peer, or, when the peer is one of trusted (TRUSTED_PROXIES),
// the right-most X-Forwarded-For address that is not itself trusted. That
// is the one the nearest trusted proxy saw; everything left of it was
// written by the client, who could otherwise name a fresh address in each
// request and never reach the limit. X-Real-Ip and Forwarded are never
// read: one header is enough, and trusted proxies all write this one.
//
// IPv6 addresses are named by their /64, which one host usually owns whole
// and could rotate through.
func Client(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := parseAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !isTrusted(peer, trusted) {
		return clientKey(peer)
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		a, ok := parseAddr(hop)
		if !ok {
			// A trusted proxy wrote no address here: believe none of it.
			return clientKey(peer)
		}
		client = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return clientKey(client)
}

// parseAddr reads an address with or without a port.
func parseAddr(s string) (netip.Addr, bool) {
	if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientKey is the Limiter's name for a: the address, or an IPv6 /64.
func clientKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
