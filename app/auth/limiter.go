package auth

import (
	"net"
	"sync"
	"time"
)

// Limiter counts login attempts per client address and refuses more than
// Max failures within Window, so keys cannot be guessed at speed. A success
// refunds only its own attempt: anyone who can reach the proxy can make a
// key "known", so a successful login proves nothing about the others.
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

// Take counts one login attempt from addr and reports whether it may go
// ahead, and if not, how long to wait. Counting before the attempt, in one
// step, means parallel attempts cannot all slip under the limit.
func (l *Limiter) Take(addr string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	h := host(addr)
	w := l.fails[h]
	if w == nil || now.Sub(w.start) > l.Window {
		w = &window{start: now}
		l.fails[h] = w
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

// Refund gives back the attempt of a login that succeeded, so that people
// who log in often are not limited; earlier failures still count.
func (l *Limiter) Refund(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w := l.fails[host(addr)]; w != nil && w.n > 0 {
		w.n--
	}
}
