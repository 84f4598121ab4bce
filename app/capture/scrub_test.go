package capture_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// scrubKey is a key a client sends where no header rule sees it.
const scrubKey = "sk-or-v1-0123456789abcdef0123456789abcdefa1b2"

// scrubMask is Mask(scrubKey).
const scrubMask = "sk-or-v1…a1b2"

func TestAnalyzeScrubsQuery(t *testing.T) {
	if got := capture.Mask(scrubKey); got != scrubMask {
		t.Fatalf("Mask(scrubKey) = %q, want %q", got, scrubMask)
	}
	tests := []struct {
		name       string
		secret     string // the forwarded key, if any
		url        string
		wantURL    string
		wantQuery  string
		wantReason string
	}{
		{"Key", "", "/v1/models?key=" + scrubKey, "/v1/models?key=" + scrubMask, "key=" + scrubMask, ""},
		{"ApiDashKey", "", "/v1/models?api-key=" + scrubKey + "&x=1", "/v1/models?api-key=" + scrubMask + "&x=1", "api-key=" + scrubMask + "&x=1", ""},
		{"ApiUnderscoreKey", "", "/v1/models?a=b&api_key=" + scrubKey, "/v1/models?a=b&api_key=" + scrubMask, "a=b&api_key=" + scrubMask, ""},
		{"UpperCase", "", "/v1/models?API_KEY=" + scrubKey, "/v1/models?API_KEY=" + scrubMask, "API_KEY=" + scrubMask, ""},
		{"ApiKeyCamel", "", "/v1/models?apiKey=" + scrubKey, "/v1/models?apiKey=" + scrubMask, "apiKey=" + scrubMask, ""},
		{"AccessToken", "", "/v1/models?access_token=" + scrubKey, "/v1/models?access_token=" + scrubMask, "access_token=" + scrubMask, ""},
		{"Token", "", "/v1/models?token=" + scrubKey, "/v1/models?token=" + scrubMask, "token=" + scrubMask, ""},
		{"EscapedName", "", "/v1/models?api%5Fkey=" + scrubKey, "/v1/models?api%5Fkey=" + scrubMask, "api%5Fkey=" + scrubMask, ""},
		{"EscapedValue", "", "/v1/models?key=sk%2Dor%2Dv1%2D0123456789abcdef0123456789abcdefa1b2", "/v1/models?key=" + scrubMask, "key=" + scrubMask, ""},
		{"ShortValue", "", "/v1/models?token=abc", "/v1/models?token=…", "token=…", ""},
		{"EmptyValue", "", "/v1/models?key=&key", "/v1/models?key=&key", "key=&key", ""},
		{"SpecialsInMask", "", "/v1/models?key=a%26b%3Dc%23d%20e%25f0123456789abcdefghij", "/v1/models?key=a%26b%3Dc%23d+…ghij", "key=a%26b%3Dc%23d+…ghij", ""},
		{"OthersKept", "", "/v1/chat/completions?max_tokens=5&model=x&monkey=1", "/v1/chat/completions?max_tokens=5&model=x&monkey=1", "max_tokens=5&model=x&monkey=1", ""},
		{"ForwardedKeyAnywhere", scrubKey, "/v1/x/" + scrubKey + "/y?note=" + scrubKey, "/v1/x/" + scrubMask + "/y?note=" + scrubMask, "note=" + scrubMask, ""},
		{"NoQuery", scrubKey, "/v1/chat/completions", "/v1/chat/completions", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchange(200, jsonHeader(), bigLimit, `{}`)
			r.APIKey = tt.secret
			r.URL = tt.url
			path, query, _ := strings.Cut(tt.url, "?")
			r.Path, r.Query = strings.TrimPrefix(path, "/v1"), query
			r.Analyze()
			if r.URL != tt.wantURL {
				t.Errorf("URL = %q, want %q", r.URL, tt.wantURL)
			}
			if r.Query != tt.wantQuery {
				t.Errorf("Query = %q, want %q", r.Query, tt.wantQuery)
			}
			if wantPath := strings.TrimPrefix(strings.Split(tt.wantURL, "?")[0], "/v1"); r.Path != wantPath {
				t.Errorf("Path = %q, want %q", r.Path, wantPath)
			}
			for _, s := range []string{r.URL, r.Query, r.Path} {
				if strings.Contains(s, scrubKey) || strings.Contains(s, scrubKey[9:]) {
					t.Errorf("the key survived in %q", s)
				}
			}
		})
	}
}

func TestAnalyzeScrubsRequestBody(t *testing.T) {
	tests := []struct {
		name, ctype, secret string
		body, want          string
		limit               int
	}{
		{"Fields", "application/json", "",
			`{"model":"openai/gpt-4o","api_key":"` + scrubKey + `","apiKey":"` + scrubKey + `","api-key":"` + scrubKey + `","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"openai/gpt-4o","api_key":"` + scrubMask + `","apiKey":"` + scrubMask + `","api-key":"` + scrubMask + `","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, bigLimit},
		{"NestedAndSpaced", "application/json", "",
			"{\"provider\": {\"options\": [{\"Token\" :\n \"" + scrubKey + "\", \"password\": \"hunter2hunter2\"}]}, \"model\": \"m\"}",
			"{\"provider\": {\"options\": [{\"Token\" :\n \"" + scrubMask + "\", \"password\": \"…ter2\"}]}, \"model\": \"m\"}", bigLimit},
		{"EscapedValue", "application/json", "",
			`{"key":"sk-or-v1-0123456789abcdef\u0030123456789abcdefa1b2"}`,
			`{"key":"` + scrubMask + `"}`, bigLimit},
		{"NotAStringValue", "application/json", "",
			`{"key":{"type":"string"},"token":12,"secret":null,"apiKey":["a"]}`,
			`{"key":{"type":"string"},"token":12,"secret":null,"apiKey":["a"]}`, bigLimit},
		{"KeyTextInStringsKept", "application/json", "",
			`{"messages":[{"content":"\"api_key\": is a field name"}],"x":"token"}`,
			`{"messages":[{"content":"\"api_key\": is a field name"}],"x":"token"}`, bigLimit},
		{"CutMidValue", "application/json", "",
			`{"model":"m","api_key":"` + scrubKey + `"}`,
			`{"model":"m","api_key":"sk-or-v1…`, len(`{"model":"m","api_key":"`) + 40},
		{"ForwardedKeyInText", "application/json", scrubKey,
			`{"messages":[{"role":"user","content":"my key is ` + scrubKey + `!"}]}`,
			`{"messages":[{"role":"user","content":"my key is ` + scrubMask + `!"}]}`, bigLimit},
		{"ForwardedKeyCutAtLimit", "text/plain", scrubKey,
			`key ` + scrubKey + ` end`,
			`key ` + "sk-or-v1…", len("key ") + 20},
		{"Form", "application/x-www-form-urlencoded", "",
			"model=m&api_key=" + scrubKey,
			"model=m&api_key=" + scrubMask, bigLimit},
		{"Untouched", "application/json", scrubKey,
			`{"model":"m","messages":[{"role":"user","content":"hello"}]}`,
			`{"model":"m","messages":[{"role":"user","content":"hello"}]}`, bigLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchange(200, jsonHeader(), tt.limit, `{}`)
			r.APIKey = tt.secret
			r.ReqHeader = http.Header{"Content-Type": {tt.ctype}}
			r.ReqBody.Write([]byte(tt.body))
			head := bytes.Clone(r.ReqBody.Head)
			r.Analyze()
			if string(r.ReqBodyStored) != tt.want {
				t.Errorf("ReqBodyStored = %s\nwant           %s", r.ReqBodyStored, tt.want)
			}
			if bytes.Contains(r.ReqBodyStored, []byte(scrubKey[9:25])) {
				t.Errorf("the key survived: %s", r.ReqBodyStored)
			}
			if !bytes.Equal(r.ReqBody.Head, head) {
				t.Error("Analyze edited the captured head in place (it may be the replay buffer)")
			}
			if strings.HasPrefix(tt.body, `{"model":"m"`) && r.ModelRequested != "m" {
				t.Errorf("ModelRequested = %q", r.ModelRequested)
			}
		})
	}
}

func TestAnalyzeScrubsResponseBody(t *testing.T) {
	stream := []string{
		`data: {"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"content":"your key: "}}]}` + "\n\n",
		`data: {"id":"gen-1","model":"m","choices":[{"index":0,"delta":{"content":"` + scrubKey + `"}}]}` + "\n\n",
		"data: [DONE]\n\n",
	}
	tests := []struct {
		name   string
		header http.Header
		body   string
	}{
		{"JSON", jsonHeader(), `{"id":"gen-1","choices":[{"message":{"content":"echo ` + scrubKey + `"}}],"error":{"message":"bad key ` + scrubKey + `"}}`},
		{"Stream", sseHeader(), strings.Join(stream, "")},
		{"GzipStream", http.Header{"Content-Type": {"text/event-stream"}, "Content-Encoding": {"gzip"}}, string(gzipped(t, strings.Join(stream, "")))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := exchange(200, tt.header, bigLimit, tt.body)
			r.APIKey = scrubKey
			head := bytes.Clone(r.RespBody.Head)
			r.Analyze()
			if bytes.Contains(r.RespBodyStored, []byte(scrubKey)) {
				t.Errorf("RespBodyStored holds the key: %s", r.RespBodyStored)
			}
			if !bytes.Contains(r.RespBodyStored, []byte(scrubMask)) {
				t.Errorf("RespBodyStored = %s, want the key masked", r.RespBodyStored)
			}
			for name, s := range map[string]string{"Content": r.Content, "Error": r.Error} {
				if strings.Contains(s, scrubKey) {
					t.Errorf("%s holds the key: %q", name, s)
				}
			}
			if !strings.Contains(r.Content, scrubMask) {
				t.Errorf("Content = %q, want the key masked", r.Content)
			}
			if !bytes.Equal(r.RespBody.Head, head) {
				t.Error("Analyze edited the captured head in place")
			}
		})
	}

	t.Run("TTFTFromRawOffsets", func(t *testing.T) {
		// The mask is shorter than the key, but time to first token is
		// read from offsets into the body as it was sent.
		pieces := []string{": ping " + scrubKey + "\n\n", stream[0], stream[1], stream[2]}
		r := exchange(200, sseHeader(), bigLimit, pieces...)
		r.APIKey = scrubKey
		r.Analyze()
		if r.TTFT != 20_000_000 {
			t.Errorf("TTFT = %v, want 20ms", r.TTFT)
		}
	})

	t.Run("DerivedFields", func(t *testing.T) {
		r := exchange(502, jsonHeader(), bigLimit, `{"id":"gen-`+scrubKey+`","model":"`+scrubKey+`","choices":[{"message":{"content":"x","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"k\":\"`+scrubKey+`\"}"}}]},"finish_reason":"`+scrubKey+`"}]}`)
		r.APIKey = scrubKey
		r.ProxyErr = "upstream: GET /v1/models?key=" + scrubKey + ": connection refused"
		r.ReqBody.Write([]byte(`{"model":"` + scrubKey + `"}`))
		r.Analyze()
		for name, s := range map[string]string{
			"ProxyErr": r.ProxyErr, "Error": r.Error, "ModelRequested": r.ModelRequested, "Model": r.Model,
			"GenerationID": r.GenerationID, "FinishReason": r.FinishReason, "ToolCallsJSON": r.ToolCallsJSON,
		} {
			if strings.Contains(s, scrubKey) || !strings.Contains(s, scrubMask) {
				t.Errorf("%s = %q, want the key masked", name, s)
			}
		}
	})

	t.Run("SecretFieldsOfAWholeAnswer", func(t *testing.T) {
		// Not the forwarded key: another secret, in a field or parameter
		// the request rules know, in a JSON answer and a form echoed back.
		const other = "sk-or-v1-another-secret-value-9999"
		for ctype, body := range map[string]string{
			"application/json":                  `{"data":{"key":"` + other + `"}}`,
			"application/x-www-form-urlencoded": "api_key=" + other + "&x=1",
		} {
			r := exchange(200, http.Header{"Content-Type": {ctype}}, bigLimit, body)
			r.Analyze()
			if bytes.Contains(r.RespBodyStored, []byte(other)) {
				t.Errorf("%s answer stored with its secret: %s", ctype, r.RespBodyStored)
			}
		}
	})

	t.Run("ShortKeyNotScrubbed", func(t *testing.T) {
		r := exchange(200, jsonHeader(), bigLimit, `{"note":"a b c"}`)
		r.APIKey = "b" // too short to search for: it would mangle the body
		r.Analyze()
		if string(r.RespBodyStored) != `{"note":"a b c"}` {
			t.Errorf("RespBodyStored = %s", r.RespBodyStored)
		}
	})
}

// TestMemSizeCountsScrubbedCopies checks that a record whose bodies were
// copied to be scrubbed counts the copies, so a byte-budgeted queue does not
// undercount it.
func TestMemSizeCountsScrubbedCopies(t *testing.T) {
	body := `{"api_key":"` + scrubKey + `","messages":[{"role":"user","content":"` + strings.Repeat("x", 100_000) + `"}]}`
	r := exchange(200, jsonHeader(), bigLimit, body)
	r.APIKey = scrubKey
	r.ReqHeader = http.Header{"Content-Type": {"application/json"}}
	r.ReqBody.Write([]byte(body))
	r.Analyze()
	if string(r.ReqBodyStored) == body || string(r.RespBodyStored) == body {
		t.Fatal("nothing was scrubbed")
	}
	min := int64(cap(r.ReqBody.Head) + cap(r.RespBody.Head) + len(r.ReqBodyStored) + len(r.RespBodyStored))
	if got := r.MemSize(); got < min {
		t.Errorf("MemSize = %d, want at least %d: the heads and their scrubbed copies", got, min)
	}
}
