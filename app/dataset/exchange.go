package dataset

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/mockupstream"
)

// Sizes, in bytes of request body plus response body.
const (
	minTotal = 2300 // the smallest total aimed at; fillers stop within 20 bytes of the aim
	maxTotal = 4000 // the largest; usage digits may add a few bytes
	maxResp  = 3000 // a response never takes more, so a request of 700 bytes fits
	minReq   = 700  // a new conversation's request takes at least this
)

// convo is a conversation going on: its next request resends its history.
type convo struct {
	cl      *client
	m       *model
	lang    Lang
	stream  bool
	system  string
	history []string // user, assistant, user, assistant, …
}

// maxPairs is the most earlier user/assistant turns a request carries.
const maxPairs = 6

// exchange is the plan of one generative exchange.
type exchange struct {
	api      api
	cl       *client
	m        *model
	provider string
	lang     Lang
	stream   bool
	out      outcome
	needle   *Needle
	genID    string
	msgID    string
	created  int64
	variant  int // picks among the shapes of a chunk or an error

	system   string
	history  []string
	user     string
	reply    string
	cuts     []int // where the reply's chunks end
	errAt    int   // outMidstream: the chunk the error replaces
	padded   bool  // a whole JSON answer preceded by padding
	reason   string
	hidden   int // reasoning tokens without text
	usage    mockupstream.Usage
	ttfb     time.Duration
	first    time.Duration // when the first output arrives
	byteRate float64       // output bytes per second
}

// generate makes a chat completion, Responses or Messages exchange.
func (g *Generator) generate(rec *capture.Record, a api, nd *Needle) {
	x := &g.x
	*x = exchange{api: a, needle: nd, cuts: x.cuts[:0], history: x.history[:0]}

	// Who asks, and in which conversation.
	slot := -1
	var c *convo
	if a == apiChat && nd == nil {
		slot = g.r.IntN(poolSize)
		if g.pool[slot] != nil && g.r.IntN(100) < 55 {
			c = g.pool[slot]
		}
	}
	if c != nil {
		x.cl, x.m, x.lang, x.stream, x.system = c.cl, c.m, c.lang, c.stream, c.system
		x.history = append(x.history, c.history...)
	} else {
		x.cl = g.pickKey()
		x.lang = Lang(g.pick(g.langCDF))
		if nd != nil {
			x.lang = nd.Lang
			if nd.Key >= 0 {
				x.cl = &g.clients[nd.Key]
			}
		}
		x.m = g.pickModel(x.lang, a)
		x.stream = g.r.Float64() < x.cl.streamRate
		if nd != nil && nd.Where == InReply {
			x.stream = true
		}
		g.text = g.render(g.text[:0], banks[x.lang], banks[x.lang].system[g.r.IntN(len(banks[x.lang].system))])
		x.system = string(g.text)
	}
	x.provider = x.m.providers[0]
	if len(x.m.providers) > 1 && g.r.IntN(10) < 4 {
		x.provider = x.m.providers[1+g.r.IntN(len(x.m.providers)-1)]
	}
	x.out = outOK
	if nd == nil {
		x.out = outcome(g.pick(g.outCDF))
	}
	x.variant = g.r.IntN(1 << 16)
	x.created = rec.Start.Unix()
	x.genID = g.id("gen-"+strconv.FormatInt(x.created, 10)+"-", 20)
	if a == apiResponses {
		x.msgID = g.id("msg_", 24)
	}

	// Timing: the first output after the model's latency, then the text at
	// its speed.
	x.ttfb = g.between(60*time.Millisecond, 400*time.Millisecond)
	x.first = x.ttfb + g.lognormal(x.m.ttft, 0.45)
	x.byteRate = x.m.tps * bytesPerToken(x.lang) * math.Exp(0.25*g.r.NormFloat64())
	if x.out == outRetried {
		rec.Attempts = 2 + g.r.IntN(2)
		backoff := g.between(200*time.Millisecond, 1500*time.Millisecond)
		x.ttfb += backoff
		x.first += backoff
	}
	x.padded = !x.stream && g.r.IntN(4) == 0
	if x.m.reasoning == reasonHidden {
		// Hidden reasoning runs faster than visible output.
		x.hidden = 64 + g.r.IntN(900)
		x.first += time.Duration(float64(x.hidden) / (3 * x.m.tps) * float64(time.Second))
	}

	// The answer first, sized to leave room for the request.
	status := http.StatusOK
	keep := 0
	switch x.out {
	case out429, out400, out502:
		status = [...]int{out429: http.StatusTooManyRequests, out400: http.StatusBadRequest, out502: http.StatusBadGateway}[x.out]
		if status == http.StatusBadGateway {
			x.ttfb = g.between(time.Second, 12*time.Second)
		}
		if status != http.StatusBadRequest {
			rec.Attempts = 1 + g.r.IntN(3)
		}
		g.upstreamError(x, status)
		keep = len(g.ev.end)
	case outCancelled:
		if !x.stream {
			break // the client left before any answer
		}
		fallthrough
	default:
		g.plan(x)
		x.usage = mockupstream.Usage{Prompt: 500, Completion: 100}
		g.answer(x)
		keep = len(g.ev.end)
		if x.out == outCancelled {
			keep = 2 + g.r.IntN(max(1, keep-3))
		}
	}

	// Then the request, sized to the response.
	respLen := g.ev.size(keep)
	continued := c != nil
	if !g.chatRequest(x, respLen, continued) {
		// The conversation has grown too long for one more turn: the
		// client starts a new one, with a fresh, shorter history.
		continued, c = false, nil
		x.history = x.history[:0]
		g.chatRequest(x, respLen, false)
	}

	path := [...]string{apiChat: "/chat/completions", apiResponses: "/responses", apiMessages: "/messages"}[a]
	g.request(rec, x.cl, http.MethodPost, path, g.req, x.stream)
	if status == http.StatusOK && keep == 0 {
		// Cancelled before the upstream answered.
		rec.Status = 499
		rec.Cancelled = true
		rec.ProxyErr = "client went away before the upstream answered"
		rec.Duration = g.between(300*time.Millisecond, 20*time.Second)
		return
	}
	if status == http.StatusOK {
		g.account(x, continued)
		g.answer(x)
	}
	ctype := "application/json"
	if x.stream && status == http.StatusOK {
		ctype = "text/event-stream"
	}
	genID := ""
	if a == apiChat && status == http.StatusOK {
		genID = x.genID
	}
	g.response(rec, status, ctype, genID, &g.ev, keep, time.Duration(200+g.r.IntN(3000))*time.Microsecond)
	if x.out == outCancelled {
		rec.Cancelled = true
	}

	// The conversation goes on if the turn succeeded and nothing rare was
	// said in it.
	if slot < 0 || (x.out != outOK && x.out != outRetried) {
		return
	}
	if c == nil {
		c = &convo{cl: x.cl, m: x.m, lang: x.lang, stream: x.stream, system: x.system}
		c.history = append(c.history, x.history...)
		g.pool[slot] = c
	}
	c.history = append(c.history, x.user, x.reply)
	if len(c.history)/2 > maxPairs {
		g.pool[slot] = nil
	}
}

// pickModel returns a model for lang that serves api.
func (g *Generator) pickModel(lang Lang, a api) *model {
	for {
		m := models[g.pick(g.models[lang])]
		switch {
		case a == apiMessages && !m.anthropic, a == apiResponses && !m.openai:
			continue
		}
		return m
	}
}

// bytesPerToken is how many bytes of text make a token, roughly.
func bytesPerToken(l Lang) float64 {
	if l == English {
		return 4
	}
	return 2.6
}

// tokens estimates the tokens of n bytes of text in lang.
func tokens(n int, l Lang) int { return int(math.Ceil(float64(n) / bytesPerToken(l))) }

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// id returns prefix followed by n random letters and digits.
func (g *Generator) id(prefix string, n int) string {
	b := append(g.tmp[:0], prefix...)
	for range n {
		b = append(b, idChars[g.r.IntN(len(idChars))])
	}
	g.tmp = b
	return string(b)
}

// Per-answer overheads, in bytes, by which plan sizes the reply: the
// framing a chunk adds to its text, and the framing of the whole answer.
func overhead(x *exchange) (perChunk, fixed int) {
	switch {
	case x.api == apiChat && x.stream:
		h := 170 + len(x.m.served) + len(x.provider)
		return h + 125, 4*h + 650 + 3*len(x.reason)
	case x.api == apiResponses && x.stream:
		return 150, 1000
	case x.api == apiMessages && x.stream:
		return 110, 800
	}
	return 0, 700
}

// plan writes the reply (and reasoning) and cuts it into chunks.
func (g *Generator) plan(x *exchange) {
	b := banks[x.lang]
	if x.m.reasoning == reasonVisible {
		g.text = g.fill(g.text[:0], b, b.body, 60+g.r.IntN(140))
		x.reason = string(g.text)
	}
	// Whole answers run longer than streamed ones, whose chunks' framing
	// takes much of the room; no answer takes more than maxResp.
	size := 150 + g.r.IntN(650)
	if x.stream {
		size = 100 + g.r.IntN(400)
	}
	perChunk, fixed := overhead(x)
	const meanPiece = 150
	most := (maxResp - fixed) * meanPiece / (meanPiece + perChunk)
	if x.api == apiResponses && x.stream {
		most /= 2 // the text comes twice: in deltas and in the completed response
	}
	size = max(min(size, most), 100)

	t := g.text[:0]
	t = g.render(t, b, b.greet[g.r.IntN(len(b.greet))])
	nStart := -1
	if nd := x.needle; nd != nil && nd.Where == InReply {
		t = append(t, b.sep...)
		nStart = len(t) + strings.Index(nd.sentence, nd.Token)
		t = append(t, nd.sentence...)
	}
	closing := g.r.IntN(3) > 0
	limit := size
	if closing {
		limit -= 60
	}
	t = g.fill(t, b, b.body, max(limit, len(t)))
	if x.lang == English && g.r.IntN(10) == 0 && len(t)+120 < size {
		t = g.code(t, b)
	}
	if closing {
		t = g.sentence(t, b, b.close, size)
	}
	x.reply = string(t)
	g.text = t

	// Chunks of 80–220 bytes, cut between words (English) or characters.
	x.cuts = x.cuts[:0]
	if x.stream {
		split := -1
		if nStart >= 0 {
			split = nStart + x.needle.split
		}
		pos := 0
		for {
			next := pos + 80 + g.r.IntN(140)
			if next >= len(x.reply) {
				break
			}
			if x.lang == English {
				sp := strings.IndexByte(x.reply[next:], ' ')
				if sp < 0 {
					break
				}
				next += sp + 1
			} else {
				for next < len(x.reply) && !utf8.RuneStart(x.reply[next]) {
					next++
				}
			}
			if split >= 0 && next >= nStart && next < nStart+len(x.needle.Token) {
				next = split // the one cut inside the needle
			}
			if next >= len(x.reply) || next <= pos {
				break
			}
			if split >= 0 && pos < split && split < next {
				x.cuts = append(x.cuts, split)
			}
			x.cuts = append(x.cuts, next)
			pos = next
		}
		if split >= 0 && pos < split {
			x.cuts = append(x.cuts, split)
		}
		x.cuts = append(x.cuts, len(x.reply))
		// A failure after generation began comes after 1 or more chunks.
		x.errAt = 1 + g.r.IntN(len(x.cuts))
	}
}

// code appends a short code block, with the quotes and newlines that JSON
// must escape.
func (g *Generator) code(t []byte, b *bank) []byte {
	t = append(t, "\n\n```python\nresult = client."...)
	t = append(t, b.verbs[g.r.IntN(len(b.verbs))]...)
	t = append(t, `("`...)
	t = append(t, b.pseudo[g.zipf[b.lang].Uint64()]...)
	t = append(t, `", limit=`...)
	t = append(t, numbers[g.r.IntN(len(numbers))]...)
	t = append(t, ")\nprint(result)\n```\n\n"...)
	return t
}

// answer builds the response of x into g.ev.
func (g *Generator) answer(x *exchange) {
	switch {
	case x.api == apiChat && x.stream:
		g.chatStream(x)
	case x.api == apiChat:
		g.chatJSON(x)
	case x.api == apiResponses && x.stream:
		g.responsesStream(x)
	case x.api == apiResponses:
		g.responsesJSON(x)
	case x.stream:
		g.messagesStream(x)
	default:
		g.messagesJSON(x)
	}
}

// account sets x's usage and cost from the request and the reply.
func (g *Generator) account(x *exchange, continued bool) {
	u := mockupstream.Usage{
		Prompt:     tokens(len(g.req), x.lang),
		Completion: tokens(len(x.reply), x.lang),
	}
	if x.reason != "" {
		u.Reasoning = tokens(len(x.reason), x.lang)
	}
	u.Reasoning += x.hidden
	u.Completion += u.Reasoning
	if continued && x.m.promptNano < 600 && g.r.IntN(2) == 0 {
		// DeepSeek-style prompt caching in 64-token units: the history
		// was seen in the previous turn.
		u.Cached = (u.Prompt - tokens(len(x.user), x.lang)) / 64 * 64
	}
	if x.out == outMidstream {
		u.Completion = tokens(x.cutAt(x.errAt), x.lang) + u.Reasoning
	}
	u.CostNano = int64(u.Prompt-u.Cached)*x.m.promptNano + int64(u.Cached)*x.m.promptNano/10 + int64(u.Completion)*x.m.completionNano
	x.usage = u
}

// cutAt returns the reply bytes sent before chunk k.
func (x *exchange) cutAt(k int) int {
	if k == 0 || len(x.cuts) == 0 {
		return 0
	}
	return x.cuts[min(k, len(x.cuts))-1]
}

// chatRequest builds the request body of x into g.req, to make a total of
// 2–4 KiB with a response of respLen bytes. A continued conversation
// resends its history and adds a short new turn, longer only if the total
// would be too small; it reports false when the history leaves no room. A
// new conversation gets 1–4 earlier turns made up to fill the total.
func (g *Generator) chatRequest(x *exchange, respLen int, continued bool) bool {
	b := banks[x.lang]
	r := g.req[:0]
	r = append(r, `{"model":"`...)
	r = append(r, x.m.id...)
	var suffix string
	switch x.api {
	case apiResponses:
		r = append(r, `","instructions":`...)
		r = appendStr(r, x.system)
		r = append(r, `,"input":[`...)
		suffix = `]` + streamField(x.stream) + `,"max_output_tokens":4096}`
	case apiMessages:
		r = append(r, `","max_tokens":1024,"system":`...)
		r = appendStr(r, x.system)
		r = append(r, `,"messages":[`...)
		suffix = `]` + streamField(x.stream) + `}`
	default:
		r = append(r, `","messages":[{"role":"system","content":`...)
		r = appendStr(r, x.system)
		r = append(r, `},`...)
		suffix = `]` + streamField(x.stream) + x.cl.extra + `}`
	}
	const userOpen, userClose = `{"role":"user","content":"`, `"}`
	const asstOpen = `{"role":"assistant","content":`
	fixed := respLen + len(suffix) + len(userOpen) + len(userClose)
	last := 60 + g.r.IntN(300) // the new turn

	var total int
	if continued {
		for k, m := range x.history {
			if k%2 == 0 {
				r = append(r, userOpen[:len(userOpen)-1]...)
			} else {
				r = append(r, asstOpen...)
			}
			r = appendStr(r, m)
			r = append(r, "},"...)
		}
		if len(r)+fixed+60 > maxTotal {
			g.req = r
			return false
		}
		total = min(len(r)+fixed+last, maxTotal)
		if total < minTotal {
			total = minTotal + g.r.IntN(400)
		}
	} else {
		total = max(minTotal, respLen+minReq)
		total += g.r.IntN(max(1, maxTotal-total))
		room := total - len(r) - fixed - last
		pairs := 1 + g.r.IntN(4)
		pairs = max(1, min(pairs, room/200))
		share := room / pairs
		for range pairs {
			// Short turns, as in a chat; what they leave goes to the new
			// turn, as pasted context.
			userLen := min(share*(25+g.r.IntN(20))/100, 60+g.r.IntN(240))
			asstLen := min(share-userLen-len(userOpen)-len(asstOpen)-4, 100+g.r.IntN(500))
			g.text = g.userTurn(g.text[:0], b, nil, max(userLen-len(userOpen)-2, 40), false)
			x.history = append(x.history, string(g.text))
			r = append(r, userOpen...)
			r = appendBody(r, x.history[len(x.history)-1])
			r = append(r, userClose+","...)
			g.text = g.fill(g.render(g.text[:0], b, b.greet[g.r.IntN(len(b.greet))]), b, b.body, max(asstLen, 40))
			x.history = append(x.history, string(g.text))
			r = append(r, asstOpen...)
			r = appendStr(r, x.history[len(x.history)-1])
			r = append(r, "},"...)
		}
	}
	// The new user turn fills what is left.
	room := max(total-len(r)-fixed, 60)
	g.text = g.userTurn(g.text[:0], b, x.needle, room, continued)
	x.user = string(g.text)
	r = append(r, userOpen...)
	r = appendBody(r, x.user)
	r = append(r, userClose...)
	r = append(r, suffix...)
	g.req = r
	return true
}

// streamField is the request's stream member.
func streamField(stream bool) string {
	if stream {
		return `,"stream":true`
	}
	return `,"stream":false`
}

// userTurn appends a user message of at most limit bytes (and within 20 of
// it when limit allows): the needle's sentence if any, a question, then
// context to fill.
func (g *Generator) userTurn(t []byte, b *bank, nd *Needle, limit int, followUp bool) []byte {
	start := len(t)
	if nd != nil && nd.Where == InRequest {
		t = append(t, nd.sentence...)
		t = append(t, b.sep...)
	}
	ts := b.opening
	if followUp && g.r.IntN(2) == 0 {
		ts = b.follow
	}
	t = g.sentence(t, b, ts, start+limit)
	if len(t)-start < limit-150 {
		t = append(t, b.sep...)
		t = g.sentence(t, b, b.context, start+limit)
	}
	t = g.fillUser(t, b, b.body, start+limit)
	return trimSep(t, b)
}

// trimSep drops a trailing separator.
func trimSep(t []byte, b *bank) []byte {
	if b.sep != "" && len(t) > 0 && t[len(t)-1] == ' ' {
		t = t[:len(t)-1]
	}
	return t
}

// render appends one instance of tmpl.
func (g *Generator) render(t []byte, b *bank, tmpl template) []byte {
	for _, p := range tmpl {
		switch p.slot {
		case slotLit:
			t = append(t, p.lit...)
		case slotNoun:
			t = article(t, b.nouns[g.r.IntN(len(b.nouns))])
		case slotVerb:
			t = append(t, b.verbs[g.r.IntN(len(b.verbs))]...)
		case slotVing:
			t = append(t, b.vings[g.r.IntN(len(b.vings))]...)
		case slotAdj:
			t = article(t, b.adjs[g.r.IntN(len(b.adjs))])
		case slotTech:
			t = append(t, techs[g.r.IntN(len(techs))]...)
		case slotPseudo:
			t = append(t, b.pseudo[g.zipf[b.lang].Uint64()]...)
		case slotName:
			t = append(t, b.names[g.zipf[b.lang].Uint64()]...)
		case slotGeneral:
			t = article(t, b.general[g.r.IntN(len(b.general))])
		case slotPlace:
			t = append(t, b.places[g.r.IntN(len(b.places))]...)
		case slotNum:
			t = append(t, numbers[g.r.IntN(len(numbers))]...)
		case slotBody:
			t = g.render(t, b, b.body[g.r.IntN(len(b.body))])
		}
	}
	return t
}

// article appends word after t, turning an English "a" before it into "an"
// when the word starts with a vowel.
func article(t []byte, word string) []byte {
	n := len(t)
	if n >= 2 && t[n-1] == ' ' && (t[n-2] == 'a' || t[n-2] == 'A') && (n == 2 || t[n-3] == ' ') && strings.IndexByte("aeiouAEIOU", word[0]) >= 0 {
		t = append(t[:n-1], 'n', ' ')
	}
	return append(t, word...)
}

// sentence appends one sentence from ts, separated from what precedes it,
// if one fits before limit (a length of t); it tries a few.
func (g *Generator) sentence(t []byte, b *bank, ts []template, limit int) []byte {
	mark := len(t)
	for range 4 {
		if mark > 0 && b.sep != "" && t[mark-1] != ' ' && t[mark-1] != '\n' {
			t = append(t, b.sep...)
		}
		t = g.render(t, b, ts[g.r.IntN(len(ts))])
		if len(t) <= limit {
			return t
		}
		t = t[:mark]
	}
	return t
}

// fill appends sentences from ts while they fit before limit.
func (g *Generator) fill(t []byte, b *bank, ts []template, limit int) []byte {
	for len(t) < limit-20 {
		n := len(t)
		t = g.sentence(t, b, ts, limit)
		if len(t) == n {
			break
		}
	}
	return t
}

// fillUser is fill topped up with a user's short phrases until it is
// within 20 bytes of limit: the request's size must be on target.
func (g *Generator) fillUser(t []byte, b *bank, ts []template, limit int) []byte {
	t = g.fill(t, b, ts, limit)
	for len(t) < limit-20 {
		f := b.fillers[g.r.IntN(len(b.fillers))]
		n := len(f)
		if len(t) > 0 {
			n += len(b.sep)
		}
		if len(t)+n > limit {
			break
		}
		if len(t) > 0 {
			t = append(t, b.sep...)
		}
		t = append(t, f...)
	}
	return t
}

// embeddingDims is what the client asks for: short vectors keep the
// answers in the dataset's size range.
const embeddingDims = 256

// embeddings makes an /embeddings exchange: 1–2 passages in, base64
// vectors out, the encoding OpenAI's SDKs ask for.
func (g *Generator) embeddings(rec *capture.Record) {
	cl := g.pickKey()
	lang := Lang(g.pick(g.langCDF))
	b := banks[lang]
	inputs := 1 + g.r.IntN(2)
	created := rec.Start.Unix()
	genID := g.id("gen-emb-"+strconv.FormatInt(created, 10)+"-", 20)

	e := &g.ev
	e.reset()
	r := append(g.req[:0], `{"model":"openai/text-embedding-3-small","input":[`...)
	vecLen := base64.StdEncoding.EncodedLen(embeddingDims * 4)
	total := minTotal + g.r.IntN(maxTotal-minTotal)
	perInput := (total - inputs*(vecLen+60) - 250 - 100) / inputs
	text := 0
	for k := range inputs {
		if k > 0 {
			r = append(r, ',')
		}
		g.text = g.fill(g.text[:0], b, b.body, max(perInput, 80))
		text += len(g.text)
		r = append(r, '"')
		r = appendBody(r, string(g.text))
		r = append(r, '"')
	}
	r = append(r, `],"encoding_format":"base64","dimensions":256}`...)
	g.req = r

	ttfb := g.between(80*time.Millisecond, 600*time.Millisecond)
	out := e.b[:0]
	out = append(out, `{"object":"list","data":[`...)
	var raw [embeddingDims * 4]byte
	for k := range inputs {
		if k > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"object":"embedding","index":`...)
		out = strconv.AppendInt(out, int64(k), 10)
		out = append(out, `,"embedding":"`...)
		for d := range embeddingDims {
			binary.LittleEndian.PutUint32(raw[d*4:], math.Float32bits(float32(0.06*g.r.NormFloat64())))
		}
		out = base64.StdEncoding.AppendEncode(out, raw[:])
		out = append(out, `"}`...)
	}
	toks := tokens(text, lang)
	out = append(out, `],"model":"openai/text-embedding-3-small","id":"`...)
	out = append(out, genID...)
	out = append(out, `","provider":"OpenAI","usage":{"prompt_tokens":`...)
	out = strconv.AppendInt(out, int64(toks), 10)
	out = append(out, `,"total_tokens":`...)
	out = strconv.AppendInt(out, int64(toks), 10)
	out = append(out, `,"cost":`...)
	out = strconv.AppendFloat(out, float64(int64(toks)*embeddingModel.promptNano)/1e9, 'f', -1, 64)
	out = append(out, `}}`...)
	e.b = out
	e.mark(ttfb)

	g.request(rec, cl, http.MethodPost, "/embeddings", g.req, false)
	g.response(rec, http.StatusOK, "application/json", "", e, 1, time.Duration(100+g.r.IntN(900))*time.Microsecond)
}

// models0 makes a GET /models exchange.
func (g *Generator) models0(rec *capture.Record) {
	cl := g.pickKey()
	g.request(rec, cl, http.MethodGet, "/models", nil, false)
	e := &g.ev
	e.reset()
	e.b = append(e.b, modelsBody...)
	e.mark(g.between(40*time.Millisecond, 300*time.Millisecond))
	g.response(rec, http.StatusOK, "application/json", "", e, 1, time.Duration(100+g.r.IntN(900))*time.Microsecond)
}
