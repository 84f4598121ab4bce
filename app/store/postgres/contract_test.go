package postgres_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/storetesting"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres/pgtest"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

var _ storetest.Pruner = (*postgres.Postgres)(nil)

// MustOpen opens a store on url, closed when the test ends.
func MustOpen(tb testing.TB, url string, opts postgres.Options) *postgres.Postgres {
	tb.Helper()
	return storetesting.MustOpen(tb, func() (*postgres.Postgres, error) { return postgres.Open(context.Background(), url, opts) })
}

// TestContract runs the contract every backend meets against a fresh
// database of a real PostgreSQL cluster per test.
func TestContract(t *testing.T) {
	c := pgtest.Start(t)
	storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
		return MustOpen(t, c.NewDatabase(t), postgres.Options{MaxHistory: o.MaxHistory, PruneEvery: o.PruneEvery,
			PruneBatch: o.PruneBatch, Hooks: storetesting.Contract(t, o)})
	})
}

// TestPoolSize: the pool is bounded by Options.MaxConns, its default, or
// the URL's pool_max_conns when given.
func TestPoolSize(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	if got := postgres.MaxConns(MustOpen(t, url, postgres.Options{})); got != postgres.DefaultMaxConns {
		t.Errorf("default pool: %d connections, want %d", got, postgres.DefaultMaxConns)
	}
	if got := postgres.MaxConns(MustOpen(t, url, postgres.Options{MaxConns: 3})); got != 3 {
		t.Errorf("MaxConns 3: pool of %d", got)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	if got := postgres.MaxConns(MustOpen(t, url+sep+"pool_max_conns=5", postgres.Options{})); got != 5 {
		t.Errorf("pool_max_conns=5: pool of %d", got)
	}
}
