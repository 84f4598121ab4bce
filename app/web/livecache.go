package web

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/views"
)

// minRefresh is how often, at most, one view's live update is computed.
// Under steady traffic the live version changes with nearly every request,
// so without it each open dashboard would run the list, count and stats
// queries on every poll; with it, dashboards showing the same view share
// one computation a second, and what they show is at most this stale.
const minRefresh = time.Second

// maxLiveEntries bounds the live cache. Entries older than minRefresh are
// worthless, so the bound only matters when this many views are polled
// within one interval.
const maxLiveEntries = 512

// liveKey is one view of the table: everything a live update depends on
// besides the data. The viewer is part of it, so that no poll is answered
// with rows computed for someone else.
type liveKey struct {
	viewer   store.Viewer
	query    string // query.encode(): the filter and a non-default page size
	page     int
	pageSize int
}

// liveUpdate is what a live update shows.
type liveUpdate struct {
	table views.Table
	stats views.Stats
	// version is the view's state read before the queries (see
	// viewState); table.PollURL carries it, so the next poll compares
	// against what was shown.
	version string
	// digest, for a search the index answered, sums up the rows and
	// facets shown; table.PollURL carries it after the version.
	digest string
	// found is what the table was built from, for the full page's
	// filter lists.
	found found
}

// errLiveAborted is what callers waiting for a computation get when it
// panicked instead of returning.
var errLiveAborted = errors.New("web: live update computation aborted")

// liveEntry is one view's update, computed or being computed.
type liveEntry struct {
	at   time.Time     // when its computation started
	done chan struct{} // closed once update and err are set
	// ready, guarded by liveCache.mu, says done is closed.
	ready  bool
	update liveUpdate
	err    error
}

// liveCache shares live updates between the polls of one view. Its zero
// value is ready to use, and it is safe for concurrent use.
type liveCache struct {
	mu      sync.Mutex
	entries map[liveKey]*liveEntry
}

// get returns key's update: one computed less than minRefresh before now,
// or at the version current (which is then as new as can be; "" matches
// none), or the one being computed, or else the one compute returns,
// which concurrent callers for the same key then share. A caller whose ctx
// ends stops waiting; the computation goes on for the others.
func (c *liveCache) get(ctx context.Context, key liveKey, now time.Time, current string, compute func() (liveUpdate, error)) (liveUpdate, error) {
	c.mu.Lock()
	e := c.entries[key]
	if e != nil && (!e.ready || now.Sub(e.at) < minRefresh || current != "" && e.err == nil && e.update.version == current) {
		c.mu.Unlock()
		select {
		case <-e.done:
			return e.update, e.err
		case <-ctx.Done():
			return liveUpdate{}, ctx.Err()
		}
	}
	e = &liveEntry{at: now, done: make(chan struct{})}
	c.insert(key, e, now)
	c.mu.Unlock()

	update, err := liveUpdate{}, errLiveAborted
	defer func() { c.finish(key, e, update, err) }()
	update, err = compute()
	return update, err
}

// insert adds e under key, first dropping the entries too old to be served
// and, if that leaves no room, all of them. Callers hold c.mu.
func (c *liveCache) insert(key liveKey, e *liveEntry, now time.Time) {
	if c.entries == nil {
		c.entries = map[liveKey]*liveEntry{}
	}
	for k, old := range c.entries {
		if old.ready && now.Sub(old.at) >= minRefresh {
			delete(c.entries, k)
		}
	}
	if len(c.entries) >= maxLiveEntries {
		// Callers waiting for a dropped entry still get its update.
		clear(c.entries)
	}
	c.entries[key] = e
}

// finish records e's outcome and wakes its waiters. A failed computation is
// forgotten, so that the next poll tries again.
func (c *liveCache) finish(key liveKey, e *liveEntry, update liveUpdate, err error) {
	c.mu.Lock()
	e.update, e.err, e.ready = update, err, true
	if err != nil && c.entries[key] == e {
		delete(c.entries, key)
	}
	c.mu.Unlock()
	close(e.done)
}
