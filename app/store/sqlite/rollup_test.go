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

// exchange is one record of the fixed set the rollup tests know the sums of.
type exchange struct {
	key, model, provider, method string
	status                       int
	outcome                      capture.Outcome
	stream                       bool
	at                           time.Duration // after the fixture's base
	dur, ttft                    time.Duration
	prompt, completion           int64
	cached, reasoning            int64
	cost                         float64
}

// rollupBase is a fixed minute in the past, well within the minute rollups'
// 48 hours whenever the tests run, and not at an hour boundary.
func rollupBase() time.Time {
	return time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour).Add(17 * time.Minute)
}

// fixedExchanges: alice has four (two models, one error), bob two (one
// 500), and one came without a key.
var fixedExchanges = []exchange{
	{key: "alice", model: "openai/gpt-4o", provider: "OpenAI", method: "POST", status: 200, outcome: capture.OutcomeOK, stream: true,
		at: 10 * time.Second, dur: 2 * time.Second, ttft: 500 * time.Millisecond, prompt: 100, completion: 50, cached: 20, reasoning: 5, cost: 0.01},
	{key: "alice", model: "openai/gpt-4o", provider: "Azure", method: "POST", status: 200, outcome: capture.OutcomeOK, stream: true,
		at: 70 * time.Second, dur: 4 * time.Second, ttft: 1 * time.Second, prompt: 200, completion: 150, cost: 0.03},
	{key: "alice", model: "anthropic/claude", provider: "Anthropic", method: "POST", status: 429, outcome: capture.OutcomeUpstreamError,
		at: 2 * time.Hour, dur: 100 * time.Millisecond},
	{key: "alice", model: "anthropic/claude", provider: "Anthropic", method: "POST", status: 200, outcome: capture.OutcomeOK,
		at: 2*time.Hour + 30*time.Second, dur: 1 * time.Second, prompt: 10, completion: 10, cost: 0.002},
	{key: "bob", model: "openai/gpt-4o", provider: "OpenAI", method: "POST", status: 500, outcome: capture.OutcomeUpstreamError,
		at: 30 * time.Second, dur: 300 * time.Millisecond},
	{key: "bob", model: "meta/llama", provider: "Together", method: "GET", status: 200, outcome: capture.OutcomeOK,
		at: 90 * time.Minute, dur: 200 * time.Millisecond, prompt: 1, completion: 1, cost: 0.5},
	{key: "", model: "", method: "POST", status: 0, outcome: capture.OutcomeProxyError, at: 45 * time.Second, dur: 50 * time.Millisecond},
}

// recordOf returns the record of an exchange.
func recordOf(t testing.TB, x exchange, base time.Time) *capture.Record {
	rec := storetest.NewRecord(t, x.key)
	rec.KeyMask = "mask-" + x.key
	rec.Start = base.Add(x.at)
	rec.Method, rec.Status, rec.Outcome, rec.Stream = x.method, x.status, x.outcome, x.stream
	rec.Model, rec.ModelRequested, rec.Provider = x.model, x.model, x.provider
	rec.Duration, rec.TTFT = x.dur, x.ttft
	rec.PromptTokens, rec.CompletionTokens, rec.TotalTokens = x.prompt, x.completion, x.prompt+x.completion
	rec.CachedTokens, rec.ReasoningTokens, rec.Cost = x.cached, x.reasoning, x.cost
	if x.outcome != capture.OutcomeOK {
		rec.Error = "failed"
	}
	return rec
}

func TestRollupStats(t *testing.T) {
	s := MustOpenTemp(t, sqlite.Options{})
	ctx := context.Background()
	base := rollupBase()
	for _, x := range fixedExchanges {
		storetest.MustRecord(t, s, recordOf(t, x, base))
	}
	storetest.MustFlush(t, s)
	now := base.Add(3 * time.Hour)

	t.Run("Alice", func(t *testing.T) {
		got, err := s.Stats(ctx, store.Filter{Viewer: alice}, now)
		if err != nil {
			t.Fatal(err)
		}
		want := store.Stats{
			TotalRequests: 4, SuccessCount: 3, ErrorCount: 1, SuccessRate: 75, ErrorRate: 25,
			AvgDurationMs: (2000 + 4000 + 100 + 1000) / 4.0,
			P50DurationMs: 1000, P95DurationMs: 4000, P99DurationMs: 4000,
			AvgTTFTMs: 750, P50TTFTMs: 500, P95TTFTMs: 1000,
			// (50 + 150) tokens over (1.5 + 3) s after the first token.
			TokensPerSecond: 200 / 4.5,
			RecentRequests:  2, // the two after base+2h
			PromptTokens:    310, CompletionTokens: 210, TotalTokens: 520, CachedTokens: 20, ReasoningTokens: 5,
			TotalCost: 0.042,
		}
		if !statsEqual(got, want) {
			t.Errorf("Stats =\n%+v\nwant\n%+v", got, want)
		}
	})

	t.Run("RaggedWindow", func(t *testing.T) {
		// From the middle of the first minute to the middle of base+2h's
		// minute: the 70 s, 30 s, 45 s and 90 min records, not the 10 s nor
		// the 2 h 30 s one; the 2 h one is at the window's exclusive end.
		f := store.Filter{Viewer: admin, From: base.Add(20 * time.Second), To: base.Add(2 * time.Hour)}
		got, err := s.Stats(ctx, f, now)
		if err != nil {
			t.Fatal(err)
		}
		if got.TotalRequests != 4 || got.SuccessCount != 2 || !near(got.TotalCost, 0.53) || got.PromptTokens != 201 {
			t.Errorf("Stats = %+v, want 4 requests, 2 ok, cost 0.53, 201 prompt tokens", got)
		}
		n, err := s.Count(ctx, f)
		if err != nil || n != 4 {
			t.Errorf("Count = %d, %v; want 4", n, err)
		}
	})

	t.Run("Filters", func(t *testing.T) {
		for _, tt := range []struct {
			name string
			f    store.Filter
			n    int64
		}{
			{"Model", store.Filter{Viewer: admin, Model: "openai/gpt-4o"}, 3},
			{"Provider", store.Filter{Viewer: admin, Provider: "OpenAI"}, 2},
			{"Success", store.Filter{Viewer: admin, Status: store.StatusSuccess}, 4},
			{"Error", store.Filter{Viewer: admin, Status: store.StatusError}, 3},
			{"4xx", store.Filter{Viewer: admin, Status: store.Status4xx}, 1},
			{"5xx", store.Filter{Viewer: admin, Status: store.Status5xx}, 1},
			{"2xx", store.Filter{Viewer: admin, Status: store.Status2xx}, 4},
			{"MethodIgnoringCase", store.Filter{Viewer: admin, Method: "get"}, 1},
			{"KeyHash", store.Filter{Viewer: admin, KeyHash: "bob"}, 2},
			{"UserCannotWiden", store.Filter{Viewer: alice, KeyHash: "bob"}, 0},
			{"NoKeySeesNothing", store.Filter{Viewer: store.Viewer{}}, 0},
		} {
			t.Run(tt.name, func(t *testing.T) {
				st, err := s.Stats(ctx, tt.f, now)
				if err != nil {
					t.Fatal(err)
				}
				n, err := s.Count(ctx, tt.f)
				if err != nil {
					t.Fatal(err)
				}
				if st.TotalRequests != tt.n || n != tt.n {
					t.Errorf("Stats.TotalRequests = %d, Count = %d, want %d", st.TotalRequests, n, tt.n)
				}
			})
		}
	})

	t.Run("BadStatus", func(t *testing.T) {
		if _, err := s.Stats(ctx, store.Filter{Viewer: admin, Status: "3xx"}, now); !isInvalid(err) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})
}

// isInvalid reports whether err wraps store.ErrInvalid.
func isInvalid(err error) bool {
	return err != nil && strings.Contains(err.Error(), store.ErrInvalid.Error())
}

func TestBreakdown(t *testing.T) {
	s := MustOpenTemp(t, sqlite.Options{})
	ctx := context.Background()
	base := rollupBase()
	for _, x := range fixedExchanges {
		storetest.MustRecord(t, s, recordOf(t, x, base))
	}
	storetest.MustFlush(t, s)

	type row struct {
		value, label string
		requests     int64
		errors       int64
		cost         float64
	}
	rowsOf := func(t *testing.T, f store.Filter, by store.Dimension) []row {
		t.Helper()
		got, err := s.Breakdown(ctx, f, by)
		if err != nil {
			t.Fatal(err)
		}
		out := []row{}
		for _, r := range got {
			out = append(out, row{r.Value, r.Label, r.Requests, r.Errors, math.Round(r.Cost*1e6) / 1e6})
		}
		return out
	}
	tests := []struct {
		name string
		f    store.Filter
		by   store.Dimension
		want []row
	}{
		{"Model", store.Filter{Viewer: admin}, store.ByModel, []row{
			{"openai/gpt-4o", "openai/gpt-4o", 3, 1, 0.04},
			{"anthropic/claude", "anthropic/claude", 2, 1, 0.002},
			{"", "", 1, 1, 0},
			{"meta/llama", "meta/llama", 1, 0, 0.5},
		}},
		{"ProviderOfAlice", store.Filter{Viewer: alice}, store.ByProvider, []row{
			{"Anthropic", "Anthropic", 2, 1, 0.002},
			{"Azure", "Azure", 1, 0, 0.03},
			{"OpenAI", "OpenAI", 1, 0, 0.01},
		}},
		{"Status", store.Filter{Viewer: admin}, store.ByStatus, []row{
			{"200", "200", 4, 0, 0.542},
			{"0", "0", 1, 1, 0},
			{"429", "429", 1, 1, 0},
			{"500", "500", 1, 1, 0},
		}},
		{"StatusClass", store.Filter{Viewer: admin}, store.ByStatusClass, []row{
			{"2xx", "2xx", 4, 0, 0.542},
			{"4xx", "4xx", 1, 1, 0},
			{"5xx", "5xx", 1, 1, 0},
			{"none", "none", 1, 1, 0},
		}},
		{"KeyAdmin", store.Filter{Viewer: admin}, store.ByKey, []row{
			{"alice", "mask-alice", 4, 1, 0.042},
			{"bob", "mask-bob", 2, 1, 0.5},
			{"", "(no key)", 1, 1, 0},
		}},
		{"KeyUserSeesOnlyTheirs", store.Filter{Viewer: bob}, store.ByKey, []row{
			{"bob", "mask-bob", 2, 1, 0.5},
		}},
		{"Filtered", store.Filter{Viewer: admin, Status: store.StatusError}, store.ByKey, []row{
			{"", "(no key)", 1, 1, 0},
			{"alice", "mask-alice", 1, 1, 0},
			{"bob", "mask-bob", 1, 1, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rowsOf(t, tt.f, tt.by); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Breakdown =\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
	t.Run("UnknownDimension", func(t *testing.T) {
		if _, err := s.Breakdown(ctx, store.Filter{Viewer: admin}, "colour"); !isInvalid(err) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("Percentiles", func(t *testing.T) {
		got, err := s.Breakdown(ctx, store.Filter{Viewer: alice, Model: "openai/gpt-4o"}, store.ByModel)
		if err != nil || len(got) != 1 {
			t.Fatalf("Breakdown = %v, %v", got, err)
		}
		if r := got[0]; !withinHist(r.P50DurationMs, 2000) || !withinHist(r.P95DurationMs, 4000) {
			t.Errorf("p50 %v, p95 %v; want 2000 and 4000 within %.3f", r.P50DurationMs, r.P95DurationMs, store.HistRelativeError)
		}
	})
}

func TestSeries(t *testing.T) {
	s := MustOpenTemp(t, sqlite.Options{})
	ctx := context.Background()
	base := rollupBase()
	for _, x := range fixedExchanges {
		storetest.MustRecord(t, s, recordOf(t, x, base))
	}
	storetest.MustFlush(t, s)

	t.Run("Minutes", func(t *testing.T) {
		// base+30 s .. base+2 min 30 s widens to the whole minutes
		// base .. base+3 min.
		pts, err := s.Series(ctx, store.Filter{Viewer: admin, From: base.Add(30 * time.Second), To: base.Add(150 * time.Second)}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		type pt struct {
			at            time.Duration
			requests, err int64
			cost          float64
			models        string
		}
		var got []pt
		for _, p := range pts {
			var ms []string
			for _, m := range p.Models {
				ms = append(ms, fmt.Sprintf("%s:%d", m.Model, m.Requests))
			}
			got = append(got, pt{p.Start.Sub(base), p.Requests, p.Errors, math.Round(p.Cost*1e6) / 1e6, strings.Join(ms, ",")})
		}
		want := []pt{
			{0, 3, 2, 0.01, "openai/gpt-4o:2,:1"},
			{time.Minute, 1, 0, 0.03, "openai/gpt-4o:1"},
			{2 * time.Minute, 0, 0, 0, ""},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Series =\n%v\nwant\n%v", got, want)
		}
	})

	t.Run("HoursOfBob", func(t *testing.T) {
		pts, err := s.Series(ctx, store.Filter{Viewer: bob}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		// base is hh:17, so bob's 30 s and 90 min records fall in two
		// consecutive hours.
		if len(pts) != 2 || pts[0].Requests != 1 || pts[1].Requests != 1 || pts[1].Cost != 0.5 ||
			!pts[0].Start.Equal(base.Truncate(time.Hour)) {
			t.Errorf("Series = %+v", pts)
		}
		if !withinHist(pts[0].P95DurationMs, 300) {
			t.Errorf("p95 = %v, want 300 within the histogram's error", pts[0].P95DurationMs)
		}
	})

	t.Run("BadStep", func(t *testing.T) {
		for _, step := range []time.Duration{0, 30 * time.Second, 90 * time.Second} {
			if _, err := s.Series(ctx, store.Filter{Viewer: admin}, step); !isInvalid(err) {
				t.Errorf("step %v: err = %v, want ErrInvalid", step, err)
			}
		}
		if _, err := s.Series(ctx, store.Filter{Viewer: admin, From: base.Add(-365 * 24 * time.Hour), To: base}, time.Minute); !isInvalid(err) {
			t.Errorf("a year of minutes: err = %v, want ErrInvalid", err)
		}
	})
}

func TestModelsMethodsKeysFromRollups(t *testing.T) {
	s := MustOpenTemp(t, sqlite.Options{MaxHistory: 1})
	ctx := context.Background()
	base := rollupBase()
	for _, x := range fixedExchanges {
		storetest.MustRecord(t, s, recordOf(t, x, base))
	}
	storetest.MustFlush(t, s)
	// Retention keeps one record; the lists still know the others.
	if _, err := s.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if n := storetest.MustCount(t, s); n != 1 {
		t.Fatalf("%d records after retention, want 1", n)
	}
	models, err := s.Models(ctx, alice)
	if err != nil || !slices.Equal(models, []string{"anthropic/claude", "openai/gpt-4o"}) {
		t.Errorf("Models(alice) = %v, %v", models, err)
	}
	methods, err := s.Methods(ctx, bob)
	if err != nil || !slices.Equal(methods, []string{"GET", "POST"}) {
		t.Errorf("Methods(bob) = %v, %v", methods, err)
	}
	if m, _ := s.Models(ctx, store.Viewer{}); len(m) != 0 {
		t.Errorf("Models of no one = %v", m)
	}
	keys, err := s.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, fmt.Sprintf("%s %s %d %s", k.Hash, k.Mask, k.Requests, k.LastSeen.Sub(base)))
	}
	want := []string{"alice mask-alice 4 2h0m30s", "bob mask-bob 2 1h30m0s"}
	if !slices.Equal(got, want) {
		t.Errorf("Keys = %q, want %q", got, want)
	}
	st, err := s.Stats(ctx, store.Filter{Viewer: admin}, base)
	if err != nil || st.TotalRequests != int64(len(fixedExchanges)) {
		t.Errorf("Stats after retention = %+v, %v; want every record counted", st, err)
	}
}

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
			!near(got.TotalCost, want.cost) || want.n > 0 && !near(got.AvgDurationMs, want.durSum/float64(want.n)) {
			t.Fatalf("check %d, %+v:\nStats %+v, Count %d\nrows  %+v", i, f, got, n, want)
		}
		for _, p := range []struct{ got, q float64 }{{got.P50DurationMs, 0.5}, {got.P95DurationMs, 0.95}, {got.P99DurationMs, 0.99}} {
			if exact := rank(want.durs, p.q); !withinHist(p.got, exact) {
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
			if !statsEqual(got, c.stats) {
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
	base := rollupBase()
	for _, x := range fixedExchanges {
		storetest.MustRecord(t, s, recordOf(t, x, base))
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
	if !statsEqual(statsAfter, statsBefore) {
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
	old := recordOf(t, fixedExchanges[0], base)
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
	base := rollupBase()
	var recs []*capture.Record
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 300 {
		x := fixedExchanges[i%len(fixedExchanges)]
		x.provider = "" // the old schema has no provider column
		x.at = time.Duration(r.Int64N(int64(90 * 24 * time.Hour)))
		rec := recordOf(t, x, base.Add(-88*24*time.Hour))
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

func TestProviderStored(t *testing.T) {
	s := MustOpenTemp(t, sqlite.Options{})
	rec := storetest.NewRecord(t, "alice")
	rec.Provider = "Google Vertex"
	storetest.MustRecord(t, s, rec)
	storetest.MustFlush(t, s)
	got, err := s.Get(context.Background(), rec.ID, alice)
	if err != nil || got.Provider != "Google Vertex" {
		t.Fatalf("Get = %+v, %v; want provider Google Vertex", got, err)
	}
	recs, _, err := s.List(context.Background(), store.Filter{Viewer: alice, Provider: "Google Vertex", Search: "chat"})
	if err != nil || len(recs) != 1 || recs[0].Provider != "Google Vertex" {
		t.Fatalf("List by provider = %v, %v", recs, err)
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
	base := rollupBase()
	for i := range 400 {
		x := fixedExchanges[i%len(fixedExchanges)]
		x.at = time.Duration(r.Int64N(int64(70 * 24 * time.Hour)))
		x.dur = time.Duration(1+r.IntN(5000)) * time.Millisecond
		storetest.MustRecord(t, s, recordOf(t, x, base.Add(-69*24*time.Hour)))
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

	// Back to schema version 5: no rollup_dims.
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE rollup_dims`, `DELETE FROM goose_db_version WHERE version_id = 6`} {
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
