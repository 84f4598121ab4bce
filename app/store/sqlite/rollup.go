package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// The grains of the rollups, in seconds. Every record is counted at each
// grain still kept for its time (see minuteKeep and hourKeep).
const (
	grainMinute = 60
	grainHour   = 60 * 60
	grainDay    = 24 * 60 * 60
)

// How long the finer rollups are kept. Compaction deletes minute rows once
// they are older than minuteKeep and hour rows once older than hourKeep;
// day rows are kept for ever. Older windows are then answered at hour or
// day precision from the rollups, plus the records still stored for their
// ragged edges.
const (
	minuteKeep   = 48 * time.Hour
	hourKeep     = 60 * 24 * time.Hour
	compactEvery = 10 * time.Minute
)

// writerDriver is the driver of the writer's connection: SQLite with the
// hist_merge function, which the rollups' upsert merges histograms with,
// and the hist_sum aggregate, which migrations build rollups with.
const writerDriver = "sqlite3_store_writer"

func init() {
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			if err := c.RegisterFunc("hist_merge", store.MergeHists, true); err != nil {
				return err
			}
			return c.RegisterAggregator("hist_sum", func() *histSum { return &histSum{} }, true)
		},
	})
}

// histSum is the SQL aggregate hist_sum(blob): the stored sum of stored
// histograms, which migrations use to build coarser rollups from finer
// ones.
type histSum struct{ h store.Hist }

// Step adds one stored histogram.
func (s *histSum) Step(b []byte) { s.h.MergeEncoded(b) }

// Done returns the stored sum.
func (s *histSum) Done() []byte { return s.h.Encode() }

// rollupDims is the part of a rollup's key that describes the records.
type rollupDims struct {
	keyHash, modelRequested, model, provider, method string
	status                                           int
	ok, stream                                       bool
}

// dimsOf returns the dimensions a record is counted under.
func dimsOf(r *capture.Record) rollupDims {
	return rollupDims{
		keyHash: r.KeyHash, modelRequested: r.ModelRequested, model: r.Model, provider: r.Provider,
		method: r.Method, status: r.Status, ok: r.Outcome == capture.OutcomeOK, stream: r.Stream,
	}
}

// rollupKey names one rollup row.
type rollupKey struct {
	grain, bucket int64
	rollupDims
}

// sums is what a rollup row, or a set of them, knows about its records.
type sums struct {
	requests, okCount        int64
	durationMs               float64
	ttfbMs                   float64
	ttfbCount                int64
	ttftMs                   float64
	ttftCount                int64
	genMs                    float64
	genTokens                int64
	prompt, completion       int64
	total, cached, reasoning int64
	cost                     float64
	dur, ttft                store.Hist
}

func newSums() *sums { return &sums{} }

// add counts one record: the single definition of what the rollups hold,
// shared by the writer, the backfill and the queries that read records.
func (s *sums) add(r *capture.Record) {
	s.requests++
	if r.Outcome == capture.OutcomeOK {
		s.okCount++
	}
	d := toMS(r.Duration)
	s.durationMs += d
	s.dur.Add(d)
	if r.TTFB > 0 {
		s.ttfbMs += toMS(r.TTFB)
		s.ttfbCount++
	}
	if r.Stream && r.TTFT > 0 {
		t := toMS(r.TTFT)
		s.ttftMs += t
		s.ttftCount++
		s.ttft.Add(t)
		if r.Duration > r.TTFT && r.CompletionTokens > 0 {
			s.genMs += toMS(r.Duration - r.TTFT)
			s.genTokens += r.CompletionTokens
		}
	}
	s.prompt += r.PromptTokens
	s.completion += r.CompletionTokens
	s.total += r.TotalTokens
	s.cached += r.CachedTokens
	s.reasoning += r.ReasoningTokens
	s.cost += r.Cost
}

// merge adds o into s.
func (s *sums) merge(o *sums) {
	s.requests += o.requests
	s.okCount += o.okCount
	s.durationMs += o.durationMs
	s.ttfbMs += o.ttfbMs
	s.ttfbCount += o.ttfbCount
	s.ttftMs += o.ttftMs
	s.ttftCount += o.ttftCount
	s.genMs += o.genMs
	s.genTokens += o.genTokens
	s.prompt += o.prompt
	s.completion += o.completion
	s.total += o.total
	s.cached += o.cached
	s.reasoning += o.reasoning
	s.cost += o.cost
	s.dur.Merge(&o.dur)
	s.ttft.Merge(&o.ttft)
}

// rollupLevels is what the writer knows of the grains it keeps: minute
// rows exist from minuteFrom and hour rows from hourFrom (Unix seconds);
// math.MinInt64 means from the beginning.
type rollupLevels struct {
	minuteFrom, hourFrom int64
}

// floorDiv rounds a/b down, b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// bucketOf returns the start, in Unix seconds, of the bucket of the given
// grain that t falls in.
func bucketOf(t time.Time, grain int64) int64 {
	return floorDiv(t.Unix(), grain) * grain
}

// rollupBatch aggregates records by rollup row and by key, in memory, so
// that a batch costs one upsert per row touched, not one per record.
type rollupBatch struct {
	rows   map[rollupKey]*sums // rollups
	totals map[rollupKey]*sums // rollup_totals: only grain, bucket, key and ok set
	keys   map[string]*keyRow
}

// dims returns the batch's rollup_dims rows: its rollups rows summed over
// the keys.
func (b *rollupBatch) dims() map[rollupKey]*sums {
	out := make(map[rollupKey]*sums, len(b.rows))
	for k, s := range b.rows {
		k.keyHash = ""
		d := out[k]
		if d == nil {
			d = newSums()
			out[k] = d
		}
		d.merge(s)
	}
	return out
}

// keyRow is one api_keys row's change.
type keyRow struct {
	mask     string
	requests int64
	last     string
}

func newRollupBatch() *rollupBatch {
	return &rollupBatch{rows: map[rollupKey]*sums{}, totals: map[rollupKey]*sums{}, keys: map[string]*keyRow{}}
}

// add counts r at every grain lv still keeps for its time.
func (b *rollupBatch) add(r *capture.Record, lv rollupLevels) {
	dims := dimsOf(r)
	for _, g := range [...]int64{grainMinute, grainHour, grainDay} {
		bucket := bucketOf(r.Start, g)
		if g == grainMinute && bucket < lv.minuteFrom || g == grainHour && bucket < lv.hourFrom {
			continue
		}
		k := rollupKey{grain: g, bucket: bucket, rollupDims: dims}
		s := b.rows[k]
		if s == nil {
			s = newSums()
			b.rows[k] = s
		}
		s.add(r)
		// The key's totals of the bucket, for queries that filter by no
		// other dimension: a few rows per bucket instead of hundreds.
		k = rollupKey{grain: g, bucket: bucket, rollupDims: rollupDims{keyHash: dims.keyHash, ok: dims.ok}}
		if s = b.totals[k]; s == nil {
			s = newSums()
			b.totals[k] = s
		}
		s.add(r)
	}
	if r.KeyHash != "" {
		ts := formatTime(r.Start)
		k := b.keys[r.KeyHash]
		if k == nil {
			k = &keyRow{}
			b.keys[r.KeyHash] = k
		}
		k.requests++
		if ts >= k.last {
			k.last, k.mask = ts, r.KeyMask
		}
	}
}

// The dimensions of the two rollup tables, in primary key order after
// grain and bucket.
var (
	rollupDimCols = []string{"key_hash", "model_requested", "model", "provider", "status", "ok", "stream", "method"}
	totalDimCols  = []string{"key_hash", "ok"}
	dimsDimCols   = rollupDimCols[1:]
)

// rollupTables are the tables compaction thins out.
var rollupTables = []string{"rollups", "rollup_totals", "rollup_dims"}

// sumCols are the rollup tables' sums, in the order sumArgs gives them.
var sumCols = []string{"requests", "duration_ms", "ttfb_ms", "ttfb_count", "ttft_ms", "ttft_count", "gen_ms", "gen_tokens",
	"prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens", "cost"}

// appendSumArgs appends s's sums and histograms to args, as upsertSQL
// takes them after the key.
func (s *sums) appendSumArgs(args []any) []any {
	return append(args, s.requests, s.durationMs, s.ttfbMs, s.ttfbCount, s.ttftMs, s.ttftCount, s.genMs, s.genTokens,
		s.prompt, s.completion, s.total, s.cached, s.reasoning, s.cost, s.dur.Encode(), s.ttft.Encode())
}

// upsertRows is how many rows one upsert statement adds: a statement per
// row would cost its fixed overhead (database/sql, the driver, a step and
// a reset) once per row, and an import touches a few rows per record.
const upsertRows = 32

// upsertSQL adds n aggregated rows to a rollup table whose dimensions are
// dims. The driver returns an empty blob from a Go function as NULL, hence
// the COALESCE; an empty histogram added costs no call.
func upsertSQL(table string, dims []string, n int) string {
	key := append([]string{"grain", "bucket"}, dims...)
	cols := append(append(slices.Clone(key), sumCols...), "duration_hist", "ttft_hist")
	var set []string
	for _, c := range sumCols {
		set = append(set, c+" = "+c+" + excluded."+c)
	}
	for _, h := range []string{"duration_hist", "ttft_hist"} {
		set = append(set, h+" = CASE WHEN length(excluded."+h+") = 0 THEN "+h+
			" ELSE COALESCE(hist_merge("+h+", excluded."+h+"), X'') END")
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + " ON CONFLICT (" + strings.Join(key, ", ") +
		") DO UPDATE SET " + strings.Join(set, ", ")
}

// rollupTable is one of the rollup tables the writer upserts into.
type rollupTable struct {
	one, many string                              // upsertSQL of 1 and of upsertRows rows
	keyArgs   func(args []any, k rollupKey) []any // appends k's key columns in order
}

// newRollupTable describes the rollup table name with dimensions dims.
func newRollupTable(name string, dims []string, keyArgs func([]any, rollupKey) []any) rollupTable {
	return rollupTable{one: upsertSQL(name, dims, 1), many: upsertSQL(name, dims, upsertRows), keyArgs: keyArgs}
}

var (
	rollupsTable = newRollupTable("rollups", rollupDimCols, func(args []any, k rollupKey) []any {
		return append(args, k.grain, k.bucket, k.keyHash, k.modelRequested, k.model, k.provider, k.status, k.ok, k.stream, k.method)
	})
	dimsTable = newRollupTable("rollup_dims", dimsDimCols, func(args []any, k rollupKey) []any {
		return append(args, k.grain, k.bucket, k.modelRequested, k.model, k.provider, k.status, k.ok, k.stream, k.method)
	})
	totalsTable = newRollupTable("rollup_totals", totalDimCols, func(args []any, k rollupKey) []any {
		return append(args, k.grain, k.bucket, k.keyHash, k.ok)
	})
)

// compareKeys orders rollup keys as the tables' primary keys do, so that
// a batch's upserts walk each table's pages in order.
func compareKeys(a, b rollupKey) int {
	return cmp.Or(cmp.Compare(a.grain, b.grain), cmp.Compare(a.bucket, b.bucket), strings.Compare(a.keyHash, b.keyHash),
		strings.Compare(a.modelRequested, b.modelRequested), strings.Compare(a.model, b.model),
		strings.Compare(a.provider, b.provider), cmp.Compare(a.status, b.status), cmpBool(a.ok, b.ok),
		cmpBool(a.stream, b.stream), strings.Compare(a.method, b.method))
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// upsertKeySQL adds a batch's requests of one key to api_keys, keeping the
// newest record's mask.
const upsertKeySQL = `
	INSERT INTO api_keys (key_hash, key_mask, requests, last_seen) VALUES (?, ?, ?, ?)
	ON CONFLICT (key_hash) DO UPDATE SET
		requests = requests + excluded.requests,
		key_mask = CASE WHEN excluded.last_seen >= last_seen THEN excluded.key_mask ELSE key_mask END,
		last_seen = max(last_seen, excluded.last_seen)`

// write upserts the batch's rows, totals, rows summed over the keys and
// keys in tx.
func (b *rollupBatch) write(ctx context.Context, tx *sql.Tx) error {
	if err := upsertAll(ctx, tx, rollupsTable, b.rows); err != nil {
		return err
	}
	if err := upsertAll(ctx, tx, dimsTable, b.dims()); err != nil {
		return err
	}
	if err := upsertAll(ctx, tx, totalsTable, b.totals); err != nil {
		return err
	}
	if len(b.keys) > 0 {
		stmt, err := tx.PrepareContext(ctx, upsertKeySQL)
		if err != nil {
			return fmt.Errorf("rollups: prepare keys: %w", err)
		}
		defer stmt.Close()
		for hash, k := range b.keys {
			if _, err := stmt.ExecContext(ctx, hash, k.mask, k.requests, k.last); err != nil {
				return fmt.Errorf("rollups: upsert key: %w", err)
			}
		}
	}
	return nil
}

// upsertAll upserts rows into t, in primary key order, upsertRows rows a
// statement and the rest one by one.
func upsertAll(ctx context.Context, tx *sql.Tx, t rollupTable, rows map[rollupKey]*sums) error {
	keys := make([]rollupKey, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	full := len(keys) / upsertRows * upsertRows
	if err := t.upsert(ctx, tx, t.many, upsertRows, keys[:full], rows); err != nil {
		return err
	}
	return t.upsert(ctx, tx, t.one, 1, keys[full:], rows)
}

// upsert runs query, which adds per rows, for each run of per keys.
func (t rollupTable) upsert(ctx context.Context, tx *sql.Tx, query string, per int, keys []rollupKey, rows map[rollupKey]*sums) error {
	if len(keys) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return fmt.Errorf("rollups: prepare: %w", err)
	}
	defer stmt.Close()
	args := make([]any, 0, per*(len(rollupDimCols)+2+len(sumCols)+2))
	for i := 0; i < len(keys); i += per {
		args = args[:0]
		for _, k := range keys[i : i+per] {
			args = rows[k].appendSumArgs(t.keyArgs(args, k))
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("rollups: upsert: %w", err)
		}
	}
	return nil
}

// writeRollups counts batch in the rollups and api_keys, in the batch's
// transaction.
func (s *SQLite) writeRollups(ctx context.Context, tx *sql.Tx, batch []*capture.Record) error {
	b := newRollupBatch()
	for _, r := range batch {
		b.add(r, s.levels)
	}
	return b.write(ctx, tx)
}

// State names in rollup_state.
const (
	stateBuilt      = "built"
	stateBackfill   = "backfill"
	stateMinuteFrom = "minute_from"
	stateHourFrom   = "hour_from"
	statePrunedTo   = "pruned_to"
)

// getState returns a rollup_state value, or "" when there is none.
func getState(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string) (string, error) {
	var v string
	err := q.QueryRowContext(ctx, `SELECT value FROM rollup_state WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// setState sets a rollup_state value.
func setState(ctx context.Context, tx *sql.Tx, name, value string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO rollup_state (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

// readLevels returns the grains' coverage as rollup_state records it.
func readLevels(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (rollupLevels, error) {
	lv := rollupLevels{minuteFrom: math.MinInt64, hourFrom: math.MinInt64}
	for name, dst := range map[string]*int64{stateMinuteFrom: &lv.minuteFrom, stateHourFrom: &lv.hourFrom} {
		v, err := getState(ctx, q, name)
		if err != nil {
			return lv, fmt.Errorf("rollups: state: %w", err)
		}
		if v == "" {
			continue
		}
		if *dst, err = strconv.ParseInt(v, 10, 64); err != nil {
			return lv, fmt.Errorf("rollups: state %s: %w", name, err)
		}
	}
	return lv, nil
}

// compact deletes the minute rows older than minuteKeep and the hour rows
// older than hourKeep before now: the hour and day rows hold the same
// records. It first moves the coverage bounds, so that neither the writer
// nor a query uses a grain while its old rows are being deleted.
func (s *SQLite) compact(ctx context.Context, now time.Time) error {
	want := rollupLevels{
		minuteFrom: bucketOf(now.Add(-minuteKeep), grainHour),
		hourFrom:   bucketOf(now.Add(-hourKeep), grainDay),
	}
	if want.minuteFrom > s.levels.minuteFrom || want.hourFrom > s.levels.hourFrom {
		tx, err := s.wdb.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: compact: %w", err)
		}
		defer tx.Rollback()
		lv := rollupLevels{minuteFrom: max(want.minuteFrom, s.levels.minuteFrom), hourFrom: max(want.hourFrom, s.levels.hourFrom)}
		if err := setState(ctx, tx, stateMinuteFrom, strconv.FormatInt(lv.minuteFrom, 10)); err != nil {
			return fmt.Errorf("store: compact: %w", err)
		}
		if err := setState(ctx, tx, stateHourFrom, strconv.FormatInt(lv.hourFrom, 10)); err != nil {
			return fmt.Errorf("store: compact: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: compact: %w", err)
		}
		s.levels = lv
	}
	for _, g := range []struct {
		grain, before, step int64
	}{{grainMinute, s.levels.minuteFrom, 6 * grainHour}, {grainHour, s.levels.hourFrom, 7 * grainDay}} {
		for _, table := range rollupTables {
			for {
				// A step of buckets at a time, oldest first.
				var oldest sql.NullInt64
				if err := s.wdb.QueryRowContext(ctx, `SELECT MIN(bucket) FROM `+table+` WHERE grain = ?`, g.grain).Scan(&oldest); err != nil {
					return fmt.Errorf("store: compact: %w", err)
				}
				if !oldest.Valid || oldest.Int64 >= g.before {
					break
				}
				if _, err := s.wdb.ExecContext(ctx, `DELETE FROM `+table+` WHERE grain = ? AND bucket < ?`,
					g.grain, min(g.before, oldest.Int64+g.step)); err != nil {
					return fmt.Errorf("store: compact: %w", err)
				}
			}
		}
	}
	return nil
}

// statSelect selects what the rollups are made of from requests, for
// scanStatRow: the light columns only.
const statSelect = `rowid, timestamp, key_hash, key_mask, COALESCE(model_requested, ''), COALESCE(model, ''),
	COALESCE(provider, ''), method, COALESCE(response_status, 0), outcome, COALESCE(is_stream, 0),
	COALESCE(duration_ms, 0.0), COALESCE(ttfb_ms, 0.0), COALESCE(ttft_ms, 0.0),
	COALESCE(prompt_tokens, 0), COALESCE(completion_tokens, 0), COALESCE(total_tokens, 0),
	COALESCE(cached_tokens, 0), COALESCE(reasoning_tokens, 0), COALESCE(cost, 0.0)`

// scanStatRow reads a row selected with statSelect into a record holding
// only those fields, and returns its rowid and stored timestamp too.
func scanStatRow(rows *sql.Rows) (rowid int64, ts string, r *capture.Record, err error) {
	r = &capture.Record{}
	var durMS, ttfbMS, ttftMS float64
	var outcome string
	if err := rows.Scan(&rowid, &ts, &r.KeyHash, &r.KeyMask, &r.ModelRequested, &r.Model, &r.Provider,
		&r.Method, &r.Status, &outcome, &r.Stream, &durMS, &ttfbMS, &ttftMS,
		&r.PromptTokens, &r.CompletionTokens, &r.TotalTokens, &r.CachedTokens, &r.ReasoningTokens, &r.Cost); err != nil {
		return 0, "", nil, err
	}
	if r.Start, err = parseTime(ts); err != nil {
		return 0, "", nil, err
	}
	r.Outcome = capture.Outcome(outcome)
	r.Duration, r.TTFB, r.TTFT = fromMS(durMS), fromMS(ttfbMS), fromMS(ttftMS)
	return rowid, ts, r, nil
}

// backfillBatch is how many records the backfill counts per transaction;
// a variable for tests.
var backfillBatch = 20000

// backfillRollups builds the rollups of a database written before they
// existed: it reads every record in start order, in batches, and counts
// each batch in its own transaction together with its resume point, so
// that a crash loses nothing and the next Open continues where it stopped.
// The last transaction marks the rollups built. progress, if not nil, is
// told how many records are counted of how many.
func backfillRollups(ctx context.Context, db *sql.DB, now time.Time, progress func(done, total int64)) error {
	built, err := getState(ctx, db, stateBuilt)
	if err != nil {
		return fmt.Errorf("store: rollups: %w", err)
	}
	if built != "" {
		return nil
	}
	var total int64
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM requests`).Scan(&total); err != nil {
		return fmt.Errorf("store: rollups: %w", err)
	}
	// The grains kept: none older than compaction would leave.
	lv := rollupLevels{
		minuteFrom: bucketOf(now.Add(-minuteKeep), grainHour),
		hourFrom:   bucketOf(now.Add(-hourKeep), grainDay),
	}
	at := resumePoint{Rowid: -1, MinuteFrom: lv.minuteFrom, HourFrom: lv.hourFrom}
	if v, err := getState(ctx, db, stateBackfill); err != nil {
		return fmt.Errorf("store: rollups: %w", err)
	} else if v != "" {
		if err := json.Unmarshal([]byte(v), &at); err != nil {
			return fmt.Errorf("store: rollups: resume point %q: %w", v, err)
		}
	}
	if progress != nil {
		progress(at.Done, total)
	}
	for {
		n, err := backfillStep(ctx, db, &at)
		if err != nil {
			return fmt.Errorf("store: rollups: backfill: %w", err)
		}
		if progress != nil {
			progress(at.Done, max(total, at.Done))
		}
		if n < backfillBatch {
			return nil
		}
	}
}

// resumePoint is where an interrupted backfill continues: after the record
// at (Timestamp, Rowid), with Done records counted, keeping the grains it
// began with.
type resumePoint struct {
	Timestamp  string `json:"timestamp"`
	Rowid      int64  `json:"rowid"`
	Done       int64  `json:"done"`
	MinuteFrom int64  `json:"minute_from"`
	HourFrom   int64  `json:"hour_from"`
}

// backfillStep counts the next batch of records after the resume point
// and moves it past them, in one transaction; when the batch is the last,
// it marks the rollups built. It returns how many it counted.
func backfillStep(ctx context.Context, db *sql.DB, at *resumePoint) (int, error) {
	lv := rollupLevels{minuteFrom: at.MinuteFrom, hourFrom: at.HourFrom}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+statSelect+` FROM requests
		WHERE (timestamp, rowid) > (?, ?) ORDER BY timestamp, rowid LIMIT ?`, at.Timestamp, at.Rowid, backfillBatch)
	if err != nil {
		return 0, err
	}
	b := newRollupBatch()
	n := 0
	for rows.Next() {
		rowid, ts, r, err := scanStatRow(rows)
		if err != nil {
			rows.Close()
			return 0, err
		}
		b.add(r, lv)
		at.Timestamp, at.Rowid = ts, rowid
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	rows.Close()
	if err := b.write(ctx, tx); err != nil {
		return 0, err
	}
	at.Done += int64(n)
	if n < backfillBatch {
		if err := setState(ctx, tx, stateBuilt, "1"); err != nil {
			return 0, err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM rollup_state WHERE name = ?`, stateBackfill); err != nil {
			return 0, err
		}
		for name, v := range map[string]int64{stateMinuteFrom: lv.minuteFrom, stateHourFrom: lv.hourFrom} {
			if err := setState(ctx, tx, name, strconv.FormatInt(v, 10)); err != nil {
				return 0, err
			}
		}
	} else {
		resume, err := json.Marshal(at)
		if err != nil {
			return 0, err
		}
		if err := setState(ctx, tx, stateBackfill, string(resume)); err != nil {
			return 0, err
		}
	}
	return n, tx.Commit()
}
