package sqlite_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

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

func TestEach(t *testing.T) {
	f := newFixture(t)
	at := func(min int) time.Time { return f.base.Add(time.Duration(min) * time.Minute) }
	// Two records a page, so that every view spans pages and the keyset
	// from one page to the next is exercised.
	sqlite.SetEachPage(t, 2, 1<<30)

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
		sqlite.SetEachPage(t, 100, 1)
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

// TestEachCancelled checks that a cancelled export stops reading: fn is
// not called again once the context is done, whether it ends mid-page or
// at a page's end, and Each returns the context's error.
func TestEachCancelled(t *testing.T) {
	f := newFixture(t)
	sqlite.SetEachPage(t, 2, 1<<30)
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
