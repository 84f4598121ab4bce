// Package sqlite implements store.Store on one SQLite file
// (mattn/go-sqlite3), whose schema is migrations.SQLite. It writes through
// a single goroutine that commits records in groups, and reads through a
// separate read-only pool so that readers never block the writer.
//
// Visibility is part of every query that reads records (see visibleWhere),
// so a caller cannot forget the rule by leaving a field empty.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
	"github.com/pressly/goose/v3"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/migrations"
)

// Defaults for the zero values of Options.
const (
	DefaultQueueSize  = 1 << 16
	DefaultBatchSize  = 512
	DefaultBatchDelay = 20 * time.Millisecond
	DefaultPruneEvery = 5 * time.Second
	DefaultPruneBatch = 500
)

// Options tunes a SQLite store. The zero value is usable.
type Options struct {
	// QueueSize is how many records may wait for the writer at most.
	// Default DefaultQueueSize; the byte budget usually binds first.
	QueueSize int
	// QueueBytes is the byte budget of the records waiting for the writer,
	// counted by capture.Record.MemSize. Default DefaultQueueBytes.
	QueueBytes int64
	// QueueWait is how long Record waits for room in the queue before it
	// gives the record up (counted and logged). While the database is
	// failing it does not wait. Default DefaultQueueWait; negative means
	// no wait.
	QueueWait time.Duration
	// AnalyzeWorkers is how many goroutines analyse records ahead of the
	// writer. Default GOMAXPROCS.
	AnalyzeWorkers int
	// BatchSize is the most records committed in one transaction.
	// Default DefaultBatchSize.
	BatchSize int
	// BatchDelay is how long the writer waits for more records after the
	// first of a batch arrived. Default DefaultBatchDelay.
	BatchDelay time.Duration

	// MaxHistory is how many of the newest records retention keeps;
	// 0 keeps everything.
	MaxHistory int
	// PruneEvery is how often retention checks for surplus records.
	// Default DefaultPruneEvery.
	PruneEvery time.Duration
	// PruneBatch is the most records deleted in one transaction, so that
	// a large backlog never holds the write lock for long.
	// Default DefaultPruneBatch.
	PruneBatch int

	// ReadConns is the size of the read-only connection pool.
	// Default max(4, GOMAXPROCS).
	ReadConns int

	// Progress, when set, is called while Open builds the rollups of a
	// database written before they existed: done of total records
	// counted so far. It is called on Open's goroutine.
	Progress func(done, total int64)

	// Hooks ride on the writer's commit path, in order.
	Hooks []store.Hook
	// OnCommit, when set, is called on the writer goroutine after each
	// transaction of records commits, with the time writing it took, from
	// its BEGIN through the rows, the rollups and the InTx hooks to the
	// end of its COMMIT, and how many records it held. It must return
	// quickly, as hooks must.
	OnCommit func(took time.Duration, records int)
	// Logger receives commit failures and lost records. Default
	// slog.Default().
	Logger *slog.Logger
}

// withDefaults returns o with its zero values replaced by defaults.
func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.QueueWait == 0 {
		o.QueueWait = DefaultQueueWait
	}
	if o.AnalyzeWorkers <= 0 {
		o.AnalyzeWorkers = runtime.GOMAXPROCS(0)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.BatchDelay <= 0 {
		o.BatchDelay = DefaultBatchDelay
	}
	if o.MaxHistory < 0 {
		o.MaxHistory = 0
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = DefaultPruneEvery
	}
	if o.PruneBatch <= 0 {
		o.PruneBatch = DefaultPruneBatch
	}
	if o.ReadConns <= 0 {
		o.ReadConns = max(4, runtime.GOMAXPROCS(0))
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// SQLite is a store.Store kept in one SQLite file. All writes go through one
// goroutine and one connection; reads use a separate read-only pool, which
// WAL mode lets run alongside the writer.
type SQLite struct {
	opts Options
	log  *slog.Logger

	wdb *sql.DB // the writer's single connection
	rdb *sql.DB // read-only pool

	// mu guards closed and sending on queue and work: senders hold it for
	// reading, Close takes it for writing before closing them, so a send
	// never meets a closed channel.
	mu      sync.RWMutex
	closed  bool
	queue   chan *op      // to the writer, in arrival order
	work    chan *op      // the same records, to the analysis workers
	closing chan struct{} // closed when Close begins
	done    chan struct{} // closed when the writer goroutine has exited
	budget  *budget

	// Owned by the writer goroutine.
	timer       *time.Timer  // ends a batch's collection after BatchDelay
	pruneCutoff string       // while a retention round runs: delete ids up to this one
	levels      rollupLevels // which rollup grains the writer still keeps, and from when

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*SQLite)(nil)

// Open opens the SQLite database at path, creating it and its parent
// directory if missing, applies pending migrations and starts the writer.
func Open(ctx context.Context, path string, opts Options) (*SQLite, error) {
	opts = opts.withDefaults()
	if path == "" {
		return nil, errors.New("store: open: empty path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("store: open: %w", err)
		}
	}
	// Records hold prompts and answers: create the file private. SQLite
	// gives the -wal and -shm files the same permissions.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	uri, err := fileURI(path)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}

	wdb, err := sql.Open(writerDriver, uri+"?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=5000&_txlock=immediate&_foreign_keys=on")
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	// One connection: the writer goroutine is the only writer, and a
	// second connection could only wait for the lock.
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if err := migrate(ctx, wdb); err != nil {
		wdb.Close()
		return nil, err
	}
	if err := backfillRollups(ctx, wdb, time.Now(), opts.Progress); err != nil {
		wdb.Close()
		return nil, err
	}
	levels, err := readLevels(ctx, wdb)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}

	// The read pool opens after migration, so the file is in WAL mode and
	// its -shm file exists, which read-only connections need.
	rdb, err := sql.Open("sqlite3", uri+"?mode=ro&_busy_timeout=5000&_txlock=deferred")
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	rdb.SetMaxOpenConns(opts.ReadConns)
	rdb.SetMaxIdleConns(opts.ReadConns)
	if err := rdb.PingContext(ctx); err != nil {
		rdb.Close()
		wdb.Close()
		return nil, fmt.Errorf("store: open read pool: %w", err)
	}

	s := &SQLite{
		opts:    opts,
		log:     opts.Logger,
		wdb:     wdb,
		rdb:     rdb,
		queue:   make(chan *op, opts.QueueSize),
		work:    make(chan *op, opts.QueueSize),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		budget:  newBudget(opts.QueueBytes, opts.QueueWait),
		timer:   time.NewTimer(time.Hour),
		levels:  levels,
	}
	s.timer.Stop()
	for range opts.AnalyzeWorkers {
		go s.analyze()
	}
	go s.run()
	return s, nil
}

// schema is migrations.SQLite's folder, as goose reads it.
var schema = func() fs.FS {
	f, err := fs.Sub(migrations.SQLite, "sqlite")
	if err != nil {
		panic("sqlite: migrations: " + err.Error()) // embedded: cannot happen
	}
	return f
}()

// migrate applies the pending migrations of migrations.SQLite.
func migrate(ctx context.Context, db *sql.DB) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, schema)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// fileURI returns path as an SQLite "file:" URI. The driver honours
// mode=ro only in URI form, and the URI form needs '?', '#' and '%' escaped.
func fileURI(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	abs = filepath.ToSlash(abs)
	if !strings.HasPrefix(abs, "/") {
		abs = "/" + abs // Windows drive letter: file:/C:/...
	}
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(abs), nil
}

// Close stops accepting records, commits everything already queued, stops
// the writer and closes the database. Later calls return the first call's
// result.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.mu.Lock()
		s.closed = true
		close(s.queue)
		close(s.work)
		s.mu.Unlock()

		<-s.done
		if err := errors.Join(s.rdb.Close(), s.wdb.Close()); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}
