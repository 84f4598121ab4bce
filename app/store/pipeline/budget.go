package pipeline

import (
	"sync"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Defaults of the queue's limits.
const (
	// DefaultQueueBytes is the byte budget of records waiting for the
	// writer (RECORD_QUEUE_BYTES).
	DefaultQueueBytes = 256 << 20
	// DefaultQueueWait is how long Record waits for room while the writer
	// is merely busy, before it gives the record up.
	DefaultQueueWait = 250 * time.Millisecond
)

// maxLostIDs bounds the ids one "records lost" log line names (one line a
// second at most); the rest are counted in it.
const maxLostIDs = 1000

// budget is the byte budget of the queue, and the tally of lost records.
// Record takes room before a record enters the queue, and the writer gives
// it back once the record is committed or given up.
type budget struct {
	max  int64
	wait time.Duration

	mu       sync.Mutex
	used     int64
	records  int
	waiting  int
	room     chan struct{} // closed and replaced whenever room is given back
	lost     int64
	lostIDs  []string // given up since the last log line
	lostNew  int      // how many were given up since the last log line
	lastLoss time.Time
	failing  bool
	lastErr  string
}

func newBudget(max int64, wait time.Duration) *budget {
	return &budget{max: max, wait: wait, room: make(chan struct{})}
}

// take reserves n bytes for one record. While the writer is merely busy it
// waits up to b.wait for room; while the database is failing it does not
// wait, since room will not come soon. A record larger than the whole
// budget is let in when the queue is empty, so that it is not lost.
func (b *budget) take(n int64) bool {
	var timer *time.Timer
	for {
		b.mu.Lock()
		if b.used+n <= b.max || b.records == 0 {
			b.used += n
			b.records++
			b.mu.Unlock()
			if timer != nil {
				timer.Stop()
			}
			return true
		}
		if b.failing || b.wait <= 0 {
			b.mu.Unlock()
			return false
		}
		if timer == nil {
			timer = time.NewTimer(b.wait)
		}
		room := b.room
		b.waiting++
		b.mu.Unlock()
		select {
		case <-room:
			b.mu.Lock()
			b.waiting--
			b.mu.Unlock()
		case <-timer.C:
			b.mu.Lock()
			b.waiting--
			b.mu.Unlock()
			return false
		}
	}
}

// adjust changes the bytes one queued record holds: analysis adds the text
// it derives.
func (b *budget) adjust(delta int64) {
	b.mu.Lock()
	b.used += delta
	b.mu.Unlock()
}

// give returns the room of records that left the queue.
func (b *budget) give(records int, n int64) {
	b.mu.Lock()
	b.used -= n
	b.records -= records
	close(b.room)
	b.room = make(chan struct{})
	b.mu.Unlock()
}

// lose counts a record given up and keeps its id for the next log line.
func (b *budget) lose(id string) {
	b.mu.Lock()
	b.lost++
	b.lostNew++
	b.lastLoss = time.Now()
	if len(b.lostIDs) < maxLostIDs {
		b.lostIDs = append(b.lostIDs, id)
	}
	b.mu.Unlock()
}

// takeLost returns the records lost since the last call (their number and
// up to maxLostIDs of their ids) and the total lost.
func (b *budget) takeLost() (n int, ids []string, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, ids = b.lostNew, b.lostIDs
	b.lostNew, b.lostIDs = 0, nil
	return n, ids, b.lost
}

// setFailing records whether commits are failing, and the error.
func (b *budget) setFailing(err error) {
	b.mu.Lock()
	b.failing = err != nil
	b.lastErr = ""
	if err != nil {
		b.lastErr = err.Error()
	}
	b.mu.Unlock()
}

// health returns the current state.
func (b *budget) health() store.Health {
	b.mu.Lock()
	defer b.mu.Unlock()
	return store.Health{
		Degraded:      b.failing || !b.lastLoss.IsZero() && time.Since(b.lastLoss) < time.Minute,
		Failing:       b.failing,
		LastError:     b.lastErr,
		Lost:          b.lost,
		QueuedRecords: b.records,
		QueuedBytes:   b.used,
		BudgetBytes:   b.max,
		Waiting:       b.waiting,
	}
}
