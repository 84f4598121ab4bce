package capture

import "bytes"

// utf8BOM is the byte order mark a stream may begin with.
var utf8BOM = []byte("\xef\xbb\xbf")

// scanSSE calls fn with the data of each server-sent event in b and the
// offset just past the blank line that ended it, until fn returns false.
// It follows the WHATWG event-stream rules where they matter here: lines
// end in "\n", "\r\n" or "\r"; lines starting with ':' are comments
// (OpenRouter's ": OPENROUTER PROCESSING" keep-alives); one optional space
// follows "data:"; several data lines join with "\n"; other fields are
// ignored. Unlike a browser, a last event without its blank line is still
// passed on, because a cancelled or capped stream ends that way and its
// JSON, if whole, is still worth reading.
func scanSSE(b []byte, fn func(data []byte, end int) bool) {
	var (
		data    []byte // the event's data; aliases b while it has one line
		buf     []byte // backing store once a second data line arrives
		hasData bool
		multi   bool // data lives in buf
	)
	pos := 0
	if bytes.HasPrefix(b, utf8BOM) {
		pos = len(utf8BOM) // the event-stream format allows one, and it is no field
	}
	for pos < len(b) {
		var line []byte
		if i := lineEnd(b[pos:]); i >= 0 {
			line = b[pos : pos+i]
			pos += i + 1
			if b[pos-1] == '\r' && pos < len(b) && b[pos] == '\n' {
				pos++
			}
		} else {
			line, pos = b[pos:], len(b)
		}
		if len(line) == 0 {
			if hasData && !fn(data, pos) {
				return
			}
			data, hasData, multi = nil, false, false
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, found := bytes.Cut(line, []byte{':'})
		if string(field) != "data" {
			continue
		}
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		if !hasData {
			data, hasData = value, true
			continue
		}
		if !multi {
			buf, multi = append(buf[:0], data...), true
		}
		buf = append(append(buf, '\n'), value...)
		data = buf
	}
	if hasData {
		fn(data, len(b))
	}
}

// eventBoundary returns the offset just past the first blank line in b, or
// -1. A body's tail can start mid-event, so its parsing starts there.
func eventBoundary(b []byte) int {
	best := -1
	for _, sep := range [][]byte{[]byte("\n\n"), []byte("\r\n\r\n"), []byte("\r\r")} {
		if i := bytes.Index(b, sep); i >= 0 && (best < 0 || i+len(sep) < best) {
			best = i + len(sep)
		}
	}
	return best
}

// isDone reports whether data is the "[DONE]" sentinel that ends an
// OpenAI-style stream.
func isDone(data []byte) bool {
	return string(bytes.TrimSpace(data)) == "[DONE]"
}

// lineEnd returns the index of the first '\r' or '\n' in b, or -1. It is
// bytes.IndexAny without building a byte set on every call.
func lineEnd(b []byte) int {
	n := bytes.IndexByte(b, '\n')
	if n < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if c := bytes.IndexByte(b[:n], '\r'); c >= 0 {
		return c
	}
	return n
}
