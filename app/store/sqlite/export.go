package sqlite

import (
	"context"
	"fmt"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// Each calls fn with every record matching f, bodies and headers included,
// newest first (in id order, as List), ignoring f's Limit and Offset. The
// visibility rule is part of the query, as in List. fn owns each record it
// is given.
//
// Each reads the records in pages, each page a query of its own, so that
// no read transaction stays open while a slow client takes the rows, which
// would keep the writer from checkpointing the write-ahead log (see
// rows.Each). It stops at the first error fn returns and returns it, and
// stops when ctx is done, returning ctx's error: fn is not called again
// once ctx is done. A record committed while Each runs shows if it sorts
// after the page being read; one pruned meanwhile may be left out.
func (s *SQLite) Each(ctx context.Context, f store.Filter, fn func(*capture.Record) error) error {
	f.Limit, f.Offset = 0, 0
	cond, args, err := filterWhere(f)
	if err != nil {
		return fmt.Errorf("store: each: %w", err)
	}
	// A page is the next ids below the last one, so every page should
	// walk an index in id order from there: then the pages together read
	// each row once. Without a key to narrow by, SQLite may instead pick
	// the index of a time or status range and sort every match again for
	// each page; the primary key's index keeps it walking. With a key, it
	// walks requests_key_hash_id (key_hash, id) by itself.
	from := "requests"
	if f.Viewer.Admin && f.KeyHash == "" {
		from = "requests INDEXED BY sqlite_autoindex_requests_1"
	}
	return rows.Each(ctx, querier{s.rdb}, from, cond, args, fn)
}
