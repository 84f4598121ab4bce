package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// TestFeedFollowsCommitOrder: a record whose exchange started first (an
// older id, as a long stream has) but was committed last gets the highest
// sequence, and Since hands records over in commit order.
func TestFeedFollowsCommitOrder(t *testing.T) {
	s := MustOpenTemp(t, sqlite.Options{})
	longStream := storetest.NewRecord(t, "k") // its id is taken first
	later := []string{}
	for range 3 {
		rec := storetest.NewRecord(t, "k")
		later = append(later, rec.ID)
		storetest.MustRecord(t, s, rec)
	}
	storetest.MustFlush(t, s)
	storetest.MustRecord(t, s, longStream)
	storetest.MustFlush(t, s)

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
}

// TestFeedAfterRetention: pruned records leave the feed too.
func TestFeedAfterRetention(t *testing.T) {
	s := MustOpenTemp(t, sqlite.Options{MaxHistory: 2, PruneEvery: time.Hour})
	for range 5 {
		storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
	}
	storetest.MustFlush(t, s)
	if _, err := s.Prune(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := s.Feed(context.Background())
	if err != nil || st.Count != 2 || st.MaxSeq != 5 {
		t.Fatalf("Feed = %+v, %v: want 2 records left, the last seq 5", st, err)
	}
	if recs, _ := s.Since(context.Background(), 0, 10); len(recs) != 2 || recs[0].Seq != 4 {
		t.Fatalf("Since(0) after retention: %d records", len(recs))
	}
}

// TestSeqMigrationBackfills: a database from before the commit sequence
// gets one for every record, in insertion order.
func TestSeqMigrationBackfills(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite3", "file:"+path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sqlite.Schema)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	// Two legacy rows, the second with a smaller id: insertion order wins.
	for _, id := range []string{"0000000b", "0000000a"} {
		if _, err := db.Exec(`INSERT INTO requests (id, timestamp, method, url, path, headers, outcome)
			VALUES (?, '2025-01-01T00:00:00.000000Z', 'POST', '/v1/x', '/x', '{}', 'ok')`, id); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s := MustOpen(t, path, sqlite.Options{})
	recs, err := s.Since(context.Background(), 0, 10)
	if err != nil || len(recs) != 2 || recs[0].ID != "0000000b" || recs[1].Seq != 2 {
		t.Fatalf("after migration: %v %v", recs, err)
	}
	storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
	storetest.MustFlush(t, s)
	if st, _ := s.Feed(context.Background()); st.MaxSeq != 3 {
		t.Fatalf("a new record after the backfill got seq %d, want 3", st.MaxSeq)
	}
}

// TestTextsFollowVisibility: a user gets the texts of their own records
// only, whatever ids they ask for.
func TestTextsFollowVisibility(t *testing.T) {
	s := MustOpenTemp(t, sqlite.Options{})
	mine, theirs := storetest.NewRecord(t, "alice"), storetest.NewRecord(t, "bob")
	mine.Content, theirs.Content = "alice's reply", "bob's reply"
	storetest.MustRecord(t, s, mine)
	storetest.MustRecord(t, s, theirs)
	storetest.MustFlush(t, s)
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
