package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// aggregate is what the test computes from the rows directly.
type aggregate struct {
	n, ok, prompt, completion, cached, reasoning int64
	cost, durSum                                 float64
	durs                                         []float64
}

// sqlAggregate sums the requests rows matching cond straight from the
// database file, and lists their durations in order.
func sqlAggregate(t *testing.T, db *sql.DB, cond string, args ...any) aggregate {
	t.Helper()
	var a aggregate
	err := db.QueryRow(`SELECT COUNT(*), COALESCE(SUM(outcome = 'ok'), 0), COALESCE(SUM(prompt_tokens), 0),
		COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cached_tokens), 0), COALESCE(SUM(reasoning_tokens), 0),
		COALESCE(SUM(cost), 0), COALESCE(SUM(duration_ms), 0) FROM requests WHERE `+cond, args...).
		Scan(&a.n, &a.ok, &a.prompt, &a.completion, &a.cached, &a.reasoning, &a.cost, &a.durSum)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT duration_ms FROM requests WHERE `+cond+` ORDER BY duration_ms`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var d float64
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		a.durs = append(a.durs, d)
	}
	return a
}

// rank returns the nearest-rank q-quantile of sorted values.
func rank(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[max(1, int(math.Ceil(q*float64(len(sorted)))))-1]
}

// randomFilter is a random filter over the property test's records and the
// SQL condition that selects the same rows.
func randomFilter(r *rand.Rand, base time.Time) (store.Filter, string, []any) {
	keys := []string{"k0", "k1", "k2"}
	f := store.Filter{Viewer: admin}
	var cond []string
	var args []any
	if r.IntN(3) == 0 {
		f.Viewer = store.Viewer{KeyHash: keys[r.IntN(3)]}
		cond, args = append(cond, "key_hash = ?"), append(args, f.Viewer.KeyHash)
	} else if r.IntN(4) == 0 {
		// An admin looking at one key reads the rollups by the key's
		// index, not the rows summed over the keys.
		f.KeyHash = keys[r.IntN(3)]
		cond, args = append(cond, "key_hash = ?"), append(args, f.KeyHash)
	}
	if r.IntN(3) == 0 {
		f.Model = fmt.Sprintf("m%d", r.IntN(3))
		cond, args = append(cond, "(model = ? OR model_requested = ?)"), append(args, f.Model, f.Model)
	}
	switch r.IntN(5) {
	case 0:
		f.Status, cond = store.StatusSuccess, append(cond, "outcome = 'ok'")
	case 1:
		f.Status, cond = store.Status5xx, append(cond, "response_status BETWEEN 500 AND 599")
	}
	if r.IntN(3) == 0 {
		f.Method, cond = "get", append(cond, "method = 'GET'")
	}
	// Windows at any microsecond, reaching past the minute rollups' 48
	// hours half of the time.
	span := int64(80 * time.Hour)
	if r.IntN(4) > 0 {
		f.From = base.Add(-time.Duration(r.Int64N(span))).Truncate(time.Microsecond)
		cond, args = append(cond, "timestamp >= ?"), append(args, f.From.UTC().Format("2006-01-02T15:04:05.000000Z"))
	}
	if r.IntN(3) > 0 {
		f.To = base.Add(-time.Duration(r.Int64N(span))).Truncate(time.Microsecond)
		cond, args = append(cond, "timestamp < ?"), append(args, f.To.UTC().Format("2006-01-02T15:04:05.000000Z"))
	}
	if len(cond) == 0 {
		cond = []string{"1"}
	}
	return f, strings.Join(cond, " AND "), args
}

// TestRollupsMatchRows: after random inserts over 80 hours (so minute rows
// exist for the recent part only), Stats and Count of random filters and
// windows equal the direct SQL aggregate of the rows, percentiles within
// the histograms' error; after retention deleted most rows, Stats still
// equals the aggregate of everything inserted.
func TestRollupsMatchRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proxy.db")
	s := MustOpen(t, path, sqlite.Options{BatchSize: 64, MaxHistory: 100})
	ctx := context.Background()
	r := rand.New(rand.NewPCG(8, 1))
	base := time.Now().UTC()
	outcomes := []capture.Outcome{capture.OutcomeOK, capture.OutcomeOK, capture.OutcomeOK, capture.OutcomeUpstreamError}
	statuses := []int{200, 200, 200, 502}
	for range 1500 {
		rec := storetest.NewRecord(t, fmt.Sprintf("k%d", r.IntN(3)))
		// Newer records get newer ids, so retention deletes the oldest.
		rec.Start = base.Add(-80 * time.Hour).Add(time.Duration(r.Int64N(int64(80 * time.Hour))))
		rec.ID = fmt.Sprintf("%020d-%s", rec.Start.UnixNano(), rec.ID)
		i := r.IntN(4)
		rec.Outcome, rec.Status = outcomes[i], statuses[i]
		rec.Model = fmt.Sprintf("m%d", r.IntN(3))
		rec.ModelRequested = fmt.Sprintf("m%d", r.IntN(3))
		rec.Provider = []string{"", "P1", "P2"}[r.IntN(3)]
		if r.IntN(4) == 0 {
			rec.Method = "GET"
		}
		rec.Stream = r.IntN(2) == 0
		rec.Duration = time.Duration(1+r.IntN(100000)) * 100 * time.Microsecond
		if rec.Stream {
			rec.TTFT = rec.Duration / time.Duration(2+r.IntN(4))
		}
		rec.PromptTokens, rec.CompletionTokens = int64(r.IntN(1000)), int64(r.IntN(500))
		rec.TotalTokens = rec.PromptTokens + rec.CompletionTokens
		rec.CachedTokens, rec.ReasoningTokens = int64(r.IntN(100)), int64(r.IntN(50))
		rec.Cost = float64(r.IntN(1000)) / 1e5
		storetest.MustRecord(t, s, rec)
	}
	storetest.MustFlush(t, s)

	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	type check struct {
		f     store.Filter
		stats store.Stats
	}
	var checks []check
	for i := range 150 {
		f, cond, args := randomFilter(r, base)
		want := sqlAggregate(t, db, cond, args...)
		got, err := s.Stats(ctx, f, base)
		if err != nil {
			t.Fatal(err)
		}
		n, err := s.Count(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if got.TotalRequests != want.n || n != want.n || got.SuccessCount != want.ok || got.PromptTokens != want.prompt ||
			got.CompletionTokens != want.completion || got.CachedTokens != want.cached || got.ReasoningTokens != want.reasoning ||
			!storetest.Near(got.TotalCost, want.cost) || want.n > 0 && !storetest.Near(got.AvgDurationMs, want.durSum/float64(want.n)) {
			t.Fatalf("check %d, %+v:\nStats %+v, Count %d\nrows  %+v", i, f, got, n, want)
		}
		for _, p := range []struct{ got, q float64 }{{got.P50DurationMs, 0.5}, {got.P95DurationMs, 0.95}, {got.P99DurationMs, 0.99}} {
			if exact := rank(want.durs, p.q); !storetest.WithinHist(p.got, exact) {
				t.Errorf("check %d: p%v = %v, exact %v", i, p.q*100, p.got, exact)
			}
		}
		checks = append(checks, check{f, got})
	}

	// Retention deletes all but 100 records: the rollups keep counting
	// them, and Count counts what is left.
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	for i, c := range checks {
		// Ragged edges are read from the rows, which retention deleted:
		// compare the windows the rollups answer whole.
		if c.f.From.IsZero() && c.f.To.IsZero() {
			got, err := s.Stats(ctx, c.f, base)
			if err != nil {
				t.Fatal(err)
			}
			if !storetest.StatsEqual(got, c.stats) {
				t.Errorf("check %d after retention:\n%+v\nwant\n%+v", i, got, c.stats)
			}
		}
	}
	for i := range 50 {
		f, cond, args := randomFilter(r, base)
		want := sqlAggregate(t, db, cond, args...)
		n, err := s.Count(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if n != want.n {
			t.Errorf("check %d after retention, %+v: Count = %d, rows %d", i, f, n, want.n)
		}
	}
}

// TestCompaction: folding old minute and hour rows away keeps every total,
// and Coverage says from when each grain exists.
func TestCompaction(t *testing.T) {
	s := MustOpenTemp(t, sqlite.Options{})
	ctx := context.Background()
	base := storetest.RollupBase()
	for _, x := range storetest.FixedExchanges {
		storetest.MustRecord(t, s, storetest.RecordOf(t, x, base))
	}
	storetest.MustFlush(t, s)
	before := map[store.Dimension][]store.BreakdownRow{}
	for _, by := range []store.Dimension{store.ByModel, store.ByKey, store.ByStatus} {
		rows, err := s.Breakdown(ctx, store.Filter{Viewer: admin}, by)
		if err != nil {
			t.Fatal(err)
		}
		before[by] = rows
	}
	statsBefore, err := s.Stats(ctx, store.Filter{Viewer: admin}, base)
	if err != nil {
		t.Fatal(err)
	}

	// As if 70 days had passed: only day rows are left.
	later := base.Add(70 * 24 * time.Hour)
	if err := sqlite.Compact(s, later); err != nil {
		t.Fatal(err)
	}
	cov, err := s.Coverage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantMinute := later.Add(-48 * time.Hour).Truncate(time.Hour)
	wantHour := later.Add(-60 * 24 * time.Hour).Truncate(24 * time.Hour)
	if !cov.From.Equal(base.Truncate(24*time.Hour)) || !cov.MinuteFrom.Equal(wantMinute) || !cov.HourFrom.Equal(wantHour) {
		t.Errorf("Coverage = %+v, want from %v, minutes from %v, hours from %v", cov, base.Truncate(24*time.Hour), wantMinute, wantHour)
	}
	for by, want := range before {
		got, err := s.Breakdown(ctx, store.Filter{Viewer: admin}, by)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Breakdown by %s after compaction =\n%+v\nwant\n%+v", by, got, want)
		}
	}
	statsAfter, err := s.Stats(ctx, store.Filter{Viewer: admin}, base)
	if err != nil {
		t.Fatal(err)
	}
	if !storetest.StatsEqual(statsAfter, statsBefore) {
		t.Errorf("Stats after compaction =\n%+v\nwant\n%+v", statsAfter, statsBefore)
	}
	// A window of ragged minutes is now read from the rows: still exact.
	f := store.Filter{Viewer: admin, From: base.Add(20 * time.Second), To: base.Add(2 * time.Hour)}
	if st, err := s.Stats(ctx, f, base); err != nil || st.TotalRequests != 4 {
		t.Errorf("ragged window after compaction: %+v, %v; want 4 requests", st, err)
	}
	// A series by the minute is read from the rows too.
	pts, err := s.Series(ctx, store.Filter{Viewer: admin, From: base, To: base.Add(2 * time.Minute)}, time.Minute)
	if err != nil || len(pts) != 2 || pts[0].Requests != 3 || pts[1].Requests != 1 {
		t.Errorf("Series after compaction = %+v, %v", pts, err)
	}
	// The grains compacted away stay away: new records are counted at
	// the grains still kept, and totals still add up.
	old := storetest.RecordOf(t, storetest.FixedExchanges[0], base)
	storetest.MustRecord(t, s, old)
	storetest.MustFlush(t, s)
	if st, err := s.Stats(ctx, store.Filter{Viewer: admin}, base); err != nil || st.TotalRequests != statsBefore.TotalRequests+1 {
		t.Errorf("Stats after one more record = %+v, %v", st, err)
	}
}

// rollupDump returns the rollups, rollup_totals, rollup_dims and api_keys of the
// database at path, one line per row, sorted, sums of floats rounded.
func rollupDump(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []string
	rows, err := db.Query(`SELECT grain, bucket, key_hash, model_requested, model, provider, status, ok, stream, method,
		requests, round(duration_ms, 6), round(ttfb_ms, 6), ttfb_count, round(ttft_ms, 6), ttft_count, round(gen_ms, 6), gen_tokens,
		prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens, round(cost, 9), hex(duration_hist), hex(ttft_hist)
		FROM rollups`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		vals := make([]any, 26)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	rows.Close()
	totals, err := db.Query(`SELECT grain, bucket, key_hash, ok, requests, round(duration_ms, 6), ttfb_count, ttft_count,
		gen_tokens, prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens, round(cost, 9),
		hex(duration_hist), hex(ttft_hist) FROM rollup_totals`)
	if err != nil {
		t.Fatal(err)
	}
	for totals.Next() {
		vals := make([]any, 17)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := totals.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(append([]any{"total "}, vals...)...))
	}
	totals.Close()
	dims, err := db.Query(`SELECT grain, bucket, model_requested, model, provider, status, ok, stream, method,
		requests, round(duration_ms, 6), round(ttfb_ms, 6), ttfb_count, round(ttft_ms, 6), ttft_count, round(gen_ms, 6), gen_tokens,
		prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens, round(cost, 9), hex(duration_hist), hex(ttft_hist)
		FROM rollup_dims`)
	if err != nil {
		t.Fatal(err)
	}
	for dims.Next() {
		vals := make([]any, 25)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := dims.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(append([]any{"dims "}, vals...)...))
	}
	dims.Close()
	keys, err := db.Query(`SELECT key_hash, key_mask, requests, last_seen FROM api_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	for keys.Next() {
		var h, m, last string
		var n int64
		if err := keys.Scan(&h, &m, &n, &last); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint("key ", h, m, n, last))
	}
	slices.Sort(out)
	return out
}

// TestBackfill: a database written before the rollups existed gets, when
// the store opens it, the same rollups the writer keeps, with progress
// reported along the way.
func TestBackfill(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	base := storetest.RollupBase()
	var recs []*capture.Record
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		x := storetest.FixedExchanges[i%len(storetest.FixedExchanges)]
		x.Provider = "" // the old schema has no provider column
		x.At = time.Duration(r.Int64N(int64(90 * 24 * time.Hour)))
		rec := storetest.RecordOf(t, x, base.Add(-88*24*time.Hour))
		rec.TTFB = time.Duration(r.IntN(100)) * time.Millisecond
		recs = append(recs, rec)
	}

	// The writer's rollups.
	livePath := filepath.Join(dir, "live.db")
	live := MustOpen(t, livePath, sqlite.Options{})
	for _, rec := range recs {
		copied := *rec
		storetest.MustRecord(t, live, &copied)
	}
	storetest.MustFlush(t, live)
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}

	// The same rows in a database of schema version 3.
	oldPath := filepath.Join(dir, "old.db")
	db, err := sql.Open("sqlite3", "file:"+oldPath+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sqlite.Schema)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`ATTACH DATABASE ? AS live`, livePath); err != nil {
		t.Fatal(err)
	}
	cols := `id, timestamp, method, url, path, query, headers, body, body_size, body_truncated, key_hash, key_mask, client_addr,
		response_status, response_headers, response_body, response_size, response_truncated, is_stream, model_requested, model,
		content, reasoning, tool_calls, finish_reason, generation_id, prompt_tokens, completion_tokens, total_tokens, cached_tokens,
		reasoning_tokens, cost, upstream_cost, has_usage, duration_ms, ttfb_ms, ttft_ms, attempts, outcome, error`
	// In random order: the backfill must not depend on insertion order.
	if _, err := db.Exec(`INSERT INTO requests (` + cols + `) SELECT ` + cols + ` FROM live.requests ORDER BY random()`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	defer sqlite.SetBackfillBatch(64)()
	var calls []int64
	old := MustOpen(t, oldPath, sqlite.Options{Progress: func(done, total int64) {
		if total != int64(len(recs)) {
			t.Errorf("progress total = %d, want %d", total, len(recs))
		}
		calls = append(calls, done)
	}})
	if want := []int64{0, 64, 128, 192, 256, 300}; !slices.Equal(calls, want) {
		t.Errorf("progress = %v, want %v", calls, want)
	}
	storetest.MustFlush(t, old)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	got, want := rollupDump(t, oldPath), rollupDump(t, livePath)
	if !slices.Equal(got, want) {
		t.Errorf("backfilled rollups differ from the writer's: %d rows, want %d", len(got), len(want))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("first difference:\n got %s\nwant %s", got[i], want[i])
				break
			}
		}
	}

	// Opening it again does not count anything twice.
	again := MustOpen(t, oldPath, sqlite.Options{Progress: func(done, total int64) { t.Errorf("progress %d/%d on a built database", done, total) }})
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if got := rollupDump(t, oldPath); !slices.Equal(got, want) {
		t.Error("a second Open changed the rollups")
	}
}

// TestRollupDimsMigration: migration 0006 builds rollup_dims from the
// rollups of a database written before it (summing histograms with
// hist_sum), exactly as the writer keeps it, and statistics read from it
// agree with the rows.
func TestRollupDimsMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proxy.db")
	s := MustOpen(t, path, sqlite.Options{})
	r := rand.New(rand.NewPCG(6, 6))
	base := storetest.RollupBase()
	for i := range 400 {
		x := storetest.FixedExchanges[i%len(storetest.FixedExchanges)]
		x.At = time.Duration(r.Int64N(int64(70 * 24 * time.Hour)))
		x.Dur = time.Duration(1+r.IntN(5000)) * time.Millisecond
		storetest.MustRecord(t, s, storetest.RecordOf(t, x, base.Add(-69*24*time.Hour)))
	}
	storetest.MustFlush(t, s)
	before, err := s.Breakdown(context.Background(), store.Filter{Viewer: admin}, store.ByModel)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := rollupDump(t, path)
	if !slices.ContainsFunc(want, func(l string) bool { return strings.HasPrefix(l, "dims ") }) {
		t.Fatal("the writer kept no rollup_dims rows")
	}

	// Back to schema version 5: no rollup_dims, nor what later versions add.
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE rollup_dims`, `DROP TABLE login_failures`, `DROP TABLE secrets`,
		`DROP INDEX requests_key_hash_timestamp`, `DELETE FROM goose_db_version WHERE version_id >= 6`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s = MustOpen(t, path, sqlite.Options{})
	after, err := s.Breakdown(context.Background(), store.Filter{Viewer: admin}, store.ByModel)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Errorf("Breakdown after the migration =\n%+v\nwant\n%+v", after, before)
	}
	if got := rollupDump(t, path); !slices.Equal(got, want) {
		t.Errorf("migrated rollups differ from the writer's: %d rows, want %d", len(got), len(want))
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Errorf("first difference:\n got %s\nwant %s", got[i], want[i])
				break
			}
		}
	}
}
