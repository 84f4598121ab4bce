// Package sqlitetest holds test helpers for the packages that test against
// a real SQLite file. It is imported only by tests.
package sqlitetest

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// lockEnv names the database a re-executed test binary is to lock.
const lockEnv = "SQLITETEST_HOLD_LOCK"

// init turns a test binary started by HoldLock into the lock holder: it
// takes the database's write lock, says so on stdout, keeps the lock until
// stdin closes, and exits before any test runs.
func init() {
	path := os.Getenv(lockEnv)
	if path == "" {
		return
	}
	if err := holdUntilStdinCloses(path); err != nil {
		fmt.Fprintln(os.Stderr, "sqlitetest: hold lock:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func holdUntilStdinCloses(path string) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		return err
	}
	fmt.Println("locked")
	bufio.NewReader(os.Stdin).ReadString('\n') // returns when stdin closes
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// HoldLock starts another process, the running test binary again, that
// takes the write lock of the SQLite database at path, as another program
// holding the file would, and keeps it until release is called or the
// test ends. The calling test package must import sqlitetest, so that the
// re-executed binary runs this package's init.
func HoldLock(t testing.TB, path string) (release func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("sqlitetest: lock holder said %q: %v", line, err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Errorf("sqlitetest: lock holder: %v", err)
			}
		})
	}
	t.Cleanup(release)
	return release
}
