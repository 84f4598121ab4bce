package proxy

import (
	"path"
	"strings"
	"testing"
)

func TestValidMethod(t *testing.T) {
	for m, want := range map[string]bool{
		"GET": true, "POST": true, "delete": true, "BASELINE-CONTROL": true,
		"": false, "-GET": false, "GET-": false, "X`id`": false, "X$(id)": false,
		"GET POST": false, "GE\nT": false, "X|sh": false, strings.Repeat("A", 33): false,
	} {
		if got := validMethod(m); got != want {
			t.Errorf("validMethod(%q) = %v, want %v", m, got, want)
		}
	}
}

func TestDotSegment(t *testing.T) {
	for p, want := range map[string]bool{
		"/v1/chat/completions": false, "/v1/a..b/c.d": false, "/v1//x": false, "/v1/.well-known": false,
		"/v1/../x": true, "/v1/./x": true, "/v1/..": true, "..": true, `/v1/..\x`: true, `/v1/a\.\b`: true,
	} {
		if got := dotSegment(p); got != want {
			t.Errorf("dotSegment(%q) = %v, want %v", p, got, want)
		}
	}
}

// FuzzRefusal checks the two request checks against what they protect: a
// method that passes holds nothing a shell would read as syntax, and a path
// that passes, appended to the upstream base as the proxy does and cleaned
// as an upstream server would (backslashes read as slashes), stays under
// that base.
func FuzzRefusal(f *testing.F) {
	for _, s := range []string{"GET", "X`id`", "/v1/../x", "/v1/%2e%2e/x", `/v1/..\x`, "/v1/chat/completions", "/v1/a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validMethod(s) && strings.ContainsAny(s, "`$|;&'\"\\()<>{}*?[]~!# \t\r\n") {
			t.Errorf("method %q passes but holds shell syntax", s)
		}
		rest, ok := upstreamPath(s)
		if !ok || dotSegment(s) {
			return
		}
		got := path.Clean("/api/v1" + strings.ReplaceAll(rest, `\`, "/"))
		if !strings.HasPrefix(got, "/api/v1/") && got != "/api/v1" {
			t.Errorf("path %q passes but resolves to %q, outside the base", s, got)
		}
	})
}
