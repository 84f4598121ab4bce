package capture

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// sseSeeds are event streams in the shapes scanSSE must read.
var sseSeeds = []string{
	": OPENROUTER PROCESSING\n\ndata: {\"a\":1}\n\ndata: [DONE]\n\n",
	"data: a\r\ndata: b\r\n\r\n: c\r\n\r\n",
	"data:x\rdata: y\r\r",
	"\xef\xbb\xbfdata: bom\n\n",
	"event: e\nid: 1\nretry: 5\ndata\ndata:\n\n",
	"data: cut off",
	"\n\n\r\r\r\n",
	"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}",
}

// FuzzScanSSE checks scanSSE on any bytes: event ends increase and stay
// within the input, no event holds more than the input, and reading the
// input up to an event's end gives the same events up to that one.
func FuzzScanSSE(f *testing.F) {
	for _, s := range sseSeeds {
		f.Add([]byte(s))
	}
	type ev struct {
		data string
		end  int
	}
	scan := func(b []byte) []ev {
		var out []ev
		scanSSE(b, func(data []byte, end int) bool {
			out = append(out, ev{string(data), end})
			return true
		})
		return out
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		evs := scan(b)
		prev := 0
		for i, e := range evs {
			if e.end <= prev || e.end > len(b) {
				t.Fatalf("event %d ends at %d after %d, input %d bytes", i, e.end, prev, len(b))
			}
			if len(e.data) > len(b) {
				t.Fatalf("event %d holds %d bytes of a %d-byte input", i, len(e.data), len(b))
			}
			prev = e.end
		}
		for k, e := range evs {
			again := scan(b[:e.end])
			if len(again) != k+1 {
				t.Fatalf("input cut at event %d's end (%d) gives %d events, want %d", k, e.end, len(again), k+1)
			}
			for i := range again {
				if again[i] != evs[i] {
					t.Fatalf("input cut at %d: event %d = %+v, want %+v", e.end, i, again[i], evs[i])
				}
			}
		}
		// Stopping early stops.
		n := 0
		scanSSE(b, func([]byte, int) bool { n++; return false })
		if n > 1 {
			t.Fatalf("fn was called %d times after returning false", n)
		}
	})
}

// FuzzSSERoundTrip encodes payloads (the input split at NUL bytes, without
// CRs) as an event stream with the line ending and keep-alives style picks,
// and checks that scanSSE gives them back, each ending where it was
// written.
func FuzzSSERoundTrip(f *testing.F) {
	f.Add([]byte("a\x00{\"b\":1}\x00\x00 lead\nmulti\nline"), uint8(0))
	f.Add([]byte("x"), uint8(5))
	f.Add([]byte("\n\n\x00:not a comment"), uint8(6))
	f.Fuzz(func(t *testing.T, in []byte, style uint8) {
		eol := []string{"\n", "\r\n", "\r", "\n"}[style&3]
		var b []byte
		var want []string
		var ends []int
		if style&8 != 0 {
			b = append(b, utf8BOM...)
		}
		for i, p := range bytes.Split(in, []byte{0}) {
			p = bytes.ReplaceAll(p, []byte("\r"), nil)
			if style&4 != 0 && i%2 == 0 {
				b = append(b, ": OPENROUTER PROCESSING"+eol+eol...)
			}
			for line := range bytes.SplitSeq(p, []byte("\n")) {
				b = append(append(append(b, "data: "...), line...), eol...)
			}
			b = append(b, eol...)
			want = append(want, string(p))
			ends = append(ends, len(b))
		}
		var got []string
		var gotEnds []int
		scanSSE(b, func(data []byte, end int) bool {
			got = append(got, string(data))
			gotEnds = append(gotEnds, end)
			return true
		})
		if len(got) != len(want) {
			t.Fatalf("%q: %d events, want %d: %q", b, len(got), len(want), got)
		}
		for i := range want {
			if got[i] != want[i] || gotEnds[i] != ends[i] {
				t.Fatalf("%q: event %d = %q ending at %d, want %q ending at %d", b, i, got[i], gotEnds[i], want[i], ends[i])
			}
		}
	})
}

// compress encodes b in coding enc: "gzip", "zlib" (what "deflate" should
// be) or "deflate" (raw, as some servers send it).
func compress(tb testing.TB, enc string, b []byte) []byte {
	var buf bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	switch enc {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "zlib":
		w = zlib.NewWriter(&buf)
	default:
		w, _ = flate.NewWriter(&buf, flate.DefaultCompression)
	}
	if _, err := w.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzDecodeBody checks the decoding of compressed bodies. Any bytes under
// any coding: no panic, the output bounded by the cap, and a body that does
// not decode returned as it is. A body compressed here: decoded back
// exactly, cut at the cap and said to be, and, cut short itself, decoded
// to a prefix.
func FuzzDecodeBody(f *testing.F) {
	f.Add([]byte(`{"choices":[{"message":{"content":"zipped"}}]}`), uint8(0), uint16(1000), uint16(0))
	f.Add([]byte(strings.Repeat("data: {}\n\n", 100)), uint8(1), uint16(50), uint16(20))
	f.Add([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"), uint8(2), uint16(5), uint16(3))
	f.Add([]byte{}, uint8(3), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, plain []byte, mode uint8, maxOut, cut uint16) {
		codings := []struct{ header, writer string }{{"gzip", "gzip"}, {"x-gzip", "gzip"}, {"deflate", "zlib"}, {"deflate", "deflate"}}
		c := codings[int(mode)%len(codings)]
		limit := int(maxOut) + 1

		// Any bytes, as they are.
		out, decoded, capped := decodeCapped(plain, c.header, limit)
		if len(out) > max(limit, len(plain)) || !decoded && (capped || !bytes.Equal(out, plain)) {
			t.Fatalf("raw input: %d bytes out, decoded %v, capped %v", len(out), decoded, capped)
		}
		if decoded && len(out) > limit {
			t.Fatalf("decoded %d bytes past the %d-byte cap", len(out), limit)
		}

		// Compressed here: a round trip, capped.
		z := compress(t, c.writer, plain)
		out, decoded, capped = decodeCapped(z, c.header, limit)
		want := plain[:min(len(plain), limit)]
		if len(plain) > 0 && !decoded || !bytes.Equal(out, want) && decoded || capped != (len(plain) > limit) {
			t.Fatalf("%s round trip: %d bytes (decoded %v, capped %v), want %d of %d (cap %d)",
				c.writer, len(out), decoded, capped, len(want), len(plain), limit)
		}

		// Cut short: whatever decodes is the start of the body.
		zc := z[:int(cut)%(len(z)+1)]
		out, decoded, _ = decodeCapped(zc, c.header, limit)
		if decoded && !bytes.HasPrefix(plain, out) && c.writer != "deflate" {
			// Raw deflate is tried on any bytes a zlib reader rejects,
			// and may decode a cut zlib header as something else.
			t.Fatalf("%s cut at %d of %d: decoded %q, not a prefix of the body", c.writer, len(zc), len(z), out)
		}
		if decoded && len(out) > limit {
			t.Fatalf("decoded %d bytes past the %d-byte cap", len(out), limit)
		}
		if !decoded && !bytes.Equal(out, zc) {
			t.Fatal("an undecodable body was changed")
		}
	})
}

// FuzzScrubJSON checks scrubJSON: on any bytes, no panic and no write to
// the input; on valid JSON, valid JSON out with the
// same structure, every non-empty string member named for a secret masked
// as Mask masks it, and everything else unchanged.
func FuzzScrubJSON(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","api_key":"sk-or-v1-0123456789abcdef0123456789abcdefa1b2","max_tokens":5}`,
		`[{"Token" : "abc"},{"x":{"password":"hunter2hunter2","k\u0065y":"escaped-name-value-long-enough"}}]`,
		`{"messages":[{"content":"\"api_key\": \"not a member\""}],"secret":null,"apiKey":""}`,
		`{"key":"cut off sk-or-v1-0123456789`,
		`{"key":"\ud83d\ude00 \" \\ \n \u0000"}`,
		"{\"key\":\"\xff\xfe invalid utf-8 value\"}",
		`not json "key": "value"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		out := scrubJSON(b)
		if !bytes.Equal(b, in) {
			t.Fatal("scrubJSON wrote to its input")
		}
		if !json.Valid(b) {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("valid JSON in, invalid out: %s", out)
		}
		want, err1 := decodeAny(b)
		got, err2 := decodeAny(out)
		if err1 != nil || err2 != nil {
			t.Fatalf("does not decode: %v, %v", err1, err2)
		}
		if err := sameButMasked(want, got); err != "" {
			t.Fatalf("%s\nin:  %s\nout: %s", err, b, out)
		}
	})
}

// decodeAny decodes JSON text, numbers as written, so that none is out of
// range.
func decodeAny(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// sameButMasked compares decoded JSON: equal, except that the non-empty
// string value of a member named for a secret is Mask of the original.
func sameButMasked(want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return "object changed shape"
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return "member " + k + " lost"
			}
			if s, isStr := wv.(string); isStr && s != "" && secretName(k) {
				if gv != Mask(s) {
					return "member " + k + " not masked"
				}
				continue
			}
			if e := sameButMasked(wv, gv); e != "" {
				return e
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return "array changed shape"
		}
		for i := range w {
			if e := sameButMasked(w[i], g[i]); e != "" {
				return e
			}
		}
	default:
		if want != got {
			return "value changed"
		}
	}
	return ""
}

// FuzzScrubQuery checks scrubQuery: the same parameters in the same order
// with the same names, the value of each secret one masked, every other
// value unchanged, and a query that parsed before still parsing.
func FuzzScrubQuery(f *testing.F) {
	for _, s := range []string{
		"key=sk-or-v1-0123456789abcdef0123456789abcdefa1b2&x=1",
		"api%5Fkey=a%26b%3Dc%23d%20e%25f0123456789abcdefghij&&token=&max_tokens=5",
		"API-KEY=%zz&access_token=abc+def",
		"a=1;b=2&password=x=y",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		out := scrubQuery(q)
		in, got := strings.Split(q, "&"), strings.Split(out, "&")
		if len(in) != len(got) {
			t.Fatalf("%q → %q: %d parameters, want %d", q, out, len(got), len(in))
		}
		for i := range in {
			name, val, _ := strings.Cut(in[i], "=")
			gname, gval, _ := strings.Cut(got[i], "=")
			if gname != name {
				t.Fatalf("%q → %q: name %q became %q", q, out, name, gname)
			}
			if val != "" && secretName(queryUnescape(name)) {
				if queryUnescape(gval) != Mask(queryUnescape(val)) {
					t.Fatalf("%q → %q: %s=%q not masked", q, out, name, gval)
				}
			} else if gval != val {
				t.Fatalf("%q → %q: %s=%q changed to %q", q, out, name, val, gval)
			}
		}
		if _, err := url.ParseQuery(q); err == nil {
			if _, err := url.ParseQuery(out); err != nil {
				t.Fatalf("%q → %q no longer parses: %v", q, out, err)
			}
		}
	})
}
