package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/internal/syncbuf"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/storetesting"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// MustOpen opens a store at path and closes it when the test ends.
func MustOpen(tb testing.TB, path string, opts sqlite.Options) *sqlite.SQLite {
	tb.Helper()
	return storetesting.MustOpen(tb, func() (*sqlite.SQLite, error) { return sqlite.Open(context.Background(), path, opts) })
}

// MustOpenTemp opens a store in a fresh temporary directory.
func MustOpenTemp(tb testing.TB, opts sqlite.Options) *sqlite.SQLite {
	tb.Helper()
	return MustOpen(tb, filepath.Join(tb.TempDir(), "proxy.db"), opts)
}

// admin sees every record.
var admin = store.Viewer{Admin: true}

// syncBuffer is a buffer safe for the writer goroutine's logger and the
// test to share.
type syncBuffer = syncbuf.Buffer

// newLogger returns a logger writing text to a buffer the test can read.
func newLogger() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func TestOpen(t *testing.T) {
	t.Run("AppliesMigrations", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "proxy.db")
		s := MustOpen(t, path, sqlite.Options{})
		if n := storetest.MustCount(t, s); n != 0 {
			t.Fatalf("Count = %d, want 0", n)
		}

		db, err := sql.Open("sqlite3", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var name string
		if err := db.QueryRow(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'requests'`).Scan(&name); err != nil {
			t.Fatalf("requests table: %v", err)
		}
		var mode string
		if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		} else if mode != "wal" {
			t.Fatalf("journal_mode = %q, want wal", mode)
		}
	})

	t.Run("CreatesParentDirectory", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a", "b", "proxy.db")
		MustOpen(t, path, sqlite.Options{})
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Fatalf("database file mode = %v, want private", perm)
		}
	})

	t.Run("Reopen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "proxy.db")
		s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rec := storetest.NewRecord(t, "k")
		storetest.MustRecord(t, s, rec)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = MustOpen(t, path, sqlite.Options{})
		if n := storetest.MustCount(t, s); n != 1 {
			t.Fatalf("Count after reopen = %d, want 1", n)
		}
		if _, err := s.Get(context.Background(), rec.ID, admin); err != nil {
			t.Fatal(err)
		}
	})
}

func TestGet(t *testing.T) {
	t.Run("LegacyRow", func(t *testing.T) {
		// A row imported from the old system: its columns only, NULLs
		// elsewhere, a text body and a Python isoformat timestamp.
		path := filepath.Join(t.TempDir(), "proxy.db")
		s := MustOpen(t, path, sqlite.Options{})
		db, err := sql.Open("sqlite3", path+"?_busy_timeout=5000")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`
			INSERT INTO requests (id, timestamp, method, url, path, headers, body,
				response_status, response_headers, response_body, duration_ms, error, outcome)
			VALUES ('legacy-1', '2024-01-02T03:04:05.678901', 'POST', '/v1/chat/completions', '',
				'{}', 'hello', NULL, NULL, NULL, 12.5, 'boom', 'proxy_error')`); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(context.Background(), "legacy-1", admin)
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2024, 1, 2, 3, 4, 5, 678901000, time.UTC); !got.Start.Equal(want) {
			t.Errorf("Start = %v, want %v", got.Start, want)
		}
		if string(got.ReqBodyStored) != "hello" || got.Status != 0 || got.Error != "boom" ||
			got.Duration != 12500*time.Microsecond || got.RespBodyStored != nil {
			t.Errorf("Get = %+v", got)
		}
	})
}

func TestRecord(t *testing.T) {
	t.Run("AnalyzesOnWriterAndNeverStoresTheKey", func(t *testing.T) {
		const secret = "sk-or-v1-0123456789abcdef0123456789abcdef"
		path := filepath.Join(t.TempDir(), "proxy.db")
		s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		rec := &capture.Record{
			ID:        storetest.NewID(t),
			Start:     time.Now(),
			Method:    "POST",
			URL:       "/v1/chat/completions",
			Path:      "/chat/completions",
			APIKey:    secret,
			ReqHeader: map[string][]string{"Authorization": {"Bearer " + secret}},
			Status:    200,
			Attempts:  1,
		}
		rec.ReqBody.Limit = 1 << 10
		rec.ReqBody.Write([]byte(`{"model":"openai/gpt-4o"}`))
		storetest.MustRecord(t, s, rec)
		storetest.MustFlush(t, s)

		got, err := s.Get(context.Background(), rec.ID, admin)
		if err != nil {
			t.Fatal(err)
		}
		if got.KeyHash != capture.Fingerprint(secret) || got.ModelRequested != "openai/gpt-4o" || got.Outcome == "" {
			t.Errorf("not analysed: key hash %q, model %q, outcome %q", got.KeyHash, got.ModelRequested, got.Outcome)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(path + "*")
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte(secret)) {
				t.Fatalf("%s holds the plaintext key", filepath.Base(f))
			}
		}
	})
}

func TestGroupCommit(t *testing.T) {
	var (
		mu      sync.Mutex
		sizes   []int
		seen    = map[string]int{}
		workers = 50
		each    = 20
	)
	s := MustOpenTemp(t, sqlite.Options{Hooks: []store.Hook{{
		AfterCommit: func(batch []*capture.Record) {
			mu.Lock()
			defer mu.Unlock()
			sizes = append(sizes, len(batch))
			for _, rec := range batch {
				seen[rec.ID]++
			}
		},
	}}})

	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				rec := storetest.NewRecord(t, "k")
				ids[w] = append(ids[w], rec.ID)
				if err := s.Record(rec); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	storetest.MustFlush(t, s)

	if n := storetest.MustCount(t, s); n != int64(workers*each) {
		t.Fatalf("Count = %d, want %d", n, workers*each)
	}
	recs, total, err := s.List(context.Background(), store.Filter{Viewer: admin})
	if err != nil {
		t.Fatal(err)
	}
	if total != int64(workers*each) || len(recs) != workers*each {
		t.Fatalf("List: %d records, total %d", len(recs), total)
	}
	stored := map[string]int{}
	for _, rec := range recs {
		stored[rec.ID]++
	}
	for _, list := range ids {
		for _, id := range list {
			if stored[id] != 1 {
				t.Fatalf("id %s stored %d times", id, stored[id])
			}
		}
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seen) != workers*each {
		t.Fatalf("AfterCommit saw %d distinct records, want %d", len(seen), workers*each)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("AfterCommit saw %s %d times", id, n)
		}
	}
	if slices.Max(sizes) <= 1 {
		t.Fatalf("no batch had more than one record: %v", sizes)
	}
	t.Logf("%d batches, largest %d", len(sizes), slices.Max(sizes))
}

func TestHookError(t *testing.T) {
	t.Run("RolledBackAndRetried", func(t *testing.T) {
		logger, logs := newLogger()
		var calls, visible, commits int
		s := MustOpenTemp(t, sqlite.Options{
			Logger: logger,
			InTx: func(ctx context.Context, tx *sql.Tx, batch []*capture.Record) error {
				calls++
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests`).Scan(&n); err != nil {
					return err
				}
				if n != len(batch) {
					return fmt.Errorf("%d rows visible in the transaction, want %d", n, len(batch))
				}
				visible++
				if calls <= 2 {
					return errors.New("index unavailable")
				}
				return nil
			},
			Hooks: []store.Hook{{AfterCommit: func([]*capture.Record) { commits++ }}},
		})
		storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
		storetest.MustFlush(t, s)

		// Each retry saw only its own rows: the failed tries rolled back.
		if calls != 3 || visible != 3 || commits != 1 {
			t.Fatalf("calls=%d visible=%d commits=%d, want 3, 3, 1\n%s", calls, visible, commits, logs)
		}
		if n := storetest.MustCount(t, s); n != 1 {
			t.Fatalf("Count = %d, want 1", n)
		}
		if got := strings.Count(logs.String(), "store: commit failed"); got != 2 {
			t.Fatalf("logged %d commit failures, want 2:\n%s", got, logs)
		}
	})

	t.Run("LostIsLogged", func(t *testing.T) {
		logger, logs := newLogger()
		var committed bool
		s := MustOpenTemp(t, sqlite.Options{
			Logger:     logger,
			BatchDelay: time.Hour, // only Flush ends the batch: all three in one
			InTx: func(context.Context, *sql.Tx, []*capture.Record) error {
				return errors.New("index unavailable")
			},
			Hooks: []store.Hook{{AfterCommit: func([]*capture.Record) { committed = true }}},
		})
		for range 3 {
			storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
		}
		storetest.MustFlush(t, s)
		if n := storetest.MustCount(t, s); n != 0 {
			t.Fatalf("Count = %d, want 0", n)
		}
		if committed {
			t.Fatal("AfterCommit ran for a rolled-back batch")
		}
		if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "lost=3") {
			t.Fatalf("no ERROR naming 3 lost records:\n%s", out)
		}
	})

	t.Run("BadRecordIsolated", func(t *testing.T) {
		logger, logs := newLogger()
		s := MustOpenTemp(t, sqlite.Options{Logger: logger, BatchDelay: time.Hour})
		first := storetest.NewRecord(t, "k")
		storetest.MustRecord(t, s, first)
		storetest.MustFlush(t, s)

		dup := storetest.NewRecord(t, "k")
		dup.ID = first.ID
		storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
		storetest.MustRecord(t, s, dup)
		storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
		storetest.MustFlush(t, s)

		if n := storetest.MustCount(t, s); n != 3 {
			t.Fatalf("Count = %d, want 3: one duplicate must not cost its batch", n)
		}
		if out := logs.String(); !strings.Contains(out, "lost=1") || !strings.Contains(out, first.ID) {
			t.Fatalf("no ERROR naming the lost record:\n%s", out)
		}
	})
}

func TestClose(t *testing.T) {
	t.Run("FlushesQueue", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "proxy.db")
		s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for range 500 {
			storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Record(storetest.NewRecord(t, "k")); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Record after Close: %v, want ErrClosed", err)
		}
		if err := s.Flush(context.Background()); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("Flush after Close: %v, want ErrClosed", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}

		s = MustOpen(t, path, sqlite.Options{})
		if n := storetest.MustCount(t, s); n != 500 {
			t.Fatalf("Count after reopen = %d, want 500", n)
		}
	})

	t.Run("RacesWithRecord", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "proxy.db")
		s, err := sqlite.Open(context.Background(), path, sqlite.Options{QueueSize: 8})
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu       sync.Mutex
			accepted int
			wg       sync.WaitGroup
			started  = make(chan struct{}, 20)
		)
		for range 20 {
			wg.Go(func() {
				started <- struct{}{}
				for {
					err := s.Record(storetest.NewRecord(t, "k"))
					if errors.Is(err, store.ErrClosed) {
						return
					} else if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			})
		}
		for range 20 {
			<-started
		}
		var cwg sync.WaitGroup
		for range 3 {
			cwg.Go(func() {
				if err := s.Close(); err != nil {
					t.Error(err)
				}
			})
		}
		cwg.Wait()
		wg.Wait()

		s = MustOpen(t, path, sqlite.Options{})
		if n := storetest.MustCount(t, s); n != int64(accepted) {
			t.Fatalf("Count = %d, want the %d accepted records", n, accepted)
		}
	})
}

// BenchmarkWriter measures records per second through Record and Flush,
// without bodies and with bodies of a typical chat completion's size.
func BenchmarkWriter(b *testing.B) {
	for _, size := range []int{0, 6 << 10} {
		b.Run(fmt.Sprintf("body=%d", size), func(b *testing.B) {
			s := MustOpenTemp(b, sqlite.Options{})
			reqBody := bytes.Repeat([]byte("x"), size/3)
			respBody := bytes.Repeat([]byte("y"), size-size/3)
			recs := make([]*capture.Record, b.N)
			for i := range recs {
				rec := storetest.NewRecord(b, "k")
				rec.ReqBodyStored, rec.RespBodyStored = reqBody, respBody
				recs[i] = rec
			}
			b.ResetTimer()
			for _, rec := range recs {
				if err := s.Record(rec); err != nil {
					b.Fatal(err)
				}
			}
			storetest.MustFlush(b, s)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
