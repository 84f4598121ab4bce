package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// fixture is a store holding a small, known set of records, and their ids
// by name.
type fixture struct {
	s    *sqlite.SQLite
	base time.Time
	ids  map[string]string // name → id
	name map[string]string // id → name
}

// alice and bob are two users' key hashes.
var (
	alice = store.Viewer{KeyHash: "alice"}
	bob   = store.Viewer{KeyHash: "bob"}
)

// newFixture stores six records, a1…a3 of alice, b1 and b2 of bob and
// n1 made without a key, one minute apart starting at base.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		s:    MustOpenTemp(t, sqlite.Options{}),
		base: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		ids:  map[string]string{},
		name: map[string]string{},
	}
	put := func(name, key string, edit func(r *capture.Record)) {
		rec := storetest.NewRecord(t, key)
		rec.Start = f.base.Add(time.Duration(len(f.ids)) * time.Minute)
		rec.KeyMask = "mask-" + key
		edit(rec)
		f.ids[name], f.name[rec.ID] = rec.ID, name
		storetest.MustRecord(t, f.s, rec)
	}
	put("a1", "alice", func(r *capture.Record) {
		r.Model, r.ModelRequested = "openai/gpt-4o", "openai/gpt-4o"
		r.Content = "The answer is 42"
		r.ReqBodyStored = []byte(`{"messages":[{"content":"Hello World"}]}`)
	})
	put("a2", "alice", func(r *capture.Record) {
		r.Method, r.URL, r.Path = "GET", "/v1/models", "/models"
		r.RespBodyStored = []byte(`{"data":[{"id":"x","note":"discount 50% off"}]}`)
	})
	put("a3", "alice", func(r *capture.Record) {
		r.Status, r.Outcome = 429, capture.OutcomeUpstreamError
		r.ModelRequested = "anthropic/claude"
		r.Error = `rate limited by C:\quota`
	})
	put("b1", "bob", func(r *capture.Record) {
		r.Status, r.Outcome = 500, capture.OutcomeUpstreamError
		r.Model = "openai/gpt-4o"
		r.ReqBodyStored = []byte(`{"prompt":"bob secret prompt 500"}`)
	})
	put("b2", "bob", func(r *capture.Record) {
		r.Outcome = capture.OutcomeStreamError // a 200 that failed mid-stream
		r.Model = "meta/llama"
		r.Content = "partial"
	})
	put("n1", "", func(r *capture.Record) {
		r.Method = "post"
		r.Status, r.Outcome = 0, capture.OutcomeProxyError
		r.Error = "upstream unreachable"
	})
	storetest.MustFlush(t, f.s)
	return f
}

// list returns the names of the records List finds for filter, newest
// first, checking that the total agrees with Count.
func (f *fixture) list(t *testing.T, filter store.Filter) []string {
	t.Helper()
	recs, total, err := f.s.List(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, rec := range recs {
		names = append(names, f.name[rec.ID])
	}
	if total != int64(len(recs)) && filter.Limit == 0 && filter.Offset == 0 {
		t.Errorf("List total = %d, but %d records", total, len(recs))
	}
	n, err := f.s.Count(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	if n != total {
		t.Errorf("Count = %d, List total = %d", n, total)
	}
	return names
}

// names returns its arguments, newest first as List orders them.
func names(ns ...string) []string {
	out := slices.Clone(ns)
	slices.Reverse(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func TestVisibility(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	tests := []struct {
		name    string
		viewer  store.Viewer
		records []string // oldest first
		models  []string
		methods []string
	}{
		{"Admin", admin, []string{"a1", "a2", "a3", "b1", "b2", "n1"},
			[]string{"anthropic/claude", "meta/llama", "openai/gpt-4o"}, []string{"GET", "POST"}},
		{"Alice", alice, []string{"a1", "a2", "a3"},
			[]string{"anthropic/claude", "openai/gpt-4o"}, []string{"GET", "POST"}},
		{"Bob", bob, []string{"b1", "b2"},
			[]string{"meta/llama", "openai/gpt-4o"}, []string{"POST"}},
		{"UnknownKey", store.Viewer{KeyHash: "mallory"}, nil, nil, nil},
		{"NoKeyFailsClosed", store.Viewer{}, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := f.list(t, store.Filter{Viewer: tt.viewer}), names(tt.records...); !slices.Equal(got, want) {
				t.Errorf("List = %v, want %v", got, want)
			}

			st, err := f.s.Stats(ctx, store.Filter{Viewer: tt.viewer}, f.base.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if st.TotalRequests != int64(len(tt.records)) {
				t.Errorf("Stats.TotalRequests = %d, want %d", st.TotalRequests, len(tt.records))
			}

			if got, err := f.s.Models(ctx, tt.viewer); err != nil {
				t.Fatal(err)
			} else if !slices.Equal(got, tt.models) {
				t.Errorf("Models = %q, want %q", got, tt.models)
			}
			if got, err := f.s.Methods(ctx, tt.viewer); err != nil {
				t.Fatal(err)
			} else if !slices.Equal(got, tt.methods) {
				t.Errorf("Methods = %q, want %q", got, tt.methods)
			}

			wantLast := ""
			if len(tt.records) > 0 {
				wantLast = f.ids[tt.records[len(tt.records)-1]]
			}
			if got, err := f.s.LastID(ctx, tt.viewer); err != nil {
				t.Fatal(err)
			} else if got != wantLast {
				t.Errorf("LastID = %q (%s), want %q", got, f.name[got], wantLast)
			}

			for name, id := range f.ids {
				rec, err := f.s.Get(ctx, id, tt.viewer)
				visible := slices.Contains(tt.records, name)
				switch {
				case visible && err != nil:
					t.Errorf("Get(%s) = %v, want the record", name, err)
				case visible && rec.ID != id:
					t.Errorf("Get(%s) returned %s", name, rec.ID)
				case !visible && !errors.Is(err, store.ErrNotFound):
					t.Errorf("Get(%s) = %v, want ErrNotFound", name, err)
				}
			}
		})
	}

	t.Run("KeyFilterCannotWiden", func(t *testing.T) {
		for _, v := range []store.Viewer{alice, {}} {
			if got := f.list(t, store.Filter{Viewer: v, KeyHash: "bob"}); len(got) != 0 {
				t.Errorf("viewer %q with key filter bob sees %v", v.KeyHash, got)
			}
		}
		if got := f.list(t, store.Filter{Viewer: alice, IDs: []string{f.ids["b1"], f.ids["a1"]}}); !slices.Equal(got, names("a1")) {
			t.Errorf("alice with bob's id in IDs sees %v, want [a1]", got)
		}
	})

	t.Run("HiddenLooksMissing", func(t *testing.T) {
		_, hidden := f.s.Get(ctx, f.ids["b1"], alice)
		_, missing := f.s.Get(ctx, f.ids["b1"], bob)
		if missing != nil {
			t.Fatal(missing)
		}
		_, missing = f.s.Get(ctx, "no-such-id", alice)
		if got, want := strings.ReplaceAll(hidden.Error(), f.ids["b1"], "ID"), strings.ReplaceAll(missing.Error(), "no-such-id", "ID"); got != want {
			t.Errorf("hidden record's error %q differs from a missing one's %q", got, want)
		}
	})

	t.Run("Keys", func(t *testing.T) {
		keys, err := f.s.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.KeyInfo{
			{Hash: "bob", Mask: "mask-bob", Requests: 2, LastSeen: f.base.Add(4 * time.Minute)},
			{Hash: "alice", Mask: "mask-alice", Requests: 3, LastSeen: f.base.Add(2 * time.Minute)},
		}
		if len(keys) != len(want) {
			t.Fatalf("Keys = %+v, want %+v", keys, want)
		}
		for i := range want {
			if keys[i].Hash != want[i].Hash || keys[i].Mask != want[i].Mask ||
				keys[i].Requests != want[i].Requests || !keys[i].LastSeen.Equal(want[i].LastSeen) {
				t.Errorf("Keys[%d] = %+v, want %+v", i, keys[i], want[i])
			}
		}
	})
}

func TestFilter(t *testing.T) {
	f := newFixture(t)
	at := func(min int) time.Time { return f.base.Add(time.Duration(min) * time.Minute) }

	tests := []struct {
		name   string
		filter store.Filter
		want   []string // oldest first
	}{
		{"All", store.Filter{}, []string{"a1", "a2", "a3", "b1", "b2", "n1"}},
		{"KeyHash", store.Filter{KeyHash: "bob"}, []string{"b1", "b2"}},

		{"SearchContent", store.Filter{Search: "answer is"}, []string{"a1"}},
		{"SearchRequestBodyIgnoresCase", store.Filter{Search: "hello world"}, []string{"a1"}},
		{"SearchResponseBody", store.Filter{Search: "DISCOUNT"}, []string{"a2"}},
		{"SearchURL", store.Filter{Search: "/v1/models"}, []string{"a2"}},
		{"SearchMethod", store.Filter{Search: "get"}, []string{"a2"}},
		{"SearchModel", store.Filter{Search: "llama"}, []string{"b2"}},
		{"SearchModelRequested", store.Filter{Search: "claude"}, []string{"a3"}},
		{"SearchError", store.Filter{Search: "unreachable"}, []string{"n1"}},
		{"SearchPercentIsLiteral", store.Filter{Search: "50%"}, []string{"a2"}},        // b1's body has "500"
		{"SearchUnderscoreIsLiteral", store.Filter{Search: "gpt_4o"}, []string{}},      // not "gpt-4o"
		{"SearchBackslashIsLiteral", store.Filter{Search: `C:\quota`}, []string{"a3"}}, // and not an escape
		{"SearchNothing", store.Filter{Search: "no such text"}, []string{}},

		{"StatusSuccess", store.Filter{Status: store.StatusSuccess}, []string{"a1", "a2"}},
		{"StatusError", store.Filter{Status: store.StatusError}, []string{"a3", "b1", "b2", "n1"}},
		{"Status2xx", store.Filter{Status: store.Status2xx}, []string{"a1", "a2", "b2"}},
		{"Status4xx", store.Filter{Status: store.Status4xx}, []string{"a3"}},
		{"Status5xx", store.Filter{Status: store.Status5xx}, []string{"b1"}},

		{"ModelServedOrRequested", store.Filter{Model: "openai/gpt-4o"}, []string{"a1", "b1"}},
		{"ModelRequested", store.Filter{Model: "anthropic/claude"}, []string{"a3"}},
		{"ModelIsExact", store.Filter{Model: "openai"}, []string{}},

		{"MethodIgnoresCase", store.Filter{Method: "Post"}, []string{"a1", "a3", "b1", "b2", "n1"}},
		{"MethodGet", store.Filter{Method: "get"}, []string{"a2"}},

		{"FromInclusive", store.Filter{From: at(4)}, []string{"b2", "n1"}},
		{"ToExclusive", store.Filter{To: at(2)}, []string{"a1", "a2"}},
		{"FromTo", store.Filter{From: at(1), To: at(3)}, []string{"a2", "a3"}},
		{"FromOtherZone", store.Filter{From: at(4).In(time.FixedZone("X", -5*3600))}, []string{"b2", "n1"}},

		{"IDs", store.Filter{IDs: []string{f.ids["b1"], f.ids["a1"], "no-such-id"}}, []string{"a1", "b1"}},
		{"IDsEmpty", store.Filter{IDs: []string{}}, []string{}},

		{"Combined", store.Filter{Viewer: alice, Status: store.StatusError}, []string{"a3"}},
		{"CombinedSearchModel", store.Filter{Search: "o", Model: "openai/gpt-4o", Status: store.Status5xx}, []string{"b1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.filter.Viewer == (store.Viewer{}) {
				tt.filter.Viewer = admin
			}
			if got, want := f.list(t, tt.filter), names(tt.want...); !slices.Equal(got, want) {
				t.Errorf("List = %v, want %v", got, want)
			}
		})
	}

	t.Run("ManyIDs", func(t *testing.T) {
		// More ids than SQLite allows bound variables.
		ids := make([]string, 40000)
		for i := range ids {
			ids[i] = fmt.Sprintf("id-%d", i)
		}
		ids[123], ids[39999] = f.ids["a2"], f.ids["n1"]
		if got, want := f.list(t, store.Filter{Viewer: admin, IDs: ids}), names("a2", "n1"); !slices.Equal(got, want) {
			t.Errorf("List = %v, want %v", got, want)
		}
	})

	t.Run("Page", func(t *testing.T) {
		recs, total, err := f.s.List(context.Background(), store.Filter{Viewer: admin, Status: store.StatusError, Limit: 2, Offset: 1})
		if err != nil {
			t.Fatal(err)
		}
		if total != 4 || len(recs) != 2 || f.name[recs[0].ID] != "b2" || f.name[recs[1].ID] != "b1" {
			t.Errorf("page: total %d, %d records", total, len(recs))
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		ctx := context.Background()
		for _, filter := range []store.Filter{
			{Viewer: admin, Status: "3xx"},
			{Viewer: admin, Status: "SUCCESS"},
			{Viewer: admin, Limit: -1},
			{Viewer: admin, Offset: -1},
		} {
			if _, _, err := f.s.List(ctx, filter); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("List(%+v) = %v, want ErrInvalid", filter, err)
			}
			if _, err := f.s.Count(ctx, filter); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Count(%+v) = %v, want ErrInvalid", filter, err)
			}
			if _, err := f.s.Stats(ctx, filter, time.Now()); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Stats(%+v) = %v, want ErrInvalid", filter, err)
			}
		}
	})
}

func TestStats(t *testing.T) {
	s := MustOpenTemp(t, sqlite.Options{})
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
		rec := storetest.NewRecord(t, "alice")
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
		storetest.MustRecord(t, s, rec)
	}
	// Another key's record, huge in every way, must not count for alice.
	other := storetest.NewRecord(t, "bob")
	other.Start, other.Duration, other.TotalTokens, other.Cost = now, time.Hour, 1e6, 100
	storetest.MustRecord(t, s, other)
	storetest.MustFlush(t, s)

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
	if !statsEqual(got, want) {
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
		if got.TotalRequests != 21 || got.TotalTokens != 300+1e6 || !withinHist(got.P95DurationMs, 200) {
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

// near reports whether x equals y but for floating-point rounding.
func near(x, y float64) bool { return math.Abs(x-y) <= 1e-9*max(1, math.Abs(y)) }

// withinHist reports whether a percentile read from a histogram is within
// the histograms' stated error of the exact one.
func withinHist(got, exact float64) bool {
	return math.Abs(got-exact) <= store.HistRelativeError*exact+1e-9
}

// statsEqual compares Stats, allowing rounding in the float fields and the
// histograms' error in the percentiles.
func statsEqual(a, b store.Stats) bool {
	floats := near(a.SuccessRate, b.SuccessRate) && near(a.ErrorRate, b.ErrorRate) && near(a.AvgDurationMs, b.AvgDurationMs) &&
		near(a.AvgTTFTMs, b.AvgTTFTMs) && near(a.TotalCost, b.TotalCost) && near(a.TokensPerSecond, b.TokensPerSecond) &&
		withinHist(a.P50DurationMs, b.P50DurationMs) && withinHist(a.P95DurationMs, b.P95DurationMs) &&
		withinHist(a.P99DurationMs, b.P99DurationMs) && withinHist(a.P50TTFTMs, b.P50TTFTMs) && withinHist(a.P95TTFTMs, b.P95TTFTMs)
	for _, s := range []*store.Stats{&a, &b} {
		s.SuccessRate, s.ErrorRate, s.AvgDurationMs, s.AvgTTFTMs, s.TotalCost, s.TokensPerSecond = 0, 0, 0, 0, 0, 0
		s.P50DurationMs, s.P95DurationMs, s.P99DurationMs, s.P50TTFTMs, s.P95TTFTMs = 0, 0, 0, 0, 0
	}
	return floats && a == b
}

func TestLastID(t *testing.T) {
	t.Run("IndexOnly", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "proxy.db")
		MustOpen(t, path, sqlite.Options{})
		db, err := sql.Open("sqlite3", path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, v := range []store.Viewer{admin, alice} {
			query, args := sqlite.LastIDSQL(v)
			rows, err := db.Query("EXPLAIN QUERY PLAN "+query, args...)
			if err != nil {
				t.Fatal(err)
			}
			var plan []string
			for rows.Next() {
				var id, parent, notused int
				var detail string
				if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			rows.Close()
			if len(plan) != 1 || !strings.Contains(plan[0], "COVERING INDEX") {
				t.Errorf("viewer %+v: plan %q, want one covering index step", v, plan)
			}
		}
	})

	t.Run("FollowsNewRecords", func(t *testing.T) {
		s := MustOpenTemp(t, sqlite.Options{})
		ctx := context.Background()
		if id, err := s.LastID(ctx, admin); err != nil || id != "" {
			t.Fatalf("LastID of an empty store = %q, %v", id, err)
		}
		var last string
		for range 3 {
			rec := storetest.NewRecord(t, "alice")
			last = rec.ID
			storetest.MustRecord(t, s, rec)
			storetest.MustFlush(t, s)
			if id, err := s.LastID(ctx, alice); err != nil || id != last {
				t.Fatalf("LastID = %q, %v; want %q", id, err, last)
			}
		}
		storetest.MustRecord(t, s, storetest.NewRecord(t, "bob"))
		storetest.MustFlush(t, s)
		if id, err := s.LastID(ctx, alice); err != nil || id != last {
			t.Fatalf("LastID after bob's record = %q, %v; want alice's %q", id, err, last)
		}
		for key, want := range map[string]bool{"alice": true, "bob": true, "carol": false, "": false} {
			if got, err := s.HasKey(ctx, key); err != nil || got != want {
				t.Errorf("HasKey(%q) = %v, %v; want %v", key, got, err, want)
			}
		}
	})
}
