package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// watched is what Watch was given.
type watched struct {
	p  Pipeline
	ix Index
}

// pipeline collects the recording pipeline's state at scrape time.
type pipeline struct{ m *Metrics }

var (
	lostDesc = prometheus.NewDesc("orp_records_lost_total",
		"Exchanges forwarded but not recorded: the queue stayed full or the database refused them.", nil, nil)
	degradedDesc = prometheus.NewDesc("orp_recording_degraded",
		"1 while recording is degraded (the database refuses writes, or a record was lost in the last minute).", nil, nil)
	failingDesc = prometheus.NewDesc("orp_database_failing",
		"1 while commits to the database fail; the writer holds its batch and retries.", nil, nil)
	queueRecordsDesc = prometheus.NewDesc("orp_writer_queue_records",
		"Records waiting for the database writer.", nil, nil)
	queueBytesDesc = prometheus.NewDesc("orp_writer_queue_bytes",
		"Bytes held by the records waiting for the database writer.", nil, nil)
	queueBudgetDesc = prometheus.NewDesc("orp_writer_queue_budget_bytes",
		"The writer queue's byte budget (RECORD_QUEUE_BYTES).", nil, nil)
	lagRecordsDesc = prometheus.NewDesc("orp_search_index_lag_records",
		"Records committed to SQLite that the search index does not hold yet.", nil, nil)
	lagSecondsDesc = prometheus.NewDesc("orp_search_index_lag_seconds",
		"How long the oldest record the search index lacks has been committed; 0 when it has them all.", nil, nil)
)

// feedTimeout bounds the one read of the store's last sequence a scrape
// may make.
const feedTimeout = 5 * time.Second

func (p pipeline) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{lostDesc, degradedDesc, failingDesc, queueRecordsDesc, queueBytesDesc,
		queueBudgetDesc, lagRecordsDesc, lagSecondsDesc} {
		ch <- d
	}
}

func (p pipeline) Collect(ch chan<- prometheus.Metric) {
	w := p.m.watched.Load()
	if w == nil {
		return
	}
	if w.p != nil {
		h := w.p.Health()
		ch <- prometheus.MustNewConstMetric(lostDesc, prometheus.CounterValue, float64(h.Lost))
		ch <- prometheus.MustNewConstMetric(degradedDesc, prometheus.GaugeValue, boolValue(h.Degraded))
		ch <- prometheus.MustNewConstMetric(failingDesc, prometheus.GaugeValue, boolValue(h.Failing))
		ch <- prometheus.MustNewConstMetric(queueRecordsDesc, prometheus.GaugeValue, float64(h.QueuedRecords))
		ch <- prometheus.MustNewConstMetric(queueBytesDesc, prometheus.GaugeValue, float64(h.QueuedBytes))
		ch <- prometheus.MustNewConstMetric(queueBudgetDesc, prometheus.GaugeValue, float64(h.BudgetBytes))
	}
	if w.ix == nil {
		return
	}
	c := p.m.commits
	if !c.known() {
		// Nothing committed since the start: the last sequence is the
		// store's, read once.
		if w.p == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), feedTimeout)
		seq, err := w.p.LastSeq(ctx)
		cancel()
		if err != nil {
			return // the lag is left out of this scrape, not made up
		}
		c.learn(seq)
	}
	records, seconds := c.lag(w.ix.Watermark(), time.Now())
	ch <- prometheus.MustNewConstMetric(lagRecordsDesc, prometheus.GaugeValue, float64(records))
	ch <- prometheus.MustNewConstMetric(lagSecondsDesc, prometheus.GaugeValue, seconds)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// maxMarks bounds the batches commits remembers. Past it, while the index
// is that far behind, new batches merge into the newest mark, whose time
// is older than theirs: the lag in seconds then errs on the high side.
const maxMarks = 4096

// commits remembers when the batches the search index does not hold yet
// were committed, so that a scrape can tell how long the oldest record the
// index lacks has waited.
type commits struct {
	mu      sync.Mutex
	started time.Time // when counting began
	seen    bool      // a batch was committed since
	first   int64     // the sequence before the first batch seen
	maxSeq  int64     // the last sequence committed
	hasSeq  bool      // maxSeq is known: a batch was seen, or the store told
	marks   []mark    // the batches not indexed yet, oldest first
}

// mark is when a batch ending at sequence seq was committed.
type mark struct {
	seq int64
	at  time.Time
}

func newCommits(started time.Time) *commits { return &commits{started: started} }

// add notes that the records minSeq to maxSeq were committed at at.
func (c *commits) add(minSeq, maxSeq int64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seen {
		c.seen = true
		c.first = minSeq - 1
	}
	c.maxSeq = max(c.maxSeq, maxSeq)
	c.hasSeq = true
	if len(c.marks) == maxMarks {
		c.marks[len(c.marks)-1].seq = maxSeq
		return
	}
	c.marks = append(c.marks, mark{maxSeq, at})
}

// indexed forgets the batches the index holds, up to its watermark wm.
func (c *commits) indexed(wm int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropThrough(wm)
}

func (c *commits) dropThrough(wm int64) {
	i := 0
	for i < len(c.marks) && c.marks[i].seq <= wm {
		i++
	}
	if i > 0 {
		c.marks = append(c.marks[:0], c.marks[i:]...)
	}
}

// known reports whether the last committed sequence is known.
func (c *commits) known() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hasSeq
}

// learn takes seq, read from the store, as the last committed sequence
// unless a later one was seen meanwhile.
func (c *commits) learn(seq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maxSeq = max(c.maxSeq, seq)
	c.hasSeq = true
}

// lag returns how many committed records an index at watermark wm lacks,
// and how long the oldest of them has waited at now. A record committed
// before counting began is counted as committed then: its lag is at least
// that.
func (c *commits) lag(wm int64, now time.Time) (records int64, seconds float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropThrough(wm)
	records = max(c.maxSeq-wm, 0)
	switch {
	case records == 0:
		return 0, 0
	case !c.seen || wm < c.first:
		return records, now.Sub(c.started).Seconds()
	case len(c.marks) > 0:
		return records, now.Sub(c.marks[0].at).Seconds()
	}
	return records, 0
}
