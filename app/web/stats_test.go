package web_test

import (
	"context"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/web"
	"github.com/openrouter-proxy/openrouter-proxy/views"
)

// statExchange is one analysed record of the statistics fixture, whose
// sums the tests know.
type statExchange struct {
	name, key, model, provider, method string
	status                             int
	outcome                            capture.Outcome
	stream                             bool
	ago, dur, ttft                     time.Duration
	prompt, completion                 int64
	cached, reasoning                  int64
	cost                               float64
}

// statsFixture, oldest first. In the 24 hours before statsNow: alice has
// a1–a4 (one 429), bob b1 (a 500) and b2; "old" is alice's, three days
// before.
var statsFixture = []statExchange{
	{name: "old", key: aliceKey, model: "openai/gpt-4o", provider: "OpenAI", method: "POST", status: 200, outcome: capture.OutcomeOK,
		ago: 72 * time.Hour, dur: 800 * time.Millisecond, prompt: 5, completion: 5, cost: 0.1},
	{name: "a4", key: aliceKey, model: "anthropic/claude", provider: "Anthropic", method: "POST", status: 200, outcome: capture.OutcomeOK,
		ago: 3 * time.Hour, dur: time.Second, prompt: 10, completion: 10, cost: 0.002},
	{name: "b2", key: bobKey, model: "meta/llama", provider: "Together", method: "GET", status: 200, outcome: capture.OutcomeOK,
		ago: 2 * time.Hour, dur: 200 * time.Millisecond, prompt: 1, completion: 1, cost: 0.5},
	{name: "a3", key: aliceKey, model: "anthropic/claude", provider: "Anthropic", method: "POST", status: 429, outcome: capture.OutcomeUpstreamError,
		ago: 30 * time.Minute, dur: 100 * time.Millisecond},
	{name: "a2", key: aliceKey, model: "openai/gpt-4o", provider: "Azure", method: "POST", status: 200, outcome: capture.OutcomeOK, stream: true,
		ago: 20 * time.Minute, dur: 4 * time.Second, ttft: time.Second, prompt: 200, completion: 150, cost: 0.03},
	{name: "a1", key: aliceKey, model: "openai/gpt-4o", provider: "OpenAI", method: "POST", status: 200, outcome: capture.OutcomeOK, stream: true,
		ago: 10 * time.Minute, dur: 2 * time.Second, ttft: 500 * time.Millisecond, prompt: 100, completion: 50, cached: 20, reasoning: 5, cost: 0.01},
	{name: "b1", key: bobKey, model: "openai/gpt-4o", provider: "OpenAI", method: "POST", status: 500, outcome: capture.OutcomeUpstreamError,
		ago: 5 * time.Minute, dur: 300 * time.Millisecond},
}

// statsNow is the fixture's present: 7.5 minutes past an hour within the
// last two hours, so that the minute rollups hold the day before it and
// the 15-minute steps of the 24-hour charts fall alike in every run.
func statsNow() time.Time {
	return time.Now().UTC().Truncate(time.Hour).Add(-time.Hour + 7*time.Minute + 30*time.Second)
}

// record is the analysed record of x, started x.ago before now.
func (x statExchange) record(now time.Time) *capture.Record {
	rec := &capture.Record{
		ID: uuid.Must(uuid.NewV7()).String(), Start: now.Add(-x.ago), Method: x.method,
		URL: "/v1/chat/completions", Path: "/chat/completions", Status: x.status, Outcome: x.outcome, Stream: x.stream,
		KeyHash: capture.Fingerprint(x.key), KeyMask: capture.Mask(x.key),
		Model: x.model, ModelRequested: x.model, Provider: x.provider,
		Duration: x.dur, TTFB: x.dur / 4, TTFT: x.ttft,
		PromptTokens: x.prompt, CompletionTokens: x.completion, TotalTokens: x.prompt + x.completion,
		CachedTokens: x.cached, ReasoningTokens: x.reasoning, Cost: x.cost, HasUsage: x.prompt > 0,
		ReqHeaderJSON: `{}`, RespHeaderJSON: `{}`, Attempts: 1, Analyzed: true,
	}
	if x.outcome != capture.OutcomeOK {
		rec.Error = "failed"
	}
	return rec
}

// setNow sets the dashboard's clock.
func (e *env) setNow(t time.Time) {
	e.clock.mu.Lock()
	defer e.clock.mu.Unlock()
	e.clock.t = t
}

// seedStats records xs at e.now and waits until they are committed.
func (e *env) seedStats(xs ...statExchange) {
	e.t.Helper()
	for _, x := range xs {
		rec := x.record(e.now)
		e.ids[x.name], e.names[rec.ID] = rec.ID, x.name
		if err := e.st.Record(rec); err != nil {
			e.t.Fatalf("record %s: %v", x.name, err)
		}
	}
	e.flush()
}

// newStatsEnv returns a dashboard holding statsFixture, its clock at
// statsNow.
func newStatsEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t)
	e.now = statsNow()
	e.setNow(e.now)
	e.seedStats(statsFixture...)
	return e
}

// minuteText is t as the table's from parameter shows a whole minute.
func minuteText(t time.Time) string { return t.UTC().Format("2006-01-02T15:04") }

// dayFrom is the start of the 24-hour window at now: 24 hours back,
// rounded down to its 15-minute step.
func dayFrom(now time.Time) time.Time { return now.Add(-24 * time.Hour).Truncate(15 * time.Minute) }

// cardValue is the value shown on the stat card with this test id.
func cardValue(t *testing.T, doc *goquery.Document, id string) string {
	t.Helper()
	s := doc.Find(byTestID(id) + " .stat-value")
	if s.Length() != 1 {
		t.Fatalf("card %s: %d found", id, s.Length())
	}
	return strings.TrimSpace(s.Text())
}

// storeStats is what the store says of f at the fixture's present, for
// the percentiles, which come from histograms.
func (e *env) storeStats(f store.Filter) store.Stats {
	e.t.Helper()
	st, err := e.st.Stats(context.Background(), f, e.now)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func TestStatsPageCards(t *testing.T) {
	e := newStatsEnv(t)
	users := e.sessions()
	admin := store.Viewer{Admin: true}
	alice := store.Viewer{KeyHash: capture.Fingerprint(aliceKey)}
	for _, tc := range []struct {
		name, user string
		viewer     store.Viewer
		want       map[string]string
	}{
		{"Admin", "admin", admin, map[string]string{
			"stat-requests": "6", "stat-success": "66.7%", "stat-errors": "33.3%", "stat-avg": "1.3 s", "stat-tps": "44.4",
			"stat-in": "311", "stat-out": "211", "stat-cached": "20", "stat-reasoning": "5", "stat-cost": "$0.542",
		}},
		{"Alice", "alice", alice, map[string]string{
			"stat-requests": "4", "stat-success": "75%", "stat-errors": "25%", "stat-avg": "1.8 s", "stat-tps": "44.4",
			"stat-in": "310", "stat-out": "210", "stat-cached": "20", "stat-reasoning": "5", "stat-cost": "$0.042",
		}},
		{"Bob", "bob", store.Viewer{KeyHash: capture.Fingerprint(bobKey)}, map[string]string{
			"stat-requests": "2", "stat-success": "50%", "stat-errors": "50%", "stat-avg": "250 ms", "stat-tps": "—",
			"stat-in": "1", "stat-out": "1", "stat-cached": "0", "stat-reasoning": "0", "stat-cost": "$0.50",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.get("/stats", withCookie(users[tc.user]))
			wantStatus(t, w, http.StatusOK)
			doc := page(t, w)
			for id, want := range tc.want {
				if got := cardValue(t, doc, id); got != want {
					t.Errorf("%s = %q, want %q", id, got, want)
				}
			}
			// The percentiles are the store's, from histograms within
			// HistRelativeError of the exact ones.
			st := e.storeStats(store.Filter{Viewer: tc.viewer, From: dayFrom(e.now)})
			for id, v := range map[string]float64{
				"stat-p50": st.P50DurationMs, "stat-p95": st.P95DurationMs, "stat-p99": st.P99DurationMs,
				"stat-ttft-p50": st.P50TTFTMs, "stat-ttft-p95": st.P95TTFTMs,
			} {
				if got := cardValue(t, doc, id); got != views.FormatMs(v) {
					t.Errorf("%s = %q, want %q", id, got, views.FormatMs(v))
				}
			}
			period := doc.Find(byTestID("stats-period")).Text()
			if want := "Last 24 h, since " + dayFrom(e.now).Format("2006-01-02 15:04") + " UTC"; !strings.Contains(period, want) {
				t.Errorf("period %q, want %q", period, want)
			}
			if cur := doc.Find(byTestID("window-picker") + ` [aria-current="page"]`); cur.Text() != "24 h" {
				t.Errorf("current window %q, want 24 h", cur.Text())
			}
		})
	}
	// Exact percentiles of the admin's day: 100, 200, 300, 1000, 2000 and
	// 4000 ms; TTFT 500 and 1000 ms.
	st := e.storeStats(store.Filter{Viewer: admin, From: dayFrom(e.now)})
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", st.P50DurationMs, 300}, {"p95", st.P95DurationMs, 4000}, {"p99", st.P99DurationMs, 4000},
		{"ttft p50", st.P50TTFTMs, 500}, {"ttft p95", st.P95TTFTMs, 1000}} {
		if math.Abs(c.got-c.want) > c.want*store.HistRelativeError {
			t.Errorf("%s %v, want %v within %.2f%%", c.name, c.got, c.want, 100*store.HistRelativeError)
		}
	}
}

func TestStatsPageWindows(t *testing.T) {
	e := newStatsEnv(t)
	admin := e.login(adminKey)
	for _, tc := range []struct {
		name, query, requests, period string
	}{
		{"Hour", "window=1h", "4", "Last 1 h, since " + e.now.Add(-time.Hour).Truncate(time.Minute).Format("2006-01-02 15:04")},
		{"Day", "window=24h", "6", "Last 24 h"},
		{"DefaultIsDay", "", "6", "Last 24 h"},
		{"Week", "window=7d", "7", "Last 7 d"},
		{"Month", "window=30d", "7", "Last 30 d"},
		{"All", "window=all", "7", "All time"},
		{"CustomWithoutBoundsIsAll", "window=custom", "7", "All time"},
		{"FromTo", "from=" + minuteText(e.now.Add(-4*time.Hour)) + "&to=" + minuteText(e.now.Add(-time.Hour)), "2",
			"From " + e.now.Add(-4*time.Hour).Format("2006-01-02 15:04") + " to " + e.now.Add(-time.Hour).Format("2006-01-02 15:04") + " UTC"},
		// The form sends the window it shows hidden; a from or to wins.
		{"FromWinsOnThePage", "window=24h&from=" + minuteText(e.now.Add(-4*time.Hour)), "6", "Since "},
		{"ToOnly", "to=" + minuteText(e.now.Add(-time.Hour)), "3", "Until "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := e.get("/stats?"+tc.query, withCookie(admin))
			wantStatus(t, w, http.StatusOK)
			doc := page(t, w)
			if got := cardValue(t, doc, "stat-requests"); got != tc.requests {
				t.Errorf("requests %q, want %q", got, tc.requests)
			}
			if got := doc.Find(byTestID("stats-period")).Text(); !strings.Contains(got, tc.period) {
				t.Errorf("period %q, want it to contain %q", got, tc.period)
			}
			// "See these requests" shows exactly the window's records.
			link := doc.Find(byTestID("stats-table-link")).AttrOr("href", "")
			tw := e.get(link, withCookie(admin))
			wantStatus(t, tw, http.StatusOK)
			if n := len(e.rowNames(page(t, tw), "request-row")); strings.Repeat("x", n) != strings.Repeat("x", atoi(t, tc.requests)) {
				t.Errorf("the table at %s shows %d rows, want %s", link, n, tc.requests)
			}
		})
	}
	t.Run("BadInput", func(t *testing.T) {
		for _, q := range []string{"window=2h", "from=yesterday", "from=" + minuteText(e.now) + "&to=" + minuteText(e.now.Add(-time.Hour)), "status=maybe"} {
			w := e.get("/stats?"+q, withCookie(admin))
			wantStatus(t, w, http.StatusBadRequest)
			doc := page(t, w)
			if msg := doc.Find(byTestID("stats-error")).Text(); msg == "" || strings.Contains(msg, "bad input") {
				t.Errorf("%s: error %q, want the reason alone", q, msg)
			}
			if doc.Find(byTestID("stats-filter-form")).Length() != 1 {
				t.Errorf("%s: no filter form to correct the input", q)
			}
		}
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("not a number: %q", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// breakdownLinks returns each row of a breakdown table: its label and the
// names of the records its link's table shows, newest first ("-" when it
// has no link).
func (e *env) breakdownLinks(doc *goquery.Document, id string, cookie *http.Cookie) map[string][]string {
	e.t.Helper()
	out := map[string][]string{}
	doc.Find(byTestID("breakdown-"+id) + " " + byTestID("breakdown-row")).Each(func(_ int, row *goquery.Selection) {
		label := strings.TrimSpace(row.Find("th").Text())
		href, ok := row.Find(byTestID("breakdown-link")).Attr("href")
		if !ok {
			out[label] = []string{"-"}
			return
		}
		w := e.get(href, withCookie(cookie))
		wantStatus(e.t, w, http.StatusOK)
		out[label] = e.rowNames(page(e.t, w), "request-row")
	})
	return out
}

func TestStatsBreakdownLinks(t *testing.T) {
	e := newStatsEnv(t)
	users := e.sessions()
	w := e.get("/stats", withCookie(users["admin"]))
	wantStatus(t, w, http.StatusOK)
	doc := page(t, w)
	aliceMask, bobMask := capture.Mask(aliceKey), capture.Mask(bobKey)
	for _, tc := range []struct {
		id     string
		labels []string // in order
		links  map[string][]string
	}{
		{"model", []string{"openai/gpt-4o", "anthropic/claude", "meta/llama"}, map[string][]string{
			"openai/gpt-4o": {"b1", "a1", "a2"}, "anthropic/claude": {"a3", "a4"}, "meta/llama": {"b2"}}},
		{"provider", []string{"Anthropic", "OpenAI", "Azure", "Together"}, map[string][]string{
			"Anthropic": {"a3", "a4"}, "OpenAI": {"b1", "a1"}, "Azure": {"a2"}, "Together": {"b2"}}},
		{"status", []string{"2xx", "4xx", "5xx"}, map[string][]string{
			"2xx": {"a1", "a2", "b2", "a4"}, "4xx": {"a3"}, "5xx": {"b1"}}},
		{"key", []string{aliceMask, bobMask}, map[string][]string{
			aliceMask: {"a1", "a2", "a3", "a4"}, bobMask: {"b1", "b2"}}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			var labels []string
			doc.Find(byTestID("breakdown-"+tc.id) + " " + byTestID("breakdown-row") + " th").Each(func(_ int, s *goquery.Selection) {
				labels = append(labels, strings.TrimSpace(s.Text()))
			})
			if !reflect.DeepEqual(labels, tc.labels) {
				t.Errorf("rows %q, want %q", labels, tc.labels)
			}
			if got := e.breakdownLinks(doc, tc.id, users["admin"]); !reflect.DeepEqual(got, tc.links) {
				t.Errorf("links lead to %v, want %v", got, tc.links)
			}
		})
	}
	t.Run("RowNumbers", func(t *testing.T) {
		row := doc.Find(byTestID("breakdown-model") + " " + byTestID("breakdown-row")).First()
		for id, want := range map[string]string{"breakdown-requests": "3", "breakdown-errors": "1", "breakdown-tokens": "500", "breakdown-cost": "$0.04"} {
			if got := strings.TrimSpace(row.Find(byTestID(id)).Text()); got != want {
				t.Errorf("openai/gpt-4o %s = %q, want %q", id, got, want)
			}
		}
	})
	t.Run("WithinAFilter", func(t *testing.T) {
		// The links keep the page's filters: OpenAI within gpt-4o is b1
		// and a1, not the old record (outside the window) nor b2.
		w := e.get("/stats?model=openai/gpt-4o", withCookie(users["admin"]))
		wantStatus(t, w, http.StatusOK)
		got := e.breakdownLinks(page(t, w), "provider", users["admin"])
		want := map[string][]string{"OpenAI": {"b1", "a1"}, "Azure": {"a2"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("links lead to %v, want %v", got, want)
		}
		// Within a status filter a class would widen it: no link.
		w = e.get("/stats?status=error", withCookie(users["admin"]))
		got = e.breakdownLinks(page(t, w), "status", users["admin"])
		want = map[string][]string{"4xx": {"-"}, "5xx": {"-"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("status rows within status=error: %v, want %v", got, want)
		}
	})
}

func TestStatsVisibility(t *testing.T) {
	e := newStatsEnv(t)
	users := e.sessions()
	bobHash := capture.Fingerprint(bobKey)
	for _, q := range []string{"", "window=all", "key=" + bobHash, "model=meta/llama"} {
		w := e.get("/stats?"+q, withCookie(users["alice"]))
		wantStatus(t, w, http.StatusOK)
		body := w.Body.String()
		doc := page(t, w)
		if doc.Find(byTestID("breakdown-key")).Length() != 0 || doc.Find(byTestID("stats-filter-key")).Length() != 0 {
			t.Errorf("%q: a user sees the key breakdown or the key filter", q)
		}
		for _, secret := range []string{"meta/llama\"", "Together", capture.Mask(bobKey), bobHash, "0.50"} {
			if strings.Contains(body, secret) && !(q == "model=meta/llama" && secret == "meta/llama\"") {
				t.Errorf("%q: alice's page shows %q, which is bob's", q, secret)
			}
		}
		if q == "model=meta/llama" {
			if got := cardValue(t, doc, "stat-requests"); got != "0" {
				t.Errorf("alice filtering by bob's model counts %s", got)
			}
		}
		if strings.Contains(doc.Find(byTestID("stats-coverage")).Text(), "cover everything since") {
			t.Errorf("%q: a user is told when anyone's traffic began", q)
		}
	}
	w := e.get("/stats", withCookie(users["admin"]))
	want := "Statistics cover everything since " + e.now.Add(-72*time.Hour).Format("2006-01-02")
	if got := page(t, w).Find(byTestID("stats-coverage")).Text(); !strings.HasPrefix(got, want) {
		t.Errorf("admin's coverage %q, want it to start %q", got, want)
	}
}

// chartOf returns the chart with this id.
func chartOf(t *testing.T, doc *goquery.Document, id string) *goquery.Selection {
	t.Helper()
	c := doc.Find(byTestID("chart-" + id))
	if c.Length() != 1 {
		t.Fatalf("chart %s: %d found", id, c.Length())
	}
	return c
}

func TestStatsCharts(t *testing.T) {
	e := newStatsEnv(t)
	admin := e.login(adminKey)
	w := e.get("/stats", withCookie(admin))
	wantStatus(t, w, http.StatusOK)
	doc := page(t, w)
	// The day in 15-minute steps: a1 and a2 share one, then a3, b1, a4
	// and b2 have one each.
	step := func(ago time.Duration) string {
		return e.now.Add(-ago).Truncate(15*time.Minute).Format("2006-01-02 15:04") + " UTC"
	}
	for _, tc := range []struct {
		id, sel string
		titles  []string
	}{
		{"requests", "rect title", []string{
			step(3*time.Hour) + ": 1 request, 0 errors", step(2*time.Hour) + ": 1 request, 0 errors",
			step(30*time.Minute) + ": 1 request, 1 error", step(30*time.Minute) + ": 1 request, 1 error",
			step(10*time.Minute) + ": 2 requests, 0 errors",
			step(5*time.Minute) + ": 1 request, 1 error", step(5*time.Minute) + ": 1 request, 1 error",
		}},
		{"cost", "rect title", []string{
			step(3*time.Hour) + ": anthropic/claude $0.002 of $0.002", step(2*time.Hour) + ": meta/llama $0.50 of $0.50",
			step(10*time.Minute) + ": openai/gpt-4o $0.04 of $0.04",
		}},
		{"tokens", "rect title", []string{
			"openai/gpt-4o: 500 tokens (300 in, 200 out)", "openai/gpt-4o: 500 tokens (300 in, 200 out)",
			"anthropic/claude: 20 tokens (10 in, 10 out)", "anthropic/claude: 20 tokens (10 in, 10 out)",
			"meta/llama: 2 tokens (1 in, 1 out)", "meta/llama: 2 tokens (1 in, 1 out)",
		}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			var titles []string
			chartOf(t, doc, tc.id).Find(tc.sel).Each(func(_ int, s *goquery.Selection) { titles = append(titles, s.Text()) })
			if !reflect.DeepEqual(titles, tc.titles) {
				t.Errorf("titles\n%q\nwant\n%q", titles, tc.titles)
			}
		})
	}
	t.Run("latency", func(t *testing.T) {
		c := chartOf(t, doc, "latency")
		for _, s := range []string{"p50", "p95"} {
			line := c.Find(`[data-testid="chart-line"][data-series="` + s + `"]`)
			if n := line.Find("circle").Length(); n != 5 {
				t.Errorf("%s: %d points, want one for each of the 5 steps with requests", s, n)
			}
			// Steps without requests break the line: b2, a4 and the rest
			// stand apart; a3, a1+a2 and b1 are neighbours.
			if d := line.Find("path").AttrOr("d", ""); strings.Count(d, "M") != 3 {
				t.Errorf("%s path %q: want 3 pieces", s, d)
			}
		}
		if title := c.Find("circle title").Last().Text(); !strings.HasPrefix(title, step(5*time.Minute)+": p95 ") {
			t.Errorf("last point's title %q", title)
		}
	})
	t.Run("Axes", func(t *testing.T) {
		svg := chartOf(t, doc, "requests").Find("svg")
		if svg.AttrOr("role", "") != "img" || !strings.Contains(svg.AttrOr("aria-label", ""), "6 requests, 2 errors") {
			t.Errorf("role %q, aria-label %q", svg.AttrOr("role", ""), svg.AttrOr("aria-label", ""))
		}
		var xs []string
		svg.Find(byTestID("chart-xtick")).Each(func(_ int, s *goquery.Selection) { xs = append(xs, s.Text()) })
		if len(xs) < 3 || len(xs) > 8 {
			t.Errorf("x labels %q: want 3 to 8", xs)
		}
		for _, x := range xs {
			if _, err := time.Parse("15:04", x); err != nil {
				t.Errorf("x label %q of a day is not HH:MM", x)
			}
		}
		w := e.get("/stats?window=7d", withCookie(admin))
		doc := page(t, w)
		chartOf(t, doc, "requests").Find(byTestID("chart-xtick")).Each(func(_ int, s *goquery.Selection) {
			if _, err := time.Parse("Jan 2", s.Text()); err != nil {
				t.Errorf("x label %q of a week is not a date", s.Text())
			}
		})
		if got := chartOf(t, doc, "latency").Find(".chart-unit").Text(); got != "times in UTC" {
			t.Errorf("unit note %q", got)
		}
	})
}

func TestStatsEmpty(t *testing.T) {
	e := newEnv(t)
	for _, q := range []string{"", "window=1h", "window=all", "from=2020-01-01T00:00&to=2020-01-02T00:00"} {
		w := e.get("/stats?"+q, withCookie(e.login(adminKey)))
		wantStatus(t, w, http.StatusOK)
		doc := page(t, w)
		for _, id := range []string{"requests", "latency", "cost", "tokens"} {
			c := chartOf(t, doc, id)
			if c.Find(byTestID("chart-empty")).Length() != 1 || c.Find("rect, circle").Length() != 0 {
				t.Errorf("%q: chart %s is not an empty chart: %s", q, id, c.Text())
			}
		}
		if got := cardValue(t, doc, "stat-requests"); got != "0" {
			t.Errorf("%q: requests %q", q, got)
		}
		if got := cardValue(t, doc, "stat-success"); got != "—" {
			t.Errorf("%q: success rate %q before any traffic", q, got)
		}
		if n := doc.Find(byTestID("breakdown-row")).Length(); n != 0 {
			t.Errorf("%q: %d breakdown rows", q, n)
		}
	}
}

func TestStatsPoll(t *testing.T) {
	e := newStatsEnv(t)
	users := e.sessions()
	pollURL := func(user string) string {
		w := e.get("/stats", withCookie(users[user]))
		wantStatus(t, w, http.StatusOK)
		u := page(t, w).Find("#stats-body").AttrOr("hx-get", "")
		if !strings.HasPrefix(u, "/partials/stats?") {
			t.Fatalf("poll URL %q", u)
		}
		return u
	}
	adminPoll, alicePoll := pollURL("admin"), pollURL("alice")
	wantStatus(t, e.get(adminPoll, withCookie(users["admin"]), htmx()), http.StatusNoContent)
	wantStatus(t, e.get(alicePoll, withCookie(users["alice"]), htmx()), http.StatusNoContent)

	// Bob's new request changes the admin's page, not alice's.
	e.seedStats(statExchange{name: "b3", key: bobKey, model: "meta/llama", provider: "Together", method: "POST", status: 200,
		outcome: capture.OutcomeOK, ago: time.Minute, dur: 100 * time.Millisecond})
	wantStatus(t, e.get(alicePoll, withCookie(users["alice"]), htmx()), http.StatusNoContent)
	w := e.get(adminPoll, withCookie(users["admin"]), htmx())
	wantStatus(t, w, http.StatusOK)
	doc := page(t, w)
	if got := cardValue(t, doc, "stat-requests"); got != "7" {
		t.Errorf("after new traffic: requests %q, want 7", got)
	}
	next := doc.Find("#stats-body").AttrOr("hx-get", "")
	if next == adminPoll || doc.Find("body > #stats-body, #stats-body").Length() != 1 {
		t.Errorf("the update must be the body alone with a new poll URL; got %q", next)
	}
	wantStatus(t, e.get(next, withCookie(users["admin"]), htmx()), http.StatusNoContent)

	// Time moves the window: the next step starts, and the page changes.
	e.clock.Advance(15 * time.Minute)
	wantStatus(t, e.get(next, withCookie(users["admin"]), htmx()), http.StatusOK)

	// Another user's version is no use to alice: she gets her own page.
	w = e.get(next, withCookie(users["alice"]), htmx())
	wantStatus(t, w, http.StatusOK)
	if got := cardValue(t, page(t, w), "stat-requests"); got != "4" {
		t.Errorf("alice polling with the admin's URL: requests %q, want her 4", got)
	}
}

// statsAPI is GET /api/stats with the fields this part added.
type statsAPI struct {
	TotalRequests    int64    `json:"total_requests"`
	SuccessCount     int64    `json:"success_count"`
	ErrorCount       int64    `json:"error_count"`
	SuccessRate      float64  `json:"success_rate"`
	ErrorRate        float64  `json:"error_rate"`
	AvgResponseTime  float64  `json:"avg_response_time"`
	P50              float64  `json:"p50_response_time"`
	P95              float64  `json:"p95_response_time"`
	P99              float64  `json:"p99_response_time"`
	P50TTFT          float64  `json:"p50_ttft"`
	P95TTFT          float64  `json:"p95_ttft"`
	TokensPerSecond  float64  `json:"tokens_per_second"`
	PromptTokens     int64    `json:"prompt_tokens"`
	CompletionTokens int64    `json:"completion_tokens"`
	CachedTokens     int64    `json:"cached_tokens"`
	ReasoningTokens  int64    `json:"reasoning_tokens"`
	TotalCost        float64  `json:"total_cost"`
	Window           string   `json:"window"`
	From             *string  `json:"from"`
	To               *string  `json:"to"`
	Breakdown        []group  `json:"breakdown"`
	Series           *sseries `json:"series"`
}

type group struct {
	Value, Label string
	Requests     int64   `json:"total_requests"`
	Errors       int64   `json:"error_count"`
	Cost         float64 `json:"total_cost"`
}

type sseries struct {
	StepSeconds int64 `json:"step_seconds"`
	Points      []struct {
		Start    string  `json:"start"`
		Requests int64   `json:"total_requests"`
		Errors   int64   `json:"error_count"`
		Cost     float64 `json:"total_cost"`
		Models   []struct {
			Model string  `json:"model"`
			Cost  float64 `json:"total_cost"`
		} `json:"models"`
	} `json:"points"`
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestAPIStatsWindow(t *testing.T) {
	e := newStatsEnv(t)
	users := e.sessions()
	get := func(user, q string) statsAPI {
		t.Helper()
		w := e.get("/api/stats?"+q, withCookie(users[user]))
		wantStatus(t, w, http.StatusOK)
		return decode[statsAPI](t, w)
	}
	t.Run("Day", func(t *testing.T) {
		s := get("admin", "window=24h")
		if s.TotalRequests != 6 || s.SuccessCount != 4 || s.ErrorCount != 2 || !near(s.SuccessRate, 400.0/6) || !near(s.ErrorRate, 200.0/6) ||
			!near(s.AvgResponseTime, 7600.0/6) || !near(s.TokensPerSecond, 200/4.5) || s.PromptTokens != 311 || s.CompletionTokens != 211 ||
			s.CachedTokens != 20 || s.ReasoningTokens != 5 || !near(s.TotalCost, 0.542) {
			t.Errorf("got %+v", s)
		}
		for _, c := range []struct {
			name      string
			got, want float64
		}{{"p50", s.P50, 300}, {"p95", s.P95, 4000}, {"p99", s.P99, 4000}, {"p50_ttft", s.P50TTFT, 500}, {"p95_ttft", s.P95TTFT, 1000}} {
			if math.Abs(c.got-c.want) > c.want*store.HistRelativeError {
				t.Errorf("%s %v, want %v within %.2f%%", c.name, c.got, c.want, 100*store.HistRelativeError)
			}
		}
		if want := dayFrom(e.now).Format(time.RFC3339Nano); s.Window != "24h" || s.From == nil || *s.From != want || s.To != nil {
			t.Errorf("window %q from %v to %v, want 24h from %s", s.Window, s.From, s.To, want)
		}
	})
	for _, tc := range []struct {
		name, user, q string
		total         int64
		cost          float64
	}{
		{"DefaultIsAll", "admin", "", 7, 0.642},
		{"Hour", "admin", "window=1h", 4, 0.04},
		{"Week", "admin", "window=7d", 7, 0.642},
		{"Month", "admin", "window=30d", 7, 0.642},
		{"FromTo", "admin", "from=" + minuteText(e.now.Add(-4*time.Hour)) + "&to=" + minuteText(e.now.Add(-time.Hour)), 2, 0.502},
		{"AliceDay", "alice", "window=24h", 4, 0.042},
		{"AliceCannotPickBob", "alice", "window=24h&key=" + capture.Fingerprint(bobKey), 4, 0.042},
		{"BobDay", "bob", "window=24h", 2, 0.5},
		{"Provider", "admin", "window=24h&provider=OpenAI", 2, 0.01},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := get(tc.user, tc.q)
			if s.TotalRequests != tc.total || !near(s.TotalCost, tc.cost) {
				t.Errorf("total %d cost %v, want %d and %v", s.TotalRequests, s.TotalCost, tc.total, tc.cost)
			}
		})
	}
	t.Run("Breakdown", func(t *testing.T) {
		for _, tc := range []struct {
			user, by string
			want     []group
		}{
			{"alice", "model", []group{{"anthropic/claude", "anthropic/claude", 2, 1, 0.002}, {"openai/gpt-4o", "openai/gpt-4o", 2, 0, 0.04}}},
			{"bob", "provider", []group{{"OpenAI", "OpenAI", 1, 1, 0}, {"Together", "Together", 1, 0, 0.5}}},
			{"admin", "status", []group{{"2xx", "2xx", 4, 0, 0.542}, {"4xx", "4xx", 1, 1, 0}, {"5xx", "5xx", 1, 1, 0}}},
			{"admin", "key", []group{{capture.Fingerprint(aliceKey), capture.Mask(aliceKey), 4, 1, 0.042}, {capture.Fingerprint(bobKey), capture.Mask(bobKey), 2, 1, 0.5}}},
		} {
			s := get(tc.user, "window=24h&breakdown="+tc.by)
			if len(s.Breakdown) != len(tc.want) {
				t.Errorf("%s by %s: %+v, want %+v", tc.user, tc.by, s.Breakdown, tc.want)
				continue
			}
			for i, g := range s.Breakdown {
				w := tc.want[i]
				if g.Value != w.Value || g.Label != w.Label || g.Requests != w.Requests || g.Errors != w.Errors || !near(g.Cost, w.Cost) {
					t.Errorf("%s by %s row %d: %+v, want %+v", tc.user, tc.by, i, g, w)
				}
			}
		}
	})
	t.Run("Series", func(t *testing.T) {
		s := get("admin", "window=1h&series=1")
		if s.Series == nil || s.Series.StepSeconds != 60 {
			t.Fatalf("series %+v, want 1-minute steps", s.Series)
		}
		// From the minute an hour back to the minute after now.
		if n := len(s.Series.Points); n != 61 {
			t.Errorf("%d points, want 61", n)
		}
		var total, errs int64
		var models []string
		for _, p := range s.Series.Points {
			total, errs = total+p.Requests, errs+p.Errors
			for _, m := range p.Models {
				models = append(models, m.Model)
			}
		}
		slices.Sort(models)
		if total != 4 || errs != 2 || !reflect.DeepEqual(models, []string{"anthropic/claude", "openai/gpt-4o", "openai/gpt-4o", "openai/gpt-4o"}) {
			t.Errorf("series sums to %d requests, %d errors, models %q; want 4, 2 and a3's, a2's, a1's, b1's", total, errs, models)
		}
		if first := s.Series.Points[0].Start; first != e.now.Add(-time.Hour).Truncate(time.Minute).Format(time.RFC3339) {
			t.Errorf("first step %s", first)
		}
		// All time is the three or four days since the old record's day:
		// hours, from alice's first.
		all := get("alice", "window=all&series=1")
		if all.Series == nil || all.Series.StepSeconds != 3600 || len(all.Series.Points) == 0 {
			t.Fatalf("all time: series %+v, want hours", all.Series)
		}
		if first, want := all.Series.Points[0].Start, e.now.Add(-72*time.Hour).Truncate(time.Hour).Format(time.RFC3339); first != want {
			t.Errorf("alice's all-time series starts at %s, want her first record's hour %s", first, want)
		}
		var sum int64
		for _, p := range all.Series.Points {
			sum += p.Requests
		}
		if sum != 5 {
			t.Errorf("alice's series sums to %d, want her 5", sum)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		for _, q := range []string{
			"window=2h", "window=7d&from=" + minuteText(e.now.Add(-time.Hour)), "from=nope",
			"from=" + minuteText(e.now) + "&to=" + minuteText(e.now), "breakdown=colour", "series=yes",
			"breakdown=model&search=hello", "series=1&search=hello",
		} {
			w := e.get("/api/stats?"+q, withCookie(users["admin"]))
			if msg := wantJSONError(t, w, http.StatusBadRequest); strings.Contains(msg, "internal") {
				t.Errorf("%s: %q", q, msg)
			}
		}
		wantJSONError(t, e.get("/api/stats?breakdown=key", withCookie(users["alice"])), http.StatusForbidden)
	})
}

func TestProviderFilterOnTheTable(t *testing.T) {
	e := newStatsEnv(t)
	admin := e.login(adminKey)
	w := e.get("/?provider=OpenAI", withCookie(admin))
	wantStatus(t, w, http.StatusOK)
	doc := page(t, w)
	if got, want := e.rowNames(doc, "request-row"), []string{"b1", "a1", "old"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	// The filter stays in the form, so that changing another keeps it.
	if v := doc.Find(byTestID("filter-provider")).AttrOr("value", ""); v != "OpenAI" {
		t.Errorf("provider field %q", v)
	}
	if poll := doc.Find("#requests").AttrOr("hx-get", ""); !strings.Contains(poll, "provider=OpenAI") {
		t.Errorf("poll URL %q drops the provider", poll)
	}
	list := decode[listResponse](t, e.get("/api/requests?provider=Azure", withCookie(admin)))
	if list.TotalCount != 1 || len(list.Requests) != 1 || e.names[list.Requests[0].ID] != "a2" {
		t.Errorf("API provider=Azure: %+v", list)
	}
}

// TestStatsPollAsksNothing: while nothing changed, the statistics page's
// poll is answered 204 without a query, as the README says.
func TestStatsPollAsksNothing(t *testing.T) {
	cs := &countingStore{}
	e := newEnv(t, func(s *web.Server) { cs.Store, s.Store = s.Store, cs })
	e.now = statsNow()
	e.setNow(e.now)
	e.seedStats(statsFixture...)
	admin := e.login(adminKey)
	w := e.get("/stats", withCookie(admin))
	wantStatus(t, w, http.StatusOK)
	poll := page(t, w).Find("#stats-body").AttrOr("hx-get", "")
	if cs.statsPage() == 0 {
		t.Fatal("the page itself asked the store nothing: the count is broken")
	}
	before := cs.statsPage()
	for range 5 {
		wantStatus(t, e.get(poll, withCookie(admin), htmx()), http.StatusNoContent)
	}
	if n := cs.statsPage() - before; n != 0 {
		t.Errorf("5 polls of an unchanged page asked the store %d times, want none", n)
	}
}
