package search

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Request is one search.
type Request struct {
	Query  *Query       // the parsed search text
	Viewer store.Viewer // who asks: the visibility rule is built from this alone
	Filter store.Filter // the dashboard's other filters (status, model, provider, method, key, time); its Search is ignored
	Offset int
	Limit  int
	// Relevance sorts by score first; otherwise newest first.
	Relevance bool
	// Facets asks for the models and statuses of all the matches.
	Facets bool
	// All checks a phrase's word order on as many candidates as it takes
	// to fill the page, beyond the budget a dashboard page gets (see
	// verify.go): a page shorter than Limit is then the last. For an
	// export, which must hold every match.
	All bool
}

// Facet is one value of a field among the matches, and how many have it.
type Facet struct {
	Value string
	Count int
}

// Result is a page of matches.
type Result struct {
	IDs   []string // the page, in order
	Total uint64   // all matches
	// Approx is true when Total is an estimate: a phrase's word order is
	// checked on at most verifyBudget candidates (see verify.go).
	Approx   bool
	Models   []Facet // with Request.Facets: the models of all matches (served, else requested), most first
	Statuses []Facet // with Request.Facets: their statuses
	Outcomes []Facet // with Request.Facets: their outcomes (ok, upstream_error, …)
	Took     time.Duration
}

// maxFacets bounds the values a facet lists.
const maxFacets = 50

// maxExpansion bounds the index terms one prefix or fuzzy word may expand
// to, so that one short word cannot make a search slow. Bleve's bound is a
// package setting; this package is its only user.
const maxExpansion = 1024

func init() { searcher.DisjunctionMaxClauseCount = maxExpansion }

// Search runs r. It returns ErrNotReady while the index is being built,
// and a *QueryError for a query that cannot run. A word whose prefix or
// fuzzy forms would expand to more than maxExpansion terms is searched
// with fewer forms (first without the prefix, then exactly), rather than
// refused: a short common prefix is what people type first.
func (ix *Index) Search(ctx context.Context, r Request) (Result, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.bi == nil {
		return Result{}, ErrNotReady
	}
	var res Result
	var err error
	for _, narrow := range []func(*Term){nil, noPrefix, exactOnly} {
		q := r.Query
		if narrow != nil {
			q = q.narrowed(narrow)
		}
		var bq query.Query
		if bq, err = q.Bleve(r.Viewer, r.Filter); err != nil {
			return Result{}, err
		}
		if must, not := q.checks(); len(must)+len(not) > 0 {
			res, err = ix.verified(ctx, ix.bi, bq, r, must, not)
		} else {
			res, err = run(ctx, ix.bi, bq, r)
		}
		if err == nil || !strings.Contains(err.Error(), "TooManyClauses") {
			return res, err
		}
	}
	return Result{}, &QueryError{Msg: "This search matches too many different words. Type more of each word."}
}

func noPrefix(t *Term)  { t.Prefix = false }
func exactOnly(t *Term) { t.Prefix, t.Fuzzy = false, false }

// narrowed returns a copy of q with f applied to each of its words.
func (q *Query) narrowed(f func(*Term)) *Query {
	if q == nil {
		return nil
	}
	c := *q
	c.Text = append([]Term(nil), q.Text...)
	for i := range c.Text {
		f(&c.Text[i])
	}
	return &c
}

// run searches bi with q, paged, sorted and faceted as r asks.
func run(ctx context.Context, bi bleve.Index, q query.Query, r Request) (Result, error) {
	if r.Relevance {
		q = scoredByText(q)
	}
	req := bleve.NewSearchRequestOptions(q, max(r.Limit, 0), max(r.Offset, 0), false)
	if r.Relevance {
		req.SortBy([]string{"-_score", "-" + FieldTime})
	} else {
		req.SortBy([]string{"-" + FieldTime})
	}
	if r.Facets {
		// Every term, so that no status or outcome is crowded out by
		// models; each list is capped below.
		req.AddFacet(FieldFacets, bleve.NewFacetRequest(FieldFacets, maxFacetTerms))
	}
	res, err := bi.SearchInContext(ctx, req)
	if err != nil {
		return Result{}, fmt.Errorf("search: %w", err)
	}
	out := Result{Total: res.Total, Took: res.Took, IDs: make([]string, len(res.Hits))}
	for i, h := range res.Hits {
		out.IDs[i] = h.ID
	}
	out.Models, out.Statuses, out.Outcomes = facets(res)
	return out, nil
}

// maxFacetTerms bounds the terms of FieldFacets a search counts and
// returns: far more than the models, statuses and outcomes there are.
const maxFacetTerms = 10_000

// facets splits the terms of FieldFacets among res's models, statuses and
// outcomes, most frequent first, at most maxFacets of each.
func facets(res *bleve.SearchResult) (models, statuses, outcomes []Facet) {
	f := res.Facets[FieldFacets]
	if f == nil || f.Terms == nil {
		return nil, nil, nil
	}
	for _, t := range f.Terms.Terms() {
		for _, to := range []struct {
			prefix string
			list   *[]Facet
		}{{facetModel, &models}, {facetStatus, &statuses}, {facetOutcome, &outcomes}} {
			if v, ok := strings.CutPrefix(t.Term, to.prefix); ok && len(*to.list) < maxFacets {
				*to.list = append(*to.list, Facet{v, t.Count})
			}
		}
	}
	return models, statuses, outcomes
}
