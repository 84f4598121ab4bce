// Command openrouter-proxy is a recording reverse proxy for OpenRouter and
// other OpenAI-compatible APIs, with a live dashboard of every exchange.
//
//	go run ./app                 # proxy on :8080, dashboard on :8081
//	go run ./app -demo           # the same, offline, against a built-in mock upstream
//	go run ./app mock-upstream   # only the mock upstream
//	go run ./app reindex         # rebuild the search index from the database (service stopped)
//	go run ./app import-seed old.db  # bring in the original Python system's history
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/openrouter-proxy/openrouter-proxy/app/auth"
	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/config"
	"github.com/openrouter-proxy/openrouter-proxy/app/follow"
	"github.com/openrouter-proxy/openrouter-proxy/app/live"
	"github.com/openrouter-proxy/openrouter-proxy/app/metrics"
	"github.com/openrouter-proxy/openrouter-proxy/app/mockupstream"
	"github.com/openrouter-proxy/openrouter-proxy/app/proxy"
	"github.com/openrouter-proxy/openrouter-proxy/app/search"
	"github.com/openrouter-proxy/openrouter-proxy/app/seed"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
}

// run is the whole program; main only adds signals and the exit code, so
// tests start the real thing with their own environment and context. Tests
// may add store hooks, to await commits instead of polling the database.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, hooks ...store.Hook) error {
	if len(args) > 0 {
		switch args[0] {
		case "mock-upstream":
			return runMock(ctx, args[1:], stdout, stderr)
		case "reindex":
			return runReindex(ctx, args[1:], getenv, stderr)
		case "import-seed":
			return runImportSeed(ctx, args[1:], getenv, stderr)
		}
	}
	cfg, err := config.Load(getenv, args, stderr)
	if err != nil {
		return err
	}
	if cfg.Demo && cfg.Role != config.RoleAll {
		return errors.New("config: -demo runs the whole service: leave ROLE at all")
	}
	log := newLogger(cfg, stderr)

	// Listen before anything else so a busy port fails fast and clearly.
	// The proxy role has no dashboard, but its health and metrics are
	// served on the dashboard's port.
	var proxyLn net.Listener
	if cfg.Role.Proxy() {
		if proxyLn, err = net.Listen("tcp", cfg.ProxyAddr()); err != nil {
			return fmt.Errorf("proxy: listen on %s (PROXY_HOST/PROXY_PORT): %w", cfg.ProxyAddr(), err)
		}
		defer proxyLn.Close()
	}
	webLn, err := net.Listen("tcp", cfg.WebAddr())
	if err != nil {
		return fmt.Errorf("dashboard: listen on %s (WEB_HOST/WEB_PORT): %w", cfg.WebAddr(), err)
	}
	defer webLn.Close()

	var demoKeys []string
	var demoAdmin string // printed with the banner: made up for this run
	if cfg.Demo {
		mockURL, stopMock, err := startMock(log)
		if err != nil {
			return err
		}
		defer stopMock()
		cfg.UpstreamBase = mockURL
		demoKeys, demoAdmin = demoSetup(&cfg)
	}

	tracker := live.New()
	mx := metrics.New(metrics.Options{})
	// On a shared database a dashboard's follower (below) brings the live
	// table and the index every replica's commits, this process's
	// included; elsewhere the writer's hook does.
	followed := cfg.DatabaseURL != "" && cfg.Role.Dashboard()
	trackHook := store.Hook{AfterPrune: tracker.Pruned}
	if !followed {
		trackHook.AfterCommit = tracker.Committed
	}
	storeHooks := []store.Hook{mx.Hook(), trackHook}
	var toIndex indexHooks // the index opens after the store it reads from
	if cfg.Role.Dashboard() {
		h := store.Hook{AfterPrune: toIndex.pruned}
		if !followed {
			h.AfterCommit = toIndex.committed
		}
		storeHooks = append(storeHooks, h)
	}
	st, err := openStore(ctx, cfg, storeOptions{
		QueueBytes: cfg.QueueBytes,
		MaxHistory: retention(cfg),
		Logger:     log,
		Progress:   rollupProgress(stderr),
		OnCommit:   mx.ObserveCommit,
		Hooks:      append(storeHooks, hooks...),
	})
	if err != nil {
		return err
	}
	defer st.Close()

	var px *proxy.Proxy
	var proxySrv *http.Server
	if cfg.Role.Proxy() {
		px = proxy.New(proxy.Options{
			Upstream:       cfg.UpstreamBase,
			DefaultKey:     cfg.DefaultAPIKey,
			Timeout:        cfg.RequestTimeout,
			MaxDuration:    cfg.StreamMax,
			Retries:        cfg.RetryCount,
			RetryBodyLimit: cfg.RetryBodyLimit,
			BodyLimit:      cfg.BodyLimit,
			DropCookies:    []string{auth.CookieName},
			Recorder:       st,
			Tracker:        tracker,
			Logger:         log,
		})
		proxySrv = newServer(px, log)
	}

	var index *search.Index
	var webHandler http.Handler
	if cfg.Role.Dashboard() {
		// Opened before the proxy serves, so that it checks itself against
		// the database before anything new is committed.
		index, err = search.Open(search.Options{Dir: cfg.SearchDir(), Source: st, Logger: log})
		if err != nil {
			return fmt.Errorf("%w (DATA_DIR)", err)
		}
		defer index.Close()
		toIndex.set(index)
		mx.Watch(st, index)
		if followed {
			if err := followReplicas(ctx, st, tracker, index, mx, log); err != nil {
				return err
			}
		}
		// The proxy's address for copy-as-curl: this process's own, else
		// (a dashboard of proxy replicas) the configured one.
		proxyURL := "http://" + cfg.ProxyAddr()
		if proxyLn != nil {
			proxyURL = "http://" + proxyLn.Addr().String()
		}
		if webHandler, err = dashboard(ctx, cfg, st, index, tracker, mx, proxyURL, log); err != nil {
			return err
		}
		go expireSessions(ctx, st, log)
	} else {
		mx.Watch(st, nil)
		webHandler = web.Ops(st.Health, mx.Handler(cfg.MetricsToken))
	}
	webSrv := newServer(webHandler, log)

	errc := make(chan error, 2)
	if proxySrv != nil {
		go func() { errc <- serve(proxySrv, proxyLn) }()
	}
	go func() { errc <- serve(webSrv, webLn) }()
	printBanner(stdout, cfg, proxyLn, webLn.Addr(), demoAdmin)
	log.Info("started", "role", cfg.Role, "proxy", addrOf(proxyLn), "dashboard", webLn.Addr().String(),
		"upstream", cfg.UpstreamBase.Redacted(), "data", dataName(cfg))

	if cfg.Demo {
		go mockupstream.Traffic(ctx, "http://"+proxyLn.Addr().String()+"/v1", demoKeys, log)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}

	// Stop accepting, let in-flight streams finish within the grace period,
	// then cut what is left; every exchange still gets its record.
	log.Info("shutting down", "grace", cfg.ShutdownGrace)
	// The dashboard has only short requests; it stops alongside the proxy,
	// on its own deadline, and before the store closes under it.
	webDone := make(chan struct{})
	go func() {
		webCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if webSrv.Shutdown(webCtx) != nil {
			webSrv.Close()
		}
		close(webDone)
	}()
	if proxySrv != nil {
		graceCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
		defer cancel()
		if err := proxySrv.Shutdown(graceCtx); err != nil {
			log.Warn("grace period over; closing open connections", "err", err)
			px.CutOff()
			proxySrv.Close()
		}
	}
	<-webDone
	if px != nil {
		px.Wait()
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("store: flush on shutdown: %w", err)
	}
	// What the index has not taken yet, it reads from the database next time.
	if index != nil {
		if err := index.Close(); err != nil {
			log.Warn("search: close the index", "err", err)
		}
	}
	log.Info("stopped")
	return nil
}

// retention is MAX_REQUESTS_HISTORY for the processes that run retention:
// the dashboard's work, so that proxy replicas only record.
func retention(cfg config.Config) int {
	if !cfg.Role.Dashboard() {
		return 0
	}
	return cfg.MaxHistory
}

// dashboard returns the dashboard's handler.
func dashboard(ctx context.Context, cfg config.Config, st store.Store, index *search.Index, tracker *live.Tracker, mx *metrics.Metrics, proxyURL string, log *slog.Logger) (http.Handler, error) {
	// On a shared database every dashboard replica must sign cookies with
	// the same key: unless SESSION_SECRET says which, it is kept there.
	var secret []byte
	var err error
	if cfg.DatabaseURL != "" && cfg.SessionSecret == "" {
		secret, err = auth.SharedSecret(ctx, st)
	} else {
		secret, err = auth.LoadSecret(cfg.SessionSecret, cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	dash := &web.Server{
		Store:  st,
		Search: index,
		Auth: auth.New(auth.Options{
			AdminKeys: cfg.SuperAdminKeys, DefaultKey: cfg.DefaultAPIKey, Secret: secret,
			CookieSecure: cfg.CookieSecure, Sessions: st, Known: st,
		}),
		Limiter:        auth.NewLimiter(10, 15*time.Minute, st),
		TrustedProxies: cfg.TrustedProxies,
		Live:           tracker,
		PageSize:       cfg.PageSize,
		ProxyURL:       proxyURL,
		Demo:           cfg.Demo,
		Health:         st.Health,
		Metrics:        mx.Handler(cfg.MetricsToken),
		Log:            log,
	}
	return dash.Handler(), nil
}

// followReplicas starts following a shared database: every replica's
// commits, from now on, reach the live table, the search index (which
// caught up on the history by itself) and the index lag's metric within a
// poll interval, and what
// another replica's retention deleted leaves the index.
func followReplicas(ctx context.Context, st store.Store, tracker *live.Tracker, index *search.Index, mx *metrics.Metrics, log *slog.Logger) error {
	from, err := st.LastSeq(ctx)
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	f := follow.New(follow.Options{
		Source:    st,
		Committed: []func([]*capture.Record){tracker.Committed, index.Committed, mx.Followed},
		Logger:    log,
	}, from)
	go f.Run(ctx)
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				index.Reconcile()
			}
		}
	}()
	return nil
}

// addrOf is a listener's address, or "" without one.
func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// dataName says where the records are kept, without credentials.
func dataName(cfg config.Config) string {
	if cfg.DatabaseURL == "" {
		return cfg.DBPath()
	}
	if u, err := url.Parse(cfg.DatabaseURL); err == nil {
		return u.Redacted()
	}
	return "postgres"
}

// indexHooks forwards the store's commit and prune hooks to the search
// index, which can only open after the store it reads from.
type indexHooks struct{ ix atomic.Pointer[search.Index] }

func (h *indexHooks) set(ix *search.Index) { h.ix.Store(ix) }

func (h *indexHooks) committed(batch []*capture.Record) {
	if ix := h.ix.Load(); ix != nil {
		ix.Committed(batch)
	}
}

func (h *indexHooks) pruned(ids []string) {
	if ix := h.ix.Load(); ix != nil {
		ix.Pruned(ids)
	}
}

// progress returns a progress callback that draws a bar with a count, a
// rate and an ETA on stderr, created at the first call, and finish, which
// completes it if it was drawn.
func progress(stderr io.Writer, desc, unit string) (update func(done, total int64), finish func()) {
	var bar *progressbar.ProgressBar
	update = func(done, total int64) {
		if bar == nil {
			bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(stderr),
				progressbar.OptionSetDescription(desc),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString(unit),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionThrottle(200*time.Millisecond),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }),
			)
		}
		bar.ChangeMax64(total)
		bar.Set64(done)
	}
	finish = func() {
		if bar != nil {
			bar.Finish()
		}
	}
	return update, finish
}

// rollupProgress returns the store's Progress callback: a progress bar on
// stderr while Open builds the rollups of a database written before they
// existed. A database that has them shows nothing.
func rollupProgress(stderr io.Writer) func(done, total int64) {
	update, finish := progress(stderr, "building statistics", "records")
	return func(done, total int64) {
		update(done, total)
		if done >= total {
			finish()
		}
	}
}

// runReindex rebuilds the search index from the database, with a progress bar:
// `openrouter-proxy reindex`. The service must be stopped first.
func runReindex(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := config.Load(getenv, args, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	st, err := openStore(ctx, cfg, storeOptions{Logger: log, Progress: rollupProgress(stderr)})
	if err != nil {
		return err
	}
	defer st.Close()
	feed, err := st.Feed(ctx)
	if err != nil {
		return err
	}
	update, finish := progress(stderr, "indexing", "records")
	update(0, feed.Count)
	start := time.Now()
	n, err := search.Reindex(ctx, search.Options{Dir: cfg.SearchDir(), Source: st, Logger: log, Progress: update})
	if err != nil {
		return fmt.Errorf("reindex: %w", err)
	}
	finish()
	fmt.Fprintf(stderr, "indexed %d records in %s\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// runImportSeed records the history of the original Python system:
// `openrouter-proxy import-seed [-tz ZONE] PATH [settings]`. Records go
// through the store's writer like live traffic, so the rollups count them;
// the search index takes them from the database when the service next
// starts (a dashboard on a shared database takes them at once).
// Rows already imported are skipped, so running it twice changes nothing.
func runImportSeed(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("import-seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tz := fs.String("tz", "UTC", "time zone of the old timestamps written without one, e.g. Asia/Shanghai or Local")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: openrouter-proxy import-seed [-tz ZONE] PATH [settings flags such as -data-dir]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("import-seed: want the path of the original system's database, e.g. import-seed ./proxy_requests.db")
	}
	path := fs.Arg(0)
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fmt.Errorf("import-seed: -tz %q: not a time zone such as UTC, Local or Asia/Shanghai", *tz)
	}
	cfg, err := config.Load(getenv, fs.Args()[1:], stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	src, err := seed.Open(ctx, path)
	if err != nil {
		return fmt.Errorf("import-seed: %w", err)
	}
	defer src.Close()
	// Not beside the service, whose writer would keep its rollup state in
	// memory while this one changes it; the service cannot start meanwhile.
	lock, err := search.Lock(cfg.SearchDir())
	if err != nil {
		return fmt.Errorf("import-seed: %w", err)
	}
	defer lock.Close()
	st, err := openStore(ctx, cfg, storeOptions{
		QueueBytes: min(cfg.QueueBytes, seed.StoreQueueBytes), QueueWait: seed.StoreQueueWait, BatchSize: seed.StoreBatch, Logger: log,
		Progress: rollupProgress(stderr),
	})
	if err != nil {
		return err
	}
	defer st.Close()
	update, finish := progress(stderr, "importing", "rows")
	update(0, -1)
	start := time.Now()
	sum, err := src.Import(ctx, st, seed.ImportOptions{
		Options:  seed.Options{Location: loc, BodyLimit: cfg.BodyLimit},
		Logger:   log,
		Progress: update,
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("import-seed: interrupted after %s; run it again to bring in the rest", sum)
		}
		return fmt.Errorf("import-seed: %w", err)
	}
	finish()
	if lost := st.Health().Lost; lost > 0 {
		return fmt.Errorf("import-seed: %d records could not be written (the log names them); run it again to bring them in", lost)
	}
	took := time.Since(start)
	fmt.Fprintf(stderr, "%s in %s (%.0f rows/s)\n", sum, took.Round(time.Millisecond), float64(sum.Rows)/took.Seconds())
	if sum.Imported > 0 {
		fmt.Fprintln(stderr, "the search index takes the new records from the database when the service next starts")
	}
	if feed, err := st.Feed(ctx); err == nil && cfg.MaxHistory > 0 && feed.Count > int64(cfg.MaxHistory) {
		fmt.Fprintf(stderr, "note: the store holds %d records and MAX_REQUESTS_HISTORY=%d: the service will delete the oldest beyond it (set MAX_REQUESTS_HISTORY=0 to keep them all)\n",
			feed.Count, cfg.MaxHistory)
	}
	return nil
}

// newServer returns a server without a write timeout, which would cut long
// streams, but with a read-header timeout against slowloris clients.
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// printBanner prints the seed's start-up banner. demoAdmin is the admin key
// -demo made up, if any; a configured key is never printed.
func printBanner(w io.Writer, cfg config.Config, proxyLn net.Listener, webAddr net.Addr, demoAdmin string) {
	line := "============================================================"
	mode := ""
	switch {
	case cfg.Demo:
		mode = " (demo: offline mock upstream)"
	case cfg.Role != config.RoleAll:
		mode = " (role: " + string(cfg.Role) + ")"
	}
	fmt.Fprintf(w, "🚀 OpenRouter proxy%s\n%s\n", mode, line)
	if proxyLn != nil {
		fmt.Fprintf(w, "📡 Proxy server: http://%s\n", proxyLn.Addr())
	}
	if cfg.Role.Dashboard() {
		fmt.Fprintf(w, "🌐 Web dashboard: http://%s\n", webAddr)
	} else {
		fmt.Fprintf(w, "🩺 Health and metrics: http://%s/healthz, /metrics\n", webAddr)
	}
	if demoAdmin != "" {
		fmt.Fprintf(w, "🔑 Demo admin key (log in with it): %s\n", demoAdmin)
	}
	fmt.Fprintln(w, line)
}

// startMock serves the mock upstream on a free loopback port for -demo.
func startMock(log *slog.Logger) (*url.URL, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("demo: start mock upstream: %w", err)
	}
	srv := newServer(mockupstream.New(), log)
	go srv.Serve(ln)
	u := &url.URL{Scheme: "http", Host: ln.Addr().String(), Path: "/api/v1"}
	return u, func() { srv.Close() }, nil
}

// runMock runs only the mock upstream: `openrouter-proxy mock-upstream`.
func runMock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mock-upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	fmt.Fprintf(stdout, "🧪 Mock OpenRouter upstream: http://%s/api/v1\n", *addr)
	return mockupstream.Serve(ctx, *addr, log)
}

// storeOptions is what the program asks of whichever store it opens.
type storeOptions struct {
	QueueBytes int64
	QueueWait  time.Duration
	BatchSize  int
	MaxHistory int
	Progress   func(done, total int64)
	Hooks      []store.Hook
	OnCommit   func(took time.Duration, records int)
	Logger     *slog.Logger
}

// openStore opens the store cfg names: the PostgreSQL database of
// DATABASE_URL, else the SQLite file in DATA_DIR. The rest of the program
// sees it only as a store.Store.
func openStore(ctx context.Context, cfg config.Config, o storeOptions) (store.Store, error) {
	if cfg.DatabaseURL != "" {
		st, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{
			QueueBytes: o.QueueBytes, QueueWait: o.QueueWait, BatchSize: o.BatchSize, MaxHistory: o.MaxHistory,
			Progress: o.Progress, Hooks: o.Hooks, OnCommit: o.OnCommit, Logger: o.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("%w (DATABASE_URL)", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, cfg.DBPath(), sqlite.Options{
		QueueBytes: o.QueueBytes, QueueWait: o.QueueWait, BatchSize: o.BatchSize, MaxHistory: o.MaxHistory,
		Progress: o.Progress, Hooks: o.Hooks, OnCommit: o.OnCommit, Logger: o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s (DATA_DIR): %w", cfg.DBPath(), err)
	}
	return st, nil
}

// expireSessions deletes expired dashboard sessions once an hour.
func expireSessions(ctx context.Context, st store.Store, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if _, err := st.DeleteExpiredSessions(ctx, time.Now()); err != nil && ctx.Err() == nil {
			log.Warn("expire sessions", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// demoSetup gives -demo a few user keys for its traffic and, unless one is
// configured, an admin key made up for this run, which it returns to be
// printed.
func demoSetup(cfg *config.Config) (userKeys []string, madeUpAdmin string) {
	if len(cfg.SuperAdminKeys) == 0 {
		madeUpAdmin = "sk-or-v1-demo-admin-" + randomHex(16)
		cfg.SuperAdminKeys = []string{madeUpAdmin}
	}
	if cfg.DefaultAPIKey == "" {
		cfg.DefaultAPIKey = "sk-or-v1-demo-default-" + randomHex(16)
	}
	userKeys = []string{
		"sk-or-v1-demo-alice-" + randomHex(16),
		"sk-or-v1-demo-bob-" + randomHex(16),
		"", // anonymous: gets DEFAULT_APIKEY
	}
	return userKeys, madeUpAdmin
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
