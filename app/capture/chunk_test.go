package capture

import (
	"encoding/json"
	"fmt"
	"testing"
)

// plainChunks are chunks in the shapes real streams send most; the fast
// path must take every one of them.
var plainChunks = []string{
	`{"id":"gen-1750000000-abc","provider":"OpenAI","model":"openai/o4-mini","object":"chat.completion.chunk","created":1750000000,"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null,"native_finish_reason":null,"logprobs":null}],"system_fingerprint":"fp_1"}`,
	`{"id":"gen-1","object":"chat.completion.chunk","created":1,"model":"m","provider":"Mock","choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}]}`,
	`{"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":", wörld \"quoted\"\n\u00e9"},"finish_reason":null}]}`,
	`{"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"","reasoning":"Let me think","reasoning_details":[{"type":"reasoning.text","text":"Let me think","format":"unknown","index":0}]},"finish_reason":null}]}`,
	`{"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"hmm"},"finish_reason":null}]}`,
	`{"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"stop","native_finish_reason":"end_turn"}]}`,
	`{"id":"cmpl-1","object":"text_completion","model":"m","choices":[{"index":0,"text":"tok ","finish_reason":null,"logprobs":null}]}`,
	`{"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"content":"x","tool_calls":[]},"finish_reason":null}],"usage":null,"error":null}`,
	` {"choices":[{"delta":{"content":"no index"}}]} ` + "\n",
	`{"id":"gen-1","model":"m","choices":[]}`,
}

// otherChunks are events the fast path must leave to the general path.
var otherChunks = []string{
	`{"id":"gen-1","model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"cost":0.1}}`,
	`{"error":{"code":502,"message":"Provider disconnected"},"choices":[{"index":0,"delta":{"content":""},"finish_reason":"error"}]}`,
	`{"id":"gen-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}`,
	`{"id":"gen-1","choices":[{"index":0,"delta":{"content":"","reasoning_details":[{"type":"reasoning.encrypted","data":"x"}]}}]}`,
	`{"type":"response.output_text.delta","delta":"hi"}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`,
	`{"id":"a","ID":"b","choices":[]}`,
	`{"id":"a","id":"b"}`,
	`{"i\u0064":"a"}`,
	`{"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}`,
	`{"choices":[{"index":"0","delta":{"content":"a"}}]}`,
	`{"choices":[{"index":0.0,"delta":{"content":"a"}}]}`,
	`{"choices":[{"delta":{"content":["a"]}}]}`,
	`{"choices":[{"delta":{"Content":"a"}}]}`,
	`{"model":5}`,
	`{"ſtatus":1}`,
	`{"choices":[{"delta":{"content":"a"}}]} x`,
	`{"choices":[{"delta":{"content":"a"}]}`,
	`{"choices":[{"delta":{"content":"a\x01"}}]}`,
	`{"x":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
}

func TestFastChunkTakes(t *testing.T) {
	for _, c := range plainChunks {
		var a analysis
		if _, ok := a.fastChunk([]byte(c)); !ok {
			t.Errorf("the fast path declined a plain chunk: %s", c)
		}
	}
	for _, c := range otherChunks {
		var a analysis
		if _, ok := a.fastChunk([]byte(c)); ok {
			t.Errorf("the fast path took %s", c)
		}
	}
}

// summary is every field of a that an event can change.
func summary(a *analysis) string {
	return fmt.Sprintf("content=%q reasoning=%q model=%q gen=%q finish=%q usage=%+v streamErr=%v tools=%s",
		a.content.String(), a.reasoning.String(), a.model, a.genID, a.finish, a.usage, a.streamErr, a.tools.json())
}

// FuzzFastChunk checks the fast path against the general one: on any
// data it takes, it must change the analysis exactly as decodeEvent and
// streamEvent do, and report output alike; on data it declines, it must
// change nothing.
func FuzzFastChunk(f *testing.F) {
	for _, c := range plainChunks {
		f.Add([]byte(c), uint8(0))
		f.Add([]byte(c), uint8(3))
	}
	for _, c := range otherChunks {
		f.Add([]byte(c), uint8(0))
	}
	f.Add([]byte(`{"choices":[{"index":-0,"text":"\ud800x","finish_reason":"\u0000"}],"model":"\/"}`), uint8(1))
	f.Add([]byte(`{"choices":null,"Foo":{"a":[1,2e5,-0.5E-3,true,false,null,"s"]}}`), uint8(2))
	f.Add([]byte("{\"model\":\"m\xff\"}"), uint8(2))

	f.Fuzz(func(t *testing.T, data []byte, prior uint8) {
		var fast, slow analysis
		// Some state from earlier events, which a chunk may or may not
		// replace.
		for _, a := range []*analysis{&fast, &slow} {
			if prior&1 != 0 {
				a.genID, a.model = "gen-prior", "m-prior"
			}
			if prior&2 != 0 {
				a.finish = "prior"
				a.content.WriteString("before ")
			}
		}
		before := summary(&fast)

		output, ok := fast.fastChunk(data)
		if !ok {
			if got := summary(&fast); got != before {
				t.Fatalf("a declined chunk changed the analysis:\n%s\nwas\n%s", got, before)
			}
			return
		}
		var ev event
		if !decodeEvent(data, &ev) {
			t.Fatalf("the fast path took data the general path rejects: %q (json.Valid %v)", data, json.Valid(data))
		}
		want := slow.streamEvent(&ev, false)
		if output != want {
			t.Errorf("output = %v, the general path says %v", output, want)
		}
		if got, want := summary(&fast), summary(&slow); got != want {
			t.Errorf("fast path:\n%s\ngeneral path:\n%s", got, want)
		}
	})
}
