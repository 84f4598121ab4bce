package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// TestBrowserStats loads the statistics page in headless Chromium on a
// phone-sized screen, in the light and the dark theme: the charts must be
// drawn and visible, in the theme's colours, nothing may stick out
// sideways, and the page must run without a CSP violation or a script
// error. Screenshots go to SCREENSHOT_DIR when it is set.
func TestBrowserStats(t *testing.T) {
	execPath := chromiumPath(t)
	_, base := startMockServer(t)
	adminKey := "sk-or-v1-browser-stats-admin-" + randomHex(16)
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base, "SUPER_ADMIN_APIKEY": adminKey})
	client := app.client(testKey)

	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()
	for _, model := range []string{"openai/gpt-4o-mini", "anthropic/claude-3.5-sonnet", "openai/gpt-4o-mini"} {
		if _, err := client.Chat.Completions.New(ctx, chatParams(model, "stats "+randomHex(4))); err != nil {
			t.Fatal(errorString(err))
		}
	}
	app.rows(3, "1 = 1")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(filepath.Join(t.TempDir(), "chromium")),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	tabCtx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	defer cancelTab()
	console := collectConsole(tabCtx)
	b := &browser{t: t, ctx: tabCtx, app: app}

	b.do("log in",
		chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2), chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch),
		chromedp.Navigate(app.webURL+"/login"),
		chromedp.WaitVisible(testID("login-input")),
		chromedp.SendKeys(testID("login-input"), adminKey),
		chromedp.Click(testID("login-submit")),
		chromedp.WaitVisible(testID("requests")),
	)
	// The nav stays on a phone: the statistics are one tap away.
	b.do("open the statistics from the nav", chromedp.Click(testID("nav-stats")), chromedp.WaitVisible(testID("chart-requests")))
	b.waitPath("/stats")

	dir := os.Getenv("SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	colours := map[string]string{}
	for _, tc := range []struct {
		name, scheme  string
		width, height int64
		opts          []chromedp.EmulateViewportOption
	}{
		{"phone-light", "light", 375, 812, []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch}},
		{"phone-dark", "dark", 375, 812, []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch}},
		{"desktop-dark", "dark", 1280, 900, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.t = t
			b.do("switch to the "+tc.scheme+" theme at "+tc.name,
				chromedp.EmulateViewport(tc.width, tc.height, tc.opts...),
				chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
						Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: tc.scheme}},
					})
					return err
				}),
				chromedp.Navigate(app.webURL+"/stats?window=1h"),
				chromedp.WaitVisible(testID("chart-tokens")),
			)
			// Every chart is drawn, as wide as its card, with bars.
			b.waitJS("four visible charts", `(() => {
				const svgs = [...document.querySelectorAll('[data-testid="chart-svg"]')];
				return svgs.length === 4 && svgs.every(s => { const r = s.getBoundingClientRect(); return r.width > 250 && r.height > 60; });
			})()`)
			b.waitJS("the requests chart's bar", `document.querySelectorAll('[data-testid="chart-requests"] rect').length === 1`)
			b.waitJS("the tokens chart's two models", `document.querySelectorAll('[data-testid="chart-tokens"] .ch-cat').length === 2`)
			// Nothing sticks out of the screen sideways.
			overflow := act(b, "measure the overflow", chromedp.Evaluate[string](`(() => {
				const w = document.documentElement.clientWidth;
				if (document.documentElement.scrollWidth > w) return "page " + document.documentElement.scrollWidth + " > " + w;
				for (const el of document.querySelectorAll('main *')) {
					if (el.closest('.breakdown-scroll')) continue; // scrolls inside its card
					const r = el.getBoundingClientRect();
					if (r.width > 0 && (r.right > w + 0.5 || r.left < -0.5)) return (el.dataset.testid || el.className.baseVal || el.className || el.tagName) + " " + r.left + "–" + r.right;
				}
				return "";
			})()`))
			if overflow != "" {
				t.Errorf("overflows the %d px screen: %s", tc.width, overflow)
			}
			// Tick labels stay readable: at least 9 px high.
			if px := act(b, "measure a tick label", chromedp.Evaluate[float64](
				`document.querySelector('[data-testid="chart-requests"] .ch-tick').getBoundingClientRect().height`)); px < 9 {
				t.Errorf("tick labels %.1f px high", px)
			}
			colours[tc.scheme] = act(b, "read the bar colour", chromedp.Evaluate[string](
				`getComputedStyle(document.querySelector('[data-testid="chart-requests"] rect')).fill + " on " + getComputedStyle(document.body).backgroundColor`))
			shot := act(b, "screenshot", chromedp.FullScreenshot(100))
			path := filepath.Join(dir, "stats-"+tc.name+".png")
			if err := os.WriteFile(path, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
				t.Errorf("%s is not a PNG", path)
			}
		})
	}
	t.Run("Filter", func(t *testing.T) {
		b.t = t
		// The form answers in place: the numbers, the window's links and
		// the URL follow the filter.
		act(b, "filter to errors", chromedp.Evaluate[bool](`(() => {
			const s = document.getElementById("s-status");
			s.value = "error";
			s.dispatchEvent(new Event("change", {bubbles: true}));
			return true;
		})()`))
		b.waitJS("no requests among the errors", `new URL(location.href).searchParams.get("status") === "error" && `+
			`document.querySelector('[data-testid="stat-requests"] .stat-value').textContent.trim() === "0"`)
		b.waitJS("the window links to keep the filter", `document.querySelector('[data-testid="window-24h"]').href.includes("status=error")`)
		b.do("pick 24 h", chromedp.Click(testID("window-24h")), chromedp.WaitVisible(testID("chart-requests")))
		b.waitJS("the day's errors", `new URL(location.href).searchParams.get("window") === "24h" && `+
			`document.getElementById("s-status").value === "error"`)
	})
	b.t = t
	if colours["light"] == colours["dark"] {
		t.Errorf("bars and page look the same in both themes: %q", colours["light"])
	}
	act(b, "flush the console", chromedp.Evaluate[bool](`console.log(`+jsString(consoleFlush)+`), true`))
	for _, m := range console.wait(t, tabCtx) {
		if m.IsException() || m.Type == chromedp.ConsoleError || m.Source == "security" ||
			strings.Contains(m.Text, "Refused to") || strings.Contains(m.Text, "Content Security Policy") {
			t.Errorf("browser console: %s (%s:%d)", m, m.URL, m.Line+1)
		}
	}
}
