// Package store keeps recorded exchanges. The SQLite implementation writes
// through a single goroutine that commits records in groups, and reads
// through a separate read-only pool so that readers never block the writer.
//
// The rest of the application depends on the Store interface, so a
// PostgreSQL implementation can replace SQLite later.
package store

import (
	"context"
	"errors"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// ErrNotFound is returned, wrapped, when no record has the requested id.
// Check for it with errors.Is.
var ErrNotFound = errors.New("store: not found")

// ErrClosed is returned by Record, Flush and Prune once Close has begun.
var ErrClosed = errors.New("store: closed")

// Store is what the application needs from record storage.
type Store interface {
	// Record queues rec to be analysed and written. It blocks while the
	// queue is full and never drops a record; after Close it returns
	// ErrClosed. The store owns rec from then on: the caller must not
	// touch it again.
	Record(rec *capture.Record) error

	// Flush returns once every record queued before the call is committed.
	Flush(ctx context.Context) error

	// Get returns the record with the given id, or an error wrapping
	// ErrNotFound.
	Get(ctx context.Context, id string) (*capture.Record, error)

	// List returns the records matching f, newest first, without their
	// bodies and headers, and the number of records matching f in all.
	List(ctx context.Context, f Filter) ([]*capture.Record, int64, error)

	// Count returns the number of stored records.
	Count(ctx context.Context) (int64, error)

	// Close stops accepting records, writes everything queued and releases
	// the store. It is safe to call more than once.
	Close() error
}

// Filter selects records for List. The zero Filter selects everything.
type Filter struct {
	// KeyHash restricts the result to one API key's records; "" means all
	// keys. Visibility rules are enforced by setting it, so it is always
	// part of the query itself.
	KeyHash string

	// Limit caps the number of records returned; 0 means no limit.
	Limit int
	// Offset skips that many records, for paging.
	Offset int
}
