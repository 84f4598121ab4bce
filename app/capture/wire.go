package capture

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// The types below are the union of the JSON shapes the proxy reads: chat and
// legacy completions (OpenAI/OpenRouter), the Responses API and Anthropic
// messages, each as a whole body and as stream events. One struct per level
// keeps decoding to a single json.Unmarshal per event, without building
// map[string]any trees. Fields that differ in type between APIs are kept as
// json.RawMessage and read once the event's type is known.

// event is a stream event or a whole response body.
type event struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Model string `json:"model"`
	// Provider is who served the request behind OpenRouter ("OpenAI").
	Provider string          `json:"provider"`
	Choices  []choice        `json:"choices"`
	Usage    *usage          `json:"usage"`
	Error    json.RawMessage `json:"error"`

	// Responses API.
	Delta             json.RawMessage `json:"delta"` // a string here, an object for Anthropic
	OutputIndex       *int            `json:"output_index"`
	Item              *block          `json:"item"`
	Response          *event          `json:"response"`
	Output            []block         `json:"output"`
	Status            string          `json:"status"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Code json.RawMessage `json:"code"` // of a Responses "error" event

	// Anthropic messages.
	Message      json.RawMessage `json:"message"` // an object for Anthropic, a string in a Responses "error" event
	Index        *int            `json:"index"`
	ContentBlock *block          `json:"content_block"`
	Content      []block         `json:"content"`
	StopReason   string          `json:"stop_reason"`
}

// choice is one element of a chat or legacy completion's choices.
type choice struct {
	Index        *int     `json:"index"`
	Delta        *message `json:"delta"`
	Message      *message `json:"message"`
	Text         text     `json:"text"`
	FinishReason string   `json:"finish_reason"`
}

// message is a chat message or a stream delta.
type message struct {
	Content          text              `json:"content"`
	Reasoning        text              `json:"reasoning"`
	ReasoningContent text              `json:"reasoning_content"` // DeepSeek-style providers
	ReasoningDetails []reasoningDetail `json:"reasoning_details"`
	ToolCalls        []toolCallPiece   `json:"tool_calls"`
}

// reasoningDetail is one of OpenRouter's structured reasoning entries.
type reasoningDetail struct {
	Type    string `json:"type"`
	Text    string `json:"text"`
	Summary string `json:"summary"`
}

// toolCallPiece is a whole tool call, or a streamed piece of one.
type toolCallPiece struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string   `json:"name"`
		Arguments jsonText `json:"arguments"`
	} `json:"function"`
}

// block is a Responses output item or content part, or an Anthropic
// content block.
type block struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Text      text            `json:"text"`
	Thinking  text            `json:"thinking"`
	Arguments jsonText        `json:"arguments"`
	Input     json.RawMessage `json:"input"`
	Content   []block         `json:"content"`
	Summary   []block         `json:"summary"`
}

// anthropicDelta is the delta of an Anthropic content_block_delta or
// message_delta event.
type anthropicDelta struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Thinking    string `json:"thinking"`
	PartialJSON string `json:"partial_json"`
	StopReason  string `json:"stop_reason"`
}

// usage is a usage object in any of the APIs' spellings. Pointers tell a
// missing count from a zero one.
type usage struct {
	PromptTokens            *int64        `json:"prompt_tokens"`
	CompletionTokens        *int64        `json:"completion_tokens"`
	TotalTokens             *int64        `json:"total_tokens"`
	PromptTokensDetails     *tokenDetails `json:"prompt_tokens_details"`
	CompletionTokensDetails *tokenDetails `json:"completion_tokens_details"`
	Cost                    *float64      `json:"cost"`
	CostDetails             *struct {
		UpstreamInferenceCost *float64 `json:"upstream_inference_cost"`
	} `json:"cost_details"`

	// Responses API and Anthropic.
	InputTokens         *int64        `json:"input_tokens"`
	OutputTokens        *int64        `json:"output_tokens"`
	InputTokensDetails  *tokenDetails `json:"input_tokens_details"`
	OutputTokensDetails *tokenDetails `json:"output_tokens_details"`

	// Anthropic only: its input_tokens leaves these out.
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
}

// tokenDetails is a *_tokens_details object.
type tokenDetails struct {
	CachedTokens    *int64 `json:"cached_tokens"`
	ReasoningTokens *int64 `json:"reasoning_tokens"`
}

// decodeJSON unmarshals data into v. A value of an unexpected type (a
// number where a string was expected) only skips that field: encoding/json
// fills the rest and reports an UnmarshalTypeError, which is not a reason
// to drop the whole event.
func decodeJSON(data []byte, v any) bool {
	err := json.Unmarshal(data, v)
	var te *json.UnmarshalTypeError
	return err == nil || errors.As(err, &te)
}

// text is a JSON string, or an array of content parts whose "text" fields
// are joined; any other value reads as "". It never fails, so one odd
// content value does not cost the rest of the event.
type text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *text) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
	case b[0] == '"':
		*t = text(jsonString(b))
	case b[0] == '[':
		var parts []struct {
			Text string `json:"text"`
		}
		decodeJSON(b, &parts)
		var s []byte
		for _, p := range parts {
			s = append(s, p.Text...)
		}
		*t = text(s)
	}
	return nil
}

// jsonText is a JSON string, or the compact JSON text of any other value
// but null: tool-call arguments are a string in OpenAI's API, but some
// providers send an object.
type jsonText string

// UnmarshalJSON implements json.Unmarshaler.
func (t *jsonText) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0 || string(b) == "null":
	case b[0] == '"':
		*t = jsonText(jsonString(b))
	default:
		*t = jsonText(compactJSON(b))
	}
	return nil
}

// jsonString returns the string a valid JSON string literal b stands for.
// Most literals have no escapes, and those are sliced instead of decoded.
func jsonString(b []byte) string {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		inner := b[1 : len(b)-1]
		if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
			return string(inner)
		}
	}
	var s string
	if json.Unmarshal(b, &s) != nil {
		return ""
	}
	return s
}

// rawString returns raw as a string if it is a JSON string, else "".
func rawString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return ""
	}
	return jsonString(raw)
}

// compactJSON returns valid JSON b without insignificant space.
func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

// apiError is an error object from a body or a stream event.
type apiError struct {
	Code    string // numeric status or symbolic code; may be empty
	Message string
}

// String returns "code: message", or whichever of the two is set.
func (e *apiError) String() string {
	switch {
	case e.Code != "" && e.Message != "":
		return e.Code + ": " + e.Message
	case e.Message != "":
		return e.Message
	default:
		return e.Code
	}
}

// maxRawError bounds the raw JSON kept as the text of an error object that
// has neither code nor message.
const maxRawError = 500

// parseAPIError reads an "error" value: OpenRouter's {code, message,
// metadata}, OpenAI's {type, code, message}, Anthropic's {type, message},
// or a bare string. It returns nil when raw holds no error (absent, null,
// false, or an empty object).
func parseAPIError(raw json.RawMessage) *apiError {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '"':
		if s := jsonString(raw); s != "" {
			return &apiError{Message: s}
		}
		return nil
	case '{':
	default:
		return nil
	}
	var e struct {
		Code    json.RawMessage `json:"code"`
		Message text            `json:"message"`
		Type    string          `json:"type"`
	}
	if !decodeJSON(raw, &e) {
		return nil
	}
	ae := &apiError{Code: codeString(e.Code), Message: string(e.Message)}
	if ae.Code == "" {
		ae.Code = e.Type
	}
	if ae.Code == "" && ae.Message == "" {
		s := compactJSON(raw)
		if s == "{}" {
			return nil
		}
		if len(s) > maxRawError {
			s = strings.ToValidUTF8(s[:maxRawError], "") + ellipsis
		}
		ae.Message = s
	}
	return ae
}

// codeString returns an error code that is a JSON number or string as text.
func codeString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return ""
	case raw[0] == '"':
		return jsonString(raw)
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		return string(raw)
	}
	return ""
}

// scanObject calls fn with each top-level key and value of the JSON object
// at the start of b, in order, until fn returns false or the input ends or
// breaks. It works on a body cut short, which json.Unmarshal rejects whole.
func scanObject(b []byte, fn func(key string, val json.RawMessage) bool) {
	if trimmed := bytes.TrimLeft(b, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		key, ok := tok.(string)
		if !ok {
			return
		}
		var val json.RawMessage
		if dec.Decode(&val) != nil {
			return
		}
		if !fn(key, val) {
			return
		}
	}
}

// maxUsageProbes bounds the `"usage"` candidates tried in a tail, so that a
// body full of the word cannot make analysis slow.
const maxUsageProbes = 8

// lastUsage finds the last `"usage": {...}` object in b that decodes. It
// reads the usage of a whole-JSON answer too long to keep whole: OpenAI and
// OpenRouter put usage at the end of the body, which lands in the tail.
// A match inside a JSON string is preceded by a backslash and is skipped.
func lastUsage(b []byte) *usage {
	key := []byte(`"usage"`)
	end := len(b)
	for range maxUsageProbes {
		i := bytes.LastIndex(b[:end], key)
		if i < 0 {
			return nil
		}
		end = i
		if i > 0 && b[i-1] == '\\' {
			continue
		}
		rest := bytes.TrimLeft(b[i+len(key):], " \t\r\n")
		if len(rest) == 0 || rest[0] != ':' {
			continue
		}
		rest = bytes.TrimLeft(rest[1:], " \t\r\n")
		if len(rest) == 0 || rest[0] != '{' {
			continue
		}
		var u usage
		err := json.NewDecoder(bytes.NewReader(rest)).Decode(&u)
		var te *json.UnmarshalTypeError
		if err == nil || errors.As(err, &te) {
			return &u
		}
	}
	return nil
}
