package search

import (
	"context"
	"slices"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

// TestPhraseOrderChecked: the index holds no positions, so a phrase is a
// candidate when all its words are in one field; Search keeps only the
// records whose text has them in order, counts exactly, and facets the
// kept ones. An excluded phrase drops only the records that hold it in
// order.
func TestPhraseOrderChecked(t *testing.T) {
	w := newWorld(t, sqlite.Options{})
	inOrder := w.record("the rate limit was hit")
	reversed := w.record("limit the rate, please")
	split := w.record("rate of change; limit")
	cjk := w.record("我们去北京开会")
	cjkApart := w.record("北京和京都") // 北京 and 京都, never 北京都
	w.sync()
	admin := store.Viewer{Admin: true}
	ids := func(s string) ([]string, Result) {
		t.Helper()
		q, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		res, err := w.ix.Search(context.Background(), Request{Query: q, Viewer: admin, Limit: 10, Facets: true})
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Clone(res.IDs)
		slices.Sort(got)
		return got, res
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }

	got, res := ids(`"rate limit"`)
	if want := []string{inOrder.ID}; !slices.Equal(got, want) || res.Total != 1 || res.Approx {
		t.Errorf(`"rate limit": got %v total %d approx %v, want %v total 1 exact`, got, res.Total, res.Approx, want)
	}
	if len(res.Models) != 1 || res.Models[0].Count != 1 {
		t.Errorf(`"rate limit": facets %+v, want the one kept match`, res.Models)
	}
	got, res = ids(`rate -"rate limit"`)
	if want := sorted(reversed.ID, split.ID); !slices.Equal(got, want) || res.Total != 2 {
		t.Errorf(`rate -"rate limit": got %v total %d, want %v`, got, res.Total, want)
	}
	got, _ = ids(`北京`)
	if want := sorted(cjk.ID, cjkApart.ID); !slices.Equal(got, want) {
		t.Errorf("北京: got %v, want %v", got, want)
	}
	got, _ = ids(`"北京开会"`)
	if want := []string{cjk.ID}; !slices.Equal(got, want) {
		t.Errorf("北京开会: got %v, want %v", got, want)
	}
	if got, res = ids(`北京都`); len(got) != 0 || res.Total != 0 {
		t.Errorf("北京都: got %v total %d, want none (%s holds its pairs, not the word)", got, res.Total, cjkApart.ID)
	}
}

// TestPhraseCheckBudget: with more candidates than verifyBudget, the page
// is still made of checked matches, newest first, and the total is an
// estimate marked Approx.
func TestPhraseCheckBudget(t *testing.T) {
	w := newWorld(t, sqlite.Options{})
	var want []string // newest first
	for i := range verifyBudget + 300 {
		text := "limit then rate"
		if i%2 == 0 {
			text = "rate limit"
		}
		rec := w.raw(text)
		w.commit(rec)
		if i%2 == 0 {
			want = append([]string{rec.ID}, want...)
		}
	}
	w.sync()
	q, err := Parse(`"rate limit"`)
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.ix.Search(context.Background(), Request{Query: q, Viewer: store.Viewer{Admin: true}, Offset: 20, Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.IDs, want[20:40]) {
		t.Errorf("page 2: got %v\nwant %v", res.IDs, want[20:40])
	}
	// Half of the 1300 candidates hold the phrase: the estimate is 650.
	if !res.Approx || res.Total < 600 || res.Total > 700 {
		t.Errorf("total %d approx %v, want about %d, marked approximate", res.Total, res.Approx, len(want))
	}
}
