package capture_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// requestTextCases are request bodies of each API and what RequestText
// takes from them.
var requestTextCases = []struct {
	name string
	body string
	want capture.RequestTurns
}{
	// Chat completions.
	{"ChatFirstCall",
		`{"model":"m","messages":[{"role":"system","content":"Be terse."},{"role":"user","content":"Hello there"}]}`,
		capture.RequestTurns{System: "Be terse.", New: "Hello there"}},
	{"ChatDeveloper",
		`{"messages":[{"role":"developer","content":"Rules"},{"role":"system","content":[{"type":"text","text":"More"}]},{"role":"user","content":"q"}]}`,
		capture.RequestTurns{System: "Rules\nMore", New: "q"}},
	{"ChatHistory",
		`{"model":"m","messages":[
			{"role":"system","content":"Be terse."},
			{"role":"user","content":"first question"},
			{"role":"assistant","content":"first answer"},
			{"role":"user","content":"second question"},
			{"role":"assistant","content":"second answer"},
			{"role":"user","content":"third question"}],"stream":true}`,
		capture.RequestTurns{New: "third question", Older: 5}},
	{"ChatTrailingTurns",
		`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"},{"role":"user","content":"d"}]}`,
		capture.RequestTurns{New: "c\nd", Older: 2}},
	{"ChatSystemAmongNewTurns",
		`{"messages":[{"role":"system","content":"old"},{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"system","content":"now in French"},{"role":"user","content":"c"}]}`,
		capture.RequestTurns{System: "now in French", New: "c", Older: 3}},
	{"ChatContentParts",
		`{"messages":[{"role":"user","content":[{"type":"text","text":"What is"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},{"type":"text","text":"in this picture?"}]}]}`,
		capture.RequestTurns{New: "What is\nin this picture?"}},
	{"ChatTools",
		`{"model":"m","tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
		"messages":[
			{"role":"user","content":"Weather in Berlin and Paris?"},
			{"role":"assistant","content":null,"tool_calls":[
				{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Berlin\"}"}},
				{"id":"c2","type":"function","function":{"name":"get_weather","arguments":{"city":"Paris"}}}]},
			{"role":"tool","tool_call_id":"c1","content":"12°C, rain"},
			{"role":"tool","tool_call_id":"c2","content":[{"type":"text","text":"18°C, sun"}]}]}`,
		capture.RequestTurns{New: `get_weather {"city":"Berlin"}` + "\n" + `get_weather {"city":"Paris"}` + "\n12°C, rain\n18°C, sun", Older: 2}},
	{"ChatLegacyFunctionCall",
		`{"messages":[{"role":"user","content":"x"},{"role":"assistant","function_call":{"name":"f","arguments":"{}"}},{"role":"function","name":"f","content":"result"}]}`,
		capture.RequestTurns{New: "f {}\nresult", Older: 2}},
	{"ChatPrefill",
		`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"Write a haiku"},{"role":"assistant","content":"Autumn"}]}`,
		capture.RequestTurns{New: "Write a haiku\nAutumn", Older: 2}},
	{"ChatPrefillFirstCall",
		`{"messages":[{"role":"system","content":"S"},{"role":"user","content":"Write"},{"role":"assistant","content":"Once"}]}`,
		capture.RequestTurns{System: "S", New: "Write\nOnce"}},
	{"ChatEmptyMessages", `{"messages":[]}`, capture.RequestTurns{}},
	{"ChatOddValues",
		`{"messages":[{"role":"user","content":42},{"role":7,"content":"seven"},{"role":"user","content":[1,"two",{"text":3}]},{"role":"user","content":null},"bare",[1],null]}`,
		capture.RequestTurns{New: "seven\nbare"}},

	// Legacy completions and embeddings.
	{"CompletionPrompt", `{"model":"m","prompt":"Once upon a time","max_tokens":5}`, capture.RequestTurns{New: "Once upon a time"}},
	{"CompletionPromptArray", `{"prompt":["one","two"]}`, capture.RequestTurns{New: "one\ntwo"}},
	{"CompletionPromptTokens", `{"prompt":[[1,2,3],[4]]}`, capture.RequestTurns{}},
	{"EmbeddingsString", `{"model":"e","input":"embed me"}`, capture.RequestTurns{New: "embed me"}},
	{"EmbeddingsArray", `{"model":"e","input":["a b","c"],"encoding_format":"float"}`, capture.RequestTurns{New: "a b\nc"}},
	{"EmbeddingsTokens", `{"model":"e","input":[1,2,3]}`, capture.RequestTurns{}},
	{"EmbeddingsTokenArrays", `{"model":"e","input":[[1,2],[3]]}`, capture.RequestTurns{}},

	// Responses API.
	{"ResponsesString", `{"model":"m","instructions":"Talk like a pirate.","input":"Are semicolons optional?"}`,
		capture.RequestTurns{System: "Talk like a pirate.", New: "Are semicolons optional?"}},
	{"ResponsesContinued", `{"model":"m","instructions":"Talk like a pirate.","previous_response_id":"resp_1","input":"And in Go?"}`,
		capture.RequestTurns{New: "And in Go?"}},
	{"ResponsesConversation", `{"instructions":"I","conversation":{"id":"conv_1"},"input":"x"}`,
		capture.RequestTurns{New: "x"}},
	{"ResponsesNullPrevious", `{"instructions":"I","previous_response_id":null,"input":"x"}`,
		capture.RequestTurns{System: "I", New: "x"}},
	{"ResponsesItems",
		`{"model":"m","instructions":"Be helpful.","input":[
			{"role":"developer","content":"Dev note"},
			{"type":"message","role":"user","content":[{"type":"input_text","text":"Look at this"},{"type":"input_image","image_url":"https://x/y.png"}]}]}`,
		capture.RequestTurns{System: "Dev note\nBe helpful.", New: "Look at this"}},
	{"ResponsesToolLoop",
		`{"model":"m","instructions":"Be helpful.","input":[
			{"role":"user","content":"Weather in Berlin?"},
			{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"thinking"}]},
			{"type":"function_call","call_id":"c1","name":"get_weather","arguments":"{\"city\":\"Berlin\"}"},
			{"type":"function_call_output","call_id":"c1","output":"12°C"}]}`,
		capture.RequestTurns{New: `get_weather {"city":"Berlin"}` + "\n12°C", Older: 3}},
	{"ResponsesHistory",
		`{"input":[
			{"role":"user","content":"hi"},
			{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hello"}]},
			{"role":"user","content":[{"type":"input_text","text":"next"}]},
			{"type":"custom_tool_call_output","call_id":"c","output":[{"type":"input_text","text":"out"}]}]}`,
		capture.RequestTurns{New: "next\nout", Older: 2}},

	// Anthropic messages.
	{"AnthropicSystemString",
		`{"model":"claude","max_tokens":100,"system":"You are Claude.","messages":[{"role":"user","content":"Hi"}]}`,
		capture.RequestTurns{System: "You are Claude.", New: "Hi"}},
	{"AnthropicSystemBlocks",
		`{"model":"claude","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"system":[{"type":"text","text":"Part one","cache_control":{"type":"ephemeral"}},{"type":"text","text":"Part two"}]}`,
		capture.RequestTurns{System: "Part one\nPart two", New: "Hi"}},
	{"AnthropicTools",
		`{"model":"claude","system":"S","messages":[
			{"role":"user","content":"Weather in Berlin?"},
			{"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"sig"},{"type":"text","text":"Let me check."},{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Berlin"}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"12°C"},{"type":"tool_result","tool_use_id":"t2","content":[{"type":"text","text":"and windy"},{"type":"image","source":{}}]},{"type":"text","text":"Thanks"}]}]}`,
		capture.RequestTurns{New: `get_weather {"city":"Berlin"}` + "\n12°C\nand windy\nThanks", Older: 2}},
	{"AnthropicMultiTurn",
		`{"model":"claude","system":"S","messages":[
			{"role":"user","content":"one"},{"role":"assistant","content":"two"},
			{"role":"user","content":"three"},{"role":"assistant","content":[{"type":"text","text":"four"}]},
			{"role":"user","content":[{"type":"text","text":"five"}]}]}`,
		capture.RequestTurns{New: "five", Older: 4}},

	// Text.
	{"CJK",
		`{"messages":[{"role":"system","content":"你是一个助手。"},{"role":"user","content":"東京の天気はどうですか？柏林的天气怎么样？"}]}`,
		capture.RequestTurns{System: "你是一个助手。", New: "東京の天気はどうですか？柏林的天气怎么样？"}},
	{"Escapes",
		`{"messages":[{"role":"user","content":"line\nbreak \"quoted\" back\\slash \u00e9\ud83d\ude00 \u4e2d\/"}]}`,
		capture.RequestTurns{New: "line\nbreak \"quoted\" back\\slash é😀 中/"}},
	{"EscapedKeys", `{"\u006dessages":[{"r\u006fle":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"}]}`,
		capture.RequestTurns{New: "c", Older: 2}},
	{"Whitespace", "\n\n  \t{ \"messages\" : [ { \"role\" : \"user\" , \"content\" : \"hi\" } ] } \n",
		capture.RequestTurns{New: "hi"}},

	// Not a request with text.
	{"Empty", ``, capture.RequestTurns{}},
	{"EmptyObject", `{}`, capture.RequestTurns{}},
	{"NotJSON", `hello world`, capture.RequestTurns{}},
	{"Form", `a=1&b=2`, capture.RequestTurns{}},
	{"Array", `[{"role":"user","content":"x"}]`, capture.RequestTurns{}},
	{"Binary", "\x1f\x8b\x08\x00\x00\x00", capture.RequestTurns{}},
	{"String", `"just a string"`, capture.RequestTurns{}},
	{"MessagesNotArray", `{"messages":"x","system":"s"}`, capture.RequestTurns{System: "s"}},

	// Cut short at the capture limit.
	{"CutInLastMessage",
		`{"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":"a"},{"role":"assistant","content":"b"},{"role":"user","content":"c"},{"role":"assistant","content":"d"},{"role":"user","content":"cut of`,
		capture.RequestTurns{Older: 5}},
	{"CutAfterUser",
		`{"model":"m","system":"sys","messages":[{"role":"user","content":"whole"},{"role":"assistant","con`,
		capture.RequestTurns{System: "sys", New: "whole"}},
	{"CutBetween", `{"messages":[{"role":"user","content":"whole"}, `, capture.RequestTurns{New: "whole"}},
	{"CutInKey", `{"prompt":"p","mess`, capture.RequestTurns{New: "p"}},
	{"CutInSystem", `{"system":"You are`, capture.RequestTurns{}},
	{"CutInNumber", `{"prompt":"p","max_tokens":12`, capture.RequestTurns{New: "p"}},
	{"CutInEscape", `{"messages":[{"role":"user","content":"a\`, capture.RequestTurns{}},
	{"BrokenAfter", `{"messages":[{"role":"user","content":"a"}]} trailing garbage`, capture.RequestTurns{New: "a"}},
	{"BadElement", `{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b",}]}`, capture.RequestTurns{New: "a"}},
}

func TestRequestText(t *testing.T) {
	for _, c := range requestTextCases {
		t.Run(c.name, func(t *testing.T) {
			got := capture.RequestText([]byte(c.body))
			if got != c.want {
				t.Errorf("RequestText(%s)\n got %#v\nwant %#v", c.body, got, c.want)
			}
		})
	}
}

// TestRequestTextCutAnywhere cuts each case's body at every length: no
// cut panics or returns more text than the body holds, and a cut after the
// whole body's last turn gives what the whole body gives.
func TestRequestTextCutAnywhere(t *testing.T) {
	for _, c := range requestTextCases {
		for n := range len(c.body) {
			got := capture.RequestText([]byte(c.body[:n]))
			if len(got.System)+len(got.New) > n {
				t.Fatalf("%s cut at %d: %d bytes of text", c.name, n, len(got.System)+len(got.New))
			}
		}
		// A prefill cut after it reads as a list whose new turns were
		// cut off.
		if body := strings.TrimSpace(c.body); strings.HasSuffix(body, "}]}") && !strings.Contains(c.name, "Prefill") &&
			!strings.Contains(c.body, `"system"`) && !strings.Contains(c.body, `"instructions"`) {
			if got := capture.RequestText([]byte(body[:len(body)-2])); got != c.want {
				t.Errorf("%s cut after its last turn: %#v, want %#v", c.name, got, c.want)
			}
		}
	}
}

// TestRequestTextInvalidUTF8 checks the bound on text that decodes longer
// than it is written: each invalid byte becomes a three-byte U+FFFD.
func TestRequestTextInvalidUTF8(t *testing.T) {
	body := []byte(`{"prompt":"` + strings.Repeat("\xff", 100) + `"}`)
	got := capture.RequestText(body)
	if len(got.New) > len(body) || !utf8.ValidString(got.New) || got.New == "" {
		t.Fatalf("New is %d bytes (valid UTF-8: %v) of a %d-byte body", len(got.New), utf8.ValidString(got.New), len(body))
	}
}

// TestRequestTextOnlyNewTurnsDecoded checks that a long history costs the
// walk, not decoding: the allocations for a 1 MiB chat stay those of its
// last turns.
func TestRequestTextOnlyNewTurnsDecoded(t *testing.T) {
	body := chatBody(1<<20, 1)
	var got capture.RequestTurns
	allocs := testing.AllocsPerRun(5, func() { got = capture.RequestText(body) })
	if want := "question 1 of the last turn"; !strings.HasPrefix(got.New, want) {
		t.Fatalf("New = %.80q…, want it to start with %q", got.New, want)
	}
	if allocs > 50 {
		t.Errorf("%v allocations for a %d-byte chat", allocs, len(body))
	}
}

// chatBody builds a chat request of about size bytes: a system prompt, a
// history of user and assistant turns (some with tool calls), and last
// new trailing user turns.
func chatBody(size, last int) []byte {
	type msg struct {
		Role      string `json:"role"`
		Content   any    `json:"content"`
		ToolCalls any    `json:"tool_calls,omitempty"`
	}
	para := "The quick brown fox jumps over the lazy dog; 敏捷的棕色狐狸跳过了懒狗. \"Quoted\" text\nwith lines. "
	msgs := []msg{{Role: "system", Content: "You are a helpful assistant. " + para}}
	n := 200
	for i := 0; n < size-600; i++ {
		u := msg{Role: "user", Content: fmt.Sprintf("Question %d: %s", i, strings.Repeat(para, 1+i%3))}
		a := msg{Role: "assistant", Content: fmt.Sprintf("Answer %d: %s", i, strings.Repeat(para, 2+i%4))}
		if i%5 == 4 {
			a.ToolCalls = []map[string]any{{"id": "c", "type": "function", "function": map[string]any{"name": "lookup", "arguments": `{"q":"fox"}`}}}
			u = msg{Role: "tool", Content: "result " + para}
		}
		msgs = append(msgs, u, a)
		b, _ := json.Marshal(u)
		c, _ := json.Marshal(a)
		n += len(b) + len(c)
	}
	for i := range last {
		msgs = append(msgs, msg{Role: "user", Content: []map[string]string{{"type": "text", "text": fmt.Sprintf("question %d of the last turn: %s", i+1, para)}}})
	}
	b, _ := json.Marshal(map[string]any{"model": "openai/gpt-4o", "stream": true, "messages": msgs})
	return b
}

// BenchmarkRequestText measures RequestText on multi-turn chats of 4 KiB
// and 1 MiB, against json.Unmarshal of the same body into the messages
// with raw contents, the least a decoder-based reading costs.
func BenchmarkRequestText(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		body := chatBody(size, 2)
		name := fmt.Sprintf("%dKiB", size>>10)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if capture.RequestText(body).New == "" {
					b.Fatal("no text")
				}
			}
		})
		b.Run(name+"/baseline-unmarshal", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var req struct {
					Messages []struct {
						Role    string          `json:"role"`
						Content json.RawMessage `json:"content"`
					} `json:"messages"`
				}
				if json.Unmarshal(body, &req) != nil || len(req.Messages) == 0 {
					b.Fatal("no messages")
				}
			}
		})
	}
}

// FuzzRequestText checks RequestText on any bytes (no panic, text no
// longer than the body, the same text from the body reformatted), and on
// bodies of each API built around any string s, whose new text must be s
// as a JSON decoder gives it back.
func FuzzRequestText(f *testing.F) {
	for _, c := range requestTextCases {
		f.Add([]byte(c.body), "Hello, wörld", uint8(0))
	}
	f.Add([]byte(`{"messages":[{"role":"user","content":"\u0000"}]}`), "\"quoted\"\n\\ <&> \u2028 東京", uint8(3))
	f.Add([]byte{}, "\xff\xfeinvalid", uint8(7))
	f.Add([]byte("{"), "", uint8(200))
	f.Fuzz(func(t *testing.T, body []byte, s string, cut uint8) {
		got := capture.RequestText(body)
		if n := len(got.System) + len(got.New); n > len(body) {
			t.Fatalf("%d bytes of text from a %d-byte body", n, len(body))
		}
		if got.Older < 0 {
			t.Fatalf("Older = %d", got.Older)
		}
		// White space between tokens does not matter.
		if json.Valid(body) && utf8.Valid(body) {
			var buf bytes.Buffer
			if json.Indent(&buf, body, "", "\t") == nil {
				if again := capture.RequestText(buf.Bytes()); again != got {
					t.Fatalf("indented body gives %#v, want %#v", again, got)
				}
			}
		}

		q := jsonQuote(s)
		want := roundTrip(s)
		history := `{"role":"system","content":"sys"},{"role":"user","content":"old"},{"role":"assistant","content":"reply"},`
		bodies := []struct {
			name, body string
			want       capture.RequestTurns
		}{
			{"Chat", `{"model":"m","messages":[` + history + `{"role":"user","content":` + q + `}]}`, capture.RequestTurns{New: want, Older: 3}},
			{"ChatFirst", `{"model":"m","messages":[{"role":"user","content":` + q + `}]}`, capture.RequestTurns{New: want}},
			{"ChatSystem", `{"messages":[{"role":"system","content":` + q + `},{"role":"user","content":"u"}]}`, capture.RequestTurns{System: want, New: "u"}},
			{"ChatPart", `{"messages":[` + history + `{"role":"user","content":[{"type":"text","text":` + q + `}]}]}`, capture.RequestTurns{New: want, Older: 3}},
			{"ChatTool", `{"messages":[` + history + `{"role":"tool","tool_call_id":"c","content":` + q + `}]}`, capture.RequestTurns{New: want, Older: 3}},
			{"Prompt", `{"model":"m","prompt":` + q + `}`, capture.RequestTurns{New: want}},
			{"Embeddings", `{"model":"m","input":[` + q + `]}`, capture.RequestTurns{New: want}},
			{"ResponsesString", `{"model":"m","input":` + q + `,"instructions":` + q + `}`, capture.RequestTurns{System: want, New: want}},
			{"ResponsesOutput", `{"input":[{"role":"user","content":"u"},{"type":"function_call","name":"f","arguments":"{}"},{"type":"function_call_output","output":` + q + `}]}`,
				capture.RequestTurns{New: "f {}\n" + want, Older: 2}},
			{"AnthropicSystem", `{"system":[{"type":"text","text":` + q + `}],"messages":[{"role":"user","content":"u"}]}`, capture.RequestTurns{System: want, New: "u"}},
			{"AnthropicToolResult", `{"messages":[{"role":"user","content":"u"},{"role":"assistant","content":"a"},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":` + q + `}]}]}`,
				capture.RequestTurns{New: want, Older: 2}},
		}
		for _, b := range bodies {
			if want == "" && b.want.New == "f {}\n" {
				b.want.New = "f {}"
			}
			if got := capture.RequestText([]byte(b.body)); got != b.want {
				t.Errorf("%s: %s\n got %#v\nwant %#v", b.name, b.body, got, b.want)
			}
			// Cut short anywhere: bounded, and never text the body
			// does not decode to.
			n := int(cut) % (len(b.body) + 1)
			part := capture.RequestText([]byte(b.body[:n]))
			if len(part.System)+len(part.New) > n {
				t.Errorf("%s cut at %d: %d bytes of text", b.name, n, len(part.System)+len(part.New))
			}
			for _, line := range strings.Split(part.System+"\n"+part.New, "\n") {
				if !strings.Contains(b.want.System+"\n"+b.want.New+"\nsys\nold\nreply\nu\na\nf {}", line) {
					t.Errorf("%s cut at %d: line %q is not in the body's text", b.name, n, line)
				}
			}
		}
	})
}

// TestRequestTextDeepNesting checks that deep nesting costs time and
// memory in proportion to the body, not to the square of its depth:
// allocations do not grow with it, as they did when each level of tool
// results decoded the levels below it again.
func TestRequestTextDeepNesting(t *testing.T) {
	const depth = 2000
	bodies := map[string]string{
		"ToolResults": `{"messages":[{"role":"user","content":` + strings.Repeat(`[{"type":"tool_result","content":`, depth) +
			`"x"` + strings.Repeat(`}]`, depth) + `},{"role":"user","content":"y"}]}`,
		"Parts": `{"messages":[{"role":"user","content":` + strings.Repeat(`[{"type":"text","text":`, depth) +
			`"x"` + strings.Repeat(`}]`, depth) + `},{"role":"user","content":"y"}]}`,
		"Tools": `{"tools":` + strings.Repeat(`[{"a":`, depth) + `1` + strings.Repeat(`}]`, depth) +
			`,"messages":[{"role":"user","content":"y"}]}`,
		"Unclosed": `{"messages":[{"role":"user","content":"y"},` + strings.Repeat(`[`, 100*depth),
	}
	for name, body := range bodies {
		var got capture.RequestTurns
		allocs := testing.AllocsPerRun(3, func() { got = capture.RequestText([]byte(body)) })
		if got.New != "y" {
			t.Errorf("%s: New = %q, want %q", name, got.New, "y")
		}
		if allocs > 100 {
			t.Errorf("%s: %v allocations at depth %d", name, allocs, depth)
		}
	}
}
