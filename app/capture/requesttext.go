package capture

import (
	"strings"
	"unicode/utf8"
)

// The search index wants the words a client wrote, not the JSON around
// them, and only once: chat clients resend the whole conversation on every
// call, so indexing each request whole would index every turn again and
// again. RequestText takes the turns since the model last spoke, which are
// what this exchange added.
//
// A request body can be long (a conversation of a megabyte), cut short at
// the capture limit, or not JSON at all. So the body is first walked by a
// small lenient scanner that only finds where values begin and end and
// reads each turn's role, allocating nothing. Then only the new turns are
// read: a string is sliced out of the body (jsonString), and encoding/json
// decodes the few values whose shape varies (content parts, tool calls).
// The walk never panics and never recurses: on input it cannot read it
// stops and keeps the values that were whole.

// RequestTurns is the searchable text of a request body.
type RequestTurns struct {
	// System is the system prompt: chat messages of role system or
	// developer among the new turns, or, on the first call of a
	// conversation only, the Responses API's instructions and Anthropic's
	// top-level system. A conversation's later calls resend the same
	// prompt, so it is indexed once per conversation.
	System string

	// New is the text of the turns since the model's last turn, joined by
	// newlines: user message contents (strings or the text of content
	// parts), tool results, and the tool calls they answer (name and
	// arguments), which are the last assistant turn's. For a legacy
	// completion it is the prompt, for embeddings the input strings.
	New string

	// Older counts the earlier turns left out, the model's last turn
	// included.
	Older int
}

// RequestText returns the new text of a request body of any of the APIs
// OpenRouter serves: chat completions and Anthropic messages (messages,
// system), legacy completions (prompt), embeddings and the Responses API
// (input, instructions). The turns since the last assistant turn are new,
// and with them the system prompt on a conversation's first call only (see
// RequestTurns); a body that ends with an assistant turn (a prefill the
// model is to continue) takes the turns since the assistant turn before
// it. A Responses request that names a previous_response_id or a
// conversation continues one, so its instructions are not new.
//
// A body cut short yields the turns that were whole, which may then be an
// earlier part of the conversation. A body that is not a JSON object yields
// nothing. The text returned is never longer than body. RequestText never
// panics.
func RequestText(body []byte) RequestTurns {
	var r reqReader
	r.read(body)
	return r.result(body)
}

// itemKind is what a turn, or an element of an input list, is.
type itemKind uint8

const (
	itemSkip      itemKind = iota // holds no text: a token array, a number
	itemString                    // a bare string: an embeddings or prompt input
	itemUser                      // a user message, a tool result
	itemSystem                    // a system or developer message
	itemAssistant                 // the model's turn: a message, a call, reasoning
)

// item is an element of a messages or input list: its span in the body,
// its kind, and whether it may hold tool calls.
type item struct {
	start, end int
	kind       itemKind
	calls      bool
}

// span is a value's place in the body; end is 0 when it is absent.
type span struct{ start, end int }

// reqReader walks a request body.
type reqReader struct {
	lists        [2][]item // messages, input
	cut          [2]bool   // the list was cut short
	system       span      // Anthropic's system
	instructions span      // the Responses API's instructions
	prompt       span      // a legacy completion's prompt
	input        span      // an input that is a string, not a list
	continued    bool      // a previous_response_id or conversation was named
}

// read walks the members of the top-level object of body, stopping where
// body stops being readable.
func (r *reqReader) read(b []byte) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return
	}
	members(b, i, func(name []byte, v int) (int, bool) {
		if k := string(name); (k == "messages" || k == "input") && b[v] == '[' {
			n := 0
			if k == "input" {
				n = 1
				r.input = span{}
			}
			var end int
			var ok bool
			r.lists[n], end, ok = readList(b, v, r.lists[n][:0])
			r.cut[n] = !ok
			return end, ok
		}
		end, ok := valueEnd(b, v)
		if !ok {
			return end, false
		}
		switch val := (span{v, end}); string(name) {
		case "system":
			r.system = val
		case "instructions":
			r.instructions = val
		case "prompt":
			r.prompt = val
		case "input":
			r.input = val
			r.lists[1], r.cut[1] = r.lists[1][:0], false
		case "previous_response_id", "conversation":
			r.continued = r.continued || b[v] == '"' && end-v > 2 || b[v] == '{'
		}
		return end, true
	})
}

// members calls fn with the name of each member of the object at b[i] and
// the offset of its value, in order; fn reads the value and returns the
// offset past it, or false if it cannot. members returns the offset past
// the object and whether it was read whole.
func members(b []byte, i int, fn func(name []byte, v int) (int, bool)) (int, bool) {
	i++ // '{'
	for first := true; ; first = false {
		i = skipSpace(b, i)
		if i >= len(b) {
			return len(b), false
		}
		if b[i] == '}' && first {
			return i + 1, true
		}
		if b[i] != '"' {
			return len(b), false
		}
		kend, ok := stringEnd(b, i)
		if !ok {
			return len(b), false
		}
		name := memberName(b[i:kend])
		i = skipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return len(b), false
		}
		i = skipSpace(b, i+1)
		if i >= len(b) {
			return len(b), false
		}
		if i, ok = fn(name, i); !ok {
			return len(b), false
		}
		i = skipSpace(b, i)
		switch {
		case i < len(b) && b[i] == ',':
			i++
		case i < len(b) && b[i] == '}':
			return i + 1, true
		default:
			return len(b), false
		}
	}
}

// readList appends the elements of the array at b[i] to items. It returns
// the offset past the array and whether the array was whole; the elements
// read before a break are kept.
func readList(b []byte, i int, items []item) ([]item, int, bool) {
	i++ // '['
	for first := true; ; first = false {
		i = skipSpace(b, i)
		if i >= len(b) {
			return items, i, false
		}
		if b[i] == ']' && first {
			return items, i + 1, true
		}
		it := item{start: i}
		var ok bool
		switch b[i] {
		case '{':
			ok = it.readTurn(b)
		case '"':
			it.end, ok = stringEnd(b, i)
			it.kind = itemString
		default:
			it.end, ok = valueEnd(b, i)
		}
		if !ok {
			return items, len(b), false
		}
		items = append(items, it)
		i = skipSpace(b, it.end)
		switch {
		case i < len(b) && b[i] == ',':
			i++
		case i < len(b) && b[i] == ']':
			return items, i + 1, true
		default:
			return items, len(b), false
		}
	}
}

// readTurn reads the object at b[it.start], a chat or Anthropic message or
// a Responses input item: where it ends, whether it may hold tool calls,
// and its kind, from its role or else its type. An item without a role is
// the model's (a function call, reasoning) unless its type names an answer
// to one (a function_call_output, an mcp_approval_response).
func (it *item) readTurn(b []byte) (ok bool) {
	var role, typ []byte
	it.end, ok = members(b, it.start, func(name []byte, v int) (int, bool) {
		end, ok := valueEnd(b, v)
		if !ok {
			return end, false
		}
		switch string(name) {
		case "role":
			if b[v] == '"' {
				role = memberName(b[v:end])
			}
		case "type":
			if b[v] == '"' {
				typ = memberName(b[v:end])
			}
		case "tool_calls", "function_call", "arguments", "input":
			it.calls = true
		case "content":
			it.calls = it.calls || b[v] == '[' // Anthropic tool_use blocks
		}
		return end, true
	})
	switch r, t := string(role), string(typ); {
	case r == "assistant" || r == "model":
		it.kind = itemAssistant
	case r == "system" || r == "developer":
		it.kind = itemSystem
	case r != "" || t == "" || t == "message" ||
		strings.HasSuffix(t, "_output") || strings.HasSuffix(t, "_response"):
		it.kind = itemUser
	default:
		it.kind = itemAssistant
	}
	return ok
}

// read reads the text of the turn at b[i], an object the walk read whole.
func (t *turn) read(b []byte, i int) {
	members(b, i, func(name []byte, v int) (int, bool) {
		end, ok := valueEnd(b, v)
		if !ok {
			return end, false
		}
		val := b[v:end]
		switch string(name) {
		case "content":
			t.Content = readContent(val)
		case "output":
			t.Output = readContent(val)
		case "tool_calls":
			t.ToolCalls = nil
			decodeJSON(val, &t.ToolCalls)
		case "function_call":
			t.FunctionCall = nil
			decodeJSON(val, &t.FunctionCall)
		case "name":
			t.Name = rawString(val)
		case "arguments":
			t.Arguments = ""
			decodeJSON(val, &t.Arguments)
		case "input":
			t.Input = ""
			decodeJSON(val, &t.Input)
		}
		return end, true
	})
}

// valueEnd returns the offset past the JSON value at b[i], and whether it
// ends before b does. It is lenient: it pairs brackets without checking
// their kinds or the commas and colons between them, which is enough to
// step over valid JSON; whatever text is taken from the spans it finds is
// decoded, and so checked, by encoding/json.
func valueEnd(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return len(b), false
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := stringEnd(b, i)
				if !ok {
					return len(b), false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return len(b), false
	}
	// A number or a literal, which only a delimiter ends: one that runs to
	// the end of b may have been cut.
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n', '"', '{', '[', ':':
			return j, j > i
		}
		j++
	}
	return len(b), false
}

// reqContent is a content value: a string, or a list of content parts or
// blocks. Any other value reads as none. readContent reads one.
type reqContent []reqPart

// readContent reads a content value.
func readContent(b []byte) reqContent {
	switch {
	case len(b) == 0:
	case b[0] == '"':
		return reqContent{{Text: text(jsonString(b))}}
	case b[0] == '[':
		var parts []reqPart
		decodeJSON(b, &parts)
		return parts
	}
	return nil
}

// reqPart is a content part of a chat or Responses message (text,
// input_text, output_text), or a block of an Anthropic one (text, tool_use,
// tool_result).
type reqPart struct {
	Type    string     `json:"type"`
	Text    text       `json:"text"`
	Content resultText `json:"content"` // of a tool_result
	Name    string     `json:"name"`    // of a tool_use
	Input   jsonText   `json:"input"`   // of a tool_use
}

// resultText is the content of an Anthropic tool_result: a string, or
// blocks whose texts are joined by newlines. It is not a reqContent: a
// type that held itself would let a deeply nested body cost time in the
// square of its depth, each level decoding the levels below it again.
type resultText string

// UnmarshalJSON implements json.Unmarshaler.
func (t *resultText) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
	case b[0] == '"':
		*t = resultText(jsonString(b))
	case b[0] == '[':
		var blocks []struct {
			Text text `json:"text"`
		}
		decodeJSON(b, &blocks)
		var l lines
		for _, p := range blocks {
			l.add(string(p.Text))
		}
		*t = resultText(l.String())
	}
	return nil
}

// reqFunction is a chat message's legacy function_call.
type reqFunction struct {
	Name      string   `json:"name"`
	Arguments jsonText `json:"arguments"`
}

// turn is a chat or Anthropic message, or a Responses input item, as far
// as its text goes. Its members are found by the walk, and only those
// whose shape varies are decoded by encoding/json: a content that is a
// string, the common case, is sliced out of the body.
type turn struct {
	Content      reqContent
	ToolCalls    []toolCallPiece
	FunctionCall *reqFunction

	// Responses API items: function_call, custom_tool_call and their
	// outputs.
	Name      string
	Arguments jsonText
	Input     jsonText
	Output    reqContent
}

// lines joins the pieces of text it is given by newlines.
type lines struct{ strings.Builder }

// add appends s as a line of its own, unless it is empty.
func (l *lines) add(s string) {
	if s == "" {
		return
	}
	if l.Len() > 0 {
		l.WriteByte('\n')
	}
	l.WriteString(s)
}

// call appends a tool call: its name and arguments.
func (l *lines) call(name string, args jsonText) {
	switch {
	case args == "":
		l.add(name)
	case name == "":
		l.add(string(args))
	default:
		l.add(name + " " + string(args))
	}
}

// content appends the text of c; with callsOnly, only its tool calls.
func (l *lines) content(c reqContent, callsOnly bool) {
	for _, p := range c {
		switch p.Type {
		case "tool_use", "server_tool_use":
			l.call(p.Name, p.Input)
		case "tool_result":
			if !callsOnly {
				l.add(string(p.Content))
			}
		case "thinking", "redacted_thinking":
		default:
			if !callsOnly {
				l.add(string(p.Text))
			}
		}
	}
}

// turn appends the text of t; with callsOnly, only its tool calls.
func (l *lines) turn(t *turn, callsOnly bool) {
	l.content(t.Content, callsOnly)
	for i := range t.ToolCalls {
		f := &t.ToolCalls[i].Function
		l.call(f.Name, f.Arguments)
	}
	if t.FunctionCall != nil {
		l.call(t.FunctionCall.Name, t.FunctionCall.Arguments)
	}
	if t.Arguments != "" || t.Input != "" {
		l.call(t.Name, t.Arguments+t.Input)
	}
	if !callsOnly {
		l.content(t.Output, false)
	}
}

// result gathers the text of what read found.
func (r *reqReader) result(b []byte) RequestTurns {
	var out RequestTurns
	var system, text lines
	first := !r.continued
	for n, items := range r.lists {
		start := newTurns(items, r.cut[n])
		if start > 0 {
			first = false
		}
		out.Older += start
		// The last assistant turn's tool calls, which the new turns
		// answer.
		k := start
		for k > 0 && items[k-1].kind == itemAssistant {
			k--
		}
		for _, it := range items[k:start] {
			if it.calls {
				var t turn
				t.read(b, it.start)
				text.turn(&t, true)
			}
		}
		for _, it := range items[start:] {
			switch it.kind {
			case itemString:
				text.add(jsonString(b[it.start:it.end]))
			case itemUser, itemAssistant, itemSystem:
				var t turn
				t.read(b, it.start)
				if it.kind == itemSystem {
					system.turn(&t, false)
				} else {
					text.turn(&t, false)
				}
			}
		}
	}
	if first {
		for _, v := range []span{r.system, r.instructions} {
			if v.end > 0 {
				system.content(readContent(b[v.start:v.end]), false)
			}
		}
	}
	for _, v := range []span{r.prompt, r.input} {
		if v.end > 0 {
			text.inputs(b[v.start:v.end])
		}
	}
	out.System, out.New = capText(system.String(), text.String(), len(b))
	return out
}

// inputs appends the string, or the strings of the array, v: a legacy
// prompt, or an embeddings or Responses input given as a string. Token
// arrays are skipped.
func (l *lines) inputs(v []byte) {
	switch v[0] {
	case '"':
		l.add(jsonString(v))
	case '[':
		items, _, _ := readList(v, 0, nil)
		for _, it := range items {
			if it.kind == itemString {
				l.add(jsonString(v[it.start:it.end]))
			}
		}
	}
}

// newTurns returns the index of the first new turn in items: the first
// after the last assistant turn that something else follows. Of a list cut
// short, whose end is unknown, it is the first after the last assistant
// turn.
func newTurns(items []item, cut bool) int {
	if cut {
		for k := len(items); k > 0; k-- {
			if items[k-1].kind == itemAssistant {
				return k
			}
		}
		return 0
	}
	for k := len(items) - 1; k > 0; k-- {
		if items[k-1].kind == itemAssistant && items[k].kind != itemAssistant {
			return k
		}
	}
	return 0
}

// capText cuts system and text so that together they are at most n bytes
// long, system first, at the start of a character. Only invalid UTF-8,
// which decodes to three bytes a byte, makes them longer than the body.
func capText(system, text string, n int) (string, string) {
	if len(system)+len(text) <= n {
		return system, text
	}
	system = cutText(system, n)
	return system, cutText(text, n-len(system))
}

// cutText returns s cut to at most n bytes at the start of a character.
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
