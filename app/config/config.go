// Package config loads the service's settings from environment variables and
// matching command-line flags. Flags win over variables, variables over
// defaults. Every bad value stops the start with one line naming it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the whole of the service's settings.
type Config struct {
	ProxyHost string // PROXY_HOST: the proxy's listen host
	ProxyPort int    // PROXY_PORT
	WebHost   string // WEB_HOST: the dashboard's listen host
	WebPort   int    // WEB_PORT

	UpstreamBase *url.URL // OPENAI_API_BASE: where every path is forwarded

	DefaultAPIKey  string         // DEFAULT_APIKEY: injected into keyless requests; "" = none
	SuperAdminKeys []string       // SUPER_ADMIN_APIKEY: comma-separated admin keys
	MaxHistory     int            // MAX_REQUESTS_HISTORY: newest records kept; 0 = unlimited
	PageSize       int            // PAGE_SIZE: dashboard rows per page
	RequestTimeout time.Duration  // REQUEST_TIMEOUT: the longest silence (headers, either body, a stalled write)
	StreamMax      time.Duration  // STREAM_MAX_DURATION: cap on a whole exchange; 0 = none
	QueueBytes     int64          // RECORD_QUEUE_BYTES: byte budget of records waiting for the writer
	TrustedProxies []netip.Prefix // TRUSTED_PROXIES: peers whose X-Forwarded-For the login limiter believes
	DataDir        string         // DATA_DIR: holds proxy_requests.db, or only the search index with DATABASE_URL
	DatabaseURL    string         // DATABASE_URL: postgres://… selects PostgreSQL; "" = SQLite in DATA_DIR
	Role           Role           // ROLE / -role: which parts of the service this process runs
	BodyLimit      int            // BODY_CAPTURE_LIMIT: bytes of each body kept in the record
	RetryCount     int            // RETRY_COUNT: extra upstream attempts before the first byte
	RetryBodyLimit int            // RETRY_BODY_LIMIT: larger request bodies stream through without retry
	ShutdownGrace  time.Duration
	LogLevel       slog.Level
	LogFormat      string // "text" or "json"
	SessionSecret  string // SESSION_SECRET: dashboard cookie key; generated into DATA_DIR when empty
	CookieSecure   bool   // COOKIE_SECURE: mark the session cookie Secure (behind HTTPS)
	MetricsToken   string // METRICS_TOKEN: bearer token /metrics requires; "" = open
	Demo           bool   // -demo: run the in-process mock upstream and demo traffic
}

// Role is which parts of the service a process runs.
type Role string

// The roles. Several proxies and dashboards may share one PostgreSQL.
const (
	RoleAll       Role = "all"       // the proxy and the dashboard: the default
	RoleProxy     Role = "proxy"     // the proxy only: it records into the shared database
	RoleDashboard Role = "dashboard" // the dashboard, the API, the search index and retention
)

// Proxy reports whether the role runs the proxy.
func (r Role) Proxy() bool { return r != RoleDashboard }

// Dashboard reports whether the role runs the dashboard.
func (r Role) Dashboard() bool { return r != RoleProxy }

// DBPath is the SQLite file inside DataDir.
func (c Config) DBPath() string { return strings.TrimRight(c.DataDir, "/") + "/proxy_requests.db" }

// SearchDir is the search index's directory inside DataDir.
func (c Config) SearchDir() string { return strings.TrimRight(c.DataDir, "/") + "/search" }

// ProxyAddr is the proxy's listen address.
func (c Config) ProxyAddr() string { return net.JoinHostPort(c.ProxyHost, strconv.Itoa(c.ProxyPort)) }

// WebAddr is the dashboard's listen address.
func (c Config) WebAddr() string { return net.JoinHostPort(c.WebHost, strconv.Itoa(c.WebPort)) }

// setting describes one variable: its name, default and how to parse it.
type setting struct {
	env, def, usage string
	set             func(c *Config, v string) error
}

// secretSettings hold credentials: an error names them, never their value.
var secretSettings = map[string]bool{"DATABASE_URL": true}

// settings lists every variable, in the order the README documents them.
var settings = []setting{
	{"PROXY_HOST", "127.0.0.1", "proxy listen host", func(c *Config, v string) error { c.ProxyHost = v; return nil }},
	{"PROXY_PORT", "8080", "proxy listen port", func(c *Config, v string) error { return port(&c.ProxyPort, v) }},
	{"WEB_HOST", "127.0.0.1", "dashboard listen host", func(c *Config, v string) error { c.WebHost = v; return nil }},
	{"WEB_PORT", "8081", "dashboard listen port", func(c *Config, v string) error { return port(&c.WebPort, v) }},
	{"OPENAI_API_BASE", "https://openrouter.ai/api/v1", "upstream base URL", func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("want an http(s) URL such as https://openrouter.ai/api/v1")
		}
		u.Path = strings.TrimRight(u.Path, "/")
		c.UpstreamBase = u
		return nil
	}},
	{"DEFAULT_APIKEY", "", "key injected into requests that carry none", func(c *Config, v string) error { c.DefaultAPIKey = v; return nil }},
	{"SUPER_ADMIN_APIKEY", "", "comma-separated admin keys for the dashboard", func(c *Config, v string) error {
		c.SuperAdminKeys = nil
		for k := range strings.SplitSeq(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				c.SuperAdminKeys = append(c.SuperAdminKeys, k)
			}
		}
		return nil
	}},
	{"MAX_REQUESTS_HISTORY", "100000", "newest records kept; 0 = unlimited", func(c *Config, v string) error { return atLeast(&c.MaxHistory, v, 0) }},
	{"PAGE_SIZE", "20", "dashboard rows per page", func(c *Config, v string) error { return atLeast(&c.PageSize, v, 1) }},
	{"REQUEST_TIMEOUT", "300", "longest silence in seconds: waiting for the answer's headers, within either body, or on a write the client does not read", func(c *Config, v string) error { return seconds(&c.RequestTimeout, v) }},
	{"STREAM_MAX_DURATION", "0", "seconds a whole exchange may take; 0 = no cap", func(c *Config, v string) error {
		if v == "0" {
			c.StreamMax = 0
			return nil
		}
		return seconds(&c.StreamMax, v)
	}},
	{"RECORD_QUEUE_BYTES", "268435456", "bytes of records that may wait for the database writer", func(c *Config, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1<<20 {
			return errors.New("want a whole number of bytes >= 1048576")
		}
		c.QueueBytes = n
		return nil
	}},
	{"TRUSTED_PROXIES", "", "comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For is believed", func(c *Config, v string) error {
		c.TrustedProxies = nil
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if !strings.Contains(part, "/") {
				a, err := netip.ParseAddr(part)
				if err != nil {
					return fmt.Errorf("%q is not an IP address or CIDR", part)
				}
				c.TrustedProxies = append(c.TrustedProxies, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return fmt.Errorf("%q is not an IP address or CIDR", part)
			}
			c.TrustedProxies = append(c.TrustedProxies, p.Masked())
		}
		return nil
	}},
	{"DATA_DIR", "./data", "directory of proxy_requests.db", func(c *Config, v string) error {
		if v == "" {
			return errors.New("must not be empty")
		}
		c.DataDir = v
		return nil
	}},
	{"DATABASE_URL", "", "postgres://user:password@host:5432/db for PostgreSQL (shared by replicas); empty = SQLite in DATA_DIR", func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			return errors.New("want a URL such as postgres://user:password@host:5432/openrouter_proxy")
		}
		c.DatabaseURL = v
		return nil
	}},
	{"ROLE", "all", "what this process runs: all, proxy (records into DATABASE_URL) or dashboard", func(c *Config, v string) error {
		switch r := Role(v); r {
		case RoleAll, RoleProxy, RoleDashboard:
			c.Role = r
			return nil
		}
		return errors.New("want all, proxy or dashboard")
	}},
	{"BODY_CAPTURE_LIMIT", "1048576", "bytes of each body kept in the record", func(c *Config, v string) error { return atLeast(&c.BodyLimit, v, 0) }},
	{"RETRY_COUNT", "2", "retries before the first byte (connection errors, 429, 502-504)", func(c *Config, v string) error { return atLeast(&c.RetryCount, v, 0) }},
	{"RETRY_BODY_LIMIT", "4194304", "request bodies larger than this stream through without retry", func(c *Config, v string) error { return atLeast(&c.RetryBodyLimit, v, 0) }},
	{"SHUTDOWN_GRACE", "30", "seconds in-flight requests get to finish on SIGTERM", func(c *Config, v string) error { return seconds(&c.ShutdownGrace, v) }},
	{"LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config, v string) error {
		return c.LogLevel.UnmarshalText([]byte(v))
	}},
	{"LOG_FORMAT", "text", "text or json", func(c *Config, v string) error {
		if v != "text" && v != "json" {
			return errors.New("want text or json")
		}
		c.LogFormat = v
		return nil
	}},
	{"SESSION_SECRET", "", "dashboard session key; generated into DATA_DIR when empty", func(c *Config, v string) error { c.SessionSecret = v; return nil }},
	{"METRICS_TOKEN", "", "bearer token that GET /metrics requires; empty leaves it open", func(c *Config, v string) error { c.MetricsToken = v; return nil }},
	{"COOKIE_SECURE", "false", "mark the session cookie Secure (serve the dashboard over HTTPS)", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.CookieSecure = b
		return err
	}},
}

// FlagName is the command-line flag matching an environment variable:
// PROXY_PORT becomes -proxy-port.
func FlagName(env string) string { return strings.ReplaceAll(strings.ToLower(env), "_", "-") }

// Load reads the settings. getenv is os.Getenv in production and a map in
// tests; args are the command-line arguments without the program name.
// Usage and errors go to out (e.g. on -h).
func Load(getenv func(string) string, args []string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("openrouter-proxy", flag.ContinueOnError)
	fs.SetOutput(out)
	// Flags show the built-in defaults, never the environment's values:
	// usage text ends up in logs, and the environment holds keys.
	flags := make([]*string, len(settings))
	for i, s := range settings {
		flags[i] = fs.String(FlagName(s.env), s.def, s.usage+" ($"+s.env+")")
	}
	var c Config
	fs.BoolVar(&c.Demo, "demo", false, "offline demo: start the mock upstream in-process and send demo traffic")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for i, s := range settings {
		v := *flags[i]
		if e := getenv(s.env); e != "" && !given[FlagName(s.env)] {
			v = e
		}
		if err := s.set(&c, v); err != nil {
			if secretSettings[s.env] {
				return Config{}, fmt.Errorf("config: %s: %v", s.env, err)
			}
			return Config{}, fmt.Errorf("config: %s=%q: %v", s.env, v, err)
		}
	}
	if c.Role != RoleAll && c.DatabaseURL == "" {
		return Config{}, fmt.Errorf("config: ROLE=%s needs DATABASE_URL: separate proxies and dashboards share one PostgreSQL; with SQLite run ROLE=all", c.Role)
	}
	return c, nil
}

func port(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 65535 {
		return errors.New("want a port number 0-65535")
	}
	*dst = n
	return nil
}

func atLeast(dst *int, v string, lo int) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo {
		return fmt.Errorf("want a whole number >= %d", lo)
	}
	*dst = n
	return nil
}

func seconds(dst *time.Duration, v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		return errors.New("want a number of seconds > 0")
	}
	*dst = time.Duration(f * float64(time.Second))
	return nil
}
