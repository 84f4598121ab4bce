package sqlite_test

import (
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/storetesting"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

var _ storetest.Pruner = (*sqlite.SQLite)(nil)

// TestContract runs the contract every backend meets against a real
// SQLite file per test.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
		return MustOpenTemp(t, sqlite.Options{MaxHistory: o.MaxHistory, PruneEvery: o.PruneEvery,
			PruneBatch: o.PruneBatch, Hooks: storetesting.Contract(t, o)})
	})
}
