// Package postgres implements store.Store on PostgreSQL (pgx v5), whose
// schema is migrations.Postgres. It answers every query as package
// store/sqlite does, query by query, so that one contract suite
// (store/storetest) holds both; records reach it through the shared write
// path of package store/pipeline, which calls Commit.
//
// Several replicas (proxies and dashboards) may use one database at once:
//
//   - Migrations run under goose's PostgreSQL session lock, so replicas
//     starting together migrate once.
//   - Each batch takes its commit sequence last, from the one-row
//     request_seq_counter, just before COMMIT (see migration 0003): seqs
//     follow commit order across replicas and the feed skips nothing.
//   - Rollups and api_keys are upserted in primary key order under row
//     locks, adding to the stored sums; histograms are merged in Go under
//     the same locks, so rollups stay exact with any number of writers.
//   - Retention and the compaction of rollups run on one replica at a time,
//     under a PostgreSQL advisory lock taken per step.
//
// Visibility is part of every query that reads records (see visibleWhere),
// so a caller cannot forget the rule by leaving a field empty.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/migrate"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/retention"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rollup"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/pipeline"
	"github.com/openrouter-proxy/openrouter-proxy/migrations"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxConns   = 8
	DefaultPruneEvery = retention.DefaultEvery
	DefaultPruneBatch = retention.DefaultBatch
)

// defaultConnectTimeout bounds a connection attempt when the URL sets no
// connect_timeout.
const defaultConnectTimeout = 10 * time.Second

// Options tunes a PostgreSQL store. The zero value is usable.
type Options struct {
	// The write path's queue and batches: see pipeline.Options.
	QueueSize      int
	QueueBytes     int64
	QueueWait      time.Duration
	AnalyzeWorkers int
	BatchSize      int
	BatchDelay     time.Duration

	// MaxConns bounds the connection pool, unless the URL's
	// pool_max_conns parameter does. Default DefaultMaxConns.
	MaxConns int32

	// MaxHistory is how many of the newest records retention keeps;
	// 0 keeps everything.
	MaxHistory int
	// PruneEvery is how often retention checks for surplus records.
	// Default DefaultPruneEvery.
	PruneEvery time.Duration
	// PruneBatch is the most records deleted in one transaction.
	// Default DefaultPruneBatch.
	PruneBatch int

	// Progress, when set, is called while Open builds the rollups of a
	// database that holds records without them: done of total records
	// counted so far. It is called on Open's goroutine.
	Progress func(done, total int64)

	// Hooks ride on the write path and on retention, in order:
	// AfterCommit on the pipeline's writer goroutine, AfterPrune after
	// each retention step this replica ran, on the goroutine that ran it
	// (the maintenance goroutine, or Prune's caller).
	Hooks []store.Hook
	// OnCommit, when set, is called after each transaction of records
	// commits, with the time writing it took and how many records it held.
	OnCommit func(took time.Duration, records int)
	// Logger receives commit failures, lost records and retention errors.
	// Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns o with its zero values replaced by defaults.
func (o Options) withDefaults() Options {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultMaxConns
	}
	o.MaxHistory, o.PruneEvery, o.PruneBatch = retention.Defaults(o.MaxHistory, o.PruneEvery, o.PruneBatch)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Postgres is a store.Store kept in a PostgreSQL database, which other
// replicas may share.
type Postgres struct {
	opts Options
	log  *slog.Logger
	pool *pgxpool.Pool
	pipe *pipeline.Pipeline

	reader rollup.Reader // the shared queries, in read-only transactions

	// levels is what this replica knows of the rollup grains kept; it is
	// read again at every maintenance tick. A stale value only makes the
	// writer add rows below a bound that no query reads.
	levels atomic.Pointer[rollup.Levels]

	pruneMu  sync.Mutex    // one retention round of this replica at a time
	closing  chan struct{} // closed when Close begins
	maintain chan struct{} // closed when the maintenance goroutine has exited

	closeOnce sync.Once
}

var _ store.Store = (*Postgres)(nil)

// Open connects to the PostgreSQL database at url (postgres://…), applies
// pending migrations and starts the write path and the maintenance
// (retention and compaction) goroutine.
func Open(ctx context.Context, url string, opts Options) (*Postgres, error) {
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, errors.New("store: postgres: invalid DATABASE_URL")
	}
	if !strings.Contains(url, "pool_max_conns=") {
		cfg.MaxConns = opts.MaxConns // else the URL's pool_max_conns sizes the pool
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		// The writer commits with no deadline of its own: a server that
		// does not answer (a partition, not a refusal) must fail the
		// dial, so that the pipeline holds the batch and retries, rather
		// than hang the writer.
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, unavailableError{fmt.Errorf("store: postgres: cannot connect to %s: %w", hostPort(cfg.ConnConfig.Config), connErr(err))}
	}
	if err := migrateUp(ctx, pool); err != nil {
		pool.Close()
		return nil, unavailable(err)
	}
	s := &Postgres{
		opts:     opts,
		log:      opts.Logger,
		pool:     pool,
		closing:  make(chan struct{}),
		maintain: make(chan struct{}),
	}
	s.reader = rollup.Reader{Dialect: dialect, Begin: s.begin}
	if err := backfillRollups(ctx, pool.Begin, time.Now(), opts.Progress); err != nil {
		pool.Close()
		return nil, unavailable(err)
	}
	if err := s.compact(ctx, time.Now()); err != nil {
		pool.Close()
		return nil, unavailable(err)
	}
	s.pipe = newWritePath(s, opts)
	go s.maintenance()
	return s, nil
}

// hostPort names the server a configuration connects to, without
// credentials.
func hostPort(c pgconn.Config) string {
	if c.Host != "" && c.Host[0] == '/' {
		return c.Host
	}
	return net.JoinHostPort(c.Host, fmt.Sprint(c.Port))
}

// connErr returns the cause of a connection error without the
// connection's description, which the caller gives: the server's answer
// (a wrong password, an unknown database), or the system's (connection
// refused).
func connErr(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		if u := errors.Unwrap(ce); u != nil {
			return u
		}
	}
	return err
}

// schema is migrations.Postgres's folder, as goose reads it.
var schema = migrate.Dir(migrations.Postgres, "postgres")

// migrateUp applies the pending migrations of migrations.Postgres under
// goose's session lock, an advisory lock, so that replicas starting
// together migrate once.
func migrateUp(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return migrate.Up(ctx, goose.DialectPostgres, db, schema, goose.WithSessionLocker(locker))
}

// Close stops accepting records, commits everything already queued, stops
// the maintenance goroutine and closes the pool. Later calls do nothing.
func (s *Postgres) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.pipe.Close()
		<-s.maintain
		s.pool.Close()
	})
	return nil
}

// Record queues rec to be written; see store.Store.
func (s *Postgres) Record(rec *capture.Record) error { return s.pipe.Record(rec) }

// Flush returns once every record queued before the call is committed.
func (s *Postgres) Flush(ctx context.Context) error { return s.pipe.Flush(ctx) }

// Health reports the recording pipeline's state.
func (s *Postgres) Health() store.Health { return s.pipe.Health() }

// Failing reports whether err means the database as a whole cannot take
// writes now: unreachable, restarting, shutting down, out of resources or
// read-only, rather than that this batch is bad (a constraint violation,
// say). The pipeline then holds the batch and retries it until the
// database recovers.
func (s *Postgres) Failing(err error) bool { return failing(err) }

// unavailable returns err wrapping store.ErrUnavailable too when it means
// the database cannot be reached now (see unreachable), so that the
// dashboard answers 503, not 500; other errors, nil included, as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || !unreachable(err) {
		return err
	}
	return unavailableError{err}
}

// unavailableError is an error that also wraps store.ErrUnavailable,
// without saying so in its message.
type unavailableError struct{ err error }

func (e unavailableError) Error() string   { return e.err.Error() }
func (e unavailableError) Unwrap() []error { return []error{e.err, store.ErrUnavailable} }

// unreachable reports whether err means the server cannot be reached or
// is going away: the connection errors and server states of failing, not
// a full disk or a read-only database, which answer.
func unreachable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" ||
			pgErr.Code == "57P03" || pgErr.Code == "53300"
	}
	return failing(err)
}

// failing is Failing's classification.
func failing(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && (pgErr.Code[:2] == "08" || // connection exception
			pgErr.Code[:2] == "53" || // insufficient resources: disk full, out of memory, too many connections
			pgErr.Code[:2] == "57" || // operator intervention: admin shutdown, crash shutdown, cannot connect now
			pgErr.Code[:2] == "58"): // system error: I/O error
			return true
		case pgErr.Code == "25006": // read-only SQL transaction: a standby, or default_transaction_read_only
			return true
		}
		return false
	}
	// Anything that is not the server's answer to a statement: the
	// connection could not be made, or broke.
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	// pgx reports a connection closed under a statement as a plain error
	// of its own.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") ||
		strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "failed to connect")
}
