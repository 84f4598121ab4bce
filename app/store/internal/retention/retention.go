// Package retention is what the SQLite and PostgreSQL stores share of
// retention, which deletes the oldest records beyond Options.MaxHistory: its
// defaults and its hooks. Each store runs its rounds its own way.
package retention

import (
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Defaults of the stores' retention options.
const (
	DefaultEvery = 5 * time.Second
	DefaultBatch = 500
)

// Defaults returns a store's retention options with defaults for the
// values that are unset: maxHistory (how many records to keep) 0, which
// keeps everything, when negative; every (how often to check) and batch
// (the most records deleted in one transaction) their defaults when not
// positive.
func Defaults(maxHistory int, every time.Duration, batch int) (int, time.Duration, int) {
	if every <= 0 {
		every = DefaultEvery
	}
	if batch <= 0 {
		batch = DefaultBatch
	}
	return max(maxHistory, 0), every, batch
}

// AfterPrune calls the AfterPrune hooks of hooks with the ids a retention
// step deleted, if it deleted any.
func AfterPrune(hooks []store.Hook, ids []string) {
	if len(ids) == 0 {
		return
	}
	for _, h := range hooks {
		if h.AfterPrune != nil {
			h.AfterPrune(ids)
		}
	}
}
