package capture

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Redacted replaces the value of a header that carries a secret.
const Redacted = "[REDACTED]"

// RedactHeader returns h as canonical header name → value, with several
// values of one name joined by ", " and every secret hidden: Authorization
// and Proxy-Authorization keep their scheme and show the credential masked
// by Mask; cookies, API-key headers and any header whose name mentions a
// token, secret or password become "[REDACTED]". A nil h gives an empty map.
func RedactHeader(h http.Header) map[string]string {
	return joinHeader(redactHeader(h, ""))
}

// redactHeader returns a redacted copy of h with canonical names. It also
// masks every occurrence of secret (the key forwarded upstream) in the other
// headers, since a client may send its key in a header we have no rule for,
// and the plaintext key must not reach the store (LiteLLM #16336).
// It copies rather than edits h, because h may be the live request's map.
func redactHeader(h http.Header, secret string) http.Header {
	if h == nil {
		return nil
	}
	names := make([]string, 0, len(h))
	for name := range h {
		names = append(names, name)
	}
	// Sorted, so that values of names that differ only in case merge in a
	// stable order.
	slices.Sort(names)
	out := make(http.Header, len(h))
	for _, name := range names {
		canon := http.CanonicalHeaderKey(name)
		for _, v := range h[name] {
			out[canon] = append(out[canon], redactValue(canon, v, secret))
		}
	}
	return out
}

// minScrubLen is the shortest key that is searched for in other headers;
// replacing a very short string everywhere would mangle unrelated values.
const minScrubLen = 8

// redactValue returns v as it may be stored under header name.
func redactValue(name, v, secret string) string {
	lower := strings.ToLower(name)
	switch {
	case lower == "authorization" || lower == "proxy-authorization":
		return maskCredential(v)
	case secretHeader(lower):
		return Redacted
	}
	if len(secret) >= minScrubLen && strings.Contains(v, secret) {
		v = strings.ReplaceAll(v, secret, Mask(secret))
	}
	return v
}

// secretHeader reports whether a header, by its lowercase name, carries a
// secret as a whole.
func secretHeader(lower string) bool {
	switch lower {
	case "cookie", "set-cookie", "x-api-key", "api-key":
		return true
	}
	for _, word := range []string{"token", "secret", "password", "api-key", "apikey"} {
		if strings.Contains(lower, word) {
			return true
		}
	}
	return false
}

// maskCredential keeps the scheme of an Authorization value and masks the
// credential. Basic credentials are base64 of "user:password", where the
// first characters Mask would show can spell the start of the password, so
// they are hidden entirely.
func maskCredential(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok {
		return maskKey(v)
	}
	cred = strings.TrimSpace(cred)
	switch {
	case cred == "":
		return scheme
	case strings.EqualFold(scheme, "Basic"):
		return scheme + " " + Redacted
	default:
		return scheme + " " + maskKey(cred)
	}
}

// joinHeader flattens h into name → values joined by ", ".
func joinHeader(h http.Header) map[string]string {
	m := make(map[string]string, len(h))
	for name, vals := range h {
		m[name] = strings.Join(vals, ", ")
	}
	return m
}

// headerJSON encodes an already redacted h as a JSON object with sorted keys.
func headerJSON(h http.Header) string {
	b, err := json.Marshal(joinHeader(h))
	if err != nil {
		// A map of strings always encodes; this keeps the column valid anyway.
		return "{}"
	}
	return string(b)
}
