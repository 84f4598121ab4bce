package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres/pgtest"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// TestSearchBodies: bodies are bytes, which PostgreSQL's text cannot hold
// as they are. Search reads them as SQLite does (a literal substring,
// ASCII letters folded, up to the first NUL), whatever they hold, and text
// that PostgreSQL cannot store (invalid UTF-8, NUL) is stored cleaned
// rather than losing its record.
func TestSearchBodies(t *testing.T) {
	s := MustOpen(t, pgtest.Start(t).NewDatabase(t), postgres.Options{})
	ctx := context.Background()
	bodies := map[string][]byte{
		"nul":    []byte("before\x00AFTER"),
		"binary": []byte("\xff\xfe Hello \x80 World"),
		"utf8":   []byte(`{"q":"Grüße 100%_done \\ ok"}`),
	}
	ids := map[string]string{}
	for name, body := range bodies {
		rec := storetest.NewRecord(t, "k")
		rec.ReqBodyStored = body
		ids[rec.ID] = name
		storetest.MustRecord(t, s, rec)
	}
	bad := storetest.NewRecord(t, "k")
	bad.Error, bad.URL = "bad \xff byte", "/v1/x\x00y"
	ids[bad.ID] = "badtext"
	storetest.MustRecord(t, s, bad)
	storetest.MustFlush(t, s)

	for _, tt := range []struct {
		search string
		want   []string
	}{
		{"BEFORE", []string{"nul"}},
		{"after", nil}, // after the NUL: SQLite's LIKE does not read it
		{"hello \x80 world", []string{"binary"}},
		{"\xff\xfe", []string{"binary"}},
		{"GRÜ", nil}, // only ASCII letters fold
		{"Grüße", []string{"utf8"}},
		{"100%_done \\", []string{"utf8"}},
		{"%", []string{"utf8"}},
		{"_", []string{"utf8"}},
		{"x\x00y", nil},
		{"bad \uFFFD byte", []string{"badtext"}},
	} {
		recs, n, err := s.List(ctx, store.Filter{Viewer: store.Viewer{Admin: true}, Search: tt.search})
		if err != nil {
			t.Fatalf("Search %q: %v", tt.search, err)
		}
		var got []string
		for _, r := range recs {
			got = append(got, ids[r.ID])
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) || n != int64(len(tt.want)) {
			t.Errorf("Search %q = %v (total %d), want %v", tt.search, got, n, tt.want)
		}
	}
	got, err := s.Get(ctx, bad.ID, store.Viewer{Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	if got.Error != "bad \uFFFD byte" || got.URL != "/v1/xy" {
		t.Errorf("stored error %q, URL %q; want the invalid byte replaced and the NUL dropped", got.Error, got.URL)
	}
}
