package bench_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/dataset"
	"github.com/openrouter-proxy/openrouter-proxy/app/search"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

// searchWorld is the benchmark database of a million generated exchanges
// (app/dataset), its store, and its search index, built once and kept
// beside the database.
type searchWorld struct {
	info      dataset.Info
	st        *sqlite.SQLite
	ix        *search.Index
	textBytes int64 // the text the index holds, as search.TextSize counts it
	indexDir  string
}

// textCounter is a Source that counts the text it hands to the index.
type textCounter struct {
	*sqlite.SQLite
	bytes atomic.Int64
	limit int64 // stop after this many records; 0 = none
	seen  atomic.Int64
}

func (c *textCounter) Since(ctx context.Context, after int64, limit int) ([]*capture.Record, error) {
	if c.limit > 0 {
		left := c.limit - c.seen.Load()
		if left <= 0 {
			return nil, nil
		}
		limit = int(min(int64(limit), left))
	}
	recs, err := c.SQLite.Since(ctx, after, limit)
	for _, r := range recs {
		c.bytes.Add(int64(search.TextSize(r)))
	}
	c.seen.Add(int64(len(recs)))
	return recs, err
}

func openSearchWorld(b *testing.B) *searchWorld {
	b.Helper()
	info := dataset.BenchDB(b, dataset.BenchRecords)
	quiet := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(context.Background(), info.Path, sqlite.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	w := &searchWorld{info: info, st: st, indexDir: info.Path + ".search"}
	sizeFile := filepath.Join(w.indexDir, "text-bytes")
	if _, err := os.Stat(sizeFile); err != nil {
		// Build the index once; later runs reuse it.
		src := &textCounter{SQLite: st}
		bar := progressbar.NewOptions64(int64(info.Records), progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription("search index"), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(time.Second))
		start := time.Now()
		n, err := search.Reindex(context.Background(), search.Options{Dir: w.indexDir, Source: src, Logger: quiet,
			Progress: func(done, total int64) { bar.Set64(done) }})
		if err != nil {
			b.Fatal(err)
		}
		bar.Finish()
		b.Logf("search index: %d records in %v (%.0f records/s)", n, time.Since(start).Round(time.Second), float64(n)/time.Since(start).Seconds())
		os.WriteFile(sizeFile, []byte(strconv.FormatInt(src.bytes.Load(), 10)), 0o600)
	}
	raw, _ := os.ReadFile(sizeFile)
	w.textBytes, _ = strconv.ParseInt(string(raw), 10, 64)
	ix, err := search.Open(search.Options{Dir: w.indexDir, Source: st, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ix.Close() })
	feed, err := st.Feed(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := ix.Wait(ctx, feed.MaxSeq); err != nil {
		b.Fatal(err)
	}
	w.ix = ix
	return w
}

// dirSize returns the bytes of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// page is what the dashboard does for a searched table: the search, newest
// first with the total count and facets, then the page's rows from SQLite.
func (w *searchWorld) page(b *testing.B, text string, v store.Viewer) (time.Duration, uint64) {
	q, err := search.Parse(text)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	res, err := w.ix.Search(context.Background(), search.Request{Query: q, Viewer: v, Filter: store.Filter{Viewer: v}, Limit: 20, Facets: true})
	if err != nil {
		b.Fatalf("%s: %v", text, err)
	}
	if len(res.IDs) > 0 { // as the dashboard does
		if _, _, err := w.st.List(context.Background(), store.Filter{Viewer: v, IDs: res.IDs, Limit: len(res.IDs)}); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start), res.Total
}

// searchClasses are the searches timed, by the class the targets name.
var searchClasses = []struct {
	class   string
	queries []string
}{
	{"term", []string{"berlin42", "zanzibar17", "marmoset5", "quokka88", "琥珀鲸", "檸檬飴", "elephant"}},
	{"phrase", []string{`"purple elephant migration"`, `"berlin42 internally"`, `"tagged zanzibar17"`}},
	{"fuzzy", []string{"berlin43", "zanzibar71", "marmoset6", "quoka88", "elephnt"}},
}

// BenchmarkSearch1M measures searches of the dashboard over a million
// records: p50 and p95 server time per class, for an admin and for one
// key's user, against the SQL substring scan the index replaced (the
// baseline, measured in the same run on the same database), and the
// index's size against the text it holds.
func BenchmarkSearch1M(b *testing.B) {
	w := openSearchWorld(b)
	user := store.Viewer{KeyHash: w.info.Keys[7].Hash}
	admin := store.Viewer{Admin: true}

	// The baseline: today's SQL search, once per run (it takes seconds).
	start := time.Now()
	if _, _, err := w.st.List(context.Background(), store.Filter{Viewer: admin, Search: "berlin42", Limit: 20}); err != nil {
		b.Fatal(err)
	}
	sqlScan := time.Since(start)

	for _, who := range []struct {
		name string
		v    store.Viewer
	}{{"admin", admin}, {"user", user}} {
		b.Run(who.name, func(b *testing.B) {
			for _, c := range searchClasses {
				var lat []time.Duration
				for range b.N {
					for range 10 {
						for _, q := range c.queries {
							d, _ := w.page(b, q, who.v)
							lat = append(lat, d)
						}
					}
				}
				b.ReportMetric(float64(pct(lat, 0.5))/1e6, c.class+"_p50_ms")
				b.ReportMetric(float64(pct(lat, 0.95))/1e6, c.class+"_p95_ms")
				if c.class == "term" {
					b.ReportMetric(float64(sqlScan)/float64(pct(lat, 0.5)), "sql_scan/term_p50")
				}
			}
		})
	}
	// Metrics of a benchmark with sub-benchmarks are not printed: these go
	// in one of their own.
	b.Run("size", func(b *testing.B) {
		idx := dirSize(filepath.Join(w.indexDir, "index"))
		b.ReportMetric(float64(sqlScan)/1e6, "sql_scan_ms")
		b.ReportMetric(float64(idx)/float64(w.textBytes), "index/text")
		b.ReportMetric(float64(idx>>20), "index_MiB")
		b.ReportMetric(float64(w.textBytes>>20), "text_MiB")
	})
}

// BenchmarkIndexCatchUp measures how fast the index catches up from
// SQLite, as after a crash: 20 000 records of the benchmark database into
// a fresh index, in records per second.
func BenchmarkIndexCatchUp(b *testing.B) {
	info := dataset.BenchDB(b, dataset.BenchRecords)
	st, err := sqlite.Open(context.Background(), info.Path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const n = 20_000
	var rate []float64
	for range b.N {
		src := &textCounter{SQLite: st, limit: n}
		start := time.Now()
		got, err := search.Reindex(context.Background(), search.Options{Dir: b.TempDir(), Source: src, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil || got != n {
			b.Fatalf("indexed %d: %v", got, err)
		}
		rate = append(rate, float64(n)/time.Since(start).Seconds())
	}
	b.ReportMetric(median(rate), "records/s")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
