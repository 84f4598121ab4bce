package main

import (
	"bufio"
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGTERMBinary builds the real binary, starts a slow stream through it,
// sends SIGTERM, and checks that the stream completes, the process exits 0,
// and the exchange is on disk.
func TestSIGTERMBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	_, base := startMockServer(t)
	bin := filepath.Join(t.TempDir(), "openrouter-proxy")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dataDir := t.TempDir()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PROXY_PORT=0", "WEB_PORT=0", "DATA_DIR="+dataDir, "OPENAI_API_BASE="+base, "SHUTDOWN_GRACE=20")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })

	proxyURL := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		re := regexp.MustCompile(`Proxy server: (http://\S+)`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				proxyURL <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-proxyURL:
	case <-time.After(30 * time.Second):
		t.Fatal("no banner")
	}

	events := slowStream(t, context.Background(), url, "survive the signal", 50)
	next(t, events)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if last := drain(events); last != "data: [DONE]\n" {
		t.Errorf("stream cut by SIGTERM; last event %q", last)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want status 0", err)
	}
	db, err := sql.Open("sqlite3", "file:"+dataDir+"/proxy_requests.db?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var outcome, content string
	if err := db.QueryRow("SELECT outcome, content FROM requests").Scan(&outcome, &content); err != nil {
		t.Fatalf("no record after exit: %v", err)
	}
	if outcome != "ok" || !strings.Contains(content, "survive the signal") {
		t.Errorf("outcome %q content %q", outcome, content)
	}
}
