package seed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// Columns are the columns of the original system's requests table, in
// Row's order. A file whose requests table lacks one is not a seed
// database (this store's own file, for one, has no authorization_bearer).
var Columns = []string{
	"id", "timestamp", "method", "url", "headers", "body", "authorization_bearer",
	"response_status", "response_headers", "response_body", "duration_ms", "error",
}

// ErrNotSeed is returned, wrapped with the reason, for a file that is not a
// database of the original system.
var ErrNotSeed = errors.New("not a database of the original system")

// DB is a seed database, open read-only.
type DB struct {
	db   *sql.DB
	path string
}

// Open opens the seed database at path read-only and checks that it is
// one: a SQLite file with a requests table of the original's columns.
func Open(ctx context.Context, path string) (*DB, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("seed: %s is a directory: %w", path, ErrNotSeed)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	// mode=ro: the import never writes to the old file, nor creates one.
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&_busy_timeout=5000"}
	db, err := sql.Open("sqlite3", u.String())
	if err != nil {
		return nil, fmt.Errorf("seed: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &DB{db: db, path: path}
	if err := s.check(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// check fails unless the file has a requests table with every column.
func (s *DB) check(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM pragma_table_info('requests')`)
	if err != nil {
		// "file is not a database", "unable to open database file", …
		return fmt.Errorf("seed: %s: %w: %v", s.path, ErrNotSeed, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("seed: %s: %w", s.path, err)
		}
		have[strings.ToLower(name)] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("seed: %s: %w: %v", s.path, ErrNotSeed, err)
	}
	if len(have) == 0 {
		return fmt.Errorf("seed: %s: %w: it has no table requests", s.path, ErrNotSeed)
	}
	var missing []string
	for _, c := range Columns {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("seed: %s: %w: its table requests lacks %s", s.path, ErrNotSeed, strings.Join(missing, ", "))
	}
	return nil
}

// Count returns the number of rows.
func (s *DB) Count(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM requests`).Scan(&n); err != nil {
		return 0, fmt.Errorf("seed: count rows: %w", err)
	}
	return n, nil
}

// selectRows reads every column as text, bodies as bytes. The timestamp is
// cast, because the driver turns a column declared TIMESTAMP or DATETIME
// into a time.Time itself, and into the zero time when it cannot parse it.
const selectRows = `SELECT id, CAST(timestamp AS TEXT), method, url, headers, body, authorization_bearer,
	response_status, response_headers, response_body, duration_ms, error FROM requests`

// Rows calls fn with up to n rows at a time, in the table's order, until
// the table ends, fn returns an error, or ctx ends. fn may keep the rows.
func (s *DB) Rows(ctx context.Context, n int, fn func([]Row) error) error {
	rows, err := s.db.QueryContext(ctx, selectRows)
	if err != nil {
		return fmt.Errorf("seed: read rows: %w", err)
	}
	defer rows.Close()
	batch := make([]Row, 0, n)
	var id, ts, method, uri, headers, bearer, status, respHeaders, dur, errText sql.NullString
	for rows.Next() {
		var r Row
		if err := rows.Scan(&id, &ts, &method, &uri, &headers, &r.Body, &bearer,
			&status, &respHeaders, &r.RespBody, &dur, &errText); err != nil {
			return fmt.Errorf("seed: read rows: %w", err)
		}
		r.ID, r.Timestamp, r.Method, r.URL, r.Headers = id.String, ts.String, method.String, uri.String, headers.String
		r.Bearer, r.Status, r.RespHeaders, r.DurationMS, r.Error = bearer.String, status.String, respHeaders.String, dur.String, errText.String
		batch = append(batch, r)
		if len(batch) == n {
			if err := fn(batch); err != nil {
				return err
			}
			batch = make([]Row, 0, n)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("seed: read rows: %w", err)
	}
	if len(batch) > 0 {
		return fn(batch)
	}
	return nil
}

// Close closes the file.
func (s *DB) Close() error { return s.db.Close() }
