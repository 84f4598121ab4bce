package auth_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/auth"
)

func TestLoadSecret(t *testing.T) {
	dir := t.TempDir()
	a, err := auth.LoadSecret("", dir)
	if err != nil || len(a) < 32 {
		t.Fatalf("generated %d bytes, err %v", len(a), err)
	}
	b, err := auth.LoadSecret("", dir)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatal("a restart must reuse the generated secret")
	}
	fi, err := os.Stat(filepath.Join(dir, "session_secret"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v err %v", fi.Mode(), err)
	}
	if _, err := auth.LoadSecret("short", dir); err == nil {
		t.Fatal("a short SESSION_SECRET was accepted")
	}
	c, err := auth.LoadSecret("0123456789abcdef0123456789abcdef", dir)
	if err != nil || string(c) != "0123456789abcdef0123456789abcdef" {
		t.Fatal("a configured secret must win")
	}
}

func TestLimiter(t *testing.T) {
	l := auth.NewLimiter(3, time.Hour)
	for range 3 {
		if ok, _ := l.Take("10.0.0.1:1234"); !ok {
			t.Fatal("refused before the limit")
		}
	}
	if ok, wait := l.Take("10.0.0.1:9999"); ok || wait <= 0 {
		t.Fatal("the limit must apply per address, whatever the port")
	}
	if ok, _ := l.Take("10.0.0.2:1"); !ok {
		t.Fatal("another address was refused")
	}
	l.Refund("10.0.0.2:1")
	for range 3 {
		if ok, _ := l.Take("10.0.0.2:1"); !ok {
			t.Fatal("a refunded success must not count")
		}
	}
}

func TestLimiterParallel(t *testing.T) {
	l := auth.NewLimiter(10, time.Hour)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if ok, _ := l.Take("10.0.0.9:1"); ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 10 {
		t.Fatalf("%d parallel attempts got through, want 10", allowed.Load())
	}
}
