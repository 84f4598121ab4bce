// Package seedtest writes databases in the original system's format:
// fixtures for the import's tests and benchmarks, and for trials of the
// import.
package seedtest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/seed"
)

// Schema is the original system's table, as its README documents it.
const Schema = `CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    timestamp TEXT NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body TEXT,
    authorization_bearer TEXT,
    response_status INTEGER,
    response_headers TEXT,
    response_body TEXT,
    duration_ms REAL,
    error TEXT
)`

// WriteFile creates a database at path as the original system would have
// left it, holding rows: a fixture for tests, benchmarks and trials of the
// import. Empty fields are written as NULL, status and duration as numbers
// when they parse, and bodies as TEXT when they are UTF-8.
func WriteFile(ctx context.Context, path string, rows iter.Seq[seed.Row]) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("seedtest: write %s: %w", path, err)
	}
	u := url.URL{Scheme: "file", Path: abs, RawQuery: "mode=rwc"}
	db, err := sql.Open("sqlite3", u.String())
	if err != nil {
		return fmt.Errorf("seedtest: write %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, Schema); err != nil {
		return fmt.Errorf("seedtest: write %s: %w", path, err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("seedtest: write %s: %w", path, err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO requests (`+strings.Join(seed.Columns, ", ")+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("seedtest: write %s: %w", path, err)
	}
	defer stmt.Close()
	for r := range rows {
		if _, err := stmt.ExecContext(ctx, nullText(r.ID), r.Timestamp, r.Method, r.URL, r.Headers,
			textOrBlob(r.Body), nullText(r.Bearer), number(r.Status), nullText(r.RespHeaders),
			textOrBlob(r.RespBody), number(r.DurationMS), nullText(r.Error)); err != nil {
			return fmt.Errorf("seedtest: write %s: row %s: %w", path, r.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("seedtest: write %s: %w", path, err)
	}
	return nil
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// number stores s as an integer or a real when it is one, else as text.
func number(s string) any {
	if s == "" {
		return nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return f
	}
	return s
}

func textOrBlob(b []byte) any {
	switch {
	case b == nil:
		return nil
	case utf8.Valid(b):
		return string(b)
	}
	return b
}

// RowOf returns the row the original system would have stored for rec, a
// raw record as the proxy hands it to the store: its time as Python's
// isoformat in UTC, its headers as JSON objects, its captured bodies, its
// key in the clear. Benchmarks use it to make seed files from generated
// traffic.
func RowOf(rec *capture.Record) seed.Row {
	r := seed.Row{
		ID:          rec.ID,
		Timestamp:   isoformat(rec.Start),
		Method:      rec.Method,
		URL:         rec.URL,
		Headers:     headersJSON(rec.ReqHeader),
		Body:        rec.ReqBody.Head,
		Bearer:      rec.APIKey,
		RespHeaders: headersJSON(rec.RespHeader),
		RespBody:    rec.RespBody.Head,
		DurationMS:  strconv.FormatFloat(float64(rec.Duration)/float64(time.Millisecond), 'f', -1, 64),
		Error:       rec.ProxyErr,
	}
	if rec.Status != 0 {
		r.Status = strconv.Itoa(rec.Status)
	}
	return r
}

// isoformat writes t in UTC as Python's datetime.isoformat() does for a
// naive datetime: microseconds only when there are some.
func isoformat(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05")
	}
	return t.Format("2006-01-02T15:04:05.000000")
}

// headersJSON writes h as Python's json.dumps(dict(headers)) would: one
// value per name.
func headersJSON(h map[string][]string) string {
	m := make(map[string]string, len(h))
	for k, vs := range h {
		m[k] = strings.Join(vs, ", ")
	}
	b, _ := json.Marshal(m) // a map of strings always encodes
	return string(b)
}
