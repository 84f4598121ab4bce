package dataset

import (
	"net/http"
	"strconv"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/mockupstream"
)

// The bodies are appended byte by byte, as the mock upstream writes them:
// encoding/json would cost more than everything else the generator does.
// The shapes follow OpenRouter's answers as captured in public SDK test
// cassettes (see ../shared/OPENROUTER.md): keep-alive comments, the role
// chunk, content chunks that repeat role, a finish chunk with
// native_finish_reason, a usage chunk in one of three shapes, and [DONE].

var (
	appendStr  = mockupstream.AppendJSONString
	appendBody = mockupstream.AppendJSONStringBody
)

// events is a response body being built, cut into the pieces the proxy
// reads one at a time, each with the time it arrived.
type events struct {
	b    []byte
	end  []int           // where each piece ends in b
	at   []time.Duration // when it arrived, after the start of the exchange
	last time.Duration
}

func (e *events) reset() {
	e.b, e.end, e.at, e.last = e.b[:0], e.end[:0], e.at[:0], 0
}

// mark ends a piece that arrived at at; pieces arrive in order, at least
// 50µs apart.
func (e *events) mark(at time.Duration) {
	if at < e.last+50*time.Microsecond {
		at = e.last + 50*time.Microsecond
	}
	e.end = append(e.end, len(e.b))
	e.at = append(e.at, at)
	e.last = at
}

// size returns the bytes of the first keep pieces.
func (e *events) size(keep int) int {
	if keep == 0 {
		return 0
	}
	return e.end[keep-1]
}

// after returns how long output of n bytes takes to arrive at x's speed.
func (x *exchange) after(n int) time.Duration {
	return time.Duration(float64(n) / x.byteRate * float64(time.Second))
}

const processing = ": OPENROUTER PROCESSING\n\n"

// chatHead appends the start every chunk of x's stream shares, up to and
// including the opening of choices.
func chatHead(b []byte, x *exchange) []byte {
	b = append(b, `data: {"id":"`...)
	b = append(b, x.genID...)
	b = append(b, `","provider":"`...)
	b = append(b, x.provider...)
	b = append(b, `","model":"`...)
	b = append(b, x.m.served...)
	b = append(b, `","object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, x.created, 10)
	return append(b, `,"choices":[`...)
}

const (
	choiceOpen  = `{"index":0,"delta":{"role":"assistant","content":"`
	choiceClose = `"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}` + "\n\n"
)

// chatStream builds a streamed chat completion.
func (g *Generator) chatStream(x *exchange) {
	e := &g.ev
	e.reset()
	g.head = chatHead(g.head[:0], x)
	head := g.head

	e.b = append(e.b, processing...)
	e.mark(x.ttfb)
	// OpenRouter keeps a slow start alive with more comments.
	for t, n := x.ttfb+2500*time.Millisecond, 0; t < x.first && n < 3; t, n = t+2500*time.Millisecond, n+1 {
		e.b = append(e.b, processing...)
		e.mark(t)
	}
	e.b = append(e.b, head...)
	e.b = append(e.b, choiceOpen+choiceClose...)
	e.mark(x.first - 2*time.Millisecond)

	t := x.first
	if len(x.reason) > 0 {
		e.b = append(e.b, head...)
		e.b = append(e.b, `{"index":0,"delta":{"role":"assistant","content":"","reasoning":`...)
		e.b = appendStr(e.b, x.reason)
		e.b = append(e.b, `,"reasoning_details":[{"type":"reasoning.text","text":`...)
		e.b = appendStr(e.b, x.reason)
		e.b = append(e.b, `,"format":"unknown","index":0}]},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]}`+"\n\n"...)
		e.mark(t)
		t += x.after(len(x.reason))
	}
	for k := 0; k <= len(x.cuts); k++ {
		if x.out == outMidstream && k == x.errAt {
			g.chatStreamError(x, head, t)
			return
		}
		if k == len(x.cuts) {
			break
		}
		piece := x.reply[x.cutAt(k):x.cuts[k]]
		e.b = append(e.b, head...)
		e.b = append(e.b, choiceOpen...)
		e.b = appendBody(e.b, piece)
		e.b = append(e.b, choiceClose...)
		e.mark(t)
		t += x.after(len(piece))
	}
	e.b = append(e.b, head...)
	e.b = append(e.b, `{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop","native_finish_reason":"`...)
	e.b = append(e.b, x.m.native...)
	e.b = append(e.b, `","logprobs":null}]}`+"\n\n"...)
	e.mark(t)

	// The three shapes of the usage chunk seen in real captures.
	e.b = append(e.b, head...)
	switch x.variant % 3 {
	case 0:
		e.b = append(e.b, `{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"native_finish_reason":null,"logprobs":null}]`...)
	case 1:
		e.b = append(e.b, `{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop","native_finish_reason":"`...)
		e.b = append(e.b, x.m.native...)
		e.b = append(e.b, `","logprobs":null}]`...)
	default:
		e.b = append(e.b, ']')
	}
	e.b = append(e.b, `,"usage":`...)
	e.b = mockupstream.AppendUsage(e.b, x.usage)
	e.b = append(e.b, "}\n\n"...)
	e.mark(t + time.Duration(1+x.variant%40)*time.Millisecond)
	e.b = append(e.b, "data: [DONE]\n\n"...)
	e.mark(e.last + 100*time.Microsecond)
}

// midstreamMessages are the errors that end a stream after it began.
var midstreamMessages = []string{"Provider disconnected unexpectedly", "Token limit reached", "Internal server error from provider"}

// chatStreamError ends a chat stream with an error event, in one of the
// two shapes seen: OpenRouter's documented one (finish_reason "error", no
// [DONE]), or an error carried with usage, finish_reason null, and [DONE].
func (g *Generator) chatStreamError(x *exchange, head []byte, t time.Duration) {
	e := &g.ev
	msg := midstreamMessages[x.variant%len(midstreamMessages)]
	e.b = append(e.b, head...)
	if x.variant%2 == 0 {
		e.b = append(e.b, `{"index":0,"delta":{"content":""},"finish_reason":"error"}],"error":{"code":502,"message":`...)
		e.b = appendStr(e.b, msg)
		e.b = append(e.b, `,"metadata":{"provider_name":"`...)
		e.b = append(e.b, x.provider...)
		e.b = append(e.b, `"}}}`+"\n\n"...)
		e.mark(t + 200*time.Millisecond)
		return
	}
	e.b = append(e.b, `{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],"error":{"code":400,"message":`...)
	e.b = appendStr(e.b, msg)
	e.b = append(e.b, `},"usage":`...)
	e.b = mockupstream.AppendUsage(e.b, x.usage)
	e.b = append(e.b, "}\n\n"...)
	e.mark(t + 5*time.Millisecond)
	e.b = append(e.b, "data: [DONE]\n\n"...)
	e.mark(e.last + 100*time.Microsecond)
}

// padding is what OpenRouter sends ahead of a whole JSON answer while the
// model works, to keep the connection open.
const padding = "\n         \n         \n"

// jsonStart starts a whole JSON answer: padding, sent early, for some.
func (g *Generator) jsonStart(x *exchange) {
	g.ev.reset()
	if x.padded {
		g.ev.b = append(g.ev.b, padding...)
		g.ev.mark(x.ttfb)
	}
}

// jsonEnd ends a whole JSON answer, arriving once generation is done.
func (g *Generator) jsonEnd(x *exchange) {
	g.ev.mark(x.first + x.after(len(x.reply)+len(x.reason)))
}

// chatJSON builds a chat completion that was not streamed.
func (g *Generator) chatJSON(x *exchange) {
	g.jsonStart(x)
	e := &g.ev
	if x.out == outMidstream {
		// Generation failed after the status was sent: 200 and an error.
		e.b = append(e.b, `{"error":{"code":502,"message":"Provider returned error","metadata":{"raw":`...)
		e.b = appendStr(e.b, midstreamMessages[x.variant%len(midstreamMessages)])
		e.b = append(e.b, `,"provider_name":"`...)
		e.b = append(e.b, x.provider...)
		e.b = append(e.b, `"}}}`...)
		g.jsonEnd(x)
		return
	}
	e.b = append(e.b, `{"id":"`...)
	e.b = append(e.b, x.genID...)
	e.b = append(e.b, `","provider":"`...)
	e.b = append(e.b, x.provider...)
	e.b = append(e.b, `","model":"`...)
	e.b = append(e.b, x.m.served...)
	e.b = append(e.b, `","object":"chat.completion","created":`...)
	e.b = strconv.AppendInt(e.b, x.created, 10)
	e.b = append(e.b, `,"choices":[{"logprobs":null,"finish_reason":"stop","native_finish_reason":"`...)
	e.b = append(e.b, x.m.native...)
	e.b = append(e.b, `","index":0,"message":{"role":"assistant","content":`...)
	e.b = appendStr(e.b, x.reply)
	e.b = append(e.b, `,"refusal":null,"reasoning":`...)
	if len(x.reason) > 0 {
		e.b = appendStr(e.b, x.reason)
	} else {
		e.b = append(e.b, "null"...)
	}
	e.b = append(e.b, `}}],"usage":`...)
	e.b = mockupstream.AppendUsage(e.b, x.usage)
	e.b = append(e.b, '}')
	g.jsonEnd(x)
}

// responsesUsage appends the usage of a Responses API answer.
func responsesUsage(b []byte, x *exchange) []byte {
	u := x.usage
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(u.Prompt), 10)
	b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, int64(u.Cached), 10)
	b = append(b, `},"output_tokens":`...)
	b = strconv.AppendInt(b, int64(u.Completion), 10)
	b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, int64(u.Reasoning), 10)
	b = append(b, `},"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.Prompt+u.Completion), 10)
	b = append(b, `,"cost":`...)
	b = strconv.AppendFloat(b, float64(u.CostNano)/1e9, 'f', -1, 64)
	return append(b, '}')
}

// responseObject appends a Responses API response object, leaving it open;
// the output only when done.
func responseObject(b []byte, x *exchange, status string, done bool) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, x.genID...)
	b = append(b, `","object":"response","created_at":`...)
	b = strconv.AppendInt(b, x.created, 10)
	b = append(b, `,"model":"`...)
	b = append(b, x.m.served...)
	b = append(b, `","status":"`...)
	b = append(b, status...)
	b = append(b, `","output":[`...)
	if done {
		b = append(b, `{"type":"message","id":"`...)
		b = append(b, x.msgID...)
		b = append(b, `","status":"completed","role":"assistant","content":[{"type":"output_text","text":`...)
		b = appendStr(b, x.reply)
		b = append(b, `,"annotations":[]}]}],"usage":`...)
		return responsesUsage(b, x)
	}
	return append(b, `],"usage":null`...)
}

// responsesStream builds a streamed Responses API answer.
func (g *Generator) responsesStream(x *exchange) {
	e := &g.ev
	e.reset()
	e.b = append(e.b, processing...)
	e.mark(x.ttfb)
	seq := 0
	event := func(typ string) {
		e.b = append(e.b, `data: {"type":"`...)
		e.b = append(e.b, typ...)
		e.b = append(e.b, `","sequence_number":`...)
		e.b = strconv.AppendInt(e.b, int64(seq), 10)
		seq++
	}
	event("response.created")
	e.b = append(e.b, `,"response":`...)
	e.b = responseObject(e.b, x, "in_progress", false)
	e.b = append(e.b, "}}\n\n"...)
	e.mark(x.ttfb + 20*time.Millisecond)
	event("response.output_item.added")
	e.b = append(e.b, `,"output_index":0,"item":{"type":"message","id":"`...)
	e.b = append(e.b, x.msgID...)
	e.b = append(e.b, `","status":"in_progress","role":"assistant","content":[]}}`+"\n\n"...)
	e.mark(x.first - 2*time.Millisecond)
	t := x.first
	for k := 0; k <= len(x.cuts); k++ {
		if x.out == outMidstream && k == x.errAt {
			event("response.failed")
			e.b = append(e.b, `,"response":{"id":"`...)
			e.b = append(e.b, x.genID...)
			e.b = append(e.b, `","object":"response","status":"failed","error":{"code":"server_error","message":`...)
			e.b = appendStr(e.b, midstreamMessages[x.variant%len(midstreamMessages)])
			e.b = append(e.b, `},"usage":null}}`+"\n\n"...)
			e.mark(t + 100*time.Millisecond)
			return
		}
		if k == len(x.cuts) {
			break
		}
		piece := x.reply[x.cutAt(k):x.cuts[k]]
		event("response.output_text.delta")
		e.b = append(e.b, `,"item_id":"`...)
		e.b = append(e.b, x.msgID...)
		e.b = append(e.b, `","output_index":0,"content_index":0,"delta":`...)
		e.b = appendStr(e.b, piece)
		e.b = append(e.b, "}\n\n"...)
		e.mark(t)
		t += x.after(len(piece))
	}
	event("response.completed")
	e.b = append(e.b, `,"response":`...)
	e.b = responseObject(e.b, x, "completed", true)
	e.b = append(e.b, "}}\n\n"...)
	e.mark(t)
	e.b = append(e.b, "data: [DONE]\n\n"...)
	e.mark(e.last + 100*time.Microsecond)
}

// responsesJSON builds a Responses API answer that was not streamed.
func (g *Generator) responsesJSON(x *exchange) {
	g.jsonStart(x)
	if x.out == outMidstream {
		g.ev.b = append(g.ev.b, `{"error":{"code":502,"message":`...)
		g.ev.b = appendStr(g.ev.b, midstreamMessages[x.variant%len(midstreamMessages)])
		g.ev.b = append(g.ev.b, `}}`...)
	} else {
		g.ev.b = append(responseObject(g.ev.b, x, "completed", true), '}')
	}
	g.jsonEnd(x)
}

// anthropicUsage appends Anthropic's usage: input_tokens leaves the cached
// part out, which cache_read_input_tokens reports.
func anthropicUsage(b []byte, x *exchange, output int) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(x.usage.Prompt-x.usage.Cached), 10)
	b = append(b, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":`...)
	b = strconv.AppendInt(b, int64(x.usage.Cached), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(output), 10)
	return append(b, '}')
}

// messagesStream builds a streamed Anthropic Messages answer.
func (g *Generator) messagesStream(x *exchange) {
	e := &g.ev
	e.reset()
	e.b = append(e.b, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\""...)
	e.b = append(e.b, x.genID...)
	e.b = append(e.b, `","type":"message","role":"assistant","model":"`...)
	e.b = append(e.b, x.m.served...)
	e.b = append(e.b, `","content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	e.b = anthropicUsage(e.b, x, 1)
	e.b = append(e.b, "}}\n\n"...)
	e.mark(x.ttfb)
	e.b = append(e.b, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"...)
	e.mark(x.first - 3*time.Millisecond)
	e.b = append(e.b, "event: ping\ndata: {\"type\":\"ping\"}\n\n"...)
	e.mark(x.first - 2*time.Millisecond)
	t := x.first
	for k := 0; k <= len(x.cuts); k++ {
		if x.out == outMidstream && k == x.errAt {
			e.b = append(e.b, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"...)
			e.mark(t + 100*time.Millisecond)
			return
		}
		if k == len(x.cuts) {
			break
		}
		piece := x.reply[x.cutAt(k):x.cuts[k]]
		e.b = append(e.b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":"...)
		e.b = appendStr(e.b, piece)
		e.b = append(e.b, "}}\n\n"...)
		e.mark(t)
		t += x.after(len(piece))
	}
	e.b = append(e.b, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"...)
	e.mark(t)
	e.b = append(e.b, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":"...)
	e.b = strconv.AppendInt(e.b, int64(x.usage.Completion), 10)
	e.b = append(e.b, "}}\n\n"...)
	e.mark(t + time.Millisecond)
	e.b = append(e.b, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
	e.mark(e.last + 100*time.Microsecond)
}

// messagesJSON builds an Anthropic Messages answer that was not streamed.
func (g *Generator) messagesJSON(x *exchange) {
	g.jsonStart(x)
	e := &g.ev
	if x.out == outMidstream {
		e.b = append(e.b, `{"type":"error","error":{"type":"api_error","message":`...)
		e.b = appendStr(e.b, midstreamMessages[x.variant%len(midstreamMessages)])
		e.b = append(e.b, `}}`...)
		g.jsonEnd(x)
		return
	}
	e.b = append(e.b, `{"id":"`...)
	e.b = append(e.b, x.genID...)
	e.b = append(e.b, `","type":"message","role":"assistant","model":"`...)
	e.b = append(e.b, x.m.served...)
	e.b = append(e.b, `","content":[{"type":"text","text":`...)
	e.b = appendStr(e.b, x.reply)
	e.b = append(e.b, `}],"stop_reason":"end_turn","stop_sequence":null,"usage":`...)
	e.b = anthropicUsage(e.b, x, x.usage.Completion)
	e.b = append(e.b, '}')
	g.jsonEnd(x)
}

// upstreamError builds the error answer of a failed status: OpenRouter's
// {"error":{"code","message","metadata"}} in the forms it takes for a rate
// limit, a bad request and a failed provider.
func (g *Generator) upstreamError(x *exchange, status int) {
	e := &g.ev
	e.reset()
	b := e.b
	switch {
	case status == http.StatusTooManyRequests && x.variant%2 == 0:
		b = append(b, `{"error":{"message":"Provider returned error","code":429,"metadata":{"raw":`...)
		b = appendStr(b, x.m.id+" is temporarily rate-limited upstream. Please retry shortly, or add your own key to accumulate your rate limits: https://openrouter.ai/settings/integrations")
		b = append(b, `,"provider_name":"`...)
		b = append(b, x.provider...)
		b = append(b, `"}}`...)
	case status == http.StatusTooManyRequests:
		b = append(b, `{"error":{"message":"Rate limit exceeded: limit_rpm/`...)
		b = append(b, x.m.id...)
		b = append(b, `","code":429,"metadata":{"headers":{"X-RateLimit-Limit":"200","X-RateLimit-Remaining":"0","X-RateLimit-Reset":"`...)
		b = strconv.AppendInt(b, (x.created+60)*1000, 10)
		b = append(b, `"},"provider_name":null}}`...)
	case status == http.StatusBadRequest && x.variant%2 == 0:
		b = append(b, `{"error":{"message":"This endpoint's maximum context length is `...)
		b = strconv.AppendInt(b, int64(x.m.context), 10)
		b = append(b, ` tokens. However, you requested about `...)
		b = strconv.AppendInt(b, int64(x.m.context+1000+x.variant*37), 10)
		b = append(b, ` tokens. Please reduce the length of either one, or use the \"middle-out\" transform to compress your prompt automatically.","code":400,"metadata":{"provider_name":null}}`...)
	case status == http.StatusBadRequest:
		b = append(b, `{"error":{"message":"Provider returned error","code":400,"metadata":{"raw":"{\"error\":{\"message\":\"Invalid value for 'temperature': must be between 0 and 2.\",\"type\":\"invalid_request_error\"}}","provider_name":"`...)
		b = append(b, x.provider...)
		b = append(b, `"}}`...)
	default:
		b = append(b, `{"error":{"message":"Provider returned error","code":502,"metadata":{"raw":"upstream connect error or disconnect/reset before headers. reset reason: connection termination","provider_name":"`...)
		b = append(b, x.provider...)
		b = append(b, `"}}`...)
	}
	b = append(b, `,"user_id":"user_`...)
	b = append(b, x.cl.key.Hash[:27]...)
	b = append(b, `"}`...)
	e.b = b
	e.mark(x.ttfb)
}
