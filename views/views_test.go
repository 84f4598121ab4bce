package views_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"golang.org/x/net/html"

	"github.com/openrouter-proxy/openrouter-proxy/assets"
	"github.com/openrouter-proxy/openrouter-proxy/views"
)

const (
	scriptPayload = `<script>alert(1)</script>`
	imgPayload    = `<img src=x onerror=alert(1)>`
)

// render renders c and parses the result.
func render(t *testing.T, c templ.Component) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return doc, buf.String()
}

func byTestID(id string) string { return `[data-testid="` + id + `"]` }

// finder is a document or a selection.
type finder interface {
	Find(selector string) *goquery.Selection
}

// one finds exactly one element matching sel in in.
func one(t *testing.T, in finder, sel string) *goquery.Selection {
	t.Helper()
	s := in.Find(sel)
	if s.Length() != 1 {
		t.Fatalf("%s: found %d elements, want 1", sel, s.Length())
	}
	return s
}

func attr(s *goquery.Selection, name string) string {
	v, _ := s.Attr(name)
	return v
}

func sampleRows() []views.Row {
	return []views.Row{
		{ID: "p1", TimeISO: "2025-11-25T19:42:10Z", TimeText: "19:42:10", Method: "POST", Path: "/api/v1/chat/completions", Model: "openai/gpt-4o-mini", Outcome: "pending", Pending: true, Stream: true, KeyMask: "sk-or-v1-…aaaa"},
		{ID: "r1", TimeISO: "2025-11-25T19:41:00Z", TimeText: "19:41:00", Method: "POST", Path: "/api/v1/chat/completions", Model: "anthropic/claude-sonnet-4.5", Status: 200, Outcome: "ok", DurationMs: 1234, TTFTMs: 321, Tokens: 2841, Cost: 0.000123, Stream: true, KeyMask: "sk-or-v1-…aaaa"},
		{ID: "r2", TimeISO: "2025-11-25T19:40:00Z", TimeText: "19:40:00", Method: "POST", Path: "/v1/chat/completions", Model: "meta-llama/llama-3.3-70b-instruct", Status: 429, Outcome: "upstream_error", DurationMs: 80, KeyMask: "sk-or-v1-…bbbb", Error: "rate limited"},
		{ID: "r3", TimeISO: "2025-11-25T19:39:00Z", TimeText: "19:39:00", Method: "POST", Path: "/v1/chat/completions", Model: "openai/gpt-5", Status: 502, Outcome: "upstream_error", DurationMs: 30000, KeyMask: "sk-or-v1-…bbbb"},
	}
}

func sampleTable(admin bool) views.Table {
	return views.Table{
		Rows: sampleRows(), Page: 2, TotalPages: 5, Total: 123, Admin: admin,
		PollURL: "/?model=x&after=r1", QueryString: "model=x",
	}
}

func sampleDashboard(admin bool) views.Dashboard {
	return views.Dashboard{
		Page:    views.Page{Title: "Dashboard", User: &views.User{KeyMask: "sk-or-v1-…aaaa", Admin: admin}},
		Stats:   views.Stats{TotalRequests: 1234, SuccessRate: 99.5, AvgResponseMs: 812, RecentRequests: 42, P95Ms: 2400, TotalTokens: 1234567, TotalCost: 1.5},
		Filter:  views.Filter{Search: "weather", Status: "4xx", Model: "openai/gpt-5", Method: "POST", Key: "h2"},
		Table:   sampleTable(admin),
		Models:  []string{"anthropic/claude-sonnet-4.5", "openai/gpt-5"},
		Methods: []string{"GET", "POST"},
		Keys:    []views.Option{{Value: "h1", Label: "sk-or-v1-…aaaa"}, {Value: "h2", Label: "sk-or-v1-…bbbb"}},
	}
}

func sampleDetail() views.Detail {
	return views.Detail{
		Page: views.Page{Title: "Request", User: &views.User{KeyMask: "sk-or-v1-…aaaa"}},
		ID:   "r1", TimeISO: "2025-11-25T19:41:00Z", TimeText: "2025-11-25 19:41:00 UTC",
		Method: "POST", URL: "https://openrouter.ai/api/v1/chat/completions", Path: "/api/v1/chat/completions",
		Model: "anthropic/claude-sonnet-4.5", ModelRequested: "anthropic/claude-sonnet-4.5", Outcome: "ok", FinishReason: "stop",
		GenerationID: "gen-1", KeyMask: "sk-or-v1-…aaaa", ClientAddr: "127.0.0.1:5000", Status: 200, Attempts: 1, Stream: true,
		DurationMs: 1234, TTFBMs: 200, TTFTMs: 321, TokensPerSec: 55.5,
		PromptTokens: 100, CompletionTokens: 50, TotalTokens: 150, HasUsage: true, Cost: 0.000123,
		ReqHeaders:    []views.Header{{Name: "Content-Type", Value: "application/json"}},
		RespHeaders:   []views.Header{{Name: "Content-Type", Value: "text/event-stream"}},
		ReqBodyPretty: "{\n  \"model\": \"x\"\n}", ReqBodyRaw: `{"model":"x"}`, ReqSize: 13,
		RespBodyRaw: "data: {}\n\n", RespSize: 10, RespTruncated: true,
		Messages: []views.Message{
			{Role: "system", Content: "Be brief."},
			{Role: "user", Content: "Weather?"},
			{Role: "assistant", ToolCalls: "[\n  {\"id\": \"call_1\"}\n]"},
			{Role: "tool", Name: "get_forecast", ToolCallID: "call_1", Content: `{"c":17}`},
		},
		ReplyContent: "Take an umbrella.", ReplyReasoning: "80% rain.", ReplyToolCalls: "",
		RawSSE: "data: {}\n\ndata: [DONE]\n\n",
		Curl:   "curl https://openrouter.ai/api/v1/chat/completions -H 'Authorization: Bearer sk-or-v1-…aaaa'",
	}
}

func TestRequestTable(t *testing.T) {
	t.Run("RowsLinkToDetail", func(t *testing.T) {
		doc, _ := render(t, views.RequestTable(sampleTable(false)))
		rows := doc.Find(byTestID("request-row"))
		if rows.Length() != 3 {
			t.Fatalf("request rows = %d, want 3", rows.Length())
		}
		rows.Each(func(_ int, r *goquery.Selection) {
			id := attr(r, "data-id")
			if href := attr(r.Find("a"), "href"); href != "/request/"+id {
				t.Errorf("row %s links to %q", id, href)
			}
		})
		if got := one(t, doc, `[data-id="r1"] `+byTestID("status-pill")).Text(); got != "200" {
			t.Errorf("status pill = %q, want 200", got)
		}
		if !doc.Find(`[data-id="r1"] time[datetime="2025-11-25T19:41:00Z"]`).Is("time") {
			t.Error("row time has no <time datetime>")
		}
		if got := doc.Find(`[data-id="r1"] .c-cost`).Text(); !strings.Contains(got, "$0.000123") {
			t.Errorf("cost cell = %q", got)
		}
		if got := doc.Find(`[data-id="r1"] .tag-sse`).Length(); got != 1 {
			t.Errorf("stream row has %d SSE markers, want 1", got)
		}
	})

	t.Run("PendingRowsAreNotLinks", func(t *testing.T) {
		doc, _ := render(t, views.RequestTable(sampleTable(false)))
		p := one(t, doc, byTestID("pending-row"))
		if attr(p, "data-id") != "p1" {
			t.Errorf("pending row data-id = %q", attr(p, "data-id"))
		}
		if p.Find("a").Length() != 0 {
			t.Error("pending row is a link")
		}
		pill := p.Find(byTestID("status-pill"))
		if pill.Text() != "pending" || !pill.HasClass("pill-pending") {
			t.Errorf("pending pill = %q class %q", pill.Text(), attr(pill, "class"))
		}
	})

	t.Run("StatusColours", func(t *testing.T) {
		doc, _ := render(t, views.RequestTable(sampleTable(false)))
		for id, class := range map[string]string{"r1": "pill-ok", "r2": "pill-warn", "r3": "pill-err"} {
			if !doc.Find(`[data-id="` + id + `"] ` + byTestID("status-pill")).HasClass(class) {
				t.Errorf("row %s pill lacks %s", id, class)
			}
		}
	})

	t.Run("KeyColumnOnlyForAdmin", func(t *testing.T) {
		doc, _ := render(t, views.RequestTable(sampleTable(true)))
		one(t, doc, byTestID("key-column"))
		if n := doc.Find(byTestID("row-key")).Length(); n != 4 {
			t.Errorf("admin key cells = %d, want 4", n)
		}
		doc, _ = render(t, views.RequestTable(sampleTable(false)))
		if n := doc.Find(byTestID("key-column") + "," + byTestID("row-key")).Length(); n != 0 {
			t.Errorf("non-admin sees %d key cells", n)
		}
		if strings.Contains(doc.Find("table").Text(), "sk-or-v1-…bbbb") {
			t.Error("non-admin table shows other keys")
		}
	})

	t.Run("Polls", func(t *testing.T) {
		doc, _ := render(t, views.RequestTable(sampleTable(false)))
		w := one(t, doc, "#requests")
		for name, want := range map[string]string{"hx-get": "/?model=x&after=r1", "hx-trigger": "every 2s", "hx-swap": "outerHTML"} {
			if got := attr(w, name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		if _, ok := w.Attr("data-poll"); !ok {
			t.Error("wrapper lacks data-poll")
		}
	})

	t.Run("PaginationKeepsFilter", func(t *testing.T) {
		doc, _ := render(t, views.RequestTable(sampleTable(false)))
		pager := one(t, doc, byTestID("pagination"))
		text := strings.Join(strings.Fields(pager.Text()), " ")
		if !strings.Contains(text, "Page 2 of 5") || !strings.Contains(text, "123 requests") {
			t.Errorf("pager text = %q", text)
		}
		for sel, want := range map[string]string{byTestID("page-prev"): "/?model=x&page=1", byTestID("page-next"): "/?model=x&page=3"} {
			a := one(t, doc, sel)
			if attr(a, "href") != want || attr(a, "hx-get") != want {
				t.Errorf("%s href=%q hx-get=%q, want %q", sel, attr(a, "href"), attr(a, "hx-get"), want)
			}
			if attr(a, "hx-target") != "#requests" || attr(a, "hx-push-url") != "true" {
				t.Errorf("%s: hx-target=%q hx-push-url=%q", sel, attr(a, "hx-target"), attr(a, "hx-push-url"))
			}
		}
	})

	t.Run("PaginationWithoutFilter", func(t *testing.T) {
		tb := sampleTable(false)
		tb.QueryString, tb.Page = "", 1
		doc, _ := render(t, views.RequestTable(tb))
		if got := attr(one(t, doc, byTestID("page-next")), "href"); got != "/?page=2" {
			t.Errorf("next href = %q", got)
		}
		if doc.Find(byTestID("page-prev")).Length() != 0 {
			t.Error("page 1 has a previous link")
		}
	})

	t.Run("Empty", func(t *testing.T) {
		doc, _ := render(t, views.RequestTable(views.Table{PollURL: "/"}))
		one(t, doc, byTestID("empty-state"))
		if doc.Find("table").Length() != 0 {
			t.Error("empty table rendered")
		}
	})
}

func TestEscaping(t *testing.T) {
	d := sampleDashboard(true)
	d.Table.Rows[1].Model = imgPayload
	d.Table.Rows[1].Path = "/v1/" + scriptPayload
	d.Table.Rows[2].Error = scriptPayload
	d.Filter.Search = `"><script>alert(1)</script>`
	d.Models = append(d.Models, imgPayload)
	d.Table.Preview = true
	d.Table.Notice = imgPayload
	d.Table.Rows[1].Preview = &views.Preview{
		Request:  views.Snippet{{Text: "<script>"}, {Text: "alert", Hit: true}, {Text: "(1)</script>"}},
		Response: views.Snippet{{Text: imgPayload, Hit: true}},
	}

	m := sampleDetail()
	m.Model, m.ModelRequested = imgPayload, imgPayload
	m.Error = scriptPayload
	m.ReqBodyPretty, m.ReqBodyRaw = "{\n  \"x\": \""+scriptPayload+"\"\n}", `{"x":"`+scriptPayload+`"}`
	m.RespBodyRaw = scriptPayload
	m.Messages[1].Content = scriptPayload
	m.Messages[3].Name = imgPayload
	m.ReplyContent, m.ReplyReasoning, m.ReplyToolCalls = scriptPayload, imgPayload, scriptPayload
	m.ReqHeaders = append(m.ReqHeaders, views.Header{Name: imgPayload, Value: scriptPayload})
	m.RawSSE = "data: " + scriptPayload + "\n\n"
	m.Curl = "curl -d '" + scriptPayload + "'"

	pages := map[string]templ.Component{
		"dashboard": views.DashboardPage(d),
		"detail":    views.DetailPage(m),
		"login":     views.LoginPage(views.Login{Page: views.Page{Title: "Log in"}, Error: scriptPayload}),
		"not found": views.NotFoundPage(views.NotFound{Message: imgPayload}),
	}
	for name, c := range pages {
		t.Run(name, func(t *testing.T) {
			doc, raw := render(t, c)
			if n := doc.Find("img").Length(); n != 0 {
				t.Errorf("%d <img> elements", n)
			}
			doc.Find("script").Each(func(_ int, s *goquery.Selection) {
				if _, ok := s.Attr("src"); !ok {
					t.Errorf("inline <script>: %s", s.Text())
				}
			})
			if n := doc.Find("script").Length(); n != 2 {
				t.Errorf("%d <script> elements, want htmx and app.js", n)
			}
			if strings.Contains(raw, scriptPayload) || strings.Contains(raw, imgPayload) {
				t.Error("payload appears unescaped in the HTML")
			}
			text := doc.Text()
			if !strings.Contains(text, scriptPayload) && !strings.Contains(text, imgPayload) {
				t.Error("payload is not shown as text")
			}
		})
	}

	t.Run("TextIsVerbatim", func(t *testing.T) {
		doc, _ := render(t, views.DetailPage(m))
		if got := doc.Find(byTestID("reply-content")).Text(); got != scriptPayload {
			t.Errorf("reply content = %q", got)
		}
		if got := doc.Find("#curl-command").Text(); got != m.Curl {
			t.Errorf("curl = %q", got)
		}
	})
}

// TestNoInlineCode walks every element of every page: the CSP allows no
// inline script, inline style or event-handler attribute.
func TestNoInlineCode(t *testing.T) {
	login := views.Login{Page: views.Page{Title: "Log in", Demo: true}, Error: "bad key"}
	pages := map[string]templ.Component{
		"dashboard admin": views.DashboardPage(sampleDashboard(true)),
		"dashboard user":  views.DashboardPage(sampleDashboard(false)),
		"detail":          views.DetailPage(sampleDetail()),
		"login":           views.LoginPage(login),
		"not found":       views.NotFoundPage(views.NotFound{Page: views.Page{Title: "Not found"}}),
		"live update":     views.LiveUpdate(sampleTable(true), views.Stats{}),
	}
	for name, c := range pages {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := c.Render(context.Background(), &buf); err != nil {
				t.Fatal(err)
			}
			root, err := html.Parse(&buf)
			if err != nil {
				t.Fatal(err)
			}
			var walk func(n *html.Node)
			walk = func(n *html.Node) {
				if n.Type == html.ElementNode {
					switch n.Data {
					case "style":
						t.Errorf("<style> element")
					case "script":
						if n.FirstChild != nil {
							t.Errorf("<script> with inline code")
						}
					}
					for _, a := range n.Attr {
						k := strings.ToLower(a.Key)
						switch {
						case strings.HasPrefix(k, "on"):
							t.Errorf("<%s %s=%q>", n.Data, a.Key, a.Val)
						case k == "style":
							t.Errorf("<%s style=%q>", n.Data, a.Val)
						case strings.HasPrefix(k, "hx-on"):
							t.Errorf("<%s %s>: htmx inline handler", n.Data, a.Key)
						case strings.HasPrefix(strings.TrimSpace(strings.ToLower(a.Val)), "javascript:"):
							t.Errorf("<%s %s=%q>", n.Data, a.Key, a.Val)
						}
					}
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
			}
			walk(root)
		})
	}
}

func TestLayout(t *testing.T) {
	t.Run("LoggedIn", func(t *testing.T) {
		doc, _ := render(t, views.DashboardPage(sampleDashboard(true)))
		form := one(t, doc, byTestID("logout-form"))
		if strings.ToLower(attr(form, "method")) != "post" || attr(form, "action") != "/logout" {
			t.Errorf("logout form method=%q action=%q", attr(form, "method"), attr(form, "action"))
		}
		if attr(form.Find(byTestID("logout-button")), "type") != "submit" {
			t.Error("logout button is not a submit button")
		}
		if doc.Find(`a[href="/logout"]`).Length() != 0 {
			t.Error("logout reachable by GET link")
		}
		one(t, doc, byTestID("admin-badge"))
		if got := one(t, doc, byTestID("user-key")).Text(); got != "sk-or-v1-…aaaa" {
			t.Errorf("user key = %q", got)
		}
		if doc.Find(byTestID("demo-badge")).Length() != 0 {
			t.Error("demo badge without Demo")
		}
		if got := attr(one(t, doc, `link[rel="stylesheet"]`), "href"); got != assets.Path("app.css") {
			t.Errorf("stylesheet = %q", got)
		}
		for _, name := range []string{"htmx.min.js", "app.js"} {
			if doc.Find(`script[src="`+assets.Path(name)+`"][defer]`).Length() != 1 {
				t.Errorf("no deferred script %s", assets.Path(name))
			}
		}
		cfg := attr(one(t, doc, `meta[name="htmx-config"]`), "content")
		for _, want := range []string{`"includeIndicatorStyles":false`, `"allowEval":false`, `"historyCacheSize":0`} {
			if !strings.Contains(cfg, want) {
				t.Errorf("htmx-config %s lacks %s", cfg, want)
			}
		}
		if got := doc.Find("title").Text(); got != "Dashboard · openrouter-proxy" {
			t.Errorf("title = %q", got)
		}
	})

	t.Run("NotAdmin", func(t *testing.T) {
		doc, _ := render(t, views.DashboardPage(sampleDashboard(false)))
		if doc.Find(byTestID("admin-badge")).Length() != 0 {
			t.Error("admin badge for a non-admin")
		}
	})

	t.Run("LoggedOutDemo", func(t *testing.T) {
		doc, _ := render(t, views.LoginPage(views.Login{Page: views.Page{Demo: true}}))
		if doc.Find(byTestID("logout-form")+","+byTestID("user")).Length() != 0 {
			t.Error("logged-out page shows the user")
		}
		one(t, doc, byTestID("demo-badge"))
	})
}

func TestDashboardPage(t *testing.T) {
	doc, _ := render(t, views.DashboardPage(sampleDashboard(true)))

	t.Run("Stats", func(t *testing.T) {
		for id, want := range map[string]string{
			"stat-total":   "1,234",
			"stat-success": "99.5%",
			"stat-avg":     "812 ms",
			"stat-recent":  "42",
			"stat-p95":     "2.4 s",
			"stat-tokens":  "1.23M",
			"stat-cost":    "$1.50",
		} {
			if got := one(t, doc, byTestID(id)).Find(".stat-value").Text(); got != want {
				t.Errorf("%s = %q, want %q", id, got, want)
			}
		}
	})

	t.Run("PauseToggle", func(t *testing.T) {
		in := one(t, doc, "input#pause-live")
		if attr(in, "type") != "checkbox" {
			t.Errorf("pause toggle type = %q", attr(in, "type"))
		}
		one(t, doc, byTestID("pause-toggle"))
	})

	t.Run("FilterForm", func(t *testing.T) {
		form := one(t, doc, byTestID("filter-form"))
		for name, want := range map[string]string{
			"method": "get", "action": "/", "hx-get": "/", "hx-target": "#requests", "hx-swap": "outerHTML", "hx-push-url": "true",
		} {
			if got := attr(form, name); got != want {
				t.Errorf("form %s = %q, want %q", name, got, want)
			}
		}
		if trig := attr(form, "hx-trigger"); !strings.Contains(trig, "input changed delay:300ms") || !strings.Contains(trig, "change") {
			t.Errorf("hx-trigger = %q", trig)
		}
		search := one(t, form, byTestID("search-input"))
		if attr(search, "name") != "search" || attr(search, "type") != "search" || attr(search, "value") != "weather" {
			t.Errorf("search input name=%q type=%q value=%q", attr(search, "name"), attr(search, "type"), attr(search, "value"))
		}
		for name, want := range map[string]string{"status": "4xx", "method": "POST", "key": "h2"} {
			if got := attr(form.Find(`select[name="`+name+`"] option[selected]`), "value"); got != want {
				t.Errorf("select %s selected %q, want %q", name, got, want)
			}
		}
		model := one(t, form, `input[name="model"]`)
		if attr(model, "value") != "openai/gpt-5" || attr(model, "list") == "" {
			t.Errorf("model input value=%q list=%q, want openai/gpt-5 and a list of suggestions", attr(model, "value"), attr(model, "list"))
		}
		if n := form.Find("datalist#" + attr(model, "list") + " option").Length(); n == 0 {
			t.Error("model input suggests no models")
		}
		for _, name := range []string{"from", "to"} {
			if attr(form.Find(`input[name="`+name+`"]`), "type") != "datetime-local" {
				t.Errorf("no datetime-local %s", name)
			}
		}
		one(t, form, byTestID("filter-reset"))
	})

	t.Run("KeyFilterOnlyForAdmin", func(t *testing.T) {
		doc, _ := render(t, views.DashboardPage(sampleDashboard(false)))
		if doc.Find(`select[name="key"]`).Length() != 0 {
			t.Error("non-admin has a key filter")
		}
	})

	t.Run("SharedURLKeepsUnknownModel", func(t *testing.T) {
		d := sampleDashboard(false)
		d.Filter.Model = "gone/model"
		doc, _ := render(t, views.DashboardPage(d))
		if got := attr(doc.Find(`input[name="model"]`), "value"); got != "gone/model" {
			t.Errorf("model filter = %q", got)
		}
	})

	t.Run("HiddenKeysNoted", func(t *testing.T) {
		d := sampleDashboard(true)
		d.KeysHidden = 7
		doc, _ := render(t, views.DashboardPage(d))
		if got := doc.Find(`select[name="key"] option[disabled]`).Text(); !strings.Contains(got, "7 older keys") {
			t.Errorf("key list note %q, want it to count 7 older keys", got)
		}
	})

	t.Run("Table", func(t *testing.T) {
		one(t, doc, "#requests "+byTestID("request-table"))
	})
}

func TestLiveUpdate(t *testing.T) {
	doc, _ := render(t, views.LiveUpdate(sampleTable(false), views.Stats{TotalRequests: 7}))
	one(t, doc, "#requests")
	stats := one(t, doc, "#stats")
	if attr(stats, "hx-swap-oob") != "true" {
		t.Error("stats are not swapped out of band")
	}
	doc, _ = render(t, views.StatCards(views.Stats{}))
	if _, ok := one(t, doc, "#stats").Attr("hx-swap-oob"); ok {
		t.Error("StatCards marked out of band")
	}
}

func TestLoginPage(t *testing.T) {
	doc, _ := render(t, views.LoginPage(views.Login{Page: views.Page{Title: "Log in"}}))
	form := one(t, doc, byTestID("login-form"))
	if strings.ToLower(attr(form, "method")) != "post" || attr(form, "action") != "/login" {
		t.Errorf("login form method=%q action=%q", attr(form, "method"), attr(form, "action"))
	}
	in := one(t, form, byTestID("login-input"))
	if attr(in, "name") != "api_key" || attr(in, "type") != "password" || attr(in, "autocomplete") != "off" {
		t.Errorf("key input name=%q type=%q autocomplete=%q", attr(in, "name"), attr(in, "type"), attr(in, "autocomplete"))
	}
	if doc.Find(byTestID("login-error")).Length() != 0 {
		t.Error("error shown without an error")
	}
	if !strings.Contains(doc.Text(), "Admin keys see everyone's traffic.") {
		t.Error("no explanation")
	}

	doc, _ = render(t, views.LoginPage(views.Login{Error: "That key is not allowed."}))
	if got := one(t, doc, byTestID("login-error")).Text(); got != "That key is not allowed." {
		t.Errorf("error = %q", got)
	}
}

func TestDetailPage(t *testing.T) {
	m := sampleDetail()
	doc, _ := render(t, views.DetailPage(m))

	t.Run("Sections", func(t *testing.T) {
		for _, id := range []string{
			"detail-header", "detail-summary", "detail-conversation", "detail-reply",
			"detail-req-headers", "detail-resp-headers", "detail-req-body", "detail-resp-body",
			"detail-sse", "detail-curl", "back-link",
		} {
			one(t, doc, byTestID(id))
		}
		if got := one(t, doc, byTestID("detail-status")).Text(); got != "200" {
			t.Errorf("status = %q", got)
		}
		if doc.Find(byTestID("detail-error")).Length() != 0 {
			t.Error("error shown without an error")
		}
	})

	t.Run("Conversation", func(t *testing.T) {
		msgs := doc.Find(byTestID("detail-conversation") + " " + byTestID("message"))
		want := []string{"msg-system", "msg-user", "msg-assistant", "msg-tool"}
		if msgs.Length() != len(want) {
			t.Fatalf("%d messages, want %d", msgs.Length(), len(want))
		}
		msgs.Each(func(i int, s *goquery.Selection) {
			if !s.HasClass(want[i]) {
				t.Errorf("message %d class %q, want %s", i, attr(s, "class"), want[i])
			}
		})
		if !strings.Contains(msgs.Eq(2).Find("pre").Text(), `"call_1"`) {
			t.Error("tool calls not shown")
		}
		if !strings.Contains(msgs.Eq(3).Text(), "call_1") {
			t.Error("tool call id not shown")
		}
	})

	t.Run("Reply", func(t *testing.T) {
		r := one(t, doc, byTestID("reply-reasoning"))
		if goquery.NodeName(r) != "details" {
			t.Errorf("reasoning is a <%s>, want <details>", goquery.NodeName(r))
		}
		if _, open := r.Attr("open"); open {
			t.Error("reasoning starts open")
		}
		if got := one(t, doc, byTestID("reply-content")).Text(); got != "Take an umbrella." {
			t.Errorf("reply = %q", got)
		}
	})

	t.Run("RawToggles", func(t *testing.T) {
		pretty, raw := one(t, doc, "#req-body-pretty"), one(t, doc, "#req-body-raw")
		if _, hidden := pretty.Attr("hidden"); hidden {
			t.Error("pretty body hidden by default")
		}
		if _, hidden := raw.Attr("hidden"); !hidden {
			t.Error("raw body shown by default")
		}
		if raw.Text() != m.ReqBodyRaw || pretty.Text() != m.ReqBodyPretty {
			t.Error("bodies not shown verbatim")
		}
		for id, target := range map[string]string{"detail-req-body-pretty-toggle": "req-body-pretty", "detail-req-body-raw-toggle": "req-body-raw"} {
			b := one(t, doc, byTestID(id))
			if attr(b, "data-toggle") != target || attr(b, "type") != "button" {
				t.Errorf("%s: data-toggle=%q type=%q", id, attr(b, "data-toggle"), attr(b, "type"))
			}
		}
		// The response body has no pretty form: one <pre>, no toggle.
		if doc.Find(byTestID("detail-resp-body")+" [data-toggle]").Length() != 0 {
			t.Error("toggle without a pretty form")
		}
		if got := one(t, doc, "#resp-body-raw").Text(); got != m.RespBodyRaw {
			t.Errorf("response body = %q", got)
		}
	})

	t.Run("Truncated", func(t *testing.T) {
		one(t, doc, byTestID("detail-resp-body-truncated"))
		if doc.Find(byTestID("detail-req-body-truncated")).Length() != 0 {
			t.Error("request body marked truncated")
		}
	})

	t.Run("CopyCurl", func(t *testing.T) {
		b := one(t, doc, byTestID("copy-curl"))
		target := one(t, doc, "#"+attr(b, "data-copy"))
		if target.Text() != m.Curl {
			t.Errorf("copy target text = %q", target.Text())
		}
	})

	t.Run("Error", func(t *testing.T) {
		m := sampleDetail()
		m.Status, m.Outcome, m.Error = 502, "upstream_error", "Bad Gateway"
		doc, _ := render(t, views.DetailPage(m))
		if got := one(t, doc, byTestID("detail-error")).Text(); !strings.Contains(got, "Bad Gateway") {
			t.Errorf("error = %q", got)
		}
		if !one(t, doc, byTestID("detail-status")).HasClass("pill-err") {
			t.Error("502 pill is not red")
		}
	})

	t.Run("NoChat", func(t *testing.T) {
		m := sampleDetail()
		m.Messages, m.ReplyContent, m.ReplyReasoning, m.RawSSE, m.Curl = nil, "", "", "", ""
		doc, _ := render(t, views.DetailPage(m))
		for _, id := range []string{"detail-conversation", "detail-reply", "detail-sse", "detail-curl", "copy-curl"} {
			if doc.Find(byTestID(id)).Length() != 0 {
				t.Errorf("%s shown without content", id)
			}
		}
	})
}

func TestNotFoundPage(t *testing.T) {
	doc, _ := render(t, views.NotFoundPage(views.NotFound{Page: views.Page{Title: "Not found"}, Message: "No request r9."}))
	nf := one(t, doc, byTestID("not-found"))
	if !strings.Contains(nf.Text(), "No request r9.") {
		t.Errorf("message missing: %q", nf.Text())
	}
	if attr(one(t, doc, byTestID("back-link")), "href") != "/" {
		t.Error("no way back")
	}
}

func TestSearchViews(t *testing.T) {
	t.Run("PreviewMarksOnlyTheHits", func(t *testing.T) {
		tb := sampleTable(false)
		tb.Preview = true
		tb.Rows[1].Preview = &views.Preview{
			Request:  views.Snippet{{Text: "<b>say</b> "}, {Text: "hello", Hit: true}, {Text: " & bye"}},
			Response: views.Snippet{{Text: "…"}, {Text: "北京", Hit: true}},
		}
		doc, raw := render(t, views.RequestTable(tb))
		one(t, doc, byTestID("preview-column"))
		if n := doc.Find(byTestID("row-preview")).Length(); n != len(tb.Rows) {
			t.Errorf("%d preview cells for %d rows", n, len(tb.Rows))
		}
		req := one(t, doc, byTestID("preview-request"))
		if got := req.Find("mark").Text(); got != "hello" {
			t.Errorf("request marks %q", got)
		}
		if req.Find("b").Length() != 0 || !strings.Contains(raw, "&lt;b&gt;say&lt;/b&gt; <mark>hello</mark> &amp; bye") {
			t.Errorf("request preview not escaped text with a mark:\n%s", raw)
		}
		if got := one(t, doc, byTestID("preview-response")).Find("mark").Text(); got != "北京" {
			t.Errorf("reply marks %q", got)
		}
	})
	t.Run("NoPreviewColumnWithoutSearch", func(t *testing.T) {
		doc, _ := render(t, views.RequestTable(sampleTable(false)))
		if doc.Find(byTestID("preview-column")).Length()+doc.Find(byTestID("row-preview")).Length() != 0 {
			t.Error("a preview column without a search")
		}
	})
	t.Run("NoticeAboveTheTable", func(t *testing.T) {
		tb := sampleTable(false)
		tb.Notice = "The search index is being built (42%)."
		doc, _ := render(t, views.RequestTable(tb))
		if got := one(t, doc, byTestID("search-notice")).Text(); got != tb.Notice {
			t.Errorf("notice %q", got)
		}
		one(t, doc, byTestID("request-table"))
	})
	t.Run("ErrorReplacesTheTable", func(t *testing.T) {
		tb := views.Table{Error: "stream: expects true or false.", Filtered: true}
		doc, _ := render(t, views.RequestTable(tb))
		if got := one(t, doc, byTestID("search-error")).Text(); got != tb.Error {
			t.Errorf("error %q", got)
		}
		for _, id := range []string{"request-table", "empty-state", "pagination"} {
			if doc.Find(byTestID(id)).Length() != 0 {
				t.Errorf("%s shown beside the error", id)
			}
		}
		if attr(one(t, doc, byTestID("requests")), "hx-get") != "" {
			t.Error("the table of an error polls")
		}
	})
	t.Run("NarrowedStats", func(t *testing.T) {
		st := views.Stats{TotalRequests: 20000, SuccessRate: 50, RecentRequests: 7, Narrow: "narrow the search"}
		doc, _ := render(t, views.StatCards(st))
		for id, want := range map[string]string{"stat-total": "20K", "stat-success": "50%", "stat-recent": "7", "stat-avg": "—", "stat-p95": "—", "stat-tokens": "—", "stat-cost": "—"} {
			card := one(t, doc, byTestID(id))
			if got := strings.TrimSpace(card.Find(".stat-value").Text()); got != want {
				t.Errorf("%s %q, want %q", id, got, want)
			}
			if wantTitle := want == "—"; (attr(card, "title") == st.Narrow) != wantTitle {
				t.Errorf("%s title %q", id, attr(card, "title"))
			}
		}
	})
	t.Run("UnknownStats", func(t *testing.T) {
		doc, _ := render(t, views.StatCards(views.Stats{Unknown: true}))
		doc.Find(".stat-value").Each(func(_ int, s *goquery.Selection) {
			if got := strings.TrimSpace(s.Text()); got != "—" {
				t.Errorf("a card shows %q, want —", got)
			}
		})
	})
	t.Run("StatusCounts", func(t *testing.T) {
		d := sampleDashboard(false)
		d.StatusCounts = map[string]int64{"success": 5, "error": 2, "2xx": 5, "4xx": 1}
		doc, _ := render(t, views.DashboardPage(d))
		var labels []string
		doc.Find(byTestID("filter-status") + " option").Each(func(_ int, s *goquery.Selection) { labels = append(labels, s.Text()) })
		if got := strings.Join(labels, "|"); got != "Any status|Success (5)|Errors (2)|2xx (5)|4xx (1)|5xx (0)" {
			t.Errorf("status choices %q", got)
		}
	})
	t.Run("SearchAsYouType", func(t *testing.T) {
		doc, _ := render(t, views.DashboardPage(sampleDashboard(false)))
		form := one(t, doc, byTestID("filter-form"))
		if attr(form, "method") != "get" || attr(form, "action") != "/" || attr(form, "hx-push-url") != "true" {
			t.Error("the form must submit without JS and push its URL with it")
		}
		if trig := attr(form, "hx-trigger"); !strings.Contains(trig, "input changed delay:300ms from:#search") || !strings.Contains(trig, "search from:#search") {
			t.Errorf("hx-trigger %q: want a debounced search as you type", trig)
		}
		one(t, doc, byTestID("filter-sort"))
	})
}
