package seed_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/seed"
)

// aliceKey is a plaintext key as the original system kept it.
const aliceKey = "sk-or-v1-alice0123456789abcdef0123456789abcdef"

// streamBody is an OpenRouter stream as the original stored it: the raw
// events, keep-alive comment and usage chunk with cost included.
const streamBody = ": OPENROUTER PROCESSING\n\n" +
	`data: {"id":"gen-1","model":"openai/gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"}}]}` + "\n\n" +
	`data: {"id":"gen-1","model":"openai/gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":", world"},"finish_reason":"stop"}]}` + "\n\n" +
	`data: {"id":"gen-1","model":"openai/gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"cost":0.00042}}` + "\n\n" +
	"data: [DONE]\n\n"

// jsonBody is a whole chat completion.
const jsonBody = `{"id":"gen-2","model":"anthropic/claude-3.5-sonnet","choices":[{"message":{"role":"assistant","content":"Bonjour"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2,"total_tokens":9,"cost":0.001}}`

// streamRow is a streamed exchange as the original system stored it.
func streamRow() seed.Row {
	return seed.Row{
		ID:          "6f1c1a52-1111-4c3e-9a57-0a1b2c3d4e5f",
		Timestamp:   "2024-06-01T12:34:56.789012",
		Method:      "POST",
		URL:         "http://127.0.0.1:8080/v1/chat/completions",
		Headers:     `{"Host": "127.0.0.1:8080", "Content-Type": "application/json", "Authorization": "Bearer ` + aliceKey + `", "User-Agent": "OpenAI/Python 1.30.1"}`,
		Body:        []byte(`{"model":"openai/gpt-4o","stream":true,"messages":[{"role":"user","content":"Say hello"}]}`),
		Bearer:      aliceKey,
		Status:      "200",
		RespHeaders: `{"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}`,
		RespBody:    []byte(streamBody),
		DurationMS:  "1234.5",
	}
}

// jsonRow is a whole answer.
func jsonRow() seed.Row {
	return seed.Row{
		ID:          "6f1c1a52-2222-4c3e-9a57-0a1b2c3d4e5f",
		Timestamp:   "2024-06-01 12:35:00",
		Method:      "POST",
		URL:         "/v1/chat/completions",
		Headers:     `{"Content-Type": "application/json", "Authorization": "Bearer ` + aliceKey + `"}`,
		Body:        []byte(`{"model":"anthropic/claude-3.5-sonnet","messages":[{"role":"user","content":"Say hello in French"}]}`),
		Bearer:      aliceKey,
		Status:      "200",
		RespHeaders: `{"Content-Type": "application/json", "Content-Encoding": "gzip"}`,
		RespBody:    []byte(jsonBody),
		DurationMS:  "800",
	}
}

func mustConvert(t *testing.T, r seed.Row, opts seed.Options) *capture.Record {
	t.Helper()
	rec, err := seed.Convert(r, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// analyzed converts r and runs the analysis the store's workers run.
func analyzed(t *testing.T, r seed.Row) *capture.Record {
	t.Helper()
	rec := mustConvert(t, r, seed.Options{})
	if rec.Analyzed {
		t.Fatal("Convert returned an analysed record; the store must analyse it")
	}
	rec.Analyze()
	return rec
}

// noKey fails if key appears in any stored field of rec.
func noKey(t *testing.T, rec *capture.Record, key string) {
	t.Helper()
	for name, v := range map[string]string{
		"APIKey": rec.APIKey, "URL": rec.URL, "Query": rec.Query, "headers": rec.ReqHeaderJSON,
		"response_headers": rec.RespHeaderJSON, "body": string(rec.ReqBodyStored),
		"response_body": string(rec.RespBodyStored), "content": rec.Content, "error": rec.Error,
	} {
		if strings.Contains(v, key) {
			t.Errorf("%s holds the plaintext key: %q", name, v)
		}
	}
}

func TestConvert(t *testing.T) {
	t.Run("StreamIsReassembledAndTheKeyMasked", func(t *testing.T) {
		rec := analyzed(t, streamRow())
		want := time.Date(2024, 6, 1, 12, 34, 56, 789012000, time.UTC)
		if !rec.Start.Equal(want) {
			t.Errorf("Start = %v, want %v", rec.Start, want)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"Method", rec.Method, "POST"},
			{"URL", rec.URL, "/v1/chat/completions"},
			{"Path", rec.Path, "/chat/completions"},
			{"Status", rec.Status, 200},
			{"Duration", rec.Duration, 1234500 * time.Microsecond},
			{"Attempts", rec.Attempts, 1},
			{"KeyHash", rec.KeyHash, capture.Fingerprint(aliceKey)},
			{"KeyMask", rec.KeyMask, "sk-or-v1…cdef"},
			{"Stream", rec.Stream, true},
			{"Content", rec.Content, "Hello, world"},
			{"ModelRequested", rec.ModelRequested, "openai/gpt-4o"},
			{"Model", rec.Model, "openai/gpt-4o-2024-08-06"},
			{"GenerationID", rec.GenerationID, "gen-1"},
			{"FinishReason", rec.FinishReason, "stop"},
			{"PromptTokens", rec.PromptTokens, int64(12)},
			{"CompletionTokens", rec.CompletionTokens, int64(3)},
			{"TotalTokens", rec.TotalTokens, int64(15)},
			{"Cost", rec.Cost, 0.00042},
			{"HasUsage", rec.HasUsage, true},
			{"Outcome", rec.Outcome, capture.OutcomeOK},
			{"Error", rec.Error, ""},
			{"TTFT", rec.TTFT, time.Duration(0)}, // the original kept no timing marks
			{"RespBodyStored", string(rec.RespBodyStored), streamBody},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
			}
		}
		if !strings.Contains(rec.ReqHeaderJSON, `"Authorization":"Bearer sk-or-v1…cdef"`) {
			t.Errorf("headers = %s, want the Authorization header masked", rec.ReqHeaderJSON)
		}
		noKey(t, rec, aliceKey)
	})

	t.Run("WholeAnswerUnderAStaleContentEncoding", func(t *testing.T) {
		// aiohttp decompressed the body but the header stayed: the body
		// is read as it is, and the header that no longer describes it
		// is dropped.
		rec := analyzed(t, jsonRow())
		if rec.Stream || rec.Content != "Bonjour" || rec.Model != "anthropic/claude-3.5-sonnet" ||
			rec.PromptTokens != 7 || rec.CompletionTokens != 2 || rec.Cost != 0.001 || rec.Outcome != capture.OutcomeOK {
			t.Errorf("record = stream %t content %q model %q tokens %d/%d cost %v outcome %s",
				rec.Stream, rec.Content, rec.Model, rec.PromptTokens, rec.CompletionTokens, rec.Cost, rec.Outcome)
		}
		if want := time.Date(2024, 6, 1, 12, 35, 0, 0, time.UTC); !rec.Start.Equal(want) {
			t.Errorf("Start = %v, want %v", rec.Start, want)
		}
		if rec.RespHeaderJSON != `{"Content-Type":"application/json"}` {
			t.Errorf("response headers = %s, want Content-Encoding dropped", rec.RespHeaderJSON)
		}
		if string(rec.RespBodyStored) != jsonBody {
			t.Errorf("response body = %q", rec.RespBodyStored)
		}
	})

	t.Run("GzipBodyKeepsItsEncoding", func(t *testing.T) {
		r := jsonRow()
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write([]byte(jsonBody))
		zw.Close()
		r.RespBody = buf.Bytes()
		rec := analyzed(t, r)
		if rec.Content != "Bonjour" || !strings.Contains(rec.RespHeaderJSON, `"Content-Encoding":"gzip"`) {
			t.Errorf("content %q, response headers %s", rec.Content, rec.RespHeaderJSON)
		}
	})

	t.Run("StreamWithoutContentType", func(t *testing.T) {
		r := streamRow()
		r.RespHeaders = ""
		rec := analyzed(t, r)
		if !rec.Stream || rec.Content != "Hello, world" || rec.Cost != 0.00042 {
			t.Errorf("stream %t, content %q, cost %v", rec.Stream, rec.Content, rec.Cost)
		}
	})

	t.Run("Keys", func(t *testing.T) {
		const other = "sk-or-v1-other0123456789abcdef0123456789abcd"
		cases := []struct {
			name           string
			bearer, header string // header: the headers column
			wantKey        string // "" means keyless
		}{
			{"Column", aliceKey, `{}`, aliceKey},
			{"ColumnWithScheme", "Bearer " + aliceKey, `{}`, aliceKey},
			{"ColumnWinsOverHeader", aliceKey, `{"authorization": "Bearer ` + other + `"}`, aliceKey},
			{"OnlyTheHeader", "", `{"authorization": "Bearer ` + other + `"}`, other},
			{"OnlyXAPIKey", "", `{"x-api-key": "` + other + `"}`, other},
			{"Keyless", "", `{"Content-Type": "application/json"}`, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := jsonRow()
				r.Bearer, r.Headers = c.bearer, c.header
				rec := analyzed(t, r)
				want := ""
				if c.wantKey != "" {
					want = capture.Fingerprint(c.wantKey)
				}
				if rec.KeyHash != want || rec.KeyMask != maskOf(c.wantKey) {
					t.Errorf("KeyHash %q mask %q, want %q %q", rec.KeyHash, rec.KeyMask, want, maskOf(c.wantKey))
				}
				noKey(t, rec, aliceKey)
				noKey(t, rec, other)
			})
		}
	})

	t.Run("KeyEchoedInTheAnswerIsMasked", func(t *testing.T) {
		r := jsonRow()
		r.Status = "401"
		r.RespBody = []byte(`{"error":{"code":401,"message":"bad key ` + aliceKey + `"}}`)
		rec := analyzed(t, r)
		if rec.Outcome != capture.OutcomeUpstreamError || rec.Error != "bad key "+capture.Mask(aliceKey) {
			t.Errorf("outcome %s, error %q", rec.Outcome, rec.Error)
		}
		noKey(t, rec, aliceKey)
	})

	t.Run("Errors", func(t *testing.T) {
		cases := []struct {
			name, status, errText string
			body                  string
			wantOutcome           capture.Outcome
			wantError             string
		}{
			{"Unreachable", "", "Cannot connect to host openrouter.ai:443", "", capture.OutcomeProxyError, "Cannot connect to host openrouter.ai:443"},
			{"Timeout", "", "TimeoutError: request timed out", "", capture.OutcomeTimeout, "TimeoutError: request timed out"},
			{"UpstreamStatus", "429", "HTTP 429", `{"error":{"code":429,"message":"Rate limit exceeded"}}`, capture.OutcomeUpstreamError, "Rate limit exceeded"},
			{"StatusWithoutBody", "502", "", "", capture.OutcomeUpstreamError, "HTTP 502 Bad Gateway"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := jsonRow()
				r.Status, r.Error, r.RespHeaders = c.status, c.errText, `{"Content-Type": "application/json"}`
				r.RespBody = []byte(c.body)
				if c.body == "" {
					r.RespBody = nil
				}
				rec := analyzed(t, r)
				if rec.Outcome != c.wantOutcome || rec.Error != c.wantError {
					t.Errorf("outcome %s error %q, want %s %q", rec.Outcome, rec.Error, c.wantOutcome, c.wantError)
				}
			})
		}
	})

	t.Run("LongBodyIsCappedLikeLiveTraffic", func(t *testing.T) {
		r := jsonRow()
		r.Body = []byte(`{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`)
		rec := mustConvert(t, r, seed.Options{BodyLimit: 1024})
		if len(rec.ReqBody.Head) != 1024 || rec.ReqBody.Size != int64(len(r.Body)) || !rec.ReqBody.Truncated() {
			t.Errorf("request body head %d bytes of %d", len(rec.ReqBody.Head), rec.ReqBody.Size)
		}
	})

	t.Run("URLForms", func(t *testing.T) {
		cases := []struct{ raw, uri, path, query string }{
			{"http://127.0.0.1:8080/v1/chat/completions", "/v1/chat/completions", "/chat/completions", ""},
			{"https://openrouter.ai/api/v1/models?supported_parameters=tools", "/api/v1/models?supported_parameters=tools", "/models", "supported_parameters=tools"},
			{"/v1/embeddings", "/v1/embeddings", "/embeddings", ""},
			{"/health", "/health", "/health", ""},
		}
		for _, c := range cases {
			r := jsonRow()
			r.URL = c.raw
			rec := mustConvert(t, r, seed.Options{})
			if rec.URL != c.uri || rec.Path != c.path || rec.Query != c.query {
				t.Errorf("%s: URL %q path %q query %q, want %q %q %q", c.raw, rec.URL, rec.Path, rec.Query, c.uri, c.path, c.query)
			}
		}
	})

	t.Run("HeaderObjects", func(t *testing.T) {
		cases := []struct {
			in   string
			want map[string][]string
		}{
			{`{}`, map[string][]string{}},
			{` { "A" : "1" , "B":"two words" } `, map[string][]string{"A": {"1"}, "B": {"two words"}}},
			// Python's json.dumps escapes non-ASCII text by default.
			{`{"X-Title": "\u5c0f\u52a9\u624b", "Q": "say \"hi\""}`, map[string][]string{"X-Title": {"小助手"}, "Q": {`say "hi"`}}},
			{`{"X-Title": "小助手"}`, map[string][]string{"X-Title": {"小助手"}}},
			{`{"A": "1", "N": 2, "L": ["x", "y"], "Z": null}`, map[string][]string{"A": {"1"}, "N": {"2"}, "L": {"x", "y"}}},
			{`null`, map[string][]string{}},
		}
		for _, c := range cases {
			r := jsonRow()
			r.Headers = c.in
			rec := mustConvert(t, r, seed.Options{})
			if len(rec.ReqHeader) != len(c.want) {
				t.Errorf("%s: headers %q, want %q", c.in, rec.ReqHeader, c.want)
			}
			for k, v := range c.want {
				if got := rec.ReqHeader[k]; strings.Join(got, "|") != strings.Join(v, "|") {
					t.Errorf("%s: %s = %q, want %q", c.in, k, got, v)
				}
			}
		}
		for _, bad := range []string{`{"A": "1"`, `{"A": "1",}`, `{"A" "1"}`, `{"A": "1"} x`, `"A"`, `{'A': '1'}`} {
			r := jsonRow()
			r.Headers = bad
			if _, err := seed.Convert(r, seed.Options{}); err == nil {
				t.Errorf("%s: converted", bad)
			}
		}
	})

	t.Run("HeaderForms", func(t *testing.T) {
		r := jsonRow()
		r.Headers = `[["Accept", "text/plain"], ["Accept", "application/json"], ["X-Retry", 3]]`
		rec := mustConvert(t, r, seed.Options{})
		if got := rec.ReqHeader["Accept"]; len(got) != 2 || got[0] != "text/plain" || got[1] != "application/json" {
			t.Errorf("Accept = %q", got)
		}
		if got := rec.ReqHeader["X-Retry"]; len(got) != 1 || got[0] != "3" {
			t.Errorf("X-Retry = %q", got)
		}
	})

	t.Run("MalformedRows", func(t *testing.T) {
		cases := []struct {
			name   string
			edit   func(r *seed.Row)
			reason string
		}{
			{"NoID", func(r *seed.Row) { r.ID = "" }, "no id"},
			{"BadTimestamp", func(r *seed.Row) { r.Timestamp = "yesterday" }, "bad timestamp"},
			{"NoTimestamp", func(r *seed.Row) { r.Timestamp = "" }, "bad timestamp"},
			{"TimestampBefore1970", func(r *seed.Row) { r.Timestamp = "1969-12-31T23:59:59" }, "bad timestamp"},
			{"NoMethod", func(r *seed.Row) { r.Method = " " }, "no method"},
			{"NoURL", func(r *seed.Row) { r.URL = "" }, "no url"},
			{"BadURL", func(r *seed.Row) { r.URL = "http://[::1" }, "bad url"},
			{"HeadersNotJSON", func(r *seed.Row) { r.Headers = "{'Host': 'x'}" }, "headers are not a JSON object"},
			{"HeaderIsAnObject", func(r *seed.Row) { r.Headers = `{"Host": {"a": 1}}` }, "headers are not a JSON object"},
			{"ResponseHeadersNotJSON", func(r *seed.Row) { r.RespHeaders = "Content-Type: text/plain" }, "response_headers are not a JSON object"},
			{"StatusNotANumber", func(r *seed.Row) { r.Status = "OK" }, "bad response_status"},
			{"StatusOutOfRange", func(r *seed.Row) { r.Status = "42" }, "bad response_status"},
			{"StatusNotWhole", func(r *seed.Row) { r.Status = "200.5" }, "bad response_status"},
			{"DurationNotANumber", func(r *seed.Row) { r.DurationMS = "fast" }, "bad duration_ms"},
			{"NegativeDuration", func(r *seed.Row) { r.DurationMS = "-1" }, "bad duration_ms"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := streamRow()
				c.edit(&r)
				rec, err := seed.Convert(r, seed.Options{})
				var re *seed.RowError
				if !errors.As(err, &re) || re.Reason != c.reason {
					t.Fatalf("Convert = %v, %v; want RowError %q", rec, err, c.reason)
				}
				if strings.Contains(err.Error(), aliceKey) {
					t.Errorf("the error names the key: %v", err)
				}
			})
		}
	})
}

func TestTimestamps(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in   string
		loc  *time.Location
		want time.Time
	}{
		{"2024-06-01T12:34:56.789012", nil, time.Date(2024, 6, 1, 12, 34, 56, 789012000, time.UTC)},
		{"2024-06-01T12:34:56", nil, time.Date(2024, 6, 1, 12, 34, 56, 0, time.UTC)},
		{"2024-06-01 12:34:56.5", nil, time.Date(2024, 6, 1, 12, 34, 56, 500000000, time.UTC)},
		{"2024-06-01T12:34:56.789012", shanghai, time.Date(2024, 6, 1, 4, 34, 56, 789012000, time.UTC)},
		{"2024-06-01T12:34:56.789012+02:00", shanghai, time.Date(2024, 6, 1, 10, 34, 56, 789012000, time.UTC)},
		{"2024-06-01T12:34:56Z", shanghai, time.Date(2024, 6, 1, 12, 34, 56, 0, time.UTC)},
		{"2024-06-01T12:34:56.123456789", nil, time.Date(2024, 6, 1, 12, 34, 56, 123456000, time.UTC)},
		{"1717245296.25", nil, time.Date(2024, 6, 1, 12, 34, 56, 250000000, time.UTC)},
		{"1717245296250", nil, time.Date(2024, 6, 1, 12, 34, 56, 250000000, time.UTC)},
	}
	for _, c := range cases {
		r := streamRow()
		r.Timestamp = c.in
		rec := mustConvert(t, r, seed.Options{Location: c.loc})
		if !rec.Start.Equal(c.want) || rec.Start.Location() != time.UTC {
			t.Errorf("%q: Start = %v, want %v", c.in, rec.Start, c.want)
		}
	}
}

func TestID(t *testing.T) {
	a, b := streamRow(), jsonRow()
	idA, err := seed.ID(a, seed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("SameRowSameID", func(t *testing.T) {
		again, _ := seed.ID(streamRow(), seed.Options{})
		if rec := mustConvert(t, a, seed.Options{}); again != idA || rec.ID != idA {
			t.Errorf("ids %s, %s, %s differ", idA, again, rec.ID)
		}
	})
	t.Run("UUIDv7AtTheRowsTime", func(t *testing.T) {
		u, err := uuid.Parse(idA)
		if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: version %d variant %v err %v", idA, u.Version(), u.Variant(), err)
		}
		sec, nsec := u.Time().UnixTime()
		if got := time.Unix(sec, nsec).UTC(); got.UnixMilli() != time.Date(2024, 6, 1, 12, 34, 56, 789000000, time.UTC).UnixMilli() {
			t.Errorf("id time %v", got)
		}
	})
	t.Run("EveryFieldOfTheKeyCounts", func(t *testing.T) {
		for name, edit := range map[string]func(r *seed.Row){
			"ID":     func(r *seed.Row) { r.ID = "another" },
			"Method": func(r *seed.Row) { r.Method = "GET" },
			"URL":    func(r *seed.Row) { r.URL = "/v1/models" },
			// The same instant written another way is another row.
			"Timestamp": func(r *seed.Row) { r.Timestamp = "2024-06-01 12:34:56.789012" },
		} {
			r := streamRow()
			edit(&r)
			if id, _ := seed.ID(r, seed.Options{}); id == idA {
				t.Errorf("%s changed, id did not", name)
			}
		}
		// The content does not: a row is the same row whatever its body.
		r := streamRow()
		r.RespBody = nil
		if id, _ := seed.ID(r, seed.Options{}); id != idA {
			t.Errorf("the body changed the id")
		}
	})
	t.Run("SortsByTime", func(t *testing.T) {
		idB, _ := seed.ID(b, seed.Options{})
		early := streamRow()
		early.Timestamp = "2024-06-01T12:34:56.789011" // one microsecond before a
		idEarly, _ := seed.ID(early, seed.Options{})
		if !(idEarly < idA && idA < idB) {
			t.Errorf("ids out of time order: %s, %s, %s", idEarly, idA, idB)
		}
	})
}

// maskOf is the mask a key gets, "" for none.
func maskOf(key string) string {
	if key == "" {
		return ""
	}
	return capture.Mask(key)
}
