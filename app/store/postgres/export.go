package postgres

import (
	"context"
	"fmt"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// An export reads every record of a view, which may be a million, so Each
// reads them in pages by id, newest first, each page a query of its own:
// memory holds one page, and no transaction stays open while a slow client
// takes the rows. A page ends at eachPageRows rows or once its records'
// MemSize passes eachPageBytes, whichever comes first.
var (
	eachPageRows        = 256
	eachPageBytes int64 = 8 << 20
)

// Each calls fn with every record matching f, bodies and headers included,
// newest first (in id order, as List), ignoring f's Limit and Offset. The
// visibility rule is part of the query, as in List. fn owns each record it
// is given.
//
// Each stops at the first error fn returns and returns it, and stops when
// ctx is done, returning ctx's error: fn is not called again once ctx is
// done. A record committed while Each runs shows if it sorts after the
// page being read; one pruned meanwhile may be left out.
func (s *Postgres) Each(ctx context.Context, f store.Filter, fn func(*capture.Record) error) (err error) {
	defer func() { err = unavailable(err) }()
	f.Limit, f.Offset = 0, 0
	cond, args, err := filterWhere(f)
	if err != nil {
		return fmt.Errorf("store: each: %w", err)
	}
	after := "" // the last id handed to fn; "" before the first page
	for {
		page, err := s.eachPage(ctx, cond, args, after)
		if err != nil {
			return fmt.Errorf("store: each: %w", err)
		}
		for _, rec := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(rec); err != nil {
				return err
			}
			after = rec.ID
		}
		if len(page) == 0 {
			return ctx.Err()
		}
	}
}

// eachPage reads the next page of Each: the records matching cond with an
// id below after (any id when after is ""), newest first. The rows are
// read and closed before the page is returned.
func (s *Postgres) eachPage(ctx context.Context, cond string, args []any, after string) ([]*capture.Record, error) {
	if after != "" {
		cond, args = cond+" AND id < ?", append(args[:len(args):len(args)], after)
	}
	rows, err := query(ctx, s.pool, `SELECT `+selectList(true)+` FROM requests WHERE `+cond+
		` ORDER BY id DESC LIMIT ?`, append(args[:len(args):len(args)], eachPageRows)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		page  []*capture.Record
		bytes int64
	)
	for rows.Next() {
		rec, err := scanRecord(rows, true)
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		page = append(page, rec)
		if bytes += rec.MemSize(); bytes >= eachPageBytes {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return page, nil
}
