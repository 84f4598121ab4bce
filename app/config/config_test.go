package config_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(nil), nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ProxyAddr() != "127.0.0.1:8080" || c.WebAddr() != "127.0.0.1:8081" {
		t.Errorf("addrs %s %s", c.ProxyAddr(), c.WebAddr())
	}
	if c.UpstreamBase.String() != "https://openrouter.ai/api/v1" {
		t.Errorf("upstream %s", c.UpstreamBase)
	}
	if c.RequestTimeout != 300*time.Second || c.PageSize != 20 || c.MaxHistory != 100000 || c.BodyLimit != 1<<20 || c.RetryCount != 2 {
		t.Errorf("defaults %+v", c)
	}
	if c.StreamMax != 0 || c.QueueBytes != 256<<20 || c.TrustedProxies != nil {
		t.Errorf("stream cap %v, queue bytes %d, trusted %v", c.StreamMax, c.QueueBytes, c.TrustedProxies)
	}
	if c.DBPath() != "./data/proxy_requests.db" {
		t.Errorf("db path %s", c.DBPath())
	}
}

func TestPrecedence(t *testing.T) {
	c, err := config.Load(env(map[string]string{"PROXY_PORT": "9000", "WEB_PORT": "9001", "SUPER_ADMIN_APIKEY": " a, b ,,c"}),
		[]string{"-proxy-port", "9100", "-openai-api-base", "http://127.0.0.1:1/api/v1/"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ProxyPort != 9100 || c.WebPort != 9001 {
		t.Errorf("flag must beat env, env must beat default: %d %d", c.ProxyPort, c.WebPort)
	}
	if c.UpstreamBase.String() != "http://127.0.0.1:1/api/v1" {
		t.Errorf("trailing slash kept: %s", c.UpstreamBase)
	}
	if strings.Join(c.SuperAdminKeys, "|") != "a|b|c" {
		t.Errorf("admin keys %q", c.SuperAdminKeys)
	}
}

func TestBadValues(t *testing.T) {
	for _, tc := range []struct{ env, val string }{
		{"PROXY_PORT", "http"},
		{"WEB_PORT", "70000"},
		{"OPENAI_API_BASE", "openrouter.ai"},
		{"OPENAI_API_BASE", "ftp://x"},
		{"REQUEST_TIMEOUT", "0"},
		{"STREAM_MAX_DURATION", "-1"},
		{"RECORD_QUEUE_BYTES", "1000"},
		{"TRUSTED_PROXIES", "10.0.0.0/33"},
		{"TRUSTED_PROXIES", "proxy.local"},
		{"MAX_REQUESTS_HISTORY", "-5"},
		{"PAGE_SIZE", "0"},
		{"LOG_LEVEL", "loud"},
		{"LOG_FORMAT", "yaml"},
		{"BODY_CAPTURE_LIMIT", "1MB"},
		{"COOKIE_SECURE", "perhaps"},
		{"DATABASE_URL", "mysql://u:p@db/x"},
		{"DATABASE_URL", "db.local:5432"},
		{"ROLE", "worker"},
	} {
		t.Run(tc.env+"="+tc.val, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{tc.env: tc.val}), nil, io.Discard)
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.env) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s", msg, tc.env)
			}
		})
	}
}

func TestUsageNeverShowsEnvironment(t *testing.T) {
	const secret = "sk-or-v1-this-must-not-be-printed-0123456789"
	var out strings.Builder
	_, err := config.Load(env(map[string]string{"DEFAULT_APIKEY": secret, "SUPER_ADMIN_APIKEY": secret}), []string{"-h"}, &out)
	if err == nil || !strings.Contains(out.String(), "-default-apikey") {
		t.Fatalf("err %v; usage %q", err, out.String())
	}
	if strings.Contains(out.String(), secret) {
		t.Fatal("usage text shows a key from the environment")
	}
}

// TestDatabaseURLNeverPrinted: a DATABASE_URL that does not parse is named
// in the error, its password is not.
func TestDatabaseURLNeverPrinted(t *testing.T) {
	const password = "hunter2-must-not-be-printed"
	_, err := config.Load(env(map[string]string{"DATABASE_URL": "mysql://app:" + password + "@db:3306/x"}), nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), password) {
		t.Fatalf("error %v: want DATABASE_URL named, without its password", err)
	}
}

// TestRoles: the default runs everything; proxy and dashboard run one part
// each and need a shared database.
func TestRoles(t *testing.T) {
	c, err := config.Load(env(nil), nil, io.Discard)
	if err != nil || c.Role != config.RoleAll || !c.Role.Proxy() || !c.Role.Dashboard() || c.DatabaseURL != "" {
		t.Fatalf("default: %+v, %v", c.Role, err)
	}
	const url = "postgres://app:pw@127.0.0.1:5432/proxy"
	c, err = config.Load(env(map[string]string{"DATABASE_URL": url}), []string{"-role=proxy"}, io.Discard)
	if err != nil || c.Role != config.RoleProxy || !c.Role.Proxy() || c.Role.Dashboard() || c.DatabaseURL != url {
		t.Fatalf("-role=proxy: %+v, %v", c, err)
	}
	c, err = config.Load(env(map[string]string{"DATABASE_URL": url, "ROLE": "dashboard"}), nil, io.Discard)
	if err != nil || c.Role.Proxy() || !c.Role.Dashboard() {
		t.Fatalf("ROLE=dashboard: %+v, %v", c.Role, err)
	}
	_, err = config.Load(env(nil), []string{"-role=dashboard"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("-role=dashboard on SQLite: %v; want one line asking for DATABASE_URL", err)
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := config.Load(env(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1,::1", "STREAM_MAX_DURATION": "1200"}), nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range c.TrustedProxies {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 127.0.0.1/32 ::1/128" {
		t.Errorf("trusted proxies %q", got)
	}
	if c.StreamMax != 20*time.Minute {
		t.Errorf("stream cap %v", c.StreamMax)
	}
}
