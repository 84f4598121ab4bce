package search

import (
	"fmt"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/cjk"
	bdoc "github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// mappingVersion names the mapping below. An index built with another
// version is rebuilt in the background on start.
const mappingVersion = "7"

// textAnalyzer is the analyzer of the text fields: Unicode word
// segmentation, full/half width folding, lower case, and bigrams of CJK
// characters, so that a Chinese or Japanese word is found as the run of its
// character pairs while English words stay whole (and can be matched
// fuzzily).
const textAnalyzer = cjk.AnalyzerName

// newMapping returns the index's static mapping: one document type, no
// dynamic fields, nothing stored, no _all field, and no term vectors,
// which would be most of the index. A phrase is therefore found in the index
// as all its words in one field, and its word order is checked against the
// text in SQLite (see verify.go). The fields results are sorted or faceted
// by keep doc values.
func newMapping() *mapping.IndexMappingImpl {
	text := func() *mapping.FieldMapping {
		f := mapping.NewTextFieldMapping()
		f.Analyzer = textAnalyzer
		f.Store, f.IncludeInAll, f.DocValues = false, false, false
		f.IncludeTermVectors = false
		return f
	}
	kw := func(docValues bool) *mapping.FieldMapping {
		f := mapping.NewKeywordFieldMapping()
		f.Store, f.IncludeInAll, f.IncludeTermVectors = false, false, false
		f.DocValues = docValues
		f.SkipFreqNorm = true
		return f
	}
	stream := mapping.NewBooleanFieldMapping()
	stream.Store, stream.IncludeInAll, stream.DocValues = false, false, false

	doc := mapping.NewDocumentStaticMapping()
	for name, f := range map[string]*mapping.FieldMapping{
		FieldRequest: text(), FieldResponse: text(), FieldError: text(),
		FieldPath: kw(false), FieldMethod: kw(false), FieldKey: kw(false),
		FieldModel: kw(false), FieldStatus: kw(false), FieldOutcome: kw(false), FieldProvider: kw(false),
		FieldFacets: kw(true), FieldStream: stream, FieldTime: kw(true), FieldSeq: kw(false),
	} {
		doc.AddFieldMappingsAt(name, f)
	}
	m := mapping.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = keyword.Name
	m.IndexDynamic, m.StoreDynamic, m.DocValuesDynamic = false, false, false
	return m
}

// timeTerm is the term of a start time: the microseconds since the first
// instant the index can hold, as 15 fixed-width lower-case hex digits, so
// that term order is time order. One short term a document, where a Bleve
// datetime field indexes sixteen (numeric prefixes for range queries) and
// doubles the index's size; it is also the doc value every hit is sorted
// by.
func timeTerm(t time.Time) string {
	t = t.UTC()
	if t.Before(minIndexTime) {
		t = minIndexTime
	} else if t.After(maxIndexTime) {
		t = maxIndexTime
	}
	return fmt.Sprintf("%015x", t.UnixMicro()-minIndexTime.UnixMicro())
}

// Prefixes of the terms of FieldFacets, by the field they stand for.
const (
	facetModel   = "m:"
	facetStatus  = "s:"
	facetOutcome = "o:"
)

// facetTerms returns the terms of FieldFacets: the model that served the
// record (or the one requested, when none is known), the status and the
// outcome, each behind its prefix. One model, not both: model names are
// most of what the field holds, and it holds them uncompressed.
func facetTerms(models []string, status, outcome string) []string {
	out := make([]string, 0, 3)
	if len(models) > 0 {
		out = append(out, facetModel+models[0])
	}
	return append(out, facetStatus+status, facetOutcome+outcome)
}

// seqTerm is the term of a commit sequence: zero-padded, so that term
// order is number order.
func seqTerm(seq int64) string { return fmt.Sprintf("%019d", max(seq, 0)) }

// requestText returns the text of a request body to index: what is new in
// it, not the history a chat client resends with every call (an older turn
// is found through the exchange in which it was new), and the system
// prompt on a conversation's first call.
func requestText(body []byte) string {
	t := capture.RequestText(body)
	switch {
	case t.System == "":
		return t.New
	case t.New == "":
		return t.System
	}
	return t.System + "\n" + t.New
}

// newDocument returns rec as the index's document: document mapped by
// the index's mapping, with each doc-valued field's values kept per
// document, uncompressed, rather than in compressed chunks of 1 024
// documents. A search sorts every hit by time and facets it by model,
// status and outcome; with chunks, each hit costs a chunk decompression
// per field (most of a search's time at a million records), where a
// per-document value is one lookup. Those fields are a few bytes a
// document.
func newDocument(m mapping.IndexMapping, rec *capture.Record) (*bdoc.Document, error) {
	doc := bdoc.NewDocument(rec.ID)
	if err := m.MapDocument(doc, document(rec)); err != nil {
		return nil, err
	}
	for i, f := range doc.Fields {
		if tf, ok := f.(*bdoc.TextField); ok && tf.Options().IncludeDocValues() {
			doc.Fields[i] = bdoc.NewTextFieldCustom(tf.Name(), tf.ArrayPositions(), tf.Value(),
				tf.Options()|index.SkipDVChunking|index.SkipDVCompression, tf.Analyzer())
		}
	}
	return doc, nil
}

// document returns what the index keeps of rec.
func document(rec *capture.Record) map[string]any {
	var models []string
	for _, m := range []string{rec.Model, rec.ModelRequested} {
		if m != "" && (len(models) == 0 || models[0] != m) {
			models = append(models, m)
		}
	}
	status := fmt.Sprintf("%03d", max(0, min(rec.Status, 999)))
	d := map[string]any{
		FieldRequest:  requestText(rec.ReqBodyStored),
		FieldResponse: responseText(rec.Content, rec.Reasoning, rec.ToolCallsJSON),
		FieldError:    rec.Error,
		FieldPath:     rec.Path,
		FieldMethod:   strings.ToUpper(rec.Method),
		FieldModel:    models,
		FieldStatus:   status,
		FieldOutcome:  string(rec.Outcome),
		FieldFacets:   facetTerms(models, status, string(rec.Outcome)),
		FieldStream:   rec.Stream,
		FieldTime:     timeTerm(rec.Start),
		FieldSeq:      seqTerm(rec.Seq),
	}
	if rec.KeyHash != "" {
		d[FieldKey] = rec.KeyHash
	}
	if rec.Provider != "" {
		d[FieldProvider] = rec.Provider
	}
	return d
}

// TextSize returns the bytes of text the index takes from rec: its
// request's new turns, its reply and its error. Benchmarks compare the
// index's size with it.
func TextSize(rec *capture.Record) int {
	d := document(rec)
	return len(d[FieldRequest].(string)) + len(d[FieldResponse].(string)) + len(d[FieldError].(string))
}
