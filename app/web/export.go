package web

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// GET /api/export?format=csv|jsonl streams every record of the current
// view: the list's filters, visibility included, without its paging. The
// rows go out as the store reads them, a page at a time (store.Each), so
// memory stays flat however many there are, and a client that leaves
// cancels the request's context, which stops the reading.

// exportFormats maps each format to its media type.
var exportFormats = map[string]string{
	"csv":   "text/csv; charset=utf-8",
	"jsonl": "application/x-ndjson; charset=utf-8",
}

// csvHeader is the CSV export's first row; csvRow writes the columns in
// this order.
var csvHeader = []string{
	"time_utc", "id", "method", "path", "status", "outcome", "model_requested", "model", "stream", "key_mask",
	"prompt_tokens", "completion_tokens", "total_tokens", "cost", "duration_ms", "ttft_ms", "error",
	"request_text", "response_text",
}

// maxCSVText caps the request and response text of a CSV row, in
// characters, below the 32,767 a spreadsheet cell holds; the JSONL export
// has everything.
const maxCSVText = 32_000

// Paging of an export answered by the search index.
var (
	// exportSearchPage is how many ids one index query returns. The index
	// visits every match below the cursor for each query, so fewer, larger
	// pages cost less; ids are small.
	exportSearchPage = 1000
	// exportFetch is how many of those ids one store read asks for.
	exportFetch = 100
)

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	id := identity(r)
	vals := r.URL.Query()
	format := vals.Get("format")
	if format == "" {
		format = "csv"
	}
	if _, ok := exportFormats[format]; !ok {
		s.fail(w, r, badInput("format=%q: want csv or jsonl", format), true)
		return
	}
	// An export is the whole view: the dashboard's link carries no page,
	// and a page or page size a caller adds must not refuse it.
	vals.Del("page")
	vals.Del("page_size")
	q, err := s.parseQuery(vals, id)
	if err != nil {
		s.fail(w, r, err, true)
		return
	}

	out := &exportWriter{w: w, format: format, filename: exportFilename(q, format, s.clock()), admin: id.Admin}
	err = s.exportRecords(r.Context(), q, out)
	if err == nil {
		err = out.finish()
	}
	switch {
	case err == nil:
	case out.writeErr != nil || r.Context().Err() != nil:
		// The client left; there is no one to tell.
	case !out.started:
		s.fail(w, r, err, true)
	default:
		// The status went out with the first row. Abort the response, so
		// the client sees a broken download rather than a short file
		// that looks complete.
		s.Log.Error("export", "err", err)
		panic(http.ErrAbortHandler)
	}
}

// exportRecords writes every record q selects to out, newest first: from
// the search index while it answers q's search, else from the store. For
// a search, out's backend says which.
func (s *Server) exportRecords(ctx context.Context, q query, out *exportWriter) error {
	if q.searching() {
		out.backend = "index"
		if done, err := s.exportSearch(ctx, q, out.write); done || err != nil {
			return err
		}
		out.backend = "sql"
	}
	return s.Store.Each(ctx, q.filter, out.write)
}

// exportSearch calls fn with every match of q's search, newest first,
// reading the index a page at a time. done is false when the index could
// not answer the first page, so that the caller asks the store instead.
//
// The pages are cut by time, not by offset: each asks for the matches
// that started before the oldest record handed over so far, plus that one
// microsecond, so that records sharing it are not lost between pages; the
// ones already handed over are skipped. An offset would make the index
// collect every earlier match again for each page, and it bounds how deep
// a search pages (maxSearchOffset).
func (s *Server) exportSearch(ctx context.Context, q query, fn func(*capture.Record) error) (done bool, err error) {
	r := q.searchRequest(0, exportSearchPage, false)
	r.Relevance, r.All = false, true
	var (
		boundary time.Time           // when the oldest record handed over started
		bounded  bool                // boundary is set
		seen     = map[string]bool{} // the ids handed over that started then
	)
	for first := true; ; first = false {
		res, ok, err := s.indexSearch(ctx, r)
		switch {
		case err != nil:
			return true, err
		case !ok && first:
			return false, nil
		case !ok:
			return true, errors.New("export: the search index stopped answering")
		}
		fresh := make([]string, 0, len(res.IDs))
		for _, id := range res.IDs {
			if !seen[id] {
				fresh = append(fresh, id)
			}
		}
		full := len(res.IDs) == r.Limit
		if len(fresh) == 0 {
			if !full {
				return true, nil
			}
			// More records started in one microsecond than a page
			// holds, all of them handed over: look past them.
			r.Limit *= 2
			continue
		}
		handed := 0
		for ids := range slices.Chunk(fresh, exportFetch) {
			err := s.Store.Each(ctx, store.Filter{Viewer: q.filter.Viewer, IDs: ids}, func(rec *capture.Record) error {
				// The store hands a chunk over in id order, which
				// may differ from time order by a little.
				t := rec.Start.UTC().Truncate(time.Microsecond)
				if !bounded || t.Before(boundary) {
					boundary, bounded = t, true
					clear(seen)
				}
				if t.Equal(boundary) {
					seen[rec.ID] = true
				}
				handed++
				return fn(rec)
			})
			if err != nil {
				return true, err
			}
		}
		if handed == 0 || !full {
			// Every match of the page was pruned since the index listed
			// it, and retention prunes the oldest first: the rest is gone
			// too. Or this was the last page.
			return true, nil
		}
		r.Filter.To = boundary.Add(time.Microsecond)
		r.Limit = exportSearchPage
	}
}

// exportWriter writes an export's records in its format. Nothing is sent
// before the first record, or before finish when there is none, so that an
// error up to then still gets its status code.
type exportWriter struct {
	w        http.ResponseWriter
	format   string
	filename string
	admin    bool
	// backend, for a search, is what answered it: "index" or "sql", sent
	// as X-Search-Backend as the API's search_backend.
	backend string

	started  bool
	csv      *csv.Writer
	buf      *bufio.Writer
	jsonl    *json.Encoder
	writeErr error // the client's connection failed
	row      []string
}

// start sends the headers and, for CSV, the header row.
func (e *exportWriter) start() error {
	e.started = true
	h := e.w.Header()
	h.Set("Content-Type", exportFormats[e.format])
	h.Set("Content-Disposition", `attachment; filename="`+e.filename+`"`)
	h.Set("Cache-Control", "no-store")
	if e.backend != "" {
		h.Set("X-Search-Backend", e.backend)
	}
	e.w.WriteHeader(http.StatusOK)
	e.buf = bufio.NewWriterSize(e.w, 32<<10)
	if e.format == "jsonl" {
		e.jsonl = json.NewEncoder(e.buf)
		return nil
	}
	e.csv = csv.NewWriter(e.buf)
	return e.check(e.csv.Write(csvHeader))
}

// write writes one record.
func (e *exportWriter) write(rec *capture.Record) error {
	if !e.started {
		if err := e.start(); err != nil {
			return err
		}
	}
	if e.jsonl != nil {
		return e.check(e.jsonl.Encode(toAPIDetail(rec, e.admin)))
	}
	e.row = csvRow(e.row[:0], rec)
	return e.check(e.csv.Write(e.row))
}

// finish writes what is buffered, after the header row alone when there
// were no records.
func (e *exportWriter) finish() error {
	if !e.started {
		if err := e.start(); err != nil {
			return err
		}
	}
	if e.csv != nil {
		e.csv.Flush()
		if err := e.check(e.csv.Error()); err != nil {
			return err
		}
	}
	return e.check(e.buf.Flush())
}

// check notes err as the connection's failure: every error of a write is.
func (e *exportWriter) check(err error) error {
	if err != nil && e.writeErr == nil {
		e.writeErr = err
	}
	return err
}

// csvRow appends rec's cells to row, in csvHeader's order. Numbers are
// written here and need no guard; every text cell goes through csvText.
func csvRow(row []string, rec *capture.Record) []string {
	num := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	orEmpty := func(v float64) string {
		if v == 0 {
			return "" // unknown, not instant
		}
		return num(v)
	}
	status := ""
	if rec.Status != 0 {
		status = strconv.Itoa(rec.Status)
	}
	return append(row,
		rec.Start.UTC().Format("2006-01-02T15:04:05.000000Z"),
		csvText(rec.ID),
		csvText(rec.Method),
		csvText(rec.Path),
		status,
		csvText(string(rec.Outcome)),
		csvText(rec.ModelRequested),
		csvText(rec.Model),
		strconv.FormatBool(rec.Stream),
		csvText(rec.KeyMask),
		strconv.FormatInt(rec.PromptTokens, 10),
		strconv.FormatInt(rec.CompletionTokens, 10),
		strconv.FormatInt(rec.TotalTokens, 10),
		num(rec.Cost),
		num(ms(rec.Duration)),
		orEmpty(ms(rec.TTFT)),
		csvText(rec.Error),
		csvText(capText(capture.RequestText(rec.ReqBodyStored).New)),
		csvText(capText(rec.Content)),
	)
}

// csvText makes s safe to open in a spreadsheet: valid UTF-8, and a cell
// that a spreadsheet would take for a formula (one starting with =, +, -,
// @, a tab or a carriage return; OWASP's CSV injection rule) starts with
// an apostrophe, which shows it as text.
func csvText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if s != "" && strings.IndexByte("=+-@\t\r", s[0]) >= 0 {
		return "'" + s
	}
	return s
}

// capText cuts s to maxCSVText characters, marking the cut with "…".
func capText(s string) string {
	if len(s) <= maxCSVText {
		return s
	}
	i, n := 0, 0
	for i < len(s) && n < maxCSVText {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	if i == len(s) {
		return s
	}
	return s[:i] + "…"
}

// exportFilename says what an export holds and when it was made:
// openrouter-proxy-<filters>-<yyyymmdd-hhmmss UTC>.<format>, the filters
// as name-value pairs reduced to lower-case letters, digits and dashes.
func exportFilename(q query, format string, now time.Time) string {
	v := q.view
	key := v.Key
	if len(key) > 12 {
		key = key[:12] // a prefix of the fingerprint names the key well enough
	}
	var parts []string
	for _, kv := range [][2]string{
		{"search", v.Search}, {"model", v.Model}, {"provider", v.Provider}, {"status", v.Status}, {"method", v.Method},
		{"key", key}, {"from", v.From}, {"to", v.To},
	} {
		if kv[1] == "" {
			continue
		}
		part := kv[0]
		if s := slug(kv[1], 40); s != "" {
			part += "-" + s
		}
		parts = append(parts, part)
	}
	name := "openrouter-proxy-"
	if len(parts) > 0 {
		name += strings.Join(parts, "_") + "-"
	}
	return name + now.UTC().Format("20060102-150405") + "." + format
}

// slug reduces s to at most n lower-case ASCII letters, digits and single
// dashes, with no dash at either end.
func slug(s string, n int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if b.Len() >= n {
			break
		}
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
		} else {
			dash = true
		}
	}
	return b.String()
}
