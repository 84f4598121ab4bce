package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// columnNames are the requests table's columns in the order of
// rows.Columns.
var columnNames = rows.Names()

// querier is what both a pool and a transaction run queries with.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// rebind turns the ? placeholders of a query, as the conditions are
// written (shared in form with the SQLite store), into PostgreSQL's $1,
// $2, …. The queries hold no ? of their own: no literal and no JSON
// operator has one.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// readTx begins a read-only transaction that sees one snapshot of the
// database for all its statements, as a SQLite read transaction does.
func (s *Postgres) readTx(ctx context.Context) (pgx.Tx, error) {
	return s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
}

// Get returns the record with the given id, bodies and headers included,
// or an error wrapping ErrNotFound. A record v may not see is reported
// exactly as a missing one, so ids cannot be probed.
func (s *Postgres) Get(ctx context.Context, id string, v store.Viewer) (_ *capture.Record, err error) {
	defer func() { err = unavailable(err) }()
	vis, args := visibleWhere(v)
	return rows.Get(ctx, shared{s.pool}, id, vis, args)
}

// List returns the records matching f, newest first, without bodies and
// headers, and the number of records matching f in all.
func (s *Postgres) List(ctx context.Context, f store.Filter) (_ []*capture.Record, _ int64, err error) {
	defer func() { err = unavailable(err) }()
	return s.reader.List(ctx, f)
}

// Count returns the number of records matching f, ignoring its Limit and
// Offset.
func (s *Postgres) Count(ctx context.Context, f store.Filter) (_ int64, err error) {
	defer func() { err = unavailable(err) }()
	return s.reader.Count(ctx, f)
}
