package search_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"

	"github.com/openrouter-proxy/openrouter-proxy/app/search"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

func word(text string, fuzzy, prefix bool) search.Term {
	return search.Term{Text: text, Fuzzy: fuzzy, Prefix: prefix}
}

func phrase(text string) search.Term { return search.Term{Text: text, Phrase: true} }

var (
	hexA = fingerprint("key a")
	hexB = fingerprint("key b")
	hexC = fingerprint("key c")
)

func fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func TestParse(t *testing.T) {
	many := strings.Repeat("word ", 16)
	for _, tc := range []struct {
		in   string
		want search.Query
	}{
		{"", search.Query{}},
		{" \t\n\u3000", search.Query{}},
		{"*", search.Query{}},
		{`"" "!!!" - --`, search.Query{}},
		{"berlin", search.Query{Text: []search.Term{word("berlin", true, true)}}},
		{"Berlin", search.Query{Text: []search.Term{word("berlin", true, true)}}},
		{"a", search.Query{Text: []search.Term{word("a", false, false)}}},
		{"ab", search.Query{Text: []search.Term{word("ab", false, false)}}},
		{"abc", search.Query{Text: []search.Term{word("abc", true, false)}}},
		{"abcd", search.Query{Text: []search.Term{word("abcd", true, true)}}},
		{"ＡＢＣＤ", search.Query{Text: []search.Term{word("abcd", true, true)}}},
		{"OR", search.Query{Text: []search.Term{word("or", false, false)}}},
		{strings.Repeat("x", 41), search.Query{Text: []search.Term{word(strings.Repeat("x", 41), false, true)}}},
		{"two words", search.Query{Text: []search.Term{word("two", true, false), word("words", true, true)}}},
		{`"rate limit"`, search.Query{Text: []search.Term{phrase("rate limit")}}},
		{`"rate limit`, search.Query{Text: []search.Term{phrase("rate limit")}}},
		{`foo"bar baz"qux`, search.Query{Text: []search.Term{word("foo", true, false), phrase("bar baz"), word("qux", true, false)}}},
		{"gpt-4o", search.Query{Text: []search.Term{phrase("gpt-4o")}}},
		{"-foo", search.Query{Exclude: []search.Term{word("foo", false, false)}}},
		{"-Berlin -京 -서울", search.Query{Exclude: []search.Term{word("berlin", false, false), word("京", false, true), word("서울", false, true)}}},
		{`-"a b" c`, search.Query{Text: []search.Term{word("c", false, false)}, Exclude: []search.Term{phrase("a b")}}},
		{"北京", search.Query{Text: []search.Term{phrase("北京")}}},
		{"京", search.Query{Text: []search.Term{word("京", false, true)}}},
		{"カタカナ", search.Query{Text: []search.Term{phrase("カタカナ")}}},
		{"서울", search.Query{Text: []search.Term{word("서울", false, true)}}},
		{"北京:", search.Query{Text: []search.Term{phrase("北京:")}}},
		{"model:openai/gpt-4o", search.Query{Filters: []search.Filter{{Field: "model", Value: "openai/gpt-4o"}}}},
		{`Model:"my model" x`, search.Query{Text: []search.Term{word("x", false, false)}, Filters: []search.Filter{{Field: "model", Value: "my model"}}}},
		{"-model:a", search.Query{Filters: []search.Filter{{Field: "model", Value: "a", Not: true}}}},
		{"status:200", search.Query{Filters: []search.Filter{{Field: "status", Value: "200"}}}},
		{"status:000", search.Query{Filters: []search.Filter{{Field: "status", Value: "000"}}}},
		{"status:4XX", search.Query{Filters: []search.Filter{{Field: "status", Value: "4xx"}}}},
		{"status:ok", search.Query{Filters: []search.Filter{{Field: "status", Value: "success"}}}},
		{"status:Success", search.Query{Filters: []search.Filter{{Field: "status", Value: "success"}}}},
		{"status:error", search.Query{Filters: []search.Filter{{Field: "status", Value: "error"}}}},
		{"method:post", search.Query{Filters: []search.Filter{{Field: "method", Value: "POST"}}}},
		{"key:" + strings.ToUpper(hexA), search.Query{Filters: []search.Filter{{Field: "key", Value: hexA}}}},
		{"key:" + hexA[:8], search.Query{Filters: []search.Filter{{Field: "key", Value: hexA[:8]}}}},
		{"stream:yes", search.Query{Filters: []search.Filter{{Field: "stream", Value: "true"}}}},
		{"stream:No", search.Query{Filters: []search.Filter{{Field: "stream", Value: "false"}}}},
		{"before:2026-01-31", search.Query{Filters: []search.Filter{{Field: "before", Value: "2026-01-31T00:00:00Z"}}}},
		{"after:2026-01-31T14:05", search.Query{Filters: []search.Filter{{Field: "after", Value: "2026-01-31T14:05:00Z"}}}},
		{"after:2026-01-31T14:05:06.5", search.Query{Filters: []search.Filter{{Field: "after", Value: "2026-01-31T14:05:06.5Z"}}}},
		{"before:2026-01-31T14:05:00+01:00", search.Query{Filters: []search.Filter{{Field: "before", Value: "2026-01-31T13:05:00Z"}}}},
		{many, search.Query{Text: slices.Repeat([]search.Term{word("word", true, true)}, 16)}},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := search.Parse(tc.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("Parse(%q)\n got %+v\nwant %+v", tc.in, *got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	known := "Use model:, status:, method:, key:, stream:, before: or after:"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"TooLong", strings.Repeat("a", 1001), "The search is too long: at most 1000 bytes (about 333 Chinese or Japanese characters)."},
		{"InvalidUTF8", "caf\xe9", "The search is not valid text (UTF-8)."},
		{"NUL", "a\x00b", "The search contains a NUL character; remove it."},
		{"TooManyParts", strings.Repeat("w ", 16) + "model:x", "The search has too many parts: at most 16 words, phrases and filters."},
		{"UnknownFilter", "foo:bar", `Unknown filter "foo:". ` + known + ", or put text with a colon in quotes."},
		{"URL", "see https://example.com", `Unknown filter "https:". ` + known + ", or put text with a colon in quotes."},
		{"LongUnknownFilter", strings.Repeat("z", 30) + ":x", `Unknown filter "zzzzzzzzzzzzzzzzzzzz…:". ` + known + ", or put text with a colon in quotes."},
		{"EmptyModel", "model:", "model: needs a value, such as model:openai/gpt-4o."},
		{"EmptyQuotedModel", `model:""`, "model: needs a value, such as model:openai/gpt-4o."},
		{"EmptyAfter", "after: 2026-01-01", "after: needs a value, such as after:2026-01-31."},
		{"Status", "status:abc", "status: expects a code such as 200, a class such as 2xx, 4xx or 5xx, or success or error."},
		{"StatusClass", "status:6xx", "status: expects a code such as 200, a class such as 2xx, 4xx or 5xx, or success or error."},
		{"StatusShort", "status:20", "status: expects a code such as 200, a class such as 2xx, 4xx or 5xx, or success or error."},
		{"Method", "method:G3T", "method: expects an HTTP method such as GET or POST."},
		{"KeyShort", "key:abc", "key: expects a key fingerprint: 64 hex characters, or its first 8 or more."},
		{"KeyNotHex", "key:sk-or-v1-secretsecret", "key: expects a key fingerprint: 64 hex characters, or its first 8 or more."},
		{"KeyLong", "key:" + hexA + "0", "key: expects a key fingerprint: 64 hex characters, or its first 8 or more."},
		{"Stream", "stream:maybe", "stream: expects true or false (or yes or no)."},
		{"Before", "before:yesterday", "before: expects a date such as 2026-01-31, a time such as 2026-01-31T14:05 (UTC), or an RFC 3339 time such as 2026-01-31T14:05:00+01:00."},
		{"AfterMonth", "after:2026-13-01", "after: expects a date such as 2026-01-31, a time such as 2026-01-31T14:05 (UTC), or an RFC 3339 time such as 2026-01-31T14:05:00+01:00."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := search.Parse(tc.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tc.in, q)
			}
			var qe *search.QueryError
			if !errors.As(err, &qe) {
				t.Fatalf("Parse(%q): %T %v, want a *QueryError", tc.in, err, err)
			}
			if !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Parse(%q): the error does not wrap store.ErrInvalid", tc.in)
			}
			if err.Error() != tc.want {
				t.Errorf("Parse(%q)\n got %q\nwant %q", tc.in, err.Error(), tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the message repeats the value, which may be a key: %q", err.Error())
			}
		})
	}
}

func TestParseMaxLength(t *testing.T) {
	if _, err := search.Parse(strings.Repeat("a", 1000)); err != nil {
		t.Errorf("a search of 1000 bytes: %v", err)
	}
}

func TestTerms(t *testing.T) {
	q, err := search.Parse(`berlin "rate limit" -weather model:x 北京`)
	if err != nil {
		t.Fatal(err)
	}
	want := []search.Term{word("berlin", true, true), phrase("rate limit"), phrase("北京")}
	if got := q.Terms(); !reflect.DeepEqual(got, want) {
		t.Errorf("Terms() = %+v, want %+v", got, want)
	}
	var nilQuery *search.Query
	if nilQuery.Terms() != nil || !nilQuery.IsZero() {
		t.Error("a nil Query has terms")
	}
}

// Viewers the structure tests build queries for.
var (
	viewerA     = store.Viewer{KeyHash: hexA}
	viewerNoKey = store.Viewer{}
	viewerAdmin = store.Viewer{Admin: true}
)

// checkVisibility fails unless q is a conjunction whose first conjunct is
// the term query on the key field that v's visibility rule demands. For
// an admin, q must be a conjunction without a key term at the top.
func checkVisibility(t testing.TB, q query.Query, v store.Viewer) {
	t.Helper()
	cq, ok := q.(*query.ConjunctionQuery)
	if !ok || len(cq.Conjuncts) == 0 {
		t.Fatalf("the query is a %T, not a conjunction", q)
	}
	if v.Admin {
		return
	}
	tq, ok := cq.Conjuncts[0].(*query.TermQuery)
	if !ok || tq.Field() != search.FieldKey {
		t.Fatalf("the first conjunct is %T %+v, not a term query on %q", cq.Conjuncts[0], cq.Conjuncts[0], search.FieldKey)
	}
	switch {
	case v.KeyHash != "" && tq.Term != v.KeyHash:
		t.Fatalf("the visibility term is %q, want the viewer's key", tq.Term)
	case v.KeyHash == "" && (tq.Term == "" || isHexString(tq.Term)):
		t.Fatalf("a viewer without a key gets the term %q, which a record could carry", tq.Term)
	}
}

func isHexString(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// hostile is a corpus of search strings meant to break the parser or
// escape the visibility rule.
var hostile = []string{
	"key:" + hexB + " OR x",
	"x OR key:" + hexB,
	`") OR ("`,
	`" OR key:` + hexB + ` "`,
	"*", "*:*", "?", "~", "^", "+", "-", "--", "---x", "!", "\\", `\"`, `"`, `""`, `"""`, `""""`,
	"(", ")", "()", "[a TO z]", "{a TO z}", "/.*/", ".*", "a*", "*a", "a~2", "a^10", "_all:x", "_id:x",
	"x AND y", "x || y", "NOT x", "-key:" + hexB, "key:*", "key:", "key:" + hexB[:8],
	`{"match_all":{}}`, `{"term":"x","field":"key"}`,
	"model:", "model:*", `model:"`, `model:"a`, "status:", "status:-1", "status:99999999999999999999",
	"before:0001-01-01", "after:9999-12-31", "before:9999-12-31T23:59:59Z", "after:0001-01-01T00:00:00Z",
	"after:2262-04-12", "before:1677-11-30",
	":", "::", "a:", ":a", "-:", "-model:", "method:", "stream:", "model:a:b",
	"\x00", "a\x00", "\xff", "\xc3\x28", "\xed\xa0\x80", "\u202e\u0000",
	"\u3000", "\ufeff", "\u200b", "ｋｅｙ：" + hexB, "＂a＂",
	strings.Repeat("a", 10_000),
	strings.Repeat("a ", 5_000),
	strings.Repeat(`"`, 1000),
	strings.Repeat("北", 1000),
	strings.Repeat("北", 333),
	strings.Repeat("-", 1000),
	strings.Repeat("a", 1000),
	strings.Repeat("x:", 500),
	strings.Repeat("(", 999),
	strings.Repeat("ab ", 15) + "key:" + hexB,
}

func TestBleveVisibility(t *testing.T) {
	for _, s := range hostile {
		for _, v := range []store.Viewer{viewerA, viewerNoKey, viewerAdmin} {
			q, err := search.Parse(s)
			if err != nil {
				var qe *search.QueryError
				if !errors.As(err, &qe) {
					t.Fatalf("Parse(%.40q): %T %v, want a *QueryError", s, err, err)
				}
				continue
			}
			bq, err := q.Bleve(v, store.Filter{Viewer: v})
			if err != nil {
				var qe *search.QueryError
				if !errors.As(err, &qe) {
					t.Fatalf("Bleve(%.40q): %T %v, want a *QueryError", s, err, err)
				}
				continue
			}
			checkVisibility(t, bq, v)
		}
	}
}

func TestBleveKeyFilterIsForAdmins(t *testing.T) {
	q, err := search.Parse("berlin key:" + hexB)
	if err != nil {
		t.Fatal(err)
	}
	_, err = q.Bleve(viewerA, store.Filter{})
	var qe *search.QueryError
	if !errors.As(err, &qe) || qe.Msg != "key: filters are for admins." {
		t.Errorf("a user's key: filter gives %v, want the admins-only error", err)
	}
	if _, err := q.Bleve(viewerAdmin, store.Filter{}); err != nil {
		t.Errorf("an admin's key: filter: %v", err)
	}
	// A Query built by hand is checked too.
	hand := &search.Query{Filters: []search.Filter{{Field: "key", Value: "*"}}}
	if _, err := hand.Bleve(viewerAdmin, store.Filter{}); !errors.As(err, &qe) {
		t.Errorf("a hand-made key:* gives %v, want a *QueryError", err)
	}
	hand = &search.Query{Filters: []search.Filter{{Field: "id", Value: "x"}}}
	if _, err := hand.Bleve(viewerAdmin, store.Filter{}); !errors.As(err, &qe) {
		t.Errorf("a hand-made unknown filter gives %v, want a *QueryError", err)
	}
}

func TestBleveUnknownStatus(t *testing.T) {
	q, _ := search.Parse("")
	_, err := q.Bleve(viewerA, store.Filter{Status: "3xx"})
	var qe *search.QueryError
	if !errors.As(err, &qe) || !errors.Is(err, store.ErrInvalid) {
		t.Errorf("an unknown Filter.Status gives %v, want a *QueryError", err)
	}
}

func TestBleveEmpty(t *testing.T) {
	var q *search.Query
	bq, err := q.Bleve(viewerAdmin, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	cq := bq.(*query.ConjunctionQuery)
	if len(cq.Conjuncts) != 1 {
		t.Fatalf("an admin's empty search has %d conjuncts, want 1", len(cq.Conjuncts))
	}
	if _, ok := cq.Conjuncts[0].(*query.MatchAllQuery); !ok {
		t.Errorf("an admin's empty search is %T, want match-all", cq.Conjuncts[0])
	}
	bq, err = q.Bleve(viewerA, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	checkVisibility(t, bq, viewerA)
	if n := len(bq.(*query.ConjunctionQuery).Conjuncts); n != 1 {
		t.Errorf("a user's empty search has %d conjuncts, want the visibility term alone", n)
	}
}

// testDoc is a record as the index sees it.
type testDoc struct {
	id                string
	key               string
	req, resp, err    string
	method, path      string
	requested, served string
	provider          string
	status            int
	outcome           string
	stream            bool
	start             time.Time
}

// testStart is the start of the first test document; each next one starts
// an hour later.
var testStart = time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)

var testDocs = []testDoc{
	{id: "flight", key: hexA, req: "Please book a flight to Berlin for tomorrow", resp: "I booked your flight to Berlin.", requested: "openai/gpt-4o", provider: "OpenAI", status: 200, stream: true},
	{id: "weather", key: hexA, req: "What is the weather in Berlin?", resp: "Cold and grey.", requested: "openai/gpt-4o", provider: "Azure", status: 200},
	{id: "kube", key: hexA, req: "How do I deploy to Kubernetes?", resp: "Use kubectl apply with your manifests.", requested: "openrouter/auto", served: "anthropic/claude-3.5-sonnet", status: 200, stream: true},
	{id: "transformers", key: hexA, req: "Explain transformers in two sentences.", resp: "Transformers use attention.", requested: "meta/llama-3", status: 200},
	{id: "ratelimit", key: hexA, req: "hello", err: "upstream: rate limit exceeded, retry later", requested: "openai/gpt-4o", status: 429, outcome: "upstream_error"},
	{id: "limitrate", key: hexA, req: "what limits the rate of a reaction?", resp: "The limit rate step, and temperature.", requested: "openai/gpt-4o", status: 200},
	{id: "servererror", key: hexA, req: "summarise this", err: "internal server error", requested: "openai/gpt-4o", status: 500, outcome: "upstream_error"},
	{id: "cut", key: hexA, req: "a long story please", resp: "Once upon a", requested: "openai/gpt-4o", status: 0, outcome: "cut", stream: true},
	{id: "getmodels", key: hexA, method: "GET", path: "/models", requested: "", status: 200},
	{id: "beijing", key: hexB, req: "我们明天去北京开会", resp: "好的，我会准备资料。", requested: "qwen/qwen-2.5", status: 200, stream: true},
	{id: "northkyoto", key: hexB, req: "北方的天气和京都的寺庙", resp: "", requested: "qwen/qwen-2.5", status: 200},
	{id: "tokyo", key: hexB, req: "東京タワーに行きたいです", resp: "いいですね！", requested: "qwen/qwen-2.5", status: 200},
	{id: "katakana", key: hexB, req: "カタカナのテストです", resp: "はい、カタカナです。", requested: "qwen/qwen-2.5", status: 200},
	{id: "seoul", key: hexB, req: "서울에서 만나요", resp: "좋아요", requested: "qwen/qwen-2.5", status: 200},
	{id: "secretB", key: hexB, req: "the password is swordfish", resp: "noted: swordfish", requested: "openai/gpt-4o", status: 200},
	{id: "berlinB", key: hexB, req: "Berlin trip ideas", resp: "Visit the Reichstag.", requested: "openai/gpt-4o", status: 200},
	{id: "secretC", key: hexC, req: "swordfish again", resp: "ok", requested: "openai/gpt-4o", status: 200},
	{id: "nokey", key: "", req: "anonymous swordfish berlin", resp: "ok", requested: "openai/gpt-4o", status: 200},
	{id: "fullwidth", key: hexC, req: "ＡＰＩ　ｋｅｙ　ｒｏｔａｔｉｏｎ", resp: "done", requested: "openai/gpt-4o", status: 200},
	{id: "streamed", key: hexC, req: "tell me a fact", resp: "The quokka is a marsupial.", requested: "openai/gpt-4o", status: 200, stream: true},
}

// fields returns d as the index's document, as the production feed builds
// it.
func (d testDoc) fields(i int) map[string]any {
	method, path, outcome := d.method, d.path, d.outcome
	if method == "" {
		method = "POST"
	}
	if path == "" {
		path = "/chat/completions"
	}
	if outcome == "" {
		outcome = "ok"
	}
	var models []string
	for _, m := range []string{d.served, d.requested} {
		if m != "" && !slices.Contains(models, m) {
			models = append(models, m)
		}
	}
	start := d.start
	if start.IsZero() {
		start = testStart.Add(time.Duration(i) * time.Hour)
	}
	doc := map[string]any{
		search.FieldRequest:  d.req,
		search.FieldResponse: d.resp,
		search.FieldError:    d.err,
		search.FieldPath:     path,
		search.FieldMethod:   method,
		search.FieldModel:    models,
		search.FieldStatus:   fmt.Sprintf("%03d", d.status),
		search.FieldOutcome:  outcome,
		search.FieldStream:   d.stream,
		search.FieldTime:     search.TimeTerm(start),
		search.FieldSeq:      search.SeqTerm(int64(i + 1)),
	}
	if d.key != "" {
		doc[search.FieldKey] = d.key
	}
	if d.provider != "" {
		doc[search.FieldProvider] = d.provider
	}
	return doc
}

var (
	testIndexOnce sync.Once
	testIndex     bleve.Index
	testIndexErr  error
)

// openTestIndex returns an in-memory index of testDocs, built once.
func openTestIndex(tb testing.TB) bleve.Index {
	tb.Helper()
	testIndexOnce.Do(func() {
		idx, err := bleve.NewMemOnly(search.NewMapping())
		if err != nil {
			testIndexErr = err
			return
		}
		b := idx.NewBatch()
		for i, d := range testDocs {
			if err := b.Index(d.id, d.fields(i)); err != nil {
				testIndexErr = err
				return
			}
		}
		testIndexErr = idx.Batch(b)
		testIndex = idx
	})
	if testIndexErr != nil {
		tb.Fatal(testIndexErr)
	}
	return testIndex
}

// find runs s for v with f against the test index and returns the ids of
// the matches, sorted.
func find(tb testing.TB, s string, v store.Viewer, f store.Filter) ([]string, error) {
	tb.Helper()
	q, err := search.Parse(s)
	if err != nil {
		return nil, err
	}
	bq, err := q.Bleve(v, f)
	if err != nil {
		return nil, err
	}
	res, err := openTestIndex(tb).Search(bleve.NewSearchRequestOptions(bq, 100, 0, false))
	if err != nil {
		tb.Fatalf("search %q: %v", s, err)
	}
	ids := make([]string, 0, len(res.Hits))
	for _, h := range res.Hits {
		// The index has no positions: Index.Search checks a phrase's
		// word order against the text, as this does.
		i := slices.IndexFunc(testDocs, func(d testDoc) bool { return d.id == h.ID })
		if d := testDocs[i]; search.HoldsOrder(q, d.req, d.resp, d.err) {
			ids = append(ids, h.ID)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func TestSearchIndex(t *testing.T) {
	at := func(i int) time.Time { return testStart.Add(time.Duration(i) * time.Hour) }
	for _, tc := range []struct {
		name string
		q    string
		v    store.Viewer
		f    store.Filter
		want []string
	}{
		{"Word", "kubernetes", viewerAdmin, store.Filter{}, []string{"kube"}},
		{"WordAnyCase", "KUBERNETES", viewerAdmin, store.Filter{}, []string{"kube"}},
		{"TypoDeletion", "kubernets", viewerAdmin, store.Filter{}, []string{"kube"}},
		{"TypoSubstitution", "kubernetez", viewerAdmin, store.Filter{}, []string{"kube"}},
		{"TypoInsertion", "kubernettes", viewerAdmin, store.Filter{}, []string{"kube"}},
		{"TwoTyposMiss", "kubernotez", viewerAdmin, store.Filter{}, []string{}},
		{"FirstLetterTypoMiss", "xubernetes", viewerAdmin, store.Filter{}, []string{}},
		{"Prefix", "transf", viewerAdmin, store.Filter{}, []string{"transformers"}},
		{"ShortPrefixIsExact", "tra", viewerAdmin, store.Filter{}, []string{}},
		{"InResponse", "quokka", viewerAdmin, store.Filter{}, []string{"streamed"}},
		{"InError", "exceeded", viewerAdmin, store.Filter{}, []string{"ratelimit"}},
		{"WordsAnded", "flight berlin", viewerAdmin, store.Filter{}, []string{"flight"}},
		{"Phrase", `"rate limit"`, viewerAdmin, store.Filter{}, []string{"ratelimit"}},
		{"PhraseOtherOrder", `"limit rate"`, viewerAdmin, store.Filter{}, []string{"limitrate"}},
		{"PhraseIsExact", `"rate limits"`, viewerAdmin, store.Filter{}, []string{}},
		{"UnbalancedPhrase", `"rate limit`, viewerAdmin, store.Filter{}, []string{"ratelimit"}},
		{"Exclude", "berlin -weather", viewerA, store.Filter{}, []string{"flight"}},
		{"ExcludeIsExact", "berlin -weathr", viewerA, store.Filter{}, []string{"flight", "weather"}},
		{"ExcludePhrase", `berlin -"book a flight"`, viewerA, store.Filter{}, []string{"weather"}},
		{"ExcludeOnly", "-berlin", viewerA, store.Filter{}, []string{"cut", "getmodels", "kube", "limitrate", "ratelimit", "servererror", "transformers"}},
		{"Chinese", "北京", viewerAdmin, store.Filter{}, []string{"beijing"}},
		{"ChineseNotAdjacent", "北京都", viewerAdmin, store.Filter{}, []string{}},
		{"ChineseOneChar", "京", viewerAdmin, store.Filter{}, []string{"beijing", "northkyoto", "tokyo"}},
		{"ChineseInResponse", "资料", viewerAdmin, store.Filter{}, []string{"beijing"}},
		{"Japanese", "東京", viewerAdmin, store.Filter{}, []string{"tokyo"}},
		{"Katakana", "カタカナ", viewerAdmin, store.Filter{}, []string{"katakana"}},
		{"HalfWidthKatakana", "ｶﾀｶﾅ", viewerAdmin, store.Filter{}, []string{"katakana"}},
		{"Korean", "서울", viewerAdmin, store.Filter{}, []string{"seoul"}},
		{"FullWidth", "api", viewerAdmin, store.Filter{}, []string{"fullwidth"}},
		{"ModelRequested", "model:openrouter/auto", viewerAdmin, store.Filter{}, []string{"kube"}},
		{"ModelServed", "model:anthropic/claude-3.5-sonnet", viewerAdmin, store.Filter{}, []string{"kube"}},
		{"ModelQuoted", `model:"meta/llama-3"`, viewerAdmin, store.Filter{}, []string{"transformers"}},
		{"ModelIsExact", "model:openai", viewerAdmin, store.Filter{}, []string{}},
		{"ModelExcluded", "-model:openai/gpt-4o", viewerA, store.Filter{}, []string{"getmodels", "kube", "transformers"}},
		{"FilterModel", "", viewerAdmin, store.Filter{Model: "anthropic/claude-3.5-sonnet"}, []string{"kube"}},
		{"FilterProvider", "", viewerAdmin, store.Filter{Provider: "OpenAI"}, []string{"flight"}},
		{"FilterProviderAndWord", "berlin", viewerAdmin, store.Filter{Provider: "Azure"}, []string{"weather"}},
		{"FilterProviderIsExact", "berlin", viewerAdmin, store.Filter{Provider: "openai"}, []string{}},
		{"Status", "status:429", viewerAdmin, store.Filter{}, []string{"ratelimit"}},
		{"StatusNone", "status:000", viewerAdmin, store.Filter{}, []string{"cut"}},
		{"Status4xx", "status:4xx", viewerAdmin, store.Filter{}, []string{"ratelimit"}},
		{"Status5xx", "status:5xx", viewerAdmin, store.Filter{}, []string{"servererror"}},
		{"StatusError", "status:error", viewerA, store.Filter{}, []string{"cut", "ratelimit", "servererror"}},
		{"StatusNotError", "-status:error", viewerA, store.Filter{}, []string{"flight", "getmodels", "kube", "limitrate", "transformers", "weather"}},
		{"StatusSuccess", "status:ok", viewerA, store.Filter{}, []string{"flight", "getmodels", "kube", "limitrate", "transformers", "weather"}},
		{"Status2xxWord", "status:2xx berlin", viewerAdmin, store.Filter{}, []string{"berlinB", "flight", "nokey", "weather"}},
		{"FilterStatus5xx", "", viewerAdmin, store.Filter{Status: store.Status5xx}, []string{"servererror"}},
		{"FilterStatusError", "", viewerA, store.Filter{Status: store.StatusError}, []string{"cut", "ratelimit", "servererror"}},
		{"FilterStatus4xx", "", viewerA, store.Filter{Status: store.Status4xx}, []string{"ratelimit"}},
		{"FilterStatus2xx", "", viewerC(), store.Filter{Status: store.Status2xx}, []string{"fullwidth", "secretC", "streamed"}},
		{"FilterStatusSuccess", "", viewerC(), store.Filter{Status: store.StatusSuccess}, []string{"fullwidth", "secretC", "streamed"}},
		{"Method", "method:get", viewerAdmin, store.Filter{}, []string{"getmodels"}},
		{"FilterMethod", "", viewerAdmin, store.Filter{Method: "get"}, []string{"getmodels"}},
		{"Stream", "stream:true", viewerA, store.Filter{}, []string{"cut", "flight", "kube"}},
		{"StreamFalse", "stream:no berlin", viewerA, store.Filter{}, []string{"weather"}},
		{"After", "after:2026-01-10T17:30", viewerAdmin, store.Filter{}, []string{"fullwidth", "streamed"}},
		{"AfterIsInclusive", "after:2026-01-10T19:00:00Z", viewerAdmin, store.Filter{}, []string{"streamed"}},
		{"BeforeIsExclusive", "before:2026-01-10T01:00", viewerAdmin, store.Filter{}, []string{"flight"}},
		{"BeforeDate", "before:2026-01-10", viewerAdmin, store.Filter{}, []string{}},
		{"AfterZone", "after:2026-01-10T20:00:00+01:00", viewerAdmin, store.Filter{}, []string{"streamed"}},
		{"AfterFarFuture", "after:9999-01-01", viewerAdmin, store.Filter{}, []string{}},
		{"BeforeFarFuture", "before:9999-01-01 quokka", viewerAdmin, store.Filter{}, []string{"streamed"}},
		{"BeforeFarPast", "before:0001-01-02", viewerAdmin, store.Filter{}, []string{}},
		{"AfterFarPast", "after:0001-01-02 quokka", viewerAdmin, store.Filter{}, []string{"streamed"}},
		{"NotAfter", "-after:2026-01-10T01:00 berlin", viewerA, store.Filter{}, []string{"flight"}},
		{"FilterFromTo", "", viewerAdmin, store.Filter{From: at(1), To: at(3)}, []string{"kube", "weather"}},
		{"FilterFromToSubMicrosecond", "", viewerAdmin, store.Filter{From: at(1).Add(-time.Nanosecond), To: at(3).Add(time.Nanosecond)}, []string{"kube", "weather"}},
		{"KeyFull", "key:" + hexC, viewerAdmin, store.Filter{}, []string{"fullwidth", "secretC", "streamed"}},
		{"KeyPrefix", "swordfish key:" + hexB[:8], viewerAdmin, store.Filter{}, []string{"secretB"}},
		{"KeyExcluded", "swordfish -key:" + hexB, viewerAdmin, store.Filter{}, []string{"nokey", "secretC"}},
		{"FilterKey", "swordfish", viewerAdmin, store.Filter{KeyHash: hexC}, []string{"secretC"}},
		{"AdminSeesAll", "swordfish", viewerAdmin, store.Filter{}, []string{"nokey", "secretB", "secretC"}},
		{"UserSeesOwn", "swordfish", store.Viewer{KeyHash: hexB}, store.Filter{}, []string{"secretB"}},
		{"UserSeesOwnBerlin", "berlin", store.Viewer{KeyHash: hexB}, store.Filter{}, []string{"berlinB"}},
		{"UserFilterOtherKey", "swordfish", store.Viewer{KeyHash: hexB}, store.Filter{KeyHash: hexC}, []string{}},
		{"UserWithoutKey", "swordfish", viewerNoKey, store.Filter{}, []string{}},
		{"UserWithoutKeyEmpty", "", viewerNoKey, store.Filter{}, []string{}},
		{"UserWithoutKeyExcludeOnly", "-zzzz", viewerNoKey, store.Filter{}, []string{}},
		{"UserEmpty", "", viewerC(), store.Filter{}, []string{"fullwidth", "secretC", "streamed"}},
		{"NothingMatchesExclude", "-swordfish -zzzz", viewerC(), store.Filter{}, []string{"fullwidth", "streamed"}},
		{"PunctuationOnly", `"!!!" *`, viewerC(), store.Filter{}, []string{"fullwidth", "secretC", "streamed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := find(t, tc.q, tc.v, tc.f)
			if err != nil {
				t.Fatalf("%q: %v", tc.q, err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%q as %+v with %+v\n got %q\nwant %q", tc.q, tc.v, tc.f, got, tc.want)
			}
		})
	}
}

func viewerC() store.Viewer { return store.Viewer{KeyHash: hexC} }

// TestSearchIndexVisibility runs every hostile string, and searches aimed
// at other keys' words, as each user: every match must be the user's own.
func TestSearchIndexVisibility(t *testing.T) {
	owner := map[string]string{}
	for _, d := range testDocs {
		owner[d.id] = d.key
	}
	queries := append([]string{
		"swordfish", "berlin", "北京", "", "-zzzz", "key:" + hexB, "-key:" + hexA,
		"swordfish OR key:" + hexB, `") OR (swordfish`, "*",
	}, hostile...)
	for _, v := range []store.Viewer{viewerA, {KeyHash: hexB}, viewerC(), viewerNoKey} {
		for _, s := range queries {
			for _, f := range []store.Filter{{}, {KeyHash: hexB}, {Status: store.StatusSuccess}} {
				ids, err := find(t, s, v, f)
				if err != nil {
					var qe *search.QueryError
					if !errors.As(err, &qe) {
						t.Fatalf("%.40q: %T %v, want a *QueryError", s, err, err)
					}
					continue
				}
				for _, id := range ids {
					if v.KeyHash == "" || owner[id] != v.KeyHash {
						t.Errorf("viewer %.8s searching %.40q sees %s of key %.8s", v.KeyHash, s, id, owner[id])
					}
				}
			}
		}
	}
}

// mark returns text with each span in brackets.
func mark(text string, spans []search.Span) string {
	var b strings.Builder
	last := 0
	for _, s := range spans {
		b.WriteString(text[last:s.Start])
		b.WriteString("[" + text[s.Start:s.End] + "]")
		last = s.End
	}
	b.WriteString(text[last:])
	return b.String()
}

func TestHighlightSpans(t *testing.T) {
	for _, tc := range []struct {
		name, q, text, want string
	}{
		{"Word", "berlin", "Fly to Berlin, berlin!", "Fly to [Berlin], [berlin]!"},
		{"WholeWordsOnly", "berlin", "Berliner xberlin", "[Berliner] xberlin"},
		{"Fuzzy", "kubernets", "Deploy Kubernetes now", "Deploy [Kubernetes] now"},
		{"FuzzySubstitution", "berlon", "berlin", "[berlin]"},
		{"FuzzyKeepsFirstLetter", "xerlin", "berlin", "berlin"},
		{"FuzzyTwoEditsMiss", "barlon", "berlin", "berlin"},
		{"Prefix", "transf", "Transformers use attention", "[Transformers] use attention"},
		{"ShortIsExact", "ab", "ab abc xab", "[ab] abc xab"},
		{"ThreeIsFuzzyNotPrefix", "abc", "abd abcdef", "[abd] abcdef"},
		{"Phrase", `"rate limit"`, "Rate  limit; rate-limit. limit rate", "[Rate  limit]; [rate-limit]. limit rate"},
		{"PhraseRepeated", `"a a"`, "a a a", "[a a a]"},
		{"PhraseWord", "gpt-4o", "use GPT 4o or gpt-4o-mini", "use [GPT 4o] or [gpt-4o]-mini"},
		{"Chinese", "北京", "我们明天去北京开会", "我们明天去[北京]开会"},
		{"ChineseNotAdjacent", "北京", "北方的京都", "北方的京都"},
		{"ChineseOneChar", "京", "北京", "北[京]"},
		{"Japanese", "東京", "東京タワーに行きたい", "[東京]タワーに行きたい"},
		{"HalfWidthKatakana", "ｶﾀｶﾅ", "カタカナのテスト", "[カタカナ]のテスト"},
		{"Korean", "서울", "서울에서 만나요", "[서울에서] 만나요"},
		{"FullWidth", "api", "ＡＰＩ key", "[ＡＰＩ] key"},
		{"Joined", "example.com", "see example.com, or example com", "see [example.com], or example com"},
		{"Merged", `"new york" york`, "New York, york", "[New York], [york]"},
		{"Overlapping", `"new york" york`, "New York", "[New York]"},
		{"Several", "flight berlin", "A flight to Berlin", "A [flight] to [Berlin]"},
		{"ExcludedNotMarked", "-berlin", "berlin", "berlin"},
		{"InvalidUTF8", "berlin", "\xffberlin\xfe", "\xff[berlin]\xfe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := search.Parse(tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := mark(tc.text, search.HighlightSpans(tc.text, q.Terms())); got != tc.want {
				t.Errorf("%q in %q\n got %q\nwant %q", tc.q, tc.text, got, tc.want)
			}
		})
	}
}

func TestHighlightSpansBounded(t *testing.T) {
	q, err := search.Parse(`"a a a a a a a a" a`)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("a ", 1<<19) // 1 MiB
	spans := search.HighlightSpans(text, q.Terms())
	if len(spans) == 0 || len(spans) > 1000 {
		t.Errorf("%d spans, want 1 to 1000", len(spans))
	}
	checkSpans(t, text, spans)
}

// checkSpans fails unless spans are in order, apart, and within text.
func checkSpans(t testing.TB, text string, spans []search.Span) {
	t.Helper()
	last := -1
	for _, s := range spans {
		if s.Start <= last || s.End <= s.Start || s.End > len(text) {
			t.Fatalf("bad span %+v after %d in a text of %d bytes", s, last, len(text))
		}
		last = s.End
	}
}

func BenchmarkHighlightSpans(b *testing.B) {
	// No term occurs, so the whole text is read.
	q, err := search.Parse(`kubernets "rate limit" 东京 transf alpha beta gamma delta epsilon zeta eta theta iota kappa "lazy cat"`)
	if err != nil {
		b.Fatal(err)
	}
	terms := q.Terms()
	var sb strings.Builder
	for sb.Len() < 1<<20 {
		sb.WriteString("The quick brown fox jumps over the lazy dog; 我们明天去北京开会。 ")
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		search.HighlightSpans(text, terms)
	}
}

// FuzzParse checks that no search panics, that every failure is a
// *QueryError, that a user's query always carries the visibility term,
// that the index runs every query without an error, and that highlights
// are well formed.
func FuzzParse(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	for _, s := range []string{"berlin", `"rate limit" -x`, "model:a status:4xx method:get stream:yes after:2026-01-01 before:2026-02-01T10:00:00Z", "北京 東京 서울 ｶﾀｶﾅ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := search.Parse(s)
		if err != nil {
			var qe *search.QueryError
			if !errors.As(err, &qe) || qe.Msg == "" {
				t.Fatalf("Parse(%q): %T %v, want a *QueryError", s, err, err)
			}
			return
		}
		for _, v := range []store.Viewer{viewerA, viewerNoKey, viewerAdmin} {
			bq, err := q.Bleve(v, store.Filter{Viewer: v})
			if err != nil {
				var qe *search.QueryError
				if !errors.As(err, &qe) {
					t.Fatalf("Bleve(%q): %T %v, want a *QueryError", s, err, err)
				}
				continue
			}
			checkVisibility(t, bq, v)
			if _, err := openTestIndex(t).Search(bleve.NewSearchRequestOptions(bq, 10, 0, false)); err != nil {
				t.Fatalf("searching %q: %v", s, err)
			}
		}
		checkSpans(t, s, search.HighlightSpans(s, q.Terms()))
	})
}
