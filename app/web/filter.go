package web

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/auth"
	"github.com/openrouter-proxy/openrouter-proxy/app/search"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/views"
)

// errBadInput marks query parameters that cannot be understood; handlers
// answer it with 400 and its message.
var errBadInput = errors.New("bad input")

// isBadInput reports whether err is the caller's mistake: a parameter
// that cannot be understood, or input the store refused as invalid.
func isBadInput(err error) bool {
	return errors.Is(err, errBadInput) || errors.Is(err, store.ErrInvalid)
}

func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadInput, fmt.Sprintf(format, args...))
}

// maxSearchOffset bounds how deep a search pages: the index collects every
// match before the page it is asked for, so a page a million matches deep
// would cost a million matches' memory. Past it, the search must narrow.
const maxSearchOffset = 10_000

// query is the dashboard's and the API's filter as parsed from a URL.
type query struct {
	view     views.Filter
	filter   store.Filter
	page     int
	pageSize int
	// defaultSize is the page size used when the URL names none; encode
	// leaves page_size out when it is this.
	defaultSize int
	// text is the parsed search; nil when there is none, or when it has
	// no words or filters (only punctuation), which matches everything.
	text *search.Query
	// relevance orders a search by how well records match, not by time.
	relevance bool
}

// timeLayouts are accepted for from/to: what <input type=datetime-local>
// sends (taken as UTC), and RFC 3339 for API callers.
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02"}

func parseTime(name, v string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, badInput("%s=%q: want a time such as 2026-01-31T14:05 (UTC) or RFC 3339", name, v)
}

func positive(name, v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, badInput("%s=%q: want a whole number of at least 1", name, v)
	}
	return n, nil
}

// parseQuery reads the filter parameters shared by the pages and the API.
func (s *Server) parseQuery(q url.Values, id auth.Identity) (query, error) {
	var out query
	var err error
	v := &out.view
	v.Search = strings.TrimSpace(q.Get("search"))
	v.Status, v.Model, v.Method = q.Get("status"), q.Get("model"), strings.ToUpper(q.Get("method"))
	v.Provider = q.Get("provider")
	v.From, v.To = q.Get("from"), q.Get("to")
	if id.Admin {
		v.Key = q.Get("key")
	}
	if out.page, err = positive("page", q.Get("page"), 1); err != nil {
		return out, err
	}
	out.defaultSize = min(s.PageSize, maxPageSize)
	if out.pageSize, err = positive("page_size", q.Get("page_size"), out.defaultSize); err != nil {
		return out, err
	}
	out.pageSize = min(out.pageSize, maxPageSize)
	if out.page-1 > math.MaxInt/out.pageSize {
		// The offset would wrap around and select some other page.
		return out, badInput("page=%q: too large", q.Get("page"))
	}
	v.Page = out.page

	f := store.Filter{
		Viewer: id.Viewer(), KeyHash: v.Key, Search: v.Search, Status: v.Status, Model: v.Model, Provider: v.Provider, Method: v.Method,
		Limit: out.pageSize, Offset: (out.page - 1) * out.pageSize,
	}
	if v.From != "" {
		if f.From, err = parseTime("from", v.From); err != nil {
			return out, err
		}
	}
	if v.To != "" {
		if f.To, err = parseTime("to", v.To); err != nil {
			return out, err
		}
	}
	switch v.Status {
	case "", "success", "error", "2xx", "4xx", "5xx":
	default:
		return out, badInput("status=%q: want success, error, 2xx, 4xx or 5xx", v.Status)
	}
	switch v.Sort = q.Get("sort"); v.Sort {
	case "", "newest":
		v.Sort = ""
	case "relevance":
		out.relevance = true
	default:
		return out, badInput("sort=%q: want newest or relevance", v.Sort)
	}
	out.filter = f
	if v.Search == "" {
		return out, nil
	}
	// One syntax and one set of errors, whichever answers the search: the
	// index, or the store while the index is not ready.
	text, err := search.Parse(v.Search)
	if err != nil {
		return out, err
	}
	if _, err := text.Bleve(f.Viewer, f); err != nil {
		return out, err // such as key: from someone who is not an admin
	}
	if text.IsZero() {
		out.filter.Search = "" // only punctuation: no search at all
		return out, nil
	}
	if f.Offset > maxSearchOffset-out.pageSize {
		return out, badInput("page=%d: a search shows its first %d matches; narrow the search to see others", out.page, maxSearchOffset)
	}
	out.text = text
	return out, nil
}

// searching reports whether q has a search to answer.
func (q query) searching() bool { return q.text != nil }

// encode returns the filter as a query string without the page, in a fixed
// order, for page links, the poll URL and shareable views. It keeps
// page_size unless it is the default, so that paging and polling a view
// with another page size do not fall back to PAGE_SIZE.
func (q query) encode() string {
	vals := url.Values{}
	for _, kv := range [][2]string{
		{"search", q.view.Search}, {"status", q.view.Status}, {"model", q.view.Model}, {"provider", q.view.Provider}, {"method", q.view.Method},
		{"from", q.view.From}, {"to", q.view.To}, {"key", q.view.Key}, {"sort", q.view.Sort},
	} {
		if kv[1] != "" {
			vals.Set(kv[0], kv[1])
		}
	}
	if q.pageSize != q.defaultSize {
		vals.Set("page_size", strconv.Itoa(q.pageSize))
	}
	return vals.Encode()
}

// filtered reports whether f narrows the records shown.
func filtered(f views.Filter) bool {
	return f.Search != "" || f.Status != "" || f.Model != "" || f.Provider != "" || f.Method != "" || f.From != "" || f.To != "" || f.Key != ""
}
