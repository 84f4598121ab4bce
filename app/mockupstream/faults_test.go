package mockupstream_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/mockupstream"
)

// faultRequest sends a chat request in scenario to f and returns the
// response, whose body the caller reads. The transport does not decode
// gzip, so the bytes are those the mock sent.
func faultRequest(t *testing.T, f *fixture, scenario string, header ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true}`))
	req.Header.Set("X-Mock-Scenario", scenario)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestFaultScenarios(t *testing.T) {
	f := newFixture(t)

	t.Run("ResetAndHangupBreakTheBody", func(t *testing.T) {
		for _, scenario := range []string{"reset", "hangup"} {
			resp := faultRequest(t, f, scenario, "X-Mock-Chunks", "2")
			got, err := io.ReadAll(resp.Body)
			if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
				t.Errorf("%s: read error %v, want a broken body", scenario, err)
			}
			if !bytes.Contains(got, []byte(`"part 2 "`)) || bytes.Contains(got, []byte("[DONE]")) {
				t.Errorf("%s: body %q", scenario, got)
			}
		}
	})

	t.Run("ShortBodyEndsEarly", func(t *testing.T) {
		resp := faultRequest(t, f, "short-body")
		got, err := io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) || int64(len(got)) >= resp.ContentLength || len(got) == 0 {
			t.Errorf("read %d of %d bytes, err %v", len(got), resp.ContentLength, err)
		}
	})

	t.Run("MalformedSSEExact", func(t *testing.T) {
		got, err := io.ReadAll(faultRequest(t, f, "malformed-sse").Body)
		if err != nil || !bytes.Equal(got, mockupstream.MalformedSSE) {
			t.Errorf("err %v, body %q", err, got)
		}
	})

	t.Run("BigLine", func(t *testing.T) {
		const size = 1<<20 + 7
		got, err := io.ReadAll(faultRequest(t, f, "big-line", "X-Mock-Size", strconv.Itoa(size)).Body)
		if err != nil {
			t.Fatal(err)
		}
		lines := bytes.Split(got, []byte("\n"))
		if len(lines[2]) < size || !bytes.HasSuffix(got, []byte("data: [DONE]\n\n")) {
			t.Errorf("line of %d bytes, want > %d; ends %q", len(lines[2]), size, got[len(got)-20:])
		}
	})

	t.Run("GzipBombInflatesToSize", func(t *testing.T) {
		const size = 3<<20 + 5
		resp := faultRequest(t, f, "gzip-bomb", "X-Mock-Size", strconv.Itoa(size))
		raw, err := io.ReadAll(resp.Body)
		if err != nil || int64(len(raw)) != resp.ContentLength || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("read %d of %d bytes, err %v, encoding %q", len(raw), resp.ContentLength, err, resp.Header.Get("Content-Encoding"))
		}
		var want bytes.Buffer
		if n, err := mockupstream.WriteGzipBomb(&want, size); err != nil || n != int64(want.Len()) || !bytes.Equal(raw, want.Bytes()) {
			t.Errorf("WriteGzipBomb wrote %d bytes (err %v), not what was served", n, err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || len(plain) != size || !bytes.HasPrefix(plain, []byte(`{"id":"gen-gzip-bomb"`)) || !bytes.HasSuffix(plain, []byte(`}]}`)) {
			t.Errorf("inflated to %d bytes (err %v), want %d", len(plain), err, size)
		}
		if len(raw) > size/500 {
			t.Errorf("%d compressed bytes for %d: not a bomb", len(raw), size)
		}
	})
}
