package postgres_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres/pgtest"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// TestRetentionAcrossReplicas runs retention rounds on two replicas of one
// database at once: between them they delete exactly the surplus, oldest
// first, each record once, and each replica's AfterPrune hooks hear of the
// records it deleted.
func TestRetentionAcrossReplicas(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	const keep, total = 50, 400
	var (
		mu     sync.Mutex
		pruned [2][]string
	)
	replicas := make([]*postgres.Postgres, 2)
	for i := range replicas {
		replicas[i] = MustOpen(t, url, postgres.Options{MaxHistory: keep, PruneEvery: time.Hour, PruneBatch: 7,
			Hooks: []store.Hook{{AfterPrune: func(ids []string) {
				mu.Lock()
				pruned[i] = append(pruned[i], ids...)
				mu.Unlock()
			}}}})
	}
	ids := make([]string, 0, total)
	for i := range total {
		rec := storetest.NewRecord(t, "k")
		ids = append(ids, rec.ID)
		storetest.MustRecord(t, replicas[i%2], rec)
	}
	for _, s := range replicas {
		storetest.MustFlush(t, s)
	}
	slices.Sort(ids)

	ctx := context.Background()
	var wg sync.WaitGroup
	deleted := make([]int, 2)
	for i, s := range replicas {
		wg.Go(func() {
			n, err := s.Prune(ctx)
			if err != nil {
				t.Error(err)
			}
			deleted[i] = n
		})
	}
	wg.Wait()
	if deleted[0]+deleted[1] != total-keep {
		t.Fatalf("the replicas deleted %d and %d, want %d in all", deleted[0], deleted[1], total-keep)
	}
	all := append(slices.Clone(pruned[0]), pruned[1]...)
	slices.Sort(all)
	if len(pruned[0]) != deleted[0] || len(pruned[1]) != deleted[1] || !slices.Equal(all, ids[:total-keep]) {
		t.Fatalf("AfterPrune heard of %d and %d ids; want the %d oldest, each once", len(pruned[0]), len(pruned[1]), total-keep)
	}
	if n := storetest.MustCount(t, replicas[1]); n != keep {
		t.Fatalf("Count = %d after retention, want %d", n, keep)
	}
	st, err := replicas[0].Stats(ctx, store.Filter{Viewer: store.Viewer{Admin: true}}, time.Now())
	if err != nil || st.TotalRequests != total {
		t.Fatalf("Stats = %d requests, %v; the rollups keep counting the %d pruned", st.TotalRequests, err, total)
	}
}
