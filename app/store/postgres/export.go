package postgres

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
// Each reads the records in pages by id, each page a query of its own, so
// that memory holds one page and no transaction stays open while a slow
// client takes the rows (see rows.Each). It stops at the first error fn
// returns and returns it, and stops when ctx is done, returning ctx's
// error: fn is not called again once ctx is done. A record committed while
// Each runs shows if it sorts after the page being read; one pruned
// meanwhile may be left out.
func (s *Postgres) Each(ctx context.Context, f store.Filter, fn func(*capture.Record) error) (err error) {
	defer func() { err = unavailable(err) }()
	f.Limit, f.Offset = 0, 0
	cond, args, err := filterWhere(f)
	if err != nil {
		return fmt.Errorf("store: each: %w", err)
	}
	return rows.Each(ctx, shared{s.pool}, "requests", cond, args, fn)
}
