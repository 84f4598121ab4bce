package proxy

import (
	"net/http"
	"testing"
	"time"
)

func TestUpstreamPath(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/chat/completions":     "/chat/completions",
		"/api/v1/chat/completions": "/chat/completions",
		"/v1":                      "",
		"/api/v1/":                 "/",
		"/v1x/models":              "!",
		"/v2/models":               "!",
		"/chat/completions":        "!",
	} {
		got, ok := upstreamPath(in)
		if want == "!" {
			if ok {
				t.Errorf("%s: served as %q, want refused", in, got)
			}
			continue
		}
		if !ok || got != want {
			t.Errorf("%s: %q %v, want %q", in, got, ok, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	if d, ok := parseRetryAfter("3"); !ok || d != 3*time.Second {
		t.Errorf("seconds: %v %v", d, ok)
	}
	future := time.Now().Add(10 * time.Second).UTC().Format(http.TimeFormat)
	if d, ok := parseRetryAfter(future); !ok || d <= 8*time.Second || d > 10*time.Second {
		t.Errorf("date: %v %v", d, ok)
	}
	if _, ok := parseRetryAfter("soon"); ok {
		t.Error("garbage accepted")
	}
}

func TestBackoff(t *testing.T) {
	for attempt := 1; attempt <= 10; attempt++ {
		d, ok := backoff(attempt, nil)
		ceiling := min(backoffBase<<(attempt-1), backoffCap)
		if !ok || d < ceiling/2 || d > ceiling {
			t.Errorf("attempt %d: %v, want within [%v, %v]", attempt, d, ceiling/2, ceiling)
		}
	}
	resp := &http.Response{Header: http.Header{"Retry-After": {"2"}}}
	if d, ok := backoff(1, resp); !ok || d != 2*time.Second {
		t.Errorf("Retry-After 2: %v %v", d, ok)
	}
	resp.Header.Set("Retry-After", "3600")
	if _, ok := backoff(1, resp); ok {
		t.Error("an hour's Retry-After must not be waited for")
	}
}
