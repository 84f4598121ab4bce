package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// fixture is a store holding a small, known set of records, and their ids
// by name.
type fixture struct {
	s    store.Store
	base time.Time
	ids  map[string]string // name → id
	name map[string]string // id → name
}

// newFixture stores six records, a1…a3 of alice, b1 and b2 of bob and
// n1 made without a key, one minute apart starting at base, in a store
// opened with opts.
func newFixture(t *testing.T, open Opener, opts Options) *fixture {
	t.Helper()
	f := &fixture{
		s:    open(t, opts),
		base: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		ids:  map[string]string{},
		name: map[string]string{},
	}
	put := func(name, key string, edit func(r *capture.Record)) {
		rec := NewRecord(t, key)
		rec.Start = f.base.Add(time.Duration(len(f.ids)) * time.Minute)
		rec.KeyMask = "mask-" + key
		edit(rec)
		f.ids[name], f.name[rec.ID] = rec.ID, name
		MustRecord(t, f.s, rec)
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
	MustFlush(t, f.s)
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

// each returns the names of the records Each hands over for filter, in
// order, and the records by name.
func (f *fixture) each(t *testing.T, filter store.Filter) ([]string, map[string]*capture.Record) {
	t.Helper()
	got := []string{}
	recs := map[string]*capture.Record{}
	err := f.s.Each(context.Background(), filter, func(rec *capture.Record) error {
		got = append(got, f.name[rec.ID])
		recs[f.name[rec.ID]] = rec
		return nil
	})
	if err != nil {
		t.Fatalf("Each: %v", err)
	}
	return got, recs
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
