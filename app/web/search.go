package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/search"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/views"
)

// A search is answered by the index when it is ready, and by the store's
// substring scan otherwise. Either way the rows come from the store, with
// the viewer's visibility in the query, and the preview column is cut
// from the store's text of the rows shown: the index holds no text.

// Index is the search index the dashboard asks when a search is given
// (*search.Index). Search returns search.ErrNotReady while the index is
// being built; Watermark changes whenever the index does.
type Index interface {
	Search(ctx context.Context, r search.Request) (search.Result, error)
	Status() search.Status
	Watermark() int64
}

// maxSummed is the most matches the stat cards sum latency, tokens and
// cost over. Summing needs every match's id from the index and a store
// query over them; past this a poll would cost too much, and the cards
// ask for a narrower search instead.
const maxSummed = 10_000

// narrowNote is the tooltip of the cards that are not summed.
const narrowNote = "Too many matches to sum; narrow the search to see these."

// found is one page of the table, from the index or from the store.
type found struct {
	recs  []*capture.Record // the page, in order
	total int64
	// indexed says the index answered; res is then its answer, facets
	// included.
	indexed bool
	res     search.Result
	// notice, when searching from the store, says why.
	notice string
}

// backend names what answered, for the API's search_backend.
func (f found) backend() string {
	if f.indexed {
		return "index"
	}
	return "sql"
}

// searchRequest is the index's request for q: its search and the
// dashboard's other filters, paged from offset.
func (q query) searchRequest(offset, limit int, facets bool) search.Request {
	f := q.filter
	f.Search, f.IDs, f.Limit, f.Offset = "", nil, 0, 0
	return search.Request{
		Query: q.text, Viewer: f.Viewer, Filter: f,
		Offset: offset, Limit: limit, Relevance: q.relevance, Facets: facets,
	}
}

// indexSearch runs r on the index. ok is false when the index cannot
// answer: there is none, it is being built, or it failed (logged); the
// caller then asks the store. A mistake in the search is an error.
func (s *Server) indexSearch(ctx context.Context, r search.Request) (res search.Result, ok bool, err error) {
	if s.Search == nil {
		return search.Result{}, false, nil
	}
	res, err = s.Search.Search(ctx, r)
	switch {
	case err == nil:
		return res, true, nil
	case errors.Is(err, search.ErrNotReady):
		return search.Result{}, false, nil
	case errors.Is(err, store.ErrInvalid), ctx.Err() != nil:
		return search.Result{}, false, err
	default:
		s.Log.Error("search: the index failed; answering from SQL", "err", err)
		return search.Result{}, false, nil
	}
}

// find returns the page of records q asks for: from the index when q
// searches and the index is ready, else from the store.
func (s *Server) find(ctx context.Context, q query) (found, error) {
	if q.searching() {
		res, ok, err := s.indexSearch(ctx, q.searchRequest(q.filter.Offset, q.filter.Limit, true))
		if err != nil {
			return found{}, err
		}
		if ok {
			recs, err := s.records(ctx, q.filter.Viewer, res.IDs)
			if err != nil {
				return found{}, err
			}
			return found{recs: recs, total: int64(res.Total), indexed: true, res: res}, nil
		}
	}
	recs, total, err := s.Store.List(ctx, q.filter)
	if err != nil {
		return found{}, err
	}
	f := found{recs: recs, total: total}
	if q.searching() {
		f.notice = s.fallbackNotice()
	}
	return f, nil
}

// records returns the records with these ids that v may see, in the
// order of ids. A record pruned since the index listed it is left out.
func (s *Server) records(ctx context.Context, v store.Viewer, ids []string) ([]*capture.Record, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	recs, _, err := s.Store.List(ctx, store.Filter{Viewer: v, IDs: ids, Limit: len(ids)})
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*capture.Record, len(recs))
	for _, r := range recs {
		byID[r.ID] = r
	}
	out := make([]*capture.Record, 0, len(recs))
	for _, id := range ids {
		if r := byID[id]; r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// fallbackNotice says why a search is answered by the store.
func (s *Server) fallbackNotice() string {
	const scan = "these results come from a slower full scan, which matches the search exactly as typed."
	if s.Search == nil {
		return "There is no search index; " + scan
	}
	st := s.Search.Status()
	if st.State == search.StateBuilding {
		pct := int64(0)
		if st.Total > 0 {
			pct = min(99, st.Done*100/st.Total)
		}
		return fmt.Sprintf("The search index is being built (%d%%); %s", pct, scan)
	}
	return "The search index is not available; " + scan
}

// summary is what the stat cards show of a set of records.
type summary struct {
	store.Stats
	// summed is false when too many records matched to sum latency,
	// tokens and cost; those fields are then zero.
	summed bool
}

// summarize describes the records q selects. For a search the index
// answered, res is its answer with facets: the total and the success rate
// come from it, and the sums from the store over the ids of every match,
// when there are at most maxSummed.
func (s *Server) summarize(ctx context.Context, q query, f found) (summary, error) {
	if !f.indexed {
		st, err := s.Store.Stats(ctx, q.filter, s.clock())
		return summary{Stats: st, summed: true}, err
	}
	res := f.res
	total := int64(res.Total)
	sum := summary{summed: total <= maxSummed && !res.Approx}
	if sum.summed && total > 0 {
		r := q.searchRequest(0, int(total), false)
		r.Relevance = false
		all, ok, err := s.indexSearch(ctx, r)
		if err != nil {
			return summary{}, err
		}
		if !ok {
			return summary{}, errors.New("search: the index stopped answering")
		}
		if sum.Stats, err = s.Store.Stats(ctx, store.Filter{Viewer: q.filter.Viewer, IDs: all.IDs}, s.clock()); err != nil {
			return summary{}, err
		}
	}
	if !sum.summed {
		// The last hour's count is one more count from the index.
		r := q.searchRequest(0, 0, false)
		r.Filter.From = later(r.Filter.From, s.clock().Add(-recentWindow))
		recent, ok, err := s.indexSearch(ctx, r)
		if err != nil {
			return summary{}, err
		}
		if ok {
			sum.RecentRequests = int64(recent.Total)
		}
	}
	sum.TotalRequests = total
	sum.SuccessCount = 0
	for _, o := range res.Outcomes {
		if o.Value == string(capture.OutcomeOK) {
			sum.SuccessCount = int64(o.Count)
		}
	}
	sum.ErrorCount = total - sum.SuccessCount
	sum.SuccessRate, sum.ErrorRate = 0, 0
	if total > 0 {
		sum.SuccessRate = float64(sum.SuccessCount) * 100 / float64(total)
		sum.ErrorRate = float64(sum.ErrorCount) * 100 / float64(total)
	}
	return sum, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// viewStats is the stat cards' model of sum.
func viewStats(sum summary) views.Stats {
	st := sum.Stats
	v := views.Stats{
		TotalRequests: st.TotalRequests, SuccessRate: st.SuccessRate, AvgResponseMs: st.AvgDurationMs,
		RecentRequests: st.RecentRequests, P95Ms: st.P95DurationMs, TotalTokens: st.TotalTokens, TotalCost: st.TotalCost,
	}
	if !sum.summed {
		v.Narrow = narrowNote
	}
	return v
}

// statusCounts counts the matches of each choice of the status filter,
// from the index's facets.
func statusCounts(res search.Result) map[string]int64 {
	counts := map[string]int64{}
	var total int64
	for _, o := range res.Outcomes {
		total += int64(o.Count)
		if o.Value == string(capture.OutcomeOK) {
			counts[store.StatusSuccess] += int64(o.Count)
		}
	}
	counts[store.StatusError] = total - counts[store.StatusSuccess]
	for _, st := range res.Statuses {
		if len(st.Value) == 3 {
			switch st.Value[0] {
			case '2':
				counts[store.Status2xx] += int64(st.Count)
			case '4':
				counts[store.Status4xx] += int64(st.Count)
			case '5':
				counts[store.Status5xx] += int64(st.Count)
			}
		}
	}
	return counts
}

// The preview column.

// previewLen is about how long a preview is, in characters, and
// previewLead how much of it comes before the first hit.
const (
	previewLen  = 160
	previewLead = 20
)

// maxPreviewScan bounds how much of one text is searched for its first
// hit, so that a page of megabyte-long conversations stays cheap; a text
// whose first hit lies beyond shows its start.
const maxPreviewScan = 256 << 10

// snippet is a short excerpt of a text and where the search's words occur
// in it, as byte offsets into text.
type snippet struct {
	text string
	hits []search.Span
}

// preview is what the preview column shows of one record.
type preview struct {
	request, response snippet
}

// previews cuts the previews of recs from their text in the store.
func (s *Server) previews(ctx context.Context, q query, recs []*capture.Record) (map[string]preview, error) {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	texts, err := s.Store.Texts(ctx, ids, q.filter.Viewer)
	if err != nil {
		return nil, err
	}
	terms := q.text.Terms()
	out := make(map[string]preview, len(texts))
	for id, t := range texts {
		turns := capture.RequestText(t.Request)
		out[id] = preview{
			request:  cutSnippet(terms, lastLine, turns.New, turns.System),
			response: cutSnippet(terms, firstLine, t.Content, t.Reasoning, t.Error),
		}
	}
	return out, nil
}

// Where a text without a hit is shown from.
const (
	firstLine = false
	lastLine  = true
)

// cutSnippet returns an excerpt of the first of texts that has a hit,
// about previewLen characters around its first hit. When none has one, it
// is the start of the first text that is not empty, or of its last line
// when fromLast is set: the last turn of a request.
func cutSnippet(terms []search.Term, fromLast bool, texts ...string) snippet {
	text, at := "", -1
	for _, t := range texts {
		t = strings.ToValidUTF8(t, "\uFFFD")
		if strings.TrimSpace(t) == "" {
			continue
		}
		if text == "" {
			text = t
		}
		if spans := search.HighlightSpans(scanPrefix(t), terms); len(spans) > 0 {
			text, at = t, spans[0].Start
			break
		}
	}
	if text == "" {
		return snippet{hits: []search.Span{}}
	}
	start := 0
	switch {
	case at >= 0:
		start = backRunes(text, at, previewLead)
	case fromLast:
		if i := strings.LastIndexByte(strings.TrimRight(text, " \t\r\n"), '\n'); i >= 0 {
			start = i + 1
		}
	}
	end := forwardRunes(text, start, previewLen)
	var b strings.Builder
	if start > 0 {
		b.WriteString("…")
	}
	collapseSpace(&b, text[start:end])
	if end < len(text) {
		b.WriteString("…")
	}
	out := snippet{text: b.String()}
	out.hits = search.HighlightSpans(out.text, terms)
	if out.hits == nil {
		out.hits = []search.Span{}
	}
	return out
}

// scanPrefix returns at most maxPreviewScan bytes of s, cut at a
// character boundary.
func scanPrefix(s string) string {
	if len(s) <= maxPreviewScan {
		return s
	}
	i := maxPreviewScan
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// backRunes returns the offset up to n characters before at, moved
// forward to the start of a word when there is a space in between.
func backRunes(s string, at, n int) int {
	i := at
	for range n {
		if i == 0 {
			return 0
		}
		_, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
	}
	if i == 0 {
		return 0
	}
	if sp := strings.IndexFunc(s[i:at], unicode.IsSpace); sp >= 0 {
		i += sp
	}
	return i
}

// forwardRunes returns the offset n characters after from, or the end.
func forwardRunes(s string, from, n int) int {
	i := from
	for range n {
		if i >= len(s) {
			return len(s)
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return i
}

// collapseSpace writes s with each run of spaces and control characters
// as one space, and no leading or trailing space.
func collapseSpace(b *strings.Builder, s string) {
	space := false
	n := b.Len()
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space && b.Len() > n {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
}

// viewSnippet is sn in parts, hits marked.
func viewSnippet(sn snippet) views.Snippet {
	var out views.Snippet
	at := 0
	for _, h := range sn.hits {
		if h.Start > at {
			out = append(out, views.SnippetPart{Text: sn.text[at:h.Start]})
		}
		out = append(out, views.SnippetPart{Text: sn.text[h.Start:h.End], Hit: true})
		at = h.End
	}
	if at < len(sn.text) {
		out = append(out, views.SnippetPart{Text: sn.text[at:]})
	}
	return out
}

// The live poll of a search. Its version is the viewer's live version, a
// token of the index's watermark and a digest of what the table shows.
// While neither the live version nor the watermark moved, a poll is
// answered 204 without a query. When the watermark moved, the search runs
// again (once for all the polls of one view), and if what it finds is what
// the poll's table shows, the answer is still 204. So whether a poll
// gets 204 depends only on what the viewer can see, although the
// watermark moves with everyone's traffic; and the watermark itself goes
// out only as a salted hash, which says nothing of how much moved.

// viewState returns the version q's table is current at, bar the digest:
// the live version of what id sees, and for a search how it is answered:
// "~i" and the watermark's token when the index is ready, "~s" when the
// store answers. indexed reports the former.
func (s *Server) viewState(live string, q query) (state string, indexed bool) {
	if !q.searching() {
		return live, false
	}
	if s.Search != nil {
		if st := s.Search.Status(); st.State == search.StateReady {
			return live + "~i" + s.watermarkToken(st.Watermark), true
		}
	}
	return live + "~s", false
}

// watermarkToken hides a watermark behind a hash salted per process.
func (s *Server) watermarkToken(wm int64) string {
	s.saltOnce.Do(func() {
		if _, err := rand.Read(s.salt[:]); err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
	})
	h := sha256.New()
	h.Write(s.salt[:])
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(wm)))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// digest is a short hash of what an indexed table shows: its rows, the
// total and the facets the cards are drawn from.
func digest(f found) string {
	h := fnv.New64a()
	for _, r := range f.recs {
		h.Write([]byte(r.ID))
		h.Write([]byte{0})
	}
	fmt.Fprintf(h, "%d", f.total)
	for _, fs := range [][]search.Facet{f.res.Outcomes, f.res.Statuses, f.res.Models} {
		for _, x := range fs {
			fmt.Fprintf(h, "\x00%s\x00%d", x.Value, x.Count)
		}
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil))
}
