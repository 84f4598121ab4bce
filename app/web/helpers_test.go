package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"github.com/openrouter-proxy/openrouter-proxy/app/auth"
	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/live"
	"github.com/openrouter-proxy/openrouter-proxy/app/search"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/web"
)

// The keys of the test world. Each holds "-secret-", which no masked form
// shows, so finding that word in a response means a key leaked.
const (
	aliceKey   = "sk-or-v1-alice-secret-0000aaaa"
	bobKey     = "sk-or-v1-bob-secret-0000bbbb"
	adminKey   = "sk-or-v1-admin-secret-0000cccc"
	defaultKey = "sk-or-v1-default-secret-0000dddd"
	// unknownKey has never been used through the proxy.
	unknownKey = "sk-or-v1-nobody-secret-0000eeee"

	leakMarker = "-secret-"
	proxyURL   = "http://proxy.test"
)

// Payloads that must come back as text, never as markup.
const (
	scriptPayload = `<script>alert(1)</script>`
	replyPayload  = `<script>alert(2)</script>`
	imgPayload    = `<img src=x onerror=alert(1)>`
	pathPayload   = `/chat/completions/"><script>alert(3)</script>`
)

// binaryBody is a request body that is not UTF-8.
var binaryBody = []byte{0xff, 0xfe, 0x00, 0x01, 'b', 'i', 'n', 0x80, 0xc3}

// env is the dashboard wired as app/main.go wires it: a real SQLite store
// in a temporary directory, real auth and a real live tracker.
type env struct {
	t       *testing.T
	handler http.Handler
	srv     *web.Server
	st      *sqlite.SQLite
	// index, once openIndex has run, is a real search index over st, fed
	// by its hooks; seed waits until it holds what was seeded.
	index *search.Index
	feed  *indexFeed
	live  *live.Tracker
	now   time.Time
	clock *clock            // the dashboard's clock, starting at now
	ids   map[string]string // seed name → record id
	names map[string]string // record id → seed name
}

// clock is the dashboard's clock in tests: it stands still until advanced.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newEnv returns an empty dashboard. Each of opts may adjust the server
// before it starts serving, such as wrap its Store.
func newEnv(t *testing.T, opts ...func(*web.Server)) *env {
	t.Helper()
	tracker := live.New()
	log := slog.New(slog.DiscardHandler)
	feed := new(indexFeed)
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "data", "requests.db"), sqlite.Options{
		Logger: log,
		Hooks: []store.Hook{
			{AfterCommit: tracker.Committed, AfterPrune: tracker.Pruned},
			{AfterCommit: feed.committed, AfterPrune: feed.pruned},
		},
	})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	srv := &web.Server{
		Store: st,
		Auth: auth.New(auth.Options{
			AdminKeys: []string{adminKey}, DefaultKey: defaultKey,
			Secret:   []byte("0123456789abcdef0123456789abcdef-test-secret"),
			Sessions: st, Known: st,
		}),
		Limiter:  auth.NewLimiter(10, 15*time.Minute, st),
		Live:     tracker,
		PageSize: 50,
		ProxyURL: proxyURL,
		Log:      log,
	}
	now := time.Now()
	c := &clock{t: now}
	web.SetClock(srv, c.Now)
	for _, o := range opts {
		o(srv)
	}
	return &env{
		t: t, handler: srv.Handler(), srv: srv, st: st, feed: feed, live: tracker, now: now, clock: c,
		ids: map[string]string{}, names: map[string]string{},
	}
}

// indexFeed hands the store's commits and prunes to the search index once
// it is open, as app/main.go does: the index opens after the store it
// reads from.
type indexFeed struct{ ix atomic.Pointer[search.Index] }

func (f *indexFeed) committed(batch []*capture.Record) {
	if ix := f.ix.Load(); ix != nil {
		ix.Committed(batch)
	}
}

func (f *indexFeed) pruned(ids []string) {
	if ix := f.ix.Load(); ix != nil {
		ix.Pruned(ids)
	}
}

// openIndex opens a real search index over e's store, in a temporary
// directory, gives it to the dashboard and waits until it is ready.
func (e *env) openIndex() *search.Index {
	e.t.Helper()
	ix, err := search.Open(search.Options{Dir: e.t.TempDir(), Source: e.st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatalf("open index: %v", err)
	}
	// Cleanups run last first: the index closes before the store it reads.
	e.t.Cleanup(func() {
		if err := ix.Close(); err != nil {
			e.t.Errorf("close index: %v", err)
		}
	})
	e.index = ix
	e.feed.ix.Store(ix)
	e.srv.Search = ix
	e.waitIndex()
	return ix
}

// waitIndex waits until the index holds every committed record.
func (e *env) waitIndex() {
	e.t.Helper()
	if e.index == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	feed, err := e.st.Feed(ctx)
	if err != nil {
		e.t.Fatalf("feed: %v", err)
	}
	if err := e.index.Wait(ctx, feed.MaxSeq); err != nil {
		e.t.Fatalf("wait for the index: %v", err)
	}
}

// nextRefresh lets the live cache's interval pass, so that the next live
// update shows what is stored now.
func (e *env) nextRefresh() { e.clock.Advance(web.MinRefresh) }

// newSeededEnv returns a dashboard holding the fixture exchanges.
func newSeededEnv(t *testing.T, opts ...func(*web.Server)) *env {
	t.Helper()
	e := newEnv(t, opts...)
	e.seed(fixture()...)
	return e
}

// exchange describes one recorded exchange in the raw form the proxy
// produces.
type exchange struct {
	name      string
	key       string
	ago       time.Duration // Start is this long before env.now
	method    string
	url, path string
	reqType   string
	reqBody   []byte
	status    int
	respType  string
	respBody  []byte
	duration  time.Duration
	// edit, if set, changes the record before it is stored, for what the
	// fields above cannot say.
	edit func(*capture.Record)
}

// record builds the raw capture.Record the proxy would hand the store.
func (x exchange) record(now time.Time) *capture.Record {
	rec := &capture.Record{
		ID:     uuid.Must(uuid.NewV7()).String(),
		Start:  now.Add(-x.ago),
		Method: x.method, URL: x.url, Path: x.path,
		ReqHeader: http.Header{
			"Authorization": {"Bearer " + x.key},
			"Content-Type":  {x.reqType},
			"User-Agent":    {"web-test"},
		},
		ReqBody:    capture.Body{Limit: 1 << 20},
		ClientAddr: "192.0.2.50:41000",
		APIKey:     x.key,
		Status:     x.status,
		RespHeader: http.Header{"Content-Type": {x.respType}},
		RespBody:   capture.Body{Limit: 1 << 20},
		TTFB:       x.duration / 2,
		Duration:   x.duration,
		Attempts:   1,
	}
	rec.ReqBody.Write(x.reqBody)
	rec.RespBody.Write(x.respBody)
	if x.edit != nil {
		x.edit(rec)
	}
	return rec
}

// seed records xs in order and waits until they are committed. Ids are
// UUIDv7, made in this order, so list xs oldest first to keep id order and
// time order the same.
func (e *env) seed(xs ...exchange) {
	e.t.Helper()
	for _, x := range xs {
		rec := x.record(e.now)
		e.ids[x.name], e.names[rec.ID] = rec.ID, x.name
		if err := e.st.Record(rec); err != nil { // the store owns rec from here
			e.t.Fatalf("record %s: %v", x.name, err)
		}
	}
	e.flush()
	e.waitIndex()
}

func (e *env) flush() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.st.Flush(ctx); err != nil {
		e.t.Fatalf("flush: %v", err)
	}
}

// Bodies of the fixture.
const (
	chatRequest = `{"model":"openai/gpt-4o-mini","stream":true,"messages":[` +
		`{"role":"system","content":"You are a weather bot."},` +
		`{"role":"user","content":"Weather in Paris?"},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},` +
		`{"role":"tool","tool_call_id":"call_1","content":"sunny, 24C"}]}`
	chatStream = "data: {\"id\":\"gen-alice-1\",\"model\":\"openai/gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"It is \"}}]}\n\n" +
		"data: {\"id\":\"gen-alice-1\",\"model\":\"openai/gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"sunny in Paris.\"},\"finish_reason\":\"stop\"}]}\n\n" +
		"data: {\"id\":\"gen-alice-1\",\"model\":\"openai/gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":42,\"completion_tokens\":6,\"total_tokens\":48,\"cost\":0.0001}}\n\n" +
		"data: [DONE]\n\n"
	chatReply = "It is sunny in Paris."
)

// fixture is the standard traffic, oldest first. Per viewer:
//
//	alice: alice-500, alice-binary, alice-models, alice-chat (4; 3 ok; 3 in the last hour; mean 250 ms)
//	bob:   bob-chat, bob-xss (2; 2 ok; 2 in the last hour; mean 750 ms)
//	admin: all 7, with default-429 (5 ok; 5 in the last hour; mean 2550/7 ms)
func fixture() []exchange {
	jsonResp := func(model, content string) []byte {
		return rawJSON(map[string]any{
			"id": "gen-x", "model": model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content}, "finish_reason": "stop"}},
			"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
		})
	}
	xssReq := rawJSON(map[string]any{
		"model":    imgPayload,
		"messages": []any{map[string]any{"role": "user", "content": scriptPayload}},
	})
	const chat = "/v1/chat/completions"
	return []exchange{
		{name: "default-429", key: defaultKey, ago: 3 * time.Hour, method: "POST", url: chat, path: "/chat/completions",
			reqType: "application/json", reqBody: []byte(`{"model":"openai/gpt-4o-mini","messages":[]}`),
			status: 429, respType: "application/json", respBody: []byte(`{"error":{"message":"Rate limit exceeded","code":429}}`), duration: 50 * time.Millisecond},
		{name: "alice-500", key: aliceKey, ago: 2 * time.Hour, method: "POST", url: chat, path: "/chat/completions",
			reqType: "application/json", reqBody: []byte(`{"model":"anthropic/claude-sonnet-4.5","messages":[{"role":"user","content":"hi"}]}`),
			status: 500, respType: "application/json", respBody: []byte(`{"error":{"message":"Internal upstream failure","code":500}}`), duration: 300 * time.Millisecond},
		{name: "alice-binary", key: aliceKey, ago: 30 * time.Minute, method: "POST", url: "/v1/embeddings", path: "/embeddings",
			reqType: "application/octet-stream", reqBody: binaryBody,
			status: 200, respType: "application/json", respBody: []byte(`{"object":"list","data":[],"model":"openai/text-embedding-3-small"}`), duration: 400 * time.Millisecond},
		{name: "alice-models", key: aliceKey, ago: 20 * time.Minute, method: "GET", url: "/v1/models", path: "/models",
			reqType: "application/json",
			status:  200, respType: "application/json", respBody: []byte(`{"data":[]}`), duration: 200 * time.Millisecond},
		{name: "alice-chat", key: aliceKey, ago: 10 * time.Minute, method: "POST", url: chat, path: "/chat/completions",
			reqType: "application/json", reqBody: []byte(chatRequest),
			status: 200, respType: "text/event-stream", respBody: []byte(chatStream), duration: 100 * time.Millisecond},
		{name: "bob-chat", key: bobKey, ago: 5 * time.Minute, method: "POST", url: chat, path: "/chat/completions",
			reqType: "application/json", reqBody: []byte(`{"model":"mistralai/mistral-large","messages":[{"role":"user","content":"Bonjour"}]}`),
			status: 200, respType: "application/json", respBody: jsonResp("mistralai/mistral-large", "Bonjour !"), duration: time.Second},
		{name: "bob-xss", key: bobKey, ago: time.Minute, method: "POST", url: "/v1" + pathPayload, path: pathPayload,
			reqType: "application/json", reqBody: xssReq,
			status: 200, respType: "application/json", respBody: jsonResp(imgPayload, replyPayload), duration: 500 * time.Millisecond},
	}
}

// rawJSON encodes v without escaping <, > and &, as many clients send
// JSON, so payloads reach the store literally.
func rawJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSpace(b.Bytes())
}

// Names of the fixture records each viewer sees, newest first.
var (
	aliceSees = []string{"alice-chat", "alice-models", "alice-binary", "alice-500"}
	bobSees   = []string{"bob-xss", "bob-chat"}
	adminSees = []string{"bob-xss", "bob-chat", "alice-chat", "alice-models", "alice-binary", "alice-500", "default-429"}
)

// reqOpt adjusts a test request.
type reqOpt func(*http.Request)

func withCookie(c *http.Cookie) reqOpt { return func(r *http.Request) { r.AddCookie(c) } }

func withHeader(name, value string) reqOpt {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

func withRemote(addr string) reqOpt { return func(r *http.Request) { r.RemoteAddr = addr } }

func withBearer(key string) reqOpt { return withHeader("Authorization", "Bearer "+key) }

// htmx marks a request as made by htmx.
func htmx() reqOpt { return withHeader("HX-Request", "true") }

// do serves one request and checks, for every response, that no plaintext
// key appears in its body or headers.
func (e *env) do(method, target string, body io.Reader, opts ...reqOpt) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, target, body)
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	checkNoLeak(e.t, method+" "+target, w)
	return w
}

func checkNoLeak(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	if strings.Contains(w.Body.String(), leakMarker) {
		t.Errorf("%s: response body contains a plaintext API key", what)
	}
	for name, vals := range w.Header() {
		for _, v := range vals {
			if strings.Contains(v, leakMarker) {
				t.Errorf("%s: response header %s contains a plaintext API key", what, name)
			}
		}
	}
}

func (e *env) get(target string, opts ...reqOpt) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(http.MethodGet, target, nil, opts...)
}

// postForm posts a form the way a browser on the dashboard's own page
// does unless opts say otherwise.
func (e *env) postForm(target string, form url.Values, opts ...reqOpt) *httptest.ResponseRecorder {
	e.t.Helper()
	opts = append([]reqOpt{withHeader("Content-Type", "application/x-www-form-urlencoded")}, opts...)
	return e.do(http.MethodPost, target, strings.NewReader(form.Encode()), opts...)
}

// login logs in with key and returns the session cookie.
func (e *env) login(key string, opts ...reqOpt) *http.Cookie {
	e.t.Helper()
	w := e.postForm("/login", url.Values{"api_key": {key}}, opts...)
	if w.Code != http.StatusSeeOther {
		e.t.Fatalf("login: status %d, want 303; body:\n%s", w.Code, w.Body)
	}
	return sessionCookie(e.t, w)
}

// sessionCookie returns the one cookie w sets.
func sessionCookie(t *testing.T, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("response sets %d cookies, want 1", len(cs))
	}
	return cs[0]
}

// sessions logs in as each user of the fixture.
func (e *env) sessions() map[string]*http.Cookie {
	e.t.Helper()
	return map[string]*http.Cookie{"alice": e.login(aliceKey), "bob": e.login(bobKey), "admin": e.login(adminKey)}
}

func wantStatus(t *testing.T, w *httptest.ResponseRecorder, want int) {
	t.Helper()
	if w.Code != want {
		t.Fatalf("status %d, want %d; body:\n%.2000s", w.Code, want, w.Body)
	}
}

func wantRedirect(t *testing.T, w *httptest.ResponseRecorder, location string) {
	t.Helper()
	wantStatus(t, w, http.StatusSeeOther)
	if got := w.Header().Get("Location"); got != location {
		t.Fatalf("Location %q, want %q", got, location)
	}
}

// decode parses a JSON response into T.
func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want application/json; body:\n%s", ct, w.Body)
	}
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
	return v
}

// apiError is the JSON error body.
type apiError struct {
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    int    `json:"code"`
	} `json:"error"`
}

// wantJSONError checks a JSON error answer and returns its message.
func wantJSONError(t *testing.T, w *httptest.ResponseRecorder, status int) string {
	t.Helper()
	wantStatus(t, w, status)
	e := decode[apiError](t, w)
	if e.Error == nil || e.Error.Message == "" || e.Error.Code != status {
		t.Fatalf("error body %s: want {\"error\":{\"message\":…,\"code\":%d}}", w.Body, status)
	}
	return e.Error.Message
}

// listResponse is GET /api/requests.
type listResponse struct {
	Requests []struct {
		ID      string `json:"id"`
		KeyMask string `json:"key_mask"`
	} `json:"requests"`
	TotalCount int64 `json:"total_count"`
	Page       int   `json:"page"`
	PageSize   int   `json:"page_size"`
}

// recordNames maps ids back to fixture names.
func (e *env) recordNames(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		name, ok := e.names[id]
		if !ok {
			name = "unknown:" + id
		}
		out = append(out, name)
	}
	return out
}

// page parses an HTML response.
func page(t *testing.T, w *httptest.ResponseRecorder) *goquery.Document {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q, want text/html", ct)
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(w.Body.Bytes()))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return doc
}

func byTestID(id string) string { return `[data-testid="` + id + `"]` }

// rowNames returns the fixture names of the rows of testid kind
// ("request-row" or "pending-row"), in order.
func (e *env) rowNames(doc *goquery.Document, kind string) []string {
	var ids []string
	doc.Find(byTestID(kind)).Each(func(_ int, s *goquery.Selection) {
		ids = append(ids, s.AttrOr("data-id", ""))
	})
	return e.recordNames(ids)
}

// visibilityCase is who asks for which seeded record, and the status the
// detail page and the detail API must both answer.
type visibilityCase struct {
	name, user, record string // record "" asks for an id that does not exist
	want               int
	// mangle, if set, turns the id into the one asked for.
	mangle func(id string) string
}

// detailVisibility is shared by the HTML and JSON detail tests, so both
// routes are held to the same rule.
var detailVisibility = []visibilityCase{
	{"OwnerSeesIt", "bob", "bob-chat", http.StatusOK, nil},
	{"AdminSeesIt", "admin", "bob-chat", http.StatusOK, nil},
	{"AdminSeesOthers", "admin", "alice-chat", http.StatusOK, nil},
	{"AdminSeesDefaultKeyTraffic", "admin", "default-429", http.StatusOK, nil},
	{"OtherUserGets404", "alice", "bob-chat", http.StatusNotFound, nil},
	{"OtherUserGets404ForDefaultKey", "alice", "default-429", http.StatusNotFound, nil},
	{"UserGets404ForDefaultKey", "bob", "default-429", http.StatusNotFound, nil},
	{"NonexistentIDIs404", "admin", "", http.StatusNotFound, nil},
	{"OthersIDUppercasedIs404", "alice", "bob-chat", http.StatusNotFound, strings.ToUpper},
	{"OthersIDWithSQLIs404", "alice", "bob-chat", http.StatusNotFound, func(id string) string { return id + "' OR '1'='1" }},
	{"SQLInjectionIs404", "admin", "", http.StatusNotFound, func(string) string { return "x' OR 1=1--" }},
	{"WildcardIs404", "alice", "", http.StatusNotFound, func(string) string { return "%" }},
	{"NULIs404", "admin", "", http.StatusNotFound, func(string) string { return "\x00" }},
	{"InvalidUTF8Is404", "admin", "", http.StatusNotFound, func(string) string { return "\xff\xfe" }},
	{"VeryLongIDIs404", "admin", "", http.StatusNotFound, func(string) string { return strings.Repeat("0", 10000) }},
}

// caseID is the record id tc asks for.
func (e *env) caseID(tc visibilityCase) string {
	id := e.ids[tc.record]
	if tc.record == "" {
		id = uuid.Must(uuid.NewV7()).String()
	}
	if tc.mangle != nil {
		id = tc.mangle(id)
	}
	return id
}
