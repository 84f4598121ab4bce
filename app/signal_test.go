package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// binApp is the real binary, started as a user starts it, so that it can
// be sent signals.
type binApp struct {
	t        *testing.T
	cmd      *exec.Cmd
	proxyURL string // empty for the dashboard role
	webURL   string // the dashboard, or for the proxy role its /healthz and /metrics
	dataDir  string
	stderr   *syncBuffer
	exited   chan struct{} // closed when the process has exited
	err      error         // cmd.Wait's result, once exited is closed
}

// buildBinary builds the program into a directory of t's.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "openrouter-proxy")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startBinary runs bin with env on top of test defaults (free ports, a
// temporary DATA_DIR) and waits for its banner.
func startBinary(t *testing.T, bin string, env map[string]string) *binApp {
	t.Helper()
	vars := map[string]string{"PROXY_PORT": "0", "WEB_PORT": "0", "DATA_DIR": t.TempDir(), "LOG_LEVEL": "info"}
	for k, v := range env {
		vars[k] = v
	}
	b := &binApp{t: t, cmd: exec.Command(bin), dataDir: vars["DATA_DIR"], stderr: &syncBuffer{}, exited: make(chan struct{})}
	b.cmd.Env = os.Environ()
	for k, v := range vars {
		b.cmd.Env = append(b.cmd.Env, k+"="+v)
	}
	out := &bannerWriter{ready: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = out, b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		b.cmd.Process.Kill()
		<-b.exited
	})
	select {
	case <-out.ready:
	case <-b.exited:
		t.Fatalf("exited before its banner: %v\n%s", b.err, b.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("no banner after 30s\n%s", b.stderr)
	}
	b.proxyURL, b.webURL = out.urls()
	return b
}

// signal sends sig to the process.
func (b *binApp) signal(sig os.Signal) {
	b.t.Helper()
	if err := b.cmd.Process.Signal(sig); err != nil {
		b.t.Fatal(err)
	}
}

// wait waits up to d for the process to exit and returns how it exited.
func (b *binApp) wait(d time.Duration) error {
	b.t.Helper()
	select {
	case <-b.exited:
		return b.err
	case <-time.After(d):
		b.t.Fatalf("still running %v later\n%s", d, b.stderr)
		return nil
	}
}

// openDB opens the program's database, read-only unless rw.
func openDB(t *testing.T, dataDir string, rw bool) *sql.DB {
	t.Helper()
	mode := "ro"
	if rw {
		mode = "rw"
	}
	db, err := sql.Open("sqlite3", "file:"+dataDir+"/proxy_requests.db?mode="+mode+"&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// stored is what a record says of how its exchange ended.
type stored struct{ outcome, err, content string }

// records returns the records whose body matches like, by body.
func records(t *testing.T, db *sql.DB, like string) map[string]stored {
	t.Helper()
	q, err := db.Query("SELECT body, outcome, coalesce(error,''), coalesce(content,'') FROM requests WHERE body LIKE ?", like)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	out := map[string]stored{}
	for q.Next() {
		var body []byte
		var r stored
		if err := q.Scan(&body, &r.outcome, &r.err, &r.content); err != nil {
			t.Fatal(err)
		}
		out[string(body)] = r
	}
	if err := q.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// streamBody is the request body slowStream sends for prompt.
func streamBody(prompt string) string {
	return `{"model":"mock/slow","stream":true,"messages":[{"role":"user","content":"` + prompt + `"}]}`
}

// TestSignal sends signals to the real binary.
func TestSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)

	// SIGTERM with 20 live streams: new connections are refused at once,
	// every stream runs to its end, each is recorded, and the exit is 0.
	t.Run("TERMDrainsStreams", func(t *testing.T) {
		t.Parallel()
		_, base := startMockServer(t)
		b := startBinary(t, bin, map[string]string{"OPENAI_API_BASE": base, "SHUTDOWN_GRACE": "30"})
		const n = 20
		streams := make([]<-chan string, n)
		for i := range n {
			// 150ms between events: about 1.8s a stream.
			streams[i] = slowStream(t, context.Background(), b.proxyURL, fmt.Sprintf("drain-%02d of twenty", i), 150)
		}
		for i := range n {
			next(t, streams[i]) // all 20 are live
		}
		b.signal(syscall.SIGTERM)

		var finished atomic.Int32
		lasts := make(chan string, n)
		for i := range n {
			go func() {
				lasts <- drain(streams[i])
				finished.Add(1)
			}()
		}
		addr := strings.TrimPrefix(b.proxyURL, "http://")
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			c, err := net.Dial("tcp", addr)
			if errors.Is(err, syscall.ECONNREFUSED) {
				break
			}
			if err == nil {
				c.Close()
			}
			if time.Now().After(deadline) {
				t.Fatalf("new connections still accepted 5s after SIGTERM (last: %v)", err)
			}
		}
		if k := finished.Load(); k == n {
			t.Error("every stream had ended before new connections were refused: the drain was not observed")
		}
		for range n {
			if last := <-lasts; last != "data: [DONE]\n" {
				t.Errorf("stream cut by SIGTERM; last event %q", last)
			}
		}
		if err := b.wait(30 * time.Second); err != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0\n%s", err, b.stderr)
		}
		recs := records(t, openDB(t, b.dataDir, false), "%drain-%")
		for i := range n {
			prompt := fmt.Sprintf("drain-%02d of twenty", i)
			r, ok := recs[streamBody(prompt)]
			if !ok || r.outcome != "ok" || !strings.Contains(r.content, prompt) {
				t.Errorf("stream %d: recorded %v, %+v", i, ok, r)
			}
		}
	})

	// SIGTERM with a short SHUTDOWN_GRACE: streams that end within it
	// complete; those still running when it runs out are cut, and
	// recorded as cut by the shutdown with what they had sent; exit 0.
	t.Run("TERMGraceCutsStreams", func(t *testing.T) {
		t.Parallel()
		_, base := startMockServer(t)
		b := startBinary(t, bin, map[string]string{"OPENAI_API_BASE": base, "SHUTDOWN_GRACE": "1.5"})
		const n = 3
		var fast, slow [n]<-chan string
		for i := range n {
			slow[i] = slowStream(t, context.Background(), b.proxyURL, fmt.Sprintf("slow-%d past the grace", i), 500) // about 6s
		}
		for i := range n {
			for ev := next(t, slow[i]); !strings.Contains(ev, `"content":"Hello`); ev = next(t, slow[i]) {
			}
			fast[i] = slowStream(t, context.Background(), b.proxyURL, fmt.Sprintf("fast-%d within the grace", i), 20) // about 0.25s
			next(t, fast[i])
		}
		start := time.Now()
		b.signal(syscall.SIGTERM)
		for i := range n {
			if last := drain(fast[i]); last != "data: [DONE]\n" {
				t.Errorf("fast stream %d cut; last event %q", i, last)
			}
			if last := drain(slow[i]); last == "data: [DONE]\n" {
				t.Errorf("slow stream %d completed: it was not cut at the end of the grace period", i)
			}
		}
		if err := b.wait(20 * time.Second); err != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0\n%s", err, b.stderr)
		}
		if d := time.Since(start); d > 6*time.Second {
			t.Errorf("exited %v after SIGTERM with a 1.5s grace", d)
		}
		recs := records(t, openDB(t, b.dataDir, false), "%the grace%")
		for i := range n {
			r := recs[streamBody(fmt.Sprintf("fast-%d within the grace", i))]
			if r.outcome != "ok" {
				t.Errorf("fast stream %d: %+v", i, r)
			}
			r = recs[streamBody(fmt.Sprintf("slow-%d past the grace", i))]
			if r.outcome != "proxy_error" || !strings.Contains(r.err, "shutdown") || !strings.HasPrefix(r.content, "Hello") || strings.Contains(r.content, "grace") {
				t.Errorf("slow stream %d: %+v; want cut at shutdown with the partial reply", i, r)
			}
		}
	})

	// SIGKILL under load: afterwards the database passes its integrity
	// check and holds every exchange a reader saw committed before the
	// kill, and the program starts again on it.
	t.Run("KILLUnderLoad", func(t *testing.T) {
		t.Parallel()
		_, base := startMockServer(t)
		dataDir := t.TempDir()
		b := startBinary(t, bin, map[string]string{"OPENAI_API_BASE": base, "DATA_DIR": dataDir})

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					req, _ := http.NewRequestWithContext(ctx, "POST", b.proxyURL+"/v1/chat/completions",
						strings.NewReader(streamBody(fmt.Sprintf("load-%d-%d", w, i))))
					req.Header.Set("Authorization", "Bearer "+testKey)
					req.Header.Set("X-Mock-Delay-Ms", "2")
					resp, err := tr.RoundTrip(req)
					if err != nil {
						return // killed
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		}

		// A reader sees only committed transactions: every id it has seen
		// must survive the kill.
		db := openDB(t, dataDir, false)
		seen := map[string]bool{}
		for deadline := time.Now().Add(30 * time.Second); len(seen) < 200; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d records after 30s of load", len(seen))
			}
			q, err := db.Query("SELECT id FROM requests")
			if err != nil {
				continue // busy while the writer checkpoints
			}
			for q.Next() {
				var id string
				q.Scan(&id)
				seen[id] = true
			}
			q.Close()
		}
		b.signal(syscall.SIGKILL)
		if err := b.wait(10 * time.Second); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("exit %v, want killed", err)
		}
		cancel()
		wg.Wait()
		db.Close()

		check := func(db *sql.DB, when string) {
			t.Helper()
			var integrity string
			if err := db.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
				t.Fatalf("%s: integrity_check %q, err %v", when, integrity, err)
			}
			have := map[string]bool{}
			q, err := db.Query("SELECT id FROM requests")
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			for q.Next() {
				var id string
				q.Scan(&id)
				have[id] = true
			}
			missing := 0
			for id := range seen {
				if !have[id] {
					missing++
				}
			}
			if missing > 0 {
				t.Errorf("%s: %d of the %d records committed before the kill are gone", when, missing, len(seen))
			}
			t.Logf("%s: %d records, %d seen committed before the kill", when, len(have), len(seen))
		}
		// As the kill left it (opening it read-write recovers the WAL, as
		// the program's next start does).
		after := openDB(t, dataDir, true)
		check(after, "after the kill")
		after.Close()

		again := startBinary(t, bin, map[string]string{"OPENAI_API_BASE": base, "DATA_DIR": dataDir})
		last := drain(slowStream(t, context.Background(), again.proxyURL, "after the restart", 0))
		if last != "data: [DONE]\n" {
			t.Errorf("stream after the restart ended with %q", last)
		}
		again.signal(syscall.SIGTERM)
		if err := again.wait(30 * time.Second); err != nil {
			t.Fatalf("restarted binary: exit %v\n%s", err, again.stderr)
		}
		db = openDB(t, dataDir, false)
		check(db, "after a restart")
		if recs := records(t, db, "%after the restart%"); len(recs) != 1 {
			t.Errorf("%d records of the request after the restart", len(recs))
		}
	})
}
