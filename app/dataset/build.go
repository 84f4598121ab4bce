package dataset

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

// BenchDirEnv names the directory benchmarks keep their databases in.
const BenchDirEnv = "ORP_BENCH_DIR"

// DefaultDir returns where benchmarks keep built databases: $ORP_BENCH_DIR
// if set, else openrouter-proxy-bench in the user's cache directory
// (~/.cache/openrouter-proxy-bench on Linux). A 1M-record database takes
// about 5 GB there, so it is built once and reused.
func DefaultDir(getenv func(string) string) (string, error) {
	if d := getenv(BenchDirEnv); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("dataset: no cache directory (set %s): %w", BenchDirEnv, err)
	}
	return filepath.Join(d, "openrouter-proxy-bench"), nil
}

// FileName is the name Build's database has in a benchmark directory, so
// that datasets of different seeds, sizes and versions live side by side.
func FileName(seed uint64, n int) string {
	return "dataset-v" + strconv.Itoa(Version) + "-seed" + strconv.FormatUint(seed, 10) + "-n" + strconv.Itoa(n) + ".db"
}

// BuildOptions tunes Build.
type BuildOptions struct {
	// Seed picks the records.
	Seed uint64
	// Generator shapes them; its Records is set to the n given to Build.
	Generator Options
	// Progress receives a progress bar with an ETA; nil shows none.
	Progress io.Writer
	// Logger receives the store's log; nil discards it.
	Logger *slog.Logger
}

// Info describes a built database.
type Info struct {
	Path    string
	Seed    uint64
	Records int
	Version int
	// Start and End bound the records' start times: benchmarks that ask
	// for recent traffic should take End as now.
	Start, End time.Time
	// Keys are the API keys, busiest first.
	Keys []Key
	// Reused reports that an existing database was found up to date.
	Reused bool
	// Elapsed is how long this call took; BuildTime how long the build of
	// the database took, when it was built.
	Elapsed, BuildTime time.Duration
}

// NeedleCount returns how many records of the database carry nd.
func (in Info) NeedleCount(nd Needle) int { return nd.Count(in.Records) }

// meta is what the file next to a built database records, to decide
// whether it can be reused.
type meta struct {
	Version   int       `json:"generator_version"`
	Seed      uint64    `json:"seed"`
	Records   int       `json:"records"`
	End       time.Time `json:"end"`
	Span      string    `json:"span"`
	BuiltAt   time.Time `json:"built_at"`
	BuildSecs float64   `json:"build_seconds"`
}

func (m meta) same(o meta) bool {
	return m.Version == o.Version && m.Seed == o.Seed && m.Records == o.Records && m.End.Equal(o.End) && m.Span == o.Span
}

// metaPath is the file next to the database that describes it.
func metaPath(path string) string { return path + ".meta.json" }

// Build makes the SQLite database at path hold n generated records, written
// through the real store (sqlite.Open, Record, Flush), which analyses them as
// it would the proxy's. When the database is already there, built by this
// generator version from the same seed, n and options (a metadata file next
// to it says so) and still holds n records, Build reuses it and returns at
// once; otherwise it deletes it and builds it anew, in a temporary file
// renamed into place when complete.
//
// A benchmark that writes to the database must work on a copy: a changed
// row count makes the next Build start over.
func Build(ctx context.Context, path string, n int, opts BuildOptions) (Info, error) {
	began := time.Now()
	if n <= 0 {
		return Info{}, fmt.Errorf("dataset: build: %d records", n)
	}
	gopts := opts.Generator
	gopts.Records = n
	gopts = gopts.withDefaults()
	want := meta{Version: Version, Seed: opts.Seed, Records: n, End: gopts.End, Span: gopts.Span.String()}
	info := Info{
		Path: path, Seed: opts.Seed, Records: n, Version: Version,
		Start: gopts.End.Add(-gopts.Span), End: gopts.End,
		Keys: New(opts.Seed, gopts).Keys(),
	}

	if have, err := readMeta(path); err == nil && have.same(want) {
		if count, err := countRows(ctx, path); err == nil && count == int64(n) {
			info.Reused = true
			info.BuildTime = time.Duration(have.BuildSecs * float64(time.Second))
			info.Elapsed = time.Since(began)
			return info, nil
		}
	}

	if err := removeDB(path); err != nil {
		return info, err
	}
	tmp := path + ".building"
	if err := removeDB(tmp); err != nil {
		return info, err
	}
	if err := write(ctx, tmp, n, opts.Seed, gopts, opts); err != nil {
		removeDB(tmp)
		return info, err
	}
	// The store checkpoints and deletes the write-ahead log when it closes,
	// so the file holds everything and can be moved alone.
	if st, err := os.Stat(tmp + "-wal"); err == nil && st.Size() > 0 {
		removeDB(tmp)
		return info, fmt.Errorf("dataset: build: %s-wal left with %d bytes", tmp, st.Size())
	}
	if err := os.Rename(tmp, path); err != nil {
		removeDB(tmp)
		return info, fmt.Errorf("dataset: build: %w", err)
	}
	if err := removeDB(tmp); err != nil {
		return info, err
	}
	info.BuildTime = time.Since(began)
	want.BuiltAt = time.Now().UTC()
	want.BuildSecs = info.BuildTime.Seconds()
	if err := writeMeta(path, want); err != nil {
		return info, err
	}
	info.Elapsed = time.Since(began)
	return info, nil
}

// write generates n records into a new database at path.
func write(ctx context.Context, path string, n int, seed uint64, gopts Options, opts BuildOptions) error {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var bar *progressbar.ProgressBar
	if opts.Progress != nil {
		bar = progressbar.NewOptions(n,
			progressbar.OptionSetWriter(opts.Progress),
			progressbar.OptionSetDescription("building "+filepath.Base(path)),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("records"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionThrottle(250*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(opts.Progress) }),
		)
	}
	var committed atomic.Int64
	st, err := sqlite.Open(ctx, path, sqlite.Options{
		// Generation outruns the writer: Record must wait for room rather
		// than give records up, so the wait is long and the budget large
		// enough for big batches.
		QueueBytes: 256 << 20,
		QueueWait:  time.Hour,
		BatchSize:  2048,
		Logger:     logger,
		Hooks: []store.Hook{{AfterCommit: func(batch []*capture.Record) {
			committed.Add(int64(len(batch)))
			if bar != nil {
				bar.Add(len(batch))
			}
		}}},
	})
	if err != nil {
		return fmt.Errorf("dataset: build: %w", err)
	}
	g := New(seed, gopts)
	for i := range n {
		if i%1024 == 0 && ctx.Err() != nil {
			st.Close()
			return fmt.Errorf("dataset: build: %w", ctx.Err())
		}
		if err := st.Record(g.Next()); err != nil {
			st.Close()
			return fmt.Errorf("dataset: build: record %d: %w", i, err)
		}
	}
	if err := st.Flush(ctx); err != nil {
		st.Close()
		return fmt.Errorf("dataset: build: %w", err)
	}
	rows, err := st.Count(ctx, store.Filter{Viewer: store.Viewer{Admin: true}})
	if err != nil {
		st.Close()
		return fmt.Errorf("dataset: build: %w", err)
	}
	h := st.Health()
	if err := st.Close(); err != nil {
		return fmt.Errorf("dataset: build: %w", err)
	}
	if h.Lost > 0 {
		return fmt.Errorf("dataset: build: the store lost %d records (%s)", h.Lost, h.LastError)
	}
	if c := committed.Load(); c != int64(n) || rows != int64(n) {
		return fmt.Errorf("dataset: build: %d records committed and %d rows, want %d", c, rows, n)
	}
	if bar != nil {
		bar.Finish()
	}
	return nil
}

// countRows counts the requests of the existing database at path. It
// opens it read-write, though it only reads: the last connection to close
// removes the write-ahead log files, which a read-only one would leave.
func countRows(ctx context.Context, path string) (int64, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("dataset: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, fmt.Errorf("dataset: %w", err)
	}
	uri := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(abs))
	db, err := sql.Open("sqlite3", uri+"?mode=rw&_busy_timeout=5000")
	if err != nil {
		return 0, fmt.Errorf("dataset: %w", err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM requests").Scan(&n); err != nil {
		return 0, fmt.Errorf("dataset: count rows: %w", err)
	}
	return n, nil
}

// removeDB deletes a database, its WAL files and its metadata.
func removeDB(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal", metaPath(path)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("dataset: %w", err)
		}
	}
	return nil
}

func readMeta(path string) (meta, error) {
	var m meta
	b, err := os.ReadFile(metaPath(path))
	if err != nil {
		return m, err
	}
	err = json.Unmarshal(b, &m)
	return m, err
}

// writeMeta writes the metadata file atomically, last, so that an
// interrupted build leaves none.
func writeMeta(path string, m meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	tmp := metaPath(path) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	if err := os.Rename(tmp, metaPath(path)); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	return nil
}

// Defaults of the benchmark database.
const (
	// BenchSeed is the seed of the benchmark database.
	BenchSeed = 1
	// BenchRecords is its size: the scale targets are set at a million.
	BenchRecords = 1_000_000
)

// BenchDB returns the benchmark database of n records in DefaultDir,
// building it first if it is missing or stale, with a progress bar on
// standard error. It is for benchmarks: the first run of `task bench` pays
// for the build, later runs reuse the file. Work on a copy to write to it.
func BenchDB(tb testing.TB, n int) Info {
	tb.Helper()
	dir, err := DefaultDir(os.Getenv)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := Build(context.Background(), filepath.Join(dir, FileName(BenchSeed, n)), n,
		BuildOptions{Seed: BenchSeed, Progress: os.Stderr})
	if err != nil {
		tb.Fatal(err)
	}
	if !info.Reused {
		tb.Logf("dataset: built %d records in %v: %s", n, info.BuildTime.Round(time.Second), info.Path)
	}
	return info
}
