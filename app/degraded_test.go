package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite/sqlitetest"
)

// get fetches a dashboard path, with an optional admin session cookie.
func (a *testApp) get(path string, cookie *http.Cookie) (int, string) {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.webURL+path, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// login logs in to the dashboard with key and returns the session cookie.
func (a *testApp) login(key string) *http.Cookie {
	a.t.Helper()
	req, _ := http.NewRequest("POST", a.webURL+"/login", strings.NewReader(url.Values{"api_key": {key}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", a.webURL)
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Value != "" {
			return c
		}
	}
	a.t.Fatalf("login: status %d, no session cookie", resp.StatusCode)
	return nil
}

// waitHealth polls /healthz until it holds the line want.
func (a *testApp) waitHealth(want string) string {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, body := a.get("/healthz", nil)
		if strings.HasPrefix(body, want+"\n") || strings.Contains(body, "\n"+want+"\n") {
			return body
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("/healthz never said %q; last:\n%s", want, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDegradedModeWhileDatabaseLocked: another process holds the
// database's write lock. LLM calls keep working at full speed; /healthz,
// /metrics and the admin's dashboard say recording is degraded; with a
// small RECORD_QUEUE_BYTES the overflow is counted, named in the log and
// reported. When the lock goes, the proxy recovers by itself and writes
// what it held.
func TestDegradedModeWhileDatabaseLocked(t *testing.T) {
	_, base := startMockServer(t)
	const admin = "sk-or-v1-degraded-admin-0123456789abcdef"
	app := startApp(t, map[string]string{"OPENAI_API_BASE": base, "SUPER_ADMIN_APIKEY": admin,
		"RECORD_QUEUE_BYTES": "1048576", "BODY_CAPTURE_LIMIT": "262144"})
	client := app.client(testKey)
	ctx := context.Background()
	if _, err := client.Chat.Completions.New(ctx, chatParams("openai/gpt-4o-mini", "before the lock")); err != nil {
		t.Fatal(errorString(err))
	}
	app.one("1=1")
	cookie := app.login(admin)

	release := sqlitetest.HoldLock(t, app.dataDir+"/proxy_requests.db")
	// Small exchanges fit in the queue and wait there for the lock.
	for i := range 3 {
		start := time.Now()
		if _, err := client.Chat.Completions.New(ctx, chatParams("openai/gpt-4o-mini", "held "+string(rune('a'+i)))); err != nil {
			t.Fatal(errorString(err))
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("a call took %v while the database was locked", took)
		}
	}
	health := app.waitHealth("degraded")
	if !strings.Contains(health, "database_failing true") || !strings.Contains(health, "locked") {
		t.Errorf("/healthz:\n%s", health)
	}
	// Large request bodies overflow the 1 MiB budget: forwarded, not kept.
	big := bytes.Repeat([]byte("x"), 200<<10)
	for range 8 {
		resp := app.do("POST", "/v1/echo", bytes.NewReader(big), map[string]string{"Authorization": "Bearer " + testKey})
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n != int64(len(big)) {
			t.Fatalf("echo through a degraded proxy: status %d, %d bytes", resp.StatusCode, n)
		}
	}
	_, health = app.get("/healthz", nil)
	if !strings.Contains(health, "records_lost ") || strings.Contains(health, "records_lost 0\n") {
		t.Errorf("/healthz does not count the lost records:\n%s", health)
	}
	_, metrics := app.get("/metrics", nil)
	for _, want := range []string{"orp_database_failing 1", "orp_recording_degraded 1", "orp_records_lost_total "} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(metrics, "orp_records_lost_total 0\n") {
		t.Error("/metrics counts no lost record")
	}
	if status, page := app.get("/", cookie); status != 200 || !strings.Contains(page, `data-testid="degraded-banner"`) || !strings.Contains(page, "locked") {
		t.Errorf("dashboard: status %d, no degraded banner with the error", status)
	}

	release()
	// Degraded stays on for a minute after the last loss, so that
	// monitoring sees it; the database itself recovers at once.
	app.waitHealth("database_failing false")
	// Everything that fitted in the queue was written after all.
	for _, word := range []string{"held a", "held b", "held c"} {
		app.one("body LIKE ?", "%"+word+"%")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(app.logs.String(), "records lost") {
		if time.Now().After(deadline) {
			t.Fatal("the log never named the lost records")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
