package mockupstream

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
)

// model is one entry of GET /models, in OpenRouter's shape.
type model struct {
	ID            string       `json:"id"`
	CanonicalSlug string       `json:"canonical_slug"`
	Name          string       `json:"name"`
	Created       int64        `json:"created"`
	Description   string       `json:"description"`
	ContextLength int          `json:"context_length"`
	Architecture  architecture `json:"architecture"`
	Pricing       pricing      `json:"pricing"`
	TopProvider   topProvider  `json:"top_provider"`
	Supported     []string     `json:"supported_parameters"`
}

type architecture struct {
	Modality         string   `json:"modality"`
	InputModalities  []string `json:"input_modalities"`
	OutputModalities []string `json:"output_modalities"`
	Tokenizer        string   `json:"tokenizer"`
}

// pricing is in US dollars per token; OpenRouter sends the numbers as strings.
type pricing struct {
	Prompt     string `json:"prompt"`
	Completion string `json:"completion"`
	Request    string `json:"request"`
	Image      string `json:"image"`
}

type topProvider struct {
	ContextLength       int  `json:"context_length"`
	MaxCompletionTokens int  `json:"max_completion_tokens"`
	IsModerated         bool `json:"is_moderated"`
}

// The bodies of the static GET endpoints are encoded once, at start-up.
var (
	modelsBody = mustJSON(struct {
		Data []model `json:"data"`
	}{mockModels()})
	keyBody     = []byte(`{"data":{"label":"sk-or-v1-abc...xyz","limit":null,"usage":0.12,"is_free_tier":false,"rate_limit":{"requests":-1,"interval":"10s"}}}`)
	creditsBody = []byte(`{"data":{"total_credits":10,"total_usage":0.12}}`)
)

// mockModels lists the models the mock advertises. The mock answers any
// model name; the list is for clients that pick from it.
func mockModels() []model {
	chatParams := []string{"max_tokens", "temperature", "top_p", "stop", "tools", "tool_choice", "response_format"}
	reasoningParams := append([]string{"reasoning", "include_reasoning"}, chatParams...)
	text := architecture{Modality: "text->text", InputModalities: []string{"text"}, OutputModalities: []string{"text"}}
	vision := architecture{Modality: "text+image->text", InputModalities: []string{"text", "image"}, OutputModalities: []string{"text"}}
	mk := func(id, name, tokenizer string, arch architecture, ctx int, prompt, completion string, params []string) model {
		arch.Tokenizer = tokenizer
		return model{
			ID: id, CanonicalSlug: id, Name: name, Created: 1735689600,
			Description:   name + " (served by the mock upstream).",
			ContextLength: ctx,
			Architecture:  arch,
			Pricing:       pricing{Prompt: prompt, Completion: completion, Request: "0", Image: "0"},
			TopProvider:   topProvider{ContextLength: ctx, MaxCompletionTokens: 16384},
			Supported:     params,
		}
	}
	return []model{
		mk("openai/gpt-4o-mini", "OpenAI: GPT-4o-mini", "GPT", vision, 128000, "0.00000015", "0.0000006", chatParams),
		mk("anthropic/claude-3.5-sonnet", "Anthropic: Claude 3.5 Sonnet", "Claude", vision, 200000, "0.000003", "0.000015", chatParams),
		mk("anthropic/claude-3.7-sonnet:thinking", "Anthropic: Claude 3.7 Sonnet (thinking)", "Claude", vision, 200000, "0.000003", "0.000015", reasoningParams),
		mk("deepseek/deepseek-r1", "DeepSeek: R1", "DeepSeek", text, 163840, "0.0000004", "0.000002", reasoningParams),
		mk("google/gemini-2.0-flash-001", "Google: Gemini 2.0 Flash", "Gemini", vision, 1048576, "0.0000001", "0.0000004", chatParams),
		mk("meta-llama/llama-3.3-70b-instruct", "Meta: Llama 3.3 70B Instruct", "Llama3", text, 131072, "0.00000012", "0.0000003", chatParams),
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// handleGeneration answers GET /generation?id=. The mock keeps no history
// (that would need a growing, locked map on the hot path), so the stats are
// synthetic, apart from the id.
func handleGeneration(x *exchange) {
	id := x.r.URL.Query().Get("id")
	if id == "" {
		x.fail(http.StatusBadRequest, "Missing id", false)
		return
	}
	type stats struct {
		ID                     string  `json:"id"`
		TotalCost              float64 `json:"total_cost"`
		Model                  string  `json:"model"`
		ProviderName           string  `json:"provider_name"`
		TokensPrompt           int     `json:"tokens_prompt"`
		TokensCompletion       int     `json:"tokens_completion"`
		NativeTokensPrompt     int     `json:"native_tokens_prompt"`
		NativeTokensCompletion int     `json:"native_tokens_completion"`
		Latency                int     `json:"latency"`
		GenerationTime         int     `json:"generation_time"`
		Streamed               bool    `json:"streamed"`
		Cancelled              bool    `json:"cancelled"`
		FinishReason           string  `json:"finish_reason"`
	}
	const prompt, completion = 10, 15
	x.writeJSON(http.StatusOK, mustJSON(struct {
		Data stats `json:"data"`
	}{stats{
		ID:                     id,
		TotalCost:              float64(prompt*promptNanoUSD+completion*completionNanoUSD) / 1e9,
		Model:                  defaultModel,
		ProviderName:           "Mock",
		TokensPrompt:           prompt,
		TokensCompletion:       completion,
		NativeTokensPrompt:     prompt,
		NativeTokensCompletion: completion,
		Latency:                120,
		GenerationTime:         100,
		FinishReason:           "stop",
	}}))
}

// embeddingDims is the length of the mock's embedding vectors.
const embeddingDims = 8

// handleEmbeddings answers POST /embeddings with one deterministic vector
// per input, as floats or, if asked, as base64 little-endian float32 (the
// encoding OpenAI's SDKs request by default).
func handleEmbeddings(x *exchange) {
	buf := getBuf()
	defer putBuf(buf)
	if !x.readBody(buf, maxBody) {
		return
	}
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
	}
	if err := json.Unmarshal(*buf, &req); err != nil {
		x.fail(http.StatusBadRequest, "Invalid JSON body: "+err.Error(), false)
		return
	}
	var inputs []string
	var one string
	if json.Unmarshal(req.Input, &one) == nil {
		inputs = []string{one}
	} else if json.Unmarshal(req.Input, &inputs) != nil || len(inputs) == 0 {
		// Token arrays and other shapes: embed their raw JSON.
		inputs = []string{string(req.Input)}
	}
	if req.Model == "" {
		req.Model = "openai/text-embedding-3-small"
	}

	out := getBuf()
	defer putBuf(out)
	b := append(*out, `{"object":"list","data":[`...)
	n := 0
	for i, in := range inputs {
		n += tokens(len(in))
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		vec := embed(in)
		if req.EncodingFormat == "base64" {
			var raw [embeddingDims * 4]byte
			for k, v := range vec {
				binary.LittleEndian.PutUint32(raw[k*4:], math.Float32bits(float32(v)))
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, raw[:])
			b = append(b, '"')
		} else {
			for k, v := range vec {
				if k == 0 {
					b = append(b, '[')
				} else {
					b = append(b, ',')
				}
				b = strconv.AppendFloat(b, v, 'f', 6, 64)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendString(b, req.Model)
	b = append(b, `,"provider":"Mock","usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `}}`...)
	*out = b
	x.writeJSON(http.StatusOK, b)
}

// embed derives a unit vector from a hash of s, so equal inputs get equal
// embeddings and different ones (almost always) differ.
func embed(s string) [embeddingDims]float64 {
	h := fnv.New64a()
	io.WriteString(h, s)
	sum := h.Sum64()
	var vec [embeddingDims]float64
	var norm float64
	for k := range vec {
		v := float64(byte(sum>>(8*k)))/127.5 - 1
		vec[k] = v
		norm += v * v
	}
	if norm == 0 {
		vec[0], norm = 1, 1
	}
	norm = math.Sqrt(norm)
	for k := range vec {
		vec[k] /= norm
	}
	return vec
}

// maxEchoBody bounds /echo, which holds the body in memory to answer it.
const maxEchoBody = 256 << 20

// gzipPool recycles gzip writers: each holds several hundred kilobytes of
// compressor state.
var gzipPool = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// handleEcho answers the request body byte for byte. The body is read whole
// before answering because an HTTP/1 handler may not read the request once
// it has started the response.
func handleEcho(x *exchange) {
	in := getBuf()
	defer putBuf(in)
	if !x.readBody(in, maxEchoBody) {
		return
	}
	body := *in
	h := x.w.Header()
	ct := x.r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	if x.r.Header.Get("X-Mock-Gzip") == "1" {
		out := getBuf()
		defer putBuf(out)
		zb := bytes.NewBuffer((*out)[:0])
		zw := gzipPool.Get().(*gzip.Writer)
		zw.Reset(zb)
		zw.Write(body)
		zw.Close()
		zw.Reset(nil)
		gzipPool.Put(zw)
		*out = zb.Bytes()
		body = zb.Bytes()
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	x.writeHeader(http.StatusOK)
	x.write(body)
}

// sinkBufPool holds copy buffers for /sink.
var sinkBufPool = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// handleSink reads the body as a stream, never holding it whole, and
// answers its length and SHA-256, so tests can check that a large upload
// passed through the proxy intact.
func handleSink(x *exchange) {
	h := sha256.New()
	cb := sinkBufPool.Get().(*[32 << 10]byte)
	n, err := io.CopyBuffer(h, x.r.Body, cb[:])
	sinkBufPool.Put(cb)
	if err != nil {
		if x.alive(x.r.Context()) {
			x.fail(http.StatusBadRequest, "Cannot read request body: "+err.Error(), false)
		}
		return
	}
	b := append([]byte(`{"bytes":`), strconv.FormatInt(n, 10)...)
	b = append(b, `,"sha256":"`...)
	b = hex.AppendEncode(b, h.Sum(nil))
	b = append(b, `"}`...)
	x.writeJSON(http.StatusOK, b)
}

// handleHeaders answers the request headers as received, so tests can see
// what a proxy forwarded, added or stripped. net/http moves Host out of the
// header map, so it is put back; _remote_addr tells who connected.
func handleHeaders(x *exchange) {
	io.Copy(io.Discard, x.r.Body)
	out := make(map[string]any, len(x.r.Header)+2)
	for k, v := range x.r.Header {
		out[k] = v
	}
	out["Host"] = []string{x.r.Host}
	out["_remote_addr"] = x.r.RemoteAddr
	x.writeJSON(http.StatusOK, mustJSON(out))
}
