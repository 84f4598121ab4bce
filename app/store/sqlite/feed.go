package sqlite

import (
	"context"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// The feed reads records in commit order, for a consumer that keeps its own
// copy (the search index) and catches up from the last sequence it holds.

// Since returns up to limit records committed after sequence after, in
// commit order, bodies and headers included, each with its Seq. It applies
// no visibility rule: it is for the application's own consumers, never for
// a viewer.
func (s *SQLite) Since(ctx context.Context, after int64, limit int) ([]*capture.Record, error) {
	return rows.Since(ctx, querier{s.rdb}, after, limit)
}

// Feed returns where the feed stands, cheaply (three index lookups).
func (s *SQLite) Feed(ctx context.Context) (store.FeedState, error) {
	return rows.Feed(ctx, querier{s.rdb})
}

// LastSeq returns the commit sequence of the last committed record, 0 when
// none: one lookup at the end of request_seq's primary key.
func (s *SQLite) LastSeq(ctx context.Context) (int64, error) {
	return rows.LastSeq(ctx, querier{s.rdb})
}

// Texts returns the texts of the records with the given ids that v may
// see, by id: a page of search results, to cut snippets from. Ids v may not
// see, or that do not exist, are absent from the map.
func (s *SQLite) Texts(ctx context.Context, ids []string, v store.Viewer) (map[string]store.Texts, error) {
	return rows.Texts(ctx, querier{s.rdb}, &filters, ids, v)
}
