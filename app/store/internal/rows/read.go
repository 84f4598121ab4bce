package rows

import (
	"context"
	"fmt"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Since returns up to limit records committed after sequence after, in
// commit order, bodies and headers included, each with its Seq; see
// store.Store.
func Since(ctx context.Context, q Querier, after int64, limit int) ([]*capture.Record, error) {
	res, err := q.Query(ctx, `SELECT q.seq, `+SelectList(true)+`
		FROM request_seq q JOIN requests USING (id)
		WHERE q.seq > ? ORDER BY q.seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: since %d: %w", after, err)
	}
	defer res.Close()
	recs := make([]*capture.Record, 0, limit)
	for res.Next() {
		var seq int64
		rec, err := ScanRecord(Prefixed{res, []any{&seq}}, true)
		if err != nil {
			return nil, fmt.Errorf("store: since %d: %w", after, err)
		}
		rec.Seq = seq
		recs = append(recs, rec)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("store: since %d: %w", after, err)
	}
	return recs, nil
}

// Feed returns where the feed stands, cheaply: a few index lookups.
func Feed(ctx context.Context, q Querier) (store.FeedState, error) {
	var st store.FeedState
	var oldest *string
	_, err := scanOne(ctx, q, []any{&st.MaxSeq, &st.Count, &oldest}, `SELECT
		COALESCE((SELECT MAX(seq) FROM request_seq), 0),
		(SELECT COUNT(*) FROM request_seq),
		(SELECT timestamp FROM requests ORDER BY timestamp LIMIT 1)`)
	if err != nil {
		return store.FeedState{}, fmt.Errorf("store: feed: %w", err)
	}
	if oldest != nil {
		if st.Oldest, err = ParseTime(*oldest); err != nil {
			return store.FeedState{}, fmt.Errorf("store: feed: %w", err)
		}
	}
	return st, nil
}

// LastSeq returns the commit sequence of the last committed record, 0 when
// none: one lookup at the end of request_seq's primary key.
func LastSeq(ctx context.Context, q Querier) (int64, error) {
	var seq int64
	if _, err := scanOne(ctx, q, []any{&seq}, `SELECT COALESCE(MAX(seq), 0) FROM request_seq`); err != nil {
		return 0, fmt.Errorf("store: last seq: %w", err)
	}
	return seq, nil
}

// scanOne scans the first row of query into dests and reports whether
// there was one: dests are left as they are when there is none.
func scanOne(ctx context.Context, q Querier, dests []any, query string, args ...any) (bool, error) {
	res, err := q.Query(ctx, query, args...)
	if err != nil {
		return false, err
	}
	defer res.Close()
	if !res.Next() {
		return false, res.Err()
	}
	if err := res.Scan(dests...); err != nil {
		return true, err
	}
	res.Close()
	return true, res.Err()
}

// Texts returns the texts of the records with the given ids that v may
// see, by id, with the conditions of d: a page of search results, to cut
// snippets from. Ids v may not see, or that do not exist, are absent from
// the map.
func Texts(ctx context.Context, q Querier, d *Filters, ids []string, v store.Viewer) (map[string]store.Texts, error) {
	out := make(map[string]store.Texts, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	cond, args, err := d.Where(store.Filter{Viewer: v, IDs: ids})
	if err != nil {
		return nil, fmt.Errorf("store: texts: %w", err)
	}
	res, err := q.Query(ctx, `SELECT id, body, COALESCE(content, ''), COALESCE(reasoning, ''), COALESCE(tool_calls, ''), COALESCE(error, '')
		FROM requests WHERE `+cond, args...)
	if err != nil {
		return nil, fmt.Errorf("store: texts: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var id string
		var t store.Texts
		if err := res.Scan(&id, &t.Request, &t.Content, &t.Reasoning, &t.ToolCalls, &t.Error); err != nil {
			return nil, fmt.Errorf("store: texts: %w", err)
		}
		out[id] = t
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("store: texts: %w", err)
	}
	return out, nil
}

// Keys returns every API key that has made requests, most recently used
// first, from api_keys; see store.Store.
func Keys(ctx context.Context, q Querier) ([]store.KeyInfo, error) {
	res, err := q.Query(ctx, `
		SELECT key_hash, key_mask, requests, last_seen
		FROM api_keys
		ORDER BY last_seen DESC, key_hash`)
	if err != nil {
		return nil, fmt.Errorf("store: keys: %w", err)
	}
	defer res.Close()
	var keys []store.KeyInfo
	for res.Next() {
		var (
			k    store.KeyInfo
			last string
		)
		if err := res.Scan(&k.Hash, &k.Mask, &k.Requests, &last); err != nil {
			return nil, fmt.Errorf("store: keys: %w", err)
		}
		if k.LastSeen, err = ParseTime(last); err != nil {
			return nil, fmt.Errorf("store: keys: %w", err)
		}
		keys = append(keys, k)
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("store: keys: %w", err)
	}
	return keys, nil
}

// Strings runs a query selecting one text column and returns its values.
func Strings(ctx context.Context, q Querier, query string, args ...any) ([]string, error) {
	res, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var out []string
	for res.Next() {
		var s string
		if err := res.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, res.Err()
}

// Get returns the record with the given id that the condition vis (with
// its arguments) lets through, bodies and headers included, or an error
// wrapping ErrNotFound.
func Get(ctx context.Context, q Querier, id string, vis string, args []any) (*capture.Record, error) {
	res, err := q.Query(ctx, `SELECT `+SelectList(true)+` FROM requests WHERE id = ? AND `+vis, append([]any{id}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", id, err)
	}
	defer res.Close()
	if !res.Next() {
		if err := res.Err(); err != nil {
			return nil, fmt.Errorf("store: get %s: %w", id, err)
		}
		return nil, fmt.Errorf("store: get %s: %w", id, store.ErrNotFound)
	}
	rec, err := ScanRecord(res, true)
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", id, err)
	}
	return rec, nil
}

// LastIDSQL finds the newest id that the condition vis (with its
// arguments) lets through. Ids are UUIDv7, so the newest is the greatest;
// the primary key's index, or (key_hash, id) for a user, answers it
// without reading the table.
func LastIDSQL(vis string, args []any) (string, []any) {
	return `SELECT id FROM requests WHERE ` + vis + ` ORDER BY id DESC LIMIT 1`, args
}

// LastID returns the id of the newest record vis lets through, or "" when
// there is none.
func LastID(ctx context.Context, q Querier, vis string, args []any) (string, error) {
	query, args := LastIDSQL(vis, args)
	ids, err := Strings(ctx, q, query, args...)
	if err != nil {
		return "", fmt.Errorf("store: last id: %w", err)
	}
	if len(ids) == 0 {
		return "", nil
	}
	return ids[0], nil
}
