package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rollup"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// dialect is PostgreSQL's side of the shared queries (see rollup.Reader).
var dialect = rollup.Dialect{
	// SUM of a bigint is numeric in PostgreSQL: cast back.
	SumsSelect: `SUM(requests)::bigint, SUM(CASE WHEN ok THEN requests ELSE 0 END)::bigint,
	SUM(duration_ms), SUM(ttfb_ms), SUM(ttfb_count)::bigint, SUM(ttft_ms), SUM(ttft_count)::bigint, SUM(gen_ms),
	SUM(gen_tokens)::bigint, SUM(prompt_tokens)::bigint, SUM(completion_tokens)::bigint, SUM(total_tokens)::bigint,
	SUM(cached_tokens)::bigint, SUM(reasoning_tokens)::bigint, SUM(cost)`,
	// Text cannot hold NUL.
	StepSep:     "|",
	StepSepSQL:  "'|'",
	Filters:     filters,
	LimitOffset: formatLimitOffset,
	Bytewise:    ` COLLATE "C"`,
}

// anyOf returns the condition that col is one of vals, with vals as one
// array argument: a search index may hand over more ids than a statement
// takes parameters. Strings text cannot hold match no stored value.
func anyOf(col string, vals []string) (string, any) {
	return col + " = ANY(?)", validTexts(vals)
}

// formatLimitOffset returns a LIMIT/OFFSET clause, or "" for neither.
func formatLimitOffset(limit, offset int) string {
	var out []string
	if limit > 0 {
		out = append(out, "LIMIT "+strconv.Itoa(limit))
	}
	if offset > 0 {
		out = append(out, "OFFSET "+strconv.Itoa(offset))
	}
	return strings.Join(out, " ")
}

// shared runs the shared queries, written with ? placeholders, on a pool
// or a transaction.
type shared struct{ q querier }

// Query runs query.
func (s shared) Query(ctx context.Context, query string, args ...any) (rows.Iter, error) {
	return s.q.Query(ctx, rebind(query), args...)
}

// snapshot is a read transaction (see readTx) as a rollup.Snapshot.
type snapshot struct {
	shared
	ctx context.Context
	tx  pgx.Tx
}

// Close rolls the transaction back.
func (s snapshot) Close() { s.tx.Rollback(s.ctx) }

// begin starts a read transaction, as a rollup.Snapshot.
func (s *Postgres) begin(ctx context.Context) (rollup.Snapshot, error) {
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, err
	}
	return snapshot{shared{tx}, ctx, tx}, nil
}

// Breakdown summarises the records matching f (Limit and Offset ignored)
// by the dimension by, busiest group first. It reads the rollups as Stats
// does, and follows the same visibility rule.
func (s *Postgres) Breakdown(ctx context.Context, f store.Filter, by store.Dimension) (_ []store.BreakdownRow, err error) {
	defer func() { err = unavailable(err) }()
	return s.reader.Breakdown(ctx, f, by)
}

// Series returns the records matching f (Limit and Offset ignored) step by
// step, for charts, as store/sqlite's does: see rollup.Reader.Series.
func (s *Postgres) Series(ctx context.Context, f store.Filter, step time.Duration) (_ []store.Point, err error) {
	defer func() { err = unavailable(err) }()
	return s.reader.Series(ctx, f, step)
}

// Coverage returns the period the rollups cover and their grains, for the
// dashboard to say how far back, and how finely, it can answer.
func (s *Postgres) Coverage(ctx context.Context) (_ store.Coverage, err error) {
	defer func() { err = unavailable(err) }()
	return s.reader.Coverage(ctx)
}
