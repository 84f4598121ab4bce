package storetest

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

func testStats(t *testing.T, open Opener) {
	s := open(t, Options{})
	ctx := context.Background()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

	// Twenty records with durations 10…200 ms in a scrambled order, the
	// first fifteen successful, the first four started in the last hour
	// (one of them at its very start), one just after now and the rest
	// long ago.
	starts := map[int]time.Time{
		0: now.Add(-10 * time.Minute),
		1: now.Add(-30 * time.Minute),
		2: now.Add(-time.Hour),
		3: now,
		4: now.Add(-time.Hour - time.Microsecond),
		5: now.Add(time.Minute),
	}
	for i := range 20 {
		rec := NewRecord(t, "alice")
		rec.Duration = time.Duration((i*7)%20+1) * 10 * time.Millisecond
		rec.Start = now.Add(-24 * time.Hour)
		if st, ok := starts[i]; ok {
			rec.Start = st
		}
		if i >= 15 {
			rec.Outcome, rec.Status = capture.OutcomeUpstreamError, 502
		}
		rec.PromptTokens, rec.CompletionTokens, rec.TotalTokens = 10, 5, 15
		rec.Cost = 0.001
		switch i {
		case 0, 1, 2, 3: // streams with a TTFT: 100, 200, 300, 400 ms
			rec.Stream, rec.TTFT = true, time.Duration(i+1)*100*time.Millisecond
		case 4: // a stream without one
			rec.Stream = true
		case 5: // not a stream: its TTFT does not count
			rec.TTFT = 9 * time.Second
		}
		MustRecord(t, s, rec)
	}
	// Another key's record, huge in every way, must not count for alice.
	other := NewRecord(t, "bob")
	other.Start, other.Duration, other.TotalTokens, other.Cost = now, time.Hour, 1e6, 100
	MustRecord(t, s, other)
	MustFlush(t, s)

	got, err := s.Stats(ctx, store.Filter{Viewer: alice}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Stats{
		TotalRequests:    20,
		SuccessCount:     15,
		ErrorCount:       5,
		SuccessRate:      75,
		ErrorRate:        25,
		AvgDurationMs:    105, // (10 + 200) / 2
		P50DurationMs:    100, // the 10th of 20 (nearest rank)
		P95DurationMs:    190, // the 19th of 20, not 190.5
		P99DurationMs:    200,
		AvgTTFTMs:        250,
		P50TTFTMs:        200, // the 2nd of 4
		P95TTFTMs:        400,
		RecentRequests:   4,
		PromptTokens:     200,
		CompletionTokens: 100,
		TotalTokens:      300,
		TotalCost:        0.02,
	}
	if !StatsEqual(got, want) {
		t.Errorf("Stats =\n%+v\nwant\n%+v", got, want)
	}

	t.Run("Filtered", func(t *testing.T) {
		got, err := s.Stats(ctx, store.Filter{Viewer: alice, Status: store.StatusError}, now)
		if err != nil {
			t.Fatal(err)
		}
		if got.TotalRequests != 5 || got.SuccessCount != 0 || got.ErrorCount != 5 || got.SuccessRate != 0 {
			t.Errorf("Stats = %+v, want 5 errors", got)
		}
	})

	t.Run("LimitIgnored", func(t *testing.T) {
		got, err := s.Stats(ctx, store.Filter{Viewer: alice, Limit: 1, Offset: 3}, now)
		if err != nil {
			t.Fatal(err)
		}
		if got.TotalRequests != 20 {
			t.Errorf("TotalRequests = %d, want 20", got.TotalRequests)
		}
	})

	t.Run("Admin", func(t *testing.T) {
		got, err := s.Stats(ctx, store.Filter{Viewer: admin}, now)
		if err != nil {
			t.Fatal(err)
		}
		if got.TotalRequests != 21 || got.TotalTokens != 300+1e6 || !WithinHist(got.P95DurationMs, 200) {
			t.Errorf("Stats = %+v, want bob's record counted", got)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		got, err := s.Stats(ctx, store.Filter{Viewer: store.Viewer{KeyHash: "mallory"}}, now)
		if err != nil {
			t.Fatal(err)
		}
		if got != (store.Stats{}) {
			t.Errorf("Stats = %+v, want zero", got)
		}
	})
}

func testRollupStats(t *testing.T, open Opener) {
	s := open(t, Options{})
	ctx := context.Background()
	base := RollupBase()
	for _, x := range FixedExchanges {
		MustRecord(t, s, RecordOf(t, x, base))
	}
	MustFlush(t, s)
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
		if !StatsEqual(got, want) {
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
		if got.TotalRequests != 4 || got.SuccessCount != 2 || !Near(got.TotalCost, 0.53) || got.PromptTokens != 201 {
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

func testBreakdown(t *testing.T, open Opener) {
	s := open(t, Options{})
	ctx := context.Background()
	base := RollupBase()
	for _, x := range FixedExchanges {
		MustRecord(t, s, RecordOf(t, x, base))
	}
	MustFlush(t, s)

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
		if r := got[0]; !WithinHist(r.P50DurationMs, 2000) || !WithinHist(r.P95DurationMs, 4000) {
			t.Errorf("p50 %v, p95 %v; want 2000 and 4000 within %.3f", r.P50DurationMs, r.P95DurationMs, store.HistRelativeError)
		}
	})
}

func testSeries(t *testing.T, open Opener) {
	s := open(t, Options{})
	ctx := context.Background()
	base := RollupBase()
	for _, x := range FixedExchanges {
		MustRecord(t, s, RecordOf(t, x, base))
	}
	MustFlush(t, s)

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
		if !WithinHist(pts[0].P95DurationMs, 300) {
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

// testModelsMethodsKeysOutliveRetention: the lists of models, methods and
// keys come from the rollups, so they still know the records retention
// deleted.
func testModelsMethodsKeysOutliveRetention(t *testing.T, open Opener) {
	s := open(t, Options{MaxHistory: 1})
	ctx := context.Background()
	base := RollupBase()
	for _, x := range FixedExchanges {
		MustRecord(t, s, RecordOf(t, x, base))
	}
	MustFlush(t, s)
	// Retention keeps one record; the lists still know the others.
	prune(t, s)
	if n := MustCount(t, s); n != 1 {
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
	if err != nil || st.TotalRequests != int64(len(FixedExchanges)) {
		t.Errorf("Stats after retention = %+v, %v; want every record counted", st, err)
	}
}
