// Package sqlite implements store.Store on one SQLite file
// (mattn/go-sqlite3), whose schema is migrations.SQLite. It writes through
// the write path of package pipeline, whose single goroutine commits
// records in groups on the one writer connection, and reads through a
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
	DefaultPruneEvery = retention.DefaultEvery
	DefaultPruneBatch = retention.DefaultBatch
)

// Options tunes a SQLite store. The zero value is usable.
type Options struct {
	// The write path's queue and batches: see pipeline.Options.
	QueueSize      int
	QueueBytes     int64
	QueueWait      time.Duration
	AnalyzeWorkers int
	BatchSize      int
	BatchDelay     time.Duration

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

	// Hooks ride on the writer's commit path and on retention, in order.
	Hooks []store.Hook
	// OnCommit, when set, is called on the writer goroutine after each
	// transaction of records commits, with the time writing it took, from
	// its BEGIN through the rows, the rollups and InTx to the end of its
	// COMMIT, and how many records it held. It must return quickly, as
	// hooks must.
	OnCommit func(took time.Duration, records int)
	// InTx, when set, runs inside each batch's transaction, after the rows
	// and the rollups; an error rolls the batch back. Tests stall or fail
	// commits with it.
	InTx func(ctx context.Context, tx *sql.Tx, batch []*capture.Record) error
	// Logger receives commit failures and lost records. Default
	// slog.Default().
	Logger *slog.Logger
}

// withDefaults returns o with its zero values replaced by defaults.
func (o Options) withDefaults() Options {
	o.MaxHistory, o.PruneEvery, o.PruneBatch = retention.Defaults(o.MaxHistory, o.PruneEvery, o.PruneBatch)
	if o.ReadConns <= 0 {
		o.ReadConns = max(4, runtime.GOMAXPROCS(0))
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// SQLite is a store.Store kept in one SQLite file. All writes go through the
// pipeline's one writer goroutine and one connection; reads use a separate
// read-only pool, which WAL mode lets run alongside the writer.
type SQLite struct {
	opts Options
	log  *slog.Logger

	wdb *sql.DB // the writer's single connection
	rdb *sql.DB // read-only pool

	pipe       *pipeline.Pipeline
	stop       context.CancelFunc // called when Close begins: maintain returns
	maintained chan struct{}      // closed when maintain has returned

	reader rollup.Reader // the shared queries, on the read pool

	levels rollup.Levels // owned by the writer goroutine: which rollup grains it still keeps, and from when

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
	if err := migrate.Up(ctx, goose.DialectSQLite3, wdb, schema); err != nil {
		wdb.Close()
		return nil, err
	}
	if err := backfillRollups(ctx, wdb, time.Now(), opts.Progress); err != nil {
		wdb.Close()
		return nil, err
	}
	levels, err := rollup.ReadLevels(ctx, querier{wdb})
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
		opts:       opts,
		log:        opts.Logger,
		wdb:        wdb,
		rdb:        rdb,
		maintained: make(chan struct{}),
		levels:     levels,
	}
	s.reader = rollup.Reader{Dialect: dialect, Begin: s.begin}
	// Compacted before the first record is written, so that no batch
	// counts a record at a grain compaction is about to delete.
	if err := s.compact(ctx, time.Now()); err != nil {
		rdb.Close()
		wdb.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	s.pipe = pipeline.New(backend{s}, pipeline.Options{
		QueueSize: opts.QueueSize, QueueBytes: opts.QueueBytes, QueueWait: opts.QueueWait,
		AnalyzeWorkers: opts.AnalyzeWorkers, BatchSize: opts.BatchSize, BatchDelay: opts.BatchDelay,
		Hooks: opts.Hooks, OnCommit: opts.OnCommit, Logger: opts.Logger,
	})
	var mctx context.Context
	mctx, s.stop = context.WithCancel(context.Background())
	go s.maintain(mctx)
	return s, nil
}

// schema is migrations.SQLite's folder, as goose reads it.
var schema = migrate.Dir(migrations.SQLite, "sqlite")

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
		s.stop()
		<-s.maintained
		s.pipe.Close()
		if err := errors.Join(s.rdb.Close(), s.wdb.Close()); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}
