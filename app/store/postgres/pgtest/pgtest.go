// Package pgtest runs throwaway PostgreSQL clusters for tests: initdb into
// a temporary directory, a server that listens only on 127.0.0.1 on a free
// port (and on a unix socket in that directory), a fresh database per test,
// and removal of it all afterwards. It is imported only by tests.
//
// It needs PostgreSQL's server binaries: Debian's package postgresql puts
// them in /usr/lib/postgresql/15/bin (PGTEST_BINDIR names another
// directory). They are not optional: without them a test fails, it is not
// skipped, so that CI cannot pass without having run the PostgreSQL tests.
//
// initdb and postgres refuse to run as root, so under root the cluster runs
// as the user nobody, in a directory given to it.
//
// A test binary shares one cluster, since initdb takes seconds:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
//
//	func TestX(t *testing.T) {
//		url := pgtest.Start(t).NewDatabase(t)
//		…
//	}
//
// Clusters run with fsync off, which is fine for tests and wrong for
// timing commits: a benchmark asks for a durable cluster of its own with
// NewWith(tb, Options{Durable: true}).
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// defaultBinDir is where Debian's postgresql package (PostgreSQL 15) puts
// initdb, pg_ctl and postgres.
const defaultBinDir = "/usr/lib/postgresql/15/bin"

// startTimeout bounds initdb and the server's start and stop; on a busy
// two-core machine initdb takes a few seconds.
const startTimeout = 2 * time.Minute

// readyMessage is what the server logs once it accepts connections (the
// messages are in English: the cluster's lc_messages is C).
const readyMessage = "database system is ready to accept connections"

// Cluster is one PostgreSQL server and its data directory, both temporary.
// Its methods are safe for concurrent use, but Stop and Restart affect every
// test that uses the cluster: a test that stops the server uses New.
type Cluster struct {
	opts Options
	bin  string              // directory of the PostgreSQL binaries
	root string              // temporary directory: data/, the unix socket
	cred *syscall.Credential // the user the cluster runs as; nil: this process's
	port int

	mu     sync.Mutex
	server *server // nil while stopped
}

// server is one run of the postgres process.
type server struct {
	cmd    *exec.Cmd
	log    *logTail
	exited chan struct{} // closed once the process has exited
	err    error         // how it exited, once exited is closed
}

// shared is the test binary's cluster, started by the first Start and
// removed when Run returns.
var shared struct {
	inRun atomic.Bool
	once  sync.Once
	c     *Cluster
	err   error
}

// Run runs the tests of m and then stops and removes the cluster that Start
// shares between them, and returns m.Run's exit code. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
func Run(m *testing.M) int {
	shared.inRun.Store(true)
	code := m.Run()
	if shared.c != nil {
		if err := shared.c.destroy(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// Start returns the cluster the tests of this binary share, starting it on
// first use. The binary's TestMain must call Run, which removes it.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	if !shared.inRun.Load() {
		tb.Fatal("pgtest: Start shares one cluster per test binary: add func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }")
	}
	shared.once.Do(func() { shared.c, shared.err = newCluster(Options{}) })
	if shared.err != nil {
		tb.Fatal(shared.err)
	}
	return shared.c
}

// Options configure a cluster of a test's own.
type Options struct {
	// Durable keeps PostgreSQL's defaults of fsync, synchronous_commit and
	// full_page_writes on, so that a commit waits for its WAL to reach the
	// disk, as in production: for benchmarks that time commits. Without
	// it the cluster trades durability for speed, as tests need.
	Durable bool
}

// New starts a cluster of the test's own, removed when the test ends: for a
// test that stops or restarts the server, which would disturb the others
// on the shared one. It does not need Run.
func New(tb testing.TB) *Cluster {
	tb.Helper()
	return NewWith(tb, Options{})
}

// NewWith is New with options.
func NewWith(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	c, err := newCluster(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.destroy(); err != nil {
			tb.Error(err)
		}
	})
	return c
}

// URL is the address of the cluster's postgres database, as superuser
// postgres, which needs no password (trust on loopback).
func (c *Cluster) URL() string { return c.databaseURL("postgres") }

// Port is the TCP port the server listens on, on 127.0.0.1 only. It stays
// the same across Restart.
func (c *Cluster) Port() int { return c.port }

// DataDir is the cluster's data directory, removed with the cluster.
func (c *Cluster) DataDir() string { return filepath.Join(c.root, "data") }

func (c *Cluster) databaseURL(name string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + name,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// dbSeq makes database names unique within the test binary.
var dbSeq atomic.Int64

// unsafeName matches what may not appear in a database name taken from a
// test's name.
var unsafeName = regexp.MustCompile(`[^a-z0-9]+`)

// NewDatabase creates an empty database, named after the test, and returns
// its URL. The database is dropped when the test ends, its connections
// closed by force, unless the server is stopped then.
func (c *Cluster) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := strings.Trim(unsafeName.ReplaceAllString(strings.ToLower(tb.Name()), "_"), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("t_%s_%d", name, dbSeq.Add(1))
	if err := c.exec(`CREATE DATABASE ` + pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if !c.running() {
			return
		}
		if err := c.exec(`DROP DATABASE IF EXISTS ` + pgx.Identifier{name}.Sanitize() + ` WITH (FORCE)`); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return c.databaseURL(name)
}

// exec runs one statement in the postgres database.
func (c *Cluster) exec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Stop shuts the server down (a fast shutdown: open transactions are rolled
// back, what was committed stays). Clients get connection errors until
// Restart. Stopping a stopped cluster does nothing.
func (c *Cluster) Stop(tb testing.TB) {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.stop(syscall.SIGINT); err != nil {
		tb.Fatal(err)
	}
}

// Restart starts the server again, on the same port with the same data,
// after stopping it first if it runs, and returns once it accepts
// connections.
func (c *Cluster) Restart(tb testing.TB) {
	tb.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.stop(syscall.SIGINT); err != nil {
		tb.Fatal(err)
	}
	if err := c.start(); err != nil {
		tb.Fatal(err)
	}
}

// Command returns a command that runs one of PostgreSQL's programs (psql,
// pg_ctl, pg_dump…) as the cluster's user, with PGDATA, PGHOST, PGPORT and
// PGUSER set to the cluster's.
func (c *Cluster) Command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.root
	cmd.Env = []string{
		"LC_ALL=C", "TZ=UTC",
		"PGDATA=" + c.DataDir(), "PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(c.port), "PGUSER=postgres",
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

func (c *Cluster) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server != nil
}

// newCluster runs initdb in a new temporary directory and starts the
// server on a free port.
func newCluster(opts Options) (*Cluster, error) {
	bin := os.Getenv("PGTEST_BINDIR")
	if bin == "" {
		bin = defaultBinDir
	}
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		return nil, fmt.Errorf("pgtest: no PostgreSQL in %s (apt-get install postgresql, or set PGTEST_BINDIR): %w", bin, err)
	}
	cred, err := clusterUser()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{opts: opts, bin: bin, root: root, cred: cred}
	if err := c.init(); err != nil {
		os.RemoveAll(root)
		return nil, err
	}
	return c, nil
}

// clusterUser is who runs the cluster: nobody when this process is root,
// since initdb and postgres refuse root; else this process's user.
func clusterUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, PostgreSQL needs another user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: user nobody: %w", err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgtest: user nobody: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// init creates the cluster and starts it, on another free port when the
// one picked was taken in between.
func (c *Cluster) init() error {
	if c.cred != nil {
		if err := os.Chown(c.root, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	var err error
	if c.port, err = freePort(); err != nil { // initdb's test runs read PGPORT
		return err
	}
	args := []string{"-D", c.DataDir(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-instructions"}
	if !c.opts.Durable {
		args = append(args, "--no-sync")
	}
	cmd := c.Command("initdb", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgtest: initdb: %w: %s", err, out)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for range 3 {
		if err = c.start(); err == nil || !strings.Contains(err.Error(), "could not bind") {
			return err
		}
		if c.port, err = freePort(); err != nil {
			return err
		}
	}
	return c.start()
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start starts the server and waits until it accepts connections. c.mu is
// held.
func (c *Cluster) start() error {
	s := &server{log: newLogTail(), exited: make(chan struct{})}
	args := []string{"-D", c.DataDir(),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(c.port),
		"-c", "unix_socket_directories=" + c.root,
		"-c", "max_connections=200",
	}
	if c.opts.Durable {
		// PostgreSQL's defaults, said explicitly.
		args = append(args, "-c", "fsync=on", "-c", "synchronous_commit=on", "-c", "full_page_writes=on")
	} else {
		// A test's data need not survive a crash of the machine.
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	s.cmd = c.Command("postgres", args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	// The backends inherit the output: do not wait for them forever.
	s.cmd.WaitDelay = 10 * time.Second
	// Should this process die without cleaning up (a test timeout's panic),
	// the server gets SIGQUIT, an immediate shutdown, rather than living on.
	s.cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT

	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the process exits,
		// not the process: keep this goroutine, and so its thread, for as
		// long as the server runs.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	select {
	case <-s.log.ready:
		c.server = s
		return nil
	case <-s.exited:
		return fmt.Errorf("pgtest: postgres exited (%v) before accepting connections: %s", s.err, s.log)
	case <-time.After(startTimeout):
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("pgtest: postgres did not accept connections within %s: %s", startTimeout, s.log)
	}
}

// stop stops the server with sig (SIGINT: fast shutdown; SIGQUIT:
// immediate) and waits for it to exit. c.mu is held.
func (c *Cluster) stop(sig syscall.Signal) error {
	s := c.server
	if s == nil {
		return nil
	}
	c.server = nil
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pgtest: stop postgres: %w", err)
	}
	select {
	case <-s.exited:
		return nil
	case <-time.After(startTimeout):
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("pgtest: postgres did not stop within %s: %s", startTimeout, s.log)
	}
}

// destroy stops the server at once and removes its directory.
func (c *Cluster) destroy() error {
	c.mu.Lock()
	err := c.stop(syscall.SIGQUIT)
	c.mu.Unlock()
	if rerr := os.RemoveAll(c.root); rerr != nil && err == nil {
		err = fmt.Errorf("pgtest: %w", rerr)
	}
	return err
}

// logTail keeps the last lines the server wrote, for error messages, and
// says when the server is ready.
type logTail struct {
	mu      sync.Mutex
	lines   []string
	partial []byte
	ready   chan struct{}
	isReady bool
}

// logLines is how many of the server's last lines an error shows.
const logLines = 20

func newLogTail() *logTail { return &logTail{ready: make(chan struct{})} }

// Write splits p into lines and keeps the last logLines of them.
func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if !l.isReady && strings.Contains(line, readyMessage) {
			l.isReady = true
			close(l.ready)
		}
		l.lines = append(l.lines, line)
		if len(l.lines) > logLines {
			l.lines = l.lines[len(l.lines)-logLines:]
		}
	}
	return len(p), nil
}

// String returns the kept lines, joined by " | " for a one-line message.
func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(append(l.lines, string(l.partial)), " | ")
}
