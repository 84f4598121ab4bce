package search

import (
	"context"
	"fmt"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Request is one search.
type Request struct {
	Query  *Query       // the parsed search text
	Viewer store.Viewer // who asks: the visibility rule is built from this alone
	Filter store.Filter // the dashboard's other filters (status, model, method, key, time); its Search is ignored
	Offset int
	Limit  int
	// Relevance sorts by score first; otherwise newest first.
	Relevance bool
	// Facets asks for the models and statuses of all the matches.
	Facets bool
}

// Facet is one value of a field among the matches, and how many have it.
type Facet struct {
	Value string
	Count int
}

// Result is a page of matches.
type Result struct {
	IDs      []string // the page, in order
	Total    uint64   // all matches
	Models   []Facet  // with Request.Facets: the models of all matches, most first
	Statuses []Facet  // with Request.Facets: their statuses
	Took     time.Duration
}

// maxFacets bounds the values a facet lists.
const maxFacets = 50

// Search runs r. It returns ErrNotReady while the index is being built,
// and a *QueryError for a query that cannot run.
func (ix *Index) Search(ctx context.Context, r Request) (Result, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if ix.bi == nil {
		return Result{}, ErrNotReady
	}
	q, err := r.Query.Bleve(r.Viewer, r.Filter)
	if err != nil {
		return Result{}, err
	}
	return run(ctx, ix.bi, q, r)
}

// run searches bi with q, paged, sorted and faceted as r asks.
func run(ctx context.Context, bi bleve.Index, q query.Query, r Request) (Result, error) {
	req := bleve.NewSearchRequestOptions(q, max(r.Limit, 0), max(r.Offset, 0), false)
	if r.Relevance {
		req.SortBy([]string{"-_score", "-" + FieldTime})
	} else {
		req.SortBy([]string{"-" + FieldTime})
	}
	if r.Facets {
		req.AddFacet(FieldModel, bleve.NewFacetRequest(FieldModel, maxFacets))
		req.AddFacet(FieldStatus, bleve.NewFacetRequest(FieldStatus, maxFacets))
	}
	res, err := bi.SearchInContext(ctx, req)
	if err != nil {
		return Result{}, fmt.Errorf("search: %w", err)
	}
	out := Result{Total: res.Total, Took: res.Took, IDs: make([]string, len(res.Hits))}
	for i, h := range res.Hits {
		out.IDs[i] = h.ID
	}
	if f := res.Facets[FieldModel]; f != nil && f.Terms != nil {
		for _, t := range f.Terms.Terms() {
			out.Models = append(out.Models, Facet{t.Term, t.Count})
		}
	}
	if f := res.Facets[FieldStatus]; f != nil && f.Terms != nil {
		for _, t := range f.Terms.Terms() {
			out.Statuses = append(out.Statuses, Facet{t.Term, t.Count})
		}
	}
	return out, nil
}
