package mockupstream

import (
	"net/http"
	"time"
)

var (
	processingEvent = []byte(": OPENROUTER PROCESSING\n\n")
	doneEvent       = []byte("data: [DONE]\n\n")
)

// streamer writes the SSE events of one streamed answer.
//
// Every chunk of a generation starts with the same bytes ("data: {"id":…,
// "object":…,"created":…,"model":…,"provider":"Mock",), so they are built
// once at the front of buf and each chunk is appended after them in place.
type streamer struct {
	x     *exchange
	g     *generation
	buf   *[]byte
	head  int // length of the shared prefix in *buf
	delay time.Duration
}

// stream writes a streamed answer.
func (x *exchange) stream(g *generation) {
	h := x.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Generation-Id", g.id)
	x.writeHeader(http.StatusOK)

	s := streamer{x: x, g: g, buf: getBuf(), delay: g.delay}
	defer putBuf(s.buf)
	object := "chat.completion.chunk"
	if g.kind == kindText {
		object = "text_completion"
	}
	b := append((*s.buf)[:0], "data: "...)
	b = appendHead(b, g, object)
	*s.buf = b
	s.head = len(b)

	if !s.event(processingEvent, false) {
		return
	}
	if g.kind == kindChat {
		b = s.begin()
		b = append(b, `"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`...)
		if !s.send(b) {
			return
		}
		if g.reasoning && !s.reasoning() {
			return
		}
		if g.tool != "" {
			if s.toolCall() {
				s.finish(usage{prompt: g.prompt, completion: tokens(len(toolArgs)) + s.reasoningTokens(), reasoning: s.reasoningTokens()})
			}
			return
		}
	}
	contentBytes, ok := s.content()
	if !ok || g.midstream {
		return
	}
	s.finish(usage{prompt: g.prompt, completion: tokens(contentBytes) + s.reasoningTokens(), reasoning: s.reasoningTokens()})
}

// reasoningTokens is the reasoning share of completion tokens.
func (s *streamer) reasoningTokens() int {
	if s.g.kind == kindChat && s.g.reasoning {
		return tokens(len(reasoningText))
	}
	return 0
}

// reasoning streams the "thinking" deltas OpenRouter sends for reasoning
// models, in both its fields: reasoning and reasoning_details.
func (s *streamer) reasoning() bool {
	for _, part := range reasoningParts {
		b := s.begin()
		b = append(b, `"choices":[{"index":0,"delta":{"content":"","reasoning":`...)
		b = appendString(b, part)
		b = append(b, `,"reasoning_details":[{"type":"reasoning.text","text":`...)
		b = appendString(b, part)
		b = append(b, `,"format":"unknown","index":0}]},"finish_reason":null}]}`...)
		if !s.send(b) {
			return false
		}
	}
	return true
}

// toolCall streams a call of the first tool: the id and name first, then
// the arguments in pieces, the last with finish_reason "tool_calls".
func (s *streamer) toolCall() bool {
	b := s.begin()
	b = append(b, `"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":`...)
	b = appendString(b, randomID("call_", 24))
	b = append(b, `,"type":"function","function":{"name":`...)
	b = appendString(b, s.g.tool)
	b = append(b, `,"arguments":""}}]},"finish_reason":null}]}`...)
	if !s.send(b) {
		return false
	}
	for i, part := range toolArgParts {
		b := s.begin()
		b = append(b, `"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":`...)
		b = appendString(b, part)
		b = append(b, `}}]},"finish_reason":`...)
		if i == len(toolArgParts)-1 {
			b = append(b, `"tool_calls"}]}`...)
		} else {
			b = append(b, `null}]}`...)
		}
		if !s.send(b) {
			return false
		}
	}
	return true
}

// content streams the reply one word (with its trailing whitespace) per
// chunk, or exactly g.chunks chunks, cycling through the words. The last
// chunk carries finish_reason "stop"; in the midstream-error scenario the
// stream instead breaks off after two chunks with an error event.
// It returns the number of content bytes sent.
func (s *streamer) content() (n int, ok bool) {
	g := s.g
	total := g.chunks
	if total == 0 {
		total = countWords(g.reply)
	}
	if g.midstream {
		total = min(total, 2)
	}
	i := 0
	for c := range total {
		if i >= len(g.reply) {
			i = 0
		}
		j := wordEnd(g.reply, i)
		word := g.reply[i:j]
		i = j
		last := c == total-1
		// Cycling past the reply's last word needs a separator before the
		// words start again.
		space := !last && j == len(g.reply) && !isSpace(word[len(word)-1])

		b := s.begin()
		if g.kind == kindText {
			b = append(b, `"choices":[{"index":0,"text":"`...)
		} else {
			b = append(b, `"choices":[{"index":0,"delta":{"content":"`...)
		}
		b = appendStringBody(b, word)
		n += len(word)
		if space {
			b = append(b, ' ')
			n++
		}
		if g.kind == kindChat {
			b = append(b, '"', '}')
		} else {
			b = append(b, '"')
		}
		if last && !g.midstream {
			b = append(b, `,"finish_reason":"stop"}]}`...)
		} else {
			b = append(b, `,"finish_reason":null}]}`...)
		}
		if !s.send(b) {
			return n, false
		}
	}
	if g.midstream {
		b := s.begin()
		b = append(b, `"error":`...)
		b = appendErrorFields(b, http.StatusBadGateway, midstreamMessage, true)
		if g.kind == kindText {
			b = append(b, `,"choices":[{"index":0,"text":"","finish_reason":"error"}]}`...)
		} else {
			b = append(b, `,"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}`...)
		}
		// The stream ends here, without [DONE], as OpenRouter's does when a
		// provider fails mid-generation.
		s.sendLast(b)
	}
	return n, true
}

// finish sends the usage chunk and [DONE].
func (s *streamer) finish(u usage) {
	b := s.begin()
	b = append(b, `"choices":[],"usage":`...)
	b = appendUsage(b, u)
	b = append(b, '}')
	if s.send(b) {
		s.event(doneEvent, true)
	}
}

// begin returns the buffer holding just the shared chunk prefix.
func (s *streamer) begin() []byte { return (*s.buf)[:s.head] }

// send terminates the chunk in b, sends it and pauses.
func (s *streamer) send(b []byte) bool {
	return s.event(s.terminate(b), false)
}

// sendLast terminates the chunk in b and sends it as the final event.
func (s *streamer) sendLast(b []byte) {
	s.event(s.terminate(b), true)
}

// terminate ends the SSE event in b.
func (s *streamer) terminate(b []byte) []byte {
	b = append(b, '\n', '\n')
	*s.buf = b // keep any growth for the next chunk
	return b
}

// event writes and flushes one event, then, unless it is the final one,
// pauses for the slow scenario.
func (s *streamer) event(b []byte, final bool) bool {
	if !s.x.write(b) || !s.x.flush() {
		return false
	}
	if final {
		return true
	}
	if s.delay > 0 {
		return s.x.pause(s.delay)
	}
	return s.x.alive(s.x.r.Context())
}

// wordEnd returns the end of the word starting at i in s, including the
// whitespace that follows it, so that the chunks concatenate back to s.
func wordEnd(s string, i int) int {
	for i < len(s) && !isSpace(s[i]) {
		i++
	}
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	return i
}

// countWords counts the chunks wordEnd splits s into.
func countWords(s string) int {
	n := 0
	for i := 0; i < len(s); i = wordEnd(s, i) {
		n++
	}
	return n
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }
