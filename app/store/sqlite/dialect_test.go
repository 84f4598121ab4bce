package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rollup"
)

// TestDialectHints checks that the shared queries read one key's rollups
// and the records of a ragged edge through the indexes SQLite would
// otherwise pass over.
func TestDialectHints(t *testing.T) {
	for _, tc := range []struct {
		name, from, want string
	}{
		{"user's rollups", dialect.RollupsFrom("rollups", store.Filter{Viewer: store.Viewer{KeyHash: "k"}}), "INDEXED BY rollups_key"},
		{"admin's key's rollups", dialect.RollupsFrom("rollups", store.Filter{Viewer: store.Viewer{Admin: true}, KeyHash: "k"}), "INDEXED BY rollups_key"},
		{"admin's rollups", dialect.RollupsFrom("rollups", store.Filter{Viewer: store.Viewer{Admin: true}}), ""},
		{"totals", dialect.RollupsFrom("rollup_totals", store.Filter{Viewer: store.Viewer{KeyHash: "k"}}), ""},
		{"ragged edge", dialect.RecordsFrom(rollup.Part{Ragged: true}), "INDEXED BY requests_timestamp"},
		{"records", dialect.RecordsFrom(rollup.Part{}), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if hint := strings.Contains(tc.from, "INDEXED BY"); hint != (tc.want != "") || !strings.Contains(tc.from, tc.want) {
				t.Errorf("from %q, want %q", tc.from, tc.want)
			}
		})
	}
}

// TestWindowedListPlans: a page of a list within a time window is read in
// order from an index, whoever asks and whatever else it filters by, and
// never sorted whole: at a million records a sort of a month's records
// takes seconds. SQLite plans without statistics, as in production, so
// the plan on an empty file is the plan on a full one.
func TestWindowedListPlans(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "proxy.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	admin, user := store.Viewer{Admin: true}, store.Viewer{KeyHash: "k"}
	for _, tc := range []struct {
		name string
		f    store.Filter
	}{
		{"admin", store.Filter{Viewer: admin}},
		{"admin, model and success", store.Filter{Viewer: admin, Model: "m", Status: store.StatusSuccess}},
		{"admin, one key", store.Filter{Viewer: admin, KeyHash: "k"}},
		{"user", store.Filter{Viewer: user}},
		{"user, model", store.Filter{Viewer: user, Model: "m"}},
	} {
		for _, w := range []struct {
			name     string
			from, to time.Time
		}{{"window", now.Add(-30 * 24 * time.Hour), now}, {"from", now.Add(-24 * time.Hour), time.Time{}}, {"to", time.Time{}, now}} {
			t.Run(tc.name+", "+w.name, func(t *testing.T) {
				f := tc.f
				f.From, f.To, f.Limit = w.from, w.to, 50
				q, args, err := s.reader.ListSQL(f)
				if err != nil {
					t.Fatal(err)
				}
				rows, err := s.rdb.Query("EXPLAIN QUERY PLAN "+q, args...)
				if err != nil {
					t.Fatal(err)
				}
				defer rows.Close()
				var plan []string
				for rows.Next() {
					var id, parent, unused int
					var detail string
					if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
						t.Fatal(err)
					}
					plan = append(plan, detail)
				}
				if p := strings.Join(plan, "; "); strings.Contains(p, "TEMP B-TREE FOR ORDER BY") || !strings.Contains(p, "USING INDEX") {
					t.Errorf("plan %q: want the page read in order from an index", p)
				}
			})
		}
	}
}
