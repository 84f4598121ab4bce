package views_test

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/views"
)

func TestScale(t *testing.T) {
	s := views.Scale{D0: 0, D1: 100, R0: 200, R1: 10}
	for _, tc := range []struct{ v, want float64 }{{0, 200}, {100, 10}, {50, 105}, {25, 152.5}} {
		if got := s.Map(tc.v); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("Map(%v) = %v, want %v", tc.v, got, tc.want)
		}
	}
	if got := (views.Scale{D0: 5, D1: 5, R0: 3, R1: 9}).Map(7); got != 3 {
		t.Errorf("empty domain: Map = %v, want R0 = 3", got)
	}
}

func TestNiceTicks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		max     float64
		n       int
		integer bool
		want    []float64
	}{
		{"Ones", 4, 4, true, []float64{0, 1, 2, 3, 4}},
		{"Twos", 7, 4, true, []float64{0, 2, 4, 6, 8}},
		{"Fives", 17, 4, false, []float64{0, 5, 10, 15, 20}},
		{"Hundreds", 340, 4, false, []float64{0, 100, 200, 300, 400}},
		{"Exact", 400, 4, false, []float64{0, 100, 200, 300, 400}},
		{"Fractions", 0.0042, 4, false, []float64{0, 0.002, 0.004, 0.006}},
		{"NoNoise", 0.7, 4, false, []float64{0, 0.2, 0.4, 0.6, 0.8}},
		{"IntegerFloor", 2, 4, true, []float64{0, 1, 2}},
		{"Zero", 0, 4, true, []float64{0, 1}},
		{"NaN", math.NaN(), 4, false, []float64{0, 0.5, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := views.NiceTicks(tc.max, tc.n, tc.integer)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("NiceTicks(%v, %d, %t) = %v, want %v", tc.max, tc.n, tc.integer, got, tc.want)
			}
			if len(got) > tc.n+2 {
				t.Errorf("%d ticks for n = %d", len(got), tc.n)
			}
			if last := got[len(got)-1]; !(last >= tc.max) && !math.IsNaN(tc.max) {
				t.Errorf("last tick %v below max %v", last, tc.max)
			}
		})
	}
}

func TestStack(t *testing.T) {
	got := views.Stack([]float64{1, 0, 2.5, -1, 3})
	want := [][2]float64{{0, 1}, {1, 1}, {1, 3.5}, {3.5, 3.5}, {3.5, 6.5}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Stack = %v, want %v", got, want)
	}
}

func tickLabels(ts []views.Tick) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Label
	}
	return out
}

func TestTimeTicks(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	t.Run("HourAsMinutes", func(t *testing.T) {
		ts := views.TimeTicks(at("2026-03-04 13:07"), at("2026-03-04 14:08"), 40, 390)
		// A label of "15:04" takes 46 units with its gap: 10 minutes,
		// 57 units apart, is the finest spacing that keeps them apart.
		want := []string{"13:10", "13:20", "13:30", "13:40", "13:50", "14:00"}
		if got := tickLabels(ts); !reflect.DeepEqual(got, want) {
			t.Errorf("labels %v, want %v", got, want)
		}
		// 13:10 is 3 of 61 minutes in.
		if got, want := ts[0].Pos, 40+350*3.0/61; math.Abs(got-want) > 1e-9 {
			t.Errorf("first tick at %v, want %v", got, want)
		}
	})
	t.Run("DayThinned", func(t *testing.T) {
		// 24 h in a narrow 150 units: labels 6 h apart would be 37.5
		// units apart, too close; 12 h apart fit, but 00:00 would stand
		// half under the y axis' labels.
		ts := views.TimeTicks(at("2026-03-04 00:00"), at("2026-03-05 00:00"), 40, 190)
		want := []string{"12:00"}
		if got := tickLabels(ts); !reflect.DeepEqual(got, want) {
			t.Errorf("labels %v, want %v", got, want)
		}
	})
	t.Run("WeekAsDates", func(t *testing.T) {
		// Room is kept for "Dec 28", 53 units: days, 49 units apart, are
		// too close; every other day, at whole days since the epoch.
		ts := views.TimeTicks(at("2026-03-01 10:00"), at("2026-03-08 12:00"), 40, 390)
		want := []string{"Mar 2", "Mar 4", "Mar 6", "Mar 8"}
		if got := tickLabels(ts); !reflect.DeepEqual(got, want) {
			t.Errorf("labels %v, want %v", got, want)
		}
	})
	t.Run("YearsNamed", func(t *testing.T) {
		ts := views.TimeTicks(at("2025-11-01 00:00"), at("2026-02-01 00:00"), 40, 390)
		for _, l := range tickLabels(ts) {
			if !strings.Contains(l, "'2") {
				t.Errorf("label %q lacks the year though the span crosses one", l)
			}
		}
		if len(ts) < 2 {
			t.Errorf("%d labels for three months", len(ts))
		}
	})
	t.Run("NeverOverlap", func(t *testing.T) {
		start := at("2026-03-04 13:07")
		for _, span := range []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour, 3 * 365 * 24 * time.Hour} {
			for _, width := range []float64{80, 200, 350} {
				ts := views.TimeTicks(start, start.Add(span), 40, 40+width)
				if len(ts) == 0 && width >= 200 {
					t.Errorf("span %v in %v units: no labels", span, width)
				}
				for i := 1; i < len(ts); i++ {
					// 7.2 units a character at font size 12, and a gap.
					room := float64(len(ts[i-1].Label)+len(ts[i].Label))/2*7.2 + 1
					if ts[i].Pos-ts[i-1].Pos < room {
						t.Errorf("span %v in %v units: %q at %v and %q at %v overlap", span, width, ts[i-1].Label, ts[i-1].Pos, ts[i].Label, ts[i].Pos)
					}
				}
			}
		}
	})
	if got := views.TimeTicks(at("2026-03-04 13:07"), at("2026-03-04 13:07"), 40, 390); got != nil {
		t.Errorf("empty span: %v, want none", got)
	}
}

// series returns n steps of step from start, with the given requests,
// errors and costs where set.
func series(start time.Time, step time.Duration, n int, set map[int]views.SeriesPoint) views.Series {
	s := views.Series{Step: step}
	for i := range n {
		p := set[i]
		p.Start = start.Add(time.Duration(i) * step)
		s.Points = append(s.Points, p)
	}
	return s
}

var chartStart = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func TestRequestsChart(t *testing.T) {
	s := series(chartStart, 15*time.Minute, 8, map[int]views.SeriesPoint{
		1: {Requests: 4, Errors: 1},
		5: {Requests: 2},
	})
	c := views.RequestsChart(s)
	if c.Empty != "" {
		t.Fatalf("Empty %q with requests", c.Empty)
	}
	if len(c.Bars) != 3 {
		t.Fatalf("%d bars, want 2 request bars and 1 error bar: %+v", len(c.Bars), c.Bars)
	}
	req, errs, req2 := c.Bars[0], c.Bars[1], c.Bars[2]
	if req.Class != "ch-req" || errs.Class != "ch-err" || req2.Class != "ch-req" {
		t.Errorf("classes %q %q %q", req.Class, errs.Class, req2.Class)
	}
	// The y axis runs 0–4 in ones; the bars stand on the plot's bottom.
	if got := tickLabels(c.YTicks); !reflect.DeepEqual(got, []string{"0", "1", "2", "3", "4"}) {
		t.Errorf("y labels %v", got)
	}
	bottom := c.Plot.Bottom()
	for _, b := range c.Bars {
		if math.Abs(b.Bottom()-bottom) > 1e-9 {
			t.Errorf("bar %q ends at %v, not on the axis at %v", b.Title, b.Bottom(), bottom)
		}
	}
	if math.Abs(req.H-c.Plot.H) > 1e-9 || math.Abs(errs.H-c.Plot.H/4) > 1e-9 || math.Abs(req2.H-c.Plot.H/2) > 1e-9 {
		t.Errorf("heights %v %v %v, want %v, a quarter and a half", req.H, errs.H, req2.H, c.Plot.H)
	}
	// Step 1 of 8 and step 5.
	slotW := c.Plot.W / 8
	if req.X < c.Plot.X+slotW || req.Right() > c.Plot.X+2*slotW || req2.X < c.Plot.X+5*slotW {
		t.Errorf("bars at %v and %v, slots of %v from %v", req.X, req2.X, slotW, c.Plot.X)
	}
	if want := "2026-03-04 12:15 UTC: 4 requests, 1 error"; req.Title != want || errs.Title != want {
		t.Errorf("titles %q, %q, want %q", req.Title, errs.Title, want)
	}
	if !strings.Contains(c.Summary, "6 requests, 1 error") {
		t.Errorf("summary %q", c.Summary)
	}
}

func TestLatencyChart(t *testing.T) {
	s := series(chartStart, time.Hour, 6, map[int]views.SeriesPoint{
		0: {Requests: 1, P50Ms: 100, P95Ms: 200},
		1: {Requests: 3, P50Ms: 150, P95Ms: 390},
		3: {Requests: 1, P50Ms: 120, P95Ms: 120},
	})
	c := views.LatencyChart(s)
	if len(c.Lines) != 2 {
		t.Fatalf("%d lines, want p50 and p95", len(c.Lines))
	}
	p95 := c.Lines[1]
	if p95.Label != "p95" || len(p95.Points) != 3 {
		t.Fatalf("p95 line %q with %d points, want 3", p95.Label, len(p95.Points))
	}
	// Broken over the empty step 2: two subpaths.
	if n := strings.Count(p95.Path, "M"); n != 2 {
		t.Errorf("path %q has %d subpaths, want 2", p95.Path, n)
	}
	if got := tickLabels(c.YTicks); !reflect.DeepEqual(got, []string{"0", "100 ms", "200 ms", "300 ms", "400 ms"}) {
		t.Errorf("y labels %v", got)
	}
	// 390 of 400 ms up the plot.
	if got, want := p95.Points[1].Y, c.Plot.Bottom()-c.Plot.H*390/400; math.Abs(got-want) > 1e-9 {
		t.Errorf("p95 of step 1 at y %v, want %v", got, want)
	}
	if want := "2026-03-04 13:00 UTC: p95 390 ms"; p95.Points[1].Title != want {
		t.Errorf("title %q, want %q", p95.Points[1].Title, want)
	}
}

func TestCostChartStacksTopModels(t *testing.T) {
	costs := map[string]float64{"m1": 6, "m2": 5, "m3": 4, "m4": 3, "m5": 2, "m6": 1, "m7": 0.5}
	s := series(chartStart, 24*time.Hour, 3, map[int]views.SeriesPoint{
		1: {Requests: 7, Cost: 21.5, ModelCost: costs},
		2: {Requests: 1, Cost: 1, ModelCost: map[string]float64{"m6": 1}},
	})
	c := views.CostChart(s)
	var legend []string
	for _, l := range c.Legend {
		legend = append(legend, l.Label)
	}
	if want := []string{"m1", "m2", "m3", "m4", "m5", "other"}; !reflect.DeepEqual(legend, want) {
		t.Errorf("legend %v, want %v", legend, want)
	}
	// Step 1: six segments, m1 at the bottom, "other" (m6 + m7) on top,
	// touching; step 2: "other" alone.
	if len(c.Bars) != 7 {
		t.Fatalf("%d bars, want 7: %+v", len(c.Bars), c.Bars)
	}
	for i := 1; i < 6; i++ {
		if below, above := c.Bars[i-1], c.Bars[i]; math.Abs(above.Bottom()-below.Y) > 1e-9 {
			t.Errorf("segment %d (%s) does not sit on segment %d", i, above.Class, i-1)
		}
	}
	if c.Bars[0].Class != "ch-s0" || c.Bars[5].Class != "ch-other" || c.Bars[6].Class != "ch-other" {
		t.Errorf("classes %q, %q, %q", c.Bars[0].Class, c.Bars[5].Class, c.Bars[6].Class)
	}
	sc := views.Scale{D0: 0, D1: 30, R0: c.Plot.Bottom(), R1: c.Plot.Y} // ticks 0, 10, 20, 30
	if got, want := c.Bars[5].Y, sc.Map(21.5); math.Abs(got-want) > 1e-9 {
		t.Errorf("stack top at %v, want %v", got, want)
	}
	if want := "2026-03-05: other $1.50 of $21.50"; c.Bars[5].Title != want {
		t.Errorf("title %q, want %q", c.Bars[5].Title, want)
	}
}

func TestTokensChart(t *testing.T) {
	var ms []views.ModelTokens
	for i := range 10 {
		ms = append(ms, views.ModelTokens{Model: "model-" + string(rune('a'+i)), In: int64(100 * (i + 1)), Out: int64(10 * (i + 1))})
	}
	c := views.TokensChart(ms)
	// Eight rows: seven models, the busiest first, and "other" (a, b, c).
	if len(c.Labels) != 8 {
		t.Fatalf("%d labels, want 8", len(c.Labels))
	}
	if c.Labels[0].Text != "model-j · 1,100" || c.Labels[7].Text != "other · 660" {
		t.Errorf("labels %q … %q", c.Labels[0].Text, c.Labels[7].Text)
	}
	if len(c.Bars) != 16 {
		t.Errorf("%d bars, want an in and an out bar per row", len(c.Bars))
	}
	in, out := c.Bars[0], c.Bars[1]
	if in.Class != "ch-in" || out.Class != "ch-out" || math.Abs(out.X-in.Right()) > 1e-9 {
		t.Errorf("row 0: %+v then %+v, want out right after in", in, out)
	}
	if want := "model-j: 1,100 tokens (1,000 in, 100 out)"; in.Title != want {
		t.Errorf("title %q, want %q", in.Title, want)
	}
	if c.Height <= 8*30 {
		t.Errorf("height %v too small for 8 rows", c.Height)
	}
}

func TestEmptyCharts(t *testing.T) {
	s := series(chartStart, time.Hour, 24, nil)
	for _, c := range []views.Chart{views.RequestsChart(s), views.LatencyChart(s), views.CostChart(s), views.TokensChart(nil),
		views.RequestsChart(views.Series{Step: time.Hour})} {
		if c.Empty == "" || len(c.Bars) != 0 || len(c.Lines) != 0 {
			t.Errorf("%s: Empty %q, %d bars, %d lines; want an empty note and nothing drawn", c.ID, c.Empty, len(c.Bars), len(c.Lines))
		}
		if c.Summary == "" || c.Width == 0 || c.Height == 0 {
			t.Errorf("%s: summary %q, size %vx%v", c.ID, c.Summary, c.Width, c.Height)
		}
	}
}

func TestChartViewRenders(t *testing.T) {
	s := series(chartStart, 15*time.Minute, 4, map[int]views.SeriesPoint{2: {Requests: 3, Errors: 1, P50Ms: 10, P95Ms: 20}})
	doc, html := render(t, views.ChartView(views.RequestsChart(s)))
	svg := one(t, doc, "svg")
	if attr(svg, "role") != "img" || !strings.Contains(attr(svg, "aria-label"), "3 requests") || attr(svg, "viewBox") != "0 0 400 220" {
		t.Errorf("svg role %q, aria-label %q, viewBox %q", attr(svg, "role"), attr(svg, "aria-label"), attr(svg, "viewBox"))
	}
	if n := doc.Find("rect title").Length(); n != 2 {
		t.Errorf("%d bar titles, want 2", n)
	}
	if strings.Contains(html, "style=") {
		t.Error("inline style: the CSP forbids it")
	}
}
