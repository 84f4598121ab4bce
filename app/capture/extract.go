package capture

import (
	"bytes"
	"cmp"
	"encoding/json"
	"slices"
	"strings"
)

// analysis collects what the events or the body of one answer say.
type analysis struct {
	content   strings.Builder
	reasoning strings.Builder
	tools     toolCalls
	model     string
	provider  string // who served the request behind OpenRouter
	genID     string
	finish    string
	usage     usageSum
	streamErr *apiError // the first error event of a stream
	bodyErr   *apiError // the error object of a whole body
	events    int       // stream events that decoded as JSON
	slowOnly  bool      // tests: decode every event the general way, never by fastChunk
}

// stream reads the SSE events of body and returns the offset just past the
// first event that carried output, or -1.
func (a *analysis) stream(body []byte) (firstOutput int) {
	firstOutput = -1
	var ev event
	scanSSE(body, func(data []byte, end int) bool {
		if isDone(data) {
			return false
		}
		output, ok := false, false
		if !a.slowOnly {
			output, ok = a.fastChunk(data)
		}
		if !ok {
			if !decodeEvent(data, &ev) {
				return true
			}
			output = a.streamEvent(&ev, false)
		}
		a.events++
		if output && firstOutput < 0 {
			firstOutput = end
		}
		return true
	})
	return firstOutput
}

// streamTail reads the events in the tail of a stream too long to keep
// whole. The middle of the stream is missing, so only the fields that
// arrive whole at the end are taken, not text.
func (a *analysis) streamTail(tail []byte) {
	start := eventBoundary(tail)
	if start < 0 {
		return
	}
	var ev event
	scanSSE(tail[start:], func(data []byte, _ int) bool {
		if isDone(data) {
			return false
		}
		if decodeEvent(data, &ev) {
			a.streamEvent(&ev, true)
		}
		return true
	})
}

// decodeEvent decodes the JSON object data into ev, reporting false when
// data is not one.
func decodeEvent(data []byte, ev *event) bool {
	*ev = event{} // Unmarshal merges into what is there
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 || data[0] != '{' {
		return false
	}
	return decodeJSON(data, ev)
}

// streamEvent takes in one stream event and reports whether it carried
// output (text, reasoning or a tool call), the mark of the first token.
// With tail set, text and tool calls are not taken.
func (a *analysis) streamEvent(ev *event, tail bool) (output bool) {
	if ev.ID != "" && a.genID == "" {
		a.genID = ev.ID
	}
	if ev.Model != "" {
		a.model = ev.Model
	}
	if ev.Provider != "" {
		a.provider = ev.Provider
	}
	if c := firstChoice(ev.Choices); c != nil {
		if !tail {
			if c.Delta != nil && a.addMessage(c.Delta, false) {
				output = true
			}
			if c.Text != "" {
				a.content.WriteString(string(c.Text))
				output = true
			}
		}
		if c.FinishReason != "" {
			a.finish = c.FinishReason
		}
	}
	if ev.Usage != nil {
		a.usage.add(ev.Usage)
	}
	if e := parseAPIError(ev.Error); e != nil && a.streamErr == nil {
		a.streamErr = e
	}
	if ev.Type != "" && a.typedEvent(ev, tail) {
		output = true
	}
	return output
}

// typedEvent takes in the Responses API and Anthropic events, which name
// their type, and reports whether the event carried output.
func (a *analysis) typedEvent(ev *event, tail bool) (output bool) {
	switch ev.Type {
	// Responses API.
	case "response.output_text.delta":
		if s := rawString(ev.Delta); s != "" && !tail {
			a.content.WriteString(s)
			return true
		}
	case "response.reasoning_text.delta", "response.reasoning_summary_text.delta":
		if s := rawString(ev.Delta); s != "" && !tail {
			a.reasoning.WriteString(s)
			return true
		}
	case "response.output_item.added", "response.output_item.done":
		if it := ev.Item; it != nil && it.Type == "function_call" && !tail {
			c := a.tools.at(indexOr(ev.OutputIndex, 0))
			c.set(cmp.Or(it.CallID, it.ID), "function", it.Name)
			if ev.Type == "response.output_item.done" && c.args.Len() == 0 {
				c.args.WriteString(string(it.Arguments))
			}
			return true
		}
	case "response.function_call_arguments.delta":
		if s := rawString(ev.Delta); s != "" && !tail {
			a.tools.at(indexOr(ev.OutputIndex, 0)).args.WriteString(s)
			return true
		}
	case "response.created", "response.in_progress", "response.completed", "response.incomplete", "response.failed":
		if r := ev.Response; r != nil {
			if r.ID != "" && a.genID == "" {
				a.genID = r.ID
			}
			if r.Model != "" {
				a.model = r.Model
			}
			if r.Usage != nil {
				a.usage.add(r.Usage)
			}
			if e := parseAPIError(r.Error); e != nil && a.streamErr == nil {
				a.streamErr = e
			}
			if f := responseFinish(r); f != "" && ev.Type != "response.created" && ev.Type != "response.in_progress" {
				a.finish = f
			}
		}
	case "error":
		// A Responses error event has code and message at the top level;
		// Anthropic's has an error object, read in streamEvent.
		if msg := rawString(ev.Message); msg != "" && a.streamErr == nil {
			a.streamErr = &apiError{Code: codeString(ev.Code), Message: msg}
		}

	// Anthropic messages.
	case "message_start":
		var m event
		if len(ev.Message) > 0 && decodeJSON(ev.Message, &m) {
			if m.ID != "" && a.genID == "" {
				a.genID = m.ID
			}
			if m.Model != "" {
				a.model = m.Model
			}
			if m.Usage != nil {
				a.usage.add(m.Usage)
			}
		}
	case "content_block_start":
		if b := ev.ContentBlock; b != nil && !tail {
			switch b.Type {
			case "tool_use", "server_tool_use":
				// Its input is {} here; the arguments follow as deltas.
				a.tools.at(indexOr(ev.Index, 0)).set(b.ID, "function", b.Name)
				return true
			case "text":
				a.content.WriteString(string(b.Text))
				return b.Text != ""
			case "thinking":
				a.reasoning.WriteString(string(b.Thinking))
				return b.Thinking != ""
			}
		}
	case "content_block_delta":
		var d anthropicDelta
		if tail || !decodeObject(ev.Delta, &d) {
			return false
		}
		switch {
		case d.Text != "":
			a.content.WriteString(d.Text)
		case d.Thinking != "":
			a.reasoning.WriteString(d.Thinking)
		case d.PartialJSON != "":
			a.tools.at(indexOr(ev.Index, 0)).args.WriteString(d.PartialJSON)
		default:
			return false
		}
		return true
	case "message_delta":
		var d anthropicDelta
		if decodeObject(ev.Delta, &d) && d.StopReason != "" {
			a.finish = d.StopReason
		}
	}
	return false
}

// decodeObject decodes raw into v if raw is a JSON object.
func decodeObject(raw json.RawMessage, v any) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{' && decodeJSON(raw, v)
}

// whole takes in a response body that is one JSON object.
func (a *analysis) whole(ev *event) {
	if ev.ID != "" {
		a.genID = ev.ID
	}
	a.model = ev.Model
	a.provider = ev.Provider
	if c := firstChoice(ev.Choices); c != nil {
		if c.Message != nil {
			a.addMessage(c.Message, true)
		}
		a.content.WriteString(string(c.Text))
		a.finish = c.FinishReason
	}
	if ev.Usage != nil {
		a.usage.add(ev.Usage)
	}
	a.bodyErr = parseAPIError(ev.Error)

	// Responses API.
	for i, it := range ev.Output {
		switch it.Type {
		case "message":
			for _, p := range it.Content {
				if p.Type == "output_text" || p.Type == "text" {
					a.content.WriteString(string(p.Text))
				}
			}
		case "reasoning":
			for _, p := range it.Summary {
				a.reasoning.WriteString(string(p.Text))
			}
			for _, p := range it.Content {
				a.reasoning.WriteString(string(p.Text))
			}
		case "function_call":
			c := a.tools.at(i)
			c.set(cmp.Or(it.CallID, it.ID), "function", it.Name)
			c.args.WriteString(string(it.Arguments))
		}
	}
	if ev.Output != nil && a.finish == "" {
		a.finish = responseFinish(ev)
	}

	// Anthropic messages.
	for i, b := range ev.Content {
		switch b.Type {
		case "text":
			a.content.WriteString(string(b.Text))
		case "thinking":
			a.reasoning.WriteString(string(b.Thinking))
		case "tool_use", "server_tool_use":
			c := a.tools.at(i)
			c.set(b.ID, "function", b.Name)
			if len(b.Input) > 0 {
				c.args.WriteString(compactJSON(b.Input))
			}
		}
	}
	if ev.StopReason != "" {
		a.finish = ev.StopReason
	}
}

// partial takes what it can from a JSON body cut short: the id and model
// near its start, and the usage near its end when the tail is known.
func (a *analysis) partial(head, tail []byte) {
	scanObject(head, func(key string, val json.RawMessage) bool {
		switch key {
		case "id":
			a.genID = rawString(val)
		case "model":
			a.model = rawString(val)
		case "provider":
			a.provider = rawString(val)
		case "usage":
			var u usage
			if decodeObject(val, &u) {
				a.usage.add(&u)
			}
		case "error":
			a.bodyErr = parseAPIError(val)
		}
		return true
	})
	if u := lastUsage(tail); u != nil {
		a.usage.add(u)
	}
}

// responseFinish returns why a Responses API response ended: the
// incomplete reason ("max_output_tokens") if any, else its status.
func responseFinish(r *event) string {
	if r.IncompleteDetails != nil && r.IncompleteDetails.Reason != "" {
		return r.IncompleteDetails.Reason
	}
	return r.Status
}

// firstChoice returns the choice with index 0. Only the first choice is
// recorded: n>1 is rare, and interleaving choices would garble the text.
func firstChoice(cs []choice) *choice {
	for i := range cs {
		if indexOr(cs[i].Index, 0) == 0 {
			return &cs[i]
		}
	}
	return nil
}

// addMessage appends a message or delta and reports whether it carried
// text, reasoning or a tool call. whole says the tool calls are complete,
// so one without an index is placed by its position.
func (a *analysis) addMessage(m *message, whole bool) bool {
	a.content.WriteString(string(m.Content))
	reasoning := cmp.Or(string(m.Reasoning), string(m.ReasoningContent))
	if reasoning == "" {
		// OpenRouter repeats reasoning in reasoning_details; read those
		// only when the plain field is missing, or the text would double.
		for _, d := range m.ReasoningDetails {
			reasoning += cmp.Or(d.Text, d.Summary)
		}
	}
	a.reasoning.WriteString(reasoning)
	for i := range m.ToolCalls {
		p := &m.ToolCalls[i]
		if whole && p.Index == nil {
			p.Index = &i
		}
		a.tools.add(p)
	}
	return m.Content != "" || reasoning != "" || len(m.ToolCalls) > 0
}

// indexOr returns *p, or def when p is nil.
func indexOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

// usageSum merges the usage objects of an answer. Anthropic streams split
// usage over message_start and message_delta, so a later object updates
// only the counts it carries.
type usageSum struct {
	has                              bool
	prompt, completion, total        int64
	cached, reasoning                int64
	hasPrompt, hasCompletion, hasTot bool
	cost, upstreamCost               float64
}

// add merges u into s.
func (s *usageSum) add(u *usage) {
	s.has = true
	if v := firstCount(u.PromptTokens, u.InputTokens); v != nil {
		s.prompt, s.hasPrompt = *v, true
		if u.PromptTokens == nil {
			// Anthropic's input_tokens excludes cached input; the prompt
			// is the sum of what it reports.
			for _, c := range []*int64{u.CacheReadInputTokens, u.CacheCreationInputTokens} {
				if c != nil {
					s.prompt += *c
				}
			}
		}
	}
	if v := firstCount(u.CompletionTokens, u.OutputTokens); v != nil {
		s.completion, s.hasCompletion = *v, true
	}
	if u.TotalTokens != nil {
		s.total, s.hasTot = *u.TotalTokens, true
	}
	if v := firstCount(cachedOf(u.PromptTokensDetails), cachedOf(u.InputTokensDetails), u.CacheReadInputTokens); v != nil {
		s.cached = *v
	}
	if v := firstCount(reasoningOf(u.CompletionTokensDetails), reasoningOf(u.OutputTokensDetails)); v != nil {
		s.reasoning = *v
	}
	if u.Cost != nil {
		s.cost = *u.Cost
	}
	if u.CostDetails != nil && u.CostDetails.UpstreamInferenceCost != nil {
		s.upstreamCost = *u.CostDetails.UpstreamInferenceCost
	}
}

// totalTokens returns the reported total, or the sum of the reported
// prompt and completion counts when the total is missing. It never
// estimates from text.
func (s *usageSum) totalTokens() int64 {
	if !s.hasTot && (s.hasPrompt || s.hasCompletion) {
		return s.prompt + s.completion
	}
	return s.total
}

// firstCount returns the first non-nil count.
func firstCount(vs ...*int64) *int64 {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

// cachedOf returns the cached-token count of d, if any.
func cachedOf(d *tokenDetails) *int64 {
	if d == nil {
		return nil
	}
	return d.CachedTokens
}

// reasoningOf returns the reasoning-token count of d, if any.
func reasoningOf(d *tokenDetails) *int64 {
	if d == nil {
		return nil
	}
	return d.ReasoningTokens
}

// toolCall is a tool call being joined from its pieces.
type toolCall struct {
	index         int
	id, typ, name string
	args          strings.Builder
}

// set fills the identity fields that are still empty: the first piece
// names the call and later pieces repeat, or leave out, the same values.
func (c *toolCall) set(id, typ, name string) {
	c.id = cmp.Or(c.id, id)
	c.typ = cmp.Or(c.typ, typ)
	c.name = cmp.Or(c.name, name)
}

// toolCalls joins tool-call pieces by index.
type toolCalls struct {
	byIndex map[int]*toolCall
	byID    map[string]*toolCall
	last    *toolCall
	next    int // one past the highest index seen
}

// at returns the call with index i, creating it if needed.
func (t *toolCalls) at(i int) *toolCall {
	if c, ok := t.byIndex[i]; ok {
		t.last = c
		return c
	}
	if t.byIndex == nil {
		t.byIndex = make(map[int]*toolCall)
	}
	c := &toolCall{index: i}
	t.byIndex[i] = c
	t.last = c
	t.next = max(t.next, i+1)
	return c
}

// add joins in a piece. A piece without an index (some providers omit it)
// belongs to the call with its id, starts a new call if it has an unseen
// id, and otherwise continues the last call.
func (t *toolCalls) add(p *toolCallPiece) {
	var c *toolCall
	switch {
	case p.Index != nil:
		c = t.at(*p.Index)
	case p.ID != "":
		if c = t.byID[p.ID]; c == nil {
			c = t.at(t.next)
		}
		t.last = c
	case t.last != nil:
		c = t.last
	default:
		c = t.at(0)
	}
	c.set(p.ID, p.Type, p.Function.Name)
	c.args.WriteString(string(p.Function.Arguments))
	if c.id != "" {
		if t.byID == nil {
			t.byID = make(map[string]*toolCall)
		}
		t.byID[c.id] = c
	}
}

// wireToolCall is the stored form of a tool call, as in OpenAI's API.
type wireToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// json returns the calls in index order as a JSON array, or "" when there
// are none.
func (t *toolCalls) json() string {
	if len(t.byIndex) == 0 {
		return ""
	}
	calls := make([]*toolCall, 0, len(t.byIndex))
	for _, c := range t.byIndex {
		calls = append(calls, c)
	}
	slices.SortFunc(calls, func(x, y *toolCall) int { return cmp.Compare(x.index, y.index) })
	out := make([]wireToolCall, len(calls))
	for i, c := range calls {
		out[i].ID = c.id
		out[i].Type = cmp.Or(c.typ, "function")
		out[i].Function.Name = c.name
		out[i].Function.Arguments = c.args.String()
	}
	b, err := json.Marshal(out)
	if err != nil {
		return ""
	}
	return string(b)
}
