package capture

import (
	"bytes"
	"net/url"
	"strings"
	"unicode/utf8"
)

// A client can send its key where no header rule sees it: in the URL
// (?key=, ?api_key=), in a JSON body field, or echoed into text. The
// functions here hide those before anything is stored (LiteLLM #16336:
// redaction that still stored the secret). Each returns its input itself
// when there is nothing to hide, so the common case costs one scan and no
// copy; when there is, it returns a new copy and never writes to its input,
// which may be the proxy's replay buffer.

// secretName reports whether a query parameter or JSON field called name
// carries a secret, judged on its lowercase form without '-', '_' and '.':
// names such as key, api_key, apiKey, access_token, token, password,
// client_secret. Counts (max_tokens) and names that merely end in "key"
// (prompt_cache_key, monkey) do not. Headers have their own rule,
// secretHeader.
func secretName[T string | []byte](name T) bool {
	var buf [48]byte
	n := buf[:0]
	for i := range len(name) {
		c := name[i]
		switch {
		case c == '-' || c == '_' || c == '.':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if len(n) == cap(n) {
			return false // longer than any secret's name we know
		}
		n = append(n, c)
	}
	switch string(n) {
	case "key", "auth", "authorization", "pass", "pwd":
		return true
	}
	for _, w := range [...]string{"secret", "password", "passwd", "apikey", "accesskey", "privatekey"} {
		if bytes.Contains(n, []byte(w)) {
			return true
		}
	}
	return bytes.HasSuffix(n, []byte("token"))
}

// scrubURL hides secrets in a request URI: the values of secret query
// parameters, and the forwarded key anywhere.
func scrubURL(uri, secret string) string {
	if path, query, ok := strings.Cut(uri, "?"); ok {
		if q := scrubQuery(query); q != query {
			uri = path + "?" + q
		}
	}
	return scrubURLSecret(uri, secret)
}

// scrubURLSecret masks the forwarded key in a URL or query, as it is and
// as a query escapes it.
func scrubURLSecret(s, secret string) string {
	s = scrubString(s, secret)
	if esc := url.QueryEscape(secret); esc != secret {
		if len(secret) >= minScrubLen && strings.Contains(s, esc) {
			s = strings.ReplaceAll(s, esc, escapeMask(Mask(secret)))
		}
	}
	return s
}

// scrubQuery masks the value of every secret parameter of the raw query q
// (or form body), keeping its name so the record shows one was sent. The
// mask is query-escaped, all but its ellipsis, so the query stays one that
// parses the same way.
func scrubQuery(q string) string {
	var out []byte
	copied := 0 // q[:copied] is in out
	for i := 0; i < len(q); {
		end := strings.IndexByte(q[i:], '&')
		if end < 0 {
			end = len(q)
		} else {
			end += i
		}
		name, val, _ := strings.Cut(q[i:end], "=")
		if val != "" && secretName(queryUnescape(name)) {
			if m := escapeMask(Mask(queryUnescape(val))); m != val {
				vstart := i + len(name) + 1
				out = append(out, q[copied:vstart]...)
				out = append(out, m...)
				copied = end
			}
		}
		i = end + 1
	}
	if out == nil {
		return q
	}
	return string(append(out, q[copied:]...))
}

// queryUnescape decodes a query component, or returns it as it is if it
// does not decode.
func queryUnescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// escapeMask query-escapes a mask but for its ellipsis, which reads better
// as it is and is valid in a URL as an IRI.
func escapeMask(m string) string {
	return strings.ReplaceAll(url.QueryEscape(m), url.QueryEscape(ellipsis), ellipsis)
}

// scrubString masks every occurrence of the forwarded key in s. Keys shorter
// than minScrubLen are not searched for: replacing them would mangle text.
func scrubString(s, secret string) string {
	if len(secret) < minScrubLen || !strings.Contains(s, secret) {
		return s
	}
	return strings.ReplaceAll(s, secret, Mask(secret))
}

// scrubBody masks every occurrence of the forwarded key in a stored body.
// When the body was cut short (cut), a key cut off at its end is masked
// too, by the start of its mask.
func scrubBody(b []byte, secret string, cut bool) []byte {
	if len(secret) < minScrubLen {
		return b
	}
	if bytes.Contains(b, []byte(secret)) {
		b = bytes.ReplaceAll(b, []byte(secret), []byte(Mask(secret)))
	}
	if cut {
		for k := len(secret) - 1; k >= minScrubLen; k-- {
			if bytes.HasSuffix(b, []byte(secret[:k])) {
				out := make([]byte, 0, len(b)-k+16)
				out = append(out, b[:len(b)-k]...)
				return append(out, maskStart(secret)...)
			}
		}
	}
	return b
}

// maskStart is the start of a key's mask, up to its ellipsis: what is shown
// of a key cut short, whose last characters are not its last.
func maskStart(key string) string {
	m := Mask(key)
	i := strings.Index(m, ellipsis)
	return m[:i+len(ellipsis)]
}

// scrubJSON masks the string value of every member named for a secret
// (secretName) in b, JSON text that may be cut short or not JSON at all. It
// reads strings, not the grammar: outside a string each '"' starts one, and
// a string followed by ':' is a member name, which holds for any JSON text.
// A value cut off at the end of b is masked by maskStart and left open.
func scrubJSON(b []byte) []byte {
	var out []byte
	copied := 0 // b[:copied] is in out
	for i := 0; ; {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			break
		}
		start := i + q
		end, closed := stringEnd(b, start)
		if !closed {
			break
		}
		i = end
		colon := skipSpace(b, end)
		if colon >= len(b) || b[colon] != ':' || !secretName(memberName(b[start:end])) {
			continue
		}
		v := skipSpace(b, colon+1)
		if v >= len(b) || b[v] != '"' {
			continue // not a string: an object's members are read in turn
		}
		vend, vclosed := stringEnd(b, v)
		var m string
		switch {
		case vend-v <= 2 && vclosed:
			i = vend
			continue // "" hides nothing
		case vclosed:
			m = Mask(jsonString(b[v:vend]))
		default:
			m = maskStart(string(b[v+1 : vend]))
		}
		out = append(out, b[copied:v]...)
		out = appendQuoted(out, m, vclosed)
		copied, i = vend, vend
	}
	if out == nil {
		return b
	}
	return append(out, b[copied:]...)
}

// stringEnd returns the offset just past the end of the JSON string that
// starts at b[start], and whether it ends before b does.
func stringEnd(b []byte, start int) (int, bool) {
	for i := start + 1; ; {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b), false
		}
		i += q
		esc := 0
		for j := i - 1; j > start && b[j] == '\\'; j-- {
			esc++
		}
		i++
		if esc%2 == 0 {
			return i, true
		}
	}
}

// skipSpace returns the offset of the first byte at or after i in b that is
// not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// memberName returns the name a member name literal stands for, as
// encoding/json decodes it: the bytes themselves unless it has escapes or
// invalid UTF-8.
func memberName(lit []byte) []byte {
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner
	}
	return []byte(jsonString(lit))
}

// appendQuoted appends s to b as a JSON string, without its closing quote
// unless closed.
func appendQuoted(b []byte, s string, closed bool) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c < utf8.RuneSelf:
			b = append(b, c)
		default:
			_, n := utf8.DecodeRuneInString(s[i:])
			b = append(b, s[i:i+n]...)
			i += n
			continue
		}
		i++
	}
	if closed {
		b = append(b, '"')
	}
	return b
}

// looksJSON reports whether b starts, after white space, like a JSON
// object or array.
func looksJSON(b []byte) bool {
	i := skipSpace(b, 0)
	return i < len(b) && (b[i] == '{' || b[i] == '[')
}
