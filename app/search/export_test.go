package search

import "github.com/blevesearch/bleve/v2/mapping"

// NewMapping exposes the production mapping to the external tests.
func NewMapping() mapping.IndexMapping { return newMapping() }

// TimeTerm and SeqTerm expose how documents hold their time and sequence.
var (
	TimeTerm = timeTerm
	SeqTerm  = seqTerm
)
