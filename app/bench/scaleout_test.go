package bench_test

import (
	"context"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/mockupstream"
	"github.com/openrouter-proxy/openrouter-proxy/app/proxy"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres/pgtest"
)

// streamBody asks the mock for a streamed answer: one SSE event per word,
// then the usage event and [DONE].
const streamBody = `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"benchmark hello"}]}`

// scaleOutConcurrency is how many clients send at once.
const scaleOutConcurrency = 32

// node is one way to serve and record: one proxy replica or more, each
// recording into its own store, all stores on one database, behind one
// target name. A node without stores is the bare reverse proxy.
type node struct {
	name    string
	bases   []string       // one per replica; requests go round-robin
	proxies []*proxy.Proxy // the replicas, to wait for their records
	stores  []store.Store  // the replicas' stores, on one database
	commits *commitLog     // what the stores' OnCommit reported; nil for SQLite
	sent    int64          // requests sent through the node, warm-ups included
}

// commitLog collects what OnCommit reports, from every replica of a node.
type commitLog struct {
	mu      sync.Mutex
	took    []time.Duration
	records int64
}

func (l *commitLog) observe(took time.Duration, records int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.took = append(l.took, took)
	l.records += int64(records)
}

// mark returns how many commits were logged so far, for since.
func (l *commitLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.took)
}

// since returns the commit times logged after mark, and the records they
// held.
func (l *commitLog) since(mark int) ([]time.Duration, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.took[mark:]), l.records
}

// postgresNode starts replicas proxies over the upstream at upURL, each
// recording into a store of its own (its own pool and write path) on the
// database at dbURL, configured as the program opens it.
func postgresNode(b *testing.B, name string, upURL *url.URL, dbURL string, replicas int) *node {
	b.Helper()
	n := &node{name: name, commits: &commitLog{}}
	for range replicas {
		st, err := postgres.Open(context.Background(), dbURL, postgres.Options{OnCommit: n.commits.observe, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		t, px := serveRecording(b, name, upURL, st)
		n.bases = append(n.bases, t.base)
		n.proxies = append(n.proxies, px)
		n.stores = append(n.stores, st)
	}
	return n
}

// run sends count requests with body through the node at concurrency c,
// then waits until every one of them is committed, and returns the time
// it all took: throughput here is what the node serves and records.
func (n *node) run(b *testing.B, body string, count, c int) time.Duration {
	start := time.Now()
	spread(b, n.bases, body, count, c)
	n.sent += int64(count)
	n.settle(b)
	return time.Since(start)
}

// settle waits until every exchange the node's replicas served is
// committed.
func (n *node) settle(b *testing.B) {
	for _, px := range n.proxies {
		px.Wait() // every record handed to its store
	}
	for _, st := range n.stores {
		if err := st.Flush(context.Background()); err != nil {
			b.Fatalf("%s: %v", n.name, err)
		}
	}
}

// check fails the benchmark unless the node's database holds exactly one
// record per request sent, and no replica lost one.
func (n *node) check(b *testing.B) {
	if len(n.stores) == 0 {
		return
	}
	n.settle(b)
	for i, st := range n.stores {
		if h := st.Health(); h.Lost != 0 || h.Failing {
			b.Errorf("%s: replica %d lost %d records (failing %v: %s)", n.name, i, h.Lost, h.Failing, h.LastError)
		}
	}
	got, err := n.stores[0].Count(context.Background(), store.Filter{Viewer: store.Viewer{Admin: true}})
	if err != nil {
		b.Fatal(err)
	}
	if got != n.sent {
		b.Fatalf("%s: %d records in the database, %d requests sent", n.name, got, n.sent)
	}
	if n.commits != nil {
		if _, committed := n.commits.since(0); committed != n.sent {
			b.Fatalf("%s: OnCommit reported %d records committed, %d requests sent", n.name, committed, n.sent)
		}
	}
}

// BenchmarkScaleOut measures throughput with recording on at concurrency
// 32, for chat completions and for streamed ones, through:
//
//   - bare: a bare httputil.ReverseProxy, the baseline;
//   - sqlite: one node recording into SQLite;
//   - pg: one node recording into PostgreSQL;
//   - pg_x2: two replicas, each with its own store (pool and write path),
//     on one PostgreSQL database, the load split between them
//     round-robin. They run in this process: on two cores, separate
//     processes would share the same cores anyway.
//
// PostgreSQL is a throwaway cluster with fsync and synchronous commit on,
// as in production. Each round sends the same requests through every
// target, in rotating order, so that the machine's noise falls on all
// alike; a target's time runs until its last record is committed. It
// reports each target's req/s and its ratio to the bare proxy, the
// commit time of PostgreSQL's batches (p50, p99) and their mean size, and
// fails unless every database holds one record per request sent.
func BenchmarkScaleOut(b *testing.B) {
	r := newRig(b, mockupstream.New())
	cluster := pgtest.NewWith(b, pgtest.Options{Durable: true})
	bare := &node{name: "bare", bases: []string{r.bare.base}}
	sqliteNode := &node{name: "sqlite", bases: []string{r.recording.base}, proxies: []*proxy.Proxy{r.proxy}, stores: []store.Store{r.store}}
	pg := postgresNode(b, "pg", r.upstream, cluster.NewDatabase(b), 1)
	pg2 := postgresNode(b, "pg_x2", r.upstream, cluster.NewDatabase(b), 2)
	targets := []*node{bare, sqliteNode, pg, pg2}

	for _, v := range []struct {
		name, body string
		requests   int // per target and round
	}{
		{"chat", chatBody, 400 * scaleOutConcurrency},
		{"stream", streamBody, 200 * scaleOutConcurrency},
	} {
		b.Run(v.name, func(b *testing.B) {
			const c = scaleOutConcurrency
			for _, t := range targets { // warm connections and pools
				t.run(b, v.body, 2*c, c)
			}
			marks := map[string]int{}
			for _, t := range targets {
				if t.commits != nil {
					marks[t.name] = t.commits.mark()
				}
			}
			elapsed := map[string]time.Duration{}
			sent := 0
			for i := 0; b.Loop(); i++ {
				for j := range targets {
					t := targets[(i+j)%len(targets)]
					elapsed[t.name] += t.run(b, v.body, v.requests, c)
				}
				sent += v.requests
			}
			for _, t := range targets {
				t.check(b)
			}

			rps := map[string]float64{}
			for _, t := range targets {
				rps[t.name] = float64(sent) / elapsed[t.name].Seconds()
				b.ReportMetric(rps[t.name], t.name+"_req/s")
				if t != bare {
					b.ReportMetric(rps[t.name]/rps[bare.name], t.name+"/bare_throughput")
				}
				if t.commits != nil {
					took, _ := t.commits.since(marks[t.name])
					if len(took) == 0 {
						b.Fatalf("%s: no commit reported", t.name)
					}
					b.ReportMetric(float64(pct(took, 0.50))/1e6, t.name+"_commit_p50_ms")
					b.ReportMetric(float64(pct(took, 0.99))/1e6, t.name+"_commit_p99_ms")
					b.ReportMetric(float64(sent)/float64(len(took)), t.name+"_records/commit")
				}
			}
		})
	}
}
