package sqlite_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// pendingRow is what Filter.Matches sees of a record: the fields an
// exchange in flight already has.
type pendingRow struct {
	name, id, keyHash, method, model, path string
	start                                  time.Time
}

// newMatchFixture stores records whose searchable text lies only in the
// fields Matches sees (path, model, method), so Matches and List must
// agree on them. It returns the store and the rows, oldest first.
func newMatchFixture(t *testing.T, base time.Time) (*sqlite.SQLite, []pendingRow) {
	t.Helper()
	s := MustOpenTemp(t, sqlite.Options{})
	var rows []pendingRow
	put := func(name, key, method, path, model string, start time.Time) {
		rec := storetest.NewRecord(t, key)
		rec.Method, rec.Path, rec.URL, rec.ModelRequested, rec.Start = method, path, "/v1"+path, model, start
		if len(rows)%2 == 0 {
			rec.Model = model // served and requested model agree
		}
		rows = append(rows, pendingRow{name, rec.ID, key, method, model, path, start})
		storetest.MustRecord(t, s, rec) // the store owns rec from here
	}
	put("a-chat", "alice", "POST", "/chat/completions", "openai/gpt-4o", base)
	put("a-models", "alice", "GET", "/models", "", base.Add(time.Minute))
	put("a-files", "alice", "post", "/files/Über_Data", "Mistral/Large", base.Add(2*time.Minute))
	// Stored at microsecond precision: the 500 ns are lost.
	put("b-chat", "bob", "POST", "/chat/completions", "meta/llama", base.Add(3*time.Minute+500))
	put("b-embed", "bob", "POST", "/embeddings", "openai/text-embedding-3", base.Add(4*time.Minute))
	put("n-chat", "", "POST", "/chat/completions", "", base.Add(5*time.Minute))
	storetest.MustFlush(t, s)
	return s, rows
}

func TestFilterMatchesAgreesWithList(t *testing.T) {
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s, rows := newMatchFixture(t, base)
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

// TestFilterMatchesPendingOnly checks the conditions a row not yet stored
// cannot meet, although stored records do.
func TestFilterMatchesPendingOnly(t *testing.T) {
	base := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	s, rows := newMatchFixture(t, base)
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
