package web

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/auth"
	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/live"
	"github.com/openrouter-proxy/openrouter-proxy/app/search"
	"github.com/openrouter-proxy/openrouter-proxy/views"
)

// handleDashboard serves the full page, or only the table when htmx asks
// for it (filter changes, page links), so a filtered view is one URL.
func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "HX-Request")
	id := identity(r)
	partial := r.Header.Get("HX-Request") != "" && r.Header.Get("HX-History-Restore-Request") == ""
	q, err := s.parseQuery(r.URL.Query(), id)
	if err != nil {
		s.failDashboard(w, r, q, err, partial)
		return
	}
	if partial {
		state, _ := s.viewState(s.liveVersion(id), q)
		u, err := s.cachedUpdate(r, id, q, state)
		if err != nil {
			s.failDashboard(w, r, q, err, true)
			return
		}
		render(w, r, http.StatusOK, views.LiveUpdate(u.table, u.stats))
		return
	}
	// Full pages are loaded far less often than tables are polled, so they
	// read the store directly and show what is there now.
	u, err := s.computeUpdate(r.Context(), id, q)
	if err != nil {
		s.failDashboard(w, r, q, err, false)
		return
	}
	m := views.Dashboard{Page: s.page(r, "Requests"), Stats: u.stats, Filter: q.view, Table: u.table}
	if err := s.filterChoices(r.Context(), id, q.view, u.found, &m); err != nil {
		s.fail(w, r, err, false)
		return
	}
	render(w, r, http.StatusOK, views.DashboardPage(m))
}

// failDashboard answers an error of the dashboard or of its table. Bad
// input, a search that cannot be read included, gets 400 and its message
// where the table would be, right under the search box: the whole page,
// or for htmx the table's fragment, which htmx is configured to swap in on
// 400. Anything else is fail's.
func (s *Server) failDashboard(w http.ResponseWriter, r *http.Request, q query, err error, partial bool) {
	if !isBadInput(err) {
		s.fail(w, r, err, false)
		return
	}
	id := identity(r)
	t := views.Table{Admin: id.Admin, Error: userMessage(err), Filtered: true}
	if partial {
		render(w, r, http.StatusBadRequest, views.LiveUpdate(t, views.Stats{Unknown: true}))
		return
	}
	m := views.Dashboard{Page: s.page(r, "Requests"), Stats: views.Stats{Unknown: true}, Filter: q.view, Table: t}
	if err := s.filterChoices(r.Context(), id, q.view, found{}, &m); err != nil {
		s.Log.Warn("dashboard: filter choices", "err", err)
	}
	render(w, r, http.StatusBadRequest, views.DashboardPage(m))
}

// userMessage is err as the user should read it.
func userMessage(err error) string {
	var qe *search.QueryError
	if errors.As(err, &qe) {
		return qe.Msg
	}
	return strings.TrimPrefix(err.Error(), errBadInput.Error()+": ")
}

// handlePoll answers the table's poll. It costs no query when nothing has
// changed since the version the table was rendered at: 204, which htmx
// leaves alone. Otherwise the update comes from the live cache, so many
// open dashboards do not load the server even when every request changes
// the version. A searched table's version also holds the index's
// watermark and a digest of the rows; see viewState.
func (s *Server) handlePoll(w http.ResponseWriter, r *http.Request) {
	id := identity(r)
	q, err := s.parseQuery(r.URL.Query(), id)
	if err != nil {
		s.failDashboard(w, r, q, err, true)
		return
	}
	v := r.URL.Query().Get("v")
	state, indexed := s.viewState(s.liveVersion(id), q)
	if v == state || indexed && strings.HasPrefix(v, state+"~") {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	u, err := s.cachedUpdate(r, id, q, state)
	if err != nil {
		s.failDashboard(w, r, q, err, true)
		return
	}
	if u.digest != "" && strings.HasSuffix(v, "~"+u.digest) {
		// The index moved on, but not for this table.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	render(w, r, http.StatusOK, views.LiveUpdate(u.table, u.stats))
}

// liveVersion is the live version of what id sees: it changes with
// anyone's traffic for an admin, and only with the traffic of their own
// key for anyone else, so a poll reveals nothing of other keys.
func (s *Server) liveVersion(id auth.Identity) string {
	if id.Admin {
		return s.Live.Version()
	}
	return s.Live.KeyVersion(id.KeyHash)
}

// cachedUpdate returns the table and stat cards for q as a live update shows
// them: computed at most once per minRefresh for each viewer and view, or
// once per state when state is the one an update was computed at, and
// shared by the polls that ask meanwhile.
func (s *Server) cachedUpdate(r *http.Request, id auth.Identity, q query, state string) (liveUpdate, error) {
	key := liveKey{viewer: id.Viewer(), query: q.encode(), page: q.page, pageSize: q.pageSize}
	// Other polls may wait for this computation, so it must not stop when
	// this poll's client goes away.
	ctx := context.WithoutCancel(r.Context())
	return s.updates.get(r.Context(), key, s.clock(), state, func() (liveUpdate, error) {
		return s.computeUpdate(ctx, id, q)
	})
}

// computeUpdate queries the table and the stat cards for q. The version is
// read before the queries, so a change during them leads to one more
// update rather than a missed one.
func (s *Server) computeUpdate(ctx context.Context, id auth.Identity, q query) (liveUpdate, error) {
	live := s.liveVersion(id)
	state, _ := s.viewState(live, q)
	f, err := s.find(ctx, q)
	if err != nil {
		return liveUpdate{}, err
	}
	u := liveUpdate{version: state, found: f}
	if q.searching() && !f.indexed {
		u.version = live + "~s" // the index was not ready after all
	}
	poll := u.version
	if f.indexed {
		u.digest = digest(f)
		poll += "~" + u.digest
	}
	if u.table, err = s.table(ctx, id, q, f, poll); err != nil {
		return liveUpdate{}, err
	}
	sum, err := s.summarize(ctx, q, f)
	if err != nil {
		return liveUpdate{}, err
	}
	u.stats = viewStats(sum)
	return u, nil
}

// table builds the request table for q from f: exchanges in flight first
// (on the first page, unless the index answered a search: their text is
// not known yet), then the records found, with their previews when
// searching. version is what the table's poll sends back.
func (s *Server) table(ctx context.Context, id auth.Identity, q query, f found, version string) (views.Table, error) {
	qs := q.encode()
	t := views.Table{
		Page: q.page, Total: f.total, Approx: f.res.Approx, Admin: id.Admin, QueryString: qs, Filtered: filtered(q.view),
		TotalPages: max(1, int((f.total+int64(q.pageSize)-1)/int64(q.pageSize))),
		Preview:    q.searching(), Notice: f.notice,
	}
	poll := "/partials/requests?"
	if qs != "" {
		poll += qs + "&"
	}
	if q.page > 1 {
		poll += "page=" + strconv.Itoa(q.page) + "&"
	}
	t.PollURL = poll + "v=" + url.QueryEscape(version)
	if q.page == 1 && !f.indexed {
		// The store's filter decides which exchanges in flight show, so a
		// row shows in the same views before and after it is stored.
		for _, p := range s.Live.Pending(func(p *live.Pending) bool {
			return q.filter.Matches(p.KeyHash, p.Method, p.Model, p.Path, p.Start)
		}) {
			t.Rows = append(t.Rows, pendingRow(p, id.Admin))
		}
	}
	var previews map[string]preview
	if q.searching() && len(f.recs) > 0 {
		var err error
		if previews, err = s.previews(ctx, q, f.recs); err != nil {
			return views.Table{}, err
		}
	}
	for _, rec := range f.recs {
		row := recordRow(rec, id.Admin)
		if p, ok := previews[rec.ID]; ok {
			row.Preview = &views.Preview{Request: viewSnippet(p.request), Response: viewSnippet(p.response)}
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

func timeTexts(t time.Time) (iso, text string) {
	t = t.UTC()
	return t.Format(time.RFC3339Nano), t.Format("2006-01-02 15:04:05") + " UTC"
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func recordRow(rec *capture.Record, admin bool) views.Row {
	iso, text := timeTexts(rec.Start)
	row := views.Row{
		ID: rec.ID, TimeISO: iso, TimeText: text, Method: rec.Method, Path: rec.Path,
		Model: cmp.Or(rec.Model, rec.ModelRequested), Status: rec.Status, Outcome: string(rec.Outcome),
		DurationMs: ms(rec.Duration), TTFTMs: ms(rec.TTFT), Tokens: rec.TotalTokens, Cost: rec.Cost,
		Stream: rec.Stream, Error: rec.Error,
	}
	if admin {
		row.KeyMask = rec.KeyMask
	}
	return row
}

func pendingRow(p live.Pending, admin bool) views.Row {
	iso, text := timeTexts(p.Start)
	row := views.Row{
		ID: p.ID, TimeISO: iso, TimeText: text, Method: p.Method, Path: p.Path, Model: p.Model,
		Outcome: "pending", Pending: true, DurationMs: ms(time.Since(p.Start)),
	}
	if admin {
		row.KeyMask = p.KeyMask
	}
	return row
}

// maxFilterOptions is the most choices a filter list offers. Anyone who
// can reach the proxy can make new keys, models and methods, and listing
// them all once made the page megabytes long. The model filter takes any
// text besides its suggestions; a key outside the list is reached from a
// record's detail page.
const maxFilterOptions = 50

// usualMethods are offered first, so that made-up methods cannot crowd
// them out of the method filter.
var usualMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// filterChoices fills the choices of m's filter lists, each at most
// maxFilterOptions long; the current choice is always among them. While
// the index answers a search, the models and the status counts are those
// of the matches, from its facets.
//
// The store returns every distinct value and this trims them; see
// maxFilterOptions.
func (s *Server) filterChoices(ctx context.Context, id auth.Identity, f views.Filter, fd found, m *views.Dashboard) error {
	v := id.Viewer()
	if fd.indexed {
		for _, x := range fd.res.Models {
			m.Models = append(m.Models, x.Value)
		}
		m.Models = m.Models[:min(len(m.Models), maxFilterOptions)]
		m.StatusCounts = statusCounts(fd.res)
	} else {
		models, err := s.Store.Models(ctx, v)
		if err != nil {
			return err
		}
		m.Models = models[:min(len(models), maxFilterOptions)]
	}
	methods, err := s.Store.Methods(ctx, v)
	if err != nil {
		return err
	}
	m.Methods = capMethods(methods)
	if !id.Admin {
		return nil
	}
	keys, err := s.Store.Keys(ctx)
	if err != nil {
		return err
	}
	found := false
	for i, k := range keys {
		if i < maxFilterOptions || k.Hash == f.Key {
			m.Keys = append(m.Keys, views.Option{Value: k.Hash, Label: k.Mask + " (" + strconv.FormatInt(k.Requests, 10) + ")"})
		} else {
			m.KeysHidden++
		}
		found = found || k.Hash == f.Key
	}
	if f.Key != "" && !found {
		m.Keys = append(m.Keys, views.Option{Value: f.Key, Label: "no such key"})
	}
	return nil
}

// capMethods keeps at most maxFilterOptions of methods, the usual ones
// first, and returns them sorted.
func capMethods(methods []string) []string {
	if len(methods) <= maxFilterOptions {
		return methods
	}
	out := make([]string, 0, maxFilterOptions)
	for _, m := range usualMethods {
		if slices.Contains(methods, m) {
			out = append(out, m)
		}
	}
	for _, m := range methods {
		if len(out) == maxFilterOptions {
			break
		}
		if !slices.Contains(usualMethods, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}
