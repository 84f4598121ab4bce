package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/web"
)

func TestDashboardVisibility(t *testing.T) {
	e := newSeededEnv(t)
	users := e.sessions()
	tests := []struct {
		name, user, query string
		want              []string
		admin             bool
	}{
		{"AliceSeesHerRows", "alice", "", aliceSees, false},
		{"BobSeesHisRows", "bob", "", bobSees, false},
		{"AdminSeesAllRows", "admin", "", adminSees, true},
		{"AliceSearch", "alice", "search=embeddings", []string{"alice-binary"}, false},
		{"AliceSearchForBobFindsNothing", "alice", "search=mistral", nil, false},
		{"AdminSearchFindsBob", "admin", "search=mistral", []string{"bob-chat"}, true},
		{"AdminKeyFilter", "admin", "key=" + capture.Fingerprint(bobKey), bobSees, true},
		{"AliceKeyFilterIgnored", "alice", "key=" + capture.Fingerprint(bobKey), aliceSees, false},
		{"SecondPage", "admin", "page=2&page_size=5", []string{"alice-500", "default-429"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.get("/?"+tc.query, withCookie(users[tc.user]))
			wantStatus(t, w, http.StatusOK)
			doc := page(t, w)
			if got := e.rowNames(doc, "request-row"); !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
				t.Errorf("request rows %v, want %v", got, tc.want)
			}
			if len(tc.want) == 0 && doc.Find(byTestID("empty-state")).Length() != 1 {
				t.Error("no rows but no empty state")
			}
			for _, id := range []string{"key-column", "filter-key"} {
				if got := doc.Find(byTestID(id)).Length() == 1; got != tc.admin {
					t.Errorf("%s shown: %v, want %v", id, got, tc.admin)
				}
			}
			if n := doc.Find(byTestID("row-key")).Length(); tc.admin && n != len(tc.want) || !tc.admin && n != 0 {
				t.Errorf("%d row-key cells for %d rows (admin %v)", n, len(tc.want), tc.admin)
			}
		})
	}

	t.Run("AdminKeyFilterListsKeysMostRecentFirst", func(t *testing.T) {
		doc := page(t, e.get("/", withCookie(users["admin"])))
		var got []string
		doc.Find(byTestID("filter-key") + " option").Each(func(_ int, s *goquery.Selection) {
			got = append(got, s.AttrOr("value", ""))
		})
		want := []string{"", capture.Fingerprint(bobKey), capture.Fingerprint(aliceKey), capture.Fingerprint(defaultKey)}
		if !slices.Equal(got, want) {
			t.Errorf("key options %v, want %v (any, then most recently used first)", got, want)
		}
	})

	t.Run("ModelFilterListsOnlyVisibleModels", func(t *testing.T) {
		doc := page(t, e.get("/", withCookie(users["alice"])))
		var got []string
		doc.Find(byTestID("filter-model-options") + " option").Each(func(_ int, s *goquery.Selection) {
			got = append(got, s.AttrOr("value", ""))
		})
		if slices.Contains(got, "mistralai/mistral-large") || slices.Contains(got, imgPayload) {
			t.Errorf("alice's model filter offers bob's models: %v", got)
		}
		if !slices.Contains(got, "anthropic/claude-sonnet-4.5") {
			t.Errorf("alice's model filter lacks her own model: %v", got)
		}
	})

	t.Run("StatCardsCountVisibleRows", func(t *testing.T) {
		doc := page(t, e.get("/", withCookie(users["bob"])))
		if got := strings.TrimSpace(doc.Find(byTestID("stat-total") + " .stat-value").Text()); got != "2" {
			t.Errorf("bob's stat-total %q, want 2", got)
		}
	})
}

// optionValues returns the values of the options under sel.
func optionValues(doc *goquery.Document, sel string) []string {
	var got []string
	doc.Find(sel + " option").Each(func(_ int, s *goquery.Selection) { got = append(got, s.AttrOr("value", "")) })
	return got
}

// A flood of distinct keys, models and methods (anyone who can reach the
// proxy can make them) must not blow up the dashboard's filter lists.
func TestFilterListsStaySmall(t *testing.T) {
	e := newEnv(t)
	const n = 3000
	xs := make([]exchange, 0, n+2)
	// The usual methods, used long ago, must still be offered.
	for _, m := range []string{"POST", "GET"} {
		xs = append(xs, exchange{name: "old-" + m, key: aliceKey, ago: 2 * time.Hour, method: m, url: "/v1/models", path: "/models",
			reqType: "application/json", status: 200, respType: "application/json", respBody: []byte(`{}`)})
	}
	keyOf := func(i int) string { return fmt.Sprintf("sk-or-v1-flood-secret-%06d", i) }
	for i := range n {
		xs = append(xs, exchange{
			name: "flood-" + strconv.Itoa(i), key: keyOf(i), ago: time.Duration(n-i) * time.Second,
			method: "M" + strconv.Itoa(i), url: "/v1/chat/completions", path: "/chat/completions",
			reqType: "application/json", reqBody: []byte(`{"model":"model-` + strconv.Itoa(i) + `"}`),
			status: 200, respType: "application/json", respBody: []byte(`{}`),
		})
	}
	e.seed(xs...)
	admin := e.login(adminKey)

	w := e.get("/", withCookie(admin))
	wantStatus(t, w, http.StatusOK)
	doc := page(t, w)
	t.Run("PageIsSmall", func(t *testing.T) {
		if all := doc.Find("option").Length(); all > 4*web.MaxFilterOptions {
			t.Errorf("%d <option>s for %d distinct keys, models and methods; want at most %d", all, n, 4*web.MaxFilterOptions)
		}
		if w.Body.Len() > 256<<10 {
			t.Errorf("page is %d bytes, want under 256 KiB", w.Body.Len())
		}
	})
	t.Run("ListsAreCapped", func(t *testing.T) {
		for _, id := range []string{"filter-key", "filter-model-options", "filter-method"} {
			// Plus "any" and a note of what is left out.
			if got := len(optionValues(doc, byTestID(id))); got > web.MaxFilterOptions+2 {
				t.Errorf("%s: %d options, want at most %d", id, got, web.MaxFilterOptions+2)
			}
		}
	})
	t.Run("KeysAreTheMostRecent", func(t *testing.T) {
		keys := optionValues(doc, byTestID("filter-key"))
		if len(keys) < 2 || keys[1] != capture.Fingerprint(keyOf(n-1)) {
			t.Errorf("key options start %.3v, want any, then the newest key", keys)
		}
		if note := doc.Find(byTestID("filter-key") + " option[disabled]").Text(); !strings.Contains(note, strconv.Itoa(n+1-web.MaxFilterOptions)) {
			t.Errorf("key list note %q does not say how many keys are left out", note)
		}
	})
	t.Run("UsualMethodsOffered", func(t *testing.T) {
		methods := optionValues(doc, byTestID("filter-method"))
		for _, m := range []string{"GET", "POST"} {
			if !slices.Contains(methods, m) {
				t.Errorf("method options lack %s: %.8v…", m, methods)
			}
		}
	})
	t.Run("SelectedValuesOutsideTheCapStay", func(t *testing.T) {
		oldest := capture.Fingerprint(keyOf(0))
		doc := page(t, e.get("/?key="+oldest+"&model=model-0&method=M0", withCookie(admin)))
		if got := doc.Find(byTestID("filter-key") + " option[selected]"); got.AttrOr("value", "") != oldest || !strings.Contains(got.Text(), capture.Mask(keyOf(0))) {
			t.Errorf("selected key option %q (%q), want %s labelled %s", got.AttrOr("value", ""), got.Text(), oldest, capture.Mask(keyOf(0)))
		}
		if got := doc.Find(byTestID("filter-model")).AttrOr("value", ""); got != "model-0" {
			t.Errorf("model filter shows %q, want model-0", got)
		}
		if got := doc.Find(byTestID("filter-method")+" option[selected]").AttrOr("value", ""); got != "M0" {
			t.Errorf("selected method %q, want M0", got)
		}
		if got := e.rowNames(doc, "request-row"); !slices.Equal(got, []string{"flood-0"}) {
			t.Errorf("rows %v, want [flood-0]", got)
		}
	})
}

func TestDetailPageVisibility(t *testing.T) {
	e := newSeededEnv(t)
	users := e.sessions()
	for _, tc := range detailVisibility {
		t.Run(tc.name, func(t *testing.T) {
			id := e.caseID(tc)
			w := e.get("/request/"+url.PathEscape(id), withCookie(users[tc.user]))
			wantStatus(t, w, tc.want)
			doc := page(t, w)
			switch tc.want {
			case http.StatusOK:
				if doc.Find(byTestID("detail-header")).Length() != 1 || !strings.Contains(w.Body.String(), id) {
					t.Error("detail page lacks its header or id")
				}
			default:
				if doc.Find(byTestID("not-found")).Length() != 1 {
					t.Error("404 without the not-found page")
				}
				if strings.Contains(w.Body.String(), "Bonjour") || strings.Contains(w.Body.String(), "Rate limit") {
					t.Error("404 page reveals the record")
				}
			}
		})
	}
}

func TestDetailPage(t *testing.T) {
	e := newSeededEnv(t)
	w := e.get("/request/"+e.ids["alice-chat"], withCookie(e.login(aliceKey)))
	wantStatus(t, w, http.StatusOK)
	doc := page(t, w)
	mask := capture.Mask(aliceKey)

	t.Run("ConversationShowsEveryMessage", func(t *testing.T) {
		msgs := doc.Find(byTestID("detail-conversation") + " " + byTestID("message"))
		var roles []string
		msgs.Each(func(_ int, s *goquery.Selection) { roles = append(roles, s.AttrOr("data-role", "")) })
		if want := []string{"system", "user", "assistant", "tool"}; !slices.Equal(roles, want) {
			t.Fatalf("message roles %v, want %v", roles, want)
		}
		for i, want := range []string{"You are a weather bot.", "Weather in Paris?", "get_weather", "sunny, 24C"} {
			if text := msgs.Eq(i).Text(); !strings.Contains(text, want) {
				t.Errorf("message %d %q lacks %q", i, text, want)
			}
		}
		if text := msgs.Eq(3).Text(); !strings.Contains(text, "call_1") {
			t.Errorf("tool message %q does not name the call it answers", text)
		}
	})

	t.Run("ReplyIsReassembledFromTheStream", func(t *testing.T) {
		if got := strings.TrimSpace(doc.Find(byTestID("reply-content")).Text()); got != chatReply {
			t.Errorf("reply-content %q, want %q", got, chatReply)
		}
		if doc.Find(byTestID("detail-sse")).Length() != 1 {
			t.Error("streamed exchange without its raw stream section")
		}
	})

	t.Run("AuthorizationHeaderIsMasked", func(t *testing.T) {
		var got string
		doc.Find(byTestID("detail-req-headers") + " tr").Each(func(_ int, s *goquery.Selection) {
			if s.Find("th").Text() == "Authorization" {
				got = s.Find("td").Text()
			}
		})
		if want := "Bearer " + mask; got != want {
			t.Errorf("Authorization shown as %q, want %q", got, want)
		}
	})

	t.Run("CurlUsesMaskedKey", func(t *testing.T) {
		curl := doc.Find("#curl-command").Text()
		for _, want := range []string{
			"curl -X 'POST' 'http://proxy.test/v1/chat/completions'",
			"-H 'Authorization: Bearer " + mask + "'",
			"--data-raw '" + chatRequest + "'",
		} {
			if !strings.Contains(curl, want) {
				t.Errorf("curl command lacks %q:\n%s", want, curl)
			}
		}
		if strings.Contains(curl, aliceKey) {
			t.Error("curl command holds the plaintext key")
		}
		if doc.Find(byTestID("copy-curl")).Length() != 1 {
			t.Error("no copy-as-curl button")
		}
	})

	t.Run("SummaryShowsStatusAndKeyMask", func(t *testing.T) {
		if got := strings.TrimSpace(doc.Find(byTestID("detail-status")).Text()); got != "200" {
			t.Errorf("detail-status %q, want 200", got)
		}
		if !strings.Contains(doc.Find(byTestID("detail-summary")).Text(), mask) {
			t.Errorf("summary lacks the key mask %q", mask)
		}
	})
}

// Keys beyond the key filter's list are reached from their records.
func TestDetailLinksAdminsToKeyFilter(t *testing.T) {
	e := newSeededEnv(t)
	id := e.ids["bob-chat"]
	t.Run("Admin", func(t *testing.T) {
		doc := page(t, e.get("/request/"+id, withCookie(e.login(adminKey))))
		link := doc.Find(byTestID("key-filter-link"))
		if got, want := link.AttrOr("href", ""), "/?key="+capture.Fingerprint(bobKey); got != want {
			t.Errorf("key link %q, want %q", got, want)
		}
		if got := link.Text(); got != capture.Mask(bobKey) {
			t.Errorf("key link text %q, want the mask %q", got, capture.Mask(bobKey))
		}
	})
	t.Run("OwnerGetsNoLink", func(t *testing.T) {
		doc := page(t, e.get("/request/"+id, withCookie(e.login(bobKey))))
		if n := doc.Find(byTestID("key-filter-link")).Length(); n != 0 {
			t.Errorf("%d key filter links for a user, want none", n)
		}
	})
}

func TestDetailPageOfBinaryBody(t *testing.T) {
	e := newSeededEnv(t)
	w := e.get("/request/"+e.ids["alice-binary"], withCookie(e.login(aliceKey)))
	wantStatus(t, w, http.StatusOK)
	if body := page(t, w).Find("#req-body-raw").Text(); !strings.Contains(body, "\uFFFD") || !strings.Contains(body, "bin") {
		t.Errorf("binary request body shown as %q, want text with U+FFFD replacements", body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newSeededEnv(t)
	c := e.login(aliceKey)
	pages := []struct {
		name   string
		method string
		target string
		opts   []reqOpt
		status int
	}{
		{"Dashboard", "GET", "/", []reqOpt{withCookie(c)}, http.StatusOK},
		{"DashboardFragment", "GET", "/", []reqOpt{withCookie(c), htmx()}, http.StatusOK},
		{"Poll", "GET", "/partials/requests?v=stale", []reqOpt{withCookie(c)}, http.StatusOK},
		{"Detail", "GET", "/request/" + e.ids["alice-chat"], []reqOpt{withCookie(c)}, http.StatusOK},
		{"DetailNotFound", "GET", "/request/" + e.ids["bob-chat"], []reqOpt{withCookie(c)}, http.StatusNotFound},
		{"LoginPage", "GET", "/login", nil, http.StatusOK},
		{"LoginError", "POST", "/login", []reqOpt{withHeader("Content-Type", "application/x-www-form-urlencoded")}, http.StatusUnauthorized},
		{"NotFound", "GET", "/no/such/page", nil, http.StatusNotFound},
	}
	for _, tc := range pages {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(tc.method, tc.target, nil, tc.opts...)
			wantStatus(t, w, tc.status)
			page(t, w) // an HTML page
			csp := w.Header().Get("Content-Security-Policy")
			for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
				}
			}
			if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Errorf("Content-Security-Policy %q allows unsafe scripts", csp)
			}
			if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
		})
	}

	t.Run("APIHasNosniff", func(t *testing.T) {
		w := e.get("/api/requests", withCookie(c))
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("API headers %v, want nosniff and no-store", w.Header())
		}
	})
}

func TestFragmentOrPage(t *testing.T) {
	e := newSeededEnv(t)
	c := e.login(aliceKey)
	tests := []struct {
		name     string
		opts     []reqOpt
		wantPage bool
	}{
		{"PlainGetIsFullPage", nil, true},
		{"HtmxGetIsFragment", []reqOpt{htmx()}, false},
		{"HistoryRestoreIsFullPage", []reqOpt{htmx(), withHeader("HX-History-Restore-Request", "true")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.get("/?search=chat", append(tc.opts, withCookie(c))...)
			wantStatus(t, w, http.StatusOK)
			if !strings.Contains(w.Header().Get("Vary"), "HX-Request") {
				t.Errorf("Vary %q, want HX-Request", w.Header().Get("Vary"))
			}
			body := strings.ToLower(w.Body.String())
			if isPage := strings.Contains(body, "<html"); isPage != tc.wantPage {
				t.Errorf("full page: %v, want %v", isPage, tc.wantPage)
			}
			doc := page(t, w)
			if got := e.rowNames(doc, "request-row"); !slices.Equal(got, []string{"alice-chat", "alice-500"}) {
				t.Errorf("rows %v, want the filtered [alice-chat alice-500]", got)
			}
			if (doc.Find(byTestID("filter-form")).Length() == 1) != tc.wantPage {
				t.Error("filter form present in a fragment or missing from the page")
			}
			stats := doc.Find(byTestID("stats"))
			if stats.Length() != 1 {
				t.Fatalf("%d stat sections, want 1", stats.Length())
			}
			if _, oob := stats.Attr("hx-swap-oob"); oob == tc.wantPage {
				t.Errorf("stats hx-swap-oob present: %v; want it only in the fragment", oob)
			}
		})
	}
}

func TestHealthzAssetsAndNotFound(t *testing.T) {
	e := newEnv(t)
	t.Run("Healthz", func(t *testing.T) {
		w := e.get("/healthz")
		wantStatus(t, w, http.StatusOK)
		if strings.TrimSpace(w.Body.String()) != "ok" {
			t.Errorf("body %q, want ok", w.Body)
		}
	})
	assets := []struct{ path, wantType string }{
		{"/assets/app.css", "text/css"},
		{"/assets/app.js", "text/javascript"},
		{"/assets/htmx.min.js", "text/javascript"},
	}
	for _, tc := range assets {
		t.Run("Asset "+tc.path, func(t *testing.T) {
			w := e.get(tc.path)
			wantStatus(t, w, http.StatusOK)
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
				t.Errorf("Content-Type %q, want %s", ct, tc.wantType)
			}
			if w.Body.Len() == 0 {
				t.Error("empty asset")
			}
		})
	}
	t.Run("PageLinksItsAssets", func(t *testing.T) {
		doc := page(t, e.get("/login"))
		doc.Find(`script[src], link[rel="stylesheet"]`).Each(func(_ int, s *goquery.Selection) {
			u := s.AttrOr("src", s.AttrOr("href", ""))
			wantStatus(t, e.get(u), http.StatusOK)
		})
	})
	for _, path := range []string{"/nope", "/assets/nope.css", "/api/nope", "/request/"} {
		t.Run("NotFound "+path, func(t *testing.T) {
			wantStatus(t, e.get(path), http.StatusNotFound)
		})
	}
	t.Run("UnknownPathShowsNotFoundPage", func(t *testing.T) {
		if page(t, e.get("/nope")).Find(byTestID("not-found")).Length() != 1 {
			t.Error("no not-found page")
		}
	})
}

func TestEmptyStates(t *testing.T) {
	e := newEnv(t)
	cookie := e.login(adminKey)
	for target, want := range map[string]string{
		"/":                       "No requests yet.",
		"/?page_size=5":           "No requests yet.",
		"/?search=nothing-at-all": "No requests match these filters.",
		"/?status=5xx":            "No requests match these filters.",
	} {
		w := e.get(target, withCookie(cookie))
		wantStatus(t, w, http.StatusOK)
		if got := page(t, w).Find(byTestID("empty-state") + " .empty-title").Text(); got != want {
			t.Errorf("%s: empty state %q, want %q", target, got, want)
		}
	}
}

// TestOps: a process without a dashboard answers its health and metrics,
// and nothing else.
func TestOps(t *testing.T) {
	h := web.Ops(func() store.Health { return store.Health{QueuedRecords: 3} },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metrics here")) }))
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", http.StatusOK, "ok\nqueued_records 3\n"},
		{"/metrics", http.StatusOK, "metrics here"},
		{"/", http.StatusNotFound, ""},
		{"/login", http.StatusNotFound, ""},
		{"/api/requests", http.StatusNotFound, ""},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if w.Code != tc.code || !strings.HasPrefix(w.Body.String(), tc.body) {
			t.Errorf("GET %s: %d %q, want %d %q…", tc.path, w.Code, w.Body.String(), tc.code, tc.body)
		}
	}
}
