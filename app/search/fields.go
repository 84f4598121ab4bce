package search

// The fields of the index's one document type, one document per record,
// its id the record's id. No field is stored: the index answers ids and
// counts, and the rows, their text and the snippets come from SQLite.
const (
	// Text fields, analysed with the "cjk" analyzer: Unicode word
	// segmentation, width folding, lower case, and bigrams of Chinese,
	// Japanese and Korean characters.
	FieldRequest  = "req"  // the new turns of the request: since the last assistant message, system prompt, tool results and arguments
	FieldResponse = "resp" // the reply: content, reasoning, tool calls
	FieldError    = "err"  // the error text

	// Keyword fields: matched exactly, as one term.
	FieldPath     = "path"     // upstream path, e.g. /chat/completions
	FieldMethod   = "method"   // upper case
	FieldModel    = "model"    // the model requested and the model served (both terms)
	FieldStatus   = "status"   // the response status as 3 digits, e.g. "200"; "000" when none
	FieldOutcome  = "outcome"  // capture.Outcome: ok, upstream_error, …
	FieldKey      = "key"      // the key fingerprint (capture.Fingerprint); "" when none
	FieldProvider = "provider" // who served it behind OpenRouter (capture.Record.Provider); absent when unknown

	// FieldStream is a boolean: the answer was an SSE stream.
	FieldStream = "stream"

	// FieldTime is the start of the exchange, as one fixed-width keyword
	// (timeTerm) with doc values: results are sorted newest first by it,
	// and before:/after: are term ranges on it.
	FieldTime = "ts"

	// FieldFacets holds, with doc values, the terms the facets count:
	// "m:" and the model served (else requested), "s:" and the status,
	// "o:" and the outcome. One
	// field rather than doc values on three: every hit of a faceted search
	// visits the doc values of each such field once.
	FieldFacets = "facet"

	// FieldSeq is the record's commit sequence, as one zero-padded keyword
	// (seqTerm): the feed's watermark is checked and trimmed by it.
	FieldSeq = "seq"
)
