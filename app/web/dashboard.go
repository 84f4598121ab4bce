package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/live"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/views"
)

// handleDashboard serves the full page, or only the table when htmx asks
// for it (filter changes, page links), so a filtered view is one URL.
func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "HX-Request")
	id := identity(r)
	q, err := s.parseQuery(r.URL.Query(), id)
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	table, stats, err := s.tableAndStats(r, q, s.Live.Version())
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	if r.Header.Get("HX-Request") != "" && r.Header.Get("HX-History-Restore-Request") == "" {
		render(w, r, http.StatusOK, views.LiveUpdate(table, stats))
		return
	}
	m := views.Dashboard{Page: s.page(r, "Requests"), Stats: stats, Filter: q.view, Table: table}
	v := id.Viewer()
	if m.Models, err = s.Store.Models(r.Context(), v); err != nil {
		s.fail(w, r, err, false)
		return
	}
	if m.Methods, err = s.Store.Methods(r.Context(), v); err != nil {
		s.fail(w, r, err, false)
		return
	}
	if id.Admin {
		keys, err := s.Store.Keys(r.Context())
		if err != nil {
			s.fail(w, r, err, false)
			return
		}
		for _, k := range keys {
			m.Keys = append(m.Keys, views.Option{Value: k.Hash, Label: k.Mask + " (" + strconv.FormatInt(k.Requests, 10) + ")"})
		}
	}
	render(w, r, http.StatusOK, views.DashboardPage(m))
}

// handlePoll answers the table's poll. It costs no query when nothing has
// changed since the version the table was rendered at: 204, which htmx
// leaves alone, so many open dashboards do not load the server.
func (s *Server) handlePoll(w http.ResponseWriter, r *http.Request) {
	version := s.Live.Version()
	if r.URL.Query().Get("v") == version {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	q, err := s.parseQuery(r.URL.Query(), identity(r))
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	table, stats, err := s.tableAndStats(r, q, version)
	if err != nil {
		s.fail(w, r, err, false)
		return
	}
	render(w, r, http.StatusOK, views.LiveUpdate(table, stats))
}

// tableAndStats is what a live update shows: the table and the stat cards
// for q. The version is read before the queries, so a change during them
// leads to one more update rather than a missed one.
func (s *Server) tableAndStats(r *http.Request, q query, version string) (views.Table, views.Stats, error) {
	table, err := s.table(r, q, version)
	if err != nil {
		return table, views.Stats{}, err
	}
	stats, err := s.stats(r, q)
	return table, stats, err
}

// table builds the request table for q: exchanges in flight first (on the
// first page), then stored records newest first.
func (s *Server) table(r *http.Request, q query, version string) (views.Table, error) {
	id := identity(r)
	recs, total, err := s.Store.List(r.Context(), q.filter)
	if err != nil {
		return views.Table{}, err
	}
	qs := q.encode()
	t := views.Table{
		Page: q.page, Total: total, Admin: id.Admin, QueryString: qs,
		TotalPages: max(1, int((total+int64(q.pageSize)-1)/int64(q.pageSize))),
	}
	poll := "/partials/requests?"
	if qs != "" {
		poll += qs + "&"
	}
	if q.page > 1 {
		poll += "page=" + strconv.Itoa(q.page) + "&"
	}
	t.PollURL = poll + "v=" + version
	if q.page == 1 {
		for _, p := range s.Live.Pending(func(p *live.Pending) bool { return pendingVisible(p, q.filter) }) {
			t.Rows = append(t.Rows, pendingRow(p, id.Admin))
		}
	}
	for _, rec := range recs {
		t.Rows = append(t.Rows, recordRow(rec, id.Admin))
	}
	return t, nil
}

// pendingVisible applies the visibility rule and the simple filters to an
// exchange in flight, the same way the store query does to records.
func pendingVisible(p *live.Pending, f store.Filter) bool {
	if !f.Viewer.Admin && (f.Viewer.KeyHash == "" || p.KeyHash != f.Viewer.KeyHash) {
		return false
	}
	if f.KeyHash != "" && p.KeyHash != f.KeyHash {
		return false
	}
	if f.Status != "" || (f.Model != "" && f.Model != p.Model) || (f.Method != "" && !strings.EqualFold(f.Method, p.Method)) {
		return false
	}
	if (!f.From.IsZero() && p.Start.Before(f.From)) || (!f.To.IsZero() && p.Start.After(f.To)) {
		return false
	}
	if f.Search != "" {
		needle := strings.ToLower(f.Search)
		return strings.Contains(strings.ToLower(p.Path), needle) || strings.Contains(strings.ToLower(p.Model), needle) ||
			strings.Contains(strings.ToLower(p.Method), needle)
	}
	return true
}

func (s *Server) stats(r *http.Request, q query) (views.Stats, error) {
	st, err := s.Store.Stats(r.Context(), q.filter, time.Now())
	if err != nil {
		return views.Stats{}, err
	}
	return views.Stats{
		TotalRequests: st.TotalRequests, SuccessRate: st.SuccessRate, AvgResponseMs: st.AvgDurationMs,
		RecentRequests: st.RecentRequests, P95Ms: st.P95DurationMs, TotalTokens: st.TotalTokens, TotalCost: st.TotalCost,
	}, nil
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
		Model: firstNonEmpty(rec.Model, rec.ModelRequested), Status: rec.Status, Outcome: string(rec.Outcome),
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

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
