package sqlite

import (
	"context"
	"strings"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// insertSQL inserts one row with every column of rows.Columns.
var insertSQL = "INSERT INTO requests (" + strings.Join(rows.Names(), ", ") +
	") VALUES (" + strings.TrimSuffix(strings.Repeat("?, ", len(rows.Columns)), ", ") + ")"

// Get returns the record with the given id, bodies and headers included,
// or an error wrapping ErrNotFound. A record v may not see is reported
// exactly as a missing one, so ids cannot be probed.
func (s *SQLite) Get(ctx context.Context, id string, v store.Viewer) (*capture.Record, error) {
	vis, args := visibleWhere(v)
	return rows.Get(ctx, querier{s.rdb}, id, vis, args)
}

// List returns the records matching f, newest first, without bodies and
// headers, and the number of records matching f in all.
func (s *SQLite) List(ctx context.Context, f store.Filter) ([]*capture.Record, int64, error) {
	return s.reader.List(ctx, f)
}

// Count returns the number of records matching f, ignoring its Limit and
// Offset.
func (s *SQLite) Count(ctx context.Context, f store.Filter) (int64, error) {
	return s.reader.Count(ctx, f)
}
