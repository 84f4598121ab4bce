package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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

// rollupDims is the part of a rollup's key that describes the records.
type rollupDims struct {
	keyHash, modelRequested, model, provider, method string
	status                                           int
	ok, stream                                       bool
}

// dimsOf returns the dimensions a record is counted under.
func dimsOf(r *capture.Record) rollupDims {
	return rollupDims{
		keyHash: validText(r.KeyHash), modelRequested: validText(r.ModelRequested), model: validText(r.Model),
		provider: validText(r.Provider), method: validText(r.Method), status: r.Status, ok: r.Outcome == capture.OutcomeOK, stream: r.Stream,
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
	if dims.keyHash != "" {
		ts := formatTime(r.Start)
		k := b.keys[dims.keyHash]
		if k == nil {
			k = &keyRow{}
			b.keys[dims.keyHash] = k
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

// appendSumArgs appends s's sums and histograms to args, as upsertSQL
// takes them after the key.
func (s *sums) appendSumArgs(args []any) []any {
	return append(args, s.requests, s.durationMs, s.ttfbMs, s.ttfbCount, s.ttftMs, s.ttftCount, s.genMs, s.genTokens,
		s.prompt, s.completion, s.total, s.cached, s.reasoning, s.cost, s.dur.Encode(), s.ttft.Encode())
}

// upsertRows is the most rows one upsert statement adds.
const upsertRows = 64

// upsertSQL adds n aggregated rows to a rollup table whose dimensions are
// dims, adding to the sums of the rows already there. It leaves the
// histograms of those rows alone and returns them, with their keys and
// whether the row was there (xmax is set on a row the statement updated):
// the writer merges them in Go and writes them back while the upsert's row
// lock, held until COMMIT, keeps other writers out.
func upsertSQL(table string, dims []string, n int) string {
	key := append([]string{"grain", "bucket"}, dims...)
	cols := append(append(slices.Clone(key), sumCols...), "duration_hist", "ttft_hist")
	var set []string
	for _, c := range sumCols {
		set = append(set, c+" = "+table+"."+c+" + excluded."+c)
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	p := 0
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for j := range cols {
			if j > 0 {
				b.WriteString(", ")
			}
			p++
			b.WriteString("$" + strconv.Itoa(p))
		}
		b.WriteString(")")
	}
	b.WriteString(" ON CONFLICT (" + strings.Join(key, ", ") + ") DO UPDATE SET " + strings.Join(set, ", ") +
		" RETURNING " + strings.Join(key, ", ") + ", xmax::text <> '0', duration_hist, ttft_hist")
	return b.String()
}

// histSQL writes back the merged histograms of one row of a rollup table
// whose dimensions are dims.
func histSQL(table string, dims []string) string {
	key := append([]string{"grain", "bucket"}, dims...)
	cond := make([]string, len(key))
	for i, c := range key {
		cond[i] = c + " = $" + strconv.Itoa(i+3)
	}
	return "UPDATE " + table + " SET duration_hist = $1, ttft_hist = $2 WHERE " + strings.Join(cond, " AND ")
}

// rollupTable is one of the rollup tables the writer upserts into.
type rollupTable struct {
	upserts  []string                            // upsertSQL of 1…upsertRows rows, at index n-1
	hist     string                              // histSQL
	keyArgs  func(args []any, k rollupKey) []any // appends k's key columns in order
	keyDests func(k *rollupKey) []any            // scan targets of the key columns, in order
}

// newRollupTable describes the rollup table name with dimensions dims.
func newRollupTable(name string, dims []string, keyArgs func([]any, rollupKey) []any, keyDests func(*rollupKey) []any) rollupTable {
	t := rollupTable{hist: histSQL(name, dims), keyArgs: keyArgs, keyDests: keyDests}
	for n := 1; n <= upsertRows; n++ {
		t.upserts = append(t.upserts, upsertSQL(name, dims, n))
	}
	return t
}

var (
	rollupsTable = newRollupTable("rollups", rollupDimCols, func(args []any, k rollupKey) []any {
		return append(args, k.grain, k.bucket, k.keyHash, k.modelRequested, k.model, k.provider, int64(k.status), k.ok, k.stream, k.method)
	}, func(k *rollupKey) []any {
		return []any{&k.grain, &k.bucket, &k.keyHash, &k.modelRequested, &k.model, &k.provider, &k.status, &k.ok, &k.stream, &k.method}
	})
	dimsTable = newRollupTable("rollup_dims", dimsDimCols, func(args []any, k rollupKey) []any {
		return append(args, k.grain, k.bucket, k.modelRequested, k.model, k.provider, int64(k.status), k.ok, k.stream, k.method)
	}, func(k *rollupKey) []any {
		return []any{&k.grain, &k.bucket, &k.modelRequested, &k.model, &k.provider, &k.status, &k.ok, &k.stream, &k.method}
	})
	totalsTable = newRollupTable("rollup_totals", totalDimCols, func(args []any, k rollupKey) []any {
		return append(args, k.grain, k.bucket, k.keyHash, k.ok)
	}, func(k *rollupKey) []any {
		return []any{&k.grain, &k.bucket, &k.keyHash, &k.ok}
	})
)

// upsertKeysSQL adds a batch's requests per key to api_keys, in the order
// of the arrays (sorted by key), keeping the newest record's mask: the sum
// is commutative, and so is the newest start.
const upsertKeysSQL = `
	INSERT INTO api_keys (key_hash, key_mask, requests, last_seen)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
	ON CONFLICT (key_hash) DO UPDATE SET
		requests = api_keys.requests + excluded.requests,
		key_mask = CASE WHEN excluded.last_seen >= api_keys.last_seen THEN excluded.key_mask ELSE api_keys.key_mask END,
		last_seen = GREATEST(api_keys.last_seen, excluded.last_seen)`

// write upserts the batch's rows, rows summed over the keys, totals and
// keys in tx, each table in primary key order and the tables in one order,
// as every writer does, so that concurrent writers cannot deadlock.
func (b *rollupBatch) write(ctx context.Context, tx pgx.Tx) error {
	if err := upsertAll(ctx, tx, rollupsTable, b.rows); err != nil {
		return err
	}
	if err := upsertAll(ctx, tx, dimsTable, b.dims()); err != nil {
		return err
	}
	if err := upsertAll(ctx, tx, totalsTable, b.totals); err != nil {
		return err
	}
	if len(b.keys) == 0 {
		return nil
	}
	hashes := make([]string, 0, len(b.keys))
	for h := range b.keys {
		hashes = append(hashes, h)
	}
	slices.Sort(hashes)
	masks, counts, lasts := make([]string, len(hashes)), make([]int64, len(hashes)), make([]string, len(hashes))
	for i, h := range hashes {
		k := b.keys[h]
		masks[i], counts[i], lasts[i] = validText(k.mask), k.requests, k.last
	}
	if _, err := tx.Exec(ctx, upsertKeysSQL, hashes, masks, counts, lasts); err != nil {
		return fmt.Errorf("rollups: upsert keys: %w", err)
	}
	return nil
}

// upsertAll upserts rows into t, in primary key order, upsertRows rows a
// statement (a round trip each), then writes back the merged histograms of
// the rows that were there already, in one more round trip.
func upsertAll(ctx context.Context, tx pgx.Tx, t rollupTable, rows map[rollupKey]*sums) error {
	keys := make([]rollupKey, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	hists := &pgx.Batch{}
	for len(keys) > 0 {
		n := min(len(keys), upsertRows)
		if err := t.upsert(ctx, tx, keys[:n], rows, hists); err != nil {
			return err
		}
		keys = keys[n:]
	}
	if hists.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, hists).Close(); err != nil {
		return fmt.Errorf("rollups: histograms: %w", err)
	}
	return nil
}

// upsert adds the rows of keys (upsertRows at most) in one statement, and
// queues in hists the histogram updates of the rows that existed.
func (t rollupTable) upsert(ctx context.Context, tx pgx.Tx, keys []rollupKey, rows map[rollupKey]*sums, hists *pgx.Batch) error {
	args := make([]any, 0, len(keys)*(len(rollupDimCols)+2+len(sumCols)+2))
	for _, k := range keys {
		args = rows[k].appendSumArgs(t.keyArgs(args, k))
	}
	res, err := tx.Query(ctx, t.upserts[len(keys)-1], args...)
	if err != nil {
		return fmt.Errorf("rollups: upsert: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var (
			k         rollupKey
			updated   bool
			dur, ttft []byte
		)
		if err := res.Scan(append(t.keyDests(&k), &updated, &dur, &ttft)...); err != nil {
			return fmt.Errorf("rollups: upsert: %w", err)
		}
		if !updated {
			continue // inserted: its histograms are the batch's
		}
		s := rows[k]
		if s == nil {
			return fmt.Errorf("rollups: upsert returned a row the batch lacks: %+v", k)
		}
		if s.dur.Empty() && s.ttft.Empty() {
			continue
		}
		if !s.dur.Empty() {
			dur = store.MergeHists(dur, s.dur.Encode())
		}
		if !s.ttft.Empty() {
			ttft = store.MergeHists(ttft, s.ttft.Encode())
		}
		hists.Queue(t.hist, append([]any{dur, ttft}, t.keyArgs(nil, k)...)...)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("rollups: upsert: %w", err)
	}
	return nil
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
func getState(ctx context.Context, q querier, name string) (string, error) {
	var v string
	err := q.QueryRow(ctx, `SELECT value FROM rollup_state WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, err
}

// raiseState sets a rollup_state value to the greater of the stored one
// and value, comparing as text (timestamps in the stored form): it never
// moves back, whichever replica writes it.
func raiseState(ctx context.Context, q querier, name, value string) error {
	_, err := q.Exec(ctx, `INSERT INTO rollup_state (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = GREATEST(rollup_state.value, excluded.value)`, name, value)
	return err
}

// raiseBound sets the rollup_state bound name (Unix seconds) to the
// greater of the stored one and sec.
func raiseBound(ctx context.Context, q querier, name string, sec int64) error {
	_, err := q.Exec(ctx, `INSERT INTO rollup_state (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = GREATEST(rollup_state.value::bigint, excluded.value::bigint)::text`,
		name, strconv.FormatInt(sec, 10))
	return err
}

// readLevels returns the grains' coverage as rollup_state records it.
func readLevels(ctx context.Context, q querier) (rollupLevels, error) {
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

// statSelect selects what the rollups are made of from requests, for
// scanStatRow: the light columns only.
const statSelect = `timestamp, key_hash, key_mask, COALESCE(model_requested, ''), COALESCE(model, ''),
	COALESCE(provider, ''), method, COALESCE(response_status, 0), outcome, COALESCE(is_stream, false),
	COALESCE(duration_ms, 0.0), COALESCE(ttfb_ms, 0.0), COALESCE(ttft_ms, 0.0),
	COALESCE(prompt_tokens, 0), COALESCE(completion_tokens, 0), COALESCE(total_tokens, 0),
	COALESCE(cached_tokens, 0), COALESCE(reasoning_tokens, 0), COALESCE(cost, 0.0)`

// scanStatRow reads a row selected with statSelect into a record holding
// only those fields.
func scanStatRow(rows interface{ Scan(...any) error }) (*capture.Record, error) {
	r := &capture.Record{}
	var durMS, ttfbMS, ttftMS float64
	var outcome, ts string
	if err := rows.Scan(&ts, &r.KeyHash, &r.KeyMask, &r.ModelRequested, &r.Model, &r.Provider,
		&r.Method, &r.Status, &outcome, &r.Stream, &durMS, &ttfbMS, &ttftMS,
		&r.PromptTokens, &r.CompletionTokens, &r.TotalTokens, &r.CachedTokens, &r.ReasoningTokens, &r.Cost); err != nil {
		return nil, err
	}
	var err error
	if r.Start, err = parseTime(ts); err != nil {
		return nil, err
	}
	r.Outcome = capture.Outcome(outcome)
	r.Duration, r.TTFB, r.TTFT = fromMS(durMS), fromMS(ttfbMS), fromMS(ttftMS)
	return r, nil
}

// setState sets a rollup_state value.
func setState(ctx context.Context, q querier, name, value string) error {
	_, err := q.Exec(ctx, `INSERT INTO rollup_state (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

// backfillBatch is how many records the backfill counts per transaction;
// a variable for tests.
var backfillBatch = 20000

// backfillRollups builds the rollups of a database whose records have
// none (migrations 0005 and 0006 empty them to be built again): it reads
// every record in (timestamp, id) order, in batches, and counts each batch
// in its own transaction together with its resume point, so that a crash
// loses nothing and the next Open continues where it stopped. The last
// transaction marks the rollups built. Each step holds the maintenance
// lock, waiting for it, so replicas starting together build them once: the
// others wait, then find them built. progress, if not nil, is told how
// many records are counted of how many.
func backfillRollups(ctx context.Context, begin func(context.Context) (pgx.Tx, error), now time.Time,
	progress func(done, total int64)) error {
	var total int64
	for {
		tx, err := begin(ctx)
		if err != nil {
			return fmt.Errorf("store: rollups: %w", err)
		}
		built, err := backfillStep(ctx, tx, now, &total, progress)
		if err == nil {
			err = tx.Commit(ctx)
		}
		tx.Rollback(ctx)
		if err != nil {
			return fmt.Errorf("store: rollups: backfill: %w", err)
		}
		if built {
			return nil
		}
	}
}

// resumePoint is where an interrupted backfill continues: after the record
// at (Timestamp, ID), with Done records counted, keeping the grains it
// began with.
type resumePoint struct {
	Timestamp  string `json:"timestamp"`
	ID         string `json:"id"`
	Done       int64  `json:"done"`
	MinuteFrom int64  `json:"minute_from"`
	HourFrom   int64  `json:"hour_from"`
}

// backfillStep counts, in tx and under the maintenance lock, the next
// batch of records after the resume point and moves it past them; when the
// batch is the last, it marks the rollups built. It reports whether they
// are built.
func backfillStep(ctx context.Context, tx pgx.Tx, now time.Time, total *int64, progress func(done, total int64)) (bool, error) {
	if _, err := lockMaintenance(ctx, tx, true); err != nil {
		return false, err
	}
	if built, err := getState(ctx, tx, stateBuilt); err != nil || built != "" {
		return true, err
	}
	if *total == 0 {
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM requests`).Scan(total); err != nil {
			return false, err
		}
	}
	// The grains kept: none older than compaction would leave.
	at := resumePoint{
		MinuteFrom: bucketOf(now.Add(-minuteKeep), grainHour),
		HourFrom:   bucketOf(now.Add(-hourKeep), grainDay),
	}
	if v, err := getState(ctx, tx, stateBackfill); err != nil {
		return false, err
	} else if v != "" {
		if err := json.Unmarshal([]byte(v), &at); err != nil {
			return false, fmt.Errorf("resume point %q: %w", v, err)
		}
	}
	lv := rollupLevels{minuteFrom: at.MinuteFrom, hourFrom: at.HourFrom}
	rows, err := tx.Query(ctx, `SELECT id, timestamp, `+statSelect+` FROM requests
		WHERE (timestamp, id) > ($1, $2) ORDER BY timestamp, id LIMIT $3`, at.Timestamp, at.ID, backfillBatch)
	if err != nil {
		return false, err
	}
	b := newRollupBatch()
	n := 0
	for rows.Next() {
		var id, ts string
		r, err := scanStatRow(prefixed{rows, []any{&id, &ts}})
		if err != nil {
			rows.Close()
			return false, err
		}
		b.add(r, lv)
		at.Timestamp, at.ID = ts, id
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if err := b.write(ctx, tx); err != nil {
		return false, err
	}
	at.Done += int64(n)
	if progress != nil {
		progress(at.Done, max(*total, at.Done))
	}
	if n == backfillBatch {
		resume, err := json.Marshal(at)
		if err != nil {
			return false, err
		}
		return false, setState(ctx, tx, stateBackfill, string(resume))
	}
	if err := setState(ctx, tx, stateBuilt, "1"); err != nil {
		return false, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM rollup_state WHERE name = $1`, stateBackfill); err != nil {
		return false, err
	}
	if err := raiseBound(ctx, tx, stateMinuteFrom, lv.minuteFrom); err != nil {
		return false, err
	}
	return true, raiseBound(ctx, tx, stateHourFrom, lv.hourFrom)
}
