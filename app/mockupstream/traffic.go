package mockupstream

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// demoCall is one kind of request the demo traffic sends.
type demoCall struct {
	path, body string
	header     map[string]string
	weight     int
}

var demoPrompts = []string{
	"Summarise the plot of Hamlet in two sentences.",
	"Write a haiku about SQLite write-ahead logging.",
	"What is the capital of Australia?",
	"Explain backpressure in one paragraph.",
	"Translate 'good morning' into Japanese.",
	"List three uses of a reverse proxy.",
}

func chatBody(model, prompt string, stream bool) string {
	s := "false"
	if stream {
		s = "true"
	}
	return `{"model":"` + model + `","stream":` + s + `,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"` + prompt + `"}]}`
}

// demoCalls mixes models, streamed and not, with some failures, so the
// dashboard of `-demo` looks like real traffic.
func demoCalls(prompt string) []demoCall {
	return []demoCall{
		{"/chat/completions", chatBody("openai/gpt-4o-mini", prompt, true), nil, 5},
		{"/chat/completions", chatBody("anthropic/claude-3.5-sonnet", prompt, false), nil, 3},
		{"/chat/completions", chatBody("deepseek/deepseek-r1", prompt, true), nil, 2},
		{"/chat/completions", chatBody("google/gemini-2.0-flash-001", prompt, true), map[string]string{"X-Mock-Scenario": "slow", "X-Mock-Delay-Ms": "150"}, 2},
		{"/chat/completions", `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"What's the weather in Paris?"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]}`, nil, 1},
		{"/chat/completions", chatBody("meta-llama/llama-3.3-70b-instruct", prompt, false), map[string]string{"X-Mock-Scenario": "error", "X-Mock-Status": "429"}, 1},
		{"/chat/completions", chatBody("openai/gpt-4o-mini", prompt, true), map[string]string{"X-Mock-Scenario": "midstream-error"}, 1},
		{"/embeddings", `{"model":"openai/text-embedding-3-small","input":"` + prompt + `"}`, nil, 1},
	}
}

// Traffic sends demo requests through the proxy at proxyBase (…/v1) until
// ctx ends: a burst at start, then a few a minute. An empty key sends no
// Authorization, so the proxy's default key applies.
func Traffic(ctx context.Context, proxyBase string, keys []string, log *slog.Logger) {
	client := &http.Client{Timeout: time.Minute}
	send := func() {
		prompt := demoPrompts[rand.N(len(demoPrompts))]
		calls := demoCalls(prompt)
		total := 0
		for _, c := range calls {
			total += c.weight
		}
		pick := rand.N(total)
		var call demoCall
		for _, c := range calls {
			if pick -= c.weight; pick < 0 {
				call = c
				break
			}
		}
		req, err := http.NewRequestWithContext(ctx, "POST", proxyBase+call.path, strings.NewReader(call.body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-OpenRouter-Title", "openrouter-proxy demo")
		if k := keys[rand.N(len(keys))]; k != "" {
			req.Header.Set("Authorization", "Bearer "+k)
		}
		for k, v := range call.header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				log.Debug("demo traffic", "err", err)
			}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for range 8 {
		go send()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(8*time.Second + rand.N(12*time.Second)):
			go send()
		}
	}
}
