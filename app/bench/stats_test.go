package bench_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/dataset"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/app/store/sqlite"
)

// statsRecords is the size of the database BenchmarkStats reads: the
// million records of `task bench`. ORP_STATS_RECORDS overrides it, to
// develop against a smaller database (built and cached separately).
const statsRecords = dataset.BenchRecords

func statsRecordCount(b *testing.B) int {
	if v := os.Getenv("ORP_STATS_RECORDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("ORP_STATS_RECORDS=%q", v)
		}
		return n
	}
	return statsRecords
}

// BenchmarkStats measures the store's statistics over the benchmark
// database, answered from the rollups: Stats, Breakdown, Series and List
// (with its total count) with filters, for an admin and for one key's
// user, over the windows the dashboard offers, as p50 and p95 server time
// in milliseconds. The baseline is the aggregate over the records that
// answered the statistics before the rollups, for one filter, measured once
// in the same run; its ratio to Stats' p50 is reported. The first run on a database built before the rollups
// existed pays for their backfill at Open (reported as backfill_s).
func BenchmarkStats(b *testing.B) {
	info := dataset.BenchDB(b, statsRecordCount(b))
	began := time.Now()
	st, err := sqlite.Open(context.Background(), info.Path, sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	opened := time.Since(began)
	ctx := context.Background()
	now := info.End
	admin := store.Viewer{Admin: true}
	user := store.Viewer{KeyHash: info.Keys[7].Hash}

	// A model to filter by: the busiest one.
	models, err := st.Breakdown(ctx, store.Filter{Viewer: admin}, store.ByModel)
	if err != nil || len(models) == 0 {
		b.Fatalf("models: %v %v", models, err)
	}
	model := models[0].Value

	windows := []struct {
		name string
		span time.Duration
		step time.Duration
	}{
		{"1h", time.Hour, time.Minute},
		{"24h", 24 * time.Hour, time.Hour},
		{"7d", 7 * 24 * time.Hour, time.Hour},
		{"30d", 30 * 24 * time.Hour, 24 * time.Hour},
		{"all", 0, 24 * time.Hour},
	}
	filterOf := func(v store.Viewer, span time.Duration) store.Filter {
		f := store.Filter{Viewer: v}
		if span > 0 {
			// Not on a minute: the ragged edges are read from the rows.
			f.From, f.To = now.Add(-span).Add(-17*time.Second), now.Add(-17*time.Second)
		}
		return f
	}

	// The baseline: the statistics as they were computed before the
	// rollups, by an aggregate over the records, once.
	raw, err := sql.Open("sqlite3", "file:"+info.Path+"?mode=ro")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	baseStart := time.Now()
	var n int64
	var cost float64
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(cost), 0) FROM requests
		WHERE (model = ? OR model_requested = ?) AND outcome = 'ok'`, model, model).Scan(&n, &cost); err != nil {
		b.Fatal(err)
	}
	scan := time.Since(baseStart)

	var statsP50 time.Duration
	for _, who := range []struct {
		name string
		v    store.Viewer
	}{{"admin", admin}, {"user", user}} {
		b.Run(who.name, func(b *testing.B) {
			report := func(name string, lat []time.Duration) {
				b.ReportMetric(float64(pct(lat, 0.5))/1e6, name+"_p50_ms")
				b.ReportMetric(float64(pct(lat, 0.95))/1e6, name+"_p95_ms")
			}
			timed := func(lat *[]time.Duration, fn func() error) {
				start := time.Now()
				if err := fn(); err != nil {
					b.Fatal(err)
				}
				*lat = append(*lat, time.Since(start))
			}
			var stats, filtered, breakdown, series, list, listFiltered, listWindowed []time.Duration
			for range b.N {
				for _, w := range windows {
					f := filterOf(who.v, w.span)
					timed(&stats, func() error { _, err := st.Stats(ctx, f, now); return err })
					ff := f
					ff.Model, ff.Status = model, store.StatusSuccess
					timed(&filtered, func() error { _, err := st.Stats(ctx, ff, now); return err })
					for _, by := range []store.Dimension{store.ByModel, store.ByProvider, store.ByStatusClass, store.ByKey} {
						timed(&breakdown, func() error { _, err := st.Breakdown(ctx, f, by); return err })
					}
					timed(&series, func() error { _, err := st.Series(ctx, f, w.step); return err })
					// The table within the window, as a breakdown row's
					// link opens it, and filtered by model as well.
					fl := f
					fl.Limit = 50
					timed(&listWindowed, func() error { _, _, err := st.List(ctx, fl); return err })
					fl.Model = model
					timed(&listWindowed, func() error { _, _, err := st.List(ctx, fl); return err })
				}
				for range 5 {
					timed(&list, func() error {
						_, _, err := st.List(ctx, store.Filter{Viewer: who.v, Limit: 50})
						return err
					})
					timed(&listFiltered, func() error {
						_, _, err := st.List(ctx, store.Filter{Viewer: who.v, Model: model, Status: store.StatusSuccess, Limit: 50})
						return err
					})
				}
			}
			report("stats", stats)
			report("stats_filtered", filtered)
			report("breakdown", breakdown)
			report("series", series)
			report("list", list)
			report("list_filtered", listFiltered)
			report("list_windowed", listWindowed)
			if who.name == "admin" {
				statsP50 = pct(stats, 0.5)
			}
		})
	}
	b.Run("baseline", func(b *testing.B) {
		b.ReportMetric(float64(scan)/1e6, "scan_aggregate_ms")
		if statsP50 > 0 {
			b.ReportMetric(float64(scan)/float64(statsP50), "scan/stats_p50")
		}
		b.ReportMetric(opened.Seconds(), "open_s")
		b.ReportMetric(float64(info.Records), "records")
	})
}
