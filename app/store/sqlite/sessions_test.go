package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// TestSessions holds what the contract suite cannot check: a session
// outlives the store that created it.
func TestSessions(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.FixedZone("X", 7200))

	t.Run("SurviveReopen", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "proxy.db")
		s, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := storetest.NewSession("h1", now)
		if err := s.CreateSession(ctx, want); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s = MustOpen(t, path, sqlite.Options{})
		got, err := s.GetSession(ctx, "h1", now)
		if err != nil {
			t.Fatal(err)
		}
		if !storetest.SessionsEqual(got, want) {
			t.Errorf("GetSession = %+v, want %+v", got, want)
		}
	})
}
