package search

import (
	"context"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// The index keeps no word positions (see newMapping), so it finds a
// phrase as all its words in one field, in any order. The word order is
// checked here, against the text in SQLite, with the matcher that
// highlights hits: the candidates are read newest first (or by score), a
// chunk at a time, and those whose text does not hold the phrase in order
// are dropped, as are those that hold an excluded phrase.
//
// Checking costs a read of each candidate's text, so it is bounded.
// Candidates are checked until the page is full, at most verifyBudget of
// them (as many as it takes with Request.All, for an export), and past
// that only while fewer than verifyExact were checked, so that a small set
// of matches gets an exact total. When candidates remain unchecked, the page is still
// exact (it is made of checked candidates), but the total is an estimate
// from the share of checked candidates that held, and Result.Approx says
// so.

const (
	// verifyChunk is how many candidates are read and checked at a time,
	// after a first chunk sized to the page.
	verifyChunk = 200
	// verifyExact is how many candidates are checked, page full or not,
	// for an exact total.
	verifyExact = 100
	// verifyBudget bounds the candidates one search checks.
	verifyBudget = 1000
)

// ordered reports whether t's word order must be checked against the
// text: it is a phrase of two or more words (or Chinese or Japanese
// character pairs).
func (t Term) ordered() bool {
	return t.Phrase && len(analyzeText(t.Text)) >= 2
}

// checks returns the phrases of q whose order the index cannot check: those
// every match holds, and those no match holds.
func (q *Query) checks() (must, not []Term) {
	if q == nil {
		return nil, nil
	}
	for _, t := range q.Text {
		if t.ordered() {
			must = append(must, t)
		}
	}
	for _, t := range q.Exclude {
		if t.ordered() {
			not = append(not, t)
		}
	}
	return must, not
}

// textFieldsOf returns the texts of a record as the index's text fields
// hold them: the request's new turns, the reply, the error.
func textFieldsOf(t store.Texts) [len(textFields)]string {
	return [...]string{requestText(t.Request), responseText(t.Content, t.Reasoning, t.ToolCalls), t.Error}
}

// holds reports whether a record whose text fields are these has every
// phrase of must, each within one field, and none of not.
func holds(fields [len(textFields)]string, must, not []Term) bool {
	in := func(term Term) bool {
		for _, f := range fields {
			if f != "" && HighlightSpans(f, []Term{term}) != nil {
				return true
			}
		}
		return false
	}
	for _, term := range must {
		if !in(term) {
			return false
		}
	}
	for _, term := range not {
		if in(term) {
			return false
		}
	}
	return true
}

// responseText joins the parts of a reply the index holds as one field.
func responseText(parts ...string) string {
	var b strings.Builder
	for _, s := range parts {
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(s)
	}
	return b.String()
}

// verified runs q, whose candidates the index finds, and keeps those
// whose text holds the phrases of must and none of not, paged as r asks.
func (ix *Index) verified(ctx context.Context, bi bleve.Index, q query.Query, r Request, must, not []Term) (Result, error) {
	want := max(r.Offset, 0) + max(r.Limit, 0)
	kept := []string{} // not nil: an empty page is still a page of ids
	checked, candidates := 0, uint64(0)
	for (r.All || checked < verifyBudget) && (len(kept) < want || checked < verifyExact) {
		n := verifyChunk
		if checked == 0 {
			// Most candidates hold: a first chunk a little larger than
			// the page usually fills it.
			n = max(want+want/2, verifyExact)
		}
		chunk := r
		chunk.Offset, chunk.Limit, chunk.Facets = checked, n, false
		if !r.All {
			chunk.Limit = min(n, verifyBudget-checked)
		}
		res, err := run(ctx, bi, q, chunk)
		if err != nil {
			return Result{}, err
		}
		candidates = res.Total
		if len(res.IDs) == 0 {
			break
		}
		texts, err := ix.opts.Source.Texts(ctx, res.IDs, r.Viewer)
		if err != nil {
			return Result{}, err
		}
		for _, id := range res.IDs {
			if t, ok := texts[id]; ok && holds(textFieldsOf(t), must, not) {
				kept = append(kept, id)
			}
		}
		checked += len(res.IDs)
		if uint64(checked) >= candidates {
			break
		}
	}
	out := Result{Total: uint64(len(kept))}
	switch {
	case checked == 0 && candidates > 0:
		// None could be read: the candidates are all that is known.
		out.Approx, out.Total = true, candidates
	case uint64(checked) < candidates:
		// Not all were checked: estimate the rest by the share that held.
		out.Approx = true
		out.Total = uint64(len(kept)) + uint64(float64(candidates-uint64(checked))*float64(len(kept))/float64(checked))
	}
	lo, hi := min(max(r.Offset, 0), len(kept)), min(want, len(kept))
	out.IDs = kept[lo:hi]
	if r.Facets {
		// Facets of the checked matches when they are all there are, else
		// of every candidate.
		fq := q
		if !out.Approx {
			fq = query.NewDocIDQuery(kept)
			if len(kept) == 0 {
				return out, nil
			}
		}
		fr := r
		fr.Offset, fr.Limit, fr.Relevance = 0, 0, false
		res, err := run(ctx, bi, fq, fr)
		if err != nil {
			return Result{}, err
		}
		out.Models, out.Statuses, out.Outcomes = res.Models, res.Statuses, res.Outcomes
	}
	return out, nil
}
