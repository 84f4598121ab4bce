package auth_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/auth"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
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

// TestSharedSecret: every process on one database gets the secret the
// first one generated.
func TestSharedSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proxy.db")
	var got [][]byte
	for range 2 {
		st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := auth.SharedSecret(context.Background(), st)
		st.Close()
		if err != nil || len(b) != 64 {
			t.Fatalf("SharedSecret = %d bytes, %v", len(b), err)
		}
		got = append(got, b)
	}
	if !bytes.Equal(got[0], got[1]) {
		t.Fatal("a second process got another secret")
	}
}

// TestLimiter: the limit counted in a real store; two limiters on one
// database (two dashboard replicas) share it.
func TestLimiter(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "proxy.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, b := auth.NewLimiter(3, time.Hour, st), auth.NewLimiter(3, time.Hour, st)
	ctx := context.Background()
	for i, l := range []*auth.Limiter{a, b, a} {
		if ok, _, err := l.Fail(ctx, "10.0.0.1"); err != nil || !ok {
			t.Fatalf("failure %d: ok=%v err=%v; the first 3 are within the limit", i+1, ok, err)
		}
	}
	if ok, wait, err := b.Fail(ctx, "10.0.0.1"); err != nil || ok || wait <= 0 || wait > time.Hour {
		t.Fatalf("4th failure, on the other limiter: ok %v, wait %v, err %v; want refused until the window ends", ok, wait, err)
	}
	if ok, _, err := a.Fail(ctx, "10.0.0.2"); err != nil || !ok {
		t.Fatal("another client was refused")
	}
}

func TestClient(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/64")}
	tests := []struct {
		name    string
		remote  string
		trusted []netip.Prefix
		header  http.Header
		want    string
	}{
		{"PortIgnored", "203.0.113.7:4000", nil, nil, "203.0.113.7"},
		{"IPv4MappedIsIPv4", "[::ffff:203.0.113.7]:4000", nil, nil, "203.0.113.7"},
		// One host owns a /64 and could rotate through it.
		{"IPv6GroupedBy64", "[2001:db8:1:2:aaaa::1]:4000", nil, nil, "2001:db8:1:2::/64"},
		{"NoPortKeptAsIs", "203.0.113.7", nil, nil, "203.0.113.7"},
		{"ForwardingHeadersIgnoredWithoutTrust", "203.0.113.7:1", nil,
			http.Header{"X-Forwarded-For": {"198.51.100.1"}, "X-Real-Ip": {"198.51.100.2"}, "Forwarded": {"for=198.51.100.3"}}, "203.0.113.7"},
		{"ForwardingHeadersIgnoredFromUntrustedPeer", "203.0.113.7:1", trusted,
			http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "203.0.113.7"},
		{"TrustedPeerNamesTheClient", "10.0.0.1:1", trusted,
			http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"RightmostUntrustedWins", "10.0.0.1:1", trusted,
			http.Header{"X-Forwarded-For": {"192.0.2.66, 198.51.100.1"}}, "198.51.100.1"},
		{"TrustedHopsSkipped", "10.0.0.1:1", trusted,
			http.Header{"X-Forwarded-For": {"192.0.2.66, 198.51.100.1, 10.1.1.1", "10.2.2.2"}}, "198.51.100.1"},
		{"TrustedIPv6Peer", "[fd00::1]:1", trusted,
			http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"ForwardedIPv6Grouped", "10.0.0.1:1", trusted,
			http.Header{"X-Forwarded-For": {"2001:db8:1:2::99"}}, "2001:db8:1:2::/64"},
		{"OnlyTrustedHops", "10.0.0.1:1", trusted,
			http.Header{"X-Forwarded-For": {"10.9.9.9"}}, "10.9.9.9"},
		{"NoHeaderFromTrustedPeer", "10.0.0.1:1", trusted, nil, "10.0.0.1"},
		// Garbage where the trusted proxy's own entry should be: believe
		// nothing the header says.
		{"MalformedEntryFallsBackToPeer", "10.0.0.1:1", trusted,
			http.Header{"X-Forwarded-For": {"198.51.100.1, not-an-ip"}}, "10.0.0.1"},
		{"X-Real-IpIgnoredEvenFromTrustedPeer", "10.0.0.1:1", trusted,
			http.Header{"X-Real-Ip": {"198.51.100.2"}}, "10.0.0.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/login", nil)
			r.RemoteAddr = tc.remote
			for k, v := range tc.header {
				r.Header[k] = v
			}
			if got := auth.Client(r, tc.trusted); got != tc.want {
				t.Errorf("Client = %q, want %q", got, tc.want)
			}
		})
	}
}
