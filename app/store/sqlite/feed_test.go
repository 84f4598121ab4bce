package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

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
