package seed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// Store is where an import writes: the store's normal path for live
// traffic, plus a way to tell which records are there already.
type Store interface {
	// Record queues a raw record for analysis and commit.
	Record(rec *capture.Record) error
	// Existing returns which of ids are stored.
	Existing(ctx context.Context, ids []string) (map[string]bool, error)
	// Flush returns once everything queued is committed.
	Flush(ctx context.Context) error
}

// The store an import writes to is opened with these, unlike the proxy's:
// an import must not lose rows, so Record waits for room in the queue as
// long as it takes (StoreQueueWait) rather than giving records up; old
// records fall into many rollup buckets each, and one transaction updates
// a bucket once, hence larger batches (StoreBatch); and the progress bar
// counts rows read, which must not run far ahead of the rows committed,
// hence a smaller queue (StoreQueueBytes).
const (
	StoreBatch      = 4096
	StoreQueueBytes = 64 << 20
	StoreQueueWait  = 24 * time.Hour
)

// ImportOptions tunes Import.
type ImportOptions struct {
	Options
	// BatchSize is how many rows are read, checked against the store in
	// one query and queued at a time. Default 1000.
	BatchSize int
	// Progress, if set, is told after each batch how many rows have been
	// read of how many.
	Progress func(done, total int64)
	// Logger is told about each row that cannot be imported, by the
	// original's id and the reason (never the row's content). Default: no
	// logging.
	Logger *slog.Logger
}

// Summary is what an import did.
type Summary struct {
	Rows     int64            // rows read
	Imported int64            // records queued and committed
	Present  int64            // rows skipped because their record was already stored
	Failed   map[string]int64 // rows skipped as malformed, by reason
}

// FailedRows returns the number of rows skipped as malformed.
func (s Summary) FailedRows() int64 {
	var n int64
	for _, c := range s.Failed {
		n += c
	}
	return n
}

// String is the summary in one line, reasons by count, most first.
func (s Summary) String() string {
	line := fmt.Sprintf("imported %d, skipped %d already present, failed %d", s.Imported, s.Present, s.FailedRows())
	if len(s.Failed) == 0 {
		return line
	}
	reasons := slices.SortedFunc(maps.Keys(s.Failed), func(a, b string) int {
		return cmp.Or(cmp.Compare(s.Failed[b], s.Failed[a]), strings.Compare(a, b))
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%s: %d", r, s.Failed[r])
	}
	return line + " (" + strings.Join(parts, ", ") + ")"
}

// Import records every row of src in dst, skipping rows whose record dst
// already holds and rows that cannot be imported (counted by reason in the
// summary). It returns once everything queued is committed. An error means
// the import stopped: the file could not be read, or the store failed;
// rows committed before then stay, and a second run brings in the rest.
func (src *DB) Import(ctx context.Context, dst Store, opts ImportOptions) (Summary, error) {
	opts.Options = opts.Options.withDefaults()
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	sum := Summary{Failed: map[string]int64{}}
	total, err := src.Count(ctx)
	if err != nil {
		return sum, err
	}
	if opts.Progress != nil {
		opts.Progress(0, total)
	}

	loc := opts.Options.withDefaults().Location
	ids := make([]string, 0, opts.BatchSize)
	starts := make([]time.Time, 0, opts.BatchSize)
	err = src.Rows(ctx, opts.BatchSize, func(rows []Row) error {
		ids, starts = ids[:0], starts[:0]
		keep := rows[:0] // the rows with an id, in place
		for _, r := range rows {
			start, id, err := identify(r, loc)
			if err != nil {
				sum.fail(opts.Logger, r, err)
				continue
			}
			keep = append(keep, r)
			ids, starts = append(ids, id), append(starts, start)
		}
		present, err := dst.Existing(ctx, ids)
		if err != nil {
			return err
		}
		for i, r := range keep {
			if present[ids[i]] {
				sum.Present++
				continue
			}
			// The seed's ids are its primary key, so two rows get one
			// record id only if they are the same row.
			present[ids[i]] = true
			rec, err := convert(r, starts[i], ids[i], opts.Options)
			if err != nil {
				sum.fail(opts.Logger, r, err)
				continue
			}
			if err := dst.Record(rec); err != nil {
				return err
			}
			sum.Imported++
		}
		sum.Rows += int64(len(rows))
		if opts.Progress != nil {
			opts.Progress(sum.Rows, max(total, sum.Rows))
		}
		return ctx.Err()
	})
	if err != nil {
		return sum, fmt.Errorf("seed: import %s: %w", src.path, err)
	}
	if err := dst.Flush(ctx); err != nil {
		return sum, fmt.Errorf("seed: import %s: %w", src.path, err)
	}
	return sum, nil
}

// maxLoggedFailures bounds the rows named in the log; the summary counts
// the rest.
const maxLoggedFailures = 20

// fail counts a row that cannot be imported and logs why.
func (s *Summary) fail(log *slog.Logger, r Row, err error) {
	reason := err.Error()
	if re := (*RowError)(nil); errors.As(err, &re) {
		reason = re.Reason
	}
	s.Failed[reason]++
	switch n := s.FailedRows(); {
	case n <= maxLoggedFailures:
		log.Warn("seed: row skipped", "id", r.ID, "reason", reason)
	case n == maxLoggedFailures+1:
		log.Warn("seed: more rows skipped; the summary counts them")
	}
}
