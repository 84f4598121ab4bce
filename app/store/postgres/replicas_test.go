package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/postgres/pgtest"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/storetest"
)

// connect returns a plain connection to url for the test's own queries.
func connect(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// contended returns the i-th record of writer w: all writers' records fall
// in two minutes, two keys, two models and both outcomes, so that they
// upsert the same few rollup rows at once, with durations and TTFTs spread
// over many histogram buckets.
func contended(tb testing.TB, base time.Time, w, i int) *capture.Record {
	tb.Helper()
	rec := storetest.NewRecord(tb, []string{"alice", "bob"}[i%2])
	rec.KeyMask = "mask"
	rec.Start = base.Add(time.Duration(i%2)*time.Minute + time.Duration(w)*time.Millisecond)
	rec.Model = []string{"openai/gpt-4o", "meta/llama"}[(i/2)%2]
	rec.ModelRequested = rec.Model
	rec.Provider = "OpenAI"
	rec.Stream = true
	rec.Duration = time.Duration(10+(w*7919+i*104729)%5000) * time.Millisecond
	rec.TTFT = rec.Duration / 3
	rec.PromptTokens, rec.CompletionTokens = int64(i%17), int64(i%5+1)
	rec.TotalTokens = rec.PromptTokens + rec.CompletionTokens
	rec.Cost = float64(i%3) * 0.25 // exact in binary: the sums are exact in any order
	if i%7 == 0 {
		rec.Status, rec.Outcome = 500, capture.OutcomeUpstreamError
	}
	return rec
}

// TestReplicasCommitConcurrently runs two stores (two pools, as two
// replicas) on one database, each with several goroutines committing
// batches that touch the same rollup rows, while a feed reader follows the
// commit sequence. The rollups must equal the records exactly (sums and
// histograms), the sequence must be 1…n without a gap, and the reader,
// which moved its watermark as it went, must have seen every record.
func TestReplicasCommitConcurrently(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	replicas := []*postgres.Postgres{MustOpen(t, url, postgres.Options{}), MustOpen(t, url, postgres.Options{})}
	const writersPerReplica, batches, batchSize = 3, 8, 25
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)

	var (
		mu   sync.Mutex
		all  []*capture.Record
		wg   sync.WaitGroup
		errs = make(chan error, len(replicas)*writersPerReplica)
	)
	for r, s := range replicas {
		for g := range writersPerReplica {
			w := r*writersPerReplica + g
			wg.Go(func() {
				for b := range batches {
					batch := make([]*capture.Record, batchSize)
					for i := range batch {
						batch[i] = contended(t, base, w, b*batchSize+i)
					}
					if err := s.Commit(ctx, batch); err != nil {
						errs <- fmt.Errorf("writer %d: %w", w, err)
						return
					}
					mu.Lock()
					all = append(all, batch...)
					mu.Unlock()
				}
			})
		}
	}

	// The feed reader: whatever it sees, it sees in seq order, and once it
	// has seen seq N it never later finds a record below N.
	total := len(replicas) * writersPerReplica * batches * batchSize
	seen := map[string]int64{}
	var watermark int64
	readerDone := make(chan error, 1)
	go func() {
		reader := replicas[1]
		for len(seen) < total {
			recs, err := reader.Since(ctx, watermark, 1000)
			if err != nil {
				readerDone <- err
				return
			}
			for _, rec := range recs {
				if rec.Seq != watermark+1 {
					readerDone <- fmt.Errorf("after seq %d the feed handed over seq %d", watermark, rec.Seq)
					return
				}
				watermark = rec.Seq
				seen[rec.ID] = rec.Seq
			}
		}
		readerDone <- nil
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	select {
	case err := <-readerDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the feed reader saw %d of %d records", len(seen), total)
	}

	// Every record got the seq the feed shows, and the seqs are 1…total.
	seqs := make([]int64, 0, total)
	for _, rec := range all {
		if seen[rec.ID] != rec.Seq {
			t.Fatalf("record %s: Commit set seq %d, the feed shows %d", rec.ID, rec.Seq, seen[rec.ID])
		}
		seqs = append(seqs, rec.Seq)
	}
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("seqs are not 1…%d: the %d-th is %d", total, i+1, s)
		}
	}

	// The rollups against the records, by SQL and by Go.
	conn := connect(t, url)
	var n, prompt int64
	var cost float64
	if err := conn.QueryRow(ctx, `SELECT COUNT(*), SUM(prompt_tokens), SUM(cost) FROM requests`).Scan(&n, &prompt, &cost); err != nil {
		t.Fatal(err)
	}
	if n != int64(total) {
		t.Fatalf("%d rows, want %d", n, total)
	}
	var dur, ttft store.Hist
	var wantCost float64
	for _, rec := range all {
		dur.Add(float64(rec.Duration) / float64(time.Millisecond))
		ttft.Add(float64(rec.TTFT) / float64(time.Millisecond))
		wantCost += rec.Cost
	}
	if cost != wantCost {
		t.Fatalf("SUM(cost) = %v, want %v", cost, wantCost)
	}
	for _, s := range replicas {
		st, err := s.Stats(ctx, store.Filter{Viewer: store.Viewer{Admin: true}}, base)
		if err != nil {
			t.Fatal(err)
		}
		if st.TotalRequests != n || st.PromptTokens != prompt || st.TotalCost != cost {
			t.Errorf("Stats = %d requests, %d prompt tokens, cost %v; SQL counts %d, %d, %v",
				st.TotalRequests, st.PromptTokens, st.TotalCost, n, prompt, cost)
		}
		q := dur.Quantiles(0.5, 0.95, 0.99)
		if st.P50DurationMs != q[0] || st.P95DurationMs != q[1] || st.P99DurationMs != q[2] {
			t.Errorf("duration percentiles %v %v %v, want %v", st.P50DurationMs, st.P95DurationMs, st.P99DurationMs, q)
		}
	}
	// Every rollup table's histograms, merged over all its rows of one
	// grain, hold exactly the records' values: no merge was lost.
	for _, table := range []string{"rollups", "rollup_dims", "rollup_totals"} {
		for _, grain := range []int64{60, 3600, 86400} {
			rows, err := conn.Query(ctx, `SELECT requests, duration_hist, ttft_hist FROM `+table+` WHERE grain = $1`, grain)
			if err != nil {
				t.Fatal(err)
			}
			var gotDur, gotTTFT store.Hist
			var requests int64
			for rows.Next() {
				var r int64
				var d, tt []byte
				if err := rows.Scan(&r, &d, &tt); err != nil {
					t.Fatal(err)
				}
				requests += r
				gotDur.MergeEncoded(d)
				gotTTFT.MergeEncoded(tt)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if requests != n {
				t.Errorf("%s grain %d: %d requests, want %d", table, grain, requests, n)
			}
			if !bytes.Equal(gotDur.Encode(), dur.Encode()) || !bytes.Equal(gotTTFT.Encode(), ttft.Encode()) {
				t.Errorf("%s grain %d: histograms differ from the records'", table, grain)
			}
		}
	}
	// api_keys counts every request per key.
	keys, err := replicas[0].Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Requests+keys[1].Requests != n || keys[0].Requests != n/2 {
		t.Errorf("Keys = %+v, want alice and bob with %d requests each", keys, n/2)
	}
}

// TestReplicasRecordConcurrently records through two replicas' pipelines
// at once, as two proxies do: after both flush, Stats on either equals a
// direct SQL count and sum, and the feed holds seqs 1…n without a gap.
func TestReplicasRecordConcurrently(t *testing.T) {
	url := pgtest.Start(t).NewDatabase(t)
	replicas := []*postgres.Postgres{
		MustOpen(t, url, postgres.Options{BatchSize: 16}),
		MustOpen(t, url, postgres.Options{BatchSize: 16}),
	}
	const goroutines, each = 4, 150
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	var wg sync.WaitGroup
	for g := range goroutines {
		s := replicas[g%2]
		wg.Go(func() {
			for i := range each {
				storetest.MustRecord(t, s, contended(t, base, g, i))
			}
		})
	}
	wg.Wait()
	for _, s := range replicas {
		storetest.MustFlush(t, s)
		if h := s.Health(); h.Lost != 0 || h.Failing {
			t.Fatalf("Health = %+v", h)
		}
	}

	var n, completion int64
	var cost float64
	if err := connect(t, url).QueryRow(ctx, `SELECT COUNT(*), SUM(completion_tokens), SUM(cost) FROM requests`).Scan(&n, &completion, &cost); err != nil {
		t.Fatal(err)
	}
	if n != goroutines*each {
		t.Fatalf("%d rows, want %d", n, goroutines*each)
	}
	for i, s := range replicas {
		st, err := s.Stats(ctx, store.Filter{Viewer: store.Viewer{Admin: true}}, base)
		if err != nil {
			t.Fatal(err)
		}
		if st.TotalRequests != n || st.CompletionTokens != completion || st.TotalCost != cost {
			t.Errorf("replica %d: Stats = %d requests, %d completion tokens, cost %v; SQL counts %d, %d, %v",
				i, st.TotalRequests, st.CompletionTokens, st.TotalCost, n, completion, cost)
		}
		alice, err := s.Count(ctx, store.Filter{Viewer: store.Viewer{KeyHash: "alice"}})
		if err != nil || alice != n/2 {
			t.Errorf("replica %d: alice counts %d, %v; want %d", i, alice, err, n/2)
		}
	}
	recs, err := replicas[0].Since(ctx, 0, int(n)+1)
	if err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		if rec.Seq != int64(i+1) {
			t.Fatalf("the %d-th record of the feed has seq %d", i+1, rec.Seq)
		}
	}
	if int64(len(recs)) != n {
		t.Fatalf("the feed holds %d records, want %d", len(recs), n)
	}
}
