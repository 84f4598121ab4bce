// Package live tracks what the dashboard shows as it happens: exchanges
// still in flight, and a version number that changes whenever the table
// could look different, so a poll that finds nothing new costs no query.
package live

import (
	"bytes"
	"math/rand/v2"
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

// Tracker implements the proxy's Tracker and the store's AfterCommit and
// AfterPrune hooks.
//
// It keeps two kinds of version. Version, for admins, changes with every
// change. KeyVersion, for everyone else, changes only with the exchanges of
// one key, and is a random value rather than a count, so a user who polls
// learns nothing of other keys' traffic, not even how much there is.
type Tracker struct {
	// salt starts every version, so that a dashboard left open across a
	// restart never finds its old version current.
	salt    string
	version atomic.Uint64

	mu      sync.Mutex
	pending map[string]*Pending
	keys    map[string]keyVersion // by key fingerprint
	seq     uint64                // orders keys for eviction
}

// keyVersion is one key's version: random, drawn again at each change.
type keyVersion struct {
	value uint64
	seq   uint64 // when it last changed
}

// maxKeyVersions bounds the per-key versions. Past it, the keys that
// changed least recently are forgotten; a forgotten key's version falls
// back to the salt, which at worst makes its dashboard recompute once.
const maxKeyVersions = 100_000

// New returns an empty Tracker.
func New() *Tracker {
	return &Tracker{
		salt:    strconv.FormatUint(rand.Uint64(), 36),
		pending: map[string]*Pending{},
		keys:    map[string]keyVersion{},
	}
}

// Version changes whenever a record is committed, pruned, or starts being
// in flight. It reflects everyone's traffic: only admins may be given it.
func (t *Tracker) Version() string {
	return t.salt + "." + strconv.FormatUint(t.version.Load(), 36)
}

// KeyVersion changes whenever an exchange made with the key of this
// fingerprint is committed or starts being in flight, and with nothing
// else. Records pruned by retention do not change it: the store's hook
// names only their ids, and telling every key about a prune would tell
// each user that others' traffic had pushed old records out.
func (t *Tracker) KeyVersion(keyHash string) string {
	t.mu.Lock()
	k, ok := t.keys[keyHash]
	t.mu.Unlock()
	if !ok {
		return t.salt
	}
	return t.salt + "." + strconv.FormatUint(k.value, 36)
}

// changed records a change of the exchanges of keyHash. Callers hold t.mu.
func (t *Tracker) changed(keyHash string) {
	if keyHash == "" {
		return // no key: only admins see it
	}
	t.seq++
	t.keys[keyHash] = keyVersion{value: rand.Uint64(), seq: t.seq}
	if len(t.keys) > maxKeyVersions {
		// Forget the older half in one pass, so the cost per change stays
		// constant on average.
		cut := t.seq - maxKeyVersions/2
		for h, k := range t.keys {
			if k.seq <= cut {
				delete(t.keys, h)
			}
		}
	}
}

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
	t.changed(rec.KeyHash)
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
		t.changed(rec.KeyHash)
	}
	t.mu.Unlock()
	t.version.Add(1)
}

// Pruned is the store's AfterPrune hook. It changes only Version; see
// KeyVersion.
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
