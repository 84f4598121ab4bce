package auth

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Limiter counts failed logins per client and refuses the failures beyond
// Max within Window. It never refuses a valid key: callers check the key
// first and report only failures, so that ten wrong guesses from an address
// shared by many people (an office, a reverse proxy) cannot lock the admin
// out. What it limits is how fast one client learns that its guesses are
// wrong.
type Limiter struct {
	Max    int
	Window time.Duration

	mu    sync.Mutex
	fails map[string]*window
	now   func() time.Time
}

type window struct {
	start time.Time
	n     int
}

// NewLimiter allows max failures per client per window.
func NewLimiter(max int, per time.Duration) *Limiter {
	return &Limiter{Max: max, Window: per, fails: map[string]*window{}, now: time.Now}
}

// Fail counts one failed login from client (as Client names it) and reports
// whether it is within the limit, and if not, how long until the client's
// window ends. Counting and deciding in one step means parallel failures
// cannot all slip under the limit.
func (l *Limiter) Fail(client string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.fails[client]
	if w == nil || now.Sub(w.start) > l.Window {
		w = &window{start: now}
		l.fails[client] = w
	}
	if w.n >= l.Max {
		return false, w.start.Add(l.Window).Sub(now)
	}
	w.n++
	// Forget stale windows now and then, so the map stays small.
	if len(l.fails) > 10000 {
		for k, v := range l.fails {
			if now.Sub(v.start) > l.Window {
				delete(l.fails, k)
			}
		}
	}
	return true, 0
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
