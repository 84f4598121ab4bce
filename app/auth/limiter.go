package auth

import (
	"net"
	"sync"
	"time"
)

// Limiter counts failed logins per client address and refuses more than
// Max within Window, so keys cannot be guessed at speed. A success does not
// reset the count: anyone who can reach the proxy can make a key "known",
// so a successful login proves nothing about the other attempts.
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

// NewLimiter allows max failures per address per window.
func NewLimiter(max int, per time.Duration) *Limiter {
	return &Limiter{Max: max, Window: per, fails: map[string]*window{}, now: time.Now}
}

// host strips the port from a RemoteAddr.
func host(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// Allowed reports whether addr may try to log in now, and if not, how long
// it must wait.
func (l *Limiter) Allowed(addr string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.fails[host(addr)]
	if w == nil {
		return true, 0
	}
	if left := w.start.Add(l.Window).Sub(l.now()); left > 0 && w.n >= l.Max {
		return false, left
	}
	return true, 0
}

// Fail records a failed login from addr.
func (l *Limiter) Fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	h := host(addr)
	w := l.fails[h]
	if w == nil || now.Sub(w.start) > l.Window {
		w = &window{start: now}
		l.fails[h] = w
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
}
