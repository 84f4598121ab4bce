package capture

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Analyze fills the derived fields of a finished exchange from its raw
// fields: it hashes, masks and clears the API key, redacts the headers,
// decodes the response body, reassembles a stream's text, tool calls and
// usage, finds the time to first token, and classifies the outcome.
//
// It runs once per exchange on the store's writer goroutine, off the hot
// path. It does no I/O, touches nothing but r, never panics on any body, and
// does nothing when r is already analyzed. The stored bodies are the
// captured bytes themselves (decoded, if compressed), never re-encoded.
func (r *Record) Analyze() {
	if r == nil || r.Analyzed {
		return
	}

	secret := r.APIKey
	if secret != "" {
		if r.KeyHash == "" { // the live tracker may have done it already
			r.KeyHash = Fingerprint(secret)
			r.KeyMask = Mask(secret)
		}
		r.APIKey = ""
	}

	// Read the headers the analysis needs before redaction.
	reqType := mediaType(r.ReqHeader.Get("Content-Type"))
	reqEnc := contentEncoding(r.ReqHeader)
	respType := mediaType(r.RespHeader.Get("Content-Type"))
	enc := contentEncoding(r.RespHeader)
	r.Stream = mediaType(r.RespHeader.Get("Content-Type")) == "text/event-stream"
	genHeader := strings.TrimSpace(r.RespHeader.Get("X-Generation-Id"))

	// Replace, not edit, the header maps: ReqHeader is the live request's.
	r.ReqHeader = redactHeader(r.ReqHeader, secret)
	r.RespHeader = redactHeader(r.RespHeader, secret)
	r.ReqHeaderJSON = headerJSON(r.ReqHeader)
	r.RespHeaderJSON = headerJSON(r.RespHeader)

	r.URL = scrubURL(r.URL, secret)
	r.Path = scrubURLSecret(r.Path, secret)
	r.Query = scrubURLSecret(scrubQuery(r.Query), secret)

	r.ReqTruncated = r.ReqBody.Truncated()
	r.ReqBodyStored = scrubStored(r.ReqBody.Head, reqType, reqEnc, secret, r.ReqTruncated)
	scanObject(r.ReqBody.Head, func(key string, val json.RawMessage) bool {
		if key != "model" {
			return true
		}
		r.ModelRequested = rawString(val)
		return false
	})

	body, decoded, capped := decodeBody(r.RespBody.Head, enc, r.RespBody.Limit)
	r.RespTruncated = capped || r.RespBody.Truncated()
	// The analysis reads body as it came, so that offsets match the marks;
	// what is stored, and the text taken from it, are scrubbed.
	// A whole answer gets the request's rules too (a key created through
	// the API, a form echoed back); a stream only the forwarded key's.
	if !r.Stream && (enc == "" || decoded) {
		r.RespBodyStored = scrubStored(body, respType, "", secret, r.RespTruncated)
	} else {
		r.RespBodyStored = scrubBody(body, secret, r.RespTruncated)
	}
	// Only raw bytes line up with the marks and with the tail.
	identity := enc == ""
	cut := identity && r.RespBody.Truncated()

	var a analysis
	if r.Stream {
		first := a.stream(body)
		if cut {
			a.streamTail(r.RespBody.Tail())
		}
		if a.events == 0 {
			// An error answered as JSON under a stream's content type.
			a.object(body, nil)
		}
		if first >= 0 && identity {
			if at, ok := r.Marks.At(int64(first)); ok {
				r.TTFT = at
			}
		}
	} else {
		var tail []byte
		if cut {
			tail = r.RespBody.Tail()
		}
		a.object(body, tail)
	}

	r.Model = a.model
	r.Provider = a.provider
	r.GenerationID = cmp.Or(genHeader, a.genID)
	r.Content = a.content.String()
	r.Reasoning = a.reasoning.String()
	r.ToolCallsJSON = a.tools.json()
	r.FinishReason = a.finish
	r.HasUsage = a.usage.has
	r.PromptTokens = a.usage.prompt
	r.CompletionTokens = a.usage.completion
	r.TotalTokens = a.usage.totalTokens()
	r.CachedTokens = a.usage.cached
	r.ReasoningTokens = a.usage.reasoning
	r.Cost = a.usage.cost
	r.UpstreamCost = a.usage.upstreamCost

	r.Outcome, r.Error = r.outcome(&a)
	for _, f := range []*string{&r.Content, &r.Reasoning, &r.ToolCallsJSON, &r.Error, &r.ProxyErr,
		&r.ModelRequested, &r.Model, &r.Provider, &r.GenerationID, &r.FinishReason} {
		*f = scrubString(*f, secret)
	}
	r.Analyzed = true
}

// scrubStored returns a body as it may be stored: secret fields of a JSON
// or form body masked, and the forwarded key masked anywhere. A compressed
// body (enc) is kept as it is: it holds no plaintext.
func scrubStored(b []byte, ctype, enc, secret string, cut bool) []byte {
	if enc != "" {
		return b
	}
	switch {
	case ctype == "application/x-www-form-urlencoded":
		if q := scrubQuery(string(b)); q != string(b) {
			b = []byte(q)
		}
	case looksJSON(b):
		b = scrubJSON(b)
	}
	return scrubBody(b, secret, cut)
}

// object takes in a body that should be one JSON object. If it does not
// parse (it was cut short), what can be read from its start, and the usage
// from the tail of the raw body, are taken instead.
func (a *analysis) object(body, tail []byte) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return
	}
	var ev event
	if decodeJSON(trimmed, &ev) {
		a.whole(&ev)
		return
	}
	a.partial(trimmed, tail)
}

// outcome classifies how the exchange ended and describes its error. The
// order matters: a client that left or a timeout explains a broken stream
// better than the stream does, and a failed status outranks the body.
func (r *Record) outcome(a *analysis) (Outcome, string) {
	var specific string // the error the answer itself carried
	switch {
	case a.streamErr != nil:
		specific = a.streamErr.String()
	case a.bodyErr != nil:
		specific = a.bodyErr.String()
	}
	switch {
	case r.Cancelled:
		return OutcomeCancelled, cmp.Or(specific, "client cancelled the request")
	case r.TimedOut:
		return OutcomeTimeout, cmp.Or(r.ProxyErr, "upstream timed out")
	case r.ProxyErr != "":
		return OutcomeProxyError, r.ProxyErr
	case r.Status >= 400:
		var msg string
		switch {
		case a.bodyErr != nil:
			msg = a.bodyErr.Message
		case a.streamErr != nil:
			msg = a.streamErr.Message
		}
		return OutcomeUpstreamError, cmp.Or(msg, statusText(r.Status))
	case a.streamErr != nil:
		return OutcomeStreamError, specific
	case a.bodyErr != nil:
		// OpenRouter answers 200 with an error object when generation
		// fails after it has begun and the request was not streamed.
		return OutcomeUpstreamError, specific
	}
	return OutcomeOK, ""
}

// statusText describes a status the way a client would: "HTTP 503 Service
// Unavailable".
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("HTTP %d %s", code, t)
	}
	return fmt.Sprintf("HTTP %d", code)
}

// mediaType returns the lowercase media type of a Content-Type value,
// without parameters.
func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}
