// Package rows is what the SQLite and PostgreSQL stores share about their
// rows: the requests table's columns and how a Record maps onto them, the
// stored forms of times and durations, the conditions of a Filter (whose
// dialect-specific pieces each store gives in Filters), and the queries
// whose SQL both stores take: records by id, page and commit sequence,
// keys, sessions and login failures. The queries run on Querier, which
// each store implements over its driver.
package rows

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Querier runs a query written with ? placeholders: a store whose driver
// numbers its placeholders ($1, $2, …) rewrites them. A query that needs
// one argument twice numbers its own, which both stores take.
type Querier interface {
	Query(ctx context.Context, query string, args ...any) (Iter, error)
}

// Iter is the result of a query, read row by row.
type Iter interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Scanner reads one row into dests.
type Scanner interface{ Scan(dest ...any) error }

// Prefixed scans the first columns of a row into Dests, and the rest into
// what its Scan is given, so that ScanRecord can read a row with extra
// leading columns.
type Prefixed struct {
	Row   Scanner
	Dests []any
}

// Scan scans the row into p.Dests and then d.
func (p Prefixed) Scan(d ...any) error { return p.Row.Scan(append(p.Dests, d...)...) }

// TimeLayout is how timestamps are stored: UTC text with a fixed width, so
// that text order is time order.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// legacyLayouts are timestamp forms the old Python system wrote
// (datetime.isoformat), accepted when reading imported rows.
var legacyLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999",
	"2006-01-02 15:04:05.999999",
}

// FormatTime returns t in the stored form.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime reads a stored timestamp, in the stores' form or a legacy one.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeLayout, s)
	if err == nil {
		return t, nil
	}
	for _, layout := range legacyLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad timestamp %q: %w", s, err)
}

// ToMS converts d to milliseconds, the unit of the *_ms columns.
func ToMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// FromMS converts milliseconds back, rounding to the nanosecond.
func FromMS(ms float64) time.Duration {
	return time.Duration(math.Round(ms * float64(time.Millisecond)))
}

// NullMS stores an unknown (zero) duration as NULL, so that AVG and
// friends skip it instead of counting it as instant.
func NullMS(d time.Duration) any {
	if d == 0 {
		return nil
	}
	return ToMS(d)
}

// NullInt stores 0 (no status sent) as NULL, as the old system did.
func NullInt(v int) any {
	if v == 0 {
		return nil
	}
	return int64(v)
}

// NullString stores "" (no error) as NULL, as the old system did.
func NullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}
