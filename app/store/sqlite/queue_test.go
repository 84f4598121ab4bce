package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite/sqlitetest"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// stalledWriter returns an InTx function that holds the writer inside its
// first transaction until release is closed, and a channel closed once it
// does.
func stalledWriter() (func(context.Context, *sql.Tx, []*capture.Record) error, chan struct{}, chan struct{}) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	return func(context.Context, *sql.Tx, []*capture.Record) error {
		once.Do(func() {
			close(entered)
			<-release
		})
		return nil
	}, entered, release
}

// waitFor polls cond until it holds, failing after 30 s. Used where the
// store offers a state to observe, not an event to await.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestBackPressure: while the writer is busy and the byte budget is spent,
// Record waits for room (observably: Health.Waiting), and goes through
// once the writer moves on. Nothing is lost.
func TestBackPressure(t *testing.T) {
	hook, entered, release := stalledWriter()
	s := MustOpenTemp(t, sqlite.Options{QueueBytes: 1, QueueWait: time.Minute, BatchSize: 1, InTx: hook})
	storetest.MustRecord(t, s, storetest.NewRecord(t, "k")) // admitted to an empty queue whatever its size
	<-entered

	returned := make(chan error, 1)
	go func() { returned <- s.Record(storetest.NewRecord(t, "k")) }()
	waitFor(t, "Record to wait for room", func() bool { return s.Health().Waiting == 1 })
	select {
	case err := <-returned:
		t.Fatalf("Record returned (%v) while it was counted as waiting", err)
	default:
	}
	close(release)
	if err := <-returned; err != nil {
		t.Fatal(err)
	}
	storetest.MustFlush(t, s)
	if n, h := storetest.MustCount(t, s), s.Health(); n != 2 || h.Lost != 0 || h.QueuedRecords != 0 || h.QueuedBytes != 0 {
		t.Fatalf("count %d, health %+v: want 2 records, none lost, an empty queue", n, h)
	}
}

// TestQueueFullGivesUp: when the writer stays stalled past QueueWait, Record
// gives the record up instead of holding the client: it returns at once,
// the loss is counted, the store reports itself degraded, and the log names
// the record.
func TestQueueFullGivesUp(t *testing.T) {
	hook, entered, release := stalledWriter()
	logger, logs := newLogger()
	s := MustOpenTemp(t, sqlite.Options{QueueBytes: 1, QueueWait: time.Millisecond, BatchSize: 1, Logger: logger, InTx: hook})
	storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
	<-entered
	lost := storetest.NewRecord(t, "k")
	storetest.MustRecord(t, s, lost)
	if h := s.Health(); h.Lost != 1 || !h.Degraded {
		t.Fatalf("health %+v: want 1 lost and degraded", h)
	}
	close(release)
	storetest.MustFlush(t, s)
	if n := storetest.MustCount(t, s); n != 1 {
		t.Fatalf("count %d, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if out := logs.String(); !strings.Contains(out, "records lost") || !strings.Contains(out, lost.ID) {
		t.Fatalf("the log does not name the lost record %s:\n%s", lost.ID, out)
	}
}

// bigRecord is a raw record as the proxy hands it over, with a request body
// of size bytes captured up to a 1 MiB limit.
func bigRecord(t testing.TB, size int) *capture.Record {
	rec := storetest.NewRecord(t, "k")
	rec.Analyzed = false
	rec.ReqBody = capture.Body{Limit: 1 << 20}
	chunk := []byte(strings.Repeat("x", 64<<10))
	for n := 0; n < size; n += len(chunk) {
		rec.ReqBody.Write(chunk)
	}
	rec.ReqHeader = map[string][]string{"Content-Type": {"application/json"}}
	return rec
}

// TestQueueMemoryCeiling: with the writer stalled, a flood of records with
// 4 MiB bodies grows the heap by no more than the byte budget plus a
// stated constant; the rest are counted as lost.
//
// RSS is a property of a process, so the test runs itself in a fresh one:
// other tests' garbage cannot count against the budget, and GODEBUG
// disablethp=1 keeps a kernel with transparent huge pages set to "always"
// from refilling freed heap pages (go.dev/issue/64332; the README says the
// same to operators).
func TestQueueMemoryCeiling(t *testing.T) {
	if os.Getenv("ORP_MEMORY_CEILING_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestQueueMemoryCeiling$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "ORP_MEMORY_CEILING_CHILD=1", "GODEBUG=disablethp=1")
		out, err := cmd.CombinedOutput()
		t.Logf("child process:\n%s", out)
		if err != nil || !strings.Contains(string(out), "--- PASS: TestQueueMemoryCeiling") {
			t.Fatalf("the memory ceiling failed in its own process: %v", err)
		}
		return
	}
	const budget = 32 << 20
	const slack = 16 << 20 // the stated constant: one record over budget, runtime and test noise
	hook, entered, release := stalledWriter()
	logger, _ := newLogger()
	s := MustOpenTemp(t, sqlite.Options{QueueBytes: budget, QueueWait: time.Millisecond, Logger: logger, InTx: hook})
	defer close(release)
	storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
	<-entered

	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before, rssBefore := heap(), rss(t)
	for range 200 {
		storetest.MustRecord(t, s, bigRecord(t, 4<<20))
	}
	grown := int64(heap()) - int64(before)
	rssGrown := rss(t) - rssBefore
	h := s.Health()
	t.Logf("heap grew %d MiB, RSS %d MiB, for a %d MiB budget; queued %d records, %d MiB; lost %d",
		grown>>20, rssGrown>>20, budget>>20, h.QueuedRecords, h.QueuedBytes>>20, h.Lost)
	if grown > budget+slack {
		t.Errorf("heap grew %d MiB, more than the %d MiB budget plus %d MiB", grown>>20, budget>>20, slack>>20)
	}
	if raceEnabled {
		t.Log("the race detector's shadow memory inflates RSS; only the heap is checked")
	} else if rssGrown > budget+slack {
		t.Errorf("RSS grew %d MiB, more than the %d MiB budget plus %d MiB", rssGrown>>20, budget>>20, slack>>20)
	}
	if h.QueuedBytes > budget+(2<<20) || h.Lost < 150 {
		t.Errorf("health %+v: want the queue within budget and the rest lost", h)
	}
}

// rss returns the process's resident set size in bytes, after handing
// freed memory back to the system.
func rss(t *testing.T) int64 {
	t.Helper()
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm")
	}
	var size, resident int64
	fmt.Sscan(string(b), &size, &resident)
	return resident * int64(os.Getpagesize())
}

// TestDatabaseFailingDegradesThenRecovers makes the database refuse writes
// as a full disk does (a size cap: SQLITE_FULL) and as a read-only file
// does (SQLITE_READONLY). Commits fail, the store says it is failing and
// degraded, Record keeps returning at once, and the writer holds its
// records. Once the database takes writes again it writes them all and
// recovers by itself.
func TestDatabaseFailingDegradesThenRecovers(t *testing.T) {
	for _, tc := range []struct {
		name, wantErr string
		fail, heal    func(s *sqlite.SQLite) error
	}{
		{"Full", "full",
			func(s *sqlite.SQLite) error {
				pages, err := sqlite.PageCount(s)
				if err != nil {
					return err
				}
				return sqlite.SetMaxPageCount(s, pages)
			},
			func(s *sqlite.SQLite) error { return sqlite.SetMaxPageCount(s, 1<<30) }},
		{"ReadOnly", "readonly",
			func(s *sqlite.SQLite) error { return sqlite.SetQueryOnly(s, true) },
			func(s *sqlite.SQLite) error { return sqlite.SetQueryOnly(s, false) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := newLogger()
			s := MustOpenTemp(t, sqlite.Options{Logger: logger, QueueWait: time.Millisecond})
			storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
			storetest.MustFlush(t, s)
			if err := tc.fail(s); err != nil {
				t.Fatal(err)
			}
			for range 20 {
				storetest.MustRecord(t, s, bigRecord(t, 200<<10))
			}
			waitFor(t, "the store to report failing", func() bool { return s.Health().Failing })
			if h := s.Health(); !h.Degraded || !strings.Contains(h.LastError, tc.wantErr) || h.Lost != 0 {
				t.Fatalf("health %+v: want degraded, the error, nothing lost yet", h)
			}
			if err := tc.heal(s); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "recovery", func() bool { return !s.Health().Failing })
			storetest.MustFlush(t, s)
			if n := storetest.MustCount(t, s); n != 21 {
				t.Fatalf("count %d, want all 21 records written after recovery", n)
			}
			if out := logs.String(); !strings.Contains(out, "refuses writes") || !strings.Contains(out, "recording resumed") {
				t.Fatalf("the log does not tell the failure and the recovery:\n%s", out)
			}
		})
	}
}

// TestLockedByAnotherProcess: another process holds the database's write
// lock beyond the busy timeout. The store degrades without blocking
// Record, and recovers with every record once the lock is released.
func TestLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "proxy.db")
	logger, _ := newLogger()
	s := MustOpen(t, path, sqlite.Options{QueueWait: time.Millisecond, Logger: logger})
	storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
	storetest.MustFlush(t, s)

	release := sqlitetest.HoldLock(t, path)
	start := time.Now()
	for range 5 {
		storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Record took %v with the database locked: it must not wait on the database", took)
	}
	waitFor(t, "the store to report failing", func() bool { return s.Health().Failing })
	if h := s.Health(); !strings.Contains(h.LastError, "locked") && !strings.Contains(h.LastError, "busy") {
		t.Errorf("last error %q", h.LastError)
	}
	release()
	waitFor(t, "recovery", func() bool { return !s.Health().Failing })
	storetest.MustFlush(t, s)
	if n, h := storetest.MustCount(t, s), s.Health(); n != 6 || h.Lost != 0 {
		t.Fatalf("count %d lost %d: want every record written after the lock was released", n, h.Lost)
	}
}
