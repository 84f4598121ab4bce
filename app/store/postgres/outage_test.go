package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres/pgtest"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// TestFailing holds the classification the pipeline acts on: errors of a
// database that is down are failing (hold the batch and retry), a bad
// batch is not (isolate the bad record).
func TestFailing(t *testing.T) {
	c := pgtest.New(t)
	s := MustOpen(t, c.NewDatabase(t), postgres.Options{})
	ctx := context.Background()

	rec := storetest.NewRecord(t, "k")
	if err := s.Commit(ctx, []*capture.Record{rec}); err != nil {
		t.Fatal(err)
	}
	dup := storetest.NewRecord(t, "k")
	dup.ID = rec.ID
	err := s.Commit(ctx, []*capture.Record{dup})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		t.Fatalf("committing a duplicate id: %v, want a unique violation", err)
	}
	if s.Failing(err) {
		t.Errorf("Failing(%v) = true, want false: the batch is bad, not the database", err)
	}
	for _, code := range []string{"57P01", "57P03", "53100", "08006", "25006"} {
		if err := fmt.Errorf("store: commit: %w", &pgconn.PgError{Code: code}); !s.Failing(err) {
			t.Errorf("Failing(SQLSTATE %s) = false, want true", code)
		}
	}
	for _, code := range []string{"23505", "22021", "42P01"} {
		if err := fmt.Errorf("store: commit: %w", &pgconn.PgError{Code: code}); s.Failing(err) {
			t.Errorf("Failing(SQLSTATE %s) = true, want false", code)
		}
	}

	c.Stop(t)
	// The pool's idle connection broke, and new ones are refused: both
	// are failing, whichever the pool meets first.
	for i := range 3 {
		err := s.Commit(ctx, []*capture.Record{storetest.NewRecord(t, "k")})
		if err == nil {
			t.Fatalf("commit %d succeeded with the server stopped", i)
		}
		if !s.Failing(err) {
			t.Errorf("commit %d with the server stopped: Failing(%v) = false, want true", i, err)
		}
	}

	// Reads say the database is unreachable, for the dashboard's 503.
	if _, err := s.Count(ctx, store.Filter{Viewer: store.Viewer{Admin: true}}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Count with the server stopped: %v, want store.ErrUnavailable", err)
	}
	if _, err := s.GetSession(ctx, "x", time.Now()); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("GetSession with the server stopped: %v, want store.ErrUnavailable", err)
	}

	// Open names the server it could not reach, never the password.
	u := &url.URL{Scheme: "postgres", User: url.UserPassword("postgres", "s3cret-pw"),
		Host: fmt.Sprintf("127.0.0.1:%d", c.Port()), Path: "/postgres", RawQuery: "sslmode=disable&connect_timeout=5"}
	_, err = postgres.Open(ctx, u.String(), postgres.Options{})
	want := fmt.Sprintf("store: postgres: cannot connect to 127.0.0.1:%d: ", c.Port())
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "s3cret-pw") ||
		strings.Contains(err.Error(), "\n") {
		t.Errorf("Open with the server down: %v; want one line starting %q, without the password", err, want)
	}
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open with the server down: %v, want store.ErrUnavailable", err)
	}
}

// TestDatabaseOutage stops PostgreSQL while records arrive for two
// seconds: every record recorded meanwhile is written once the server is
// back, none lost, and Health says the database is failing meanwhile.
func TestDatabaseOutage(t *testing.T) {
	c := pgtest.New(t)
	url := c.NewDatabase(t)
	s := MustOpen(t, url, postgres.Options{})
	ctx := context.Background()

	storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
	storetest.MustFlush(t, s)

	c.Stop(t)
	ids := map[string]bool{}
	for start := time.Now(); time.Since(start) < 2*time.Second; {
		rec := storetest.NewRecord(t, "k")
		ids[rec.ID] = true
		storetest.MustRecord(t, s, rec)
		time.Sleep(20 * time.Millisecond) // pacing the arrivals, not synchronisation
	}
	if h := s.Health(); !h.Failing || h.Lost != 0 {
		t.Errorf("Health during the outage = %+v, want failing with nothing lost", h)
	}
	c.Restart(t)

	flushCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Flush(flushCtx); err != nil {
		t.Fatal(err)
	}
	if h := s.Health(); h.Failing || h.Lost != 0 {
		t.Errorf("Health after the outage = %+v, want healthy with nothing lost", h)
	}
	if n := storetest.MustCount(t, s); n != int64(len(ids))+1 {
		t.Fatalf("%d records stored, want %d", n, len(ids)+1)
	}
	found, err := s.Existing(ctx, keys(ids))
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != len(ids) {
		t.Fatalf("%d of the %d records recorded during the outage are stored", len(found), len(ids))
	}
	st, err := s.Feed(ctx)
	if err != nil || st.MaxSeq != int64(len(ids))+1 || st.Count != int64(len(ids))+1 {
		t.Fatalf("Feed = %+v, %v; want seqs 1…%d", st, err, len(ids)+1)
	}
}

// keys returns the keys of m.
func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
