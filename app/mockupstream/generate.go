package mockupstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// kind tells the two generation endpoints apart; they share scenarios,
// usage and streaming, and differ only in the shape of a choice.
type kind int

const (
	kindChat kind = iota // /chat/completions: choices[].message / delta
	kindText             // /completions: choices[].text
)

const (
	// replyPrefix starts every reply; tests match on it.
	replyPrefix = "Hello from the mock! You said: "
	// maxEchoRunes caps how much of the user's text the reply repeats, so a
	// huge prompt does not make a huge answer.
	maxEchoRunes = 120
	// defaultModel answers requests that name no model.
	defaultModel = "openai/gpt-4o-mini"
	// maxBody bounds request bodies the mock parses; /sink and /echo have
	// their own rules.
	maxBody = 32 << 20
	// maxChunks bounds X-Mock-Chunks so a typo cannot stream for hours.
	maxChunks = 1_000_000
)

// The mock charges every model gpt-4o-mini's price, in nano-dollars per
// token. Integer arithmetic keeps costs exact decimals (0.0000105, not
// 0.000010500000000000001), so tests can compare them.
const (
	promptNanoUSD     = 150
	completionNanoUSD = 600
)

// reasoningParts is what reasoning models "think", one stream chunk each.
var reasoningParts = [...]string{
	"The user sent a message. ",
	"A friendly greeting that repeats it ",
	"is the right answer.",
}

// reasoningText is reasoningParts joined, for non-streamed answers.
var reasoningText = strings.Join(reasoningParts[:], "")

// toolArgParts are the tool-call arguments, split the way providers split
// them: mid-token, so a consumer must join before parsing.
var toolArgParts = [...]string{`{"city"`, `:"Par`, `is"}`}

// toolArgs is toolArgParts joined.
var toolArgs = strings.Join(toolArgParts[:], "")

// genRequest is the part of a chat or text completion request the mock
// reads. Unknown fields are ignored, as OpenRouter passes them on.
type genRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Prompt json.RawMessage `json:"prompt"`
	Stream bool            `json:"stream"`
	Tools  []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

// generation is everything needed to write one answer.
type generation struct {
	kind      kind
	id        string
	created   int64
	model     string
	reply     string
	reasoning bool   // the model "thinks" first
	tool      string // name of the tool to call; "" answers with text
	prompt    int    // prompt tokens
	chunks    int    // content chunks to stream; 0 means one per word
	delay     time.Duration
	midstream bool // fail after two content chunks
}

// generate serves /chat/completions and /completions.
func (m *Mock) generate(x *exchange, k kind) {
	buf := getBuf()
	defer putBuf(buf)
	// Reading the body to EOF also matters for cancellation: net/http only
	// notices a client hanging up (and cancels the context) once the body
	// has been consumed.
	if !x.readBody(buf, maxBody) {
		return
	}
	var req genRequest
	if err := json.Unmarshal(*buf, &req); err != nil {
		x.fail(http.StatusBadRequest, "Invalid JSON body: "+err.Error(), false)
		return
	}

	r := x.r
	scenario := r.Header.Get("X-Mock-Scenario")
	if s, ok := strings.CutPrefix(req.Model, "mock/"); ok && scenario == "" {
		scenario = s
	}
	x.scenario = scenario

	g := generation{kind: k, model: req.Model}
	switch scenario {
	case "":
	case scenarioSlow:
		g.delay = m.delay(r)
	case scenarioMidstreamError:
		g.midstream = true
	case scenarioError:
		status, ok := headerInt(r, "X-Mock-Status")
		if !ok || status < 400 || status > 599 {
			status = http.StatusBadRequest
		}
		x.failProvider(status)
		return
	case scenarioHang:
		<-r.Context().Done()
		x.aborted = true
		return
	case scenarioFlaky:
		failTimes, ok := headerInt(r, "X-Mock-Fail-Times")
		if !ok {
			failTimes = 1
		}
		if m.flakyShouldFail(x.key, failTimes) {
			x.failProvider(http.StatusServiceUnavailable)
			return
		}
	case scenarioSlowFirst:
		if !x.pause(m.delay(r)) {
			return
		}
	default:
		if fault := faults[scenario]; fault != nil {
			fault(x)
			return
		}
		x.fail(http.StatusBadRequest, "Unknown mock scenario: "+scenario, false)
		return
	}

	if g.model == "" {
		g.model = defaultModel
	}
	g.id = randomID("gen-", 20)
	g.created = time.Now().Unix()
	if n, ok := headerInt(r, "X-Mock-Chunks"); ok && n > 0 {
		g.chunks = min(n, maxChunks)
	}
	var said string
	if k == kindChat {
		said, g.prompt = chatText(&req)
		g.reasoning = isReasoningModel(g.model)
		if len(req.Tools) > 0 {
			g.tool = req.Tools[0].Function.Name
			if g.tool == "" {
				g.tool = "tool"
			}
		}
	} else {
		said = promptText(req.Prompt)
		g.prompt = tokens(len(said))
	}
	g.reply = replyPrefix + firstRunes(said, maxEchoRunes)

	if req.Stream {
		x.stream(&g)
		return
	}
	if g.delay > 0 && !x.pause(g.delay) {
		return
	}
	x.respond(&g)
}

// readBody reads the whole request body, at most limit bytes, into buf,
// answering an error itself when it cannot.
func (x *exchange) readBody(buf *[]byte, limit int64) bool {
	body := http.MaxBytesReader(x.w, x.r.Body, limit)
	b := *buf
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*buf = b
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				x.fail(http.StatusRequestEntityTooLarge, "Request body too large", false)
			} else if !x.alive(x.r.Context()) {
				// The client is gone; there is no one to answer.
			} else {
				x.fail(http.StatusBadRequest, "Cannot read request body: "+err.Error(), false)
			}
			return false
		}
	}
	*buf = b
	return true
}

// failProvider answers an "upstream provider" error, with the Retry-After
// the request asked for, if any.
func (x *exchange) failProvider(status int) {
	if ra := x.r.Header.Get("X-Mock-Retry-After"); ra != "" {
		x.w.Header().Set("Retry-After", ra)
	}
	x.fail(status, "Mock error "+strconv.Itoa(status), true)
}

// chatText returns the text of the last user message and the prompt token
// count of all messages.
func chatText(req *genRequest) (said string, promptTokens int) {
	n := 0
	for i := range req.Messages {
		msg := &req.Messages[i]
		text := contentText(msg.Content)
		n += len(text)
		if msg.Role == "user" {
			said = text
		}
	}
	return said, tokens(n)
}

// contentText extracts the text of a message's content, which may be a
// string or an array of parts such as {"type":"text","text":"..."}.
func contentText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		// Most contents are plain strings without escapes; slicing them
		// avoids a second decode.
		if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 {
			return string(raw[1 : len(raw)-1])
		}
		var s string
		_ = json.Unmarshal(raw, &s)
		return s
	case '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		_ = json.Unmarshal(raw, &parts)
		var sb strings.Builder
		for _, p := range parts {
			if p.Type != "text" {
				continue
			}
			if sb.Len() > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(p.Text)
		}
		return sb.String()
	}
	return ""
}

// promptText extracts a legacy completion prompt: a string, or the first of
// an array of strings. Token-array prompts have no text to repeat.
func promptText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil && len(ss) > 0 {
		return ss[0]
	}
	return ""
}

// isReasoningModel guesses from the name, as the demo and tests need no
// more: "deepseek/deepseek-r1", "...:thinking", "o4-mini-reasoning".
func isReasoningModel(model string) bool {
	m := strings.ToLower(model)
	return strings.Contains(m, "reason") || strings.Contains(m, "think") || strings.Contains(m, "r1")
}

// firstRunes returns the first n runes of s.
func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// tokens is the mock's tokenizer: one token per four bytes, rounded up.
// It only has to be deterministic, so tests can predict usage.
func tokens(n int) int { return (n + 3) / 4 }

const alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomID returns prefix followed by n random letters and digits.
// math/rand/v2's top-level functions use per-thread state, so concurrent
// requests do not contend on a lock here.
func randomID(prefix string, n int) string {
	b := make([]byte, len(prefix)+n)
	copy(b, prefix)
	for i := len(prefix); i < len(b); i++ {
		b[i] = alnum[rand.IntN(len(alnum))]
	}
	return string(b)
}

// usage is a generation's token accounting.
type usage struct {
	prompt, completion, reasoning int
}

// appendUsage appends OpenRouter's usage object, cost included.
func appendUsage(b []byte, u usage) []byte {
	cost := float64(u.prompt*promptNanoUSD+u.completion*completionNanoUSD) / 1e9
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(u.prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(u.completion), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(u.prompt+u.completion), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, int64(u.reasoning), 10)
	b = append(b, `},"cost":`...)
	b = appendFloat(b, cost)
	b = append(b, `,"is_byok":false,"cost_details":{"upstream_inference_cost":`...)
	b = appendFloat(b, cost)
	return append(b, `}}`...)
}

// appendHead appends the fields every body and chunk of g starts with,
// leaving the object open for the rest.
func appendHead(b []byte, g *generation, object string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, g.id)
	b = append(b, `,"object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, g.created, 10)
	b = append(b, `,"model":`...)
	b = appendString(b, g.model)
	return append(b, `,"provider":"Mock",`...)
}

// respond writes a non-streamed answer.
func (x *exchange) respond(g *generation) {
	buf := getBuf()
	defer putBuf(buf)
	b := *buf
	if g.midstream {
		// After generation has started OpenRouter can no longer change the
		// status, so a failure arrives as an error body with status 200.
		b = appendError(b, http.StatusBadGateway, midstreamMessage, true)
		*buf = b
		x.w.Header().Set("X-Generation-Id", g.id)
		x.writeJSON(http.StatusOK, b)
		return
	}

	u := usage{prompt: g.prompt}
	if g.kind == kindText {
		b = appendHead(b, g, "text_completion")
		b = append(b, `"choices":[{"index":0,"text":`...)
		b = appendString(b, g.reply)
		b = append(b, `,"finish_reason":"stop","logprobs":null}],"usage":`...)
		u.completion = tokens(len(g.reply))
	} else {
		b = appendHead(b, g, "chat.completion")
		b = append(b, `"choices":[{"index":0,"logprobs":null,"message":{"role":"assistant",`...)
		if g.tool != "" {
			b = append(b, `"content":null,"tool_calls":[{"id":`...)
			b = appendString(b, randomID("call_", 24))
			b = append(b, `,"type":"function","function":{"name":`...)
			b = appendString(b, g.tool)
			b = append(b, `,"arguments":`...)
			b = appendString(b, toolArgs)
			b = append(b, `}}]`...)
			u.completion = tokens(len(toolArgs))
		} else {
			b = append(b, `"content":`...)
			b = appendString(b, g.reply)
			u.completion = tokens(len(g.reply))
		}
		if g.reasoning {
			b = append(b, `,"reasoning":`...)
			b = appendString(b, reasoningText)
			u.reasoning = tokens(len(reasoningText))
			u.completion += u.reasoning
		}
		finish := "stop"
		if g.tool != "" {
			finish = "tool_calls"
		}
		b = append(b, `},"finish_reason":"`...)
		b = append(b, finish...)
		b = append(b, `","native_finish_reason":"`...)
		b = append(b, finish...)
		b = append(b, `"}],"usage":`...)
	}
	b = appendUsage(b, u)
	b = append(b, '}')
	*buf = b
	x.w.Header().Set("X-Generation-Id", g.id)
	x.writeJSON(http.StatusOK, b)
}

// midstreamMessage is the error the midstream-error scenario reports.
const midstreamMessage = "Mock provider disconnected mid-stream"
