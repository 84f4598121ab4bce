package seed_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/seed"
	"github.com/openrouter-proxy/openrouter-proxy/app/seed/seedtest"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

// writeSeed writes rows to a seed file in a temporary directory.
func writeSeed(t *testing.T, rows ...seed.Row) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "old.db")
	if err := seedtest.WriteFile(context.Background(), path, slices.Values(rows)); err != nil {
		t.Fatal(err)
	}
	return path
}

// openSeed opens the seed file at path, closed at the end.
func openSeed(t *testing.T, path string) *seed.DB {
	t.Helper()
	db, err := seed.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openStore opens a store in a temporary directory, closed at the end.
func openStore(t *testing.T) *sqlite.SQLite {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "proxy_requests.db"),
		sqlite.Options{QueueWait: time.Hour, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestImport(t *testing.T) {
	bad := jsonRow()
	bad.ID, bad.Timestamp = "6f1c1a52-3333-4c3e-9a57-0a1b2c3d4e5f", "not a time"
	badHeaders := jsonRow()
	badHeaders.ID, badHeaders.Headers = "6f1c1a52-4444-4c3e-9a57-0a1b2c3d4e5f", "{"
	path := writeSeed(t, streamRow(), bad, jsonRow(), badHeaders)
	st := openStore(t)
	ctx := context.Background()

	var progress [][2]int64
	opts := seed.ImportOptions{BatchSize: 3, Progress: func(done, total int64) {
		progress = append(progress, [2]int64{done, total})
	}}
	src := openSeed(t, path)
	sum, err := src.Import(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := "imported 2, skipped 0 already present, failed 2 (bad timestamp: 1, headers are not a JSON object: 1)"
	if sum.String() != want || sum.Rows != 4 {
		t.Errorf("summary %q (%d rows), want %q", sum, sum.Rows, want)
	}
	if !slices.Equal(progress, [][2]int64{{0, 4}, {3, 4}, {4, 4}}) {
		t.Errorf("progress %v", progress)
	}
	idStream, _ := seed.ID(streamRow(), seed.Options{})
	idJSON, _ := seed.ID(jsonRow(), seed.Options{})
	for _, id := range []string{idStream, idJSON} {
		if _, err := st.Get(ctx, id, store.Viewer{Admin: true}); err != nil {
			t.Errorf("record %s: %v", id, err)
		}
	}
	rec, err := st.Get(ctx, idStream, store.Viewer{KeyHash: capture.Fingerprint(aliceKey)})
	if err != nil || rec.Content != "Hello, world" || rec.Cost != 0.00042 || rec.KeyMask != "sk-or-v1…cdef" {
		t.Errorf("the stream as its key's user sees it: %+v, %v", rec, err)
	}

	t.Run("AgainChangesNothing", func(t *testing.T) {
		before, _ := st.Feed(ctx)
		sum, err := src.Import(ctx, st, opts)
		if err != nil {
			t.Fatal(err)
		}
		if want := "imported 0, skipped 2 already present, failed 2 (bad timestamp: 1, headers are not a JSON object: 1)"; sum.String() != want {
			t.Errorf("second run: %q, want %q", sum, want)
		}
		after, _ := st.Feed(ctx)
		if after != before {
			t.Errorf("the store changed: %+v, then %+v", before, after)
		}
	})
}

func TestOpenRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte(strings.Repeat("not sqlite\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	ownPath := filepath.Join(dir, "own.db")
	ownStore, err := sqlite.Open(context.Background(), ownPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ownStore.Close()

	cases := []struct {
		name, path, want string
		notSeed          bool
	}{
		{"Missing", filepath.Join(dir, "nope.db"), "no such file", false},
		{"Directory", dir, "is a directory", true},
		{"NotSQLite", text, "file is not a database", true},
		{"ThisStoresOwnFile", ownPath, "its table requests lacks authorization_bearer", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, err := seed.Open(context.Background(), c.path)
			if err == nil {
				db.Close()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || errors.Is(err, seed.ErrNotSeed) != c.notSeed {
				t.Fatalf("Open(%s) = %v, want an error saying %q", c.path, err, c.want)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("error of more than one line: %q", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nope.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the import created the missing file")
	}
}
