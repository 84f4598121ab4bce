package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// timeLayout is how timestamps are stored (see migration 0001): UTC text
// with a fixed width, so that text order is time order, as on SQLite.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// legacyLayouts are timestamp forms the old Python system wrote
// (datetime.isoformat), accepted when reading imported rows.
var legacyLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999",
	"2006-01-02 15:04:05.999999",
}

// column maps one column of the requests table to a Record field. The
// table below is the single source of the insert statement, the select
// lists and the scan targets, so they cannot drift apart.
type column struct {
	name  string
	sel   string // select expression; NULLs of imported rows become zero values
	heavy bool   // left out of List
	arg   func(r *capture.Record) any
	dest  func(r *capture.Record, t *scanTemp) any
}

// scanTemp holds the columns whose stored form differs from the field's.
type scanTemp struct {
	timestamp                  string
	durationMS, ttfbMS, ttftMS float64
}

var columns = []column{
	{name: "id", arg: func(r *capture.Record) any { return r.ID }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ID }},
	{name: "timestamp", arg: func(r *capture.Record) any { return formatTime(r.Start) }, dest: func(_ *capture.Record, t *scanTemp) any { return &t.timestamp }},
	{name: "method", arg: func(r *capture.Record) any { return r.Method }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Method }},
	{name: "url", arg: func(r *capture.Record) any { return r.URL }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.URL }},
	{name: "path", arg: func(r *capture.Record) any { return r.Path }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Path }},
	{name: "query", arg: func(r *capture.Record) any { return r.Query }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Query }},
	{name: "headers", heavy: true, arg: func(r *capture.Record) any { return r.ReqHeaderJSON }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ReqHeaderJSON }},
	{name: "body", heavy: true, arg: func(r *capture.Record) any { return r.ReqBodyStored }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ReqBodyStored }},
	{name: "body_size", sel: "COALESCE(body_size, 0)", arg: func(r *capture.Record) any { return r.ReqBody.Size }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ReqBody.Size }},
	{name: "body_truncated", sel: "COALESCE(body_truncated, false)", arg: func(r *capture.Record) any { return r.ReqTruncated }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ReqTruncated }},
	{name: "key_hash", arg: func(r *capture.Record) any { return r.KeyHash }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.KeyHash }},
	{name: "key_mask", arg: func(r *capture.Record) any { return r.KeyMask }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.KeyMask }},
	{name: "client_addr", sel: "COALESCE(client_addr, '')", arg: func(r *capture.Record) any { return r.ClientAddr }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ClientAddr }},
	{name: "response_status", sel: "COALESCE(response_status, 0)", arg: func(r *capture.Record) any { return nullInt(r.Status) }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Status }},
	{name: "response_headers", sel: "COALESCE(response_headers, '')", heavy: true, arg: func(r *capture.Record) any { return r.RespHeaderJSON }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.RespHeaderJSON }},
	{name: "response_body", heavy: true, arg: func(r *capture.Record) any { return r.RespBodyStored }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.RespBodyStored }},
	{name: "response_size", sel: "COALESCE(response_size, 0)", arg: func(r *capture.Record) any { return r.RespBody.Size }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.RespBody.Size }},
	{name: "response_truncated", sel: "COALESCE(response_truncated, false)", arg: func(r *capture.Record) any { return r.RespTruncated }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.RespTruncated }},
	{name: "is_stream", sel: "COALESCE(is_stream, false)", arg: func(r *capture.Record) any { return r.Stream }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Stream }},
	{name: "model_requested", sel: "COALESCE(model_requested, '')", arg: func(r *capture.Record) any { return r.ModelRequested }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ModelRequested }},
	{name: "model", sel: "COALESCE(model, '')", arg: func(r *capture.Record) any { return r.Model }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Model }},
	{name: "content", sel: "COALESCE(content, '')", arg: func(r *capture.Record) any { return r.Content }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Content }},
	{name: "reasoning", sel: "COALESCE(reasoning, '')", arg: func(r *capture.Record) any { return r.Reasoning }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Reasoning }},
	{name: "tool_calls", sel: "COALESCE(tool_calls, '')", arg: func(r *capture.Record) any { return r.ToolCallsJSON }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ToolCallsJSON }},
	{name: "finish_reason", sel: "COALESCE(finish_reason, '')", arg: func(r *capture.Record) any { return r.FinishReason }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.FinishReason }},
	{name: "generation_id", sel: "COALESCE(generation_id, '')", arg: func(r *capture.Record) any { return r.GenerationID }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.GenerationID }},
	{name: "prompt_tokens", sel: "COALESCE(prompt_tokens, 0)", arg: func(r *capture.Record) any { return r.PromptTokens }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.PromptTokens }},
	{name: "completion_tokens", sel: "COALESCE(completion_tokens, 0)", arg: func(r *capture.Record) any { return r.CompletionTokens }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.CompletionTokens }},
	{name: "total_tokens", sel: "COALESCE(total_tokens, 0)", arg: func(r *capture.Record) any { return r.TotalTokens }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.TotalTokens }},
	{name: "cached_tokens", sel: "COALESCE(cached_tokens, 0)", arg: func(r *capture.Record) any { return r.CachedTokens }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.CachedTokens }},
	{name: "reasoning_tokens", sel: "COALESCE(reasoning_tokens, 0)", arg: func(r *capture.Record) any { return r.ReasoningTokens }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.ReasoningTokens }},
	{name: "cost", sel: "COALESCE(cost, 0.0)", arg: func(r *capture.Record) any { return r.Cost }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Cost }},
	{name: "upstream_cost", sel: "COALESCE(upstream_cost, 0.0)", arg: func(r *capture.Record) any { return r.UpstreamCost }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.UpstreamCost }},
	{name: "has_usage", sel: "COALESCE(has_usage, false)", arg: func(r *capture.Record) any { return r.HasUsage }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.HasUsage }},
	{name: "duration_ms", sel: "COALESCE(duration_ms, 0.0)", arg: func(r *capture.Record) any { return toMS(r.Duration) }, dest: func(_ *capture.Record, t *scanTemp) any { return &t.durationMS }},
	{name: "ttfb_ms", sel: "COALESCE(ttfb_ms, 0.0)", arg: func(r *capture.Record) any { return nullMS(r.TTFB) }, dest: func(_ *capture.Record, t *scanTemp) any { return &t.ttfbMS }},
	{name: "ttft_ms", sel: "COALESCE(ttft_ms, 0.0)", arg: func(r *capture.Record) any { return nullMS(r.TTFT) }, dest: func(_ *capture.Record, t *scanTemp) any { return &t.ttftMS }},
	{name: "attempts", sel: "COALESCE(attempts, 0)", arg: func(r *capture.Record) any { return r.Attempts }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Attempts }},
	{name: "outcome", arg: func(r *capture.Record) any { return string(r.Outcome) }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Outcome }},
	{name: "error", sel: "COALESCE(error, '')", arg: func(r *capture.Record) any { return nullString(r.Error) }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Error }},
	{name: "provider", sel: "COALESCE(provider, '')", arg: func(r *capture.Record) any { return r.Provider }, dest: func(r *capture.Record, _ *scanTemp) any { return &r.Provider }},
}

// columnNames are the requests table's columns in the order of columns.
var columnNames = func() []string {
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.name
	}
	return names
}()

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

// query runs a query written with ? placeholders.
func query(ctx context.Context, q querier, sql string, args ...any) (pgx.Rows, error) {
	return q.Query(ctx, rebind(sql), args...)
}

// queryRow runs a one-row query written with ? placeholders.
func queryRow(ctx context.Context, q querier, sql string, args ...any) pgx.Row {
	return q.QueryRow(ctx, rebind(sql), args...)
}

// exec runs a statement written with ? placeholders.
func exec(ctx context.Context, q querier, sql string, args ...any) (pgconn.CommandTag, error) {
	return q.Exec(ctx, rebind(sql), args...)
}

// readTx begins a read-only transaction that sees one snapshot of the
// database for all its statements, as a SQLite read transaction does.
func (s *Postgres) readTx(ctx context.Context) (pgx.Tx, error) {
	return s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
}

// selectList returns the select expressions, without the heavy columns
// unless full is set.
func selectList(full bool) string {
	var exprs []string
	for _, c := range columns {
		if c.heavy && !full {
			continue
		}
		exprs = append(exprs, cmp.Or(c.sel, c.name))
	}
	return strings.Join(exprs, ", ")
}

// scanRecord reads one row selected with selectList(full).
func scanRecord(row interface{ Scan(...any) error }, full bool) (*capture.Record, error) {
	var (
		r     capture.Record
		t     scanTemp
		dests = make([]any, 0, len(columns))
	)
	for _, c := range columns {
		if c.heavy && !full {
			continue
		}
		dests = append(dests, c.dest(&r, &t))
	}
	if err := row.Scan(dests...); err != nil {
		return nil, err
	}
	start, err := parseTime(t.timestamp)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.ID, err)
	}
	r.Start = start
	r.Duration = fromMS(t.durationMS)
	r.TTFB = fromMS(t.ttfbMS)
	r.TTFT = fromMS(t.ttftMS)
	r.Analyzed = true
	return &r, nil
}

// Get returns the record with the given id, bodies and headers included,
// or an error wrapping ErrNotFound. A record v may not see is reported
// exactly as a missing one, so ids cannot be probed.
func (s *Postgres) Get(ctx context.Context, id string, v store.Viewer) (_ *capture.Record, err error) {
	defer func() { err = unavailable(err) }()
	vis, args := visibleWhere(v)
	row := queryRow(ctx, s.pool, `SELECT `+selectList(true)+` FROM requests WHERE id = ? AND `+vis,
		append([]any{id}, args...)...)
	rec, err := scanRecord(row, true)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: get %s: %w", id, store.ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", id, err)
	}
	return rec, nil
}

// List returns the records matching f, newest first, without bodies and
// headers, and the number of records matching f in all.
func (s *Postgres) List(ctx context.Context, f store.Filter) (_ []*capture.Record, _ int64, err error) {
	defer func() { err = unavailable(err) }()
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list: %w", err)
	}
	defer tx.Rollback(ctx)
	recs, n, err := findRecords(ctx, tx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list: %w", err)
	}
	return recs, n, nil
}

// Count returns the number of records matching f, ignoring its Limit and
// Offset.
func (s *Postgres) Count(ctx context.Context, f store.Filter) (_ int64, err error) {
	defer func() { err = unavailable(err) }()
	tx, err := s.readTx(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	defer tx.Rollback(ctx)
	n, err := countRecords(ctx, tx, f)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// countRecords returns the number of records matching f: from the
// rollups when f allows (see countStored), else by counting rows.
func countRecords(ctx context.Context, tx querier, f store.Filter) (int64, error) {
	cond, args, err := filterWhere(f)
	if err != nil {
		return 0, err
	}
	if usesRollups(f) {
		return countStored(ctx, tx, f)
	}
	var n int64
	if err := queryRow(ctx, tx, `SELECT COUNT(*) FROM requests WHERE `+cond, args...).Scan(&n); err != nil {
		return 0, err
	}
	return n, nil
}

// countStored counts the stored records matching f from the rollups. The
// rollups count deleted records too, but retention deletes the oldest
// first and rollup_state remembers the newest start time it deleted
// (pruned_to): every record that started later is still stored. So the
// window up to pruned_to is counted from the rows, and the rest from the
// rollups, with its ragged edges from the rows.
func countStored(ctx context.Context, tx querier, f store.Filter) (int64, error) {
	a, b := window(f)
	var n int64
	prunedTo, err := getState(ctx, tx, statePrunedTo)
	if err != nil {
		return 0, err
	}
	if prunedTo != "" {
		t, err := parseTime(prunedTo)
		if err != nil {
			return 0, fmt.Errorf("pruned_to: %w", err)
		}
		p := t.UnixMicro() + 1
		if a < p {
			old := f
			old.From, old.To, old.Limit, old.Offset = fromMicro(a), fromMicro(min(b, p)), 0, 0
			cond, args, err := filterWhere(old)
			if err != nil {
				return 0, err
			}
			if err := queryRow(ctx, tx, `SELECT COUNT(*) FROM requests WHERE `+cond, args...).Scan(&n); err != nil {
				return 0, err
			}
			a = p
		}
	}
	if a >= b {
		return n, nil
	}
	parts, err := planFor(ctx, tx, f, a, b, 0)
	if err != nil {
		return 0, err
	}
	groups, err := aggregate(ctx, tx, f, parts, oneGroup, false)
	if err != nil {
		return 0, err
	}
	if g := groups[""]; g != nil {
		n += g.requests
	}
	return n, nil
}

// findRecords returns the records matching f, newest first, and how many
// match in all. Both queries run in tx, so they see the same snapshot.
func findRecords(ctx context.Context, tx querier, f store.Filter) ([]*capture.Record, int64, error) {
	cond, args, err := filterWhere(f)
	if err != nil {
		return nil, 0, err
	}
	n, err := countRecords(ctx, tx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("count: %w", err)
	}
	rows, err := query(ctx, tx, `
		SELECT `+selectList(false)+`
		FROM requests
		WHERE `+cond+`
		ORDER BY id DESC
		`+formatLimitOffset(f.Limit, f.Offset), args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var recs []*capture.Record
	for rows.Next() {
		rec, err := scanRecord(rows, false)
		if err != nil {
			return nil, 0, fmt.Errorf("scan: %w", err)
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	return recs, n, nil
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

// formatTime returns t in the stored form.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime reads a stored timestamp, in this store's form or a legacy one.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err == nil {
		return t, nil
	}
	for _, layout := range legacyLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad timestamp %q: %w", s, err)
}

// toMS converts d to milliseconds, the unit of the *_ms columns.
func toMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// fromMS converts milliseconds back, rounding to the nanosecond.
func fromMS(ms float64) time.Duration {
	return time.Duration(math.Round(ms * float64(time.Millisecond)))
}

// nullMS stores an unknown (zero) duration as NULL, so that AVG and
// friends skip it instead of counting it as instant.
func nullMS(d time.Duration) any {
	if d == 0 {
		return nil
	}
	return toMS(d)
}

// nullInt stores 0 (no status sent) as NULL, as the old system did.
func nullInt(v int) any {
	if v == 0 {
		return nil
	}
	return int64(v)
}

// nullString stores "" (no error) as NULL, as the old system did.
func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}
