package capture

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"io"
	"net/http"
	"strings"
)

// minDecodedCap is the least decoded output kept from a compressed body, so
// a small BODY_LIMIT still shows a useful part of a compressed answer.
const minDecodedCap = 1 << 20

// contentEncoding returns the response's single content coding in lower
// case; "" means identity. Stacked codings ("gzip, br") are returned as they
// are and so are stored raw.
func contentEncoding(h http.Header) string {
	vals := h.Values("Content-Encoding")
	enc := strings.ToLower(strings.TrimSpace(strings.Join(vals, ",")))
	if enc == "identity" {
		return ""
	}
	return enc
}

// decodeBody undoes a gzip or deflate coding of raw. raw may be cut short
// (the head of a capped body), so whatever decoded before the cut is kept.
// Output beyond max(limit, 1 MiB) is dropped, which also defuses
// decompression bombs. When raw cannot be decoded at all, or uses a coding
// the standard library lacks (br, zstd), it is returned unchanged with
// decoded false.
func decodeBody(raw []byte, enc string, limit int) (out []byte, decoded, capped bool) {
	return decodeCapped(raw, enc, max(limit, minDecodedCap))
}

// decodeCapped is decodeBody with the cap on its output given as it is.
func decodeCapped(raw []byte, enc string, maxOut int) (out []byte, decoded, capped bool) {
	switch enc {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return raw, false, false
		}
		if out, capped, ok := readCapped(zr, maxOut); ok {
			return out, true, capped
		}
	case "deflate":
		// RFC 9110 says zlib, but some servers send raw deflate.
		if zr, err := zlib.NewReader(bytes.NewReader(raw)); err == nil {
			if out, capped, ok := readCapped(zr, maxOut); ok {
				return out, true, capped
			}
		}
		if out, capped, ok := readCapped(flate.NewReader(bytes.NewReader(raw)), maxOut); ok {
			return out, true, capped
		}
	}
	return raw, false, false
}

// readCapped reads at most maxOut bytes from rd. An error after some output
// still counts as success (ok), since a cut-off body decodes only in part;
// an error before any output means the data was not in this coding.
func readCapped(rd io.Reader, maxOut int) (out []byte, capped, ok bool) {
	out, err := io.ReadAll(io.LimitReader(rd, int64(maxOut)+1))
	if len(out) > maxOut {
		return out[:maxOut], true, true
	}
	if err != nil && len(out) == 0 {
		return nil, false, false
	}
	return out, false, true
}
