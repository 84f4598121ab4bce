package search

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/lang/cjk"
	"github.com/blevesearch/bleve/v2/registry"
	"github.com/blevesearch/bleve/v2/search/query"
	"golang.org/x/text/width"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// The search syntax, as Parse reads it:
//
//	berlin            a word: within one edit (words of 3+ characters), or
//	                  as a prefix (4+ characters), in the request, response
//	                  or error text
//	"rate limit"      a phrase: these words, in this order, exactly
//	北京              a Chinese, Japanese or Korean word: matched exactly
//	-word -"a phrase" excluded; an excluded word is exact, not fuzzy
//	model:X           the requested or the served model is exactly X;
//	                  model:"a b" for a value with spaces
//	status:200        the response status; status:4xx a class; status:success
//	                  (or ok) and status:error the outcome
//	method:post       the HTTP method, in any case
//	key:1a2b3c4d      an API key's fingerprint, whole (64 hex characters) or
//	                  its first 8 or more; for admins only
//	stream:true       an SSE stream or not (true, false, yes, no)
//	after:2026-01-31  started at or after; before: started before. Dates
//	                  (2026-01-31), minutes (2026-01-31T14:05), seconds, or
//	                  RFC 3339 with a zone; UTC unless the value says so
//
// Everything is ANDed: every word, phrase and filter must match. There is no
// OR, no grouping and no wildcard; such characters are punctuation, which
// the text analyzer drops ("OR" is a word like any other). A filter may be
// excluded too (-model:X, -status:error). Field names are case-insensitive.
// An unbalanced quote runs to the end of the search, so a phrase being
// typed already searches. There are no escapes inside quotes.
const (
	// maxQueryLen caps the search's length in bytes.
	maxQueryLen = 1000
	// maxClauses caps the words, phrases and filters of one search, each
	// of which is a few index lookups.
	maxClauses = 16
	// maxFuzzyRunes is the longest word matched fuzzily. The edit-distance
	// automaton grows with the word; longer words are matched exactly or
	// as a prefix, which a word that long hardly needs anyway.
	maxFuzzyRunes = 40
	// minKeyPrefix is the shortest fingerprint prefix key: accepts.
	minKeyPrefix = 8
)

// Filter names, as typed before the colon.
const (
	filterModel  = "model"
	filterStatus = "status"
	filterMethod = "method"
	filterKey    = "key"
	filterStream = "stream"
	filterBefore = "before"
	filterAfter  = "after"
)

// knownFilters is the list the unknown-filter message shows.
const knownFilters = "model:, status:, method:, key:, stream:, before: or after:"

// noKey is a key term no record carries: fingerprints are hex. Visibility
// for a viewer with no key, and any clause that must match nothing, is a
// term query on it rather than a MatchNoneQuery, because a BooleanQuery
// drops a must clause that matches nothing, which would turn "nothing"
// into "everything".
const noKey = "-"

// textFields are the analysed fields a word or phrase may match in.
var textFields = [...]string{FieldRequest, FieldResponse, FieldError}

// QueryError is a mistake in the user's search or filters, with a message
// written for the user. The web layer answers it with 400 and the message.
// It wraps store.ErrInvalid, so errors.Is(err, store.ErrInvalid) holds too.
type QueryError struct {
	Msg string
}

// Error returns the message for the user.
func (e *QueryError) Error() string { return e.Msg }

// Unwrap returns store.ErrInvalid: a bad search is the caller's mistake.
func (e *QueryError) Unwrap() error { return store.ErrInvalid }

func queryErr(format string, args ...any) *QueryError {
	return &QueryError{Msg: fmt.Sprintf(format, args...)}
}

// Term is a word or phrase the text of a record must contain.
type Term struct {
	// Text is, for a word, its one token as the text analyzer makes it
	// (lower case, full-width letters folded); for a phrase, the text
	// between the quotes, or the word as typed.
	Text string
	// Phrase matches Text's tokens exactly and in order. Quoted text is
	// a phrase, and so is a word the analyzer splits (gpt-4o), and a
	// Chinese or Japanese word of two or more characters.
	Phrase bool
	// Fuzzy also matches words within one edit of Text, keeping its first
	// character.
	Fuzzy bool
	// Prefix also matches words that start with Text.
	Prefix bool
}

// Filter is a field filter of a search, such as model:X.
type Filter struct {
	// Field is the filter's name, in lower case: model, status, method,
	// key, stream, before or after.
	Field string
	// Value is the value in normal form: status as 200, 4xx, success or
	// error; method in upper case; key in lower case; stream as true or
	// false; before and after as RFC 3339 in UTC.
	Value string
	// Not excludes the records the filter matches.
	Not bool
}

// Query is a parsed search. Its zero value, or nil, matches everything
// the viewer may see.
type Query struct {
	// Text holds the words and phrases every match contains, each in its
	// request, response or error text.
	Text []Term
	// Exclude holds the words and phrases no match contains.
	Exclude []Term
	// Filters holds the field filters, all of which hold for a match.
	Filters []Filter
}

// IsZero reports whether q has no words, phrases or filters, so that it
// matches every record the viewer may see.
func (q *Query) IsZero() bool {
	return q == nil || len(q.Text)+len(q.Exclude)+len(q.Filters) == 0
}

// Terms returns the words and phrases to highlight in the text of the
// matches, for HighlightSpans. Excluded terms are not among them.
func (q *Query) Terms() []Term {
	if q == nil || len(q.Text) == 0 {
		return nil
	}
	return append([]Term(nil), q.Text...)
}

// Parse reads a search in the syntax above. It never panics. A mistake
// comes back as a *QueryError whose message tells the user what to fix.
// A search of only spaces, or only punctuation, is a zero Query.
//
// The key: filter is parsed here but checked against the viewer by
// Bleve, since Parse does not know who is asking.
func Parse(s string) (*Query, error) {
	switch {
	case len(s) > maxQueryLen:
		return nil, queryErr("The search is too long: at most %d bytes (about %d Chinese or Japanese characters).", maxQueryLen, maxQueryLen/3)
	case !utf8.ValidString(s):
		return nil, queryErr("The search is not valid text (UTF-8).")
	case strings.IndexByte(s, 0) >= 0:
		return nil, queryErr("The search contains a NUL character; remove it.")
	}
	p := parser{s: s}
	q := &Query{}
	for {
		p.skipSpace()
		if p.eof() {
			break
		}
		not := false
		if p.s[p.i] == '-' {
			not = true
			p.i++
			if p.eof() || p.atSpace() {
				continue // a lone "-" excludes nothing
			}
		}
		var t *Term
		switch {
		case p.s[p.i] == '"':
			t = phraseTerm(p.quoted())
		default:
			name, ok := p.fieldName()
			if !ok {
				t = wordTerm(p.bare(), not)
				break
			}
			if !isFilter(name) {
				if len(name) > 20 {
					name = name[:20] + "…"
				}
				return nil, queryErr("Unknown filter %q. Use %s, or put text with a colon in quotes.", name+":", knownFilters)
			}
			raw := p.value()
			value, err := normalizeFilter(name, raw)
			if err != nil {
				return nil, err
			}
			q.Filters = append(q.Filters, Filter{Field: name, Value: value, Not: not})
		}
		if t != nil {
			if not {
				q.Exclude = append(q.Exclude, *t)
			} else {
				q.Text = append(q.Text, *t)
			}
		}
		if len(q.Text)+len(q.Exclude)+len(q.Filters) > maxClauses {
			return nil, queryErr("The search has too many parts: at most %d words, phrases and filters.", maxClauses)
		}
	}
	return q, nil
}

// parser walks a search that is valid UTF-8.
type parser struct {
	s string
	i int
}

func (p *parser) eof() bool { return p.i >= len(p.s) }

func (p *parser) atSpace() bool {
	r, _ := utf8.DecodeRuneInString(p.s[p.i:])
	return unicode.IsSpace(r)
}

func (p *parser) skipSpace() {
	for !p.eof() && p.atSpace() {
		_, n := utf8.DecodeRuneInString(p.s[p.i:])
		p.i += n
	}
}

// quoted reads from an opening quote to the closing one, or to the end
// when there is none, and returns what is between.
func (p *parser) quoted() string {
	start := p.i + 1
	end := strings.IndexByte(p.s[start:], '"')
	if end < 0 {
		p.i = len(p.s)
		return p.s[start:]
	}
	p.i = start + end + 1
	return p.s[start : start+end]
}

// bare reads up to the next space or quote.
func (p *parser) bare() string {
	start := p.i
	for !p.eof() && p.s[p.i] != '"' && !p.atSpace() {
		_, n := utf8.DecodeRuneInString(p.s[p.i:])
		p.i += n
	}
	return p.s[start:p.i]
}

// fieldName reads "name:" where name is ASCII letters, and returns name in
// lower case. Anything else is not a filter, and is left unread.
func (p *parser) fieldName() (string, bool) {
	j := p.i
	for j < len(p.s) && ('a' <= p.s[j] && p.s[j] <= 'z' || 'A' <= p.s[j] && p.s[j] <= 'Z') {
		j++
	}
	if j == p.i || j >= len(p.s) || p.s[j] != ':' {
		return "", false
	}
	name := strings.ToLower(p.s[p.i:j])
	p.i = j + 1
	return name, true
}

// value reads a filter's value: quoted, or up to the next space or quote.
func (p *parser) value() string {
	if !p.eof() && p.s[p.i] == '"' {
		return p.quoted()
	}
	return p.bare()
}

func isFilter(name string) bool {
	switch name {
	case filterModel, filterStatus, filterMethod, filterKey, filterStream, filterBefore, filterAfter:
		return true
	}
	return false
}

// queryAnalyzer is the text fields' analyzer, the mapping's. Words are
// analysed with it at parse time, so that a fuzzy or prefix term, which
// Bleve does not analyse, is a term the index holds.
var queryAnalyzer = sync.OnceValues(func() (analysis.Analyzer, error) {
	return registry.NewCache().AnalyzerNamed(cjk.AnalyzerName)
})

func analyzeText(s string) analysis.TokenStream {
	a, err := queryAnalyzer()
	if err != nil {
		// The analyzer is compiled in; this cannot happen. Failing
		// closed, the term matches only itself.
		return analysis.TokenStream{{Term: []byte(strings.ToLower(s)), Type: analysis.AlphaNumeric}}
	}
	return a.Analyze([]byte(s))
}

// phraseTerm returns the phrase s, or nil when s has no words.
func phraseTerm(s string) *Term {
	s = strings.TrimSpace(s)
	if len(analyzeText(s)) == 0 {
		return nil
	}
	return &Term{Text: s, Phrase: true}
}

// wordTerm returns the term for the word w, or nil when w has none (only
// punctuation). A word the analyzer splits into several tokens, or into
// Chinese or Japanese bigrams, is a phrase. A lone Chinese or Japanese
// character is a prefix, which finds it where it starts a bigram or stands
// alone (not where it ends one). A Korean word is exact, or a prefix of
// two or more syllables, which lets 서울 find 서울에서; it is never fuzzy.
//
// An excluded word is exact: -test removes the records that say test, not
// those that say text or testing.
func wordTerm(w string, excluded bool) *Term {
	toks := analyzeText(w)
	switch {
	case len(toks) == 0:
		return nil
	case len(toks) > 1 || toks[0].Type == analysis.Double:
		return &Term{Text: w, Phrase: true}
	}
	text := string(toks[0].Term)
	n := utf8.RuneCountInString(text)
	switch {
	case toks[0].Type == analysis.Single || toks[0].Type == analysis.Ideographic:
		return &Term{Text: text, Prefix: true}
	case hasHangul(text):
		return &Term{Text: text, Prefix: n >= 2}
	}
	if excluded {
		return &Term{Text: text}
	}
	return &Term{Text: text, Fuzzy: n >= 3 && n <= maxFuzzyRunes, Prefix: n >= 4}
}

func hasHangul(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Hangul, r) {
			return true
		}
	}
	return false
}

// timeLayouts are the forms before: and after: accept, tried in order.
// Those without a zone are UTC.
var timeLayouts = []string{
	"2006-01-02",
	"2006-01-02T15:04",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05.999999999",
	time.RFC3339Nano,
}

// normalizeFilter checks a filter's value and returns it in normal form.
func normalizeFilter(name, v string) (string, error) {
	if v == "" {
		return "", queryErr("%s: needs a value, such as %s.", name, filterExample(name))
	}
	switch name {
	case filterModel:
		return v, nil
	case filterStatus:
		switch lv := strings.ToLower(v); {
		case lv == "success" || lv == "ok":
			return store.StatusSuccess, nil
		case lv == "error":
			return store.StatusError, nil
		case len(lv) == 3 && '1' <= lv[0] && lv[0] <= '5' && lv[1:] == "xx":
			return lv, nil
		case len(lv) == 3 && isDigits(lv):
			return lv, nil
		}
		return "", queryErr("status: expects a code such as 200, a class such as 2xx, 4xx or 5xx, or success or error.")
	case filterMethod:
		if len(v) > 32 || strings.IndexFunc(v, func(r rune) bool {
			return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r == '-' || r == '_')
		}) >= 0 {
			return "", queryErr("method: expects an HTTP method such as GET or POST.")
		}
		return strings.ToUpper(v), nil
	case filterKey:
		// The value is never echoed: it might be a pasted key.
		if len(v) < minKeyPrefix || len(v) > 64 || !isHex(v) {
			return "", queryErr("key: expects a key fingerprint: 64 hex characters, or its first %d or more.", minKeyPrefix)
		}
		return strings.ToLower(v), nil
	case filterStream:
		switch strings.ToLower(v) {
		case "true", "yes":
			return "true", nil
		case "false", "no":
			return "false", nil
		}
		return "", queryErr("stream: expects true or false (or yes or no).")
	case filterBefore, filterAfter:
		t, ok := parseTime(v)
		if !ok {
			return "", queryErr("%s: expects a date such as 2026-01-31, a time such as 2026-01-31T14:05 (UTC), or an RFC 3339 time such as 2026-01-31T14:05:00+01:00.", name)
		}
		return t.Format(time.RFC3339Nano), nil
	}
	return "", queryErr("Unknown filter %q. Use %s.", name+":", knownFilters)
}

func filterExample(name string) string {
	switch name {
	case filterModel:
		return "model:openai/gpt-4o"
	case filterStatus:
		return "status:4xx"
	case filterMethod:
		return "method:POST"
	case filterKey:
		return "key:1a2b3c4d"
	case filterStream:
		return "stream:true"
	}
	return name + ":2026-01-31"
}

func parseTime(v string) (time.Time, bool) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// Bleve returns the index query for q as seen by v, narrowed by the
// dashboard's filters f, or a *QueryError. A nil q matches everything.
//
// The result is always a *query.ConjunctionQuery. For a viewer that is not
// an admin its first conjunct is the visibility rule, a term query on
// FieldKey built from v alone: v.KeyHash, or, for a viewer with no key, a
// value no record carries, so that such a viewer matches nothing. Nothing
// in q or f can widen it: every other clause is another conjunct, and
// exclusions sit in a conjunct of their own. key: is refused for anyone
// but an admin.
//
// The query matches a phrase's words in any order, and leaves out the
// excluded phrases of two or more words: Index.Search checks both against
// the text. Alone, it finds a superset of the matches.
//
// f means what it means to store.List: KeyHash exact, Status one of the
// store.Status classes (anything else is a *QueryError), Model the
// requested or the served model, Method ignoring case, From inclusive, To
// exclusive. Its Search is ignored (it is the text q was parsed from), and
// so are its IDs, Limit and Offset, and its Viewer: v alone decides.
func (q *Query) Bleve(v store.Viewer, f store.Filter) (query.Query, error) {
	if q == nil {
		q = &Query{}
	}
	if n := len(q.Text) + len(q.Exclude) + len(q.Filters); n > maxClauses {
		return nil, queryErr("The search has too many parts: at most %d words, phrases and filters.", maxClauses)
	}
	var must []query.Query
	switch {
	case v.Admin:
	case v.KeyHash == "":
		must = append(must, termQuery(FieldKey, noKey))
	default:
		must = append(must, termQuery(FieldKey, v.KeyHash))
	}

	// The dashboard's filters.
	if f.KeyHash != "" {
		must = append(must, termQuery(FieldKey, f.KeyHash))
	}
	switch f.Status {
	case "":
	case store.StatusSuccess, store.StatusError, store.Status2xx, store.Status4xx, store.Status5xx:
		sq, _ := statusQuery(f.Status)
		must = append(must, sq)
	default:
		return nil, queryErr("Unknown status filter; use success, error, 2xx, 4xx or 5xx.")
	}
	if f.Model != "" {
		must = append(must, termQuery(FieldModel, f.Model))
	}
	if f.Provider != "" {
		must = append(must, termQuery(FieldProvider, f.Provider))
	}
	if f.Method != "" {
		must = append(must, termQuery(FieldMethod, asciiUpper(f.Method)))
	}
	if tq := timeQuery(f.From, f.To); tq != nil {
		must = append(must, tq)
	}

	// The search's filters and text.
	var not []query.Query
	for _, flt := range q.Filters {
		fq, err := filterQuery(flt, v)
		if err != nil {
			return nil, err
		}
		if fq == nil {
			continue
		}
		if flt.Not {
			not = append(not, fq)
		} else {
			must = append(must, fq)
		}
	}
	for _, t := range q.Text {
		if tq := textQuery(t); tq != nil {
			must = append(must, tq)
		}
	}
	for _, t := range q.Exclude {
		if t.ordered() {
			continue // excluded by Index.Search, which checks the order
		}
		if tq := textQuery(t); tq != nil {
			not = append(not, tq)
		}
	}
	if len(not) > 0 {
		// A BooleanQuery with only must-not clauses is everything but
		// them: as a conjunct, it removes them from the rest.
		must = append(must, query.NewBooleanQuery(nil, nil, not))
	}
	if len(must) == 0 {
		must = append(must, query.NewMatchAllQuery())
	}
	return query.NewConjunctionQuery(must), nil
}

// filterQuery returns the query for one of the search's filters, checking
// its value again, since a Query may be built by hand; nil means no
// condition.
func filterQuery(flt Filter, v store.Viewer) (query.Query, error) {
	if !isFilter(flt.Field) {
		return nil, queryErr("Unknown filter %q. Use %s.", flt.Field+":", knownFilters)
	}
	if flt.Field == filterKey && !v.Admin {
		return nil, queryErr("key: filters are for admins.")
	}
	value, err := normalizeFilter(flt.Field, flt.Value)
	if err != nil {
		return nil, err
	}
	switch flt.Field {
	case filterModel:
		return termQuery(FieldModel, value), nil
	case filterStatus:
		sq, _ := statusQuery(value)
		return sq, nil
	case filterMethod:
		return termQuery(FieldMethod, value), nil
	case filterKey:
		if len(value) == 64 {
			return termQuery(FieldKey, value), nil
		}
		pq := query.NewPrefixQuery(value)
		pq.SetField(FieldKey)
		return pq, nil
	case filterStream:
		bq := query.NewBoolFieldQuery(value == "true")
		bq.SetField(FieldStream)
		return bq, nil
	case filterBefore:
		t, _ := time.Parse(time.RFC3339Nano, value)
		return timeQuery(time.Time{}, t), nil
	default: // filterAfter
		t, _ := time.Parse(time.RFC3339Nano, value)
		return timeQuery(t, time.Time{}), nil
	}
}

// statusQuery returns the query for a status filter in normal form, as
// store.Filter.Status means it: success and error by outcome, classes by
// the response status. FieldStatus holds three digits, so a class is a
// range of terms.
func statusQuery(s string) (query.Query, bool) {
	switch {
	case s == store.StatusSuccess:
		return termQuery(FieldOutcome, "ok"), true
	case s == store.StatusError:
		return query.NewBooleanQuery(nil, nil, []query.Query{termQuery(FieldOutcome, "ok")}), true
	case len(s) == 3 && '1' <= s[0] && s[0] <= '5' && s[1:] == "xx":
		yes := true
		rq := query.NewTermRangeInclusiveQuery(s[:1]+"00", s[:1]+"99", &yes, &yes)
		rq.SetField(FieldStatus)
		return rq, true
	case len(s) == 3 && isDigits(s):
		return termQuery(FieldStatus, s), true
	}
	return nil, false
}

// The times the index's fixed-width time terms can hold.
var (
	minIndexTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxIndexTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// timeQuery returns the query for records started at or after from and
// before to, a zero time meaning no bound, or nil for no bounds. Bounds
// are cut to the microsecond, as the SQL store compares them. A bound
// beyond what the index's time terms can hold is dropped, or matches
// nothing.
func timeQuery(from, to time.Time) query.Query {
	var lo, hi string
	if !from.IsZero() {
		from = from.UTC().Truncate(time.Microsecond)
		switch {
		case from.After(maxIndexTime):
			return termQuery(FieldKey, noKey)
		case !from.Before(minIndexTime):
			lo = timeTerm(from)
		}
	}
	if !to.IsZero() {
		to = to.UTC().Truncate(time.Microsecond)
		switch {
		case !to.After(minIndexTime):
			return termQuery(FieldKey, noKey)
		case !to.After(maxIndexTime):
			hi = timeTerm(to)
		}
	}
	if lo == "" && hi == "" {
		return nil
	}
	yes, no := true, false
	rq := query.NewTermRangeInclusiveQuery(lo, hi, &yes, &no)
	rq.SetField(FieldTime)
	return rq
}

// textQuery returns the query for a word or phrase in any text field, or
// nil for an empty term. A word is matched exactly, within one edit that
// keeps its first character (which bounds the terms the edit visits) and
// as a prefix, as t says; a phrase as all of the words the field's
// analyzer makes of it, in one field, in any order (the index keeps no
// positions: Index.Search checks the order).
// Fuzzy and prefix terms are not analysed by Bleve, so they are lowered
// here, as the analyzer lowers the text.
func textQuery(t Term) query.Query {
	if strings.TrimSpace(t.Text) == "" {
		return nil
	}
	var or []query.Query
	if t.Phrase {
		// All the phrase's words in one field; their order is checked
		// afterwards, against the text (verify.go).
		for _, field := range textFields {
			mq := query.NewMatchQuery(t.Text)
			mq.SetOperator(query.MatchQueryOperatorAnd)
			mq.SetField(field)
			or = append(or, mq)
		}
		return query.NewDisjunctionQuery(or)
	}
	text := strings.ToLower(t.Text)
	n := utf8.RuneCountInString(text)
	for _, field := range textFields {
		or = append(or, termQuery(field, text))
		if t.Fuzzy && n >= 3 && n <= maxFuzzyRunes {
			fq := query.NewFuzzyQuery(text)
			fq.SetFuzziness(1)
			fq.SetPrefix(1)
			fq.SetField(field)
			or = append(or, fq)
		}
		if t.Prefix {
			pq := query.NewPrefixQuery(text)
			pq.SetField(field)
			or = append(or, pq)
		}
	}
	return query.NewDisjunctionQuery(or)
}

func termQuery(field, term string) *query.TermQuery {
	tq := query.NewTermQuery(term)
	tq.SetField(field)
	return tq
}

// asciiUpper raises only ASCII letters, as SQLite's NOCASE folds only
// those.
func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

// Span is a hit in a text: the bytes text[Start:End].
type Span struct {
	Start, End int
}

// maxSpans caps the hits HighlightSpans returns, and so its work.
const maxSpans = 1000

// HighlightSpans returns where terms occur in text, in order, merged where
// they touch or overlap, at most maxSpans of them. It approximates the
// index's analysis so that the web layer can mark hits in text from
// SQLite: text is split into words (letters, digits and marks, joined by
// an apostrophe, a period or, between letters, a colon) and Chinese and
// Japanese characters, each one by itself; case and full width are
// folded. A word term matches a whole word that equals it, starts with it
// (Prefix), or is within one edit of it keeping its first character
// (Fuzzy). A phrase matches its words in a row, wherever punctuation or
// spaces fall between them; a Chinese or Japanese word is a phrase of its
// characters.
//
// It is pure, and linear in the text: every word is compared with each of
// at most maxClauses terms, and phrases are followed with one automaton
// each (Knuth–Morris–Pratt over words).
func HighlightSpans(text string, terms []Term) []Span {
	if len(terms) > maxClauses {
		terms = terms[:maxClauses]
	}
	m := newMatcher(terms)
	if m == nil {
		return nil
	}
	var spans []Span
	var tok token
	sc := scanner{s: text}
	for len(spans) < maxSpans && sc.next(&tok) {
		if m.word(&tok) {
			spans = append(spans, Span{tok.start, tok.end})
		}
		if start, ok := m.phrase(&tok); ok {
			spans = append(spans, Span{start, tok.end})
		}
	}
	return mergeSpans(spans)
}

// mergeSpans sorts spans and joins those that overlap or touch.
func mergeSpans(spans []Span) []Span {
	if len(spans) < 2 {
		return spans
	}
	// Spans come almost in order: a phrase's span starts before the words
	// found since it began. Insertion sort is linear on that.
	for i := 1; i < len(spans); i++ {
		for j := i; j > 0 && spans[j].Start < spans[j-1].Start; j-- {
			spans[j], spans[j-1] = spans[j-1], spans[j]
		}
	}
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.Start <= last.End {
			last.End = max(last.End, s.End)
			continue
		}
		out = append(out, s)
	}
	return out
}

// token is one word of a text, or one Chinese or Japanese character.
type token struct {
	start, end int    // bytes of the text
	folded     []byte // lower case, full width folded
	runes      []rune // folded, as runes
	index      int    // the token's number in the text, from 0
}

// scanner splits a text into tokens.
type scanner struct {
	s     string
	i     int
	count int
}

// next reads the next token into tok, reusing its buffers, and reports
// whether there was one.
func (sc *scanner) next(tok *token) bool {
	tok.folded, tok.runes = tok.folded[:0], tok.runes[:0]
	for sc.i < len(sc.s) {
		r, n := utf8.DecodeRuneInString(sc.s[sc.i:])
		switch {
		case isCJK(r):
			tok.start, tok.end = sc.i, sc.i+n
			tok.add(fold(r))
			sc.i += n
			return sc.emit(tok)
		case isWordRune(r):
			tok.start = sc.i
			sc.word(tok)
			return sc.emit(tok)
		}
		sc.i += n
	}
	return false
}

func (sc *scanner) emit(tok *token) bool {
	tok.index = sc.count
	sc.count++
	return true
}

// word reads a word starting at sc.i.
func (sc *scanner) word(tok *token) {
	prev := rune(0)
	for sc.i < len(sc.s) {
		r, n := utf8.DecodeRuneInString(sc.s[sc.i:])
		if isWordRune(r) {
			tok.add(fold(r))
			prev = r
			sc.i += n
			continue
		}
		// A joiner between two word characters keeps the word going, as
		// Unicode word segmentation does for don't, example.com, 3.14,
		// 1,000 and foo:bar.
		next, m := utf8.DecodeRuneInString(sc.s[sc.i+n:])
		if sc.i+n < len(sc.s) && isWordRune(next) && !isCJK(next) && joins(prev, r, next) {
			tok.add(r)
			tok.add(fold(next))
			prev = next
			sc.i += n + m
			continue
		}
		break
	}
	tok.end = sc.i
}

func joins(prev, r, next rune) bool {
	switch r {
	case '\'', '.', '’':
		return true
	case ':':
		return unicode.IsLetter(prev) && unicode.IsLetter(next)
	case ',', ';':
		return unicode.IsDigit(prev) && unicode.IsDigit(next)
	}
	return false
}

func (tok *token) add(r rune) {
	tok.folded = utf8.AppendRune(tok.folded, r)
	tok.runes = append(tok.runes, r)
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '_'
}

// isCJK reports whether r is a Chinese or Japanese character, which the
// index pairs into bigrams rather than reading words of (Korean is read
// as words).
func isCJK(r rune) bool {
	return r >= 0x2E80 && (unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) ||
		unicode.Is(unicode.Katakana, r) || r == 0x30FC || (0xFF66 <= r && r <= 0xFF9D))
}

// fold lowers r and folds full-width ASCII and half-width katakana, as
// the cjk analyzer does.
func fold(r rune) rune {
	switch {
	case r < utf8.RuneSelf:
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	case 0xFF01 <= r && r <= 0xFF5E:
		r -= 0xFEE0
	case 0xFF65 <= r && r <= 0xFF9F:
		if w := width.LookupRune(r).Folded(); w != 0 {
			r = w
		}
	}
	return unicode.ToLower(r)
}

// matcher holds terms prepared for one text.
type matcher struct {
	words   []wordMatch
	phrases []phraseMatch
	vocab   map[string]int // a phrase word → its id
	ring    []int          // the start of recent tokens, by index mod len
}

type wordMatch struct {
	text          []byte
	runes         []rune
	fuzzy, prefix bool
}

// phraseMatch is a Knuth–Morris–Pratt automaton over word ids.
type phraseMatch struct {
	ids   []int
	fail  []int
	state int
}

func newMatcher(terms []Term) *matcher {
	m := &matcher{vocab: map[string]int{}}
	longest := 0
	for _, t := range terms {
		if t.Phrase {
			var ids []int
			var tok token
			sc := scanner{s: t.Text}
			for sc.next(&tok) {
				id, ok := m.vocab[string(tok.folded)]
				if !ok {
					id = len(m.vocab)
					m.vocab[string(tok.folded)] = id
				}
				ids = append(ids, id)
			}
			if len(ids) > 0 {
				m.phrases = append(m.phrases, phraseMatch{ids: ids, fail: kmpTable(ids)})
				longest = max(longest, len(ids))
			}
			continue
		}
		var tok token
		sc := scanner{s: t.Text}
		if !sc.next(&tok) {
			continue
		}
		// A word term is one token; fold it as the text is folded.
		text := strings.Map(fold, t.Text)
		m.words = append(m.words, wordMatch{text: []byte(text), runes: []rune(text), fuzzy: t.Fuzzy, prefix: t.Prefix})
	}
	if len(m.words) == 0 && len(m.phrases) == 0 {
		return nil
	}
	m.ring = make([]int, max(longest, 1))
	return m
}

// kmpTable returns the failure function of ids.
func kmpTable(ids []int) []int {
	fail := make([]int, len(ids))
	k := 0
	for i := 1; i < len(ids); i++ {
		for k > 0 && ids[i] != ids[k] {
			k = fail[k-1]
		}
		if ids[i] == ids[k] {
			k++
		}
		fail[i] = k
	}
	return fail
}

// word reports whether tok matches a word term.
func (m *matcher) word(tok *token) bool {
	for i := range m.words {
		w := &m.words[i]
		switch {
		case bytes.Equal(tok.folded, w.text):
			return true
		case w.prefix && bytes.HasPrefix(tok.folded, w.text):
			return true
		case w.fuzzy && withinOneEdit(tok.runes, w.runes):
			return true
		}
	}
	return false
}

// phrase feeds tok to every phrase automaton and reports the start of a
// phrase that ends with it.
func (m *matcher) phrase(tok *token) (int, bool) {
	if len(m.phrases) == 0 {
		return 0, false
	}
	m.ring[tok.index%len(m.ring)] = tok.start
	id, ok := m.vocab[string(tok.folded)]
	if !ok {
		id = -1
	}
	longest := 0
	for i := range m.phrases {
		p := &m.phrases[i]
		for p.state > 0 && p.ids[p.state] != id {
			p.state = p.fail[p.state-1]
		}
		if p.ids[p.state] == id {
			p.state++
		}
		if p.state == len(p.ids) {
			longest = max(longest, len(p.ids))
			p.state = p.fail[p.state-1]
		}
	}
	if longest == 0 {
		return 0, false
	}
	return m.ring[(tok.index-longest+1)%len(m.ring)], true
}

// withinOneEdit reports whether a and b differ by at most one insertion,
// deletion or substitution, and have the same first rune, as the index's
// fuzzy query (prefix length 1) requires.
func withinOneEdit(a, b []rune) bool {
	la, lb := len(a), len(b)
	if la == 0 || lb == 0 || a[0] != b[0] || la-lb > 1 || lb-la > 1 {
		return false
	}
	if la < lb {
		a, b, la, lb = b, a, lb, la
	}
	i := 0
	for i < lb && a[i] == b[i] {
		i++
	}
	if i == lb {
		return true // equal, or a has one more at the end
	}
	if la == lb {
		return slices.Equal(a[i+1:], b[i+1:]) // one substitution
	}
	return slices.Equal(a[i+1:], b[i:]) // one deletion from a
}
