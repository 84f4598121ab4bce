package postgres

import (
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// SetEachPage makes Each read pages of at most rows records or bytes of
// MemSize until the test ends, so that a few records span many pages.
func SetEachPage(tb testing.TB, n int, bytes int64) { tb.Cleanup(rows.SetEachPage(n, bytes)) }

// SetBackfillBatch makes the rollups' backfill count n records per
// transaction until the test ends.
func SetBackfillBatch(tb testing.TB, n int) {
	old := backfillBatch
	backfillBatch = n
	tb.Cleanup(func() { backfillBatch = old })
}

// MaxConns returns the size limit of s's connection pool.
func MaxConns(s *Postgres) int32 { return s.pool.Config().MaxConns }
