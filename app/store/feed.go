package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// The feed reads records in commit order, for a consumer that keeps its own
// copy (the search index) and catches up from the last sequence it holds.

// Since returns up to limit records committed after sequence after, in
// commit order, bodies and headers included, each with its Seq. It applies
// no visibility rule: it is for the application's own consumers, never for
// a viewer.
func (s *SQLite) Since(ctx context.Context, after int64, limit int) ([]*capture.Record, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT q.seq, `+selectList(true)+`
		FROM request_seq q JOIN requests USING (id)
		WHERE q.seq > ? ORDER BY q.seq LIMIT ?`, after, limit)
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

// FeedState is where the feed stands.
type FeedState struct {
	// MaxSeq is the sequence of the last committed record; 0 when none.
	MaxSeq int64
	// Count is the number of records.
	Count int64
	// Oldest is when the oldest record started; zero when there is none.
	// Records that started before it were pruned.
	Oldest time.Time
}

// Feed returns where the feed stands, cheaply (three index lookups).
func (s *SQLite) Feed(ctx context.Context) (FeedState, error) {
	var st FeedState
	var oldest sql.NullString
	err := s.rdb.QueryRowContext(ctx, `SELECT
		COALESCE((SELECT MAX(seq) FROM request_seq), 0),
		(SELECT COUNT(*) FROM request_seq),
		(SELECT timestamp FROM requests ORDER BY timestamp LIMIT 1)`).Scan(&st.MaxSeq, &st.Count, &oldest)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return FeedState{}, fmt.Errorf("store: feed: %w", err)
	}
	if oldest.Valid {
		if st.Oldest, err = parseTime(oldest.String); err != nil {
			return FeedState{}, fmt.Errorf("store: feed: %w", err)
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

// Texts is the text of one record that a search result shows snippets of.
type Texts struct {
	Request   []byte // the stored request body
	Content   string // the reply
	Reasoning string
	ToolCalls string // JSON array; "" when none
	Error     string
}

// Texts returns the texts of the records with the given ids that v may
// see, by id: a page of search results, to cut snippets from. Ids v may not
// see, or that do not exist, are absent from the map.
func (s *SQLite) Texts(ctx context.Context, ids []string, v Viewer) (map[string]Texts, error) {
	out := make(map[string]Texts, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cond, args, err := filterWhere(Filter{Viewer: v, IDs: ids})
	if err != nil {
		return nil, fmt.Errorf("store: texts: %w", err)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, body, COALESCE(content, ''), COALESCE(reasoning, ''), COALESCE(tool_calls, ''), COALESCE(error, '')
		FROM requests WHERE `+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("store: texts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var t Texts
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
