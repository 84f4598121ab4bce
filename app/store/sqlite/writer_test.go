package sqlite_test

import (
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// TestOnCommit: each committed transaction is reported once, with its
// records and the time its whole write took.
func TestOnCommit(t *testing.T) {
	type commit struct {
		took time.Duration
		n    int
	}
	var got []commit // the writer goroutine's until Flush returns
	s := MustOpenTemp(t, sqlite.Options{BatchSize: 4, BatchDelay: time.Hour, OnCommit: func(took time.Duration, n int) {
		got = append(got, commit{took, n})
	}})
	for range 6 {
		storetest.MustRecord(t, s, storetest.NewRecord(t, "k"))
	}
	storetest.MustFlush(t, s)
	if len(got) != 2 || got[0].n != 4 || got[1].n != 2 {
		t.Fatalf("OnCommit calls %+v, want batches of 4 and 2", got)
	}
	for _, c := range got {
		if c.took <= 0 || c.took > time.Minute {
			t.Errorf("took %v", c.took)
		}
	}
}
