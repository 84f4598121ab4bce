package proxy

import (
	"strings"
)

// validMethod reports whether m may be forwarded: one or more ASCII letters,
// with hyphens between them, as every registered HTTP method is. RFC 9110's
// token would also let through characters such as '`', '$' and '|' (a
// method like X`curl$IFS…|sh` is a valid token), which only ever reach
// the upstream as an attack on whoever replays the request in a shell.
func validMethod(m string) bool {
	if m == "" || len(m) > 32 || m[0] == '-' || m[len(m)-1] == '-' {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '-') {
			return false
		}
	}
	return true
}

// dotSegment reports whether the decoded path p has a "." or ".." segment.
// Such a path would climb out of OPENAI_API_BASE at the upstream
// (/v1/%2e%2e/%2e%2e/internal reaches /api/v1/../../internal, with the
// default key attached), so it is refused rather than forwarded. A
// backslash counts as a separator too, since some servers treat it as one.
func dotSegment(p string) bool {
	for {
		i := strings.IndexAny(p, `/\`)
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if seg == "." || seg == ".." {
			return true
		}
		if i < 0 {
			return false
		}
		p = p[i+1:]
	}
}
