package metrics

import (
	"testing"
	"time"
)

func TestCommitsLag(t *testing.T) {
	t0 := time.Date(2026, 1, 31, 14, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	c := newCommits(t0)
	check := func(wm int64, now int, records int64, seconds float64) {
		t.Helper()
		if r, s := c.lag(wm, at(now)); r != records || s != seconds {
			t.Errorf("lag at watermark %d, t0+%ds: %d records, %vs; want %d, %vs", wm, now, r, s, records, seconds)
		}
	}
	check(0, 1, 0, 0)
	c.learn(10) // committed before counting began
	check(4, 3, 6, 3)
	c.add(11, 12, at(5))
	c.add(13, 13, at(6))
	check(9, 8, 4, 8)  // record 10 predates counting: lag since t0
	check(10, 8, 3, 3) // record 11 committed at t0+5
	check(12, 8, 1, 2) // record 13 at t0+6
	check(13, 8, 0, 0)
	if len(c.marks) != 0 {
		t.Errorf("%d marks kept after the index caught up", len(c.marks))
	}

	t.Run("Bounded", func(t *testing.T) {
		c := newCommits(t0)
		for i := range maxMarks + 10 {
			c.add(int64(i+1), int64(i+1), at(i))
		}
		if len(c.marks) != maxMarks {
			t.Fatalf("%d marks, want at most %d", len(c.marks), maxMarks)
		}
		// The last mark took the batches past the bound, with its own,
		// older time: the lag errs high.
		if r, s := c.lag(maxMarks+9, at(maxMarks+20)); r != 1 || s != 21 {
			t.Errorf("lag %d records, %vs; want 1, 21s", r, s)
		}
	})
}
