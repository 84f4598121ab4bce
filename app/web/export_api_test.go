package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/web"
)

// exportAt is when the export fixture's records start: x-old at exportAt,
// each next one a second later plus a microsecond, so that their times
// show the stored precision.
var exportAt = time.Date(2026, 1, 31, 14, 5, 0, 123456000, time.UTC)

// The spreadsheet formulas the export must defuse, OWASP's examples.
const (
	formulaCmd  = `=cmd|' /C calc'!A0`
	formulaPlus = `+1`
	formulaNeg  = `-1`
	formulaAt   = `@SUM(A1:A2)`
)

// exportFixture is alice's and bob's traffic with fixed times, oldest
// first, carrying formulas where a spreadsheet would run them: the
// prompt, the reply, the model, the error and the path.
func exportFixture() []exchange {
	at := func(i int) func(*capture.Record) {
		return func(r *capture.Record) { r.Start = exportAt.Add(time.Duration(i) * (time.Second + time.Microsecond)) }
	}
	return []exchange{
		{name: "x-old", key: aliceKey, method: "POST", url: "/v1/chat/completions", path: "/chat/completions",
			reqType: "application/json", reqBody: chatBody(formulaNeg, formulaCmd),
			status: 500, respType: "application/json", respBody: []byte(`{"error":{"message":"` + formulaAt + `","code":500}}`),
			duration: 250 * time.Millisecond, edit: at(0)},
		{name: "x-bob", key: bobKey, method: "POST", url: "/v1/chat/completions", path: "/chat/completions",
			reqType: "application/json", reqBody: chatBody("mistralai/mistral-large", "bob's own words"),
			status: 200, respType: "application/json", respBody: chatAnswer("mistralai/mistral-large", "Noted."),
			duration: time.Second, edit: at(1)},
		{name: "x-stream", key: aliceKey, method: "POST", url: "/v1/chat/completions", path: "/chat/completions",
			reqType: "application/json", reqBody: []byte(chatRequest),
			status: 200, respType: "text/event-stream", respBody: []byte(chatStream),
			duration: 1500 * time.Microsecond, edit: func(r *capture.Record) {
				at(2)(r)
				r.Marks = capture.Marks{{Offset: 1 << 20, At: 700 * time.Microsecond}}
			}},
		{name: "x-plus", key: aliceKey, method: "GET", url: "/v1/" + formulaPlus, path: "/" + formulaPlus,
			reqType: "application/json",
			status:  200, respType: "application/json", respBody: chatAnswer("openai/gpt-4o-mini", formulaPlus),
			duration: 3 * time.Millisecond, edit: at(3)},
	}
}

// csvHeader is the CSV export's header row.
var csvHeader = []string{
	"time_utc", "id", "method", "path", "status", "outcome", "model_requested", "model", "stream", "key_mask",
	"prompt_tokens", "completion_tokens", "total_tokens", "cost", "duration_ms", "ttft_ms", "error",
	"request_text", "response_text",
}

// exportFile asks for an export with query as the caller opts name, wants
// 200 and an attachment of format, and returns the body.
func (e *env) exportFile(t *testing.T, format, query string, opts ...reqOpt) *httptest.ResponseRecorder {
	t.Helper()
	w := e.get("/api/export?format="+format+"&"+query, opts...)
	wantStatus(t, w, http.StatusOK)
	wantType := map[string]string{"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}[format]
	if got := w.Header().Get("Content-Type"); got != wantType {
		t.Errorf("Content-Type %q, want %q", got, wantType)
	}
	cd := w.Header().Get("Content-Disposition")
	if !regexp.MustCompile(`^attachment; filename="openrouter-proxy-[a-z0-9_-]*\d{8}-\d{6}\.` + format + `"$`).MatchString(cd) {
		t.Errorf("Content-Disposition %q", cd)
	}
	return w
}

// exportCSV returns the rows of a CSV export, the header row first.
func (e *env) exportCSV(t *testing.T, query string, opts ...reqOpt) [][]string {
	t.Helper()
	w := e.exportFile(t, "csv", query, opts...)
	rows, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatalf("read CSV: %v\n%s", err, w.Body)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], csvHeader) {
		t.Fatalf("CSV header %q, want %q", rows[0], csvHeader)
	}
	return rows
}

// exportJSONL returns the lines of a JSONL export, each decoded.
func (e *env) exportJSONL(t *testing.T, query string, opts ...reqOpt) []map[string]any {
	t.Helper()
	w := e.exportFile(t, "jsonl", query, opts...)
	var out []map[string]any
	for line := range strings.Lines(w.Body.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("JSONL line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// exportNames exports query in both formats as the caller opts name and
// returns the fixture names of the records, checking that both formats
// hold the same ones.
func (e *env) exportNames(t *testing.T, query string, opts ...reqOpt) []string {
	t.Helper()
	var csvIDs, jsonIDs []string
	for _, row := range e.exportCSV(t, query, opts...)[1:] {
		csvIDs = append(csvIDs, row[1])
	}
	for _, m := range e.exportJSONL(t, query, opts...) {
		jsonIDs = append(jsonIDs, m["id"].(string))
	}
	if !slices.Equal(csvIDs, jsonIDs) {
		t.Errorf("CSV has %v, JSONL %v", e.recordNames(csvIDs), e.recordNames(jsonIDs))
	}
	return e.recordNames(csvIDs)
}

func TestExportCSV(t *testing.T) {
	e := newEnv(t)
	e.seed(exportFixture()...)
	alice := e.login(aliceKey)
	ts := func(i int) string {
		return exportAt.Add(time.Duration(i) * (time.Second + time.Microsecond)).Format("2006-01-02T15:04:05.000000Z")
	}
	want := [][]string{
		csvHeader,
		{ts(3), e.ids["x-plus"], "GET", "/+1", "200", "ok", "", "openai/gpt-4o-mini", "false", "sk-or-v1…aaaa",
			"10", "5", "15", "0", "3", "", "", "", "'+1"},
		{ts(2), e.ids["x-stream"], "POST", "/chat/completions", "200", "ok", "openai/gpt-4o-mini", "openai/gpt-4o-mini", "true", "sk-or-v1…aaaa",
			"42", "6", "48", "0.0001", "1.5", "0.7", "", "get_weather {\"city\":\"Paris\"}\nsunny, 24C", "It is sunny in Paris."},
		{ts(0), e.ids["x-old"], "POST", "/chat/completions", "500", "upstream_error", "'-1", "", "false", "sk-or-v1…aaaa",
			"0", "0", "0", "0", "250", "", "'@SUM(A1:A2)", "'=cmd|' /C calc'!A0", ""},
	}
	got := e.exportCSV(t, "", withCookie(alice))
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d:\n%q", len(got), len(want), got)
	}
	for i := range want {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("row %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
}

// TestExportDefusesFormulas checks every text cell of a CSV export: none
// starts with a character a spreadsheet reads as a formula, and the
// formulas of the fixture arrive behind an apostrophe, whole.
func TestExportDefusesFormulas(t *testing.T) {
	e := newEnv(t)
	e.seed(exportFixture()...)
	admin := e.login(adminKey)
	rows := e.exportCSV(t, "", withCookie(admin))
	numeric := map[int]bool{}
	for i, name := range csvHeader {
		switch name {
		case "status", "stream", "prompt_tokens", "completion_tokens", "total_tokens", "cost", "duration_ms", "ttft_ms", "time_utc":
			numeric[i] = true
		}
	}
	var cells []string
	for _, row := range rows[1:] {
		for i, cell := range row {
			if numeric[i] {
				continue
			}
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("column %s: cell %q starts a formula", csvHeader[i], cell)
			}
			cells = append(cells, cell)
		}
	}
	all := strings.Join(cells, "\n")
	for _, f := range []string{formulaCmd, formulaPlus, formulaNeg, formulaAt} {
		if !strings.Contains(all, "'"+f) {
			t.Errorf("no cell holds %q behind an apostrophe", f)
		}
	}
}

func TestExportJSONL(t *testing.T) {
	e := newEnv(t)
	e.seed(exportFixture()...)
	alice := e.login(aliceKey)
	w := e.exportFile(t, "jsonl", "search=calc", withCookie(alice))
	lines := strings.Split(strings.TrimSuffix(w.Body.String(), "\n"), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1:\n%s", len(lines), w.Body)
	}
	want := `{"id":"` + e.ids["x-old"] + `","timestamp":"2026-01-31T14:05:00.123456Z","method":"POST","url":"/v1/chat/completions",` +
		`"path":"/chat/completions","response_status":500,"duration_ms":250,"ttfb_ms":125,"ttft_ms":0,"error":"@SUM(A1:A2)",` +
		`"outcome":"upstream_error","is_stream":false,"model_requested":"-1","model":"","key_mask":"sk-or-v1…aaaa",` +
		`"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"cached_tokens":0,"reasoning_tokens":0},` +
		`"cost":0,"finish_reason":"","generation_id":"","attempts":1,"query":"","client_addr":"192.0.2.50:41000",` +
		`"headers":{"Authorization":"Bearer sk-or-v1…aaaa","Content-Type":"application/json","User-Agent":"web-test"},` +
		`"body":"{\"messages\":[{\"content\":\"You are terse.\",\"role\":\"system\"},{\"content\":\"=cmd|' /C calc'!A0\",\"role\":\"user\"}],\"model\":\"-1\"}",` +
		`"body_encoding":"utf-8","body_size":119,"body_truncated":false,` +
		`"response_headers":{"Content-Type":"application/json"},"response_body":"{\"error\":{\"message\":\"@SUM(A1:A2)\",\"code\":500}}",` +
		`"response_body_encoding":"utf-8","response_size":46,"response_truncated":false,` +
		`"content":"","reasoning":"","tool_calls":[],"upstream_cost":0,"has_usage":false}`
	if lines[0] != want {
		t.Errorf("JSONL line\n got %s\nwant %s", lines[0], want)
	}
	if got := w.Header().Get("X-Search-Backend"); got != "sql" {
		t.Errorf("X-Search-Backend %q, want sql: there is no index", got)
	}

	t.Run("BinaryBodyAsBase64", func(t *testing.T) {
		e := newSeededEnv(t)
		got := e.exportJSONL(t, "method=POST&search=embeddings", withCookie(e.login(aliceKey)))
		if len(got) != 1 || got[0]["body_encoding"] != "base64" || got[0]["body"] != "//4AAWJpboDD" {
			t.Errorf("binary body exported as %v (%v)", got[0]["body"], got[0]["body_encoding"])
		}
	})
}

// TestExportVisibility checks that an export holds exactly the records its
// caller may see, whatever key it names, in both formats.
func TestExportVisibility(t *testing.T) {
	e := newSeededEnv(t)
	users := e.sessions()
	aliceHash, bobHash := capture.Fingerprint(aliceKey), capture.Fingerprint(bobKey)
	tests := []struct {
		name, user, query string
		want              []string
	}{
		{"Alice", "alice", "", aliceSees},
		{"Bob", "bob", "", bobSees},
		{"Admin", "admin", "", adminSees},
		{"UserNamingOtherKeyGetsOwn", "alice", "key=" + bobHash, aliceSees},
		{"UserNamingOtherKeyWithFilters", "bob", "key=" + aliceHash + "&model=anthropic/claude-sonnet-4.5", nil},
		{"AdminPicksKey", "admin", "key=" + aliceHash, aliceSees},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.exportNames(t, tc.query, withCookie(users[tc.user])); !slices.Equal(got, tc.want) {
				t.Errorf("export holds %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("NoOtherKeyInTheFile", func(t *testing.T) {
		for _, format := range []string{"csv", "jsonl"} {
			body := e.exportFile(t, format, "key="+bobHash, withCookie(users["alice"])).Body.String()
			for _, s := range []string{bobHash, capture.Mask(bobKey), aliceHash, "Bonjour", "mistral"} {
				if strings.Contains(body, s) {
					t.Errorf("alice's %s export holds %q", format, s)
				}
			}
		}
	})
	t.Run("Bearer", func(t *testing.T) {
		if got := e.exportNames(t, "", withBearer(bobKey)); !slices.Equal(got, bobSees) {
			t.Errorf("export with bob's key holds %v, want %v", got, bobSees)
		}
	})
	t.Run("Unauthenticated", func(t *testing.T) {
		for _, opts := range [][]reqOpt{nil, {withBearer(unknownKey)}, {withCookie(&http.Cookie{Name: users["alice"].Name, Value: "forged"})}} {
			w := e.get("/api/export?format=csv", opts...)
			wantJSONError(t, w, http.StatusUnauthorized)
			if w.Header().Get("Content-Disposition") != "" {
				t.Error("a refused export is an attachment")
			}
		}
	})
}

// TestExportFilters checks that an export holds the records the list API
// shows for the same filters, all of them, in the same order.
func TestExportFilters(t *testing.T) {
	e := newSeededEnv(t)
	users := e.sessions()
	rfc := func(d time.Duration) string { return url.QueryEscape(e.now.Add(-d).UTC().Format(time.RFC3339)) }
	tests := []struct {
		name, user, query string
		want              []string
	}{
		{"Search", "alice", "search=Weather+in+Paris", []string{"alice-chat"}},
		{"SearchIsLiteral", "alice", "search=a%25b", nil},
		{"StatusError", "alice", "status=error", []string{"alice-500"}},
		{"Status4xxForAdmin", "admin", "status=4xx", []string{"default-429"}},
		{"Model", "admin", "model=mistralai/mistral-large", []string{"bob-chat"}},
		{"MethodIgnoresCase", "alice", "method=get", []string{"alice-models"}},
		{"FromAndTo", "admin", "from=" + rfc(15*time.Minute) + "&to=" + rfc(3*time.Minute), []string{"bob-chat", "alice-chat"}},
		{"Combined", "admin", "method=POST&status=success&search=chat", []string{"bob-xss", "bob-chat", "alice-chat"}},
		// An export is the whole view: paging is not part of it.
		{"PageIgnored", "admin", "page=3&page_size=1", adminSees},
		{"SortIgnored", "admin", "sort=relevance", adminSees},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := e.exportNames(t, tc.query, withCookie(users[tc.user]))
			if !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
				t.Errorf("export holds %v, want %v", got, tc.want)
			}
			v, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			v.Set("page", "1")
			v.Set("page_size", "500")
			if list, _ := e.listNames(t, users[tc.user], v.Encode()); !slices.Equal(got, list) && len(got)+len(list) > 0 {
				t.Errorf("export holds %v, the list API %v", got, list)
			}
		})
	}
	t.Run("EmptyIsTheHeaderRow", func(t *testing.T) {
		rows := e.exportCSV(t, "model=nothing", withCookie(users["admin"]))
		if len(rows) != 1 {
			t.Errorf("%d rows, want the header row alone", len(rows))
		}
		if w := e.exportFile(t, "jsonl", "model=nothing", withCookie(users["admin"])); w.Body.Len() != 0 {
			t.Errorf("empty JSONL export is %q", w.Body)
		}
	})
}

// TestExportBadInput checks that bad input is answered 400 with what the
// list API answers, and that the format defaults to CSV.
func TestExportBadInput(t *testing.T) {
	e := newSeededEnv(t)
	c := e.login(aliceKey)
	for _, query := range []string{"format=xlsx", "format=CSV", "format=csv&status=weird", "format=jsonl&from=garbage",
		"format=csv&to=%3Cscript%3E", "format=jsonl&search=" + strings.Repeat("a", 5000), "format=csv&search=key:abc"} {
		t.Run(query, func(t *testing.T) {
			w := e.get("/api/export?"+query, withCookie(c))
			msg := wantJSONError(t, w, http.StatusBadRequest)
			if w.Header().Get("Content-Disposition") != "" {
				t.Error("a refused export is an attachment")
			}
			v, _ := url.ParseQuery(query)
			v.Del("format")
			if v.Encode() == "" {
				if !strings.Contains(msg, "format") {
					t.Errorf("message %q does not name format", msg)
				}
				return
			}
			if list := wantJSONError(t, e.get("/api/requests?"+v.Encode(), withCookie(c)), http.StatusBadRequest); list != msg {
				t.Errorf("message %q, the list API's %q", msg, list)
			}
		})
	}
	t.Run("DefaultIsCSV", func(t *testing.T) {
		w := e.get("/api/export", withCookie(c))
		wantStatus(t, w, http.StatusOK)
		if ct := w.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type %q, want CSV", ct)
		}
	})
}

func TestExportFilename(t *testing.T) {
	e := newSeededEnv(t)
	web.SetClock(e.srv, func() time.Time { return time.Date(2026, 2, 3, 4, 5, 6, 0, time.FixedZone("CET", 3600)) })
	admin := e.login(adminKey)
	aliceHash := capture.Fingerprint(aliceKey)
	tests := []struct{ query, want string }{
		{"format=csv", "openrouter-proxy-20260203-030506.csv"},
		{"format=jsonl&model=openai/gpt-4o-mini&status=error", "openrouter-proxy-model-openai-gpt-4o-mini_status-error-20260203-030506.jsonl"},
		{"format=csv&search=" + url.QueryEscape(`"Weather in" -Paris/../..`), "openrouter-proxy-search-weather-in-paris-20260203-030506.csv"},
		{"format=csv&search=" + url.QueryEscape("北京"), "openrouter-proxy-search-20260203-030506.csv"},
		{"format=csv&method=get&from=2026-01-01T00:00&to=2026-02-01", "openrouter-proxy-method-get_from-2026-01-01t00-00_to-2026-02-01-20260203-030506.csv"},
		{"format=csv&key=" + aliceHash, "openrouter-proxy-key-" + aliceHash[:12] + "-20260203-030506.csv"},
		{"format=csv&provider=Google+Vertex", "openrouter-proxy-provider-google-vertex-20260203-030506.csv"},
	}
	for _, tc := range tests {
		w := e.get("/api/export?"+tc.query, withCookie(admin))
		wantStatus(t, w, http.StatusOK)
		if got, want := w.Header().Get("Content-Disposition"), `attachment; filename="`+tc.want+`"`; got != want {
			t.Errorf("%s: Content-Disposition %q, want %q", tc.query, got, want)
		}
	}
}

// TestExportSearch exports searches the index answers, across many pages
// of the index and of the store.
func TestExportSearch(t *testing.T) {
	e := newIndexedEnv(t)
	users := e.sessions()
	check := func(t *testing.T, user, query string, want []string) {
		t.Helper()
		for _, format := range []string{"csv", "jsonl"} {
			if got := e.exportFile(t, format, query, withCookie(users[user])).Header().Get("X-Search-Backend"); got != "index" {
				t.Errorf("%s: X-Search-Backend %q, want index", format, got)
			}
		}
		if got := e.exportNames(t, query, withCookie(users[user])); !slices.Equal(got, want) {
			t.Errorf("export holds %v, want %v", got, want)
		}
	}
	t.Run("OnePage", func(t *testing.T) {
		check(t, "alice", q("orchid"), aliceOrchids)
		check(t, "bob", q("orchid"), []string{"s-bob"})
		check(t, "alice", q("orchid")+"&status=error", []string{"s-japanese", "s-ratelimit"})
		check(t, "alice", q("orchid")+"&sort=relevance", aliceOrchids) // an export is newest first
	})
	t.Run("ManyPages", func(t *testing.T) {
		web.SetExportSearchPages(t, 2, 1)
		check(t, "alice", q("orchid"), aliceOrchids)
		check(t, "admin", q("orchid -bobonly"), []string{"s-default", "s-put", "s-japanese", "s-chinese", "s-stream", "s-limitrate", "s-ratelimit", "s-berlin"})
	})
	t.Run("PhraseBeyondTheCheckBudget", func(t *testing.T) {
		// More candidates hold the words out of order than a dashboard
		// page checks (1 000), all newer than the matches: the export
		// must still hold every match, and only the matches.
		base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
		var xs []exchange
		var want []string
		for i := range 1050 {
			x := exportFixture()[3]
			x.name, x.method = fmt.Sprintf("r-%04d", i), "POST"
			prompt := "zebra limit then zebra rate"
			if i < 3 {
				prompt = "zebra rate limit"
				want = append([]string{x.name}, want...)
			}
			x.reqBody = chatBody("openai/gpt-4o-mini", prompt)
			at := base.Add(time.Duration(i) * time.Second)
			x.edit = func(r *capture.Record) { r.Start = at }
			xs = append(xs, x)
		}
		e.seed(xs...)
		if got := e.exportNames(t, q(`"rate limit" zebra`), withCookie(users["alice"])); !slices.Equal(got, want) {
			t.Errorf("export holds %d records %v, want %v", len(got), got[:min(len(got), 5)], want)
		}
	})
	t.Run("RecordsSharingAMicrosecond", func(t *testing.T) {
		// Five records started in one microsecond, more than a page: the
		// export must hand each over once.
		same := time.Date(2025, 5, 5, 5, 5, 5, 5000, time.UTC)
		var xs []exchange
		var want []string
		for _, name := range []string{"t-1", "t-2", "t-3", "t-4", "t-5"} {
			x := exportFixture()[3]
			x.name, x.method, x.reqBody = name, "POST", chatBody("openai/gpt-4o-mini", "quokka "+name)
			x.edit = func(r *capture.Record) { r.Start = same }
			xs = append(xs, x)
			want = append([]string{name}, want...)
		}
		e.seed(xs...)
		web.SetExportSearchPages(t, 2, 1)
		got := e.exportNames(t, q("quokka"), withCookie(users["alice"]))
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("export holds %v, want each of %v once", got, want)
		}
	})
}

// blockingStore is the real store, whose Each stops before handing over
// record number block until the request's context is done, and reports
// how many records it handed over and what Each returned.
type blockingStore struct {
	web.Store
	block   int64
	reached chan struct{}
	handed  atomic.Int64
	done    chan error
}

func (b *blockingStore) Each(ctx context.Context, f store.Filter, fn func(*capture.Record) error) error {
	err := b.Store.Each(ctx, f, func(rec *capture.Record) error {
		if b.handed.Add(1) == b.block {
			close(b.reached)
			<-ctx.Done()
		}
		return fn(rec)
	})
	b.done <- err
	return err
}

// TestExportCancelled checks that a client that leaves stops the export:
// the request's context ends, and the store hands over no record after.
func TestExportCancelled(t *testing.T) {
	bs := &blockingStore{block: 3, reached: make(chan struct{}), done: make(chan error, 1)}
	e := newSeededEnv(t, func(s *web.Server) { bs.Store, s.Store = s.Store, bs })
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	c := e.login(adminKey)

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/export?format=jsonl", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(c)
	go func() {
		<-bs.reached
		cancel() // the client leaves mid-export
	}()
	resp, err := srv.Client().Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	select {
	case err := <-bs.done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Each returned %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the export went on after the client left")
	}
	if got := bs.handed.Load(); got != bs.block {
		t.Errorf("the store handed over %d records, want %d: it read on after the client left", got, bs.block)
	}
}

// heapSampler reads a response, noting the most heap in use, measured
// after a collection, every step bytes.
type heapSampler struct {
	n, next, step int64
	peak          uint64
}

func (h *heapSampler) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	if h.n >= h.next {
		h.next += h.step
		h.peak = max(h.peak, heapInUse())
	}
	return len(p), nil
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestExportMemoryIsFlat exports 20,000 records of over 4 KiB each, a file
// of about 90 MiB, through a real listener, and checks that the heap grows
// by far less than that while the file streams out.
func TestExportMemoryIsFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 20,000 records")
	}
	const records = 20_000
	e := newEnv(t)
	// A 2 KiB prompt and a 2 KiB reply, which both formats carry.
	body, reply := chatBody("openai/gpt-4o-mini", strings.Repeat("x", 2<<10)), strings.Repeat("y", 2<<10)
	hash, mask := capture.Fingerprint(aliceKey), capture.Mask(aliceKey)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range records {
		rec := &capture.Record{
			ID: uuidAt(i), Start: start.Add(time.Duration(i) * time.Millisecond), Method: "POST",
			URL: "/v1/chat/completions", Path: "/chat/completions", KeyHash: hash, KeyMask: mask,
			ReqBodyStored: body, Content: reply, Status: 200, Stream: true,
			Duration: 40 * time.Millisecond, TTFT: 20 * time.Millisecond,
			ReqHeaderJSON: `{}`, RespHeaderJSON: `{}`, Outcome: capture.OutcomeOK, Attempts: 1, Analyzed: true,
		}
		if err := e.st.Record(rec); err != nil {
			t.Fatal(err)
		}
		if i%2000 == 1999 {
			e.flush()
		}
	}
	e.flush()
	if n, err := e.st.Count(context.Background(), store.Filter{Viewer: store.Viewer{Admin: true}}); err != nil || n != records {
		t.Fatalf("stored %d records (%v), want %d; %+v", n, err, records, e.st.Health())
	}

	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	c := e.login(aliceKey)
	for _, format := range []string{"jsonl", "csv"} {
		t.Run(format, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/export?format="+format, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.AddCookie(c)
			base := heapInUse()
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			h := &heapSampler{step: 1 << 20}
			if _, err := io.Copy(h, resp.Body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			const bound = 16 << 20
			growth := int64(h.peak) - int64(base)
			t.Logf("%s: %d MiB exported; heap grew by at most %.1f MiB", format, h.n>>20, float64(growth)/(1<<20))
			if h.n < 4*bound {
				t.Fatalf("exported %d bytes: too few to tell flat memory from buffering", h.n)
			}
			if growth > bound {
				t.Errorf("heap grew by %d MiB while exporting %d MiB; want under %d MiB", growth>>20, h.n>>20, bound>>20)
			}
		})
	}
}

// uuidAt returns the i-th of a run of UUIDv7-shaped ids that sort in
// i's order.
func uuidAt(i int) string { return fmt.Sprintf("01900000-0000-7000-8000-%012d", i) }

// TestExportLinks checks the dashboard's export links: they carry the
// filters of the view shown, on the full page and in the table fragment a
// filter change swaps in, and they download what the view shows.
func TestExportLinks(t *testing.T) {
	e := newSeededEnv(t)
	alice := e.login(aliceKey)
	const filters = "status=success&method=POST"
	for _, tc := range []struct {
		name string
		opts []reqOpt
	}{{"Page", nil}, {"Fragment", []reqOpt{htmx()}}} {
		t.Run(tc.name, func(t *testing.T) {
			doc := page(t, e.get("/?"+filters+"&page_size=1&page=2", append(tc.opts, withCookie(alice))...))
			for _, format := range []string{"csv", "jsonl"} {
				href := doc.Find(byTestID("export-"+format)).AttrOr("href", "")
				want := "/api/export?format=" + format + "&method=POST&page_size=1&status=success"
				if href != want {
					t.Fatalf("%s link %q, want %q", format, href, want)
				}
				u, err := url.Parse(href)
				if err != nil {
					t.Fatal(err)
				}
				q := u.Query()
				q.Del("format")
				if got, want := e.exportNames(t, q.Encode(), withCookie(alice)), []string{"alice-chat", "alice-binary"}; !slices.Equal(got, want) {
					t.Errorf("the %s link exports %v, want %v", format, got, want)
				}
			}
		})
	}
	t.Run("NoLinksWithoutRecords", func(t *testing.T) {
		doc := page(t, e.get("/?model=nothing", withCookie(alice)))
		if n := doc.Find(byTestID("export")).Length(); n != 0 {
			t.Errorf("%d export link groups on an empty view", n)
		}
	})
}

// failingStore is the real store, whose Each fails after handing over
// `after` records.
type failingStore struct {
	web.Store
	after int
}

func (f *failingStore) Each(ctx context.Context, filter store.Filter, fn func(*capture.Record) error) error {
	n := 0
	return f.Store.Each(ctx, filter, func(rec *capture.Record) error {
		if n == f.after {
			return errors.New("disk on fire")
		}
		n++
		return fn(rec)
	})
}

// TestExportStoreFails checks what a client gets when the store fails: a
// 500 before the first row, and after it a download cut off, never a
// short file that looks complete.
func TestExportStoreFails(t *testing.T) {
	fs := &failingStore{}
	e := newSeededEnv(t, func(s *web.Server) { fs.Store, s.Store = s.Store, fs })
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	c := e.login(adminKey)
	get := func(t *testing.T) (*http.Response, []byte, error) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/api/export?format=csv", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.AddCookie(c)
		resp, err := srv.Client().Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp, body, err
	}
	t.Run("BeforeTheFirstRow", func(t *testing.T) {
		fs.after = 0
		resp, body, err := get(t)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusInternalServerError || resp.Header.Get("Content-Disposition") != "" {
			t.Errorf("status %d, %s; want a 500 that is no attachment", resp.StatusCode, body)
		}
		if strings.Contains(string(body), "disk on fire") {
			t.Errorf("the store's error reached the client: %s", body)
		}
	})
	t.Run("MidFile", func(t *testing.T) {
		// Two rows fit the response's buffer, so the connection closes
		// before the headers went out; past the buffer it would close
		// mid-body. Either way the client sees an error, not a file.
		fs.after = 2
		if resp, body, err := get(t); err == nil {
			t.Errorf("status %d and %d bytes, read to the end; want the download cut off", resp.StatusCode, len(body))
		}
	})
}
