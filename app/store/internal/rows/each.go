package rows

import (
	"context"
	"fmt"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// An export reads every record of a view, which may be a million, so Each
// reads them in pages by id, newest first, each page a query of its own:
// memory holds one page, and no read transaction stays open while a slow
// client takes the rows. A page ends at eachPageRows rows or once its
// records' MemSize passes eachPageBytes, whichever comes first, so a page
// of megabyte-long conversations stays small too.
var (
	eachPageRows        = 256
	eachPageBytes int64 = 8 << 20
)

// SetEachPage makes Each read pages of at most n records or bytes of
// MemSize, so that a test's few records span many pages, and returns a
// function restoring the sizes.
func SetEachPage(n int, bytes int64) (restore func()) {
	oldRows, oldBytes := eachPageRows, eachPageBytes
	eachPageRows, eachPageBytes = n, bytes
	return func() { eachPageRows, eachPageBytes = oldRows, oldBytes }
}

// Each calls fn with every record of the table expression from (requests,
// with a store's hints) matching cond, bodies and headers included, newest
// first; see store.Store. It stops at the first error fn returns and
// returns it, and stops when ctx is done, returning ctx's error.
func Each(ctx context.Context, q Querier, from, cond string, args []any, fn func(*capture.Record) error) error {
	after := "" // the last id handed to fn; "" before the first page
	for {
		page, err := eachPage(ctx, q, from, cond, args, after)
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
func eachPage(ctx context.Context, q Querier, from, cond string, args []any, after string) ([]*capture.Record, error) {
	if after != "" {
		cond, args = cond+" AND id < ?", append(args[:len(args):len(args)], after)
	}
	res, err := q.Query(ctx, `SELECT `+SelectList(true)+` FROM `+from+` WHERE `+cond+
		` ORDER BY id DESC LIMIT ?`, append(args[:len(args):len(args)], eachPageRows)...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var (
		page  []*capture.Record
		bytes int64
	)
	for res.Next() {
		rec, err := ScanRecord(res, true)
		if err != nil {
			return nil, fmt.Errorf("scan: %w", err)
		}
		page = append(page, rec)
		if bytes += rec.MemSize(); bytes >= eachPageBytes {
			break
		}
	}
	if err := res.Err(); err != nil {
		return nil, err
	}
	return page, nil
}
