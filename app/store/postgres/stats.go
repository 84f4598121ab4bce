package postgres

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
func (s *Postgres) Stats(ctx context.Context, f store.Filter, now time.Time) (_ store.Stats, err error) {
	defer func() { err = unavailable(err) }()
	return s.reader.Stats(ctx, f, now)
}

// Models returns the distinct models of the records v may see, sorted:
// the model that served each request, or the one requested when the
// upstream named none. It reads the day rollups, so it lists the models of
// records retention has deleted too.
func (s *Postgres) Models(ctx context.Context, v store.Viewer) (_ []string, err error) {
	defer func() { err = unavailable(err) }()
	return dialect.Models(ctx, shared{s.pool}, v)
}

// Methods returns the distinct HTTP methods of the records v may see, in
// upper case (as Filter.Method ignores case), sorted. Like Models, it reads
// the day rollups.
func (s *Postgres) Methods(ctx context.Context, v store.Viewer) (_ []string, err error) {
	defer func() { err = unavailable(err) }()
	return dialect.Methods(ctx, shared{s.pool}, v)
}

// Keys returns every API key that has made requests, most recently used
// first, from the small table the writer keeps: Requests counts every
// request made with the key, those retention deleted included. It applies
// no visibility rule: only admins may be shown it.
func (s *Postgres) Keys(ctx context.Context) (_ []store.KeyInfo, err error) {
	defer func() { err = unavailable(err) }()
	return rows.Keys(ctx, shared{s.pool})
}

// LastID returns the id of the newest record v may see, or "" when there
// is none. A poller compares it with the one it saw before to learn
// whether anything new arrived.
func (s *Postgres) LastID(ctx context.Context, v store.Viewer) (_ string, err error) {
	defer func() { err = unavailable(err) }()
	vis, args := visibleWhere(v)
	return rows.LastID(ctx, shared{s.pool}, vis, args)
}

// HasKey reports whether any record was made with the key whose
// fingerprint is keyHash. The dashboard lets a key log in only then.
func (s *Postgres) HasKey(ctx context.Context, keyHash string) (_ bool, err error) {
	defer func() { err = unavailable(err) }()
	if keyHash == "" {
		return false, nil
	}
	id, err := s.LastID(ctx, store.Viewer{KeyHash: keyHash})
	return id != "", err
}
