package web

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/auth"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/views"
)

// The statistics page (GET /stats) and the window of GET /api/stats: a
// window (the last hour, day, week or month, all time, or a from–to) and
// the table's filters, answered from the store's rollups.

// statsWindow is one choice of the window picker.
type statsWindow struct {
	value, label string
	d            time.Duration // 0 for all time
}

// statsWindows are the windows a URL may name with window=; a from or to
// makes a custom window instead.
var statsWindows = []statsWindow{
	{"1h", "1 h", time.Hour},
	{"24h", "24 h", 24 * time.Hour},
	{"7d", "7 d", 7 * 24 * time.Hour},
	{"30d", "30 d", 30 * 24 * time.Hour},
	{"all", "All", 0},
}

// windowCustom is the window of a from–to.
const windowCustom = "custom"

// defaultPageWindow is the page's window when the URL names none; the API's
// is all time, as it was before windows existed.
const defaultPageWindow = "24h"

// maxChartPoints is about the most steps a chart shows: the step is the
// finest of seriesSteps that keeps a window within it.
const maxChartPoints = 100

// seriesSteps are the steps a chart may use, finest first. Each is a whole
// number of minutes, as Store.Series requires, and those of a day or more
// are whole days, so that they read the day rollups.
var seriesSteps = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour, 6 * time.Hour, 8 * time.Hour, 12 * time.Hour,
	day, 2 * day, 3 * day, 7 * day, 14 * day, 28 * day, 56 * day, 91 * day, 182 * day, 364 * day,
}

const day = 24 * time.Hour

// minDailySpan is the shortest window charted by whole days.
const minDailySpan = 28 * day

// maxBreakdownRows is how many groups a breakdown table shows: anyone who
// can reach the proxy can invent models, so the table must stay bounded.
const maxBreakdownRows = 20

// statsQuery is a statistics request: the table's filter, with From and To
// set to the window's, and how to chart it.
type statsQuery struct {
	query
	// window is one of statsWindows' values or windowCustom.
	window string
	// step is the charts' step; series is the filter Store.Series is
	// asked with, whose From and To are the charts' span (zero: from the
	// first step with records).
	step   time.Duration
	series store.Filter
	// period says in words which period the numbers cover.
	period string
	// from and to are the window as the table's from and to parameters,
	// for the links to the table; "" where unbounded.
	from, to string
}

// parseStatsQuery reads a statistics request: the table's filter (see
// parseQuery) and the window. With strict unset, as for the page's form,
// a from or to wins over window=; with it set, as for the API, naming both
// is an error. def is the window when the URL names none.
func (s *Server) parseStatsQuery(ctx context.Context, vals url.Values, id auth.Identity, def string, strict bool) (statsQuery, store.Coverage, error) {
	var sq statsQuery
	var err error
	if sq.query, err = s.parseQuery(vals, id); err != nil {
		return sq, store.Coverage{}, err
	}
	custom := sq.view.From != "" || sq.view.To != ""
	w := vals.Get("window")
	switch {
	case custom && w != "" && w != windowCustom && strict:
		return sq, store.Coverage{}, badInput("window=%q and from/to: give one or the other", w)
	case custom:
		w = windowCustom
	case w == "":
		w = def
	case w == windowCustom:
		w = "all" // a custom window without bounds is all time
	}
	var win statsWindow
	found := false
	for _, x := range statsWindows {
		if x.value == w {
			win, found = x, true
		}
	}
	if !found && w != windowCustom {
		return sq, store.Coverage{}, badInput("window=%q: want 1h, 24h, 7d, 30d or all, or give from and to", w)
	}
	sq.window = w
	f := &sq.filter
	if custom && !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return sq, store.Coverage{}, badInput("from=%q is not before to=%q", sq.view.From, sq.view.To)
	}
	cov, err := s.coverage(ctx)
	if err != nil {
		return sq, cov, err
	}
	now := s.clock().UTC()
	f.Limit, f.Offset = 0, 0
	sq.series = *f
	switch {
	case custom:
		start, end := cmp.Or(f.From, cov.From, now), cmp.Or(f.To, now)
		sq.step = pickStep(start, end, cov)
		if f.To.IsZero() {
			sq.series.To = now.Truncate(sq.step).Add(sq.step)
		}
		sq.from, sq.to = sq.view.From, sq.view.To
		sq.period = customPeriod(f.From, f.To)
	case win.d == 0:
		sq.step = pickStep(cmp.Or(cov.From, now), now, cov)
		// From the first step with records: the rollups' start is
		// everyone's, which a user has no business knowing.
		sq.series.To = now.Truncate(sq.step).Add(sq.step)
		sq.period = "All time"
	default:
		sq.step = pickStep(now.Add(-win.d), now, cov)
		// The window starts at a whole step, so that the cards count
		// what the charts draw; it is up to one step longer than named.
		f.From = now.Add(-win.d).Truncate(sq.step)
		sq.series.From, sq.series.To = f.From, now.Truncate(sq.step).Add(sq.step)
		sq.from = tableTime(f.From)
		sq.period = "Last " + win.label + ", since " + f.From.Format("2006-01-02 15:04") + " UTC"
	}
	return sq, cov, nil
}

// pickStep returns the finest step that draws [from, to) in at most about
// maxChartPoints steps and that the rollups still hold at from: minute
// rows are compacted into hours, and hours into days, after a while.
func pickStep(from, to time.Time, cov store.Coverage) time.Duration {
	span := max(to.Sub(from), time.Minute)
	for _, st := range seriesSteps {
		if st < time.Hour && !cov.MinuteFrom.IsZero() && from.Before(cov.MinuteFrom) {
			continue
		}
		if st < day && !cov.HourFrom.IsZero() && from.Before(cov.HourFrom) {
			continue
		}
		// A month or more is charted by the day: the day rollups answer it
		// from a few rows a day, where sub-day steps read every hour's.
		if st < day && span >= minDailySpan {
			continue
		}
		// Rounding the window out to whole steps adds one.
		if int64(span/st)+2 <= maxChartPoints {
			return st
		}
	}
	return seriesSteps[len(seriesSteps)-1]
}

// tableTime formats a window's bound as the table's from and to read it.
func tableTime(t time.Time) string {
	t = t.UTC()
	if t.Second() == 0 && t.Nanosecond() == 0 {
		return t.Format("2006-01-02T15:04")
	}
	return t.Format(time.RFC3339Nano)
}

// customPeriod says which period a from–to covers.
func customPeriod(from, to time.Time) string {
	const layout = "2006-01-02 15:04"
	switch {
	case to.IsZero():
		return "Since " + from.Format(layout) + " UTC"
	case from.IsZero():
		return "Until " + to.Format(layout) + " UTC"
	default:
		return "From " + from.Format(layout) + " to " + to.Format(layout) + " UTC"
	}
}

// coverageText says what period the rollups cover and how finely. Admins
// are told since when; a user is not, since that is when anyone's traffic
// began.
func coverageText(c store.Coverage, admin bool) string {
	out := "Statistics count every request, also those whose bodies retention has deleted"
	if admin && !c.From.IsZero() {
		out = "Statistics cover everything since " + c.From.Format("2006-01-02") + ", also requests whose bodies retention has deleted"
	}
	// A grain that begins before the first record covers it all.
	minute := !c.MinuteFrom.IsZero() && c.MinuteFrom.After(c.From)
	hour := !c.HourFrom.IsZero() && c.HourFrom.After(c.From)
	switch {
	case minute && hour:
		out += "; to the minute since " + c.MinuteFrom.Format("2006-01-02 15:04") + " UTC, to the hour since " +
			c.HourFrom.Format("2006-01-02") + ", by the day before."
	case minute:
		out += "; to the minute since " + c.MinuteFrom.Format("2006-01-02 15:04") + " UTC, to the hour before."
	default:
		out += ", to the minute."
	}
	return out
}

// pageValues are the statistics page's own parameters for sq, without
// the window: the filters the picker's links and the poll keep.
func (sq statsQuery) pageValues() url.Values {
	v := url.Values{}
	for _, kv := range [][2]string{
		{"status", sq.view.Status}, {"model", sq.view.Model}, {"provider", sq.view.Provider},
		{"method", sq.view.Method}, {"key", sq.view.Key},
	} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	return v
}

// selfValues are the parameters of the page showing sq.
func (sq statsQuery) selfValues() url.Values {
	v := sq.pageValues()
	if sq.window == windowCustom {
		if sq.view.From != "" {
			v.Set("from", sq.view.From)
		}
		if sq.view.To != "" {
			v.Set("to", sq.view.To)
		}
	} else {
		v.Set("window", sq.window)
	}
	return v
}

// tableURL is the request table showing the records of sq, narrowed by
// set (parameter, value pairs).
func (sq statsQuery) tableURL(set ...string) string {
	v := sq.pageValues()
	if sq.from != "" {
		v.Set("from", sq.from)
	}
	if sq.to != "" {
		v.Set("to", sq.to)
	}
	for i := 0; i+1 < len(set); i += 2 {
		v.Set(set[i], set[i+1])
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// statsState is the version of what the page shows: the live version of
// what id sees, and the window's moving edges.
func (s *Server) statsState(id auth.Identity, sq statsQuery) string {
	return s.liveVersion(id) + "~" + strconv.FormatInt(sq.filter.From.Unix(), 36) + "~" + strconv.FormatInt(sq.series.To.Unix(), 36)
}

// handleStats serves the statistics page.
func (s *Server) handleStats(w http.ResponseWriter, r *http.Request) {
	id := identity(r)
	vals := r.URL.Query()
	vals.Del("search") // the page has no search; the rollups answer it
	m := views.StatsPage{Page: s.page(r, "Statistics"), Admin: id.Admin}
	sq, cov, err := s.parseStatsQuery(r.Context(), vals, id, defaultPageWindow, false)
	if err == nil {
		m.Body, err = s.statsBody(r.Context(), id, sq, cov)
	}
	m.Window, m.Filter = sq.window, sq.view
	m.Windows = statsChoices(sq)
	if err := s.statsFilterLists(r.Context(), id, &m); err != nil {
		s.fail(w, r, err, false)
		return
	}
	status := http.StatusOK
	if err != nil {
		if !isBadInput(err) {
			s.fail(w, r, err, false)
			return
		}
		status = http.StatusBadRequest
		m.Body = views.StatsBody{Error: userMessage(err)}
	}
	render(w, r, status, views.StatsPageView(m))
}

// handleStatsPoll answers the page's poll: 204 while the version it was
// rendered at is current, else the new body.
func (s *Server) handleStatsPoll(w http.ResponseWriter, r *http.Request) {
	id := identity(r)
	vals := r.URL.Query()
	vals.Del("search")
	sq, cov, err := s.parseStatsQuery(r.Context(), vals, id, defaultPageWindow, false)
	if err == nil && vals.Get("v") == s.statsState(id, sq) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var body views.StatsBody
	if err == nil {
		body, err = s.statsBody(r.Context(), id, sq, cov)
	}
	if err != nil {
		if !isBadInput(err) {
			s.fail(w, r, err, false)
			return
		}
		render(w, r, http.StatusBadRequest, views.StatsBodyView(views.StatsBody{Error: userMessage(err)}))
		return
	}
	render(w, r, http.StatusOK, views.StatsBodyView(body))
}

// statsChoices are the window picker's links, each keeping the filters.
func statsChoices(sq statsQuery) []views.WindowChoice {
	out := make([]views.WindowChoice, 0, len(statsWindows))
	for _, x := range statsWindows {
		v := sq.pageValues()
		v.Set("window", x.value)
		out = append(out, views.WindowChoice{Value: x.value, Label: x.label, URL: "/stats?" + v.Encode(), Current: x.value == sq.window})
	}
	return out
}

// statsFilterLists fills the filter form's lists as the dashboard does.
func (s *Server) statsFilterLists(ctx context.Context, id auth.Identity, m *views.StatsPage) error {
	d := views.Dashboard{}
	if err := s.filterChoices(ctx, id, m.Filter, found{}, &d); err != nil {
		return err
	}
	m.Models, m.Methods, m.Keys, m.KeysHidden = d.Models, d.Methods, d.Keys, d.KeysHidden
	return nil
}

// breakdownDim is one dimension the statistics break down by: the
// page's sections and the API's breakdown= values.
type breakdownDim struct {
	by            store.Dimension
	id, title     string
	column, param string
}

// breakdownDims are the breakdown tables of the page, in order; the key's
// is for admins only.
var breakdownDims = []breakdownDim{
	{store.ByModel, "model", "By model", "Model", "model"},
	{store.ByProvider, "provider", "By provider", "Provider", "provider"},
	{store.ByStatusClass, "status", "By status", "Status", "status"},
	{store.ByKey, "key", "By key", "Key", "key"},
}

// statsBody queries everything the page's body shows.
func (s *Server) statsBody(ctx context.Context, id auth.Identity, sq statsQuery, cov store.Coverage) (views.StatsBody, error) {
	// The state is read before the queries, so a change during them
	// leads to one more refresh rather than a missed one.
	b := views.StatsBody{Period: sq.period, Coverage: coverageText(cov, id.Admin), TableURL: sq.tableURL()}
	v := sq.selfValues()
	v.Set("v", s.statsState(id, sq))
	b.PollURL = "/partials/stats?" + v.Encode()
	st, err := s.Store.Stats(ctx, sq.filter, s.clock())
	if err != nil {
		return b, err
	}
	b.Cards = statsCards(st)
	for _, d := range breakdownDims {
		if d.by == store.ByKey && !id.Admin {
			continue
		}
		rows, err := s.Store.Breakdown(ctx, sq.filter, d.by)
		if err != nil {
			return b, err
		}
		if d.by == store.ByModel {
			for _, r := range rows {
				b.Tokens = append(b.Tokens, views.ModelTokens{Model: r.Value, In: r.PromptTokens, Out: r.CompletionTokens})
			}
		}
		bd := views.Breakdown{ID: d.id, Title: d.title, Column: d.column}
		for i, r := range rows {
			if i == maxBreakdownRows {
				bd.Hidden = len(rows) - i
				break
			}
			bd.Rows = append(bd.Rows, breakdownRow(sq, d.by, d.param, r, st.TotalRequests))
		}
		b.Breakdowns = append(b.Breakdowns, bd)
	}
	points, err := s.Store.Series(ctx, sq.series, sq.step)
	if err != nil {
		return b, err
	}
	b.Series = viewSeries(points, sq.step)
	return b, nil
}

// statsCards are the page's headline numbers of st.
func statsCards(st store.Stats) views.StatsCards {
	return views.StatsCards{
		Requests: st.TotalRequests, Errors: st.ErrorCount, SuccessRate: st.SuccessRate, ErrorRate: st.ErrorRate,
		AvgMs: st.AvgDurationMs, P50Ms: st.P50DurationMs, P95Ms: st.P95DurationMs, P99Ms: st.P99DurationMs,
		TTFTP50Ms: st.P50TTFTMs, TTFTP95Ms: st.P95TTFTMs, TokensPerSec: st.TokensPerSecond,
		PromptTokens: st.PromptTokens, CompletionTokens: st.CompletionTokens,
		CachedTokens: st.CachedTokens, ReasoningTokens: st.ReasoningTokens, Cost: st.TotalCost,
	}
}

// breakdownRow is one row of a breakdown table, with the link to the table
// filtered by its group where the table can filter by it.
func breakdownRow(sq statsQuery, by store.Dimension, param string, r store.BreakdownRow, total int64) views.BreakdownRow {
	row := views.BreakdownRow{
		Label: r.Label, Requests: r.Requests, Errors: r.Errors, ErrorRate: r.ErrorRate,
		P50Ms: r.P50DurationMs, P95Ms: r.P95DurationMs, Tokens: r.TotalTokens, Cost: r.Cost,
	}
	if total > 0 {
		row.Share = 100 * float64(r.Requests) / float64(total)
	}
	linked := r.Value != ""
	switch by {
	case store.ByModel:
		row.Label = cmp.Or(r.Label, "(none)")
	case store.ByProvider:
		row.Label = cmp.Or(r.Label, "(unknown)")
	case store.ByStatusClass:
		// The table filters by these classes only, and by one status at
		// a time: within a status filter a class link would widen it.
		linked = sq.view.Status == "" && (r.Value == store.Status2xx || r.Value == store.Status4xx || r.Value == store.Status5xx)
		if r.Value == "none" {
			row.Label = "no response"
		}
	case store.ByKey:
		row.Label = cmp.Or(r.Label, "(no key)")
	}
	if linked {
		row.URL = sq.tableURL(param, r.Value)
	}
	return row
}

// viewSeries is the charts' model of a series.
func viewSeries(points []store.Point, step time.Duration) views.Series {
	out := views.Series{Step: step, Points: make([]views.SeriesPoint, len(points))}
	for i, p := range points {
		vp := views.SeriesPoint{
			Start: p.Start, Requests: p.Requests, Errors: p.Errors, P50Ms: p.P50DurationMs, P95Ms: p.P95DurationMs,
			Cost: p.Cost, Tokens: p.PromptTokens + p.CompletionTokens,
		}
		if len(p.Models) > 0 {
			vp.ModelCost = make(map[string]float64, len(p.Models))
			for _, m := range p.Models {
				vp.ModelCost[m.Model] += m.Cost
			}
		}
		out.Points[i] = vp
	}
	return out
}
