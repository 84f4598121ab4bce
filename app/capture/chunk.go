package capture

import (
	"strings"
	"unicode/utf8"
)

// Nearly every event of a chat stream is a plain delta chunk:
//
//	{"id":"gen-…","provider":"…","model":"…","object":"chat.completion.chunk","created":…,
//	 "choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}
//
// json.Unmarshal into event validates and decodes each one by reflection
// and allocates for every field, which made a 1 MiB stream cost about 10 ms
// of the single writer goroutine. fastChunk reads these chunks with a small
// validating scanner instead, allocating nothing but the text it keeps.
//
// It accepts only input that it reads exactly as decodeEvent and
// streamEvent would: one choice at most, string or null values where the
// general path expects strings, no usage, error or typed-event fields. On
// anything else (a duplicate or escaped key, a key that encoding/json would
// match case-insensitively, a value of another type, invalid JSON, deep
// nesting) it declines without side effects and the event takes the
// general path. FuzzFastChunk checks that both paths agree.

// chunk is what fastChunk reads from an event: JSON string literals with
// their quotes, nil when absent or null.
type chunk struct {
	id, model, provider, finish, text []byte
	content, reasoning, reasoningAlt  []byte // reasoningAlt is reasoning_content
	choice                            bool   // the event has a choice with index 0
	delta                             bool   // that choice has a delta object
	details                           bool   // the delta has reasoning_details
}

// The JSON names of the fields of event, choice and message. A key that
// equals one of these but for case is matched by encoding/json, so the fast
// path must decline it.
var (
	eventFields   = []string{"type", "id", "model", "provider", "choices", "usage", "error", "delta", "output_index", "item", "response", "output", "status", "incomplete_details", "code", "message", "index", "content_block", "content", "stop_reason"}
	choiceFields  = []string{"index", "delta", "message", "text", "finish_reason"}
	messageFields = []string{"content", "reasoning", "reasoning_content", "reasoning_details", "tool_calls"}
)

// fastChunk takes in the event data if it is a plain chat or completion
// chunk, as streamEvent(ev, false) would after decodeEvent, and reports
// whether it carried output. ok is false, and a untouched, when data needs
// the general path.
func (a *analysis) fastChunk(data []byte) (output, ok bool) {
	var c chunk
	if !c.read(data) {
		return false, false
	}
	reasoning := c.reasoning
	if isEmptyString(reasoning) {
		reasoning = c.reasoningAlt
	}
	if c.delta && c.details && isEmptyString(reasoning) {
		return false, false // the text is in reasoning_details: the general path reads it
	}

	if a.genID == "" && !isEmptyString(c.id) {
		a.genID = jsonString(c.id)
	}
	if !isEmptyString(c.model) {
		setString(&a.model, c.model)
	}
	if !isEmptyString(c.provider) {
		setString(&a.provider, c.provider)
	}
	if c.choice {
		if c.delta {
			output = writeString(&a.content, c.content)
			output = writeString(&a.reasoning, reasoning) || output
		}
		output = writeString(&a.content, c.text) || output
		if !isEmptyString(c.finish) {
			setString(&a.finish, c.finish)
		}
	}
	return output, true
}

// isEmptyString reports whether lit, a JSON string literal or nil, stands
// for "". Only `""` does: every escape stands for at least one character.
func isEmptyString(lit []byte) bool { return len(lit) <= 2 }

// plainString returns the characters of a JSON string literal that has no
// escapes and is valid UTF-8, which need no decoding, or false.
func plainString(lit []byte) ([]byte, bool) {
	inner := lit[1 : len(lit)-1]
	for _, c := range inner {
		if c == '\\' {
			return nil, false
		}
	}
	return inner, utf8.Valid(inner)
}

// writeString appends the string a JSON literal stands for to sb and
// reports whether it was not empty.
func writeString(sb *strings.Builder, lit []byte) bool {
	if isEmptyString(lit) {
		return false
	}
	if inner, ok := plainString(lit); ok {
		sb.Write(inner)
	} else {
		sb.WriteString(jsonString(lit))
	}
	return true
}

// setString sets *s to the string a JSON literal stands for, allocating
// only when it differs: each chunk repeats the model.
func setString(s *string, lit []byte) {
	if inner, ok := plainString(lit); ok {
		if string(inner) != *s {
			*s = string(inner)
		}
		return
	}
	*s = jsonString(lit)
}

// read fills c from data, an event's payload, and reports whether data is
// valid JSON in the shape the fast path takes.
func (c *chunk) read(data []byte) bool {
	s := scanner{b: data}
	s.space()
	if !s.is('{') {
		return false
	}
	var seen uint8
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return s.once(&seen, 1) && s.stringOrNull(&c.id)
		case "model":
			return s.once(&seen, 2) && s.stringOrNull(&c.model)
		case "choices":
			return s.once(&seen, 4) && c.readChoices(&s)
		case "provider":
			return s.once(&seen, 8) && s.stringOrNull(&c.provider)
		}
		return s.other(key, eventFields)
	})
	s.space()
	return ok && s.i == len(s.b)
}

// readChoices reads a choices array of at most one choice.
func (c *chunk) readChoices(s *scanner) bool {
	if s.null() {
		return true
	}
	n := 0
	return s.array(func() bool {
		n++
		return n == 1 && s.is('{') && c.readChoice(s)
	})
}

// readChoice reads one choice object.
func (c *chunk) readChoice(s *scanner) bool {
	var seen uint8
	index := 0
	ok := s.object(func(key []byte) bool {
		switch string(key) {
		case "index":
			return s.once(&seen, 1) && (s.null() || s.smallInt(&index))
		case "delta":
			if !s.once(&seen, 2) {
				return false
			}
			if s.null() {
				return true
			}
			c.delta = true
			return s.is('{') && c.readDelta(s)
		case "text":
			return s.once(&seen, 4) && s.stringOrNull(&c.text)
		case "finish_reason":
			return s.once(&seen, 8) && s.stringOrNull(&c.finish)
		}
		return s.other(key, choiceFields)
	})
	c.choice = index == 0
	return ok
}

// readDelta reads a choice's delta object.
func (c *chunk) readDelta(s *scanner) bool {
	var seen uint8
	return s.object(func(key []byte) bool {
		switch string(key) {
		case "content":
			return s.once(&seen, 1) && s.stringOrNull(&c.content)
		case "reasoning":
			return s.once(&seen, 2) && s.stringOrNull(&c.reasoning)
		case "reasoning_content":
			return s.once(&seen, 4) && s.stringOrNull(&c.reasoningAlt)
		case "reasoning_details":
			if !s.once(&seen, 8) {
				return false
			}
			if s.null() {
				return true
			}
			c.details = true
			return s.skip(0)
		case "tool_calls":
			// Only an empty list: pieces of calls take the general path.
			if !s.once(&seen, 16) {
				return false
			}
			return s.null() || s.array(func() bool { return false })
		}
		return s.other(key, messageFields)
	})
}

// maxSkipDepth bounds the nesting the fast path skips over; deeper values
// take the general path.
const maxSkipDepth = 32

// scanner reads JSON text strictly: it accepts exactly what
// encoding/json's validity check accepts, bounded in depth.
type scanner struct {
	b []byte
	i int
}

// space skips insignificant white space.
func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// is reports whether the next byte is c, without consuming it.
func (s *scanner) is(c byte) bool { return s.i < len(s.b) && s.b[s.i] == c }

// once sets bit in *seen and reports whether it was clear: a key seen twice
// takes the general path, since encoding/json merges duplicates.
func (s *scanner) once(seen *uint8, bit uint8) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// other skips the value of a key the fast path does not read. A field of
// the struct being read that the fast path does not handle may be present
// only as null, which leaves it zero. A key that matches a field only
// case-insensitively makes the fast path decline, as encoding/json would
// store its value, even a null, in that field.
func (s *scanner) other(key []byte, fields []string) bool {
	for _, c := range key {
		if c >= utf8.RuneSelf {
			return false // encoding/json folds some non-ASCII letters to ASCII ones
		}
	}
	for _, f := range fields {
		if len(key) != len(f) {
			continue
		}
		if string(key) == f {
			return s.null()
		}
		if asciiEqualFold(key, f) {
			return false
		}
	}
	return s.skip(0)
}

// asciiEqualFold reports whether the ASCII key equals f but for case.
func asciiEqualFold(key []byte, f string) bool {
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if d := f[i]; 'A' <= d && d <= 'Z' && c != d+'a'-'A' || !('A' <= d && d <= 'Z') && c != d {
			return false
		}
	}
	return true
}

// object reads an object whose '{' is next, calling member with each
// unescaped key once the scanner is at its value; member must read the
// value. It reports whether the object was read whole.
func (s *scanner) object(member func(key []byte) bool) bool {
	s.i++ // '{'
	s.space()
	if s.is('}') {
		s.i++
		return true
	}
	for {
		lit, esc, ok := s.str()
		if !ok || esc {
			return false // an escaped key is decoded by encoding/json: decline
		}
		s.space()
		if !s.is(':') {
			return false
		}
		s.i++
		s.space()
		if !member(lit[1 : len(lit)-1]) {
			return false
		}
		if end, ok := s.after('}'); !ok || end {
			return ok
		}
	}
}

// array reads an array whose '[' is next, calling elem at each element;
// elem must read it.
func (s *scanner) array(elem func() bool) bool {
	if !s.is('[') {
		return false
	}
	s.i++
	s.space()
	if s.is(']') {
		s.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		if end, ok := s.after(']'); !ok || end {
			return ok
		}
	}
}

// after reads what follows a member or an element: a ',' before the next
// one, or closer, which ends the object or array (end). ok is false for
// anything else.
func (s *scanner) after(closer byte) (end, ok bool) {
	s.space()
	switch {
	case s.is(','):
		s.i++
		s.space()
		return false, true
	case s.is(closer):
		s.i++
		return true, true
	}
	return false, false
}

// null reads a null if one is next. When it returns false, the caller's
// reader for the other values it takes fails on a malformed "n…".
func (s *scanner) null() bool { return s.literal("null") }

// stringOrNull reads a string into *lit, or a null.
func (s *scanner) stringOrNull(lit *[]byte) bool {
	if s.null() {
		return true
	}
	v, _, ok := s.str()
	*lit = v
	return ok
}

// smallInt reads an integer of at most 9 digits, which any int holds;
// other numbers take the general path.
func (s *scanner) smallInt(n *int) bool {
	start := s.i
	neg := s.is('-')
	if neg {
		s.i++
	}
	digits := s.i
	v := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		v = v*10 + int(s.b[s.i]-'0')
		s.i++
	}
	switch d := s.i - digits; {
	case d == 0 || d > 9 || d > 1 && s.b[digits] == '0':
		return false
	case s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E'):
		return false
	}
	if neg {
		v = -v
	}
	*n = v
	return s.i > start
}

// strPlain marks the bytes a string holds as they are: not '"', not '\\',
// not a control character. Bytes of invalid UTF-8 are allowed, as
// encoding/json allows them.
var strPlain = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 0x20 && c != '"' && c != '\\'
	}
	return t
}()

// str reads a string literal and returns it with its quotes, and whether
// it holds escapes.
func (s *scanner) str() (lit []byte, esc, ok bool) {
	if !s.is('"') {
		return nil, false, false
	}
	start := s.i
	i := s.i + 1
	for {
		for i < len(s.b) && strPlain[s.b[i]] {
			i++
		}
		if i >= len(s.b) {
			return nil, false, false
		}
		switch s.b[i] {
		case '"':
			s.i = i + 1
			return s.b[start:s.i], esc, true
		case '\\':
			esc = true
			if i+1 >= len(s.b) {
				return nil, false, false
			}
			switch s.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[i+2 : i+6] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				i += 6
			default:
				return nil, false, false
			}
		default:
			return nil, false, false // a control character
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number reads a JSON number.
func (s *scanner) number() bool {
	b, i := s.b, s.i
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	s.i = i
	return true
}

// literal reads the literal word w.
func (s *scanner) literal(w string) bool {
	if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
		s.i += len(w)
		return true
	}
	return false
}

// skip reads any JSON value, nested at most maxSkipDepth deep.
func (s *scanner) skip(depth int) bool {
	if s.i >= len(s.b) || depth > maxSkipDepth {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, _, ok := s.str()
		return ok
	case c == '{':
		return s.object(func([]byte) bool { return s.skip(depth + 1) })
	case c == '[':
		return s.array(func() bool { return s.skip(depth + 1) })
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return false
}
