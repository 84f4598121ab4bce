package capture

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// ellipsis marks the hidden part of a masked secret.
const ellipsis = "…"

// Fingerprint returns the lowercase hex SHA-256 of key. Records keep this
// instead of the key, so exchanges can be grouped by key without storing it.
func Fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Mask returns a display form of key that is enough to tell keys apart but
// never enough to use one: keys of 24 or more characters keep their first 8
// and last 4 characters ("sk-or-v1…a1b2"), keys of 12 to 23 characters keep
// only their last 4, and shorter keys show nothing, since revealing 4 of 10
// characters would give away most of a short secret.
//
// A key that is a whole Authorization value with a scheme other than
// Bearer (the proxy forwards such values as they are) keeps its scheme and
// masks the credential the same way, except that a Basic credential shows
// nothing at all ("Basic …"): it is base64 of "user:password", so its first
// and last characters spell part of the password.
func Mask(key string) string {
	if scheme, cred, ok := cutScheme(key); ok {
		if strings.EqualFold(scheme, "Basic") {
			return scheme + " " + ellipsis
		}
		return scheme + " " + maskKey(cred)
	}
	return maskKey(key)
}

// maskKey masks a key without a scheme, as Mask describes.
func maskKey(key string) string {
	rs := []rune(key) // by character, so a stray multi-byte key is not cut mid-rune
	switch {
	case len(rs) >= 24:
		return string(rs[:8]) + ellipsis + string(rs[len(rs)-4:])
	case len(rs) >= 12:
		return ellipsis + string(rs[len(rs)-4:])
	default:
		return ellipsis
	}
}

// cutScheme splits an Authorization value into its auth scheme and its
// credential, reporting false when v is not "<scheme> <credential>": the
// scheme must be an RFC 9110 token, so a key that merely holds a space is
// masked whole.
func cutScheme(v string) (scheme, cred string, ok bool) {
	v = strings.TrimSpace(v)
	i := strings.IndexAny(v, " \t")
	if i <= 0 {
		return "", "", false
	}
	scheme, cred = v[:i], strings.TrimSpace(v[i+1:])
	if cred == "" {
		return "", "", false
	}
	for _, c := range []byte(scheme) {
		if !isTokenChar(c) {
			return "", "", false
		}
	}
	return scheme, cred, true
}

// isTokenChar reports whether c may appear in an RFC 9110 token.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// BearerToken returns the token of an `Authorization: Bearer <token>` header
// value, and whether the value uses the Bearer scheme at all. The proxy,
// the dashboard login and the API all read keys this one way.
func BearerToken(authorization string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}
