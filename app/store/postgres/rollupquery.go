package postgres

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Unbounded window ends, in Unix microseconds.
const (
	minMicro = math.MinInt64
	maxMicro = math.MaxInt64
)

// part is a piece of a query's window: whole buckets of one grain read from
// the rollups (grain > 0), or records read from requests (grain 0). from
// and to are Unix microseconds, to exclusive; minMicro and maxMicro mean
// unbounded.
type part struct {
	grain    int64 // seconds
	from, to int64
	// ragged marks the records' parts of a plan: short spans of time, read
	// through the timestamp index whatever else the filter names.
	ragged bool
}

// level is one grain a plan may use: its rows are complete from from
// (Unix microseconds).
type level struct {
	grain int64 // seconds
	from  int64
}

// levelsFor returns the grains, coarsest first, that a query may read
// whole buckets of, as far as they divide step (0: any).
func levelsFor(lv rollupLevels, step int64) []level {
	micro := func(sec int64) int64 {
		if sec == math.MinInt64 {
			return minMicro
		}
		return sec * 1e6
	}
	var out []level
	for _, l := range []level{{grainDay, minMicro}, {grainHour, micro(lv.hourFrom)}, {grainMinute, micro(lv.minuteFrom)}} {
		if step == 0 || step%l.grain == 0 {
			out = append(out, l)
		}
	}
	return out
}

// plan splits [a, b) into the coarsest whole buckets the levels hold, and
// the ragged rest, which no level holds whole, into parts read from the
// records. A query answered this way is exact at any edge for as long as
// the records of its ragged parts are stored.
func plan(a, b int64, lv []level, out []part) []part {
	if a >= b {
		return out
	}
	if len(lv) == 0 {
		return append(out, part{from: a, to: b, ragged: true})
	}
	g := lv[0].grain * 1e6
	lo, hi := a, b
	if a != minMicro {
		lo = -floorDiv(-a, g) * g // rounded up
	}
	if b != maxMicro {
		hi = floorDiv(b, g) * g
	}
	lo = max(lo, lv[0].from)
	if lo >= hi {
		return plan(a, b, lv[1:], out)
	}
	out = append(out, part{grain: lv[0].grain, from: lo, to: hi})
	out = plan(a, lo, lv[1:], out)
	return plan(hi, b, lv[1:], out)
}

// window returns f's From and To in Unix microseconds, as stored
// timestamps compare with them.
func window(f store.Filter) (int64, int64) {
	a, b := int64(minMicro), int64(maxMicro)
	if !f.From.IsZero() {
		a = f.From.Truncate(time.Microsecond).UnixMicro()
	}
	if !f.To.IsZero() {
		b = f.To.Truncate(time.Microsecond).UnixMicro()
	}
	return a, b
}

// fromMicro is the inverse of window for one bound: zero when unbounded.
func fromMicro(us int64) time.Time {
	if us == minMicro || us == maxMicro {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// usesRollups reports whether f can be answered from the rollups: a text
// search or a list of ids selects records the rollups cannot tell apart.
func usesRollups(f store.Filter) bool { return f.Search == "" && f.IDs == nil }

// grouping says which group a rollup row or a record falls in.
type grouping struct {
	sql string // over rollups' columns; "''" for one group
	// groupBy, when set, is what SQL groups by instead of sql: the same
	// groups as columns, cheaper to sort than the text sql makes of them.
	groupBy string
	rec     func(r *capture.Record) string // the same for a record
	// byKeyOnly is set when the groups depend on the key alone, so that
	// the keys' total rows can answer them.
	byKeyOnly bool
	// byKey is set when the groups are keys, which rollup_dims lacks.
	byKey bool
}

// oneGroup puts everything in the group "".
var oneGroup = grouping{sql: "''", rec: func(*capture.Record) string { return "" }, byKeyOnly: true}

// tableFor returns the rollup table answering f grouped by g:
//   - the keys' totals when f filters by nothing but the key and the
//     outcome, which they keep apart: a few rows per bucket;
//   - for an admin who names no key, the rollups summed over the keys, as
//     many rows per bucket as combinations of the other dimensions;
//   - else the rollups of every dimension, which a user's queries read
//     through their key's index.
//
// Visibility needs the key, so only an admin's query may read rollup_dims.
func tableFor(f store.Filter, g grouping) string {
	if g.byKeyOnly && f.Model == "" && f.Provider == "" && f.Method == "" &&
		(f.Status == "" || f.Status == store.StatusSuccess || f.Status == store.StatusError) {
		return "rollup_totals"
	}
	if f.Viewer.Admin && f.KeyHash == "" && !g.byKey {
		return "rollup_dims"
	}
	return "rollups"
}

// sumsSelect sums a rollup table's rows by group, for scanSums.
// SUM of a bigint is numeric in PostgreSQL: cast back.
const sumsSelect = `SUM(requests)::bigint, SUM(CASE WHEN ok THEN requests ELSE 0 END)::bigint,
	SUM(duration_ms), SUM(ttfb_ms), SUM(ttfb_count)::bigint, SUM(ttft_ms), SUM(ttft_count)::bigint, SUM(gen_ms),
	SUM(gen_tokens)::bigint, SUM(prompt_tokens)::bigint, SUM(completion_tokens)::bigint, SUM(total_tokens)::bigint,
	SUM(cached_tokens)::bigint, SUM(reasoning_tokens)::bigint, SUM(cost)`

// aggregate sums the records of f that the parts select, by group: whole
// buckets from the rollups, ragged parts from the records. With hists
// unset it leaves the histograms empty, which is cheaper.
//
// Each part of whole buckets is one range of the table's primary key (or
// of a key's index), read by a query of its own: SQLite would answer one
// query with the parts ORed together by collecting and deduplicating the
// rows of every range, which costs more than the sums themselves.
func aggregate(ctx context.Context, tx querier, f store.Filter, parts []part, g grouping, hists bool) (map[string]*sums, error) {
	out := map[string]*sums{}
	get := func(k string) *sums {
		s := out[k]
		if s == nil {
			s = newSums()
			out[k] = s
		}
		return s
	}
	dims, dimArgs, err := dimsWhere(f, rollupsCols)
	if err != nil {
		return nil, err
	}
	table := tableFor(f, g)
	for _, p := range parts {
		if p.grain == 0 {
			if err := aggregateRecords(ctx, tx, f, p, g, get); err != nil {
				return nil, err
			}
			continue
		}
		cond, args := []string{"grain = ?"}, []any{p.grain}
		if p.from != minMicro {
			cond, args = append(cond, "bucket >= ?"), append(args, p.from/1e6)
		}
		if p.to != maxMicro {
			cond, args = append(cond, "bucket < ?"), append(args, p.to/1e6)
		}
		where := strings.Join(append(cond, dims...), " AND ")
		args = append(args, dimArgs...)
		if err := aggregateRollups(ctx, tx, table, where, args, g, hists, get); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// aggregateRollups adds the rows of table matching where, by group, and
// their histograms when hists is set.
func aggregateRollups(ctx context.Context, tx querier, table, where string, args []any, g grouping, hists bool, get func(string) *sums) error {
	rows, err := query(ctx, tx, `SELECT `+g.sql+` AS g, `+sumsSelect+` FROM `+table+` WHERE `+where+
		` GROUP BY `+cmp.Or(g.groupBy, "g"), args...)
	if err != nil {
		return fmt.Errorf("rollups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var s sums
		if err := rows.Scan(&k, &s.requests, &s.okCount, &s.durationMs, &s.ttfbMs, &s.ttfbCount, &s.ttftMs, &s.ttftCount,
			&s.genMs, &s.genTokens, &s.prompt, &s.completion, &s.total, &s.cached, &s.reasoning, &s.cost); err != nil {
			return fmt.Errorf("rollups: %w", err)
		}
		get(k).merge(&s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rollups: %w", err)
	}
	rows.Close()
	if !hists {
		return nil
	}
	rows, err = query(ctx, tx, `SELECT `+g.sql+`, duration_hist, ttft_hist FROM `+table+` WHERE `+where, args...)
	if err != nil {
		return fmt.Errorf("rollups: histograms: %w", err)
	}
	defer rows.Close()
	var k string
	var dur, ttft []byte
	for rows.Next() {
		if err := rows.Scan(&k, &dur, &ttft); err != nil {
			return fmt.Errorf("rollups: histograms: %w", err)
		}
		s := get(k)
		s.dur.MergeEncoded(dur)
		s.ttft.MergeEncoded(ttft)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rollups: histograms: %w", err)
	}
	return nil
}

// aggregateRecords sums the records of f within one ragged part, read from
// requests through the timestamp index.
func aggregateRecords(ctx context.Context, tx querier, f store.Filter, p part, g grouping, get func(string) *sums) error {
	pf := f
	pf.From, pf.To, pf.Limit, pf.Offset = fromMicro(p.from), fromMicro(p.to), 0, 0
	cond, args, err := filterWhere(pf)
	if err != nil {
		return err
	}
	rows, err := query(ctx, tx, `SELECT `+statSelect+` FROM requests WHERE `+cond, args...)
	if err != nil {
		return fmt.Errorf("records: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanStatRow(rows)
		if err != nil {
			return fmt.Errorf("records: %w", err)
		}
		get(g.rec(r)).add(r)
	}
	return rows.Err()
}

// planFor returns the parts that answer f over [a, b): rollups and ragged
// records when f allows it, else the records alone.
func planFor(ctx context.Context, tx querier, f store.Filter, a, b int64, step int64) ([]part, error) {
	if !usesRollups(f) {
		if a >= b {
			return nil, nil
		}
		return []part{{from: a, to: b}}, nil
	}
	lv, err := readLevels(ctx, tx)
	if err != nil {
		return nil, err
	}
	return plan(a, b, levelsFor(lv, step), nil), nil
}

// summary returns s as a Summary.
func (s *sums) summary() store.Summary {
	out := store.Summary{
		Requests: s.requests, Errors: s.requests - s.okCount,
		PromptTokens: s.prompt, CompletionTokens: s.completion, TotalTokens: s.total,
		CachedTokens: s.cached, ReasoningTokens: s.reasoning, Cost: s.cost,
	}
	if s.requests > 0 {
		out.ErrorRate = 100 * float64(out.Errors) / float64(s.requests)
		out.AvgDurationMs = s.durationMs / float64(s.requests)
	}
	if s.ttftCount > 0 {
		out.AvgTTFTMs = s.ttftMs / float64(s.ttftCount)
	}
	if s.genMs > 0 {
		out.TokensPerSecond = float64(s.genTokens) / (s.genMs / 1000)
	}
	if !s.dur.Empty() {
		q := s.dur.Quantiles(0.50, 0.95, 0.99)
		out.P50DurationMs, out.P95DurationMs, out.P99DurationMs = q[0], q[1], q[2]
	}
	if !s.ttft.Empty() {
		q := s.ttft.Quantiles(0.50, 0.95)
		out.P50TTFTMs, out.P95TTFTMs = q[0], q[1]
	}
	return out
}

// findStats computes Stats: from the rollups, with the ragged edges of the
// window from the records, unless f searches text or names ids; from the
// records then. RecentRequests is a second, count-only pass over the last
// hour.
func findStats(ctx context.Context, tx querier, f store.Filter, now time.Time) (store.Stats, error) {
	if _, _, err := filterWhere(f); err != nil {
		return store.Stats{}, err
	}
	a, b := window(f)
	parts, err := planFor(ctx, tx, f, a, b, 0)
	if err != nil {
		return store.Stats{}, err
	}
	groups, err := aggregate(ctx, tx, f, parts, oneGroup, true)
	if err != nil {
		return store.Stats{}, err
	}
	sum := newSums()
	if g := groups[""]; g != nil {
		sum = g
	}
	// Recent: started in [now-1h, now], both ends included.
	recentA := max(a, now.Add(-time.Hour).Truncate(time.Microsecond).UnixMicro())
	recentB := min(b, now.Truncate(time.Microsecond).UnixMicro()+1)
	var recent int64
	if recentA < recentB {
		parts, err := planFor(ctx, tx, f, recentA, recentB, 0)
		if err != nil {
			return store.Stats{}, err
		}
		rg, err := aggregate(ctx, tx, f, parts, oneGroup, false)
		if err != nil {
			return store.Stats{}, err
		}
		if g := rg[""]; g != nil {
			recent = g.requests
		}
	}
	return statsOf(sum.summary(), recent), nil
}

// statsOf returns the Stats of a Summary.
func statsOf(s store.Summary, recent int64) store.Stats {
	st := store.Stats{
		TotalRequests: s.Requests, SuccessCount: s.Requests - s.Errors, ErrorCount: s.Errors,
		ErrorRate:     s.ErrorRate,
		AvgDurationMs: s.AvgDurationMs, P50DurationMs: s.P50DurationMs, P95DurationMs: s.P95DurationMs, P99DurationMs: s.P99DurationMs,
		AvgTTFTMs: s.AvgTTFTMs, P50TTFTMs: s.P50TTFTMs, P95TTFTMs: s.P95TTFTMs,
		TokensPerSecond: s.TokensPerSecond,
		RecentRequests:  recent,
		PromptTokens:    s.PromptTokens, CompletionTokens: s.CompletionTokens, TotalTokens: s.TotalTokens,
		CachedTokens: s.CachedTokens, ReasoningTokens: s.ReasoningTokens,
		TotalCost: s.Cost,
	}
	if s.Requests > 0 {
		st.SuccessRate = 100 - s.ErrorRate
	}
	return st
}

// groupings are the Breakdown dimensions' groups.
var groupings = map[store.Dimension]grouping{
	store.ByModel: {sql: "CASE WHEN model <> '' THEN model ELSE model_requested END",
		rec: func(r *capture.Record) string { return cmp.Or(r.Model, r.ModelRequested) }},
	store.ByProvider: {sql: "provider", rec: func(r *capture.Record) string { return r.Provider }},
	store.ByStatus:   {sql: "CAST(status AS TEXT)", rec: func(r *capture.Record) string { return strconv.Itoa(r.Status) }},
	store.ByStatusClass: {sql: "CASE WHEN status BETWEEN 100 AND 599 THEN (status / 100) || 'xx' ELSE 'none' END",
		rec: func(r *capture.Record) string {
			if r.Status >= 100 && r.Status <= 599 {
				return strconv.Itoa(r.Status/100) + "xx"
			}
			return "none"
		}},
	store.ByKey: {sql: "key_hash", rec: func(r *capture.Record) string { return r.KeyHash }, byKeyOnly: true, byKey: true},
}

// Breakdown summarises the records matching f (Limit and Offset ignored)
// by the dimension by, busiest group first. It reads the rollups as Stats
// does, and follows the same visibility rule.
func (s *Postgres) Breakdown(ctx context.Context, f store.Filter, by store.Dimension) (_ []store.BreakdownRow, err error) {
	defer func() { err = unavailable(err) }()
	g, ok := groupings[by]
	if !ok {
		return nil, fmt.Errorf("store: breakdown: %w: unknown dimension %q", store.ErrInvalid, by)
	}
	if _, _, err := filterWhere(f); err != nil {
		return nil, fmt.Errorf("store: breakdown: %w", err)
	}
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: breakdown: %w", err)
	}
	defer tx.Rollback(ctx)
	a, b := window(f)
	parts, err := planFor(ctx, tx, f, a, b, 0)
	if err != nil {
		return nil, fmt.Errorf("store: breakdown: %w", err)
	}
	groups, err := aggregate(ctx, tx, f, parts, g, true)
	if err != nil {
		return nil, fmt.Errorf("store: breakdown: %w", err)
	}
	out := make([]store.BreakdownRow, 0, len(groups))
	for k, sum := range groups {
		out = append(out, store.BreakdownRow{Value: k, Label: k, Summary: sum.summary()})
	}
	slices.SortFunc(out, func(x, y store.BreakdownRow) int {
		return cmp.Or(cmp.Compare(y.Requests, x.Requests), strings.Compare(x.Value, y.Value))
	})
	if by == store.ByKey && len(out) > 0 {
		if err := labelKeys(ctx, tx, out); err != nil {
			return nil, fmt.Errorf("store: breakdown: %w", err)
		}
	}
	return out, nil
}

// labelKeys sets the Label of key rows to the keys' masks.
func labelKeys(ctx context.Context, tx querier, rows []store.BreakdownRow) error {
	hashes := make([]string, len(rows))
	for i, r := range rows {
		hashes[i] = r.Value
	}
	masks := map[string]string{}
	res, err := query(ctx, tx, `SELECT key_hash, key_mask FROM api_keys WHERE key_hash = ANY(?)`, hashes)
	if err != nil {
		return err
	}
	defer res.Close()
	for res.Next() {
		var h, m string
		if err := res.Scan(&h, &m); err != nil {
			return err
		}
		masks[h] = m
	}
	if err := res.Err(); err != nil {
		return err
	}
	for i := range rows {
		rows[i].Label = masks[rows[i].Value]
		if rows[i].Value == "" {
			rows[i].Label = "(no key)"
		}
	}
	return nil
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
func (s *Postgres) Series(ctx context.Context, f store.Filter, step time.Duration) (_ []store.Point, err error) {
	defer func() { err = unavailable(err) }()
	if step < time.Minute || step%time.Minute != 0 {
		return nil, fmt.Errorf("store: series: %w: step %v is not a whole number of minutes", store.ErrInvalid, step)
	}
	if _, _, err := filterWhere(f); err != nil {
		return nil, fmt.Errorf("store: series: %w", err)
	}
	stepSec := int64(step / time.Second)
	stepUS := stepSec * 1e6
	a, b := window(f)
	if a != minMicro {
		a = floorDiv(a, stepUS) * stepUS
	}
	if b != maxMicro {
		b = -floorDiv(-b, stepUS) * stepUS
	}
	if a != minMicro && b != maxMicro && (b-a)/stepUS > store.MaxSeriesPoints {
		return nil, fmt.Errorf("store: series: %w: more than %d steps", store.ErrInvalid, store.MaxSeriesPoints)
	}
	tx, err := s.readTx(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: series: %w", err)
	}
	defer tx.Rollback(ctx)
	parts, err := planFor(ctx, tx, f, a, b, stepSec)
	if err != nil {
		return nil, fmt.Errorf("store: series: %w", err)
	}
	model := groupings[store.ByModel]
	g := grouping{
		sql:     "(bucket - bucket % " + strconv.FormatInt(stepSec, 10) + ") || '|' || " + model.sql,
		groupBy: "bucket - bucket % " + strconv.FormatInt(stepSec, 10) + ", " + model.sql,
		rec: func(r *capture.Record) string {
			return strconv.FormatInt(floorDiv(r.Start.Unix(), stepSec)*stepSec, 10) + "|" + model.rec(r)
		},
	}
	// The sums by step and model, then the latency histograms by step
	// alone, which the keys' totals answer when f allows.
	groups, err := aggregate(ctx, tx, f, parts, g, false)
	if err != nil {
		return nil, fmt.Errorf("store: series: %w", err)
	}
	stepOnly := grouping{
		sql: "(bucket - bucket % " + strconv.FormatInt(stepSec, 10) + ")",
		rec: func(r *capture.Record) string {
			return strconv.FormatInt(floorDiv(r.Start.Unix(), stepSec)*stepSec, 10)
		},
		byKeyOnly: true,
	}
	byStep, err := aggregate(ctx, tx, f, parts, stepOnly, true)
	if err != nil {
		return nil, fmt.Errorf("store: series: %w", err)
	}
	steps := map[int64]*sums{}
	for k, sum := range byStep {
		t, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("store: series: step %q: %w", k, err)
		}
		steps[t] = sum
	}
	usage := map[int64][]store.ModelUsage{}
	for k, sum := range groups {
		// The step is digits: the first '|' ends it, whatever the model.
		at, name, _ := strings.Cut(k, "|")
		t, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("store: series: step %q: %w", at, err)
		}
		usage[t] = append(usage[t], store.ModelUsage{Model: name, Requests: sum.requests, Cost: sum.cost,
			PromptTokens: sum.prompt, CompletionTokens: sum.completion})
	}
	if len(steps) == 0 && (a == minMicro || b == maxMicro) {
		return []store.Point{}, nil
	}
	first, last := a/1e6, b/1e6-stepSec
	if a == minMicro || b == maxMicro {
		lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
		for t := range steps {
			lo, hi = min(lo, t), max(hi, t)
		}
		if a == minMicro {
			first = lo
		}
		if b == maxMicro {
			last = hi
		}
		if (last-first)/stepSec >= store.MaxSeriesPoints {
			return nil, fmt.Errorf("store: series: %w: more than %d steps", store.ErrInvalid, store.MaxSeriesPoints)
		}
	}
	out := make([]store.Point, 0, max(0, (last-first)/stepSec+1))
	for t := first; t <= last; t += stepSec {
		p := store.Point{Start: time.Unix(t, 0).UTC(), Models: []store.ModelUsage{}}
		if st := steps[t]; st != nil {
			sum := st.summary()
			p.Requests, p.Errors, p.Cost = sum.Requests, sum.Errors, sum.Cost
			p.P50DurationMs, p.P95DurationMs = sum.P50DurationMs, sum.P95DurationMs
			p.PromptTokens, p.CompletionTokens = sum.PromptTokens, sum.CompletionTokens
			p.Models = usage[t]
			slices.SortFunc(p.Models, func(x, y store.ModelUsage) int {
				return cmp.Or(cmp.Compare(y.Cost, x.Cost), cmp.Compare(y.Requests, x.Requests), strings.Compare(x.Model, y.Model))
			})
		}
		out = append(out, p)
	}
	return out, nil
}

// Coverage returns the period the rollups cover and their grains, for the
// dashboard to say how far back, and how finely, it can answer.
func (s *Postgres) Coverage(ctx context.Context) (_ store.Coverage, err error) {
	defer func() { err = unavailable(err) }()
	tx, err := s.readTx(ctx)
	if err != nil {
		return store.Coverage{}, fmt.Errorf("store: coverage: %w", err)
	}
	defer tx.Rollback(ctx)
	var c store.Coverage
	var oldest *int64
	if err := queryRow(ctx, tx, `SELECT MIN(bucket) FROM rollups WHERE grain = ?`, grainDay).Scan(&oldest); err != nil {
		return c, fmt.Errorf("store: coverage: %w", err)
	}
	if oldest != nil {
		c.From = time.Unix(*oldest, 0).UTC()
	}
	lv, err := readLevels(ctx, tx)
	if err != nil {
		return c, fmt.Errorf("store: coverage: %w", err)
	}
	if lv.minuteFrom != math.MinInt64 {
		c.MinuteFrom = time.Unix(lv.minuteFrom, 0).UTC()
	}
	if lv.hourFrom != math.MinInt64 {
		c.HourFrom = time.Unix(lv.hourFrom, 0).UTC()
	}
	return c, nil
}
