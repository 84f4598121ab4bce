package sqlite

import (
	"strings"
	"testing"

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
