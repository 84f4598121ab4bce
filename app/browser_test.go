package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const (
	// browserTimeout bounds the whole browser test, browser start included.
	browserTimeout = 90 * time.Second
	// stepTimeout bounds one wait on the page, so a failure names its step
	// instead of eating the whole budget.
	stepTimeout = 20 * time.Second
	// consoleFlush is logged by the page at the end: once the collector has
	// seen it, it has seen every message before it.
	consoleFlush = "orp-browser-test-console-flush"
)

// TestBrowser drives the dashboard in headless Chromium against the real
// program: log in, watch requests arrive live, search, open a record,
// take screenshots at phone and desktop widths, log out. The page must run
// without a CSP violation or a JavaScript error throughout.
func TestBrowser(t *testing.T) {
	execPath := chromiumPath(t)
	_, base := startMockServer(t)
	adminKey := "sk-or-v1-browser-admin-" + randomHex(16)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base, "SUPER_ADMIN_APIKEY": adminKey})
	client := app.client(testKey)

	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	defer cancelTab()

	// Subscribing starts the browser, so the collector sees the first page.
	console := collectConsole(tabCtx)
	b := &browser{t: t, ctx: tabCtx, app: app}
	// Checked last, also when a step fails early: an error here often explains it.
	defer t.Run("Console", func(t *testing.T) {
		b.t = t
		act(b, "flush the console", chromedp.Evaluate[bool](`console.log(`+jsString(consoleFlush)+`), true`))
		msgs := console.wait(t, tabCtx)
		for _, m := range msgs {
			// Chromium words CSP violations "Refused to …" or "… violates the
			// following Content Security Policy directive …", as errors.
			if m.IsException() || m.Type == chromedp.ConsoleError || m.Source == "security" ||
				strings.Contains(m.Text, "Refused to") || strings.Contains(m.Text, "Content Security Policy") {
				t.Errorf("browser console: %s (%s:%d)", m, m.URL, m.Line+1)
			} else {
				t.Logf("browser console: %s", m)
			}
		}
	})

	t.Run("Login", func(t *testing.T) {
		b.t = t
		// The CSP header must be there, or "no violations" proves nothing.
		resp := act(b, "open the dashboard", chromedp.NavigateResponse(app.webURL+"/"))
		if csp := resp.Headers["Content-Security-Policy"]; !strings.Contains(fmt.Sprint(csp), "script-src 'self'") {
			t.Errorf("Content-Security-Policy %q, want script-src 'self'", csp)
		}
		b.waitPath("/login")
		b.do("log in",
			chromedp.WaitVisible(testID("login-input")),
			chromedp.SendKeys(testID("login-input"), adminKey),
			chromedp.Click(testID("login-submit")),
			chromedp.WaitVisible(testID("requests")),
		)
		b.waitPath("/")
		b.waitJS("the empty state before any traffic", rowIDs+` === "" && !!document.querySelector('[data-testid="empty-state"]')`)
		// A reload would lose this; the rows must arrive without one.
		act(b, "mark the page", chromedp.Evaluate[bool](`window.orpNoReload = true`))
	})
	if t.Failed() {
		return
	}

	marker := "browser-marker-" + randomHex(8)
	var first, second string // record ids
	var reply string         // the upstream's answer to the marker
	t.Run("LiveRows", func(t *testing.T) {
		b.t = t
		resp, err := client.Chat.Completions.New(ctx, chatParams("openai/gpt-4o-mini", "Please repeat "+marker))
		if err != nil {
			t.Fatal(errorString(err))
		}
		reply = resp.Choices[0].Message.Content
		first = app.one("body LIKE ?", "%"+marker+"%").ID
		b.waitJS("the first row to arrive by polling", rowIDs+` === `+jsString(first))
		b.waitJS("the first row's path and model", rowText(first)+`.includes("/chat/completions") && `+
			rowText(first)+`.includes("openai/gpt-4o-mini")`)

		prompt := "second prompt " + randomHex(8)
		if _, err := client.Chat.Completions.New(ctx, chatParams("anthropic/claude-3.5-sonnet", prompt)); err != nil {
			t.Fatal(errorString(err))
		}
		second = app.one("body LIKE ?", "%"+prompt+"%").ID
		b.waitJS("the second row on top", rowIDs+` === `+jsString(second+","+first))
		b.waitJS("the second row's model", rowText(second)+`.includes("anthropic/claude-3.5-sonnet")`)
		if !act(b, "check the page was not reloaded", chromedp.Evaluate[bool](`window.orpNoReload === true`)) {
			t.Error("the page reloaded; rows must arrive by polling")
		}
	})
	if t.Failed() {
		return
	}

	// The start of the marker's random word: the index matches a word of 4
	// or more characters as a prefix too, and marks the whole word.
	word := strings.TrimPrefix(marker, "browser-marker-")
	term := word[:10]
	t.Run("Search", func(t *testing.T) {
		b.t = t
		b.do("type the search", chromedp.SendKeys(testID("search-input"), term))
		b.waitJS("only the matching row", rowIDs+` === `+jsString(first))
		b.waitJS("the search in the URL (hx-push-url)", `new URL(location.href).searchParams.get("search") === `+jsString(term))
		b.waitJS("the match marked in the preview", `document.querySelector('[data-testid="request-row"] [data-testid="preview-request"] mark')?.textContent === `+jsString(word))

		// Traffic that does not match must not appear when the table polls:
		// the poll URL must carry the filter.
		stream := client.Chat.Completions.NewStreaming(ctx, chatParams("deepseek/deepseek-r1", "third prompt "+randomHex(8)))
		for stream.Next() {
		}
		if err := stream.Err(); err != nil {
			t.Fatal(errorString(err))
		}
		app.one("is_stream = 1")
		act(b, "wait for the table to catch up with the new record", chromedp.Evaluate[bool](catchUp, chromedp.EvalAwaitPromise))
		b.waitJS("the filter to survive the poll", rowIDs+` === `+jsString(first))

		b.do("reload", chromedp.Reload(), chromedp.WaitVisible(testID("requests")))
		b.waitJS("the filter to survive a reload", `document.querySelector('[data-testid="search-input"]').value === `+
			jsString(term)+` && `+rowIDs+` === `+jsString(first))
	})
	if t.Failed() {
		return
	}

	t.Run("Detail", func(t *testing.T) {
		b.t = t
		b.do("open the record",
			chromedp.Click(chromedp.CSS(`[data-testid="request-row"][data-id="`+first+`"] [data-testid="row-link"]`)),
			chromedp.WaitVisible(testID("detail-conversation")),
		)
		b.waitPath("/request/" + first)
		conv := act(b, "read the conversation", chromedp.TextContent(testID("detail-conversation")))
		if !strings.Contains(conv, marker) {
			t.Errorf("conversation %q lacks the marker %q", conv, marker)
		}
		got := act(b, "read the reply", chromedp.TextContent(testID("reply-content")))
		if strings.TrimSpace(got) != reply {
			t.Errorf("reply %q, the client got %q", got, reply)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("Screenshots", func(t *testing.T) {
		b.t = t
		dir := os.Getenv("SCREENSHOT_DIR")
		if dir == "" {
			dir = t.TempDir()
		} else if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, page := range []struct{ name, url, ready string }{
			{"detail", app.webURL + "/request/" + first, "detail-conversation"},
			{"dashboard", app.webURL + "/", "request-table"},
			{"search", app.webURL + "/?search=" + url.QueryEscape(term), "preview-request"},
		} {
			for _, size := range []struct {
				name          string
				width, height int64
				opts          []chromedp.EmulateViewportOption
			}{
				{"phone", 375, 812, []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch}},
				{"desktop", 1280, 900, nil},
			} {
				step := page.name + " at " + size.name + " width"
				b.do(step,
					chromedp.EmulateViewport(size.width, size.height, size.opts...),
					chromedp.Navigate(page.url),
					chromedp.WaitVisible(testID(page.ready)),
				)
				shot := act(b, "screenshot of the "+step, chromedp.FullScreenshot(100))
				path := filepath.Join(dir, page.name+"-"+size.name+".png")
				if err := os.WriteFile(path, shot, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("screenshot %s (%d KB)", path, len(shot)>>10)
				if !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) || len(shot) < 10<<10 {
					t.Errorf("%s: %d bytes, want a PNG of more than 10 KB", path, len(shot))
				}
			}
		}
	})

	t.Run("Logout", func(t *testing.T) {
		b.t = t
		b.do("log out",
			chromedp.Navigate(app.webURL+"/"),
			chromedp.Click(testID("logout-button")),
			chromedp.WaitVisible(testID("login-input")),
		)
		b.waitPath("/login")
		b.do("open the dashboard again", chromedp.Navigate(app.webURL+"/"), chromedp.WaitVisible(testID("login-input")))
		b.waitPath("/login")
	})
}

// chromiumPath finds Chromium, or skips the test where it is not installed.
// CI must run the test for real, so there a missing browser fails it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const how = "chromium not found; install it with `apt-get install -y chromium`"
	if os.Getenv("CI") != "" {
		t.Fatal(how + " (CI must run the browser test)")
	}
	t.Skip(how + " to run the browser test")
	return ""
}

// browser is the one tab of TestBrowser. Each wait gets its own deadline,
// and a failure logs where the page was and what it showed.
type browser struct {
	t   *testing.T
	ctx context.Context
	app *testApp
}

// do runs actions in order or fails the test, naming the step.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	act(b, step, chromedp.Steps(actions...))
}

// waitJS waits until the JavaScript expression is true.
func (b *browser) waitJS(step, expr string) {
	b.t.Helper()
	act(b, "wait for "+step, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(stepTimeout)))
}

// waitPath waits until the page is at path, query aside.
func (b *browser) waitPath(path string) {
	b.t.Helper()
	b.waitJS("the page at "+path, `location.pathname === `+jsString(path))
}

// act runs one action with the step deadline and returns its value.
func act[T any](b *browser, step string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v\n%s", step, err, b.state())
	}
	return v
}

// state describes the page for a failure message.
func (b *browser) state() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`"URL: " + location.href + "\nrows: " + `+rowIDs+
		` + "\npage text:\n" + document.body.innerText.slice(0, 3000)`))
	if err != nil {
		s = "page state unavailable: " + err.Error()
	}
	logs := b.app.logs.String()
	if len(logs) > 4000 {
		logs = "…" + logs[len(logs)-4000:]
	}
	return s + "\napp logs:\n" + logs
}

// consoleLog collects the tab's console messages, exceptions and browser
// log entries (where CSP violations are reported).
type consoleLog struct {
	mu      sync.Mutex
	msgs    []chromedp.ConsoleMessage
	err     error
	flushed chan struct{}
}

func collectConsole(ctx context.Context) *consoleLog {
	c := &consoleLog{flushed: make(chan struct{})}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			c.mu.Lock()
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					c.err = err
				}
				c.mu.Unlock()
				return
			}
			if m.Text == consoleFlush {
				c.mu.Unlock()
				close(c.flushed)
				continue
			}
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

// wait returns the messages once the flush marker has come through.
func (c *consoleLog) wait(t *testing.T, ctx context.Context) []chromedp.ConsoleMessage {
	t.Helper()
	select {
	case <-c.flushed:
	case <-ctx.Done():
		t.Fatalf("console flush marker not seen: %v", ctx.Err())
	case <-time.After(stepTimeout):
		t.Fatal("console flush marker not seen within the step timeout")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		t.Errorf("reading the browser console: %v", c.err)
	}
	return append([]chromedp.ConsoleMessage(nil), c.msgs...)
}

// testID selects the element with this data-testid.
func testID(id string) chromedp.CSS {
	return chromedp.CSS(`[data-testid="` + id + `"]`)
}

// rowIDs is a JavaScript expression: the data-id of every stored row on the
// page, in order, joined by commas.
const rowIDs = `Array.from(document.querySelectorAll('[data-testid="request-row"]'), r => r.dataset.id).join(",")`

// catchUp is a JavaScript promise that resolves once the table is at the
// server's latest version: its own poll URL answers 204 (unchanged). Until
// then it waits for the next swap; the listener is set before each check, so
// a swap between the two cannot be missed.
const catchUp = `(async () => {
	for (;;) {
		const swapped = new Promise(ok => document.addEventListener("htmx:load", ok, {once: true}));
		const res = await fetch(document.getElementById("requests").getAttribute("hx-get"));
		if (res.status === 204) return true;
		await swapped;
	}
})()`

// rowText is a JavaScript expression: the text of the row with this id.
func rowText(id string) string {
	return `(document.querySelector('[data-testid="request-row"][data-id=` + jsString(id) + `]')?.textContent ?? "")`
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}
