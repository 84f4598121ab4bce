package dataset

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// reasoningKind is how a model shows its reasoning.
type reasoningKind uint8

const (
	reasonNone    reasoningKind = iota
	reasonVisible               // reasoning text in delta.reasoning and reasoning_details
	reasonHidden                // only completion_tokens_details.reasoning_tokens
)

// model is one model of the catalog, with what the traffic to it looks like.
type model struct {
	id        string   // the slug a client requests
	served    string   // the slug the answer names (OpenRouter names a dated version)
	name      string   // display name for GET /models
	providers []string // who serves it, the first most often
	// Prices in nano-dollars per token (dollars per million tokens × 1000).
	promptNano, completionNano int64
	ttft                       time.Duration // median time to first token
	tps                        float64       // output tokens per second
	reasoning                  reasoningKind
	native                     string // native_finish_reason of a normal stop
	weight                     [numLangs]int
	anthropic                  bool // also reachable through /messages
	openai                     bool // also reachable through /responses
	context                    int
}

// models is the catalog of chat models, about as OpenRouter listed them in
// late 2025. The weights are per language: Chinese and Japanese users favour
// DeepSeek and Qwen more than English ones do.
var models = []*model{
	{id: "anthropic/claude-sonnet-4.5", served: "anthropic/claude-4.5-sonnet-20250929", name: "Anthropic: Claude Sonnet 4.5",
		providers: []string{"Anthropic", "Google", "Amazon Bedrock"}, promptNano: 3000, completionNano: 15000,
		ttft: 1100 * time.Millisecond, tps: 60, native: "end_turn", weight: [numLangs]int{18, 8, 12}, anthropic: true, context: 1000000},
	{id: "anthropic/claude-haiku-4.5", served: "anthropic/claude-4.5-haiku-20251001", name: "Anthropic: Claude Haiku 4.5",
		providers: []string{"Anthropic", "Google", "Amazon Bedrock"}, promptNano: 1000, completionNano: 5000,
		ttft: 600 * time.Millisecond, tps: 110, native: "end_turn", weight: [numLangs]int{10, 4, 8}, anthropic: true, context: 200000},
	{id: "anthropic/claude-opus-4.1", served: "anthropic/claude-4.1-opus-20250805", name: "Anthropic: Claude Opus 4.1",
		providers: []string{"Anthropic", "Google"}, promptNano: 15000, completionNano: 75000,
		ttft: 1800 * time.Millisecond, tps: 35, native: "end_turn", weight: [numLangs]int{2, 1, 1}, anthropic: true, context: 200000},
	{id: "openai/gpt-5", served: "openai/gpt-5-2025-08-07", name: "OpenAI: GPT-5",
		providers: []string{"OpenAI", "Azure"}, promptNano: 1250, completionNano: 10000,
		ttft: 4 * time.Second, tps: 70, reasoning: reasonHidden, native: "completed", weight: [numLangs]int{6, 3, 5}, openai: true, context: 400000},
	{id: "openai/gpt-5-mini", served: "openai/gpt-5-mini-2025-08-07", name: "OpenAI: GPT-5 Mini",
		providers: []string{"OpenAI", "Azure"}, promptNano: 250, completionNano: 2000,
		ttft: 2 * time.Second, tps: 90, reasoning: reasonHidden, native: "completed", weight: [numLangs]int{12, 6, 10}, openai: true, context: 400000},
	{id: "openai/gpt-4o-mini", served: "openai/gpt-4o-mini", name: "OpenAI: GPT-4o-mini",
		providers: []string{"OpenAI", "Azure"}, promptNano: 150, completionNano: 600,
		ttft: 450 * time.Millisecond, tps: 90, native: "stop", weight: [numLangs]int{10, 4, 6}, openai: true, context: 128000},
	{id: "google/gemini-2.5-pro", served: "google/gemini-2.5-pro", name: "Google: Gemini 2.5 Pro",
		providers: []string{"Google Vertex", "Google AI Studio"}, promptNano: 1250, completionNano: 10000,
		ttft: 3 * time.Second, tps: 80, reasoning: reasonHidden, native: "STOP", weight: [numLangs]int{5, 3, 5}, context: 1048576},
	{id: "google/gemini-2.5-flash", served: "google/gemini-2.5-flash", name: "Google: Gemini 2.5 Flash",
		providers: []string{"Google Vertex", "Google AI Studio"}, promptNano: 300, completionNano: 2500,
		ttft: 500 * time.Millisecond, tps: 180, native: "STOP", weight: [numLangs]int{12, 6, 10}, context: 1048576},
	{id: "deepseek/deepseek-chat-v3.1", served: "deepseek/deepseek-chat-v3.1", name: "DeepSeek: DeepSeek V3.1",
		providers: []string{"DeepSeek", "DeepInfra", "Together", "Fireworks"}, promptNano: 270, completionNano: 1100,
		ttft: 900 * time.Millisecond, tps: 40, native: "stop", weight: [numLangs]int{6, 22, 8}, context: 163840},
	{id: "deepseek/deepseek-r1-0528", served: "deepseek/deepseek-r1-0528", name: "DeepSeek: R1 0528",
		providers: []string{"DeepSeek", "DeepInfra", "Together"}, promptNano: 500, completionNano: 2150,
		ttft: 3 * time.Second, tps: 35, reasoning: reasonVisible, native: "stop", weight: [numLangs]int{3, 12, 4}, context: 163840},
	{id: "qwen/qwen3-235b-a22b-2507", served: "qwen/qwen3-235b-a22b-2507", name: "Qwen: Qwen3 235B A22B Instruct 2507",
		providers: []string{"Alibaba", "DeepInfra", "Together", "Cerebras"}, promptNano: 130, completionNano: 600,
		ttft: 800 * time.Millisecond, tps: 60, native: "stop", weight: [numLangs]int{3, 15, 6}, context: 262144},
	{id: "qwen/qwen3-coder", served: "qwen/qwen3-coder-480b-a35b-07-25", name: "Qwen: Qwen3 Coder 480B A35B",
		providers: []string{"Alibaba", "DeepInfra", "Together"}, promptNano: 220, completionNano: 950,
		ttft: 700 * time.Millisecond, tps: 70, native: "stop", weight: [numLangs]int{4, 8, 4}, context: 262144},
}

// embeddingModel answers /embeddings.
var embeddingModel = &model{id: "openai/text-embedding-3-small", served: "openai/text-embedding-3-small",
	name: "OpenAI: Text Embedding 3 Small", providers: []string{"OpenAI"}, promptNano: 20, context: 8192}

// modelsBody is the answer of GET /models: the catalog in OpenRouter's
// shape. It is encoded once; encoding/json is fine off the hot path.
var modelsBody = func() []byte {
	type pricing struct {
		Prompt     string `json:"prompt"`
		Completion string `json:"completion"`
		Request    string `json:"request"`
		Image      string `json:"image"`
	}
	type entry struct {
		ID            string   `json:"id"`
		CanonicalSlug string   `json:"canonical_slug"`
		Name          string   `json:"name"`
		Created       int64    `json:"created"`
		ContextLength int      `json:"context_length"`
		Pricing       pricing  `json:"pricing"`
		Supported     []string `json:"supported_parameters"`
	}
	price := func(nano int64) string { return strconv.FormatFloat(float64(nano)/1e9, 'f', -1, 64) }
	var list struct {
		Data []entry `json:"data"`
	}
	for i, m := range append(models[:len(models):len(models)], embeddingModel) {
		params := []string{"max_tokens", "temperature", "top_p", "stop", "tools", "tool_choice", "response_format"}
		if m.reasoning != reasonNone {
			params = append(params, "reasoning", "include_reasoning")
		}
		list.Data = append(list.Data, entry{
			ID: m.id, CanonicalSlug: m.served, Name: m.name, Created: 1754000000 + int64(i)*86400,
			ContextLength: m.context,
			Pricing:       pricing{Prompt: price(m.promptNano), Completion: price(m.completionNano), Request: "0", Image: "0"},
			Supported:     params,
		})
	}
	b, err := json.Marshal(list)
	if err != nil {
		panic(err)
	}
	return b
}()

// NumKeys is how many API keys the traffic comes from.
const NumKeys = 20

// keyZipf is the exponent of the keys' share: key k (from 0) makes a share
// proportional to 1/(k+1)^keyZipf, so key 0 makes about a third of the
// traffic and key 19 under 1%.
const keyZipf = 1.2

// Key is one API key of the dataset.
type Key struct {
	Index  int     // rank, 0 the busiest
	Secret string  // the key as clients send it: sk-or-v1-<64 hex>
	Hash   string  // capture.Fingerprint(Secret), as the store keeps it
	Share  float64 // expected fraction of the records made with it
}

// client is how one key's traffic looks: the app behind it.
type client struct {
	key        Key
	bearer     string // "Bearer " + Secret
	userAgent  string
	title      string // X-Title / X-OpenRouter-Title, "" for none
	referer    string // HTTP-Referer, "" for none
	prefix     string // /api/v1 or /v1
	addrs      []string
	streamRate float64 // share of chat requests that stream
	extra      string  // extra request fields, such as ,"temperature":0.7
}

var userAgents = []string{
	"OpenAI/Python 1.109.1", "OpenAI/Python 2.8.1", "OpenAI/JS 5.23.2", "OpenAI/JS 6.9.1", "AsyncOpenAI/Python 1.109.1",
	"python-httpx/0.28.1", "axios/1.12.2", "Go-http-client/1.1", "curl/8.14.1", "LangChain/0.3 OpenAI/Python 1.109.1",
}

var apps = []struct{ title, referer string }{
	{"", ""}, {"", ""}, {"", ""}, {"Acme Support Bot", "https://support.acme.example"},
	{"DocsGPT", "https://docs.example.org"}, {"Research Notebook", ""}, {"CodeMentor", "https://codementor.example.dev"},
	{"小助手", "https://assistant.example.cn"}, {"", "https://localhost:3000"},
}

var extras = []string{
	``, ``, `,"temperature":0.7`, `,"temperature":0.2,"max_tokens":2048`, `,"max_tokens":1024`,
	`,"usage":{"include":true}`, `,"provider":{"sort":"throughput"}`, `,"top_p":0.9`,
}

// newClients derives the keys and their apps from the seed.
func newClients(r *rand.Rand) []client {
	var total float64
	for k := range NumKeys {
		total += math.Pow(float64(k+1), -keyZipf)
	}
	cs := make([]client, NumKeys)
	for k := range cs {
		var raw [32]byte
		for j := 0; j < len(raw); j += 8 {
			v := r.Uint64()
			for b := range 8 {
				raw[j+b] = byte(v >> (8 * b))
			}
		}
		secret := "sk-or-v1-" + hex.EncodeToString(raw[:])
		app := apps[r.IntN(len(apps))]
		prefix := "/api/v1"
		if r.IntN(4) == 0 {
			prefix = "/v1"
		}
		addrs := make([]string, 1+r.IntN(3))
		for a := range addrs {
			addrs[a] = "10." + strconv.Itoa(20+k) + "." + strconv.Itoa(r.IntN(250)+1) + "." + strconv.Itoa(r.IntN(250)+2)
		}
		cs[k] = client{
			key:        Key{Index: k, Secret: secret, Hash: capture.Fingerprint(secret), Share: math.Pow(float64(k+1), -keyZipf) / total},
			bearer:     "Bearer " + secret,
			userAgent:  userAgents[r.IntN(len(userAgents))],
			title:      app.title,
			referer:    app.referer,
			prefix:     prefix,
			addrs:      addrs,
			streamRate: 0.55 + 0.4*r.Float64(),
			extra:      extras[r.IntN(len(extras))],
		}
	}
	return cs
}
