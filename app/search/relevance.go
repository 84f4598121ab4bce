package search

import (
	"slices"

	"github.com/blevesearch/bleve/v2/search/query"
)

// Keyword fields are indexed without frequencies and norms (SkipFreqNorm),
// and Bleve scores a term found in one as 0 × +Inf = NaN, so any
// conjunction holding such a clause (the visibility rule, a model: or
// status: filter) scores NaN, and relevance order falls back to time. For
// a search by relevance, scoredByText therefore runs the clauses that are
// not text as a Bleve filter, which matches the same documents but is not
// scored.

// scoredByText returns q, a conjunction from Query.Bleve, as a query that
// matches the same documents and is scored by its text clauses alone: they
// are its must clause, and everything else, the visibility rule included,
// is its filter. A q without text clauses, or with nothing else, is
// returned as it is.
func scoredByText(q query.Query) query.Query {
	cq, ok := q.(*query.ConjunctionQuery)
	if !ok {
		return q
	}
	var text, rest []query.Query
	for _, c := range cq.Conjuncts {
		if onTextField(c) {
			text = append(text, c)
		} else {
			rest = append(rest, c)
		}
	}
	if len(text) == 0 || len(rest) == 0 {
		return q
	}
	bq := query.NewBooleanQuery(text, nil, nil)
	bq.AddFilter(query.NewConjunctionQuery(rest))
	return bq
}

// onTextField reports whether q matches words of a text field, as the
// words and phrases of a search do. Exclusions, a BooleanQuery of must-not
// clauses, are not scored, so they count as filters.
func onTextField(q query.Query) bool {
	switch q := q.(type) {
	case *query.DisjunctionQuery:
		return slices.ContainsFunc(q.Disjuncts, onTextField)
	case *query.ConjunctionQuery:
		return slices.ContainsFunc(q.Conjuncts, onTextField)
	case *query.BooleanQuery:
		return false
	case query.FieldableQuery:
		return slices.Contains(textFields[:], q.Field())
	}
	return false
}
