package search

import "github.com/blevesearch/bleve/v2/mapping"

// NewMapping exposes the production mapping to the external tests.
func NewMapping() mapping.IndexMapping { return newMapping() }

// TimeTerm and SeqTerm expose how documents hold their time and sequence.
var (
	TimeTerm = timeTerm
	SeqTerm  = seqTerm
)

// HoldsOrder reports whether a document with these text fields (request,
// response, error) passes the word-order checks Index.Search makes of q's
// phrases after the Bleve query.
func HoldsOrder(q *Query, req, resp, errText string) bool {
	must, not := q.checks()
	return holds([len(textFields)]string{req, resp, errText}, must, not)
}
