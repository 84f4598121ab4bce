package dataset_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/app/dataset"
)

// BenchmarkNext measures how fast the generator makes records, with the
// bytes it makes per record.
func BenchmarkNext(b *testing.B) {
	g := dataset.New(1, dataset.Options{})
	var bytes int64
	for b.Loop() {
		rec := g.Next()
		bytes += int64(len(rec.ReqBody.Head) + len(rec.RespBody.Head))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/record")
}

// BenchmarkBuild measures Build: b.N generated records written through the
// real store into a new database, analysis included. Run it with
// -benchtime 100000x to see what a million will take.
func BenchmarkBuild(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.db")
	var progress io.Writer
	if testing.Verbose() {
		progress = os.Stderr
	}
	info, err := dataset.Build(context.Background(), path, b.N, dataset.BuildOptions{Seed: 1, Progress: progress})
	if err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/info.BuildTime.Seconds(), "records/s")
	b.ReportMetric(float64(st.Size())/float64(b.N), "db_bytes/record")
}

// BenchmarkBenchDB builds, or finds up to date, the benchmark database of
// BenchRecords records in DefaultDir, the one `task bench` measures search
// and analytics against, and reports how long its build took:
//
//	go test -run '^$' -bench BenchDB -benchtime 1x ./app/dataset
func BenchmarkBenchDB(b *testing.B) {
	info := dataset.BenchDB(b, dataset.BenchRecords)
	for b.Loop() {
	}
	st, err := os.Stat(info.Path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(info.BuildTime.Seconds(), "build_s")
	b.ReportMetric(float64(st.Size())/(1<<30), "db_GiB")
}
