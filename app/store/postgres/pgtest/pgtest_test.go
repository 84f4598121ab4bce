package pgtest_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"golang.org/x/sys/unix"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// openDB opens url through database/sql and pgx, closed when the test ends.
func openDB(tb testing.TB, url string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func queryString(tb testing.TB, db *sql.DB, query string, args ...any) string {
	tb.Helper()
	var s string
	if err := db.QueryRow(query, args...).Scan(&s); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return s
}

func TestStart(t *testing.T) {
	c := pgtest.Start(t)

	t.Run("SharedCluster", func(t *testing.T) {
		if again := pgtest.Start(t); again != c {
			t.Fatal("a second Start started another cluster")
		}
	})

	t.Run("URL", func(t *testing.T) {
		want := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port())
		if c.URL() != want {
			t.Fatalf("URL = %q, want %q", c.URL(), want)
		}
		db := openDB(t, c.URL())
		if got := queryString(t, db, `SELECT current_user || ' ' || current_database() || ' ' || pg_encoding_to_char(encoding)
			FROM pg_database WHERE datname = current_database()`); got != "postgres postgres UTF8" {
			t.Fatalf("user, database, encoding = %q", got)
		}
		if got := queryString(t, db, `SELECT current_setting('server_version_num')`); !strings.HasPrefix(got, "15") {
			t.Fatalf("server_version_num = %s, want PostgreSQL 15", got)
		}
	})

	t.Run("NewDatabase", func(t *testing.T) {
		url1, url2 := c.NewDatabase(t), c.NewDatabase(t)
		prefix := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/t_teststart_newdatabase_", c.Port())
		for _, u := range []string{url1, url2} {
			if !strings.HasPrefix(u, prefix) || !strings.HasSuffix(u, "?sslmode=disable") {
				t.Fatalf("NewDatabase = %q, want %s…?sslmode=disable", u, prefix)
			}
		}
		if url1 == url2 {
			t.Fatalf("two databases at one URL %s", url1)
		}
		db1, db2 := openDB(t, url1), openDB(t, url2)
		if _, err := db1.Exec(`CREATE TABLE only_here (x int)`); err != nil {
			t.Fatal(err)
		}
		if got := queryString(t, db2, `SELECT COUNT(*)::text FROM pg_tables WHERE tablename = 'only_here'`); got != "0" {
			t.Fatalf("the second database sees the first one's table (count %s)", got)
		}
	})

	t.Run("DroppedAfterTest", func(t *testing.T) {
		var name string
		t.Run("uses", func(t *testing.T) {
			db := openDB(t, c.NewDatabase(t))
			name = queryString(t, db, `SELECT current_database()`)
		})
		admin := openDB(t, c.URL())
		if got := queryString(t, admin, `SELECT COUNT(*)::text FROM pg_database WHERE datname = $1`, name); got != "0" {
			t.Fatalf("database %s still exists after its test", name)
		}
	})
}

// TestDurable checks the settings that decide whether a commit waits for
// the disk: off on the shared cluster, on with Options.Durable.
func TestDurable(t *testing.T) {
	const settings = `SELECT current_setting('fsync') || ' ' || current_setting('synchronous_commit') || ' ' || current_setting('full_page_writes')`
	if got := queryString(t, openDB(t, pgtest.Start(t).URL()), settings); got != "off off off" {
		t.Errorf("shared cluster: fsync, synchronous_commit, full_page_writes = %q, want off off off", got)
	}
	c := pgtest.NewWith(t, pgtest.Options{Durable: true})
	if got := queryString(t, openDB(t, c.NewDatabase(t)), settings); got != "on on on" {
		t.Errorf("durable cluster: fsync, synchronous_commit, full_page_writes = %q, want on on on", got)
	}
}

// TestListensOnlyOnLoopback reads the kernel's table of listening sockets:
// the server's port is bound to 127.0.0.1 and nothing else (no 0.0.0.0,
// no IPv6).
func TestListensOnlyOnLoopback(t *testing.T) {
	c := pgtest.Start(t)
	if got := queryString(t, openDB(t, c.URL()), `SHOW listen_addresses`); got != "127.0.0.1" {
		t.Fatalf("listen_addresses = %q", got)
	}
	var bound []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		bound = append(bound, listening(t, table, c.Port())...)
	}
	if len(bound) != 1 || bound[0] != "0100007F" {
		t.Fatalf("port %d is bound to %v (kernel hex), want only 0100007F (127.0.0.1)", c.Port(), bound)
	}
}

// listening returns the local addresses, in the kernel's hex form, that
// listen on port according to table (/proc/net/tcp or tcp6).
func listening(tb testing.TB, table string, port int) []string {
	tb.Helper()
	f, err := os.Open(table)
	if errors.Is(err, os.ErrNotExist) {
		return nil // no IPv6
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var addrs []string
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != "0A" { // 0A: LISTEN
			continue
		}
		addr, hexPort, _ := strings.Cut(fields[1], ":")
		if p, _ := strconv.ParseUint(hexPort, 16, 16); int(p) == port {
			addrs = append(addrs, addr)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return addrs
}

// TestNew proves a cluster of a test's own: it survives Stop and Restart
// with its data, and its cleanup leaves no process and no directory.
func TestNew(t *testing.T) {
	var dataDir string
	var port int
	t.Run("StopRestart", func(t *testing.T) {
		c := pgtest.New(t)
		if shared := pgtest.Start(t); shared == c || shared.Port() == c.Port() {
			t.Fatal("New returned the shared cluster")
		}
		dataDir, port = c.DataDir(), c.Port()
		db := openDB(t, c.NewDatabase(t))
		db.SetMaxIdleConns(0) // a new connection per query, across restarts
		if _, err := db.Exec(`CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)`); err != nil {
			t.Fatal(err)
		}
		checkStatus(t, c, 0)
		checkOwner(t, dataDir)

		c.Stop(t)
		checkStatus(t, c, 3)
		if err := db.Ping(); err == nil {
			t.Fatal("a stopped server answers")
		}
		c.Stop(t) // stopping a stopped cluster does nothing

		c.Restart(t)
		checkStatus(t, c, 0)
		if got := queryString(t, db, `SELECT x::text FROM kept`); got != "42" {
			t.Fatalf("after restart kept holds %s", got)
		}
		c.Restart(t) // restarts a running server
		checkStatus(t, c, 0)
		if got := queryString(t, db, `SELECT x::text FROM kept`); got != "42" {
			t.Fatalf("after the second restart kept holds %s", got)
		}
		if c.Port() != port {
			t.Fatalf("port changed from %d to %d", port, c.Port())
		}
	})

	if _, err := os.Stat(filepath.Dir(dataDir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster directory left behind: %v", err)
	}
	if pids := processesIn(t, filepath.Dir(dataDir)); len(pids) > 0 {
		t.Errorf("processes left in the cluster's directory: %v", pids)
	}
	if conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second); err == nil {
		conn.Close()
		t.Errorf("port %d still accepts connections", port)
	}
}

// checkStatus runs pg_ctl status, whose exit code is 0 when the server
// runs and 3 when it does not.
func checkStatus(tb testing.TB, c *pgtest.Cluster, want int) {
	tb.Helper()
	out, err := c.Command("pg_ctl", "status").CombinedOutput()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		tb.Fatal(err)
	}
	if code != want {
		tb.Fatalf("pg_ctl status exited %d, want %d: %s", code, want, out)
	}
}

// checkOwner checks that the server does not run as root: under root, it
// runs as nobody.
func checkOwner(tb testing.TB, dataDir string) {
	tb.Helper()
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		tb.Fatal(err)
	}
	pid, _, _ := strings.Cut(string(pidFile), "\n")
	status, err := os.ReadFile(filepath.Join("/proc", pid, "status"))
	if err != nil {
		tb.Fatal(err)
	}
	want := strconv.Itoa(os.Geteuid())
	if want == "0" {
		nobody, err := user.Lookup("nobody")
		if err != nil {
			tb.Fatal(err)
		}
		want = nobody.Uid
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if uids, ok := strings.CutPrefix(line, "Uid:"); ok {
			if got := strings.Fields(uids)[0]; got != want {
				tb.Fatalf("postmaster %s runs as uid %s, want %s", pid, got, want)
			}
			return
		}
	}
	tb.Fatalf("no Uid line in /proc/%s/status", pid)
}

// processesIn returns the processes whose working directory is in dir:
// every PostgreSQL process of a cluster works in its data directory.
func processesIn(tb testing.TB, dir string) []string {
	tb.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		tb.Fatal(err)
	}
	var pids []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil {
			continue // gone, or not ours to read
		}
		if cwd == dir || strings.HasPrefix(cwd, dir+"/") || strings.HasPrefix(cwd, dir+" ") {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// TestNoProcessAfterRun runs this test binary again with one test that
// starts the shared cluster, and checks that when Run returns, the
// cluster's processes and directory are gone.
func TestNoProcessAfterRun(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") != "" {
		c := pgtest.Start(t)
		fmt.Println("DATADIR", c.DataDir())
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestNoProcessAfterRun$", "-test.v")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	_, after, ok := strings.Cut(string(out), "DATADIR ")
	if !ok {
		t.Fatalf("child printed no data directory: %s", out)
	}
	dataDir, _, _ := strings.Cut(after, "\n")
	root := filepath.Dir(dataDir)
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster directory %s left behind: %v", root, err)
	}
	if pids := processesIn(t, root); len(pids) > 0 {
		t.Errorf("processes left in %s: %v", root, pids)
	}
}

// TestServerDiesWithTestBinary kills a test binary that runs a cluster,
// with no chance to clean up (as a test timeout's panic does), and checks
// that its server shuts down rather than living on.
func TestServerDiesWithTestBinary(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") == "die" {
		c := pgtest.New(t)
		fmt.Println("DATADIR", c.DataDir())
		io.ReadAll(os.Stdin) // until killed
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestServerDiesWithTestBinary$")
	cmd.Env = append(os.Environ(), "PGTEST_CHILD=die")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	dataDir, ok := strings.CutPrefix(strings.TrimSpace(line), "DATADIR ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child printed %q, %v", line, err)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(dataDir)) }) // the child could not
	pidFile, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pidText, _, _ := strings.Cut(string(pidFile), "\n")
	pid, err := strconv.Atoi(pidText)
	if err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("postmaster %d: %v", pid, err)
	}
	defer unix.Close(pidfd)

	cmd.Process.Kill() // SIGKILL: no cleanup runs
	cmd.Wait()

	// A pidfd becomes readable when its process exits.
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int((time.Minute).Milliseconds()))
	if err != nil || n != 1 {
		t.Fatalf("postmaster %d still runs a minute after its test binary died (poll %d, %v)", pid, n, err)
	}
	if pids := processesIn(t, filepath.Dir(dataDir)); len(pids) > 0 {
		t.Errorf("processes left in %s: %v", filepath.Dir(dataDir), pids)
	}
}
