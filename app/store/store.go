// Package store is the domain of recorded exchanges: the types a stored
// record is asked about with (Viewer, Filter, Stats, Session, ...), the
// errors, and the Store interface the rest of the application consumes. It
// imports no database driver: package store/sqlite implements Store on one
// SQLite file.
//
// Visibility is part of every query that reads records: a Viewer that is
// not an admin sees only the records made with its own key, and a Viewer
// without a key sees nothing. Callers cannot forget the rule by leaving a
// field empty.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// ErrNotFound is returned, wrapped, when no record, session or setting has
// the requested name, or when the record exists but the viewer may not see
// it. Check for it with errors.Is.
var ErrNotFound = errors.New("store: not found")

// ErrInvalid is returned, wrapped, when the caller's input is malformed,
// such as an unknown Filter.Status. It is the caller's mistake, not the
// store's: an HTTP handler answers it with 400. Check for it with
// errors.Is.
var ErrInvalid = errors.New("store: invalid input")

// ErrUnavailable is returned, wrapped, when the database cannot be reached
// now: down, restarting, refusing connections. It is nobody's mistake and
// passes by itself: the dashboard says so with a 503 rather than a 500.
// Check for it with errors.Is.
var ErrUnavailable = errors.New("store: the database is unreachable")

// ErrClosed is returned by Record, Flush and Prune once Close has begun.
var ErrClosed = errors.New("store: closed")

// Store is what the application needs from record storage.
type Store interface {
	// Record queues rec to be analysed and written. While the queue's
	// byte budget is spent it waits briefly for room; a record it cannot
	// keep is counted and logged (see Health), never dropped silently.
	// After Close it returns ErrClosed. The store owns rec from then on:
	// the caller must not touch it again.
	Record(rec *capture.Record) error

	// Health reports the recording pipeline's state: queue depth, records
	// lost, and whether the database is failing.
	Health() Health

	// Flush returns once every record queued before the call is committed.
	Flush(ctx context.Context) error

	// Get returns the record with the given id, bodies and headers
	// included, or an error wrapping ErrNotFound, also when the record
	// exists but v may not see it.
	Get(ctx context.Context, id string, v Viewer) (*capture.Record, error)

	// List returns the records matching f, newest first, without their
	// bodies and headers, and the number of records matching f in all.
	List(ctx context.Context, f Filter) ([]*capture.Record, int64, error)

	// Count returns the number of records matching f, ignoring its Limit
	// and Offset.
	Count(ctx context.Context, f Filter) (int64, error)

	// Stats summarises the records matching f, ignoring its Limit and
	// Offset. RecentRequests counts those in the hour before now. Without
	// a Search or IDs it is answered from the rollups, which keep counting
	// the records retention deleted.
	Stats(ctx context.Context, f Filter, now time.Time) (Stats, error)

	// Breakdown summarises the records matching f by a dimension, busiest
	// group first, under the same rules as Stats.
	Breakdown(ctx context.Context, f Filter, by Dimension) ([]BreakdownRow, error)

	// Series summarises the records matching f step by step, for charts.
	Series(ctx context.Context, f Filter, step time.Duration) ([]Point, error)

	// Coverage says what period the rollups cover, and at what grain.
	Coverage(ctx context.Context) (Coverage, error)

	// Models returns the distinct models of the records v may see, sorted.
	Models(ctx context.Context, v Viewer) ([]string, error)

	// Methods returns the distinct HTTP methods of the records v may see,
	// in upper case, sorted.
	Methods(ctx context.Context, v Viewer) ([]string, error)

	// Keys returns every API key that has made requests, most recently
	// used first. It applies no visibility rule: only admins may be shown
	// it.
	Keys(ctx context.Context) ([]KeyInfo, error)

	// LastID returns the id of the newest record v may see, or "" when
	// there is none. It is cheap, for polling clients to tell whether
	// anything changed.
	LastID(ctx context.Context, v Viewer) (string, error)
	// HasKey reports whether any record carries the key fingerprint.
	HasKey(ctx context.Context, keyHash string) (bool, error)

	// Each calls fn with every record matching f, bodies and headers
	// included, newest first, ignoring f's Limit and Offset, reading in
	// pages: for an export. It stops at fn's first error and returns it.
	Each(ctx context.Context, f Filter, fn func(*capture.Record) error) error

	// Texts returns the texts of the records with the given ids that v
	// may see, by id, for the snippets of search results.
	Texts(ctx context.Context, ids []string, v Viewer) (map[string]Texts, error)

	// Since returns up to limit records committed after sequence after,
	// in commit order, bodies and headers included, each with its Seq. It
	// applies no visibility rule: it feeds the application's own copies
	// (the search index), never a viewer.
	Since(ctx context.Context, after int64, limit int) ([]*capture.Record, error)

	// Feed returns where the commit sequence stands, cheaply.
	Feed(ctx context.Context) (FeedState, error)

	// LastSeq returns the commit sequence of the last committed record, 0
	// when none, with one index lookup: for a dashboard that polls for
	// what other processes committed to a shared database.
	LastSeq(ctx context.Context) (int64, error)

	// Existing returns which of ids are already stored, so that an import
	// of history can skip what an earlier run brought in.
	Existing(ctx context.Context, ids []string) (map[string]bool, error)

	// CreateSession stores sess. Its IDHash must be new.
	CreateSession(ctx context.Context, sess Session) error

	// GetSession returns the session with the given IDHash, or an error
	// wrapping ErrNotFound when there is none or it has expired by now.
	GetSession(ctx context.Context, idHash string, now time.Time) (Session, error)

	// DeleteSession deletes a session, revoking it at once. Deleting a
	// missing session is not an error.
	DeleteSession(ctx context.Context, idHash string) error

	// DeleteExpiredSessions deletes the sessions expired by now, and the
	// login failures counted more than LoginFailureKeep before now, and
	// returns how many sessions it deleted.
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error)

	// LoginFailed counts one failed dashboard login from client at now, in
	// windows of length window that begin at a client's first failure,
	// and reports whether it is within max failures in its window; if
	// not, how long until the window ends. Counting and deciding in one
	// statement means parallel failures, on any process sharing the
	// database, cannot all slip under the limit.
	LoginFailed(ctx context.Context, client string, now time.Time, window time.Duration, max int) (ok bool, wait time.Duration, err error)

	// Secret returns the secret called name, storing value as it first if
	// the database has none: every process on the database gets the value
	// of the first one that asked.
	Secret(ctx context.Context, name string, value []byte) ([]byte, error)

	// Close stops accepting records, writes everything queued and releases
	// the store. It is safe to call more than once.
	Close() error
}

// Hook is work that rides on the writer's commit path and on retention.
//
// AfterCommit runs on the writer goroutine, so it holds up every write
// while it runs and must not call Record, Flush, Prune or Close, which wait
// for that goroutine. The records it is given are shared with other hooks
// and must not be modified; the slices may be kept.
type Hook struct {
	AfterCommit func(batch []*capture.Record) // runs after a successful commit, on the writer goroutine
	AfterPrune  func(ids []string)            // runs after retention deleted these ids
}

// Health is the state of the recording pipeline, for /healthz, the metrics
// and the dashboard's banner.
type Health struct {
	// Degraded is set while the database refuses writes, and for a minute
	// after a record was given up because the queue stayed full: traffic
	// is forwarded, but not all of it is recorded.
	Degraded bool
	// Failing is set while commits fail with a database error (a full
	// disk, an I/O error, a read-only file, a lock held beyond the busy
	// timeout). The writer holds its batch and retries until they succeed.
	Failing bool
	// LastError is the last commit error, "" once commits succeed again.
	LastError string
	// Lost counts the records given up since the start: never written,
	// each named in the log.
	Lost int64
	// QueuedRecords and QueuedBytes are what waits for the writer now;
	// BudgetBytes is the byte budget (RECORD_QUEUE_BYTES).
	QueuedRecords int
	QueuedBytes   int64
	BudgetBytes   int64
	// Waiting counts Record calls waiting for room right now.
	Waiting int
}

// LoginFailureKeep is how long a client's login failures are kept after
// its window began: longer than any login limit's window.
const LoginFailureKeep = 24 * time.Hour

// Viewer is who is asking: an admin sees every record, anyone else only
// the records made with their own key. The zero Viewer sees nothing.
type Viewer struct {
	// Admin lets the viewer see every key's records.
	Admin bool
	// KeyHash is the hex SHA-256 of the viewer's API key
	// (capture.Fingerprint). A viewer that is not an admin and has no
	// KeyHash sees nothing.
	KeyHash string
}

// Status classes for Filter.Status.
const (
	StatusSuccess = "success" // outcome ok
	StatusError   = "error"   // any other outcome
	Status2xx     = "2xx"     // response status 200–299
	Status4xx     = "4xx"     // response status 400–499
	Status5xx     = "5xx"     // response status 500–599
)

// Filter selects records for List, Count and Stats. Every condition set is
// ANDed with the others and with the Viewer's visibility rule, so a filter
// can only narrow what the Viewer may see. The zero Filter's Viewer sees
// nothing, so the zero Filter selects nothing.
type Filter struct {
	// Viewer is who is asking; it decides which records exist at all.
	Viewer Viewer

	// KeyHash restricts the result to one API key's records; "" means
	// every key the Viewer may see. It lets an admin pick a key; for
	// anyone else it can only narrow (another key's hash selects nothing).
	KeyHash string

	// Search keeps the records whose URL, method, models, error, content
	// or request or response body contain it as a substring, ignoring the
	// case of ASCII letters. It is matched literally: % and _ are not
	// wildcards. "" means no search.
	Search string

	// Status is "" for any, or one of StatusSuccess, StatusError,
	// Status2xx, Status4xx and Status5xx. Any other value is an error
	// wrapping ErrInvalid.
	Status string

	// Model keeps the records whose served or requested model is exactly
	// Model; "" means any.
	Model string

	// Provider keeps the records served by this provider behind
	// OpenRouter (capture.Record.Provider), exactly; "" means any.
	Provider string

	// Method keeps the records of this HTTP method, ignoring case; ""
	// means any.
	Method string

	// From keeps the records started at or after From; zero means no
	// lower bound.
	From time.Time
	// To keeps the records started before To; zero means no upper bound.
	To time.Time

	// IDs, when not nil, keeps only the records with these ids, for
	// callers that found them elsewhere (a search index). An empty non-nil
	// slice selects nothing.
	IDs []string

	// Limit caps the number of records List returns; 0 means no limit.
	Limit int
	// Offset skips that many records in List, for paging.
	Offset int
}

// Stats summarises a set of records.
type Stats struct {
	TotalRequests int64
	SuccessCount  int64 // outcome ok
	ErrorCount    int64 // any other outcome

	// SuccessRate and ErrorRate are SuccessCount and ErrorCount as
	// percentages (0–100) of TotalRequests; 0 when there are no requests.
	SuccessRate float64
	ErrorRate   float64

	// AvgDurationMs is the mean of the exchanges' durations in
	// milliseconds. P50, P95 and P99 are their nearest-rank percentiles,
	// read from log-scale histograms: each is within HistRelativeError
	// (about 2.4%) of the exact one.
	AvgDurationMs float64
	P50DurationMs float64
	P95DurationMs float64
	P99DurationMs float64

	// AvgTTFTMs is the mean time to first token in milliseconds over the
	// streams that have one; 0 when none has. P50TTFTMs and P95TTFTMs are
	// its percentiles, from histograms like the durations'.
	AvgTTFTMs float64
	P50TTFTMs float64
	P95TTFTMs float64

	// TokensPerSecond is the generation speed of the streams that have a
	// time to first token and report completion tokens: their completion
	// tokens over their time from the first token to the end, in seconds.
	TokensPerSecond float64

	// RecentRequests counts the requests started in the hour before the
	// time given to Stats.
	RecentRequests int64

	PromptTokens     int64
	CompletionTokens int64
	TotalTokens      int64
	CachedTokens     int64 // prompt tokens read from the provider's cache
	ReasoningTokens  int64 // completion tokens spent reasoning

	// TotalCost is the sum of the reported costs in credits (USD).
	TotalCost float64
}

// KeyInfo describes one API key that has made requests.
type KeyInfo struct {
	Hash     string    // hex SHA-256 of the key
	Mask     string    // display form, from its newest record
	Requests int64     // how many requests it made, those retention deleted included
	LastSeen time.Time // when its newest record started
}

// Session is one dashboard login, kept on the server so that logging out
// revokes it at once.
type Session struct {
	// IDHash is the hex SHA-256 of the random session id the browser
	// holds. The store never sees the id itself.
	IDHash string
	// KeyHash and KeyMask identify the key the user logged in with.
	KeyHash string
	KeyMask string
	// Admin lets the session see every key's records.
	Admin bool
	// Created and Expires are stored to the microsecond.
	Created time.Time
	Expires time.Time
}

// Viewer returns the Viewer a request made in this session acts as.
func (s Session) Viewer() Viewer {
	return Viewer{Admin: s.Admin, KeyHash: s.KeyHash}
}
