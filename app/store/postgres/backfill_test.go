package postgres_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres/pgtest"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// TestBackfill empties the rollups of a database that holds records, as
// migrations 0005 and 0006 do, and opens it again: Open builds them from
// the records, a few per transaction, and the statistics come out as the
// writer had made them.
func TestBackfill(t *testing.T) {
	postgres.SetBackfillBatch(t, 3)
	url := pgtest.Start(t).NewDatabase(t)
	ctx := context.Background()
	base := storetest.RollupBase()
	now := base.Add(3 * time.Hour)
	admin := store.Filter{Viewer: store.Viewer{Admin: true}}

	// snapshot returns what the statistics say.
	type snapshot struct {
		Stats     store.Stats
		Breakdown []store.BreakdownRow
		Series    []store.Point
		Keys      []store.KeyInfo
		Models    []string
	}
	snap := func(s store.Store) snapshot {
		t.Helper()
		var sn snapshot
		var err error
		if sn.Stats, err = s.Stats(ctx, admin, now); err != nil {
			t.Fatal(err)
		}
		if sn.Breakdown, err = s.Breakdown(ctx, admin, store.ByModel); err != nil {
			t.Fatal(err)
		}
		if sn.Series, err = s.Series(ctx, store.Filter{Viewer: store.Viewer{Admin: true}, From: base, To: now}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if sn.Keys, err = s.Keys(ctx); err != nil {
			t.Fatal(err)
		}
		if sn.Models, err = s.Models(ctx, store.Viewer{Admin: true}); err != nil {
			t.Fatal(err)
		}
		return sn
	}

	s, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range storetest.FixedExchanges {
		storetest.MustRecord(t, s, storetest.RecordOf(t, x, base))
	}
	storetest.MustFlush(t, s)
	want := snap(s)
	if want.Stats.TotalRequests != int64(len(storetest.FixedExchanges)) {
		t.Fatalf("Stats before = %+v", want.Stats)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	conn := connect(t, url)
	if _, err := conn.Exec(ctx, `DELETE FROM rollups; DELETE FROM rollup_totals; DELETE FROM rollup_dims;
		DELETE FROM api_keys; DELETE FROM rollup_state`); err != nil {
		t.Fatal(err)
	}
	var calls []int64
	s2 := MustOpen(t, url, postgres.Options{Progress: func(done, total int64) {
		if total != int64(len(storetest.FixedExchanges)) {
			t.Errorf("Progress total %d, want %d", total, len(storetest.FixedExchanges))
		}
		calls = append(calls, done)
	}})
	if !reflect.DeepEqual(calls, []int64{3, 6, 7}) {
		t.Errorf("Progress done %v, want [3 6 7]: three records a transaction", calls)
	}
	if got := snap(s2); !reflect.DeepEqual(got, want) {
		t.Errorf("after the backfill:\n%+v\nwant\n%+v", got, want)
	}
}
