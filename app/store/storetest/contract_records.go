package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

func testGet(t *testing.T, open Opener) {
	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t, Options{})

		// want holds exactly the fields the store keeps.
		want := capture.Record{
			ID:               NewID(t),
			Start:            time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC),
			Method:           "POST",
			URL:              "/v1/chat/completions?x=1",
			Path:             "/chat/completions",
			Query:            "x=1",
			ReqBody:          capture.Body{Size: 70000},
			ClientAddr:       "127.0.0.1:5555",
			Status:           200,
			RespBody:         capture.Body{Size: 90000},
			TTFB:             12345678 * time.Nanosecond,
			Duration:         1234567891 * time.Nanosecond,
			Attempts:         2,
			Analyzed:         true,
			KeyHash:          strings.Repeat("ab", 32),
			KeyMask:          "sk-or-v1…a1b2",
			ReqHeaderJSON:    `{"Content-Type":["application/json"],"Authorization":["[redacted]"]}`,
			RespHeaderJSON:   `{"Content-Type":["text/event-stream"]}`,
			ReqBodyStored:    []byte{0xff, 0xfe, 0x00, 'x', 0xc3, 0x28, 0x80},
			RespBodyStored:   []byte("data: {\"a\":1}\n\n\x00\xff"),
			RespTruncated:    true,
			ReqTruncated:     true,
			Stream:           true,
			ModelRequested:   "openai/gpt-4o",
			Model:            "openai/gpt-4o-2024-08-06",
			Content:          "Hello, 世界",
			Reasoning:        "thinking…",
			ToolCallsJSON:    `[{"id":"c1","function":{"name":"f","arguments":"{}"}}]`,
			FinishReason:     "tool_calls",
			GenerationID:     "gen-123",
			PromptTokens:     11,
			CompletionTokens: 22,
			TotalTokens:      33,
			CachedTokens:     4,
			ReasoningTokens:  5,
			Cost:             0.00123,
			UpstreamCost:     0.001,
			HasUsage:         true,
			TTFT:             23456789 * time.Nanosecond,
			Outcome:          capture.OutcomeStreamError,
			Error:            "upstream said no",
		}
		// The proxy's raw fields that are not stored ride along.
		in := want
		in.Start = want.Start.In(time.FixedZone("X", 3600))
		in.APIKey = "sk-or-v1-secret"
		in.ReqHeader = map[string][]string{"Authorization": {"Bearer sk-or-v1-secret"}}
		in.Marks = capture.Marks{{Offset: 1, At: time.Millisecond}}
		in.ProxyErr = "x"
		MustRecord(t, s, &in)
		MustFlush(t, s)

		got, err := s.Get(context.Background(), want.ID, admin)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Start.Equal(want.Start) {
			t.Errorf("Start = %v, want %v", got.Start, want.Start)
		}
		got.Start = want.Start
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("Get =\n%+v\nwant\n%+v", *got, want)
		}
		if !bytes.Equal(got.ReqBodyStored, want.ReqBodyStored) {
			t.Errorf("body = %x, want %x", got.ReqBodyStored, want.ReqBodyStored)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t, Options{})
		_, err := s.Get(context.Background(), NewID(t), admin)
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func testList(t *testing.T, open Opener) {
	s := open(t, Options{})
	byKey := map[string][]string{}
	for i := range 30 {
		key := []string{"alice", "bob", "carol"}[i%3]
		rec := NewRecord(t, key)
		rec.ReqBodyStored = []byte("secret body")
		byKey[key] = append(byKey[key], rec.ID)
		MustRecord(t, s, rec)
	}
	MustFlush(t, s)
	for _, ids := range byKey {
		slices.Sort(ids)
		slices.Reverse(ids) // newest first
	}

	tests := []struct {
		name   string
		filter store.Filter
		want   []string
		total  int64
	}{
		{"Key", store.Filter{Viewer: admin, KeyHash: "bob"}, byKey["bob"], 10},
		{"KeyPage", store.Filter{Viewer: admin, KeyHash: "alice", Limit: 3, Offset: 2}, byKey["alice"][2:5], 10},
		{"KeyOffsetOnly", store.Filter{Viewer: admin, KeyHash: "carol", Offset: 8}, byKey["carol"][8:], 10},
		{"UnknownKey", store.Filter{Viewer: admin, KeyHash: "mallory"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, total, err := s.List(context.Background(), tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, rec := range recs {
				if rec.KeyHash != tt.filter.KeyHash {
					t.Errorf("record %s of key %q in %q's list", rec.ID, rec.KeyHash, tt.filter.KeyHash)
				}
				if rec.ReqBodyStored != nil || rec.ReqHeaderJSON != "" {
					t.Errorf("List returned the body or headers of %s", rec.ID)
				}
				got = append(got, rec.ID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
			if total != tt.total {
				t.Errorf("total = %d, want %d", total, tt.total)
			}
		})
	}

	t.Run("AllKeys", func(t *testing.T) {
		recs, total, err := s.List(context.Background(), store.Filter{Viewer: admin, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if total != 30 || len(recs) != 5 {
			t.Fatalf("%d records, total %d; want 5, 30", len(recs), total)
		}
		if !slices.IsSortedFunc(recs, func(a, b *capture.Record) int { return strings.Compare(b.ID, a.ID) }) {
			t.Fatal("not newest first")
		}
	})
}

func testVisibility(t *testing.T, open Opener) {
	f := newFixture(t, open, Options{})
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

func testFilter(t *testing.T, open Opener) {
	f := newFixture(t, open, Options{})
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

// pendingRow is what Filter.Matches sees of a record: the fields an
// exchange in flight already has.
type pendingRow struct {
	name, id, keyHash, method, model, path string
	start                                  time.Time
}

// newMatchFixture stores records whose searchable text lies only in the
// fields Matches sees (path, model, method), so Matches and List must
// agree on them. It returns the store and the rows, oldest first.
func newMatchFixture(t *testing.T, open Opener, base time.Time) (store.Store, []pendingRow) {
	t.Helper()
	s := open(t, Options{})
	var rows []pendingRow
	put := func(name, key, method, path, model string, start time.Time) {
		rec := NewRecord(t, key)
		rec.Method, rec.Path, rec.URL, rec.ModelRequested, rec.Start = method, path, "/v1"+path, model, start
		if len(rows)%2 == 0 {
			rec.Model = model // served and requested model agree
		}
		rows = append(rows, pendingRow{name, rec.ID, key, method, model, path, start})
		MustRecord(t, s, rec) // the store owns rec from here
	}
	put("a-chat", "alice", "POST", "/chat/completions", "openai/gpt-4o", base)
	put("a-models", "alice", "GET", "/models", "", base.Add(time.Minute))
	put("a-files", "alice", "post", "/files/Über_Data", "Mistral/Large", base.Add(2*time.Minute))
	// Stored at microsecond precision: the 500 ns are lost.
	put("b-chat", "bob", "POST", "/chat/completions", "meta/llama", base.Add(3*time.Minute+500))
	put("b-embed", "bob", "POST", "/embeddings", "openai/text-embedding-3", base.Add(4*time.Minute))
	put("n-chat", "", "POST", "/chat/completions", "", base.Add(5*time.Minute))
	MustFlush(t, s)
	return s, rows
}

func testFilterMatchesAgreesWithList(t *testing.T, open Opener) {
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s, rows := newMatchFixture(t, open, base)
	at := func(d time.Duration) time.Time { return base.Add(d) }

	tests := []struct {
		name   string
		filter store.Filter
		want   []string // oldest first
	}{
		{"Admin", store.Filter{Viewer: admin}, []string{"a-chat", "a-models", "a-files", "b-chat", "b-embed", "n-chat"}},
		{"Alice", store.Filter{Viewer: alice}, []string{"a-chat", "a-models", "a-files"}},
		{"Bob", store.Filter{Viewer: bob}, []string{"b-chat", "b-embed"}},
		{"UnknownKey", store.Filter{Viewer: store.Viewer{KeyHash: "mallory"}}, nil},
		{"NoKeyFailsClosed", store.Filter{Viewer: store.Viewer{}}, nil},
		{"AdminPicksKey", store.Filter{Viewer: admin, KeyHash: "bob"}, []string{"b-chat", "b-embed"}},
		{"KeyFilterCannotWiden", store.Filter{Viewer: alice, KeyHash: "bob"}, nil},
		{"NoKeyCannotPickKey", store.Filter{Viewer: store.Viewer{}, KeyHash: "alice"}, nil},
		{"Model", store.Filter{Viewer: admin, Model: "openai/gpt-4o"}, []string{"a-chat"}},
		{"ModelRequestedOnly", store.Filter{Viewer: admin, Model: "Mistral/Large"}, []string{"a-files"}},
		{"ModelIsCaseSensitive", store.Filter{Viewer: admin, Model: "mistral/large"}, nil},
		{"MethodIgnoresCase", store.Filter{Viewer: alice, Method: "POST"}, []string{"a-chat", "a-files"}},
		{"MethodLowerCase", store.Filter{Viewer: admin, Method: "get"}, []string{"a-models"}},
		{"SearchPath", store.Filter{Viewer: alice, Search: "CHAT"}, []string{"a-chat"}},
		{"SearchModel", store.Filter{Viewer: admin, Search: "gpt"}, []string{"a-chat"}},
		{"SearchMethod", store.Filter{Viewer: admin, Search: "Get"}, []string{"a-models"}},
		{"SearchSpansFields", store.Filter{Viewer: admin, Search: "openai"}, []string{"a-chat", "b-embed"}},
		{"SearchFoldsOnlyASCII", store.Filter{Viewer: admin, Search: "über"}, nil},
		{"SearchNonASCII", store.Filter{Viewer: admin, Search: "Über_dATA"}, []string{"a-files"}},
		{"SearchUnderscoreIsLiteral", store.Filter{Viewer: admin, Search: "r_d"}, []string{"a-files"}},
		{"SearchPercentIsLiteral", store.Filter{Viewer: admin, Search: "%"}, nil},
		{"SearchNoKeyFailsClosed", store.Filter{Viewer: store.Viewer{}, Search: "chat"}, nil},
		{"FromInclusive", store.Filter{Viewer: admin, From: at(4 * time.Minute)}, []string{"b-embed", "n-chat"}},
		{"ToExclusive", store.Filter{Viewer: admin, To: at(time.Minute)}, []string{"a-chat"}},
		{"FromToWindow", store.Filter{Viewer: admin, From: at(time.Minute), To: at(3 * time.Minute)}, []string{"a-models", "a-files"}},
		// b-chat started at 3m+500ns and is stored as 3m.
		{"FromInsideStoredMicrosecond", store.Filter{Viewer: admin, From: at(3*time.Minute + 700)}, []string{"b-chat", "b-embed", "n-chat"}},
		{"ToInsideStoredMicrosecond", store.Filter{Viewer: admin, From: at(3 * time.Minute), To: at(3*time.Minute + 700)}, nil},
		{"Combined", store.Filter{Viewer: alice, Method: "post", Search: "/", From: at(time.Minute)}, []string{"a-files"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, _, err := s.List(context.Background(), tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			listed := []string{}
			for _, rec := range recs {
				listed = append(listed, rec.ID)
			}
			slices.Sort(listed) // UUIDv7: oldest first, as rows

			matched, names := []string{}, []string{}
			for _, r := range rows {
				if tt.filter.Matches(r.keyHash, r.method, r.model, r.path, r.start) {
					matched, names = append(matched, r.id), append(names, r.name)
				}
			}
			if !slices.Equal(listed, matched) {
				t.Errorf("Matches keeps %v, List returns %v", names, nameOf(rows, listed))
			}
			if !slices.Equal(names, tt.want) && len(names)+len(tt.want) > 0 {
				t.Errorf("Matches keeps %v, want %v", names, tt.want)
			}
		})
	}
}

// testFilterMatchesPendingOnly checks the conditions a row not yet stored
// cannot meet, although stored records do.
func testFilterMatchesPendingOnly(t *testing.T, open Opener) {
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s, rows := newMatchFixture(t, open, base)
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.id)
	}
	filters := map[string]store.Filter{
		"Status" + store.StatusSuccess: {Viewer: admin, Status: store.StatusSuccess},
		"Status" + store.Status2xx:     {Viewer: admin, Status: store.Status2xx},
		"IDs":                          {Viewer: admin, IDs: ids},
	}
	for name, f := range filters {
		t.Run(name, func(t *testing.T) {
			if n, err := s.Count(context.Background(), f); err != nil || n == 0 {
				t.Fatalf("Count = %d, %v: want stored records to match", n, err)
			}
			for _, r := range rows {
				if f.Matches(r.keyHash, r.method, r.model, r.path, r.start) {
					t.Errorf("Matches(%s) = true, want false for a row not yet stored", r.name)
				}
			}
		})
	}
	t.Run("UnknownStatus", func(t *testing.T) {
		f := store.Filter{Viewer: admin, Status: "3xx"}
		if _, err := s.Count(context.Background(), f); err == nil {
			t.Error("Count accepts status 3xx")
		}
		if f.Matches(rows[0].keyHash, rows[0].method, rows[0].model, rows[0].path, rows[0].start) {
			t.Error("Matches accepts status 3xx")
		}
	})
}

// nameOf returns the names of the rows with the given ids.
func nameOf(rows []pendingRow, ids []string) []string {
	var out []string
	for _, id := range ids {
		i := slices.IndexFunc(rows, func(r pendingRow) bool { return r.id == id })
		out = append(out, rows[i].name)
	}
	return out
}

func testEach(t *testing.T, open Opener) {
	// Two records a page, so that every view spans pages and the keyset
	// from one page to the next is exercised.
	f := newFixture(t, open, Options{EachPageRows: 2, EachPageBytes: 1 << 30})
	at := func(min int) time.Time { return f.base.Add(time.Duration(min) * time.Minute) }

	tests := []struct {
		name   string
		filter store.Filter
		ids    []string // names for filter.IDs
		want   []string // oldest first
	}{
		{"Admin", store.Filter{Viewer: admin}, nil, []string{"a1", "a2", "a3", "b1", "b2", "n1"}},
		{"Alice", store.Filter{Viewer: alice}, nil, []string{"a1", "a2", "a3"}},
		{"Bob", store.Filter{Viewer: bob}, nil, []string{"b1", "b2"}},
		{"UnknownKey", store.Filter{Viewer: store.Viewer{KeyHash: "mallory"}}, nil, nil},
		{"NoKeyFailsClosed", store.Filter{}, nil, nil},
		{"KeyFilterCannotWiden", store.Filter{Viewer: alice, KeyHash: "bob"}, nil, nil},
		{"KeyFilterCannotWidenNoKey", store.Filter{Viewer: store.Viewer{}, KeyHash: "bob"}, nil, nil},
		{"OthersIDsStayHidden", store.Filter{Viewer: alice}, []string{"b1", "a1"}, []string{"a1"}},
		{"AdminKeyFilter", store.Filter{Viewer: admin, KeyHash: "bob"}, nil, []string{"b1", "b2"}},
		{"StatusError", store.Filter{Viewer: admin, Status: store.StatusError}, nil, []string{"a3", "b1", "b2", "n1"}},
		{"Status4xxAlice", store.Filter{Viewer: alice, Status: store.Status4xx}, nil, []string{"a3"}},
		{"Model", store.Filter{Viewer: admin, Model: "openai/gpt-4o"}, nil, []string{"a1", "b1"}},
		{"MethodIgnoringCase", store.Filter{Viewer: admin, Method: "post"}, nil, []string{"a1", "a3", "b1", "b2", "n1"}},
		{"Search", store.Filter{Viewer: admin, Search: "50%"}, nil, []string{"a2"}},
		{"TimeRange", store.Filter{Viewer: admin, From: at(1), To: at(4)}, nil, []string{"a2", "a3", "b1"}},
		{"LimitAndOffsetIgnored", store.Filter{Viewer: admin, Limit: 1, Offset: 2}, nil, []string{"a1", "a2", "a3", "b1", "b2", "n1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, name := range tt.ids {
				tt.filter.IDs = append(tt.filter.IDs, f.ids[name])
			}
			got, _ := f.each(t, tt.filter)
			if want := names(tt.want...); !slices.Equal(got, want) {
				t.Errorf("Each = %v, want %v", got, want)
			}
			list := tt.filter
			list.Limit, list.Offset = 0, 0
			if want := f.list(t, list); !slices.Equal(got, want) {
				t.Errorf("Each = %v, List = %v", got, want)
			}
		})
	}

	t.Run("FullRecords", func(t *testing.T) {
		_, recs := f.each(t, store.Filter{Viewer: admin})
		a1 := recs["a1"]
		if got, want := string(a1.ReqBodyStored), `{"messages":[{"content":"Hello World"}]}`; got != want {
			t.Errorf("a1 body = %q, want %q", got, want)
		}
		if a1.Content != "The answer is 42" || a1.Model != "openai/gpt-4o" || a1.KeyMask != "mask-alice" || !a1.Start.Equal(at(0)) {
			t.Errorf("a1 = content %q, model %q, mask %q, start %v", a1.Content, a1.Model, a1.KeyMask, a1.Start)
		}
		if got, want := string(recs["a2"].RespBodyStored), `{"data":[{"id":"x","note":"discount 50% off"}]}`; got != want {
			t.Errorf("a2 response body = %q, want %q", got, want)
		}
		if got := recs["a3"].Error; got != `rate limited by C:\quota` {
			t.Errorf("a3 error = %q", got)
		}
	})

	t.Run("PagesEndAtTheByteBudget", func(t *testing.T) {
		// Every record is past the budget alone: a page of one each.
		f := newFixture(t, open, Options{EachPageRows: 100, EachPageBytes: 1})
		got, _ := f.each(t, store.Filter{Viewer: admin})
		if want := names("a1", "a2", "a3", "b1", "b2", "n1"); !slices.Equal(got, want) {
			t.Errorf("Each = %v, want %v", got, want)
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		calls := 0
		err := f.s.Each(context.Background(), store.Filter{Viewer: admin, Status: "3xx"}, func(*capture.Record) error { calls++; return nil })
		if !errors.Is(err, store.ErrInvalid) || calls != 0 {
			t.Errorf("Each(status 3xx) = %v after %d calls, want ErrInvalid after none", err, calls)
		}
	})

	t.Run("StopsAtFnError", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := f.s.Each(context.Background(), store.Filter{Viewer: admin}, func(*capture.Record) error {
			calls++
			if calls == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 3 {
			t.Errorf("Each = %v after %d calls, want stop after 3", err, calls)
		}
	})
}

// testEachCancelled checks that a cancelled export stops reading: fn is
// not called again once the context is done, whether it ends mid-page or
// at a page's end, and Each returns the context's error.
func testEachCancelled(t *testing.T, open Opener) {
	f := newFixture(t, open, Options{EachPageRows: 2, EachPageBytes: 1 << 30})
	for _, after := range []int{0, 1, 2, 3} {
		ctx, cancel := context.WithCancel(context.Background())
		if after == 0 {
			cancel()
		}
		calls := 0
		err := f.s.Each(ctx, store.Filter{Viewer: admin}, func(*capture.Record) error {
			calls++
			if calls == after {
				cancel()
			}
			return nil
		})
		cancel()
		if !errors.Is(err, context.Canceled) || calls != after {
			t.Errorf("cancelled after %d records: Each = %v after %d calls, want context.Canceled", after, err, calls)
		}
	}
}

func testExisting(t *testing.T, open Opener) {
	s := open(t, Options{})
	var stored []string
	for range 3 {
		rec := NewRecord(t, "")
		stored = append(stored, rec.ID)
		MustRecord(t, s, rec)
	}
	MustFlush(t, s)

	t.Run("SomePresent", func(t *testing.T) {
		ask := []string{NewID(t), stored[0], stored[2], NewID(t), stored[0]}
		got, err := s.Existing(context.Background(), ask)
		if err != nil {
			t.Fatal(err)
		}
		if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, slices.Sorted(slices.Values([]string{stored[0], stored[2]}))) {
			t.Errorf("Existing = %v, want %v and %v", keys, stored[0], stored[2])
		}
	})

	t.Run("MoreThanOneQueryHolds", func(t *testing.T) {
		// 2 500 ids take three of SQLite's queries of 1 000; the stored
		// ones sit in the first, second and third of them.
		ask := make([]string, 2500)
		for i := range ask {
			ask[i] = NewID(t)
		}
		ask[10], ask[1500], ask[2499] = stored[0], stored[1], stored[2]
		got, err := s.Existing(context.Background(), ask)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || !got[stored[0]] || !got[stored[1]] || !got[stored[2]] {
			t.Errorf("Existing = %v, want the 3 stored ids", got)
		}
	})

	t.Run("NoIDs", func(t *testing.T) {
		got, err := s.Existing(context.Background(), nil)
		if err != nil || len(got) != 0 {
			t.Errorf("Existing(nil) = %v, %v; want empty, nil", got, err)
		}
	})
}

func testLastID(t *testing.T, open Opener) {
	t.Run("FollowsNewRecords", func(t *testing.T) {
		s := open(t, Options{})
		ctx := context.Background()
		if id, err := s.LastID(ctx, admin); err != nil || id != "" {
			t.Fatalf("LastID of an empty store = %q, %v", id, err)
		}
		var last string
		for range 3 {
			rec := NewRecord(t, "alice")
			last = rec.ID
			MustRecord(t, s, rec)
			MustFlush(t, s)
			if id, err := s.LastID(ctx, alice); err != nil || id != last {
				t.Fatalf("LastID = %q, %v; want %q", id, err, last)
			}
		}
		MustRecord(t, s, NewRecord(t, "bob"))
		MustFlush(t, s)
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

func testProviderStored(t *testing.T, open Opener) {
	s := open(t, Options{})
	rec := NewRecord(t, "alice")
	rec.Provider = "Google Vertex"
	MustRecord(t, s, rec)
	MustFlush(t, s)
	got, err := s.Get(context.Background(), rec.ID, alice)
	if err != nil || got.Provider != "Google Vertex" {
		t.Fatalf("Get = %+v, %v; want provider Google Vertex", got, err)
	}
	recs, _, err := s.List(context.Background(), store.Filter{Viewer: alice, Provider: "Google Vertex", Search: "chat"})
	if err != nil || len(recs) != 1 || recs[0].Provider != "Google Vertex" {
		t.Fatalf("List by provider = %v, %v", recs, err)
	}
}
