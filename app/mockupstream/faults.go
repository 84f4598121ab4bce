package mockupstream

import (
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The fault scenarios make the mock misbehave the way a broken upstream or
// network does, so that tests (and anyone running `mock-upstream`) can see
// what the proxy tells the client and what it records. They apply to
// /chat/completions and /completions and ignore the request's stream flag:
// each fault has one fixed shape.
const (
	// scenarioReset streams X-Mock-Chunks content chunks (default 3), waits
	// X-Mock-Delay-Ms (default none), then resets the TCP connection (RST).
	scenarioReset = "reset"
	// scenarioHangup is scenarioReset with an orderly close (FIN) instead of
	// a reset: the chunked body just stops, without its last chunk.
	scenarioHangup = "hangup"
	// scenarioShortBody answers JSON whose Content-Length declares the whole
	// body, sends only the first half, and closes the connection.
	scenarioShortBody = "short-body"
	// scenarioMalformedSSE streams MalformedSSE: valid events mixed with
	// garbage lines and broken JSON.
	scenarioMalformedSSE = "malformed-sse"
	// scenarioBigLine streams one content event whose single data line
	// holds X-Mock-Size bytes of content (default 10 MiB), then a usage
	// chunk and [DONE].
	scenarioBigLine = "big-line"
	// scenarioGzipBomb answers a small gzip body (Content-Encoding: gzip)
	// that inflates to X-Mock-Size bytes (default 1 GiB); see WriteGzipBomb.
	scenarioGzipBomb = "gzip-bomb"
)

// faults maps the fault scenarios to their handlers.
var faults = map[string]func(x *exchange){
	scenarioReset:        func(x *exchange) { x.cutStream(true) },
	scenarioHangup:       func(x *exchange) { x.cutStream(false) },
	scenarioShortBody:    (*exchange).shortBody,
	scenarioMalformedSSE: (*exchange).malformedSSE,
	scenarioBigLine:      (*exchange).bigLine,
	scenarioGzipBomb:     (*exchange).gzipBomb,
}

// Default sizes of the big-line and gzip-bomb scenarios.
const (
	defaultBigLine  = 10 << 20
	defaultGzipBomb = 1 << 30
)

// MalformedSSE is the exact body of the malformed-sse scenario. Read as the
// event-stream format defines it, its events carry the content
// "kept joined also kept" and finish_reason "stop"; everything else is
// noise a consumer must survive: a line without a field, JSON cut off
// mid-string, data that is not JSON, a choices value of the wrong type,
// unknown fields, bytes that are not UTF-8, and CRLF line ends.
var MalformedSSE = []byte(": OPENROUTER PROCESSING\n\n" +
	`data: {"id":"gen-malformed","object":"chat.completion.chunk","model":"mock/malformed-sse","choices":[{"index":0,"delta":{"role":"assistant","content":"kept "},"finish_reason":null}]}` + "\n\n" +
	"this line has no field name\n\n" +
	`data: {"id":"gen-malformed","choices":[{"index":0,"delta":{"content":"lost` + "\n\n" +
	"data: not json at all\n\n" +
	`data: {"choices":17}` + "\n\n" +
	"event: mystery\nid: 42\nretry: soon\n\n" +
	"\xff\xfe\x00 binary garbage \x80\n\n" +
	`data: {"id":"gen-malformed","choices":[{"index":0,` + "\n" + `data: "delta":{"content":"joined "},"finish_reason":null}]}` + "\n\n" +
	`data: {"id":"gen-malformed","choices":[{"index":0,"delta":{"content":"also kept"},"finish_reason":"stop"}]}` + "\r\n\r\n" +
	"data: [DONE]\n\n")

// faultChunk is one content chunk of the reset and hangup scenarios.
func faultChunk(b []byte, model string, i int) []byte {
	b = append(b, `data: {"id":"gen-fault","object":"chat.completion.chunk","model":`...)
	b = appendString(b, model)
	b = append(b, `,"choices":[{"index":0,"delta":{"content":"part `...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, ` "},"finish_reason":null}]}`+"\n\n"...)
}

// startStream sends the headers of an event stream.
func (x *exchange) startStream() {
	h := x.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	x.writeHeader(http.StatusOK)
}

// cutStream streams a few chunks, then breaks the connection: with a reset
// when rst is set, else with an orderly close.
func (x *exchange) cutStream(rst bool) {
	n, ok := headerInt(x.r, "X-Mock-Chunks")
	if !ok || n < 0 {
		n = 3
	}
	x.startStream()
	b := append([]byte(nil), processingEvent...)
	for i := range n {
		b = faultChunk(b, "mock/"+x.scenario, i+1)
	}
	if !x.write(b) || !x.flush() {
		return
	}
	if ms, ok := headerInt(x.r, "X-Mock-Delay-Ms"); ok && ms > 0 && !x.pause(time.Duration(ms)*time.Millisecond) {
		return
	}
	x.breakConn(rst)
}

// shortBody declares a longer body than it sends, then hangs up.
func (x *exchange) shortBody() {
	g := generation{kind: kindChat, id: "gen-short-body", model: "mock/" + scenarioShortBody,
		reply: "This answer is cut off halfway through, though its length says otherwise."}
	body := appendHead(nil, &g, "chat.completion")
	body = append(body, `"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	body = appendString(body, g.reply)
	body = append(body, `},"finish_reason":"stop"}],"usage":`...)
	body = appendUsage(body, usage{prompt: 10, completion: tokens(len(g.reply))})
	body = append(body, '}')
	h := x.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	x.writeHeader(http.StatusOK)
	if x.write(body[:len(body)/2]) && x.flush() {
		x.breakConn(false)
	}
}

// malformedSSE streams MalformedSSE, flushing line by line so the proxy
// sees the garbage in separate reads too.
func (x *exchange) malformedSSE() {
	x.startStream()
	for line := range bytes.Lines(MalformedSSE) {
		if !x.write(line) || !x.flush() {
			return
		}
	}
}

// bigLine streams one event with a huge data line, written in pieces so
// the mock never holds it whole.
func (x *exchange) bigLine() {
	size, ok := headerInt(x.r, "X-Mock-Size")
	if !ok || size < 0 {
		size = defaultBigLine
	}
	x.startStream()
	model := "mock/" + scenarioBigLine
	head := []byte(`data: {"id":"gen-big-line","object":"chat.completion.chunk","model":"` + model + `","choices":[{"index":0,"delta":{"role":"assistant","content":"`)
	if !x.write(processingEvent) || !x.write(head) {
		return
	}
	piece := bytes.Repeat([]byte("0123456789abcdef"), 2048) // 32 KiB
	for left := size; left > 0; left -= len(piece) {
		if !x.write(piece[:min(left, len(piece))]) {
			return
		}
	}
	tail := []byte(`"},"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"gen-big-line","object":"chat.completion.chunk","model":"` + model + `","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}],"usage":`)
	tail = appendUsage(tail, usage{prompt: 10, completion: tokens(size)})
	tail = append(tail, "}\n\n"...)
	tail = append(tail, doneEvent...)
	if x.write(tail) {
		x.flush()
	}
}

// gzipBomb answers the compressed bomb with its exact Content-Length.
func (x *exchange) gzipBomb() {
	size, ok := headerInt(x.r, "X-Mock-Size")
	if !ok || size < 0 {
		size = defaultGzipBomb
	}
	var cw countWriter
	WriteGzipBomb(&cw, int64(size))
	h := x.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Encoding", "gzip")
	h.Set("Content-Length", strconv.FormatInt(cw.n, 10))
	x.writeHeader(http.StatusOK)
	if _, err := WriteGzipBomb(x.w, int64(size)); err != nil {
		x.aborted = true
	}
}

// Parts of the JSON object a gzip bomb inflates to.
const (
	bombPrefix = `{"id":"gen-gzip-bomb","object":"chat.completion","model":"mock/gzip-bomb","choices":[{"index":0,"message":{"role":"assistant","content":"`
	bombSuffix = `"},"finish_reason":"stop"}]}`
)

// bombBlock is one gzip member that inflates to 1 MiB of spaces; a bomb
// repeats it. It is built once: about 1 KiB of output.
var bombBlock = sync.OnceValue(func() []byte {
	return gzipMember(bytes.Repeat([]byte{' '}, 1<<20))
})

// WriteGzipBomb writes to w a gzip stream, about size/1000 bytes long, that
// inflates to exactly size bytes (at least the JSON framing's length): a
// chat completion whose content is spaces. It is a series of gzip members,
// as RFC 1952 allows, so the same 1 KiB member is written again and again
// and the bomb costs no compression time. The output depends on size only.
func WriteGzipBomb(w io.Writer, size int64) (int64, error) {
	var n int64
	write := func(b []byte) error {
		k, err := w.Write(b)
		n += int64(k)
		return err
	}
	if err := write(gzipMember([]byte(bombPrefix))); err != nil {
		return n, err
	}
	spaces := max(size-int64(len(bombPrefix)+len(bombSuffix)), 0)
	block := bombBlock()
	for ; spaces >= 1<<20; spaces -= 1 << 20 {
		if err := write(block); err != nil {
			return n, err
		}
	}
	if spaces > 0 {
		if err := write(gzipMember(bytes.Repeat([]byte{' '}, int(spaces)))); err != nil {
			return n, err
		}
	}
	return n, write(gzipMember([]byte(bombSuffix)))
}

// gzipMember compresses b into one complete gzip member.
func gzipMember(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// countWriter counts the bytes written to it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// breakConn ends the exchange by breaking the connection under the
// response: with a TCP reset when rst is set (SO_LINGER 0 discards what is
// unsent and sends RST), else with an orderly close. Either way the body
// stops short of what its framing promised.
func (x *exchange) breakConn(rst bool) {
	conn, _, err := x.rc.Hijack()
	if err != nil {
		// HTTP/2 cannot hijack; aborting the handler resets the stream.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok && rst {
		tc.SetLinger(0)
	}
	conn.Close()
}
