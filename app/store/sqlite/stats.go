package sqlite

import (
	"context"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// Stats summarises the records matching f, ignoring its Limit and Offset.
// RecentRequests counts those started in the hour before now. Without a
// Search or IDs, it reads the rollups, which count the records retention
// deleted too, for whole buckets and the stored records for the ragged
// edges of the window (see rollup.Reader.Stats); its percentiles then come from
// histograms. Everything runs in one read transaction, so it sees one
// state of the database.
func (s *SQLite) Stats(ctx context.Context, f store.Filter, now time.Time) (store.Stats, error) {
	return s.reader.Stats(ctx, f, now)
}

// Models returns the distinct models of the records v may see, sorted:
// the model that served each request, or the one requested when the
// upstream named none. It reads the day rollups, so it lists the models of
// records retention has deleted too.
func (s *SQLite) Models(ctx context.Context, v store.Viewer) ([]string, error) {
	return dialect.Models(ctx, querier{s.rdb}, v)
}

// Methods returns the distinct HTTP methods of the records v may see, in
// upper case (as Filter.Method ignores case), sorted. Like Models, it reads
// the day rollups.
func (s *SQLite) Methods(ctx context.Context, v store.Viewer) ([]string, error) {
	return dialect.Methods(ctx, querier{s.rdb}, v)
}

// Keys returns every API key that has made requests, most recently used
// first, from the small table the writer keeps: Requests counts every
// request made with the key, those retention deleted included. It applies
// no visibility rule: only admins may be shown it.
func (s *SQLite) Keys(ctx context.Context) ([]store.KeyInfo, error) {
	return rows.Keys(ctx, querier{s.rdb})
}

// LastID returns the id of the newest record v may see, or "" when there
// is none. A poller compares it with the one it saw before to learn
// whether anything new arrived.
func (s *SQLite) LastID(ctx context.Context, v store.Viewer) (string, error) {
	vis, args := visibleWhere(v)
	return rows.LastID(ctx, querier{s.rdb}, vis, args)
}

// HasKey reports whether any record was made with the key whose
// fingerprint is keyHash. The dashboard lets a key log in only then.
func (s *SQLite) HasKey(ctx context.Context, keyHash string) (bool, error) {
	if keyHash == "" {
		return false, nil
	}
	id, err := s.LastID(ctx, store.Viewer{KeyHash: keyHash})
	return id != "", err
}
