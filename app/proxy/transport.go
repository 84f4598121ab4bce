package proxy

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// NewTransport returns the tuned transport the proxy uses by default: many
// idle connections per host (all traffic goes to one upstream), HTTP/2 when
// the upstream offers it over TLS, and no transparent decompression, so
// compressed bodies pass through untouched.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// narrowEncoding offers the upstream only the compressions the record can
// decode (gzip, deflate) among those the client accepts. A brotli or zstd
// answer would pass through fine but be stored undecodable: no model, no
// usage, no cost, nothing to search.
func narrowEncoding(h http.Header, accept string) {
	var keep []string
	for part := range strings.SplitSeq(accept, ",") {
		coding, _, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip", "deflate", "identity":
			keep = append(keep, strings.TrimSpace(part))
		}
	}
	if len(keep) == 0 {
		h.Del("Accept-Encoding")
		return
	}
	h.Set("Accept-Encoding", strings.Join(keep, ", "))
}

// dropCookies removes the named cookies from the Cookie header of h. The
// dashboard's session cookie reaches the proxy too, since cookies ignore
// the port, and must not travel on to the upstream.
func dropCookies(h http.Header, names []string) {
	vals := h["Cookie"]
	if len(vals) == 0 || len(names) == 0 {
		return
	}
	var keep []string
	for _, v := range vals {
		for part := range strings.SplitSeq(v, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(part), "=")
			drop := false
			for _, n := range names {
				if name == n {
					drop = true
					break
				}
			}
			if !drop && strings.TrimSpace(part) != "" {
				keep = append(keep, strings.TrimSpace(part))
			}
		}
	}
	if len(keep) == 0 {
		h.Del("Cookie")
		return
	}
	h["Cookie"] = []string{strings.Join(keep, "; ")}
}

// bufferPool recycles ReverseProxy's copy buffers.
type bufferPool struct{ p sync.Pool }

// Get returns a 32 KiB buffer.
func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

// Put returns buf to the pool.
func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
