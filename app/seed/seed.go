// Package seed imports the history of the original Python system: a SQLite
// file whose table requests has the columns id, timestamp, method, url,
// headers, body, authorization_bearer, response_status, response_headers,
// response_body, duration_ms and error.
//
// Each row becomes a raw capture.Record, as the proxy would have handed the
// exchange to the store: the bodies as captured, the headers as sent, the
// plaintext key where the proxy puts it (Record.APIKey). The store's own
// analysis then fingerprints, masks and drops the key, reassembles streamed
// answers and pulls out usage, cost and model, and its writer keeps the
// rollups and feeds the search index, exactly as for live traffic.
//
// A record's id is a UUIDv7 derived from its row: its time is the row's
// timestamp and its random bits a hash of the row's id, timestamp, method
// and url. Importing the same file again therefore finds every record
// already stored and changes nothing.
package seed

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// Row is one row of the original system's requests table, as stored.
// SQLite lets any column hold any type, so every column is read as text
// (numbers in their decimal form) or, for bodies, as bytes; "" and nil
// stand for NULL.
type Row struct {
	ID          string // the original's id (a UUID)
	Timestamp   string // when the request arrived, Python isoformat; see Options.Location
	Method      string
	URL         string // absolute or a request URI
	Headers     string // request headers, a JSON object
	Body        []byte // request body
	Bearer      string // authorization_bearer: the plaintext API key
	Status      string // response_status; "" when no answer came
	RespHeaders string // response headers, a JSON object
	RespBody    []byte // the answer; a stream as its raw text/event-stream bytes
	DurationMS  string // duration_ms
	Error       string // the proxy's error text, if any
}

// DefaultBodyLimit is the bytes of each body kept when Options.BodyLimit is
// zero: the proxy's default BODY_CAPTURE_LIMIT.
const DefaultBodyLimit = 1 << 20

// Options tunes the conversion of rows to records.
type Options struct {
	// Location is the zone of timestamps written without one (Python's
	// datetime.now().isoformat() writes the server's local time without
	// saying so). Default UTC.
	Location *time.Location
	// BodyLimit is how many bytes of each body are kept, as the proxy's
	// BODY_CAPTURE_LIMIT does for live traffic. Default DefaultBodyLimit.
	BodyLimit int
}

func (o Options) withDefaults() Options {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.BodyLimit <= 0 {
		o.BodyLimit = DefaultBodyLimit
	}
	return o
}

// RowError is why a row cannot be imported. Reason is one short phrase per
// kind of fault, so that an import can count the faults by kind; it never
// holds the row's content.
type RowError struct {
	Reason string
}

func (e *RowError) Error() string { return "seed: " + e.Reason }

func rowError(reason string) error { return &RowError{Reason: reason} }

// Convert returns the raw record of row, not yet analysed, or a *RowError
// when the row cannot be imported.
func Convert(row Row, opts Options) (*capture.Record, error) {
	opts = opts.withDefaults()
	start, id, err := identify(row, opts.Location)
	if err != nil {
		return nil, err
	}
	return convert(row, start, id, opts)
}

// convert is Convert of a row identify has read: it started at start, and
// its record's id is id.
func convert(row Row, start time.Time, id string, opts Options) (*capture.Record, error) {
	opts = opts.withDefaults()
	method := strings.TrimSpace(row.Method)
	if method == "" {
		return nil, rowError("no method")
	}
	uri, path, query, err := splitURL(row.URL)
	if err != nil {
		return nil, err
	}
	reqHeader, err := parseHeaders(row.Headers)
	if err != nil {
		return nil, rowError("headers are not a JSON object")
	}
	respHeader, err := parseHeaders(row.RespHeaders)
	if err != nil {
		return nil, rowError("response_headers are not a JSON object")
	}
	status, err := parseStatus(row.Status)
	if err != nil {
		return nil, err
	}
	dur, err := parseDuration(row.DurationMS)
	if err != nil {
		return nil, err
	}
	rec := &capture.Record{
		ID:         id,
		Start:      start,
		Method:     method,
		URL:        uri,
		Path:       path,
		Query:      query,
		ReqHeader:  reqHeader,
		ReqBody:    body(row.Body, opts.BodyLimit),
		APIKey:     rowKey(row.Bearer, reqHeader),
		Status:     status,
		RespHeader: respHeader,
		RespBody:   body(row.RespBody, opts.BodyLimit),
		Duration:   dur,
		Attempts:   1,
	}
	fixResponseHeader(rec)
	if msg := strings.TrimSpace(row.Error); msg != "" && status < 400 {
		// With a failed status the status says more than the old text
		// (Analyze takes the message from the body); without one, the
		// text is all there is.
		rec.ProxyErr = msg
		lower := strings.ToLower(msg)
		rec.TimedOut = strings.Contains(lower, "timeout") || strings.Contains(lower, "timed out")
	}
	return rec, nil
}

// ID returns the id row's record gets, or a *RowError when the row has no
// usable id or timestamp. It is Convert's id, without the rest of the work,
// so that an import can ask which rows are already stored first.
func ID(row Row, opts Options) (string, error) {
	_, id, err := identify(row, opts.withDefaults().Location)
	return id, err
}

// identify returns the start and the id of row.
func identify(row Row, loc *time.Location) (time.Time, string, error) {
	if strings.TrimSpace(row.ID) == "" {
		return time.Time{}, "", rowError("no id")
	}
	start, err := parseTimestamp(row.Timestamp, loc)
	if err != nil {
		return time.Time{}, "", err
	}
	h := sha256.New()
	for _, s := range []string{row.ID, row.Timestamp, row.Method, row.URL} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var sum [sha256.Size]byte
	return start, uuid7(start, h.Sum(sum[:0])), nil
}

// uuid7 returns the UUIDv7 of t with its random bits taken from sum: the
// millisecond in the first 48 bits, the fraction of the millisecond in the
// 12 bits after the version (RFC 9562, method 3), so that records sort by
// their start to the microsecond, as the proxy's ids sort by theirs.
func uuid7(t time.Time, sum []byte) string {
	var u [16]byte
	binary.BigEndian.PutUint64(u[0:8], uint64(t.UnixMilli())<<16)
	sub := uint64(t.Nanosecond()%int(time.Millisecond)) * 4096 / uint64(time.Millisecond)
	u[6] = 0x70 | byte(sub>>8)
	u[7] = byte(sub)
	copy(u[8:], sum[:8])
	u[8] = 0x80 | u[8]&0x3f
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}

// timestampLayouts are the forms the original system's timestamps take:
// datetime.isoformat() with a "T" or a space, with or without microseconds
// (the fraction is optional when parsing) and with or without a zone.
var timestampLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// Bounds of a plausible timestamp: the store keeps four-digit years.
var (
	minStart = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxStart = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

// parseTimestamp reads a timestamp in one of timestampLayouts, a zone-less
// one in loc, or a Unix time in seconds (milliseconds above 1e11), to the
// microsecond the store keeps.
func parseTimestamp(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	var t time.Time
	var ok bool
	for _, layout := range timestampLayouts {
		if v, err := time.ParseInLocation(layout, s, loc); err == nil {
			t, ok = v, true
			break
		}
	}
	if !ok {
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			if f > 1e11 {
				f /= 1000
			}
			if f >= 0 && f < float64(maxStart.Unix()) {
				sec, frac := math.Modf(f)
				t, ok = time.Unix(int64(sec), int64(math.Round(frac*1e6))*1000), true
			}
		}
	}
	if !ok || t.Before(minStart) || !t.Before(maxStart) {
		return time.Time{}, rowError("bad timestamp")
	}
	return t.UTC().Truncate(time.Microsecond), nil
}

// splitURL returns the request URI the client sent, and the upstream path
// and query. The original stored either the whole URL it was called at or
// only its path; both end in /v1/... or /api/v1/..., which the proxy maps to
// the path under the upstream base.
func splitURL(raw string) (uri, path, query string, err error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", "", "", rowError("no url")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Path == "" && u.Opaque == "" {
		return "", "", "", rowError("bad url")
	}
	path = u.Path
	for _, prefix := range [...]string{"/api/v1", "/v1"} {
		if rest, ok := strings.CutPrefix(path, prefix); ok && (rest == "" || rest[0] == '/') {
			path = rest
			break
		}
	}
	return u.RequestURI(), path, u.RawQuery, nil
}

// parseHeaders reads a headers column: a JSON object of name to value (a
// string, a list of strings, or a number). aiohttp's multidict may also
// come as a list of [name, value] pairs. "" is no headers.
func parseHeaders(s string) (http.Header, error) {
	b := bytes.TrimSpace([]byte(s))
	if len(b) == 0 || string(b) == "null" {
		return http.Header{}, nil
	}
	h := http.Header{}
	if b[0] == '[' {
		var pairs [][]json.RawMessage
		if err := json.Unmarshal(b, &pairs); err != nil {
			return nil, err
		}
		for _, p := range pairs {
			if len(p) != 2 {
				return nil, fmt.Errorf("a header pair of %d items", len(p))
			}
			var name string
			if err := json.Unmarshal(p[0], &name); err != nil {
				return nil, err
			}
			if err := addHeader(h, name, p[1]); err != nil {
				return nil, err
			}
		}
		return h, nil
	}
	if b[0] == '{' && flatObject(b, h) {
		return h, nil
	}
	clear(h)
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for name, v := range m {
		if err := addHeader(h, name, v); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// flatObject reads the common case fast: an object whose names and values
// are strings without escapes, as json.dumps writes most headers. It reports
// false for anything else, which encoding/json then reads: a header object
// is decoded twice per row, and the general decoder alone would cost as
// much as the rest of reading and converting the row.
func flatObject(b []byte, h http.Header) bool {
	i := skipSpace(b, 1) // b[0] is '{'
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		name, j, ok := plainString(b, i)
		if !ok {
			return false
		}
		j = skipSpace(b, j)
		if j >= len(b) || b[j] != ':' {
			return false
		}
		value, k, ok := plainString(b, skipSpace(b, j+1))
		if !ok {
			return false
		}
		h[name] = append(h[name], value)
		k = skipSpace(b, k)
		if k >= len(b) {
			return false
		}
		switch b[k] {
		case ',':
			i = skipSpace(b, k+1)
		case '}':
			return skipSpace(b, k+1) == len(b)
		default:
			return false
		}
	}
}

// plainString reads a JSON string without escapes or control characters
// at b[i:], returning it and the offset after it.
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return string(b[i+1 : j]), j + 1, utf8.Valid(b[i+1 : j])
		case c == '\\' || c < 0x20:
			return "", 0, false
		}
	}
	return "", 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// addHeader adds the values of one JSON header value to h, under name as
// the original wrote it (Analyze canonicalises names).
func addHeader(h http.Header, name string, v json.RawMessage) error {
	v = bytes.TrimSpace(v)
	switch {
	case len(v) == 0 || string(v) == "null":
		return nil
	case v[0] == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return err
		}
		h[name] = append(h[name], s)
	case v[0] == '[':
		var ss []string
		if err := json.Unmarshal(v, &ss); err != nil {
			return err
		}
		h[name] = append(h[name], ss...)
	case v[0] == '{':
		return fmt.Errorf("header %q is an object", name)
	default: // a number or a boolean, as written
		h[name] = append(h[name], string(v))
	}
	return nil
}

// parseStatus reads response_status: an integer, possibly written as a
// float or as text; "" is no answer.
func parseStatus(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < 0 || f > 999 || f > 0 && f < 100 {
		return 0, rowError("bad response_status")
	}
	return int(f), nil
}

// parseDuration reads duration_ms; "" is unknown.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > float64(math.MaxInt64/int64(time.Millisecond)) {
		return 0, rowError("bad duration_ms")
	}
	return time.Duration(math.Round(f * float64(time.Millisecond))), nil
}

// body returns b as the proxy would have captured it: the first limit
// bytes kept, the end of a longer body kept as its tail.
func body(b []byte, limit int) capture.Body {
	if len(b) <= limit {
		return capture.Body{Limit: limit, Head: b, Size: int64(len(b))}
	}
	out := capture.Body{Limit: limit, Head: make([]byte, 0, limit)}
	out.Write(b)
	return out
}

// rowKey returns the key the exchange was forwarded with: the
// authorization_bearer column, or else the one its headers carry, read as
// the proxy reads it (a Bearer token, another Authorization value whole,
// or X-Api-Key).
func rowKey(bearer string, h http.Header) string {
	bearer = strings.TrimSpace(bearer)
	if token, ok := capture.BearerToken(bearer); ok {
		return token // the column held the whole header value
	}
	if bearer != "" {
		return bearer
	}
	if a := headerValue(h, "Authorization"); a != "" {
		if token, ok := capture.BearerToken(a); ok {
			return token
		}
		return a
	}
	return headerValue(h, "X-Api-Key")
}

// headerValue returns the first value of name in h, whatever the case of
// the name as stored.
func headerValue(h http.Header, name string) string {
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return strings.TrimSpace(vs[0])
		}
	}
	return ""
}

// fixResponseHeader makes the response headers describe the stored body.
// The original stored the body aiohttp had already decompressed, under the
// upstream's Content-Encoding, which would make Analyze try to decode it
// again and keep it unscrubbed; that header goes unless the body really is
// in that coding. And a stream stored without its Content-Type is
// recognised by its first line, so that it is reassembled.
func fixResponseHeader(rec *capture.Record) {
	h := rec.RespHeader
	head := rec.RespBody.Head
	for k, vs := range h {
		if !strings.EqualFold(k, "Content-Encoding") {
			continue
		}
		if !encoded(strings.ToLower(strings.TrimSpace(strings.Join(vs, ","))), head) {
			delete(h, k)
		}
	}
	if headerValue(h, "Content-Type") == "" && looksSSE(head) {
		h["Content-Type"] = []string{"text/event-stream"}
	}
}

// encoded reports whether b starts as a body in coding enc would.
func encoded(enc string, b []byte) bool {
	switch enc {
	case "", "identity":
		return true
	case "gzip", "x-gzip":
		return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b
	case "deflate":
		// zlib's header: CM 8 and a check over the first two bytes.
		return len(b) >= 2 && b[0]&0x0f == 8 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
	}
	// br, zstd: no text body starts like these, but no magic to check
	// either; JSON or SSE text is surely decoded.
	t := bytes.TrimLeft(b, " \t\r\n")
	return len(t) > 0 && t[0] != '{' && t[0] != '[' && !looksSSE(t)
}

// looksSSE reports whether b begins as an event stream: its first line a
// data field or a comment (OpenRouter's ": OPENROUTER PROCESSING").
func looksSSE(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, "\r\n")
	return bytes.HasPrefix(b, []byte("data:")) || bytes.HasPrefix(b, []byte(": ")) || bytes.HasPrefix(b, []byte("event:"))
}
