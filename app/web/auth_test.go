package web_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

func TestLoginRequired(t *testing.T) {
	e := newSeededEnv(t)
	id := e.ids["alice-chat"]
	for _, path := range []string{"/", "/?search=x", "/request/" + id, "/partials/requests?v=0"} {
		t.Run("PageRedirects "+path, func(t *testing.T) {
			wantRedirect(t, e.get(path), "/login")
		})
		t.Run("HtmxGets401WithHXRedirect "+path, func(t *testing.T) {
			w := e.get(path, htmx())
			wantStatus(t, w, http.StatusUnauthorized)
			if got := w.Header().Get("HX-Redirect"); got != "/login" {
				t.Errorf("HX-Redirect %q, want /login", got)
			}
		})
	}
	for _, path := range []string{"/api/requests", "/api/request/" + id, "/api/stats"} {
		t.Run("APIAnswers401JSON "+path, func(t *testing.T) {
			w := e.get(path)
			wantJSONError(t, w, http.StatusUnauthorized)
			if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q, want a Bearer challenge", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
}

// decodeB64 reads securecookie's URL-safe base64, padded or not.
func decodeB64(s string) ([]byte, error) {
	if b, err := base64.URLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// cookiePayload opens a signed (not encrypted) gorilla cookie far enough
// to read the serialized session values: base64(date|base64(values)|mac).
func cookiePayload(t *testing.T, value string) []byte {
	t.Helper()
	outer, err := decodeB64(value)
	if err != nil {
		t.Fatalf("cookie value is not base64: %v", err)
	}
	parts := bytes.SplitN(outer, []byte("|"), 3)
	if len(parts) != 3 {
		t.Fatalf("cookie value has %d parts, want date|value|mac", len(parts))
	}
	inner, err := decodeB64(string(parts[1]))
	if err != nil {
		t.Fatalf("cookie payload is not base64: %v", err)
	}
	return inner
}

var sessionIDPattern = regexp.MustCompile(`[0-9a-f]{64}`)

func TestLogin(t *testing.T) {
	e := newSeededEnv(t)

	t.Run("AdminKeyStartsSessionWithSafeCookie", func(t *testing.T) {
		w := e.postForm("/login", url.Values{"api_key": {adminKey}})
		wantRedirect(t, w, "/")
		c := sessionCookie(t, w)
		if !c.HttpOnly {
			t.Error("session cookie is not HttpOnly")
		}
		if c.SameSite != http.SameSiteLaxMode {
			t.Errorf("session cookie SameSite %v, want Lax", c.SameSite)
		}
		if c.Path != "/" {
			t.Errorf("session cookie Path %q, want /", c.Path)
		}
		payload := cookiePayload(t, c.Value)
		for _, secret := range []string{adminKey, capture.Fingerprint(adminKey), capture.Mask(adminKey)} {
			if strings.Contains(c.Value, secret) || bytes.Contains(payload, []byte(secret)) {
				t.Errorf("session cookie carries %q; it should hold only a random session id", secret)
			}
		}
		if !sessionIDPattern.Match(payload) {
			t.Errorf("session cookie payload %q holds no 64-hex-digit session id", payload)
		}

		doc := page(t, e.get("/", withCookie(c)))
		if doc.Find(byTestID("admin-badge")).Length() != 1 {
			t.Error("admin session: no admin badge on /")
		}
		if got := doc.Find(byTestID("user-key")).Text(); got != capture.Mask(adminKey) {
			t.Errorf("user-key %q, want %q", got, capture.Mask(adminKey))
		}
	})

	t.Run("UserKeyWithTrafficStartsSession", func(t *testing.T) {
		c := e.login(aliceKey)
		doc := page(t, e.get("/", withCookie(c)))
		if doc.Find(byTestID("admin-badge")).Length() != 0 {
			t.Error("alice's session shows the admin badge")
		}
		if got := doc.Find(byTestID("user-key")).Text(); got != capture.Mask(aliceKey) {
			t.Errorf("user-key %q, want %q", got, capture.Mask(aliceKey))
		}
	})

	t.Run("LoginPageShowsForm", func(t *testing.T) {
		w := e.get("/login")
		wantStatus(t, w, http.StatusOK)
		doc := page(t, w)
		if doc.Find(byTestID("login-form")).Length() != 1 || doc.Find(byTestID("login-error")).Length() != 0 {
			t.Errorf("GET /login: want the form without an error; body:\n%s", w.Body)
		}
	})

	t.Run("LoginPageRedirectsWhenLoggedIn", func(t *testing.T) {
		wantRedirect(t, e.get("/login", withCookie(e.login(bobKey))), "/")
	})

	refused := []struct {
		name, key, wantMsg string
	}{
		{"UnknownKeyWithoutTraffic", unknownKey, "no traffic"},
		{"DefaultKey", defaultKey, "default key"},
		{"EmptyKey", "", "enter an api key"},
		{"BlankKey", "   ", "enter an api key"},
	}
	for _, tc := range refused {
		t.Run("Refuses"+tc.name, func(t *testing.T) {
			w := e.postForm("/login", url.Values{"api_key": {tc.key}}, withRemote("192.0.2.77:1000"))
			wantStatus(t, w, http.StatusUnauthorized)
			if len(w.Result().Cookies()) != 0 {
				t.Errorf("refused login sets a cookie: %v", w.Result().Cookies())
			}
			msg := page(t, w).Find(byTestID("login-error")).Text()
			if !strings.Contains(strings.ToLower(msg), tc.wantMsg) {
				t.Errorf("login-error %q, want it to mention %q", msg, tc.wantMsg)
			}
		})
	}
}

func TestBearerAPI(t *testing.T) {
	e := newSeededEnv(t)
	ok := []struct {
		name string
		key  string
		want []string
	}{
		{"AliceSeesHerOwn", aliceKey, aliceSees},
		{"BobSeesHisOwn", bobKey, bobSees},
		{"AdminSeesAll", adminKey, adminSees},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			w := e.get("/api/requests", withBearer(tc.key))
			wantStatus(t, w, http.StatusOK)
			got := decode[listResponse](t, w)
			var ids []string
			for _, r := range got.Requests {
				ids = append(ids, r.ID)
			}
			if names := e.recordNames(ids); !slices.Equal(names, tc.want) || got.TotalCount != int64(len(tc.want)) {
				t.Errorf("got %v (total %d), want %v", names, got.TotalCount, tc.want)
			}
		})
	}

	refused := []struct {
		name  string
		value string // Authorization; "" sends none
	}{
		{"NoAuthorization", ""},
		{"UnknownKey", "Bearer " + unknownKey},
		{"WrongKey", "Bearer sk-or-v1-wrong"},
		{"DefaultKey", "Bearer " + defaultKey},
		{"EmptyBearer", "Bearer "},
		{"BasicScheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("u:"+aliceKey))},
		{"NoScheme", aliceKey},
	}
	for _, tc := range refused {
		t.Run("Refuses"+tc.name, func(t *testing.T) {
			var opts []reqOpt
			if tc.value != "" {
				opts = append(opts, withHeader("Authorization", tc.value))
			}
			for _, path := range []string{"/api/requests", "/api/stats", "/api/request/" + e.ids["alice-chat"]} {
				wantJSONError(t, e.get(path, opts...), http.StatusUnauthorized)
			}
		})
	}
}

// A dashboard behind a reverse proxy with HTTP basic auth gets an
// Authorization: Basic header on every browser request. That header is not
// the dashboard's; the session cookie must still count.
func TestSessionWorksBehindBasicAuth(t *testing.T) {
	e := newSeededEnv(t)
	basic := withHeader("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("ops:hunter2")))
	c := e.login(aliceKey, basic)
	t.Run("Dashboard", func(t *testing.T) {
		w := e.get("/", withCookie(c), basic)
		wantStatus(t, w, http.StatusOK)
		if got := e.rowNames(page(t, w), "request-row"); !slices.Equal(got, aliceSees) {
			t.Errorf("rows %v, want %v", got, aliceSees)
		}
	})
	t.Run("LoginPageRedirectsHome", func(t *testing.T) {
		wantRedirect(t, e.get("/login", withCookie(c), basic), "/")
	})
	t.Run("API", func(t *testing.T) {
		names, _ := e.listNamesWith(t, "", withCookie(c), basic)
		if !slices.Equal(names, aliceSees) {
			t.Errorf("got %v, want %v", names, aliceSees)
		}
	})
	t.Run("BasicAloneIsNotLoggedIn", func(t *testing.T) {
		wantRedirect(t, e.get("/", basic), "/login")
		wantJSONError(t, e.get("/api/requests", basic), http.StatusUnauthorized)
	})
	t.Run("WrongBearerBeatsCookie", func(t *testing.T) {
		wantJSONError(t, e.get("/api/requests", withCookie(c), withBearer(unknownKey)), http.StatusUnauthorized)
	})
}
