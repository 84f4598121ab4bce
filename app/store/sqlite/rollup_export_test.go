package sqlite

import (
	"context"
	"time"
)

// Compact runs the rollups' compaction as of now. The caller must not
// record concurrently: compaction belongs to the writer goroutine.
func Compact(s *SQLite, now time.Time) error { return s.compact(context.Background(), now) }

// SetBackfillBatch sets how many records the backfill counts per
// transaction and returns a function restoring it.
func SetBackfillBatch(n int) (restore func()) {
	old := backfillBatch
	backfillBatch = n
	return func() { backfillBatch = old }
}
