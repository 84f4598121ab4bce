package sqlite

import (
	"fmt"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// Schema exposes schema, the migrations as goose reads them, so tests can
// build databases of an older version.
var Schema = schema

// LastIDSQL returns the query of LastID for v, so tests can check its
// query plan.
var LastIDSQL = func(v store.Viewer) (string, []any) { return rows.LastIDSQL(visibleWhere(v)) }

// SetMaxPageCount caps the database's size on the writer's connection, as
// a full disk would: inserts beyond it fail with SQLITE_FULL.
func SetMaxPageCount(s *SQLite, pages int64) error {
	_, err := s.wdb.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages))
	return err
}

// PageCount returns the database's size in pages.
func PageCount(s *SQLite) (n int64, err error) {
	err = s.wdb.QueryRow("PRAGMA page_count").Scan(&n)
	return n, err
}

// SetQueryOnly makes the writer's connection refuse writes, as a read-only
// file does: inserts fail with SQLITE_READONLY.
func SetQueryOnly(s *SQLite, on bool) error {
	_, err := s.wdb.Exec(fmt.Sprintf("PRAGMA query_only = %t", on))
	return err
}
