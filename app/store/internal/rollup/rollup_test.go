package rollup_test

import (
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/internal/rollup"
)

func TestFloorDiv(t *testing.T) {
	for _, tc := range []struct{ a, b, want int64 }{
		{7, 3, 2}, {6, 3, 2}, {0, 3, 0}, {-1, 3, -1}, {-3, 3, -1}, {-4, 3, -2},
	} {
		if got := rollup.FloorDiv(tc.a, tc.b); got != tc.want {
			t.Errorf("FloorDiv(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestBucketOf(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	for _, tc := range []struct {
		grain int64
		want  time.Time
	}{
		{rollup.Minute, time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)},
		{rollup.Hour, time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)},
		{rollup.Day, time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)},
	} {
		if got := rollup.BucketOf(at, tc.grain); got != tc.want.Unix() {
			t.Errorf("BucketOf(%v, %d) = %v, want %v", at, tc.grain, time.Unix(got, 0).UTC(), tc.want)
		}
	}
	// Before 1970 a bucket still starts at or before the time.
	if got := rollup.BucketOf(time.Unix(-1, 0), rollup.Minute); got != -60 {
		t.Errorf("BucketOf(-1s, minute) = %d, want -60", got)
	}
}

func TestKeptAndThinning(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	lv := rollup.Kept(now)
	want := rollup.Levels{
		MinuteFrom: time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC).Unix(),
		HourFrom:   time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC).Unix(),
	}
	if lv != want {
		t.Fatalf("Kept = %+v, want %+v", lv, want)
	}
	th := lv.Thinning()
	if len(th) != 2 || th[0].Grain != rollup.Minute || th[0].Before != lv.MinuteFrom ||
		th[1].Grain != rollup.Hour || th[1].Before != lv.HourFrom {
		t.Fatalf("Thinning = %+v", th)
	}
}

func TestLevelsFor(t *testing.T) {
	lv := rollup.Levels{MinuteFrom: 7200, HourFrom: 3600}
	all := []rollup.Level{{Grain: rollup.Day, From: rollup.MinMicro}, {Grain: rollup.Hour, From: 3600e6}, {Grain: rollup.Minute, From: 7200e6}}
	for _, tc := range []struct {
		name string
		step int64
		want []rollup.Level
	}{
		{"any step", 0, all},
		{"days", 2 * rollup.Day, all},
		{"hours", 3 * rollup.Hour, all[1:]},
		{"minutes", 5 * rollup.Minute, all[2:]},
		{"odd", 90, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rollup.LevelsFor(lv, tc.step); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("LevelsFor(%d) = %+v, want %+v", tc.step, got, tc.want)
			}
		})
	}
	if got := rollup.LevelsFor(rollup.AllLevels, 0); got[1].From != rollup.MinMicro || got[2].From != rollup.MinMicro {
		t.Errorf("LevelsFor(AllLevels) = %+v, want every grain from the beginning", got)
	}
}

func TestPlan(t *testing.T) {
	const (
		m = int64(rollup.Minute) * 1e6
		h = int64(rollup.Hour) * 1e6
		d = int64(rollup.Day) * 1e6
	)
	all := rollup.LevelsFor(rollup.AllLevels, 0)
	for _, tc := range []struct {
		name string
		a, b int64
		lv   []rollup.Level
		want []rollup.Part
	}{
		{"empty", 5, 5, all, nil},
		{"no levels", 1, 9, nil, []rollup.Part{{From: 1, To: 9, Ragged: true}}},
		{"whole day", 0, d, all, []rollup.Part{{Grain: rollup.Day, From: 0, To: d}}},
		{"ragged edges", d - h - m - 1, 2*d + h + m + 1, all, []rollup.Part{
			{Grain: rollup.Day, From: d, To: 2 * d},
			{Grain: rollup.Hour, From: d - h, To: d},
			{Grain: rollup.Minute, From: d - h - m, To: d - h},
			{From: d - h - m - 1, To: d - h - m, Ragged: true},
			{Grain: rollup.Hour, From: 2 * d, To: 2*d + h},
			{Grain: rollup.Minute, From: 2*d + h, To: 2*d + h + m},
			{From: 2*d + h + m, To: 2*d + h + m + 1, Ragged: true},
		}},
		{"minutes compacted", 0, 2 * m, []rollup.Level{{Grain: rollup.Minute, From: m}}, []rollup.Part{
			{Grain: rollup.Minute, From: m, To: 2 * m},
			{From: 0, To: m, Ragged: true},
		}},
		{"unbounded", rollup.MinMicro, rollup.MaxMicro, all, []rollup.Part{
			{Grain: rollup.Day, From: rollup.MinMicro, To: rollup.MaxMicro},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rollup.Plan(tc.a, tc.b, tc.lv, nil)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Plan(%d, %d) =\n%+v\nwant\n%+v", tc.a, tc.b, got, tc.want)
			}
			// The parts cover [a, b) once.
			slices.SortFunc(got, func(x, y rollup.Part) int { return int(min(max(x.From-y.From, -1), 1)) })
			at := tc.a
			for _, p := range got {
				if p.From != at {
					t.Fatalf("gap or overlap at %d: %+v", at, got)
				}
				at = p.To
			}
			if tc.a < tc.b && at != tc.b {
				t.Fatalf("parts end at %d, want %d", at, tc.b)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	a, b := rollup.Window(store.Filter{})
	if a != rollup.MinMicro || b != rollup.MaxMicro {
		t.Fatalf("Window of no bounds = %d, %d", a, b)
	}
	from := time.Date(2026, 1, 2, 3, 4, 5, 6789, time.UTC)
	a, _ = rollup.Window(store.Filter{From: from})
	if got := rollup.FromMicro(a); !got.Equal(from.Truncate(time.Microsecond)) {
		t.Fatalf("FromMicro(Window(From)) = %v, want %v", got, from)
	}
	if !rollup.FromMicro(rollup.MaxMicro).IsZero() {
		t.Fatal("FromMicro(MaxMicro) is not zero")
	}
}

// record returns a record of the sums tests.
func record(start time.Time, ok bool, dur, ttft time.Duration, completion int64) *capture.Record {
	r := &capture.Record{Start: start, KeyHash: "k", KeyMask: "sk-…k", Model: "m", Method: "POST", Status: 200,
		Outcome: capture.OutcomeOK, Duration: dur, TTFB: ttft, TTFT: ttft, Stream: ttft > 0,
		PromptTokens: 10, CompletionTokens: completion, TotalTokens: 10 + completion, Cost: 0.5}
	if !ok {
		r.Outcome, r.Status = capture.Outcome("upstream_error"), 502
	}
	return r
}

func TestSums(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var a, b rollup.Sums
	a.Add(record(at, true, 2*time.Second, 500*time.Millisecond, 30))
	a.Add(record(at, false, time.Second, 0, 0))
	b.Add(record(at, true, 4*time.Second, time.Second, 60))
	a.Merge(&b)
	if a.Requests != 3 || a.OK != 2 || a.Prompt != 30 || a.Completion != 90 || a.Total != 120 || a.Cost != 1.5 {
		t.Fatalf("sums = %+v", a)
	}
	if a.TTFTCount != 2 || a.TTFTMs != 1500 || a.GenTokens != 90 || a.GenMs != 1500+3000 {
		t.Fatalf("stream sums = %+v", a)
	}
	s := a.Summary()
	if s.Errors != 1 || math.Abs(s.ErrorRate-100.0/3) > 1e-9 || s.AvgDurationMs != 7000.0/3 || s.AvgTTFTMs != 750 ||
		s.TokensPerSecond != 90/4.5 {
		t.Fatalf("summary = %+v", s)
	}
	if rel := math.Abs(s.P99DurationMs-4000) / 4000; rel > store.HistRelativeError {
		t.Fatalf("p99 = %v, want 4000 within %v", s.P99DurationMs, store.HistRelativeError)
	}
	st := rollup.StatsOf(s, 7)
	if st.TotalRequests != 3 || st.SuccessCount != 2 || st.RecentRequests != 7 || math.Abs(st.SuccessRate-200.0/3) > 1e-9 {
		t.Fatalf("stats = %+v", st)
	}
	if args := a.AppendArgs(nil); len(args) != len(rollup.SumCols)+len(rollup.HistCols) {
		t.Fatalf("AppendArgs gives %d values for %d columns", len(args), len(rollup.SumCols)+len(rollup.HistCols))
	}
}

func TestBatch(t *testing.T) {
	at := time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC)
	b := rollup.NewBatch(nil)
	lv := rollup.Levels{MinuteFrom: at.Add(time.Hour).Unix(), HourFrom: math.MinInt64}
	b.Add(record(at, true, time.Second, 0, 1), lv)
	b.Add(record(at.Add(time.Minute), false, time.Second, 0, 1), lv)
	other := record(at, true, time.Second, 0, 1)
	other.KeyHash, other.KeyMask = "k2", "sk-…2"
	b.Add(other, lv)

	// Minute rows are below lv's bound: hour and day rows only, two
	// outcomes of key k and one of k2 each.
	if len(b.Rows) != 6 {
		t.Fatalf("rows = %d, want 6: %+v", len(b.Rows), b.Rows)
	}
	for k := range b.Rows {
		if k.Grain == rollup.Minute {
			t.Fatalf("minute row %+v below the levels", k)
		}
	}
	if len(b.Totals) != 6 {
		t.Fatalf("totals = %d, want 6", len(b.Totals))
	}
	// Summed over the keys, k's and k2's ok rows are one.
	dims := b.DimsRows()
	if len(dims) != 4 {
		t.Fatalf("dims rows = %d, want 4", len(dims))
	}
	var n int64
	for k, s := range dims {
		if k.KeyHash != "" {
			t.Fatalf("dims row %+v has a key", k)
		}
		n += s.Requests
	}
	if n != 6 {
		t.Fatalf("dims rows count %d records, want 6 (3 at two grains)", n)
	}
	if k := b.Keys["k"]; k == nil || k.Requests != 2 || k.Last != "2026-01-01T10:31:00.000000Z" {
		t.Fatalf("key k = %+v", k)
	}

	keys := rollup.SortedKeys(b.Rows)
	if !slices.IsSortedFunc(keys, rollup.CompareKeys) || keys[0].Grain != rollup.Hour || keys[len(keys)-1].Grain != rollup.Day {
		t.Fatalf("SortedKeys = %+v", keys)
	}
	for _, tr := range b.ByTable() {
		for k := range tr.Rows {
			if got := len(tr.KeyArgs(nil, k)); got != len(tr.KeyCols()) || got != len(tr.KeyDests(&k)) {
				t.Fatalf("%s: %d key args for %d key columns", tr.Name, got, len(tr.KeyCols()))
			}
		}
	}
}

func TestBatchClean(t *testing.T) {
	b := rollup.NewBatch(func(s string) string { return "<" + s + ">" })
	b.Add(record(time.Unix(0, 0), true, time.Second, 0, 1), rollup.AllLevels)
	for k := range b.Rows {
		if k.KeyHash != "<k>" || k.Model != "<m>" || k.Method != "<POST>" {
			t.Fatalf("key %+v not cleaned", k)
		}
	}
	if b.Keys["<k>"] == nil {
		t.Fatalf("keys %+v not cleaned", b.Keys)
	}
}

func TestTableFor(t *testing.T) {
	admin, user := store.Viewer{Admin: true}, store.Viewer{KeyHash: "k"}
	for _, tc := range []struct {
		name string
		f    store.Filter
		g    rollup.Grouping
		want string
	}{
		{"totals", store.Filter{Viewer: user, Status: store.StatusError}, rollup.OneGroup, "rollup_totals"},
		{"admin by model", store.Filter{Viewer: admin}, rollup.Groupings[store.ByModel], "rollup_dims"},
		{"admin by key", store.Filter{Viewer: admin, Model: "m"}, rollup.Groupings[store.ByKey], "rollups"},
		{"admin of a key", store.Filter{Viewer: admin, KeyHash: "k", Model: "m"}, rollup.OneGroup, "rollups"},
		{"user by status", store.Filter{Viewer: user, Status: store.Status5xx}, rollup.OneGroup, "rollups"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rollup.TableFor(tc.f, tc.g); got != tc.want {
				t.Errorf("TableFor = %s, want %s", got, tc.want)
			}
		})
	}
}
