package postgres

import "testing"

// SetBackfillBatch makes the rollups' backfill count n records per
// transaction until the test ends.
func SetBackfillBatch(tb testing.TB, n int) {
	old := backfillBatch
	backfillBatch = n
	tb.Cleanup(func() { backfillBatch = old })
}

// MaxConns returns the size limit of s's connection pool.
func MaxConns(s *Postgres) int32 { return s.pool.Config().MaxConns }
