package web_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// pollURL returns the URL the dashboard's table polls.
func (e *env) pollURL(t *testing.T, c *http.Cookie, query string) string {
	t.Helper()
	w := e.get("/?"+query, withCookie(c))
	wantStatus(t, w, http.StatusOK)
	u, ok := page(t, w).Find(byTestID("requests")).Attr("hx-get")
	if !ok || !strings.HasPrefix(u, "/partials/requests?") {
		t.Fatalf("table polls %q, want /partials/requests?…", u)
	}
	return u
}

// aliceVersion is the live version alice's dashboard sees.
func (e *env) aliceVersion() string { return e.live.KeyVersion(capture.Fingerprint(aliceKey)) }

func TestPoll(t *testing.T) {
	e := newSeededEnv(t)
	users := e.sessions()

	t.Run("CurrentVersionIs204WithEmptyBody", func(t *testing.T) {
		u := e.pollURL(t, users["alice"], "")
		if !strings.Contains(u, "v="+e.aliceVersion()) {
			t.Fatalf("poll URL %q does not carry alice's current version %q", u, e.aliceVersion())
		}
		w := e.get(u, withCookie(users["alice"]), htmx())
		wantStatus(t, w, http.StatusNoContent)
		if w.Body.Len() != 0 {
			t.Errorf("204 with body %q", w.Body)
		}
	})

	t.Run("PollURLKeepsTheFilter", func(t *testing.T) {
		u := e.pollURL(t, users["alice"], "search=embeddings&status=success&page=2&page_size=1")
		for _, want := range []string{"search=embeddings", "status=success", "page=2", "page_size=1"} {
			if !strings.Contains(u, want) {
				t.Errorf("poll URL %q lacks %q", u, want)
			}
		}
	})

	// alice has three successful exchanges: page 2 of 3 at one a page.
	t.Run("PageSizeSurvivesPollsAndPageLinks", func(t *testing.T) {
		const query = "status=success&page=2&page_size=1"
		u := e.pollURL(t, users["alice"], query)
		w := e.get(strings.Replace(u, "v="+e.aliceVersion(), "v=stale", 1), withCookie(users["alice"]), htmx())
		wantStatus(t, w, http.StatusOK)
		for name, doc := range map[string]*goquery.Document{
			"page":   page(t, e.get("/?"+query, withCookie(users["alice"]))),
			"poll":   page(t, w),
			"htmx /": page(t, e.get("/?"+query, withCookie(users["alice"]), htmx())),
		} {
			if got, ok := doc.Find(byTestID("requests")).Attr("hx-get"); !ok || !strings.Contains(got, "page_size=1") || !strings.Contains(got, "page=2") {
				t.Errorf("%s: table polls %q, want page=2 and page_size=1", name, got)
			}
			if got := e.rowNames(doc, "request-row"); !slices.Equal(got, []string{"alice-models"}) {
				t.Errorf("%s: rows %v, want [alice-models]", name, got)
			}
			for rel, want := range map[string]string{"prev": "page=1", "next": "page=3"} {
				link := doc.Find(byTestID("page-" + rel))
				for _, attr := range []string{"href", "hx-get"} {
					if got := link.AttrOr(attr, ""); !strings.Contains(got, "page_size=1") || !strings.Contains(got, want) {
						t.Errorf("%s: %s link %s %q, want %s and page_size=1", name, rel, attr, got, want)
					}
				}
			}
		}
	})

	t.Run("DefaultPageSizeLeftOut", func(t *testing.T) {
		// The test server's PAGE_SIZE is 50.
		if u := e.pollURL(t, users["alice"], "page_size=50"); strings.Contains(u, "page_size") {
			t.Errorf("poll URL %q names the default page size", u)
		}
	})

	t.Run("StaleVersionGetsTableAndStats", func(t *testing.T) {
		w := e.get("/partials/requests?v=stale", withCookie(users["alice"]), htmx())
		wantStatus(t, w, http.StatusOK)
		if strings.Contains(strings.ToLower(w.Body.String()), "<html") {
			t.Error("poll answered with a full page")
		}
		doc := page(t, w)
		if doc.Find(byTestID("requests")).Length() != 1 {
			t.Error("no requests table")
		}
		if got := e.rowNames(doc, "request-row"); !slices.Equal(got, aliceSees) {
			t.Errorf("rows %v, want %v", got, aliceSees)
		}
		stats := doc.Find(byTestID("stats"))
		if v, _ := stats.Attr("hx-swap-oob"); stats.Length() != 1 || v != "true" {
			t.Error("stat cards not sent out of band")
		}
		if got := strings.TrimSpace(doc.Find(byTestID("stat-total") + " .stat-value").Text()); got != "4" {
			t.Errorf("stat-total %q, want 4", got)
		}
	})
}

func TestPendingExchanges(t *testing.T) {
	e := newSeededEnv(t)
	users := e.sessions()
	before := e.aliceVersion()

	// An exchange of alice's that the proxy has started but not finished.
	rec := &capture.Record{
		ID:        uuid.Must(uuid.NewV7()).String(),
		Start:     time.Now(),
		Method:    "POST",
		URL:       "/v1/chat/completions",
		Path:      "/chat/completions",
		ReqHeader: http.Header{"Authorization": {"Bearer " + aliceKey}, "Content-Type": {"application/json"}},
		ReqBody:   capture.Body{Limit: 1 << 20},
		APIKey:    aliceKey,
	}
	rec.ReqBody.Write([]byte(`{"model":"openai/gpt-pending","messages":[{"role":"user","content":"slow one"}]}`))
	id := rec.ID
	e.ids["pending"], e.names[id] = id, "pending"
	e.live.Begin(rec)
	if e.aliceVersion() == before {
		t.Fatal("Begin did not change the version")
	}

	visible := []struct {
		user, query string
		want        bool
	}{
		{"alice", "", true},
		{"admin", "", true},
		{"bob", "", false},
		{"admin", "key=" + capture.Fingerprint(bobKey), false},
		{"alice", "search=embeddings", false},
		{"alice", "search=chat", true},
		{"alice", "model=openai/gpt-pending", true},
		{"alice", "status=error", false},
		{"alice", "page=2&page_size=2", false}, // pending rows sit on the first page
	}
	for _, tc := range visible {
		t.Run("Pending "+tc.user+" "+tc.query, func(t *testing.T) {
			w := e.get("/partials/requests?v="+before+"&"+tc.query, withCookie(users[tc.user]), htmx())
			wantStatus(t, w, http.StatusOK)
			doc := page(t, w)
			got := e.rowNames(doc, "pending-row")
			if want := []string{"pending"}; tc.want && !slices.Equal(got, want) || !tc.want && len(got) != 0 {
				t.Errorf("pending rows %v, want shown: %v", got, tc.want)
			}
			if tc.want {
				if !strings.Contains(doc.Find(byTestID("pending-row")).Text(), "openai/gpt-pending") {
					t.Error("pending row does not show the requested model")
				}
			}
			if slices.Contains(e.rowNames(doc, "request-row"), "pending") {
				t.Error("an unfinished exchange shows as a request row")
			}
		})
	}

	t.Run("DashboardShowsPendingFirst", func(t *testing.T) {
		doc := page(t, e.get("/", withCookie(users["alice"])))
		first := doc.Find(byTestID("requests") + " tbody tr").First()
		if first.AttrOr("data-testid", "") != "pending-row" || first.AttrOr("data-id", "") != id {
			t.Errorf("first row %v, want the pending exchange", first.Nodes)
		}
	})

	// The proxy finishes the exchange and hands it to the store.
	rec.Status = 200
	rec.Duration = 700 * time.Millisecond
	rec.Attempts = 1
	rec.RespHeader = http.Header{"Content-Type": {"application/json"}}
	rec.RespBody = capture.Body{Limit: 1 << 20}
	rec.RespBody.Write([]byte(`{"model":"openai/gpt-pending","choices":[{"message":{"role":"assistant","content":"done"}}]}`))
	e.live.End(rec)
	afterBegin := e.aliceVersion()
	if err := e.st.Record(rec); err != nil { // the store owns rec from here
		t.Fatal(err)
	}
	e.flush()
	// Live updates computed before the commit may be served for up to
	// MinRefresh.
	e.nextRefresh()

	t.Run("CommitChangesTheVersion", func(t *testing.T) {
		if e.aliceVersion() == afterBegin {
			t.Fatal("commit did not change the version")
		}
		wantStatus(t, e.get("/partials/requests?v="+e.aliceVersion(), withCookie(users["alice"])), http.StatusNoContent)
	})
	for _, user := range []string{"alice", "admin"} {
		t.Run("CommittedBecomesRequestRowFor"+user, func(t *testing.T) {
			w := e.get("/partials/requests?v="+afterBegin, withCookie(users[user]), htmx())
			wantStatus(t, w, http.StatusOK)
			doc := page(t, w)
			if got := e.rowNames(doc, "pending-row"); len(got) != 0 {
				t.Errorf("pending rows %v after commit, want none", got)
			}
			if got := e.rowNames(doc, "request-row"); len(got) == 0 || got[0] != "pending" {
				t.Errorf("request rows %v, want the committed exchange first", got)
			}
		})
	}
	t.Run("CommittedStaysHiddenFromBob", func(t *testing.T) {
		doc := page(t, e.get("/partials/requests?v="+afterBegin, withCookie(users["bob"])))
		if got := e.rowNames(doc, "request-row"); !slices.Equal(got, bobSees) {
			t.Errorf("bob's rows %v, want %v", got, bobSees)
		}
	})
}

// The poll's version must tell a user nothing of other keys' traffic: it
// changes with their own exchanges only, and with anyone's for an admin.
func TestPollVersionIsPerViewer(t *testing.T) {
	e := newSeededEnv(t)
	users := e.sessions()
	// polls are the URL each user's table polls next.
	polls := map[string]string{}
	for user, c := range users {
		polls[user] = e.pollURL(t, c, "")
	}
	// unchanged checks the poll of each user in quiet answers 204, and of
	// every other user an update; then everyone polls from the update.
	check := func(t *testing.T, quiet ...string) {
		t.Helper()
		for user, c := range users {
			w := e.get(polls[user], withCookie(c), htmx())
			if slices.Contains(quiet, user) {
				if w.Code != http.StatusNoContent {
					t.Errorf("%s's poll answered %d, want 204: another key's traffic showed", user, w.Code)
				}
				continue
			}
			wantStatus(t, w, http.StatusOK)
			polls[user] = page(t, w).Find(byTestID("requests")).AttrOr("hx-get", "")
		}
	}
	exchange := func(name, key string) (*capture.Record, exchange) {
		x := exchange{name: name, key: key, method: "POST", url: "/v1/chat/completions", path: "/chat/completions",
			reqType: "application/json", reqBody: []byte(`{"model":"m"}`), status: 200, respType: "application/json", respBody: []byte(`{}`)}
		return x.record(e.now), x
	}

	bobRec, _ := exchange("bob-live", bobKey)
	steps := []struct {
		name  string
		do    func()
		quiet []string
	}{
		{"BobBegins", func() { e.live.Begin(bobRec) }, []string{"alice"}},
		{"BobEnds", func() { e.live.End(bobRec) }, []string{"alice", "bob", "admin"}},
		{"BobCommitted", func() {
			if err := e.st.Record(bobRec); err != nil { // the store owns bobRec from here
				t.Fatal(err)
			}
			e.flush()
		}, []string{"alice"}},
		{"AliceCommitted", func() { _, x := exchange("alice-live", aliceKey); e.seed(x) }, []string{"bob"}},
		{"DefaultKeyCommitted", func() { _, x := exchange("default-live", defaultKey); e.seed(x) }, []string{"alice", "bob"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do()
			e.nextRefresh() // no live update computed before the step is served
			check(t, s.quiet...)
		})
	}
}
