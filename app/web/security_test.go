package web_test

// The security tests of the dashboard, one kind a test, each table naming
// what it proves: escaping of every displayed field, no access to others'
// records by id, no cross-origin POST, sessions that cannot be fixed,
// forged or replayed, and a login rate limit that cannot lock out a valid
// key nor be dodged with forwarding headers. TestTablesCoverEveryRoute
// keeps the tables in step with routes.go.

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"
	"github.com/gorilla/sessions"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/web"
)

// routePattern reads the routes of routes.go.
var routePattern = regexp.MustCompile(`mux\.Handle(?:Func)?\("(?:([A-Z]+) )?([^"]+)"`)

// postRoutes and idRoutes are the routes TestCrossOriginPosts and
// TestIDOR cover; a new route of either kind must join them.
var (
	postRoutes = []string{"POST /login", "POST /logout"}
	idRoutes   = []string{"GET /request/{id}", "GET /api/request/{id}"}
)

func TestTablesCoverEveryRoute(t *testing.T) {
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	routes := routePattern.FindAllStringSubmatch(string(src), -1)
	if len(routes) < 10 {
		t.Fatalf("found %d routes in routes.go; has its form changed?", len(routes))
	}
	for _, r := range routes {
		method, path := r[1], r[2]
		route := method + " " + path
		switch {
		case method == "" && path == "/":
			// The not-found page, for every method; it changes nothing.
		case method == "":
			t.Errorf("%s: a route for every method; name its methods, and list its POST in postRoutes", path)
		case method != "GET" && !slices.Contains(postRoutes, route):
			t.Errorf("%s: not in postRoutes, so no test proves it refuses cross-origin requests", route)
		}
		if strings.Contains(strings.ReplaceAll(path, "{$}", ""), "{") && !slices.Contains(idRoutes, route) {
			t.Errorf("%s: not in idRoutes, so no test proves it hides others' records", route)
		}
	}
}

// xss is a payload for one displayed field, named so that a test can tell
// which field shows it. It opens with quotes and '>' to break out of an
// attribute.
func xss(field string) string {
	return `"'>` + xssCore(field) + `<img src=x onerror=alert('` + field + `')>`
}

// xssCore is the part of xss(field) that must show as text, whatever
// encoding (such as JSON's) the field went through on its way.
func xssCore(field string) string { return `<script>alert('` + field + `')</script>` }

// malloryKey has markup at both ends, which its mask keeps.
const malloryKey = `<script>` + leakMarker + `0000000000"<b>`

// hostile is an exchange with a payload in every field the dashboard
// displays; hostileStream is the same as a stream.
func hostile(stream bool) exchange {
	suffix := ""
	if stream {
		suffix = "-stream"
	}
	reqBody := rawJSON(map[string]any{
		"model": xss("model-requested"),
		"messages": []any{
			map[string]any{"role": xss("role"), "name": xss("name"), "content": xss("content")},
			map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
				"id": "call_1", "type": "function",
				"function": map[string]any{"name": xss("call-name"), "arguments": xss("call-args")},
			}}},
			map[string]any{"role": "tool", "tool_call_id": xss("tool-call-id"), "content": []any{
				map[string]any{"type": "text", "text": xss("content-part")},
				map[string]any{"type": xss("part-type")},
			}},
		},
	})
	message := map[string]any{
		"role": "assistant", "content": xss("reply" + suffix), "reasoning": xss("reasoning" + suffix),
		"tool_calls": []any{map[string]any{"index": 0, "id": "c1", "type": "function",
			"function": map[string]any{"name": xss("reply-tool" + suffix), "arguments": xss("reply-args" + suffix)}}},
	}
	x := exchange{
		name: "hostile" + suffix, key: malloryKey, ago: 30 * time.Second, method: xss("method" + suffix),
		url: "/v1/" + xss("path"+suffix) + "?q=" + xss("query"+suffix), path: "/" + xss("path"+suffix),
		reqType: "application/json", reqBody: reqBody, status: 502, duration: time.Second,
		edit: func(rec *capture.Record) {
			rec.ProxyErr = xss("error" + suffix)
			rec.ClientAddr = xss("client" + suffix)
			rec.ReqHeader.Set(`X-"'><script>alert('header-name`+suffix+`')</script>`, "v")
			rec.ReqHeader.Set("X-Note", xss("header-value"+suffix))
			rec.RespHeader.Set("X-Upstream-Note", xss("resp-header-value"+suffix))
		},
	}
	if stream {
		x.respType = "text/event-stream"
		delta := rawJSON(map[string]any{"id": xss("generation-id" + suffix), "model": xss("model" + suffix),
			"choices": []any{map[string]any{"index": 0, "delta": message, "finish_reason": xss("finish" + suffix)}}})
		x.respBody = []byte("data: " + string(delta) + "\n\ndata: [DONE]\n\n")
	} else {
		x.respType = "application/json"
		x.respBody = rawJSON(map[string]any{"id": xss("generation-id"), "model": xss("model"),
			"choices": []any{map[string]any{"index": 0, "message": message, "finish_reason": xss("finish")}}})
	}
	return x
}

// Fields, by the name their payload carries, shown on each kind of page.
var (
	rowFields = []string{"method", "path", "error", "model"}
	// exchangeFields differ between hostile(false) and hostile(true), which
	// adds "-stream" to them; requestFields come from the same body.
	exchangeFields = []string{
		"method", "path", "query", "model", "error", "client", "generation-id", "finish",
		"header-name", "header-value", "resp-header-value", "reply", "reasoning", "reply-tool", "reply-args",
	}
	requestFields = []string{
		"model-requested", "role", "name", "content", "call-name", "call-args", "tool-call-id", "content-part", "part-type",
	}
	pendingFields = []string{"pending-method", "pending-path", "pending-model"}
)

// withSuffix returns fields, each with suffix.
func withSuffix(fields []string, suffix string) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f + suffix
	}
	return out
}

// checkInert fails if doc holds a script other than the app's own, any
// image, an event handler attribute or a javascript: URL: then injected
// markup would have been parsed as markup.
func checkInert(t *testing.T, doc *goquery.Document) {
	t.Helper()
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		if src, _ := s.Attr("src"); !strings.HasPrefix(src, "/assets/") || strings.TrimSpace(s.Text()) != "" {
			t.Errorf("unexpected script element: src %q, text %q", src, s.Text())
		}
	})
	if n := doc.Find("img").Length(); n != 0 {
		t.Errorf("%d <img> elements, want none", n)
	}
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") {
				t.Errorf("<%s> has an event handler attribute %s", goquery.NodeName(s), a.Key)
			}
			if strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
				t.Errorf("<%s %s> holds a javascript: URL", goquery.NodeName(s), a.Key)
			}
		}
	})
}

// inAttr reports whether some attribute of doc holds s (a form value such
// as the search box).
func inAttr(doc *goquery.Document, s string) bool {
	found := false
	doc.Find("*").EachWithBreak(func(_ int, sel *goquery.Selection) bool {
		for _, a := range sel.Nodes[0].Attr {
			if strings.Contains(a.Val, s) {
				found = true
			}
		}
		return !found
	})
	return found
}

// checkShownAsText fails unless each of texts shows on the page as text
// (or in an attribute, as a form value does) and never as raw markup.
func checkShownAsText(t *testing.T, w *httptest.ResponseRecorder, doc *goquery.Document, texts ...string) {
	t.Helper()
	body, text := w.Body.String(), doc.Text()
	for _, s := range texts {
		if strings.Contains(body, s) {
			t.Errorf("HTML holds %q unescaped", s)
		}
		if !strings.Contains(text, s) && !inAttr(doc, s) {
			t.Errorf("page does not show %q: is the field covered?", s)
		}
	}
}

func TestEscaping(t *testing.T) {
	e := newSeededEnv(t)
	e.seed(hostile(false), hostile(true))
	pending := &capture.Record{
		ID: uuid.Must(uuid.NewV7()).String(), Start: time.Now(), APIKey: malloryKey,
		Method: xss("pending-method"), URL: "/v1/" + xss("pending-path"), Path: "/" + xss("pending-path"),
		ReqBody: capture.Body{Limit: 1 << 20},
	}
	// peekModel stops at a quote, so this payload has none.
	pending.ReqBody.Write([]byte(`{"model":"` + xssCore("pending-model") + `"}`))
	e.live.Begin(pending)

	bob, admin, mallory := e.login(bobKey), e.login(adminKey), e.login(malloryKey)
	malloryMask := capture.Mask(malloryKey)
	cores := func(fields ...string) []string {
		out := make([]string, len(fields))
		for i, f := range fields {
			out[i] = xssCore(f)
		}
		return out
	}
	listed := slices.Concat(cores(rowFields...), cores(withSuffix(rowFields, "-stream")...), cores(pendingFields...), []string{malloryMask})
	detail := func(suffix string) []string {
		return slices.Concat(cores(requestFields...), cores(withSuffix(exchangeFields, suffix)...), []string{malloryMask})
	}

	pages := []struct {
		name   string
		target string
		c      *http.Cookie
		opts   []reqOpt
		want   []string // what the page must show as text
		status int      // 0 means 200
	}{
		{"Dashboard", "/", admin, nil, listed, 0},
		{"DashboardFragment", "/", admin, []reqOpt{htmx()}, listed, 0},
		{"Poll", "/partials/requests?v=stale", admin, nil, listed, 0},
		{"DashboardOfTheKeyOwner", "/", mallory, nil, listed, 0},
		{"Detail", "/request/" + e.ids["hostile"], admin, nil, detail(""), 0},
		{"DetailOfTheKeyOwner", "/request/" + e.ids["hostile"], mallory, nil, detail(""), 0},
		{"DetailOfStream", "/request/" + e.ids["hostile-stream"], admin, nil, detail("-stream"), 0},
		{"FixtureDashboard", "/", bob, nil, []string{imgPayload, pathPayload}, 0},
		{"FixtureDetail", "/request/" + e.ids["bob-xss"], bob, nil, []string{scriptPayload, replyPayload, imgPayload, pathPayload}, 0},
		{"SearchEcho", "/?search=" + url.QueryEscape(xss("search")), bob, nil, []string{xss("search")}, 0},
		{"ModelFilterEcho", "/?model=" + url.QueryEscape(xss("model-filter")), bob, nil, []string{xss("model-filter")}, 0},
		{"MethodFilterEcho", "/?method=" + url.QueryEscape(xss("m")), bob, nil, []string{strings.ToUpper(xss("m"))}, 0},
		{"KeyFilterEcho", "/?key=" + url.QueryEscape(xss("key-filter")), admin, nil, []string{xss("key-filter")}, 0},
		{"NotFound", "/" + url.PathEscape(scriptPayload), bob, nil, []string{scriptPayload}, http.StatusNotFound},
		{"LoginPage", "/login", nil, nil, nil, 0},
	}
	for _, tc := range pages {
		t.Run(tc.name+"ShowsPayloadsAsText", func(t *testing.T) {
			opts := tc.opts
			if tc.c != nil {
				opts = append(opts, withCookie(tc.c))
			}
			w := e.get(tc.target, opts...)
			wantStatus(t, w, cmp.Or(tc.status, http.StatusOK))
			doc := page(t, w)
			checkInert(t, doc)
			checkShownAsText(t, w, doc, tc.want...)
		})
	}

	t.Run("LoginErrorsAreInert", func(t *testing.T) {
		w := e.postForm("/login", url.Values{"api_key": {xss("login-key")}})
		wantStatus(t, w, http.StatusUnauthorized)
		checkInert(t, page(t, w))
		if strings.Contains(w.Body.String(), "login-key") {
			t.Error("the login page echoes the key it was given")
		}
	})

	t.Run("JSONAPIEscapesMarkup", func(t *testing.T) {
		for target, field := range map[string]string{
			"/api/requests":                           "path",
			"/api/request/" + e.ids["hostile"]:        "reply",
			"/api/request/" + e.ids["hostile-stream"]: "reply-stream",
		} {
			w := e.get(target, withCookie(admin))
			wantStatus(t, w, http.StatusOK)
			if strings.Contains(w.Body.String(), "<") {
				t.Errorf("%s: JSON holds a raw '<'; want \\u003c, so that a browser sniffing it finds no markup", target)
			}
			if !strings.Contains(w.Body.String(), `\u003cscript\u003ealert('`+field+`')`) {
				t.Errorf("%s: the %s payload is missing; is the field covered?", target, field)
			}
		}
	})

	t.Run("RowShowsModelAndPathVerbatim", func(t *testing.T) {
		id := e.ids["bob-xss"]
		doc := page(t, e.get("/", withCookie(bob)))
		row := doc.Find(byTestID("request-row") + `[data-id="` + id + `"]`)
		if got := strings.TrimSpace(row.Find(".c-model").Text()); got != imgPayload {
			t.Errorf("model cell %q, want %q", got, imgPayload)
		}
		if got := strings.TrimSpace(row.Find(byTestID("row-link")).Text()); got != pathPayload {
			t.Errorf("path cell %q, want %q", got, pathPayload)
		}
		if got := row.Find(byTestID("row-link")).AttrOr("href", ""); got != "/request/"+id {
			t.Errorf("row link %q, want /request/%s", got, id)
		}
	})

	t.Run("DetailShowsMessageAndReplyVerbatim", func(t *testing.T) {
		doc := page(t, e.get("/request/"+e.ids["bob-xss"], withCookie(bob)))
		if got := strings.TrimSpace(doc.Find(byTestID("message") + " .msg-body").Text()); got != scriptPayload {
			t.Errorf("message body %q, want %q", got, scriptPayload)
		}
		if got := strings.TrimSpace(doc.Find(byTestID("reply-content")).Text()); got != replyPayload {
			t.Errorf("reply %q, want %q", got, replyPayload)
		}
	})
}

// The id routes answer another user's id, and any malformed id, as they
// answer an id that does not exist: detailVisibility holds those cases,
// which TestDetailPageVisibility and TestAPIRequestDetail run on each of
// idRoutes. The key filter is the other way to name someone's records; it
// is ignored for users on every route that takes it.
func TestIDOR(t *testing.T) {
	e := newSeededEnv(t)
	alice := e.login(aliceKey)
	bobs := "key=" + capture.Fingerprint(bobKey)
	pages := []struct{ name, target string }{
		{"Dashboard", "/?" + bobs},
		{"Fragment", "/?" + bobs},
		{"Poll", "/partials/requests?v=stale&" + bobs},
	}
	for _, tc := range pages {
		t.Run("KeyFilterIgnoredOn"+tc.name, func(t *testing.T) {
			w := e.get(tc.target, withCookie(alice), htmx())
			wantStatus(t, w, http.StatusOK)
			if got := e.rowNames(page(t, w), "request-row"); !slices.Equal(got, aliceSees) {
				t.Errorf("rows %v, want alice's own %v", got, aliceSees)
			}
		})
	}
	t.Run("KeyFilterIgnoredOnAPI", func(t *testing.T) {
		if names, _ := e.listNames(t, alice, bobs); !slices.Equal(names, aliceSees) {
			t.Errorf("got %v, want alice's own %v", names, aliceSees)
		}
		if s := decode[statsResponse](t, e.get("/api/stats?"+bobs, withCookie(alice))); s.TotalRequests == nil || *s.TotalRequests != int64(len(aliceSees)) {
			t.Errorf("stats count %v, want alice's %d", s.TotalRequests, len(aliceSees))
		}
	})
}

func TestCrossOriginPosts(t *testing.T) {
	e := newSeededEnv(t)
	// Each POST route, made as a logged-in browser would with opts; it
	// reports whether the request took effect.
	posts := map[string]func(t *testing.T, opts ...reqOpt) (*httptest.ResponseRecorder, bool){
		"POST /login": func(t *testing.T, opts ...reqOpt) (*httptest.ResponseRecorder, bool) {
			w := e.postForm("/login", url.Values{"api_key": {adminKey}}, opts...)
			return w, len(w.Result().Cookies()) != 0
		},
		"POST /logout": func(t *testing.T, opts ...reqOpt) (*httptest.ResponseRecorder, bool) {
			c := e.login(aliceKey)
			w := e.postForm("/logout", nil, append(opts, withCookie(c))...)
			return w, e.get("/", withCookie(c)).Code != http.StatusOK
		},
	}
	if len(posts) != len(postRoutes) {
		t.Fatalf("%d POST routes tested, want every one of %v", len(posts), postRoutes)
	}

	crossSite := []struct {
		name string
		opts []reqOpt
	}{
		{"ForeignOrigin", []reqOpt{withHeader("Origin", "https://evil.example")}},
		{"NullOrigin", []reqOpt{withHeader("Origin", "null")}},
		{"OtherPortOrigin", []reqOpt{withHeader("Origin", "http://example.com:8081")}},
		{"SecFetchSiteCrossSite", []reqOpt{withHeader("Sec-Fetch-Site", "cross-site")}},
		{"SecFetchSiteSameSiteOtherOrigin", []reqOpt{withHeader("Sec-Fetch-Site", "same-site")}},
		{"SecFetchSiteWinsOverMatchingOrigin", []reqOpt{withHeader("Sec-Fetch-Site", "cross-site"), withHeader("Origin", "http://example.com")}},
	}
	sameOrigin := []struct {
		name string
		opts []reqOpt
	}{
		// httptest requests have Host example.com.
		{"MatchingOrigin", []reqOpt{withHeader("Origin", "http://example.com")}},
		{"SecFetchSiteSameOrigin", []reqOpt{withHeader("Sec-Fetch-Site", "same-origin")}},
		{"SecFetchSiteNone", []reqOpt{withHeader("Sec-Fetch-Site", "none")}},
		{"NoBrowserHeaders", nil},
	}
	for _, route := range postRoutes {
		post := posts[route]
		for _, tc := range crossSite {
			t.Run(route+" RefusedFrom"+tc.name, func(t *testing.T) {
				w, took := post(t, tc.opts...)
				wantStatus(t, w, http.StatusForbidden)
				if took || len(w.Result().Cookies()) != 0 {
					t.Error("a refused cross-origin request took effect")
				}
			})
		}
		for _, tc := range sameOrigin {
			t.Run(route+" WorksFrom"+tc.name, func(t *testing.T) {
				w, took := post(t, tc.opts...)
				wantStatus(t, w, http.StatusSeeOther)
				if !took {
					t.Error("a same-origin request did nothing")
				}
			})
		}
	}
}

// sessionID is the random session id a session cookie carries.
func sessionID(t *testing.T, c *http.Cookie) string {
	t.Helper()
	sid := sessionIDPattern.Find(cookiePayload(t, c.Value))
	if sid == nil {
		t.Fatalf("cookie %q holds no session id", c.Value)
	}
	return string(sid)
}

// storedSession reads the server-side session of a cookie.
func (e *env) storedSession(t *testing.T, c *http.Cookie) (store.Session, error) {
	t.Helper()
	sum := sha256.Sum256([]byte(sessionID(t, c)))
	return e.st.GetSession(context.Background(), hex.EncodeToString(sum[:]), time.Now())
}

// An attacker who plants a cookie in a victim's browser must not share
// the session the victim then starts.
func TestSessionFixation(t *testing.T) {
	e := newSeededEnv(t)
	planted := e.login(aliceKey) // the attacker's own, valid session
	forged := &http.Cookie{Name: planted.Name, Value: "attacker-chosen"}
	for _, tc := range []struct {
		name   string
		before *http.Cookie
	}{{"ValidSessionOfAnother", planted}, {"ForgedValue", forged}} {
		t.Run(tc.name+"IsReplacedAtLogin", func(t *testing.T) {
			after := e.login(adminKey, withCookie(tc.before))
			if after.Value == tc.before.Value || tc.before == planted && sessionID(t, after) == sessionID(t, planted) {
				t.Fatal("login kept the session id the browser came with")
			}
			if page(t, e.get("/", withCookie(after))).Find(byTestID("admin-badge")).Length() != 1 {
				t.Error("the new session is not the admin's")
			}
		})
	}
	t.Run("PlantedSessionGainsNothing", func(t *testing.T) {
		doc := page(t, e.get("/", withCookie(planted)))
		if doc.Find(byTestID("admin-badge")).Length() != 0 || doc.Find(byTestID("user-key")).Text() != capture.Mask(aliceKey) {
			t.Error("the attacker's session became the victim's")
		}
	})
}

func TestTamperedCookieIsRefused(t *testing.T) {
	e := newSeededEnv(t)
	good := e.login(adminKey)
	// A cookie holding the same session id, signed with another secret.
	other := sessions.NewCookieStore([]byte("another-secret-another-secret-another-secret"))
	w := httptest.NewRecorder()
	sess, _ := other.New(httptest.NewRequest("GET", "/", nil), good.Name)
	sess.Values["sid"] = sessionID(t, good)
	if err := sess.Save(httptest.NewRequest("GET", "/", nil), w); err != nil {
		t.Fatal(err)
	}
	flip := func(v string, i int) string {
		b := []byte(v)
		b[i] ^= 1
		return string(b)
	}
	tampered := []struct{ name, value string }{
		{"FlippedFirstByte", flip(good.Value, 0)},
		{"FlippedMiddleByte", flip(good.Value, len(good.Value)/2)},
		{"FlippedLastByte", flip(good.Value, len(good.Value)-1)},
		{"Truncated", good.Value[:len(good.Value)-4]},
		{"Doubled", good.Value + good.Value},
		{"Empty", ""},
		{"SignedWithAnotherSecret", sessionCookie(t, w).Value},
	}
	for _, tc := range tampered {
		c := &http.Cookie{Name: good.Name, Value: tc.value}
		t.Run(tc.name, func(t *testing.T) {
			wantRedirect(t, e.get("/", withCookie(c)), "/login")
			wantStatus(t, e.get("/partials/requests?v=x", withCookie(c), htmx()), http.StatusUnauthorized)
			wantJSONError(t, e.get("/api/requests", withCookie(c)), http.StatusUnauthorized)
			wantStatus(t, e.get("/login", withCookie(c)), http.StatusOK)
		})
	}
	t.Run("GoodCookieStillWorks", func(t *testing.T) {
		wantStatus(t, e.get("/", withCookie(good)), http.StatusOK)
	})
}

func TestLogoutRevokesEveryCopyOfTheCookie(t *testing.T) {
	e := newSeededEnv(t)
	c := e.login(aliceKey)
	stolen := *c // a copy kept elsewhere, e.g. by another tab or a thief
	wantStatus(t, e.get("/", withCookie(&stolen)), http.StatusOK)
	if _, err := e.storedSession(t, c); err != nil {
		t.Fatalf("session not stored at login: %v", err)
	}

	w := e.postForm("/logout", nil, withCookie(c))
	wantRedirect(t, w, "/login")
	if cleared := sessionCookie(t, w); cleared.MaxAge >= 0 || cleared.Value != "" {
		t.Errorf("logout cookie %v, want it expired and empty", cleared)
	}

	t.Run("SessionGoneServerSide", func(t *testing.T) {
		if _, err := e.storedSession(t, c); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session after logout: %v, want ErrNotFound", err)
		}
	})
	t.Run("OldCookieOnPageRedirectsToLogin", func(t *testing.T) {
		wantRedirect(t, e.get("/", withCookie(&stolen)), "/login")
	})
	t.Run("OldCookieOnDetailRedirectsToLogin", func(t *testing.T) {
		wantRedirect(t, e.get("/request/"+e.ids["alice-chat"], withCookie(&stolen)), "/login")
	})
	t.Run("OldCookieOnAPIIs401", func(t *testing.T) {
		for _, path := range []string{"/api/requests", "/api/stats", "/api/request/" + e.ids["alice-chat"]} {
			wantJSONError(t, e.get(path, withCookie(&stolen)), http.StatusUnauthorized)
		}
	})
	t.Run("OldCookieOnPollIs401ForHtmx", func(t *testing.T) {
		wantStatus(t, e.get("/partials/requests?v=x", withCookie(&stolen), htmx()), http.StatusUnauthorized)
	})
	t.Run("OldCookieCannotLogOutAgain", func(t *testing.T) {
		wantRedirect(t, e.postForm("/logout", nil, withCookie(&stolen)), "/login")
	})
}

// loginDoor is one way to present a key: the login form or a Bearer
// header on the API. Both share one limit per client.
type loginDoor struct {
	name string
	// try presents key with opts and returns the answer.
	try func(e *env, key string, opts ...reqOpt) *httptest.ResponseRecorder
	// in is the status of a valid key.
	in int
}

var loginDoors = []loginDoor{
	{"Form", func(e *env, key string, opts ...reqOpt) *httptest.ResponseRecorder {
		return e.postForm("/login", url.Values{"api_key": {key}}, opts...)
	}, http.StatusSeeOther},
	{"Bearer", func(e *env, key string, opts ...reqOpt) *httptest.ResponseRecorder {
		return e.get("/api/stats", append(opts, withBearer(key))...)
	}, http.StatusOK},
}

// loginLimit is the limit newEnv configures.
const loginLimit = 10

// wantLimited checks a 429 that says when to come back and why.
func wantLimited(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	wantStatus(t, w, http.StatusTooManyRequests)
	if ra, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q, want a positive number of seconds", w.Header().Get("Retry-After"))
	}
	if len(w.Result().Cookies()) != 0 {
		t.Error("a rate-limited attempt set a cookie")
	}
	if !strings.Contains(strings.ToLower(w.Body.String()), "too many") {
		t.Errorf("429 body does not say why:\n%s", w.Body)
	}
}

// exhaust makes loginLimit failed attempts through door, each of which
// must still be an ordinary refusal.
func exhaust(t *testing.T, e *env, door loginDoor, opts ...reqOpt) {
	t.Helper()
	for i := range loginLimit {
		w := door.try(e, "sk-or-v1-guess-"+strconv.Itoa(i), opts...)
		wantStatus(t, w, http.StatusUnauthorized)
	}
}

func TestLoginRateLimit(t *testing.T) {
	const attacker = "203.0.113.7"
	// Different ports: the limit is per host, not per connection.
	from := func(port int) reqOpt { return withRemote(attacker + ":" + strconv.Itoa(port)) }
	for _, door := range loginDoors {
		t.Run(door.name, func(t *testing.T) {
			e := newSeededEnv(t)
			exhaust(t, e, door, from(40000))

			t.Run("WrongKeyOverTheLimitIs429", func(t *testing.T) {
				wantLimited(t, door.try(e, unknownKey, from(40001)))
			})
			t.Run("ValidKeysAreNeverLockedOut", func(t *testing.T) {
				for _, key := range []string{adminKey, aliceKey, adminKey} {
					wantStatus(t, door.try(e, key, from(40002)), door.in)
				}
			})
			t.Run("SuccessDoesNotResetTheCount", func(t *testing.T) {
				wantLimited(t, door.try(e, unknownKey, from(40003)))
			})
			t.Run("OtherDoorSharesTheLimit", func(t *testing.T) {
				for _, other := range loginDoors {
					wantLimited(t, other.try(e, unknownKey, from(40004)))
				}
			})
			t.Run("OtherAddressHasItsOwnBudget", func(t *testing.T) {
				wantStatus(t, door.try(e, unknownKey, withRemote("198.51.100.9:1234")), http.StatusUnauthorized)
			})
			// Without TRUSTED_PROXIES, anyone could name a fresh address in
			// each request and never reach the limit.
			for _, h := range []struct{ name, value string }{
				{"X-Forwarded-For", "192.0.2.1"},
				{"X-Real-Ip", "192.0.2.2"},
				{"Forwarded", "for=192.0.2.3"},
			} {
				t.Run("Spoofed"+h.name+"GivesNoFreshBudget", func(t *testing.T) {
					wantLimited(t, door.try(e, unknownKey, from(40005), withHeader(h.name, h.value)))
				})
			}
		})
	}
}

func TestLoginRateLimitBehindTrustedProxy(t *testing.T) {
	trust := func(s *web.Server) { s.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} }
	proxy := withRemote("10.0.0.1:5000")
	forFor := func(xff string) reqOpt { return withHeader("X-Forwarded-For", xff) }
	for _, door := range loginDoors {
		t.Run(door.name, func(t *testing.T) {
			e := newSeededEnv(t, trust)
			exhaust(t, e, door, proxy, forFor("198.51.100.1"))

			t.Run("ForwardedClientIsLimited", func(t *testing.T) {
				wantLimited(t, door.try(e, unknownKey, proxy, forFor("198.51.100.1")))
			})
			t.Run("OtherForwardedClientHasItsOwnBudget", func(t *testing.T) {
				wantStatus(t, door.try(e, unknownKey, proxy, forFor("198.51.100.2")), http.StatusUnauthorized)
			})
			t.Run("ProxyItselfIsNotLimited", func(t *testing.T) {
				wantStatus(t, door.try(e, unknownKey, proxy), http.StatusUnauthorized)
			})
			t.Run("PrependedAddressGivesNoFreshBudget", func(t *testing.T) {
				wantLimited(t, door.try(e, unknownKey, proxy, forFor("192.0.2.99, 198.51.100.1")))
			})
			t.Run("ChainOfTrustedProxies", func(t *testing.T) {
				wantLimited(t, door.try(e, unknownKey, proxy, forFor("198.51.100.1, 10.1.2.3")))
			})
			t.Run("ValidKeyGetsIn", func(t *testing.T) {
				wantStatus(t, door.try(e, adminKey, proxy, forFor("198.51.100.1")), door.in)
			})
		})
	}
}
