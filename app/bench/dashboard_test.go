package bench_test

import (
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/auth"
	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/live"
	"github.com/openrouter-proxy/openrouter-proxy/app/web"
)

// dashboard is the real dashboard over the million-record database and its
// index, served in process: what it measures is server time, from the
// request to the last byte of the answer, session check included.
type dashboard struct {
	*searchWorld
	handler http.Handler
	live    *live.Tracker
	admin   *http.Cookie
	user    *http.Cookie
	userKey string // the user's key fingerprint
}

// benchAdminKey is the dashboard's admin key in the benchmarks.
const benchAdminKey = "sk-or-v1-bench-admin-0000000000000000000000000000000000000000000000"

func openDashboard(b *testing.B) *dashboard {
	b.Helper()
	w := openSearchWorld(b)
	d := &dashboard{searchWorld: w, live: live.New(), userKey: w.info.Keys[7].Hash}
	srv := &web.Server{
		Store:  w.st,
		Search: w.ix,
		Auth: auth.New(auth.Options{
			AdminKeys: []string{benchAdminKey},
			Secret:    []byte("0123456789abcdef0123456789abcdef-bench-secret"),
			Sessions:  w.st, Known: w.st,
		}),
		Limiter:  auth.NewLimiter(1000, time.Minute, w.st),
		Live:     d.live,
		PageSize: 50,
		ProxyURL: "http://127.0.0.1:8080",
		Log:      slog.New(slog.DiscardHandler),
	}
	d.handler = srv.Handler()
	d.admin = d.login(b, benchAdminKey)
	d.user = d.login(b, w.info.Keys[7].Secret)
	return d
}

func (d *dashboard) login(b *testing.B, key string) *http.Cookie {
	b.Helper()
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(url.Values{"api_key": {key}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	d.handler.ServeHTTP(w, r)
	cs := w.Result().Cookies()
	if w.Code != http.StatusSeeOther || len(cs) != 1 {
		b.Fatalf("login: status %d, %d cookies", w.Code, len(cs))
	}
	return cs[0]
}

// get serves target for the session c and returns the answer and the
// server time it took.
func (d *dashboard) get(b *testing.B, target string, c *http.Cookie, htmx bool) (*httptest.ResponseRecorder, time.Duration) {
	b.Helper()
	r := httptest.NewRequest(http.MethodGet, target, nil)
	r.AddCookie(c)
	if htmx {
		r.Header.Set("HX-Request", "true")
	}
	w := httptest.NewRecorder()
	start := time.Now()
	d.handler.ServeHTTP(w, r)
	took := time.Since(start)
	if w.Code != http.StatusOK && w.Code != http.StatusNoContent {
		b.Fatalf("GET %s: status %d: %.300s", target, w.Code, w.Body)
	}
	return w, took
}

var pollURL = regexp.MustCompile(`hx-get="(/partials/requests\?[^"]+)"`)

// pollOf returns the URL the table of page polls.
func pollOf(b *testing.B, page *httptest.ResponseRecorder) string {
	b.Helper()
	m := pollURL.FindStringSubmatch(page.Body.String())
	if m == nil {
		b.Fatal("the page has no polling table")
	}
	return html.UnescapeString(m[1])
}

// BenchmarkDashboard1M measures the dashboard's server time over the
// million-record database, p50 and p95, for an admin and for one key's
// user:
//
//   - poll_searched: the 2 s poll of a searched table when nothing new
//     matched (issue 7's target: 5 ms p95);
//   - page_searched: the whole page with a search;
//   - page: the whole dashboard page, no search;
//   - stats_page_W: the whole statistics page for the window W (cards,
//     breakdowns, charts);
//   - poll_after_traffic: a poll after new traffic changed the version,
//     which answers the table and the cards again.
func BenchmarkDashboard1M(b *testing.B) {
	d := openDashboard(b)
	for _, who := range []struct {
		name string
		c    *http.Cookie
	}{{"admin", d.admin}, {"user", d.user}} {
		b.Run(who.name, func(b *testing.B) {
			measure := func(name string, n int, f func() time.Duration) {
				lat := make([]time.Duration, 0, n*b.N)
				for range b.N * n {
					lat = append(lat, f())
				}
				b.ReportMetric(float64(pct(lat, 0.5))/1e6, name+"_p50_ms")
				b.ReportMetric(float64(pct(lat, 0.95))/1e6, name+"_p95_ms")
			}
			for _, s := range []string{"berlin42", `"purple elephant migration"`, "琥珀鲸"} {
				page, _ := d.get(b, "/?search="+url.QueryEscape(s), who.c, false)
				poll := pollOf(b, page)
				measure("poll_searched", 100, func() time.Duration {
					w, took := d.get(b, poll, who.c, true)
					if w.Code != http.StatusNoContent {
						b.Fatalf("poll of %q: status %d with nothing new, want 204", s, w.Code)
					}
					return took
				})
			}
			measure("page_searched", 5, func() time.Duration {
				_, took := d.get(b, "/?search=zanzibar17", who.c, false)
				return took
			})
			measure("page", 5, func() time.Duration {
				_, took := d.get(b, "/", who.c, false)
				return took
			})
			for _, w := range []string{"24h", "7d", "30d", "all"} {
				measure("stats_page_"+w, 3, func() time.Duration {
					_, took := d.get(b, "/stats?window="+w, who.c, false)
					return took
				})
			}
			page, _ := d.get(b, "/", who.c, false)
			poll := pollOf(b, page)
			measure("poll_after_traffic", 10, func() time.Duration {
				// A commit of the viewer's key moves the live version, as
				// new traffic does, without writing to the shared database.
				d.live.Committed([]*capture.Record{{ID: "bench", KeyHash: d.userKey}})
				_, took := d.get(b, poll, who.c, true)
				return took
			})
		})
	}
}
