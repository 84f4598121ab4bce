package rollup

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
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rows"
)

// Dialect is what differs between the stores in the queries a Reader
// runs. Every query is written with ? placeholders (see rows.Querier).
type Dialect struct {
	// SumsSelect sums a rollup table's rows by group: the requests, the
	// requests of ok rows, then SumCols but requests, each as the field
	// of Sums it is scanned into.
	SumsSelect string
	// StepSep joins a step and a model in the text of a Series group, in
	// Go; StepSepSQL is the same in SQL. The step is digits, so the first
	// StepSep ends it.
	StepSep, StepSepSQL string
	// Filters are the conditions of a Filter.
	rows.Filters
	// RollupsFrom, when set, returns the table expression that reads the
	// rollup table for f: the table with the store's index hints.
	RollupsFrom func(table string, f store.Filter) string
	// RecordsFrom, when set, returns the table expression that reads
	// requests for the records of p.
	RecordsFrom func(p Part) string
	// LimitOffset returns a LIMIT and OFFSET clause, or "" for neither.
	LimitOffset func(limit, offset int) string
	// Bytewise is the COLLATE clause that makes a text expression sort
	// by its bytes, as SQLite's do; "" where they do already.
	Bytewise string
}

// Snapshot is a read transaction: it sees one state of the database for
// all its queries.
type Snapshot interface {
	rows.Querier
	// Close ends the transaction.
	Close()
}

// Reader answers the stores' queries of records and statistics, each in
// one snapshot of the database.
type Reader struct {
	Dialect
	// Begin starts a read transaction.
	Begin func(ctx context.Context) (Snapshot, error)
}

// Stats summarises the records matching f, ignoring its Limit and Offset;
// see store.Store. Without a Search or IDs, it reads the rollups, which
// count the records retention deleted too, for whole buckets and the
// stored records for the ragged edges of the window; its percentiles then
// come from histograms. RecentRequests is a second, count-only pass over
// the last hour.
func (d *Reader) Stats(ctx context.Context, f store.Filter, now time.Time) (store.Stats, error) {
	tx, err := d.Begin(ctx)
	if err != nil {
		return store.Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	defer tx.Close()
	st, err := d.stats(ctx, tx, f, now)
	if err != nil {
		return store.Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}

// stats computes Stats in tx.
func (d *Reader) stats(ctx context.Context, tx rows.Querier, f store.Filter, now time.Time) (store.Stats, error) {
	if _, _, err := d.Where(f); err != nil {
		return store.Stats{}, err
	}
	a, b := Window(f)
	sum, err := d.total(ctx, tx, f, a, b, true)
	if err != nil {
		return store.Stats{}, err
	}
	// Recent: started in [now-1h, now], both ends included.
	recentA := max(a, now.Add(-time.Hour).Truncate(time.Microsecond).UnixMicro())
	recentB := min(b, now.Truncate(time.Microsecond).UnixMicro()+1)
	var recent int64
	if recentA < recentB {
		rs, err := d.total(ctx, tx, f, recentA, recentB, false)
		if err != nil {
			return store.Stats{}, err
		}
		recent = rs.Requests
	}
	return StatsOf(sum.Summary(), recent), nil
}

// total sums the records of f over [a, b) in one group, as aggregate
// does.
func (d *Reader) total(ctx context.Context, tx rows.Querier, f store.Filter, a, b int64, hists bool) (*Sums, error) {
	parts, err := d.planFor(ctx, tx, f, a, b, 0)
	if err != nil {
		return nil, err
	}
	groups, err := d.aggregate(ctx, tx, f, parts, OneGroup, hists)
	if err != nil {
		return nil, err
	}
	if g := groups[""]; g != nil {
		return g, nil
	}
	return &Sums{}, nil
}

// planFor returns the parts that answer f over [a, b): rollups and ragged
// records when f allows it, else the records alone.
func (d *Reader) planFor(ctx context.Context, tx rows.Querier, f store.Filter, a, b int64, step int64) ([]Part, error) {
	if !UsesRollups(f) {
		if a >= b {
			return nil, nil
		}
		return []Part{{From: a, To: b}}, nil
	}
	lv, err := ReadLevels(ctx, tx)
	if err != nil {
		return nil, err
	}
	return Plan(a, b, LevelsFor(lv, step), nil), nil
}

// aggregate sums the records of f that the parts select, by group: whole
// buckets from the rollups, ragged parts from the records. With hists
// unset it leaves the histograms empty, which is cheaper.
//
// Each part of whole buckets is one range of the table's primary key (or
// of a key's index), read by a query of its own: SQLite would answer one
// query with the parts ORed together by collecting and deduplicating the
// rows of every range, which costs more than the sums themselves.
func (d *Reader) aggregate(ctx context.Context, tx rows.Querier, f store.Filter, parts []Part, g Grouping, hists bool) (map[string]*Sums, error) {
	out := map[string]*Sums{}
	get := func(k string) *Sums {
		s := out[k]
		if s == nil {
			s = &Sums{}
			out[k] = s
		}
		return s
	}
	dims, dimArgs, err := d.Dims(f, d.Rollups)
	if err != nil {
		return nil, err
	}
	table := TableFor(f, g)
	if d.RollupsFrom != nil {
		table = d.RollupsFrom(table, f)
	}
	for _, p := range parts {
		if p.Grain == 0 {
			if err := d.aggregateRecords(ctx, tx, f, p, g, get); err != nil {
				return nil, err
			}
			continue
		}
		cond, args := []string{"grain = ?"}, []any{p.Grain}
		if p.From != MinMicro {
			cond, args = append(cond, "bucket >= ?"), append(args, p.From/1e6)
		}
		if p.To != MaxMicro {
			cond, args = append(cond, "bucket < ?"), append(args, p.To/1e6)
		}
		where := strings.Join(append(cond, dims...), " AND ")
		args = append(args, dimArgs...)
		if err := d.aggregateRollups(ctx, tx, table, where, args, g, hists, get); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// aggregateRollups adds the rows of table matching where, by group, and
// their histograms when hists is set.
func (d *Reader) aggregateRollups(ctx context.Context, tx rows.Querier, table, where string, args []any, g Grouping, hists bool,
	get func(string) *Sums) error {
	res, err := tx.Query(ctx, `SELECT `+g.SQL+` AS g, `+d.SumsSelect+` FROM `+table+` WHERE `+where+
		` GROUP BY `+cmp.Or(g.GroupBy, "g"), args...)
	if err != nil {
		return fmt.Errorf("rollups: %w", err)
	}
	defer res.Close()
	for res.Next() {
		var k string
		var s Sums
		if err := res.Scan(append([]any{&k}, s.sumsDests()...)...); err != nil {
			return fmt.Errorf("rollups: %w", err)
		}
		get(k).Merge(&s)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("rollups: %w", err)
	}
	res.Close()
	if !hists {
		return nil
	}
	res, err = tx.Query(ctx, `SELECT `+g.SQL+`, duration_hist, ttft_hist FROM `+table+` WHERE `+where, args...)
	if err != nil {
		return fmt.Errorf("rollups: histograms: %w", err)
	}
	defer res.Close()
	var k string
	var dur, ttft []byte
	for res.Next() {
		if err := res.Scan(&k, &dur, &ttft); err != nil {
			return fmt.Errorf("rollups: histograms: %w", err)
		}
		s := get(k)
		s.Dur.MergeEncoded(dur)
		s.TTFT.MergeEncoded(ttft)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("rollups: histograms: %w", err)
	}
	return nil
}

// aggregateRecords sums the records of f within one ragged part, read from
// requests.
func (d *Reader) aggregateRecords(ctx context.Context, tx rows.Querier, f store.Filter, p Part, g Grouping, get func(string) *Sums) error {
	pf := f
	pf.From, pf.To, pf.Limit, pf.Offset = FromMicro(p.From), FromMicro(p.To), 0, 0
	cond, args, err := d.Where(pf)
	if err != nil {
		return err
	}
	from := "requests"
	if d.RecordsFrom != nil {
		from = d.RecordsFrom(p)
	}
	res, err := tx.Query(ctx, `SELECT `+rows.StatSelect+` FROM `+from+` WHERE `+cond, args...)
	if err != nil {
		return fmt.Errorf("records: %w", err)
	}
	defer res.Close()
	for res.Next() {
		_, r, err := rows.ScanStat(res)
		if err != nil {
			return fmt.Errorf("records: %w", err)
		}
		get(g.Rec(r)).Add(r)
	}
	return res.Err()
}

// Breakdown summarises the records matching f (Limit and Offset ignored)
// by the dimension by, busiest group first. It reads the rollups as Stats
// does, and follows the same visibility rule.
func (d *Reader) Breakdown(ctx context.Context, f store.Filter, by store.Dimension) ([]store.BreakdownRow, error) {
	g, ok := Groupings[by]
	if !ok {
		return nil, fmt.Errorf("store: breakdown: %w: unknown dimension %q", store.ErrInvalid, by)
	}
	if _, _, err := d.Where(f); err != nil {
		return nil, fmt.Errorf("store: breakdown: %w", err)
	}
	tx, err := d.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: breakdown: %w", err)
	}
	defer tx.Close()
	a, b := Window(f)
	parts, err := d.planFor(ctx, tx, f, a, b, 0)
	if err != nil {
		return nil, fmt.Errorf("store: breakdown: %w", err)
	}
	groups, err := d.aggregate(ctx, tx, f, parts, g, true)
	if err != nil {
		return nil, fmt.Errorf("store: breakdown: %w", err)
	}
	out := make([]store.BreakdownRow, 0, len(groups))
	for k, sum := range groups {
		out = append(out, store.BreakdownRow{Value: k, Label: k, Summary: sum.Summary()})
	}
	slices.SortFunc(out, func(x, y store.BreakdownRow) int {
		return cmp.Or(cmp.Compare(y.Requests, x.Requests), strings.Compare(x.Value, y.Value))
	})
	if by == store.ByKey && len(out) > 0 {
		if err := d.labelKeys(ctx, tx, out); err != nil {
			return nil, fmt.Errorf("store: breakdown: %w", err)
		}
	}
	return out, nil
}

// labelKeys sets the Label of key rows to the keys' masks.
func (d *Reader) labelKeys(ctx context.Context, tx rows.Querier, out []store.BreakdownRow) error {
	hashes := make([]string, len(out))
	for i, r := range out {
		hashes[i] = r.Value
	}
	cond, arg := d.AnyOf("key_hash", hashes)
	masks := map[string]string{}
	res, err := tx.Query(ctx, `SELECT key_hash, key_mask FROM api_keys WHERE `+cond, arg)
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
	for i := range out {
		out[i].Label = masks[out[i].Value]
		if out[i].Value == "" {
			out[i].Label = "(no key)"
		}
	}
	return nil
}

// Series returns the records matching f (Limit and Offset ignored) step by
// step, for charts; see store.Store. The rollups answer it at the coarsest
// grain that divides step: a step of days reads day rows, of hours hour
// rows, else minute rows; where those were compacted away the steps are
// read from the records still stored.
func (d *Reader) Series(ctx context.Context, f store.Filter, step time.Duration) ([]store.Point, error) {
	if step < time.Minute || step%time.Minute != 0 {
		return nil, fmt.Errorf("store: series: %w: step %v is not a whole number of minutes", store.ErrInvalid, step)
	}
	if _, _, err := d.Where(f); err != nil {
		return nil, fmt.Errorf("store: series: %w", err)
	}
	stepSec := int64(step / time.Second)
	stepUS := stepSec * 1e6
	a, b := Window(f)
	if a != MinMicro {
		a = FloorDiv(a, stepUS) * stepUS
	}
	if b != MaxMicro {
		b = -FloorDiv(-b, stepUS) * stepUS
	}
	if a != MinMicro && b != MaxMicro && (b-a)/stepUS > store.MaxSeriesPoints {
		return nil, fmt.Errorf("store: series: %w: more than %d steps", store.ErrInvalid, store.MaxSeriesPoints)
	}
	tx, err := d.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: series: %w", err)
	}
	defer tx.Close()
	out, err := d.series(ctx, tx, f, a, b, stepSec)
	if err != nil {
		return nil, fmt.Errorf("store: series: %w", err)
	}
	return out, nil
}

// series reads Series' steps of stepSec seconds over [a, b) in tx.
func (d *Reader) series(ctx context.Context, tx rows.Querier, f store.Filter, a, b, stepSec int64) ([]store.Point, error) {
	parts, err := d.planFor(ctx, tx, f, a, b, stepSec)
	if err != nil {
		return nil, err
	}
	stepOf := func(r *capture.Record) string {
		return strconv.FormatInt(FloorDiv(r.Start.Unix(), stepSec)*stepSec, 10)
	}
	bucketStep := "bucket - bucket % " + strconv.FormatInt(stepSec, 10)
	model := Groupings[store.ByModel]
	g := Grouping{
		SQL:     "(" + bucketStep + ") || " + d.StepSepSQL + " || " + model.SQL,
		GroupBy: bucketStep + ", " + model.SQL,
		Rec:     func(r *capture.Record) string { return stepOf(r) + d.StepSep + model.Rec(r) },
	}
	// The sums by step and model, then the latency histograms by step
	// alone, which the keys' totals answer when f allows.
	groups, err := d.aggregate(ctx, tx, f, parts, g, false)
	if err != nil {
		return nil, err
	}
	byStep, err := d.aggregate(ctx, tx, f, parts, Grouping{SQL: "(" + bucketStep + ")", Rec: stepOf, ByKeyOnly: true}, true)
	if err != nil {
		return nil, err
	}
	steps := map[int64]*Sums{}
	for k, sum := range byStep {
		t, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("step %q: %w", k, err)
		}
		steps[t] = sum
	}
	usage := map[int64][]store.ModelUsage{}
	for k, sum := range groups {
		at, name, _ := strings.Cut(k, d.StepSep)
		t, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("step %q: %w", at, err)
		}
		usage[t] = append(usage[t], store.ModelUsage{Model: name, Requests: sum.Requests, Cost: sum.Cost,
			PromptTokens: sum.Prompt, CompletionTokens: sum.Completion})
	}
	if len(steps) == 0 && (a == MinMicro || b == MaxMicro) {
		return []store.Point{}, nil
	}
	first, last := a/1e6, b/1e6-stepSec
	if a == MinMicro || b == MaxMicro {
		lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
		for t := range steps {
			lo, hi = min(lo, t), max(hi, t)
		}
		if a == MinMicro {
			first = lo
		}
		if b == MaxMicro {
			last = hi
		}
		if (last-first)/stepSec >= store.MaxSeriesPoints {
			return nil, fmt.Errorf("%w: more than %d steps", store.ErrInvalid, store.MaxSeriesPoints)
		}
	}
	out := make([]store.Point, 0, max(0, (last-first)/stepSec+1))
	for t := first; t <= last; t += stepSec {
		p := store.Point{Start: time.Unix(t, 0).UTC(), Models: []store.ModelUsage{}}
		if st := steps[t]; st != nil {
			sum := st.Summary()
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
func (d *Reader) Coverage(ctx context.Context) (store.Coverage, error) {
	tx, err := d.Begin(ctx)
	if err != nil {
		return store.Coverage{}, fmt.Errorf("store: coverage: %w", err)
	}
	defer tx.Close()
	var c store.Coverage
	oldest, err := queryInt(ctx, tx, `SELECT MIN(bucket) FROM rollups WHERE grain = ?`, int64(Day))
	if err != nil {
		return c, fmt.Errorf("store: coverage: %w", err)
	}
	if oldest != nil {
		c.From = time.Unix(*oldest, 0).UTC()
	}
	lv, err := ReadLevels(ctx, tx)
	if err != nil {
		return c, fmt.Errorf("store: coverage: %w", err)
	}
	if lv.MinuteFrom != math.MinInt64 {
		c.MinuteFrom = time.Unix(lv.MinuteFrom, 0).UTC()
	}
	if lv.HourFrom != math.MinInt64 {
		c.HourFrom = time.Unix(lv.HourFrom, 0).UTC()
	}
	return c, nil
}

// queryInt runs a query of one integer, which may be NULL (nil).
func queryInt(ctx context.Context, q rows.Querier, query string, args ...any) (*int64, error) {
	res, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var n *int64
	if res.Next() {
		if err := res.Scan(&n); err != nil {
			return nil, err
		}
	}
	return n, res.Err()
}

// count runs a query of one integer, a count: 0 when NULL.
func count(ctx context.Context, q rows.Querier, query string, args ...any) (int64, error) {
	n, err := queryInt(ctx, q, query, args...)
	if n == nil || err != nil {
		return 0, err
	}
	return *n, nil
}

// List returns the records matching f, newest first, without bodies and
// headers, and the number of records matching f in all.
func (d *Reader) List(ctx context.Context, f store.Filter) ([]*capture.Record, int64, error) {
	tx, err := d.Begin(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list: %w", err)
	}
	defer tx.Close()
	recs, n, err := d.findRecords(ctx, tx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list: %w", err)
	}
	return recs, n, nil
}

// Count returns the number of records matching f, ignoring its Limit and
// Offset.
func (d *Reader) Count(ctx context.Context, f store.Filter) (int64, error) {
	tx, err := d.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	defer tx.Close()
	n, err := d.countRecords(ctx, tx, f)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// findRecords returns the records matching f, newest first, and how many
// match in all. Both queries run in tx, so they see the same snapshot.
func (d *Reader) findRecords(ctx context.Context, tx rows.Querier, f store.Filter) ([]*capture.Record, int64, error) {
	cond, args, err := d.Where(f)
	if err != nil {
		return nil, 0, err
	}
	n, err := d.countRecords(ctx, tx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("count: %w", err)
	}
	res, err := tx.Query(ctx, d.listSQL(f, cond), args...)
	if err != nil {
		return nil, 0, err
	}
	defer res.Close()
	var recs []*capture.Record
	for res.Next() {
		rec, err := rows.ScanRecord(res, false)
		if err != nil {
			return nil, 0, fmt.Errorf("scan: %w", err)
		}
		recs = append(recs, rec)
	}
	if err := res.Err(); err != nil {
		return nil, 0, err
	}
	return recs, n, nil
}

// ListSQL returns the query List reads a page of f's records with, and its
// arguments: for tests of its plan.
func (d *Reader) ListSQL(f store.Filter) (string, []any, error) {
	cond, args, err := d.Where(f)
	if err != nil {
		return "", nil, err
	}
	return d.listSQL(f, cond), args, nil
}

// listSQL is List's query of a page of f's records, whose conditions are
// cond.
func (d *Reader) listSQL(f store.Filter, cond string) string {
	return `SELECT ` + rows.SelectList(false) + ` FROM requests WHERE ` + cond +
		` ORDER BY ` + listOrder(f) + ` ` + d.LimitOffset(f.Limit, f.Offset)
}

// listOrder is how List orders f's records, newest first. Within a time
// window, by start time (the id breaking ties): the timestamp index, or
// one key's (key_hash, timestamp, id) index, then gives the window's rows
// in order, and a page stops after its rows, where ordering by id would
// read the whole window and sort it (seconds for a month of a million
// records) or walk down every newer record first. Ids are UUIDv7 taken at
// the start, so the two orders agree but for exchanges started within the
// same millisecond, and the search index orders its results by start time
// too.
func listOrder(f store.Filter) string {
	if f.From.IsZero() && f.To.IsZero() {
		return "id DESC"
	}
	return "timestamp DESC, id DESC"
}

// countRecords returns the number of records matching f: from the
// rollups when f allows (see countStored), else by counting rows.
func (d *Reader) countRecords(ctx context.Context, tx rows.Querier, f store.Filter) (int64, error) {
	cond, args, err := d.Where(f)
	if err != nil {
		return 0, err
	}
	if UsesRollups(f) {
		return d.countStored(ctx, tx, f)
	}
	return count(ctx, tx, `SELECT COUNT(*) FROM requests WHERE `+cond, args...)
}

// countStored counts the stored records matching f from the rollups. The
// rollups count deleted records too, but retention deletes the oldest
// first and rollup_state remembers the newest start time it deleted
// (pruned_to): every record that started later is still stored. So the
// window up to pruned_to is counted from the rows, and the rest from the
// rollups, with its ragged edges from the rows.
func (d *Reader) countStored(ctx context.Context, tx rows.Querier, f store.Filter) (int64, error) {
	a, b := Window(f)
	var n int64
	prunedTo, err := GetState(ctx, tx, StatePrunedTo)
	if err != nil {
		return 0, err
	}
	if prunedTo != "" {
		t, err := rows.ParseTime(prunedTo)
		if err != nil {
			return 0, fmt.Errorf("pruned_to: %w", err)
		}
		p := t.UnixMicro() + 1
		if a < p {
			old := f
			old.From, old.To, old.Limit, old.Offset = FromMicro(a), FromMicro(min(b, p)), 0, 0
			cond, args, err := d.Where(old)
			if err != nil {
				return 0, err
			}
			if n, err = count(ctx, tx, `SELECT COUNT(*) FROM requests WHERE `+cond, args...); err != nil {
				return 0, err
			}
			a = p
		}
	}
	if a >= b {
		return n, nil
	}
	sum, err := d.total(ctx, tx, f, a, b, false)
	if err != nil {
		return 0, err
	}
	return n + sum.Requests, nil
}

// Models returns the distinct models of the records v may see, sorted:
// the model that served each request, or the one requested when the
// upstream named none. It reads the day rollups, so it lists the models of
// records retention has deleted too.
func (d *Dialect) Models(ctx context.Context, q rows.Querier, v store.Viewer) ([]string, error) {
	vis, args := d.Visible(v)
	names, err := rows.Strings(ctx, q, `
		SELECT DISTINCT m FROM (
			SELECT CASE WHEN model <> '' THEN model ELSE model_requested END AS m
			FROM `+ListTable(v)+`
			WHERE grain = `+strconv.Itoa(Day)+` AND `+vis+`
		) AS models
		WHERE m <> ''
		ORDER BY m`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: models: %w", err)
	}
	return names, nil
}

// Methods returns the distinct HTTP methods of the records v may see, in
// upper case (as Filter.Method ignores case), sorted. Like Models, it reads
// the day rollups.
func (d *Dialect) Methods(ctx context.Context, q rows.Querier, v store.Viewer) ([]string, error) {
	vis, args := d.Visible(v)
	names, err := rows.Strings(ctx, q, `
		SELECT DISTINCT UPPER(method)`+d.Bytewise+` AS m
		FROM `+ListTable(v)+`
		WHERE grain = `+strconv.Itoa(Day)+` AND `+vis+` AND method <> ''
		ORDER BY m`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: methods: %w", err)
	}
	return names, nil
}
