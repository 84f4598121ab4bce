package capture_test

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

func TestFingerprint(t *testing.T) {
	const key = "sk-or-v1-0123456789abcdef0123456789abcdef"
	sum := sha256.Sum256([]byte(key))
	if got, want := capture.Fingerprint(key), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("Fingerprint = %q, want %q", got, want)
	}
	if got := capture.Fingerprint(key); got != strings.ToLower(got) || len(got) != 64 {
		t.Errorf("Fingerprint = %q, want 64 lowercase hex digits", got)
	}
	if capture.Fingerprint("a") == capture.Fingerprint("b") {
		t.Error("different keys share a fingerprint")
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		key, want string
	}{
		{"sk-or-v1-0123456789abcdef0123456789abcdefa1b2", "sk-or-v1…a1b2"},
		{"abcdefghijklmnopqrstuvwx", "abcdefgh…uvwx"}, // exactly 24
		{"abcdefghijklmnopqrstuvw", "…tuvw"},          // 23
		{"abcdefghijkl", "…ijkl"},                     // 12
		{"abcdefghijk", "…"},                          // 11: too short to show any
		{"abc", "…"},
		{"", "…"},
		{"ключ-ключ-ключ-ключ-ключ-1234", "ключ-клю…1234"}, // by character, not byte
		// A whole Authorization value, as the proxy keeps for schemes
		// other than Bearer: the scheme shows, a Basic credential never.
		{"Basic dXNlcjpwYXNzd29yZA==", "Basic …"},
		{"basic  dXNlcjpodW50ZXIyaHVudGVyMmh1bnRlcjI= ", "basic …"},
		{"Token sk-or-v1-0123456789abcdef0123456789abcdefa1b2", "Token sk-or-v1…a1b2"},
		{"Bearer abcdefghijkl", "Bearer …ijkl"},
		{"Digest\tusername=\"alice\", response=\"6629fae49393a05397450978507c4ef1\"", "Digest username…ef1\""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := capture.Mask(tt.key); got != tt.want {
				t.Errorf("Mask(%q) = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

func TestRedactHeader(t *testing.T) {
	const key = "sk-or-v1-0123456789abcdef0123456789abcdefa1b2"
	tests := []struct {
		name string
		in   http.Header
		want map[string]string
	}{
		{"Nil", nil, map[string]string{}},
		{"BearerKeepsScheme",
			http.Header{"Authorization": {"Bearer " + key}},
			map[string]string{"Authorization": "Bearer sk-or-v1…a1b2"}},
		{"ProxyAuthorization",
			http.Header{"Proxy-Authorization": {"Bearer " + key}},
			map[string]string{"Proxy-Authorization": "Bearer sk-or-v1…a1b2"}},
		{"NoScheme",
			http.Header{"Authorization": {key}},
			map[string]string{"Authorization": "sk-or-v1…a1b2"}},
		{"BasicHidden",
			http.Header{"Authorization": {"Basic dXNlcjpodW50ZXIyaHVudGVyMg=="}},
			map[string]string{"Authorization": "Basic [REDACTED]"}},
		{"SecretHeaders",
			http.Header{
				"Cookie":          {"session=abc"},
				"Set-Cookie":      {"a=1", "b=2"},
				"X-Api-Key":       {key},
				"Api-Key":         {key},
				"X-Access-Token":  {"t"},
				"X-Client-Secret": {"s"},
				"X-Title":         {"My App"},
				"Http-Referer":    {"https://example.com"},
			},
			map[string]string{
				"Cookie":          "[REDACTED]",
				"Set-Cookie":      "[REDACTED], [REDACTED]",
				"X-Api-Key":       "[REDACTED]",
				"Api-Key":         "[REDACTED]",
				"X-Access-Token":  "[REDACTED]",
				"X-Client-Secret": "[REDACTED]",
				"X-Title":         "My App",
				"Http-Referer":    "https://example.com",
			}},
		{"CanonicalAndJoined",
			http.Header{"x-custom": {"a"}, "Accept": {"text/plain", "application/json"}},
			map[string]string{"X-Custom": "a", "Accept": "text/plain, application/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := capture.RedactHeader(tt.in)
			if !maps.Equal(got, tt.want) {
				t.Errorf("RedactHeader = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAnalyzeKey checks that the key is hashed, masked and gone: from the
// record, from the headers' JSON, and from the record's header maps, while
// the live request's header map is left as it was.
func TestAnalyzeKey(t *testing.T) {
	const key = "sk-or-v1-0123456789abcdef0123456789abcdefa1b2"
	live := http.Header{
		"Authorization": {"Bearer " + key},
		"X-Debug":       {"forwarded with " + key}, // a header no rule covers
		"X-Title":       {"app"},
	}
	r := exchange(200, http.Header{"Set-Cookie": {"s=" + key}, "Content-Type": {"application/json"}}, bigLimit, `{}`)
	r.ReqHeader = live
	r.APIKey = key
	r.Analyze()

	if r.APIKey != "" {
		t.Errorf("APIKey = %q, want it cleared", r.APIKey)
	}
	if r.KeyHash != capture.Fingerprint(key) {
		t.Errorf("KeyHash = %q, want Fingerprint(key)", r.KeyHash)
	}
	if r.KeyMask != "sk-or-v1…a1b2" {
		t.Errorf("KeyMask = %q", r.KeyMask)
	}
	for name, s := range map[string]string{
		"ReqHeaderJSON":  r.ReqHeaderJSON,
		"RespHeaderJSON": r.RespHeaderJSON,
		"ReqHeader":      strings.Join(flatten(r.ReqHeader), "\n"),
		"RespHeader":     strings.Join(flatten(r.RespHeader), "\n"),
	} {
		if strings.Contains(s, key) || strings.Contains(s, key[9:30]) {
			t.Errorf("%s holds the key: %s", name, s)
		}
	}
	const wantReq = `{"Authorization":"Bearer sk-or-v1…a1b2","X-Debug":"forwarded with sk-or-v1…a1b2","X-Title":"app"}`
	if r.ReqHeaderJSON != wantReq {
		t.Errorf("ReqHeaderJSON = %s, want %s", r.ReqHeaderJSON, wantReq)
	}
	if got := live.Get("Authorization"); got != "Bearer "+key {
		t.Errorf("live request header changed to %q", got)
	}
}

// TestAnalyzeBasicKey checks that a record whose key is a Basic
// Authorization value (the proxy keeps the whole value for schemes other
// than Bearer) shows none of the credential in its mask.
func TestAnalyzeBasicKey(t *testing.T) {
	const cred = "dXNlcjpwYXNzd29yZA==" // user:password
	r := exchange(200, jsonHeader(), bigLimit, `{}`)
	r.ReqHeader = http.Header{"Authorization": {"Basic " + cred}}
	r.APIKey = "Basic " + cred
	r.Analyze()
	if r.KeyMask != "Basic …" {
		t.Errorf("KeyMask = %q, want %q", r.KeyMask, "Basic …")
	}
	for _, part := range []string{cred[:2], cred[len(cred)-4:]} {
		if strings.Contains(r.KeyMask, part) || strings.Contains(r.ReqHeaderJSON, part) {
			t.Errorf("KeyMask %q or headers %s show %q of the credential", r.KeyMask, r.ReqHeaderJSON, part)
		}
	}
	if r.KeyHash != capture.Fingerprint("Basic "+cred) {
		t.Errorf("KeyHash = %q", r.KeyHash)
	}
}

func flatten(h http.Header) []string {
	var out []string
	for k, vs := range h {
		out = append(out, k+": "+strings.Join(vs, ", "))
	}
	return out
}

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]string{
		"Bearer sk-1":      "sk-1",
		"bearer  sk-2 ":    "sk-2",
		" BEARER sk-3":     "sk-3",
		"Basic dXNlcjpwdw": "!",
		"sk-4":             "!",
		"":                 "!",
	} {
		got, ok := capture.BearerToken(in)
		if want == "!" {
			if ok {
				t.Errorf("%q: read as Bearer %q", in, got)
			}
		} else if !ok || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, ok, want)
		}
	}
}
