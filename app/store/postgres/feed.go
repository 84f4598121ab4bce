package postgres

import (
	"context"
	"fmt"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
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
	rows, err := s.pool.Query(ctx, `SELECT q.seq, `+selectList(true)+`
		FROM request_seq q JOIN requests USING (id)
		WHERE q.seq > $1 ORDER BY q.seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: since %d: %w", after, err)
	}
	defer rows.Close()
	recs := make([]*capture.Record, 0, limit)
	for rows.Next() {
		var seq int64
		rec, err := scanRecord(prefixed{rows, []any{&seq}}, true)
		if err != nil {
			return nil, fmt.Errorf("store: since %d: %w", after, err)
		}
		rec.Seq = seq
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: since %d: %w", after, err)
	}
	return recs, nil
}

// Feed returns where the feed stands, cheaply (index lookups and a count).
func (s *Postgres) Feed(ctx context.Context) (_ store.FeedState, err error) {
	defer func() { err = unavailable(err) }()
	var st store.FeedState
	var oldest *string
	err = s.pool.QueryRow(ctx, `SELECT
		COALESCE((SELECT MAX(seq) FROM request_seq), 0),
		(SELECT COUNT(*) FROM request_seq),
		(SELECT timestamp FROM requests ORDER BY timestamp LIMIT 1)`).Scan(&st.MaxSeq, &st.Count, &oldest)
	if err != nil {
		return store.FeedState{}, fmt.Errorf("store: feed: %w", err)
	}
	if oldest != nil {
		if st.Oldest, err = parseTime(*oldest); err != nil {
			return store.FeedState{}, fmt.Errorf("store: feed: %w", err)
		}
	}
	return st, nil
}

// prefixed scans the first columns of a row into dests, and the rest into
// what its Scan is given, so that scanRecord can read a row with extra
// leading columns.
type prefixed struct {
	row   interface{ Scan(...any) error }
	dests []any
}

func (p prefixed) Scan(d ...any) error { return p.row.Scan(append(p.dests, d...)...) }

// Texts returns the texts of the records with the given ids that v may
// see, by id: a page of search results, to cut snippets from. Ids v may not
// see, or that do not exist, are absent from the map.
func (s *Postgres) Texts(ctx context.Context, ids []string, v store.Viewer) (_ map[string]store.Texts, err error) {
	defer func() { err = unavailable(err) }()
	out := make(map[string]store.Texts, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cond, args, err := filterWhere(store.Filter{Viewer: v, IDs: ids})
	if err != nil {
		return nil, fmt.Errorf("store: texts: %w", err)
	}
	rows, err := query(ctx, s.pool, `SELECT id, body, COALESCE(content, ''), COALESCE(reasoning, ''), COALESCE(tool_calls, ''), COALESCE(error, '')
		FROM requests WHERE `+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("store: texts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var t store.Texts
		if err := rows.Scan(&id, &t.Request, &t.Content, &t.Reasoning, &t.ToolCalls, &t.Error); err != nil {
			return nil, fmt.Errorf("store: texts: %w", err)
		}
		out[id] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: texts: %w", err)
	}
	return out, nil
}

// LastSeq returns the commit sequence of the last committed record, 0 when
// none: one lookup at the end of request_seq's primary key. A dashboard
// polls it to learn what any replica committed.
func (s *Postgres) LastSeq(ctx context.Context) (_ int64, err error) {
	defer func() { err = unavailable(err) }()
	var seq int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM request_seq`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("store: last seq: %w", err)
	}
	return seq, nil
}
