// Package live tracks what the dashboard shows as it happens: exchanges
// still in flight, and a version number that changes whenever the table
// could look different, so a poll that finds nothing new costs no query.
package live

import (
	"bytes"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// Pending is an exchange that has started but is not yet in the store.
type Pending struct {
	ID      string
	Start   time.Time
	Method  string
	Path    string
	Model   string // requested model, when the body names one early
	KeyHash string
	KeyMask string
	done    time.Time // the proxy finished it; the store has not committed it yet
}

// Tracker implements the proxy's Tracker and the store's AfterCommit hook.
type Tracker struct {
	version atomic.Uint64
	mu      sync.Mutex
	pending map[string]*Pending
}

// New returns an empty Tracker.
func New() *Tracker { return &Tracker{pending: map[string]*Pending{}} }

// Version changes whenever a record is committed, pruned, or starts or
// ends being in flight.
func (t *Tracker) Version() string { return strconv.FormatUint(t.version.Load(), 36) }

// Begin notes an exchange that has started. It runs on the proxy's hot path
// once per request, so it does only a map insert and a fingerprint.
func (t *Tracker) Begin(rec *capture.Record) {
	if rec.APIKey != "" && rec.KeyHash == "" {
		// Set on the record, so Analyze does not hash the key again.
		rec.KeyHash, rec.KeyMask = capture.Fingerprint(rec.APIKey), capture.Mask(rec.APIKey)
	}
	p := &Pending{ID: rec.ID, Start: rec.Start, Method: rec.Method, Path: rec.Path, Model: peekModel(rec.ReqBody.Head),
		KeyHash: rec.KeyHash, KeyMask: rec.KeyMask}
	t.mu.Lock()
	t.pending[rec.ID] = p
	t.mu.Unlock()
	t.version.Add(1)
}

// End notes that the proxy is done with an exchange. The row stays pending
// until the store commits it, so it never vanishes from the table between
// the two; a record that never commits is dropped after a minute.
func (t *Tracker) End(rec *capture.Record) {
	t.mu.Lock()
	if p := t.pending[rec.ID]; p != nil {
		p.done = time.Now()
	}
	t.mu.Unlock()
}

// Committed is the store's AfterCommit hook.
func (t *Tracker) Committed(batch []*capture.Record) {
	t.mu.Lock()
	for _, rec := range batch {
		delete(t.pending, rec.ID)
	}
	t.mu.Unlock()
	t.version.Add(1)
}

// Pruned is the store's AfterPrune hook.
func (t *Tracker) Pruned(ids []string) { t.version.Add(1) }

// Pending returns the exchanges in flight that match keep, newest first.
func (t *Tracker) Pending(keep func(*Pending) bool) []Pending {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Pending
	for id, p := range t.pending {
		if !p.done.IsZero() && time.Since(p.done) > time.Minute {
			delete(t.pending, id)
			continue
		}
		if keep(p) {
			out = append(out, *p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out
}

// peekModel finds "model":"…" near the start of a JSON body without parsing
// it, so Begin stays cheap.
func peekModel(body []byte) string {
	body = body[:min(len(body), 4096)]
	i := bytes.Index(body, []byte(`"model"`))
	if i < 0 {
		return ""
	}
	rest := bytes.TrimLeft(body[i+7:], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return ""
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '"' {
		return ""
	}
	end := bytes.IndexByte(rest[1:], '"')
	if end < 0 || end > 200 {
		return ""
	}
	return string(rest[1 : 1+end])
}
