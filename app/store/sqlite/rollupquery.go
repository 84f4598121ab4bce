package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rollup"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// dialect is SQLite's side of the shared queries (see rollup.Reader).
var dialect = rollup.Dialect{
	SumsSelect: `SUM(requests), SUM(CASE WHEN ok = 1 THEN requests ELSE 0 END),
	SUM(duration_ms), SUM(ttfb_ms), SUM(ttfb_count), SUM(ttft_ms), SUM(ttft_count), SUM(gen_ms), SUM(gen_tokens),
	SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens), SUM(cached_tokens), SUM(reasoning_tokens), SUM(cost)`,
	StepSep:    "\x00",
	StepSepSQL: "char(0)",
	Filters:    filters,
	RollupsFrom: func(table string, f store.Filter) string {
		if table == rollup.RollupsTable.Name && (!f.Viewer.Admin || f.KeyHash != "") {
			// One key's rows: SQLite, not knowing how many keys there
			// are, would rather read every key's rows of the range by
			// the primary key than look the key's few up through its
			// index.
			return table + " INDEXED BY rollups_key"
		}
		return table
	},
	RecordsFrom: func(p rollup.Part) string {
		if p.Ragged {
			// A user's filter names the key, and SQLite would rather walk
			// all of the key's records than the few of a minute.
			return "requests INDEXED BY requests_timestamp"
		}
		return "requests"
	},
	LimitOffset: formatLimitOffset,
}

// anyOf returns the condition that col is one of vals, with vals as one
// JSON argument: a search index may hand over more ids than SQLite allows
// variables.
func anyOf(col string, vals []string) (string, any) {
	list, _ := json.Marshal(vals) // a []string always encodes
	return col + " IN (SELECT value FROM json_each(?))", string(list)
}

// formatLimitOffset returns a LIMIT/OFFSET clause, or "" for neither.
func formatLimitOffset(limit, offset int) string {
	switch {
	case limit > 0 && offset > 0:
		return "LIMIT " + strconv.Itoa(limit) + " OFFSET " + strconv.Itoa(offset)
	case limit > 0:
		return "LIMIT " + strconv.Itoa(limit)
	case offset > 0:
		return "LIMIT -1 OFFSET " + strconv.Itoa(offset)
	}
	return ""
}

// querier runs the shared queries on a database/sql pool, connection or
// transaction.
type querier struct {
	q interface {
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	}
}

// Query runs query.
func (q querier) Query(ctx context.Context, query string, args ...any) (rows.Iter, error) {
	res, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{res}, nil
}

// sqlRows is *sql.Rows as a rows.Iter.
type sqlRows struct{ *sql.Rows }

// Close closes the rows; an error of theirs shows in Err.
func (r sqlRows) Close() { r.Rows.Close() }

// readTx is a read transaction of the read pool, as a rollup.Snapshot.
type readTx struct {
	querier
	tx *sql.Tx
}

// Close rolls the transaction back.
func (t readTx) Close() { t.tx.Rollback() }

// begin starts a read transaction on the read pool: it sees one state of
// the database for all its statements.
func (s *SQLite) begin(ctx context.Context) (rollup.Snapshot, error) {
	tx, err := s.rdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return readTx{querier{tx}, tx}, nil
}

// Breakdown summarises the records matching f (Limit and Offset ignored)
// by the dimension by, busiest group first. It reads the rollups as Stats
// does, and follows the same visibility rule.
func (s *SQLite) Breakdown(ctx context.Context, f store.Filter, by store.Dimension) ([]store.BreakdownRow, error) {
	return s.reader.Breakdown(ctx, f, by)
}

// Series returns the records matching f (Limit and Offset ignored) step by
// step, for charts: one Point per step from the step holding f.From to the
// one holding the instant before f.To, empty steps included. step must be a
// whole number of minutes. Without From the series starts at the first step
// with records, without To it ends at the last one. The rollups answer it
// at the coarsest grain that divides step: a step of days reads day rows, of
// hours hour rows, else minute rows; where those were compacted away (minute
// rows after 48 hours, hour rows after 60 days; see Coverage) the steps are
// read from the records still stored. Pick a step the window's age allows,
// such as 1 minute for the last hour, 1 hour for 24 hours or 7 days and 1 day
// beyond.
func (s *SQLite) Series(ctx context.Context, f store.Filter, step time.Duration) ([]store.Point, error) {
	return s.reader.Series(ctx, f, step)
}

// Coverage returns the period the rollups cover and their grains, for the
// dashboard to say how far back, and how finely, it can answer.
func (s *SQLite) Coverage(ctx context.Context) (store.Coverage, error) {
	return s.reader.Coverage(ctx)
}
