package bench_test

import (
	"context"
	"io"
	"iter"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/dataset"
	"github.com/openrouter-proxy/openrouter-proxy/app/seed"
	"github.com/openrouter-proxy/openrouter-proxy/app/seed/seedtest"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

// importRows is how many rows the seed file of BenchmarkImportSeed holds.
const importRows = 50_000

// seedFile writes a seed-format database of n rows made from the dataset
// generator's traffic (multi-turn chats of 2–4 KiB, three quarters of them
// streamed, errors, several keys), as the original system would have
// stored it.
func seedFile(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "seed.db")
	g := dataset.New(1, dataset.Options{Records: n})
	rows := func(yield func(seed.Row) bool) {
		for range n {
			if !yield(seedtest.RowOf(g.Next())) {
				return
			}
		}
	}
	if err := seedtest.WriteFile(context.Background(), path, iter.Seq[seed.Row](rows)); err != nil {
		b.Fatal(err)
	}
	return path
}

// discard is a seed.Store that keeps nothing: the import without the store.
type discard struct{}

func (discard) Record(*capture.Record) error { return nil }

func (discard) Existing(context.Context, []string) (map[string]bool, error) {
	return map[string]bool{}, nil
}

func (discard) Flush(context.Context) error { return nil }

// BenchmarkImportSeed imports a seed file of 50 000 generated exchanges into
// a fresh store through its writer (analysis, insert, hooks), and reports
// rows/s (the target is 20 000) and the writer's time in its transactions. ReadConvert is the same import into a
// store that drops every record: what reading the old file and building
// the records cost, apart from the store.
//
//	go test -run '^$' -bench ImportSeed -benchtime 3x ./app/bench
func BenchmarkImportSeed(b *testing.B) {
	src, err := seed.Open(context.Background(), seedFile(b, importRows))
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	b.Run("Store", func(b *testing.B) {
		var took, writing time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "proxy_requests.db"),
				sqlite.Options{QueueWait: seed.StoreQueueWait, BatchSize: seed.StoreBatch, QueueBytes: seed.StoreQueueBytes, Logger: quiet, // as runImportSeed opens it
					OnCommit: func(d time.Duration, _ int) { writing += d }}) // on the writer goroutine, which Close waits for
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			sum, err := src.Import(ctx, st, seed.ImportOptions{})
			took += time.Since(start)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if sum.Imported != importRows || st.Health().Lost != 0 {
				b.Fatalf("%s, %d lost; want %d imported", sum, st.Health().Lost, importRows)
			}
			if err := st.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(importRows*b.N)/took.Seconds(), "rows/s")
		// How long the single writer spent in its transactions (insert,
		// rollups, commit), per row and as a share of the import's time:
		// near 100% means the writer, not the readers or the analysis,
		// sets the pace.
		b.ReportMetric(float64(writing.Microseconds())/float64(importRows*b.N), "writer-µs/row")
		b.ReportMetric(100*writing.Seconds()/took.Seconds(), "writer-busy-%")
	})

	b.Run("ReadConvert", func(b *testing.B) {
		var took time.Duration
		for i := 0; i < b.N; i++ {
			start := time.Now()
			sum, err := src.Import(ctx, discard{}, seed.ImportOptions{})
			took += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
			if sum.Imported != importRows {
				b.Fatalf("%s; want %d imported", sum, importRows)
			}
		}
		b.ReportMetric(float64(importRows*b.N)/took.Seconds(), "rows/s")
	})
}
