package assets_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/assets"
)

var files = map[string]string{
	"htmx.min.js": "text/javascript; charset=utf-8",
	"app.js":      "text/javascript; charset=utf-8",
	"app.css":     "text/css; charset=utf-8",
}

func TestPath(t *testing.T) {
	format := regexp.MustCompile(`^/assets/([a-z.]+)\?v=([0-9a-f]{10})$`)
	for name := range files {
		t.Run(name, func(t *testing.T) {
			p := assets.Path(name)
			m := format.FindStringSubmatch(p)
			if m == nil || m[1] != name {
				t.Fatalf("Path(%q) = %q, want /assets/%s?v=<10 hex>", name, p, name)
			}
			// The version is the content hash, so it changes with the file.
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if want := hex.EncodeToString(sum[:])[:10]; m[2] != want {
				t.Errorf("version %s, want sha256 prefix %s", m[2], want)
			}
		})
	}
	if a, b := assets.Path("app.css"), assets.Path("app.js"); a[strings.Index(a, "?"):] == b[strings.Index(b, "?"):] {
		t.Error("different files share a version")
	}
	if got := assets.Path("missing.js"); got != "/assets/missing.js" {
		t.Errorf("Path(missing) = %q", got)
	}
}

func get(t *testing.T, method, target string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	assets.Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandler(t *testing.T) {
	for name, ctype := range files {
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}

			t.Run("Versioned", func(t *testing.T) {
				res := get(t, http.MethodGet, assets.Path(name), nil)
				body, _ := io.ReadAll(res.Body)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("status %d", res.StatusCode)
				}
				if got := res.Header.Get("Content-Type"); got != ctype {
					t.Errorf("Content-Type = %q, want %q", got, ctype)
				}
				if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
					t.Errorf("Cache-Control = %q", got)
				}
				if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("X-Content-Type-Options = %q", got)
				}
				if string(body) != string(want) {
					t.Error("body differs from the file")
				}
			})

			t.Run("StaleOrMissingVersion", func(t *testing.T) {
				for _, target := range []string{"/assets/" + name, "/assets/" + name + "?v=0000000000"} {
					res := get(t, http.MethodGet, target, nil)
					if res.StatusCode != http.StatusOK {
						t.Fatalf("%s: status %d", target, res.StatusCode)
					}
					if got := res.Header.Get("Cache-Control"); got != "no-cache" {
						t.Errorf("%s: Cache-Control = %q, want no-cache", target, got)
					}
				}
			})

			t.Run("ETag", func(t *testing.T) {
				etag := get(t, http.MethodGet, assets.Path(name), nil).Header.Get("ETag")
				if etag == "" {
					t.Fatal("no ETag")
				}
				res := get(t, http.MethodGet, "/assets/"+name, http.Header{"If-None-Match": {etag}})
				if res.StatusCode != http.StatusNotModified {
					t.Errorf("revalidation status %d, want 304", res.StatusCode)
				}
			})
		})
	}
}

func TestHandlerRejects(t *testing.T) {
	for _, tc := range []struct {
		method, target string
		want           int
	}{
		{http.MethodGet, "/assets/nope.js", http.StatusNotFound},
		{http.MethodGet, "/assets/", http.StatusNotFound},
		{http.MethodGet, "/assets/../assets.go", http.StatusNotFound},
		{http.MethodGet, "/assets/assets.go", http.StatusNotFound},
		{http.MethodGet, "/app.css", http.StatusNotFound},
		{http.MethodPost, assets.Path("app.css"), http.StatusMethodNotAllowed},
	} {
		if res := get(t, tc.method, tc.target, nil); res.StatusCode != tc.want {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.target, res.StatusCode, tc.want)
		}
	}
	if res := get(t, http.MethodHead, assets.Path("app.js"), nil); res.StatusCode != http.StatusOK {
		t.Errorf("HEAD: status %d", res.StatusCode)
	}
}
