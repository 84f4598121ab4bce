package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/web"
)

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
