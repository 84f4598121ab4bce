package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/search"
	"github.com/openrouter-proxy/openrouter-proxy/app/web"
)

// The search corpus. Every record but "s-nohit" says "orchid" in its
// request; the other words are for one test each.
const (
	berlinPrompt    = "orchid: what is the weather in Berlin tomorrow?"
	rateLimitPrompt = "orchid: rate limit, rate limit, rate limit again"
	limitRatePrompt = "orchid: please limit the rate of calls"
	// The reply to streamPrompt says zanzibar42, split across two SSE
	// chunks: only the reassembled reply holds the word.
	streamPrompt   = "orchid: tell me the code word"
	chinesePrompt  = "orchid 请告诉我北京的天气"
	japanesePrompt = "orchid 東京でおいしいラーメンを食べたい"
	putPrompt      = "orchid sent with another method"
	bobPrompt      = "orchid from bob: bobonly plans"
	defaultPrompt  = "orchid through the default key"
)

// chatBody is a chat request whose one user message is prompt.
func chatBody(model, prompt string) []byte {
	return rawJSON(map[string]any{"model": model, "messages": []any{
		map[string]any{"role": "system", "content": "You are terse."},
		map[string]any{"role": "user", "content": prompt},
	}})
}

// chatAnswer is a non-streamed chat answer saying content.
func chatAnswer(model, content string) []byte {
	return rawJSON(map[string]any{
		"id": "gen-s", "model": model,
		"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content}, "finish_reason": "stop"}},
		"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
	})
}

// searchCorpus is the traffic the search tests look for, oldest first,
// all before the standard fixture. Per viewer, newest first:
//
//	alice: s-put, s-japanese (500), s-chinese, s-stream (SSE), s-limitrate, s-ratelimit (429), s-berlin
//	bob:   s-bob
//	admin: all of these, with s-default
func searchCorpus() []exchange {
	const chat = "/v1/chat/completions"
	x := func(name, key string, ago time.Duration, model, prompt string, status int, reply string) exchange {
		resp := chatAnswer(model, reply)
		if status >= 400 {
			resp = []byte(`{"error":{"message":"` + reply + `","code":` + strconv.Itoa(status) + `}}`)
		}
		return exchange{name: name, key: key, ago: ago, method: "POST", url: chat, path: "/chat/completions",
			reqType: "application/json", reqBody: chatBody(model, prompt),
			status: status, respType: "application/json", respBody: resp, duration: 100 * time.Millisecond}
	}
	stream := x("s-stream", aliceKey, 6*time.Hour, "deepseek/deepseek-r1", streamPrompt, 200, "")
	stream.respType = "text/event-stream"
	stream.respBody = []byte("data: {\"id\":\"gen-z\",\"model\":\"deepseek/deepseek-r1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"The code word is zanzi\"}}]}\n\n" +
		"data: {\"id\":\"gen-z\",\"model\":\"deepseek/deepseek-r1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"bar42, remember it.\"},\"finish_reason\":\"stop\"}]}\n\n" +
		"data: [DONE]\n\n")
	put := x("s-put", aliceKey, 4*time.Hour, "openai/gpt-4o-mini", putPrompt, 200, "done")
	put.method = "PUT"
	// The one answer that names the provider behind OpenRouter.
	chinese := x("s-chinese", aliceKey, 5*time.Hour+30*time.Minute, "qwen/qwen-2.5", chinesePrompt, 200, "北京今天晴")
	chinese.respBody = bytes.Replace(chinese.respBody, []byte(`"model":`), []byte(`"provider":"Alibaba","model":`), 1)
	return []exchange{
		x("s-berlin", aliceKey, 9*time.Hour, "openai/gpt-4o-mini", berlinPrompt, 200, "Cloudy in Berlin."),
		x("s-ratelimit", aliceKey, 8*time.Hour, "anthropic/claude-sonnet-4.5", rateLimitPrompt, 429, "Rate limit exceeded"),
		x("s-limitrate", aliceKey, 7*time.Hour, "openai/gpt-4o-mini", limitRatePrompt, 200, "Sure."),
		stream,
		chinese,
		x("s-japanese", aliceKey, 5*time.Hour, "openai/gpt-4o-mini", japanesePrompt, 500, "upstream exploded"),
		put,
		x("s-bob", bobKey, 3*time.Hour+50*time.Minute, "mistralai/mistral-large", bobPrompt, 200, "Noted."),
		x("s-default", defaultKey, 3*time.Hour+40*time.Minute, "openai/gpt-4o-mini", defaultPrompt, 200, "ok"),
	}
}

// aliceOrchids are alice's records that say orchid, newest first.
var aliceOrchids = []string{"s-put", "s-japanese", "s-chinese", "s-stream", "s-limitrate", "s-ratelimit", "s-berlin"}

// newIndexedEnv returns a dashboard with a real search index over its
// store, holding the search corpus and then the standard fixture, all
// indexed. opts adjust the server before the index is given to it.
func newIndexedEnv(t *testing.T, opts ...func(*web.Server)) *env {
	t.Helper()
	e := newEnv(t, opts...)
	e.openIndex()
	e.seed(searchCorpus()...)
	e.seed(fixture()...)
	return e
}

// searchList is GET /api/requests with a search.
type searchList struct {
	Requests []struct {
		ID      string `json:"id"`
		Preview *struct {
			Request      string   `json:"request"`
			RequestHits  [][2]int `json:"request_hits"`
			Response     string   `json:"response"`
			ResponseHits [][2]int `json:"response_hits"`
		} `json:"preview"`
	} `json:"requests"`
	TotalCount    int64  `json:"total_count"`
	SearchBackend string `json:"search_backend"`
}

// apiSearch asks /api/requests with query as user, wanting 200, and
// returns the names of the rows and the answer.
func (e *env) apiSearch(t *testing.T, c *http.Cookie, query string) ([]string, searchList) {
	t.Helper()
	w := e.get("/api/requests?"+query, withCookie(c))
	wantStatus(t, w, http.StatusOK)
	got := decode[searchList](t, w)
	var ids []string
	for _, r := range got.Requests {
		ids = append(ids, r.ID)
	}
	return e.recordNames(ids), got
}

// pageSearch asks the dashboard with query as user, wanting 200, and
// returns the names of its rows and the page.
func (e *env) pageSearch(t *testing.T, c *http.Cookie, query string, opts ...reqOpt) ([]string, *goquery.Document) {
	t.Helper()
	w := e.get("/?"+query, append(opts, withCookie(c))...)
	wantStatus(t, w, http.StatusOK)
	doc := page(t, w)
	return e.rowNames(doc, "request-row"), doc
}

func q(search string) string { return "search=" + url.QueryEscape(search) }

// TestSearchIndexed searches through the index on the page, the htmx
// fragment and the API, which must agree.
func TestSearchIndexed(t *testing.T) {
	e := newIndexedEnv(t)
	users := e.sessions()
	at := func(d time.Duration) string { return e.now.Add(-d).UTC().Format("2006-01-02T15:04:05") }
	bobFP := capture.Fingerprint(bobKey)
	aliceFP := capture.Fingerprint(aliceKey)
	tests := []struct {
		name, user, query string
		want              []string
	}{
		{"Word", "alice", q("orchid"), aliceOrchids},
		{"Typo", "alice", q("berlim"), []string{"s-berlin"}},
		{"TypoInTheMiddle", "alice", q("orcid"), aliceOrchids},
		{"Prefix", "alice", q("weath"), []string{"s-berlin"}},
		{"Phrase", "alice", q(`"rate limit"`), []string{"s-ratelimit"}},
		{"WordsInAnyOrder", "alice", q("rate limit"), []string{"s-limitrate", "s-ratelimit"}},
		{"Exclusion", "alice", q("rate limit -again"), []string{"s-limitrate"}},
		{"OnlyInTheStreamedReply", "alice", q("zanzibar42"), []string{"s-stream"}},
		{"PrefixOfTheStreamedReply", "alice", q("zanzib"), []string{"s-stream"}},
		{"Chinese", "alice", q("北京"), []string{"s-chinese"}},
		{"Japanese", "alice", q("東京"), []string{"s-japanese"}},
		{"Katakana", "alice", q("ラーメン"), []string{"s-japanese"}},
		{"InTheReply", "alice", q("cloudy"), []string{"s-berlin"}},
		{"InTheError", "alice", q("exploded"), []string{"s-japanese"}},
		{"RelevanceFirst", "alice", q("rate") + "&sort=relevance", []string{"s-ratelimit", "s-limitrate"}},
		{"RelevanceWithFilters", "alice", q("rate method:post") + "&sort=relevance&model=", []string{"s-ratelimit", "s-limitrate"}},
		{"RelevanceForAdmin", "admin", q("rate") + "&sort=relevance&key=" + aliceFP, []string{"s-ratelimit", "s-limitrate"}},
		{"NewestFirst", "alice", q("rate"), []string{"s-limitrate", "s-ratelimit"}},

		// The dashboard's filters narrow the search.
		{"StatusError", "alice", q("orchid") + "&status=error", []string{"s-japanese", "s-ratelimit"}},
		{"Status4xx", "alice", q("orchid") + "&status=4xx", []string{"s-ratelimit"}},
		{"Status5xx", "alice", q("orchid") + "&status=5xx", []string{"s-japanese"}},
		{"StatusSuccess", "alice", q("orchid") + "&status=success", []string{"s-put", "s-chinese", "s-stream", "s-limitrate", "s-berlin"}},
		{"Model", "alice", q("orchid") + "&model=deepseek/deepseek-r1", []string{"s-stream"}},
		{"Method", "alice", q("orchid") + "&method=put", []string{"s-put"}},
		{"Provider", "alice", q("orchid") + "&provider=Alibaba", []string{"s-chinese"}},
		{"ProviderIsExact", "alice", q("orchid") + "&provider=alibaba", nil},
		{"From", "alice", q("orchid") + "&from=" + at(5*time.Hour+15*time.Minute), []string{"s-put", "s-japanese"}},
		{"To", "alice", q("orchid") + "&to=" + at(7*time.Hour), []string{"s-ratelimit", "s-berlin"}},
		{"AdminKey", "admin", q("orchid") + "&key=" + bobFP, []string{"s-bob"}},
		{"UserKeyIgnored", "alice", q("orchid") + "&key=" + bobFP, aliceOrchids},

		// The search's own filters.
		{"FilterStatus", "alice", q("orchid status:4xx"), []string{"s-ratelimit"}},
		{"FilterStatusCode", "alice", q("orchid status:500"), []string{"s-japanese"}},
		{"FilterNotStatus", "alice", q("orchid -status:error"), []string{"s-put", "s-chinese", "s-stream", "s-limitrate", "s-berlin"}},
		{"FilterModel", "alice", q("orchid model:qwen/qwen-2.5"), []string{"s-chinese"}},
		{"FilterMethod", "alice", q("orchid method:put"), []string{"s-put"}},
		{"FilterStream", "alice", q("orchid stream:true"), []string{"s-stream"}},
		{"FilterAfter", "alice", q("orchid after:" + at(5*time.Hour+15*time.Minute)), []string{"s-put", "s-japanese"}},
		{"FilterBefore", "alice", q("orchid before:" + at(7*time.Hour)), []string{"s-ratelimit", "s-berlin"}},
		{"FilterKeyForAdmin", "admin", q("orchid key:" + aliceFP[:12]), aliceOrchids},

		// Visibility.
		{"AliceNeverSeesBob", "alice", q("bobonly"), nil},
		{"BobSeesHis", "bob", q("orchid"), []string{"s-bob"}},
		{"AdminSeesAll", "admin", q("bobonly"), []string{"s-bob"}},
		{"AdminSeesEveryOrchid", "admin", q("orchid"), append([]string{"s-default", "s-bob"}, aliceOrchids...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := users[tc.user]
			names, got := e.apiSearch(t, c, tc.query)
			if !slices.Equal(names, tc.want) && len(names)+len(tc.want) > 0 {
				t.Errorf("API: rows %v, want %v", names, tc.want)
			}
			if got.TotalCount != int64(len(tc.want)) || got.SearchBackend != "index" {
				t.Errorf("API: total_count %d, search_backend %q; want %d and index", got.TotalCount, got.SearchBackend, len(tc.want))
			}
			for _, opts := range [][]reqOpt{nil, {htmx()}} {
				rows, doc := e.pageSearch(t, c, tc.query, opts...)
				if !slices.Equal(rows, tc.want) && len(rows)+len(tc.want) > 0 {
					t.Errorf("page (htmx %v): rows %v, want %v", opts != nil, rows, tc.want)
				}
				if doc.Find(byTestID("search-notice")).Length() != 0 {
					t.Errorf("page (htmx %v): a fallback notice while the index is ready", opts != nil)
				}
				if got := strings.TrimSpace(doc.Find(byTestID("stat-total") + " .stat-value").Text()); got != strconv.Itoa(len(tc.want)) {
					t.Errorf("page (htmx %v): stat-total %q, want %d", opts != nil, got, len(tc.want))
				}
			}
		})
	}
}

// A user can reach another key's records neither through words nor
// through filters: key: is refused, and nothing in the text widens the
// visibility rule.
func TestSearchNeverShowsOtherKeys(t *testing.T) {
	e := newIndexedEnv(t)
	users := e.sessions()
	bobFP := capture.Fingerprint(bobKey)
	for _, s := range []string{"key:" + bobFP, "key:" + bobFP[:8], "orchid key:" + bobFP, "-key:" + bobFP, "key:" + capture.Fingerprint(aliceKey)} {
		t.Run("KeyFilterIs400 "+s[:12], func(t *testing.T) {
			msg := wantJSONError(t, e.get("/api/requests?"+q(s), withCookie(users["alice"])), http.StatusBadRequest)
			if !strings.Contains(msg, "key:") || strings.Contains(msg, bobFP) {
				t.Errorf("message %q: want one about key:, without the fingerprint", msg)
			}
			w := e.get("/?"+q(s), withCookie(users["alice"]))
			wantStatus(t, w, http.StatusBadRequest)
			if page(t, w).Find(byTestID("request-row")).Length() != 0 {
				t.Error("a 400 page shows rows")
			}
		})
	}
	bobIDs := map[string]bool{e.ids["s-bob"]: true, e.ids["bob-chat"]: true, e.ids["bob-xss"]: true}
	for _, s := range []string{
		"bobonly", "orchid", "bobonly OR orchid", `orchid") OR ("bobonly`, "* bobonly", "bobonly*", "bob*",
		`key:* bobonly`, "model:mistralai/mistral-large", "bonjour", "mistral", "alert", "-orchid", "status:success",
	} {
		t.Run("AliceSearches "+s, func(t *testing.T) {
			w := e.get("/api/requests?"+q(s), withCookie(users["alice"]))
			if w.Code == http.StatusBadRequest {
				return
			}
			wantStatus(t, w, http.StatusOK)
			for _, r := range decode[searchList](t, w).Requests {
				if bobIDs[r.ID] {
					t.Errorf("alice sees bob's %s", e.names[r.ID])
				}
			}
			if strings.Contains(w.Body.String(), "bobonly plans") {
				t.Error("bob's text in alice's answer")
			}
		})
	}
}

// The preview column shows the start of the last user message and of the
// reply, with the hits marked, on the page and in the API.
func TestSearchPreview(t *testing.T) {
	e := newIndexedEnv(t)
	users := e.sessions()

	t.Run("Page", func(t *testing.T) {
		rows, doc := e.pageSearch(t, users["alice"], q("zanzibar42"))
		if !slices.Equal(rows, []string{"s-stream"}) {
			t.Fatalf("rows %v", rows)
		}
		if doc.Find(byTestID("preview-column")).Length() != 1 {
			t.Error("no preview column while searching")
		}
		req := doc.Find(byTestID("preview-request"))
		if !strings.Contains(req.Text(), streamPrompt) {
			t.Errorf("request preview %q, want the prompt %q", req.Text(), streamPrompt)
		}
		resp := doc.Find(byTestID("preview-response"))
		if !strings.Contains(resp.Text(), "The code word is zanzibar42, remember it.") {
			t.Errorf("reply preview %q, want the reassembled reply", resp.Text())
		}
		if marks := resp.Find("mark"); marks.Length() != 1 || marks.Text() != "zanzibar42" {
			t.Errorf("marks in the reply %q, want one around zanzibar42", marks.Text())
		}
	})
	t.Run("NoPreviewWithoutSearch", func(t *testing.T) {
		_, doc := e.pageSearch(t, users["alice"], "")
		if doc.Find(byTestID("preview-column")).Length() != 0 {
			t.Error("a preview column without a search")
		}
	})
	t.Run("CJKHighlighted", func(t *testing.T) {
		_, doc := e.pageSearch(t, users["alice"], q("北京"))
		if got := doc.Find(byTestID("preview-request") + " mark").Text(); got != "北京" {
			t.Errorf("request mark %q, want 北京", got)
		}
		if got := doc.Find(byTestID("preview-response") + " mark").Text(); got != "北京" {
			t.Errorf("reply mark %q, want 北京", got)
		}
	})
	t.Run("API", func(t *testing.T) {
		_, got := e.apiSearch(t, users["alice"], q("berlin weather"))
		if len(got.Requests) != 1 || got.Requests[0].Preview == nil {
			t.Fatalf("answer %+v: want one row with a preview", got)
		}
		p := got.Requests[0].Preview
		if p.Request != berlinPrompt || p.Response != "Cloudy in Berlin." {
			t.Errorf("preview %q / %q", p.Request, p.Response)
		}
		var reqHits, respHits []string
		for _, h := range p.RequestHits {
			reqHits = append(reqHits, p.Request[h[0]:h[1]])
		}
		for _, h := range p.ResponseHits {
			respHits = append(respHits, p.Response[h[0]:h[1]])
		}
		if !slices.Equal(reqHits, []string{"weather", "Berlin"}) || !slices.Equal(respHits, []string{"Berlin"}) {
			t.Errorf("hits %q and %q, want [weather Berlin] and [Berlin]", reqHits, respHits)
		}
	})
	t.Run("LongTextCutAroundTheHit", func(t *testing.T) {
		long := strings.Repeat("filler words here ", 100) + "the needle7 is here " + strings.Repeat("and more filler ", 100)
		e.seed(exchange{name: "s-long", key: aliceKey, ago: time.Second, method: "POST", url: "/v1/chat/completions", path: "/chat/completions",
			reqType: "application/json", reqBody: chatBody("m", long), status: 200, respType: "application/json", respBody: chatAnswer("m", "ok")})
		_, got := e.apiSearch(t, users["alice"], q("needle7"))
		if len(got.Requests) != 1 {
			t.Fatalf("%d rows", len(got.Requests))
		}
		p := got.Requests[0].Preview
		if n := len([]rune(p.Request)); n > 170 || !strings.HasPrefix(p.Request, "…") || !strings.HasSuffix(p.Request, "…") {
			t.Errorf("preview %q (%d characters): want about 160, cut on both sides", p.Request, n)
		}
		if len(p.RequestHits) != 1 || p.Request[p.RequestHits[0][0]:p.RequestHits[0][1]] != "needle7" {
			t.Errorf("hits %v in %q", p.RequestHits, p.Request)
		}
		if p.Response != "ok" || len(p.ResponseHits) != 0 || p.ResponseHits == nil {
			t.Errorf("reply preview %q, hits %v: want the reply's start and [] hits", p.Response, p.ResponseHits)
		}
	})
}

// A record whose text holds markup shows it as text in the preview, with
// <mark> around the hit only.
func TestSearchPreviewEscapes(t *testing.T) {
	e := newIndexedEnv(t)
	bob := e.login(bobKey)
	for _, opts := range [][]reqOpt{nil, {htmx()}} {
		w := e.get("/?"+q("alert"), append(opts, withCookie(bob))...)
		wantStatus(t, w, http.StatusOK)
		body := w.Body.String()
		for _, raw := range []string{scriptPayload, replyPayload, "<script>alert", "<mark><script"} {
			if strings.Contains(body, raw) {
				t.Errorf("htmx %v: the page holds %q unescaped", opts != nil, raw)
			}
		}
		doc := page(t, w)
		if rows := e.rowNames(doc, "request-row"); !slices.Equal(rows, []string{"bob-xss"}) {
			t.Fatalf("rows %v, want [bob-xss]", rows)
		}
		for _, tc := range []struct{ id, text string }{{"preview-request", scriptPayload}, {"preview-response", replyPayload}} {
			sel := doc.Find(byTestID(tc.id))
			if !strings.Contains(sel.Text(), tc.text) {
				t.Errorf("%s %q, want the payload %q as text", tc.id, sel.Text(), tc.text)
			}
			if sel.Find("script").Length() != 0 {
				t.Errorf("%s holds a script element", tc.id)
			}
			if marks := sel.Find("mark"); marks.Length() != 1 || marks.Text() != "alert" || marks.Children().Length() != 0 {
				t.Errorf("%s: marks %q, want one around alert", tc.id, marks.Text())
			}
		}
		if !strings.Contains(body, "&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt;") {
			t.Errorf("htmx %v: the request preview is not escaped text with a mark", opts != nil)
		}
	}
}

// The stat cards and the filter lists describe the matches.
func TestSearchStatsAndFacets(t *testing.T) {
	e := newIndexedEnv(t)
	users := e.sessions()
	_, doc := e.pageSearch(t, users["alice"], q("orchid"))
	card := func(id string) string { return strings.TrimSpace(doc.Find(byTestID(id) + " .stat-value").Text()) }
	// 7 matches: 5 ok, 2 errors; 100 ms each; 15 tokens for each of the
	// 4 JSON answers.
	for id, want := range map[string]string{"stat-total": "7", "stat-success": "71.4%", "stat-avg": "100 ms", "stat-tokens": "60"} {
		if got := card(id); got != want {
			t.Errorf("%s %q, want %q", id, got, want)
		}
	}
	var models []string
	doc.Find(byTestID("filter-model-options") + " option").Each(func(_ int, s *goquery.Selection) { models = append(models, s.AttrOr("value", "")) })
	slices.Sort(models)
	if want := []string{"anthropic/claude-sonnet-4.5", "deepseek/deepseek-r1", "openai/gpt-4o-mini", "qwen/qwen-2.5"}; !slices.Equal(models, want) {
		t.Errorf("model choices %v, want the matches' %v", models, want)
	}
	labels := map[string]string{}
	doc.Find(byTestID("filter-status") + " option").Each(func(_ int, s *goquery.Selection) { labels[s.AttrOr("value", "")] = s.Text() })
	for v, want := range map[string]string{"success": "Success (5)", "error": "Errors (2)", "2xx": "2xx (5)", "4xx": "4xx (1)", "5xx": "5xx (1)"} {
		if labels[v] != want {
			t.Errorf("status choice %s %q, want %q", v, labels[v], want)
		}
	}

	w := e.get("/api/stats?"+q("orchid"), withCookie(users["alice"]))
	wantStatus(t, w, http.StatusOK)
	st := decode[map[string]any](t, w)
	if st["total_requests"] != 7.0 || st["success_count"] != 5.0 || st["search_backend"] != "index" || st["total_tokens"] != 60.0 {
		t.Errorf("stats %v: want 7 requests, 5 ok, 60 tokens, from the index", st)
	}

	t.Run("TooManyToSum", func(t *testing.T) {
		e := newIndexedEnv(t)
		e.srv.Search = inflated{e.index}
		c := e.login(aliceKey)
		_, doc := e.pageSearch(t, c, q("orchid"))
		for _, id := range []string{"stat-avg", "stat-p95", "stat-tokens", "stat-cost"} {
			s := doc.Find(byTestID(id))
			if got := strings.TrimSpace(s.Find(".stat-value").Text()); got != "—" || !strings.Contains(s.AttrOr("title", ""), "narrow the search") {
				t.Errorf("%s %q (title %q), want — and a hint to narrow the search", id, got, s.AttrOr("title", ""))
			}
		}
		if got := strings.TrimSpace(doc.Find(byTestID("stat-total") + " .stat-value").Text()); got == "—" {
			t.Error("the total is a dash; the index counts it")
		}
		st := decode[map[string]any](t, e.get("/api/stats?"+q("orchid"), withCookie(c)))
		if st["total_tokens"] != nil || st["avg_response_time"] != nil || st["total_requests"] != float64(7+web.MaxSummed) {
			t.Errorf("stats %v: want null sums and the index's total", st)
		}
	})
}

// inflated is an index whose totals claim more matches than can be summed.
type inflated struct{ web.Index }

func (i inflated) Search(ctx context.Context, r search.Request) (search.Result, error) {
	res, err := i.Index.Search(ctx, r)
	res.Total += web.MaxSummed
	return res, err
}

// notReady is an index being built: it answers nothing.
type notReady struct{}

func (notReady) Search(context.Context, search.Request) (search.Result, error) {
	return search.Result{}, search.ErrNotReady
}
func (notReady) Status() search.Status {
	return search.Status{State: search.StateBuilding, Done: 42, Total: 100}
}
func (notReady) Watermark() int64 { return 0 }

// While the index is not ready, or there is none, searches come from the
// store's scan, and the page and the API say so.
func TestSearchFallback(t *testing.T) {
	for _, tc := range []struct {
		name   string
		index  web.Index
		notice string
	}{
		{"Building", notReady{}, "being built (42%)"},
		{"NoIndex", nil, "no search index"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(s *web.Server) { s.Search = tc.index })
			e.seed(searchCorpus()...)
			c := e.login(aliceKey)
			for _, opts := range [][]reqOpt{nil, {htmx()}} {
				rows, doc := e.pageSearch(t, c, q("Berlin"), opts...)
				if !slices.Equal(rows, []string{"s-berlin"}) {
					t.Errorf("rows %v, want [s-berlin]", rows)
				}
				notice := doc.Find(byTestID("search-notice")).Text()
				if !strings.Contains(notice, tc.notice) || !strings.Contains(notice, "slower full scan") {
					t.Errorf("notice %q, want one saying %q and the full scan", notice, tc.notice)
				}
				if got := doc.Find(byTestID("preview-request") + " mark").Text(); got != "Berlin" {
					t.Errorf("preview mark %q, want Berlin", got)
				}
			}
			// The scan matches the text as typed: no typos.
			names, got := e.apiSearch(t, c, q("berlim"))
			if len(names) != 0 || got.SearchBackend != "sql" {
				t.Errorf("rows %v, search_backend %q; want none, sql", names, got.SearchBackend)
			}
			_, got = e.apiSearch(t, c, q("Berlin"))
			if got.TotalCount != 1 || got.Requests[0].Preview == nil {
				t.Errorf("answer %+v, want one row with a preview", got)
			}
			// The same syntax and errors as with the index.
			wantJSONError(t, e.get("/api/requests?"+q("key:"+capture.Fingerprint(bobKey)), withCookie(c)), http.StatusBadRequest)
			st := decode[map[string]any](t, e.get("/api/stats?"+q("Berlin"), withCookie(c)))
			if st["total_requests"] != 1.0 || st["search_backend"] != "sql" {
				t.Errorf("stats %v", st)
			}
			_, doc := e.pageSearch(t, c, "")
			if doc.Find(byTestID("search-notice")).Length() != 0 {
				t.Error("a search notice without a search")
			}
		})
	}
}

// countingIndex counts the searches the dashboard runs.
type countingIndex struct {
	web.Index
	searches atomic.Int64
}

func (c *countingIndex) Search(ctx context.Context, r search.Request) (search.Result, error) {
	c.searches.Add(1)
	return c.Index.Search(ctx, r)
}

// The poll of a searched table is answered from the index's watermark:
// 204 without a search while it stands still, and after it moved, a
// search whose answer decides: 204 when the table would not change, so
// that another key's traffic shows in no way, and 200 with the new row
// when a match came in.
func TestSearchPoll(t *testing.T) {
	e := newIndexedEnv(t)
	counts := &countingIndex{Index: e.index}
	e.srv.Search = counts
	users := e.sessions()
	alice := users["alice"]
	u := e.pollURL(t, alice, q("orchid"))
	if n := counts.searches.Swap(0); n == 0 {
		t.Fatal("the page ran no search")
	}
	poll := func(t *testing.T, u string) (int, []string, string) {
		t.Helper()
		w := e.get(u, withCookie(alice), htmx())
		if w.Code != http.StatusOK {
			if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
				t.Fatalf("poll: status %d, body %q; want 200 or an empty 204", w.Code, w.Body)
			}
			return w.Code, nil, ""
		}
		doc := page(t, w)
		return w.Code, e.rowNames(doc, "request-row"), doc.Find(byTestID("requests")).AttrOr("hx-get", "")
	}
	wantSearches := func(t *testing.T, min, max int64) {
		t.Helper()
		if n := counts.searches.Swap(0); n < min || n > max {
			t.Errorf("%d searches, want %d to %d", n, min, max)
		}
	}
	record := func(name, key, prompt string) {
		e.seed(exchange{name: name, key: key, method: "POST", url: "/v1/chat/completions", path: "/chat/completions",
			reqType: "application/json", reqBody: chatBody("m", prompt), status: 200, respType: "application/json", respBody: chatAnswer("m", "ok")})
		e.nextRefresh()
	}

	t.Run("UnchangedIs204WithoutSearch", func(t *testing.T) {
		for range 3 {
			if code, _, _ := poll(t, u); code != http.StatusNoContent {
				t.Fatalf("status %d, want 204", code)
			}
		}
		wantSearches(t, 0, 0)
	})
	t.Run("OtherKeysMatchIs204", func(t *testing.T) {
		record("bob-orchid", bobKey, "orchid for bob only")
		if code, _, _ := poll(t, u); code != http.StatusNoContent {
			t.Fatalf("status %d, want 204: bob's record must not show in alice's poll", code)
		}
		wantSearches(t, 1, 3)
		// The search ran once for this watermark; polls share it.
		if code, _, _ := poll(t, u); code != http.StatusNoContent {
			t.Fatalf("status %d, want 204", code)
		}
		wantSearches(t, 0, 0)
	})
	t.Run("OwnNonMatchIs204", func(t *testing.T) {
		record("alice-other", aliceKey, "nothing to see here")
		if code, _, _ := poll(t, u); code != http.StatusNoContent {
			t.Fatalf("status %d, want 204: the table would not change", code)
		}
		wantSearches(t, 1, 3)
	})
	t.Run("MatchIs200WithTheRow", func(t *testing.T) {
		record("alice-orchid", aliceKey, "a fresh orchid")
		code, rows, next := poll(t, u)
		if code != http.StatusOK {
			t.Fatalf("status %d, want 200", code)
		}
		if want := append([]string{"alice-orchid"}, aliceOrchids...); !slices.Equal(rows, want) {
			t.Errorf("rows %v, want %v", rows, want)
		}
		wantSearches(t, 1, 3)
		if code, _, _ := poll(t, next); code != http.StatusNoContent {
			t.Errorf("the next poll answered %d, want 204", code)
		}
		wantSearches(t, 0, 0)
	})
	t.Run("VersionHidesTheWatermark", func(t *testing.T) {
		v, _ := url.ParseQuery(u[strings.Index(u, "?")+1:])
		if wm := e.index.Watermark(); strings.Contains(v.Get("v"), "~i"+strconv.Itoa(int(wm))) {
			t.Errorf("poll version %q shows the watermark %d", v.Get("v"), wm)
		}
	})
	t.Run("NoPendingRowsWhileSearching", func(t *testing.T) {
		rec := exchange{name: "in-flight", key: aliceKey, method: "POST", url: "/v1/chat/completions", path: "/chat/completions",
			reqType: "application/json", reqBody: chatBody("m", "orchid in flight")}.record(e.now)
		e.live.Begin(rec)
		defer e.live.End(rec)
		_, doc := e.pageSearch(t, alice, q("orchid"))
		if n := doc.Find(byTestID("pending-row")).Length(); n != 0 {
			t.Errorf("%d pending rows in a searched table: their text is not indexed yet", n)
		}
	})
}

// Hostile searches get 200 or 400, never 500, on every route that takes a
// search.
func TestSearchHostile(t *testing.T) {
	e := newIndexedEnv(t)
	users := e.sessions()
	hostile := []string{
		`"unbalanced`, `unbalanced"`, `"`, `""`, `-"`, `-""`, `"""`, "-", "--", "- -", ":", "::", "key:", "-key:", "model:", "status:",
		"status:999", "status:6xx", "method:", "method:<script>", "stream:maybe", "before:", "after:garbage", "after:9999-12-31",
		"before:0001-01-01", "before:1970-01-01T00:00:00Z", "unknown:filter", "model:\"unclosed", `model:""`,
		"a OR b", "(a AND b)", "NOT a", "a && b || c", "+a -b", `a\`, `\"`, ".*", "/reg(ex)+/", "[a-z]+", "foo*", "*", "?", "fo?o",
		"~", "a~2", "a^2", "{a}", "a:b:c", "%", "_", `%_\`, "'; DROP TABLE requests; --", "<script>alert(1)</script>",
		"\x00", "a\x00b", "\xff", "\xff\xfe", "caf\xc3", "\u202eevil", "🙂🙂🙂", "e\u0301", strings.Repeat("a ", 5000),
		strings.Repeat("x", 10_000), strings.Repeat("a", 999), strings.Repeat("é", 499), strings.Repeat("北", 333),
		strings.Repeat("word ", 100), strings.Repeat("-x ", 30), strings.Repeat(`"a b" `, 20), strings.Repeat("model:a ", 20),
		strings.Repeat("a", 40), strings.Repeat("ab", 21), "a b c d e f g h i j k l m n o p", "a b c d e f g h i j k l m n o p q",
	}
	routes := []struct {
		name string
		path func(s string) string
		opts []reqOpt
	}{
		{"Page", func(s string) string { return "/?" + q(s) }, nil},
		{"Partial", func(s string) string { return "/?" + q(s) }, []reqOpt{htmx()}},
		{"Poll", func(s string) string { return "/partials/requests?v=stale&" + q(s) }, []reqOpt{htmx()}},
		{"API", func(s string) string { return "/api/requests?" + q(s) }, nil},
		{"Stats", func(s string) string { return "/api/stats?" + q(s) }, nil},
	}
	for _, user := range []string{"alice", "admin"} {
		for i, s := range hostile {
			for _, r := range routes {
				w := e.get(r.path(s), append(r.opts, withCookie(users[user]))...)
				if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
					t.Errorf("%s %s search #%d %.40q: status %d; body:\n%.300s", user, r.name, i, s, w.Code, w.Body)
				}
			}
		}
	}
	t.Run("ErrorShapes", func(t *testing.T) {
		bad := q(`stream:maybe`)
		msg := wantJSONError(t, e.get("/api/requests?"+bad, withCookie(users["alice"])), http.StatusBadRequest)
		if !strings.Contains(msg, "stream:") {
			t.Errorf("API message %q", msg)
		}
		w := e.get("/?"+bad, withCookie(users["alice"]))
		wantStatus(t, w, http.StatusBadRequest)
		doc := page(t, w)
		if got := doc.Find(byTestID("search-error")).Text(); got != msg {
			t.Errorf("page message %q, want %q", got, msg)
		}
		if doc.Find(byTestID("search-input")).AttrOr("value", "") != "stream:maybe" || doc.Find(byTestID("filter-form")).Length() != 1 {
			t.Error("the page does not keep the search in its box")
		}
		if doc.Find(byTestID("requests")).AttrOr("hx-get", "") != "" {
			t.Error("the table of a bad search polls")
		}
		w = e.get("/?"+bad, withCookie(users["alice"]), htmx())
		wantStatus(t, w, http.StatusBadRequest)
		if strings.Contains(strings.ToLower(w.Body.String()), "<html") {
			t.Error("the htmx answer is a whole page")
		}
		doc = page(t, w)
		if doc.Find(byTestID("requests")).Length() != 1 || doc.Find(byTestID("search-error")).Text() != msg {
			t.Errorf("the htmx answer is not the table's fragment with the message:\n%s", w.Body)
		}
	})
	t.Run("DeepPageIs400", func(t *testing.T) {
		msg := wantJSONError(t, e.get("/api/requests?"+q("orchid")+"&page=1000", withCookie(users["alice"])), http.StatusBadRequest)
		if !strings.Contains(msg, "narrow the search") {
			t.Errorf("message %q", msg)
		}
	})
	t.Run("BadSortIs400", func(t *testing.T) {
		wantJSONError(t, e.get("/api/requests?"+q("orchid")+"&sort=random", withCookie(users["alice"])), http.StatusBadRequest)
	})
}
