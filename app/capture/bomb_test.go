package capture_test

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// bombUnit is how much one compressed segment of a bomb inflates to.
const bombUnit = 1 << 20

// bomb returns a small body in coding enc that inflates to n MiB of unit
// repeated. It compresses one MiB once and repeats the compressed bytes:
// gzip members may follow one another, and a deflate segment that ends in a
// sync flush refers to nothing before it, so its copies decode alike.
func bomb(tb testing.TB, enc string, unit []byte, n int) []byte {
	tb.Helper()
	plain := bytes.Repeat(unit, bombUnit/len(unit))
	var seg, out bytes.Buffer
	switch enc {
	case "gzip":
		zw, _ := gzip.NewWriterLevel(&seg, gzip.BestCompression)
		zw.Write(plain)
		zw.Close()
		return bytes.Repeat(seg.Bytes(), n)
	case "zlib", "deflate":
		fw, _ := flate.NewWriter(&seg, flate.BestCompression)
		fw.Write(plain)
		fw.Flush()
		flushed := seg.Len()
		fw.Close() // appends the final, empty block
		if enc == "zlib" {
			out.Write([]byte{0x78, 0xda}) // the zlib header; the checksum is never reached
		}
		for range n {
			out.Write(seg.Bytes()[:flushed])
		}
		out.Write(seg.Bytes()[flushed:])
		return out.Bytes()
	}
	tb.Fatalf("no coding %q", enc)
	return nil
}

// TestAnalyzeGzipBomb feeds bodies that inflate to 1 GiB: decoding for the
// record must stop at the capture limit, keep what fits, say it was cut,
// and allocate a bounded amount while doing so.
func TestAnalyzeGzipBomb(t *testing.T) {
	const (
		limit    = 2 << 20 // the capture limit (BODY_CAPTURE_LIMIT); the bomb fits in it compressed
		inflated = 1 << 30 // what each bomb inflates to
		// maxAlloc bounds what one analysis may allocate: the decoded head
		// and the analysis of it, far below the inflated size.
		maxAlloc = 16 * limit
	)
	event := []byte(`data: {"id":"gen-bomb","model":"m","choices":[{"index":0,"delta":{"content":"` + strings.Repeat("a", 60_000) + `"}}]}` + "\n\n")
	tests := []struct {
		name, coding, header, ctype string
		unit                        []byte
	}{
		{"Gzip", "gzip", "gzip", "application/json", []byte{0}},
		{"XGzip", "gzip", "x-gzip", "application/octet-stream", []byte("aaaa")},
		{"ZlibDeflate", "zlib", "deflate", "application/json", []byte{0}},
		{"RawDeflate", "deflate", "deflate", "text/plain", []byte{0}},
		{"GzipStream", "gzip", "gzip", "text/event-stream", event},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := bomb(t, tt.coding, tt.unit, inflated/bombUnit)
			if len(body) >= limit {
				t.Fatalf("the bomb is %d bytes compressed: it must fit the %d-byte limit", len(body), limit)
			}
			r := exchange(200, http.Header{"Content-Type": {tt.ctype}, "Content-Encoding": {tt.header}}, limit, string(body))

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r.Analyze()
			runtime.ReadMemStats(&after)

			if len(r.RespBodyStored) != limit {
				t.Errorf("stored %d decoded bytes, want the %d-byte limit", len(r.RespBodyStored), limit)
			}
			if !r.RespTruncated {
				t.Error("RespTruncated = false")
			}
			if want := bytes.Repeat(tt.unit, limit/len(tt.unit)+1)[:limit]; !bytes.Equal(r.RespBodyStored, want) {
				t.Errorf("stored body starts %q, want the first %d decoded bytes", r.RespBodyStored[:min(64, len(r.RespBodyStored))], limit)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > maxAlloc {
				t.Errorf("the analysis allocated %d MiB, want at most %d MiB", got>>20, maxAlloc>>20)
			}
			if tt.ctype == "text/event-stream" {
				if !r.Stream || r.Outcome != capture.OutcomeOK || len(r.Content) < limit/2 {
					t.Errorf("stream: Stream %v, Outcome %q, %d content bytes", r.Stream, r.Outcome, len(r.Content))
				}
			}
		})
	}
}
