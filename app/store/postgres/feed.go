package postgres

import (
	"context"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// The feed reads records in commit order, for a consumer that keeps its own
// copy (the search index) and catches up from the last sequence it holds.
// Seqs are handed out in commit order across replicas (see Commit and
// migration 0003), so a reader that sees seq N sees every seq below it:
// a watermark never skips a record that commits late.

// Since returns up to limit records committed after sequence after, in
// commit order, bodies and headers included, each with its Seq. It applies
// no visibility rule: it is for the application's own consumers, never for
// a viewer.
func (s *Postgres) Since(ctx context.Context, after int64, limit int) (_ []*capture.Record, err error) {
	defer func() { err = unavailable(err) }()
	return rows.Since(ctx, shared{s.pool}, after, limit)
}

// Feed returns where the feed stands, cheaply (index lookups and a count).
func (s *Postgres) Feed(ctx context.Context) (_ store.FeedState, err error) {
	defer func() { err = unavailable(err) }()
	return rows.Feed(ctx, shared{s.pool})
}

// Texts returns the texts of the records with the given ids that v may
// see, by id: a page of search results, to cut snippets from. Ids v may not
// see, or that do not exist, are absent from the map.
func (s *Postgres) Texts(ctx context.Context, ids []string, v store.Viewer) (_ map[string]store.Texts, err error) {
	defer func() { err = unavailable(err) }()
	return rows.Texts(ctx, shared{s.pool}, &filters, ids, v)
}

// LastSeq returns the commit sequence of the last committed record, 0 when
// none: one lookup at the end of request_seq's primary key. A dashboard
// polls it to learn what any replica committed.
func (s *Postgres) LastSeq(ctx context.Context) (_ int64, err error) {
	defer func() { err = unavailable(err) }()
	return rows.LastSeq(ctx, shared{s.pool})
}
