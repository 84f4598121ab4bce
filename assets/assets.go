// Package assets embeds the dashboard's static files and serves them under
// checksummed URLs, so browsers may cache them forever and still pick up a
// new build at once.
//
// htmx.min.js is htmx 2.0.11, copied unchanged from dist/ of the npm package
// htmx.org@2.0.11 (Zero-Clause BSD licence, https://htmx.org). The minified
// file carries no licence header of its own; keep it byte-identical to the
// published one so that it can be checked against the registry.
package assets

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed htmx.min.js app.css app.js
var files embed.FS

// prefix is the URL path under which Handler serves the files.
const prefix = "/assets/"

// file is one embedded asset, read and hashed once at start-up.
type file struct {
	data        []byte
	hash        string // first 10 hex digits of the SHA-256 of data
	contentType string
}

// index maps a file name ("app.css") to its contents and hash.
var index = mustIndex()

func mustIndex() map[string]file {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic("assets: read embedded files: " + err.Error())
	}
	m := make(map[string]file, len(entries))
	for _, e := range entries {
		data, err := files.ReadFile(e.Name())
		if err != nil {
			panic("assets: read " + e.Name() + ": " + err.Error())
		}
		sum := sha256.Sum256(data)
		m[e.Name()] = file{
			data:        data,
			hash:        hex.EncodeToString(sum[:])[:10],
			contentType: contentType(e.Name()),
		}
	}
	return m
}

// contentType is spelled out rather than taken from mime.TypeByExtension,
// whose answer depends on the host's MIME tables.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	default:
		return "application/octet-stream"
	}
}

// Path returns the URL of the named asset with a version derived from its
// content, e.g. "/assets/app.css?v=3f2a9c01de". A name that is not embedded
// gets its plain URL, which Handler answers with 404.
func Path(name string) string {
	f, ok := index[name]
	if !ok {
		return prefix + name
	}
	return prefix + name + "?v=" + f.hash
}

// Handler serves the embedded files under "/assets/". A request whose ?v=
// matches the file's current hash may be cached for a year; any other is
// marked no-cache, so that a stale or missing version is revalidated by ETag.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		name, ok := strings.CutPrefix(r.URL.Path, prefix)
		f, found := index[name]
		if !ok || !found {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("ETag", `"`+f.hash+`"`)
		if r.URL.Query().Get("v") == f.hash {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		// ServeContent answers If-None-Match and Range from the ETag above.
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
	})
}
