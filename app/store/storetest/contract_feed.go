package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

func testRetention(t *testing.T, open Opener) {
	const keep, total = 100, 350

	// insert records total records with ids in ascending order and returns
	// the ids.
	insert := func(t *testing.T, s store.Store) []string {
		ids := make([]string, 0, total)
		for range total {
			rec := NewRecord(t, "k")
			ids = append(ids, rec.ID)
			MustRecord(t, s, rec)
		}
		MustFlush(t, s)
		slices.Sort(ids)
		return ids
	}

	// remaining returns the stored ids in ascending order.
	remaining := func(t *testing.T, s store.Store) []string {
		recs, _, err := s.List(context.Background(), store.Filter{Viewer: admin})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, rec := range recs {
			ids = append(ids, rec.ID)
		}
		slices.Sort(ids)
		return ids
	}

	for _, batch := range []int{0, 30, 250, 1} {
		t.Run(fmt.Sprintf("PruneBatch=%d", batch), func(t *testing.T) {
			var pruned []string
			s := open(t, Options{
				MaxHistory: keep,
				PruneEvery: time.Hour,
				PruneBatch: batch,
				AfterPrune: func(ids []string) { pruned = append(pruned, ids...) },
			})
			ids := insert(t, s)
			if n := prune(t, s); n != total-keep {
				t.Fatalf("Prune = %d, want %d", n, total-keep)
			}
			if got := remaining(t, s); !slices.Equal(got, ids[total-keep:]) {
				t.Fatalf("the newest %d did not remain: %d left", keep, len(got))
			}
			if !slices.Equal(pruned, ids[:total-keep]) {
				t.Fatalf("AfterPrune got %d ids, want the oldest %d", len(pruned), total-keep)
			}

			if n := prune(t, s); n != 0 {
				t.Fatalf("second Prune = %d; want 0", n)
			}
		})
	}

	t.Run("Background", func(t *testing.T) {
		deleted := make(chan int, 100)
		s := open(t, Options{
			MaxHistory: keep,
			PruneEvery: 10 * time.Millisecond,
			PruneBatch: 40,
			AfterPrune: func(ids []string) { deleted <- len(ids) },
		})
		ids := insert(t, s)
		sum := 0
		for sum < total-keep {
			select {
			case n := <-deleted:
				sum += n
			case <-time.After(10 * time.Second):
				t.Fatalf("retention deleted %d of %d", sum, total-keep)
			}
		}
		if sum != total-keep {
			t.Fatalf("retention deleted %d, want %d", sum, total-keep)
		}
		MustFlush(t, s)
		if got := remaining(t, s); !slices.Equal(got, ids[total-keep:]) {
			t.Fatalf("the newest %d did not remain: %d left", keep, len(got))
		}
	})

	t.Run("Unlimited", func(t *testing.T) {
		s := open(t, Options{})
		insert(t, s)
		if n := prune(t, s); n != 0 {
			t.Fatalf("Prune = %d; want 0", n)
		}
		if n := MustCount(t, s); n != total {
			t.Fatalf("Count = %d, want %d", n, total)
		}
	})
}

// testFeedFollowsCommitOrder: a record whose exchange started first (an
// older id, as a long stream has) but was committed last gets the highest
// sequence, and Since hands records over in commit order.
func testFeedFollowsCommitOrder(t *testing.T, open Opener) {
	s := open(t, Options{})
	if seq, err := s.LastSeq(context.Background()); err != nil || seq != 0 {
		t.Fatalf("LastSeq of an empty store = %d, %v; want 0", seq, err)
	}
	longStream := NewRecord(t, "k") // its id is taken first
	later := []string{}
	for range 3 {
		rec := NewRecord(t, "k")
		later = append(later, rec.ID)
		MustRecord(t, s, rec)
	}
	MustFlush(t, s)
	MustRecord(t, s, longStream)
	MustFlush(t, s)

	ctx := context.Background()
	recs, err := s.Since(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, r := range recs {
		if r.Seq != int64(i+1) {
			t.Errorf("record %d has seq %d", i, r.Seq)
		}
		got = append(got, r.ID)
	}
	want := append(later, longStream.ID)
	if len(got) != 4 || got[3] != want[3] || got[0] != want[0] {
		t.Fatalf("Since(0) = %v, want %v (commit order)", got, want)
	}
	if recs[0].ReqBodyStored == nil || recs[0].ReqHeaderJSON == "" {
		t.Error("Since must return bodies and headers")
	}
	if more, _ := s.Since(ctx, 3, 10); len(more) != 1 || more[0].ID != longStream.ID {
		t.Fatalf("Since(3) = %v", more)
	}
	st, err := s.Feed(ctx)
	if err != nil || st.MaxSeq != 4 || st.Count != 4 || st.Oldest.IsZero() {
		t.Fatalf("Feed = %+v, %v", st, err)
	}
	if seq, err := s.LastSeq(ctx); err != nil || seq != 4 {
		t.Fatalf("LastSeq = %d, %v; want 4", seq, err)
	}
}

// testFeedAfterRetention: pruned records leave the feed too.
func testFeedAfterRetention(t *testing.T, open Opener) {
	s := open(t, Options{MaxHistory: 2, PruneEvery: time.Hour})
	for range 5 {
		MustRecord(t, s, NewRecord(t, "k"))
	}
	MustFlush(t, s)
	prune(t, s)
	st, err := s.Feed(context.Background())
	if err != nil || st.Count != 2 || st.MaxSeq != 5 {
		t.Fatalf("Feed = %+v, %v: want 2 records left, the last seq 5", st, err)
	}
	if seq, err := s.LastSeq(context.Background()); err != nil || seq != 5 {
		t.Fatalf("LastSeq after retention = %d, %v; want 5", seq, err)
	}
	if recs, _ := s.Since(context.Background(), 0, 10); len(recs) != 2 || recs[0].Seq != 4 {
		t.Fatalf("Since(0) after retention: %d records", len(recs))
	}
}

// testTextsFollowVisibility: a user gets the texts of their own records
// only, whatever ids they ask for.
func testTextsFollowVisibility(t *testing.T, open Opener) {
	s := open(t, Options{})
	mine, theirs := NewRecord(t, "alice"), NewRecord(t, "bob")
	mine.Content, theirs.Content = "alice's reply", "bob's reply"
	MustRecord(t, s, mine)
	MustRecord(t, s, theirs)
	MustFlush(t, s)
	ctx := context.Background()
	got, err := s.Texts(ctx, []string{mine.ID, theirs.ID, "nope"}, store.Viewer{KeyHash: "alice"})
	if err != nil || len(got) != 1 || got[mine.ID].Content != "alice's reply" || string(got[mine.ID].Request) != "{}" {
		t.Fatalf("alice: %v %v", got, err)
	}
	if got, _ := s.Texts(ctx, []string{mine.ID}, store.Viewer{}); len(got) != 0 {
		t.Fatalf("a viewer without a key got %v", got)
	}
	if got, _ := s.Texts(ctx, []string{mine.ID, theirs.ID}, store.Viewer{Admin: true}); len(got) != 2 {
		t.Fatalf("admin got %d", len(got))
	}
}
