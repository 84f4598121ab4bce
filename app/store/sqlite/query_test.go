package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

// alice is a user's key hash.
var alice = store.Viewer{KeyHash: "alice"}

func TestLastID(t *testing.T) {
	t.Run("IndexOnly", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "proxy.db")
		MustOpen(t, path, sqlite.Options{})
		db, err := sql.Open("sqlite3", path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, v := range []store.Viewer{admin, alice} {
			query, args := sqlite.LastIDSQL(v)
			rows, err := db.Query("EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			if len(plan) != 1 || !strings.Contains(plan[0], "COVERING INDEX") {
				t.Errorf("viewer %+v: plan %q, want one covering index step", v, plan)
			}
		}
	})
}
