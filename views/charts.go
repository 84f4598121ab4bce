package views

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The statistics page draws its charts as SVG on the server. This file lays
// them out: pure functions from the numbers to shapes in the SVG's
// coordinates, which charts.templ only prints. Colours are classes (see the
// "Charts" section of app.css), so dark mode and the CSP's style-src 'self'
// both hold: no inline style.

// Chart geometry, in SVG user units. The SVG scales to the width of its
// box (viewBox, width 100%), so these fix the aspect ratio and the size of
// the text relative to the plot: at a phone's 340 px the 12-unit labels
// are about 10 px high.
const (
	chartWidth    = 400.0
	chartHeight   = 220.0
	chartFont     = 12.0 // tick labels
	chartCharW    = 0.6 * chartFont
	chartPadTop   = 12.0
	chartPadR     = 10.0
	chartPadBot   = 22.0 // x labels
	chartLabelGap = 10.0 // room kept between two labels of an axis
	// maxStacked is how many models a stacked chart shows apart; the rest
	// are summed as "other".
	maxStacked = 5
	// maxBarModels is how many models the tokens chart lists.
	maxBarModels = 8
)

// Chart is one SVG chart, laid out. The zero Chart draws nothing.
type Chart struct {
	// ID names the chart in data-testid ("chart-"+ID).
	ID string
	// Title is the heading above the chart; Summary its aria-label, the
	// chart in one sentence for screen readers.
	Title, Summary string
	// Width and Height are the viewBox.
	Width, Height float64
	// Plot is the area inside the axes.
	Plot Rect
	// XTicks and YTicks are the axes' labelled ticks: Pos is an x for
	// XTicks, a y for YTicks. Grid lines are drawn at the YTicks.
	XTicks, YTicks []Tick
	// YUnit names the unit of the y axis ("ms", "USD", …); XUnit of the x
	// axis ("UTC").
	XUnit, YUnit string
	Bars         []Bar
	Lines        []Line
	// Labels are free text on the chart, such as the names of a
	// horizontal bar chart's bars.
	Labels []Label
	Legend []LegendItem
	// Empty, when set, is shown instead of any data: nothing to draw.
	Empty string
}

// Rect is a rectangle in SVG user units.
type Rect struct{ X, Y, W, H float64 }

// Right is the rectangle's right edge.
func (r Rect) Right() float64 { return r.X + r.W }

// Bottom is the rectangle's bottom edge.
func (r Rect) Bottom() float64 { return r.Y + r.H }

// Tick is one labelled position on an axis.
type Tick struct {
	Pos   float64
	Label string
}

// Bar is one rectangle of a bar chart; Title is its hover text with the
// exact values.
type Bar struct {
	Rect
	Class, Title string
}

// Line is one series of a line chart: Path is its SVG path (broken where
// a step has no value), Points its markers, each with hover text.
type Line struct {
	Class, Label string
	Path         string
	Points       []Dot
}

// Dot is one point of a line.
type Dot struct {
	X, Y  float64
	Title string
}

// Label is text placed on a chart. Anchor is the SVG text-anchor.
type Label struct {
	X, Y         float64
	Text, Anchor string
	Class        string
}

// LegendItem is one entry of a chart's legend: the class of its colour and
// its name.
type LegendItem struct{ Class, Label string }

// SeriesPoint is one step of the statistics' time series.
type SeriesPoint struct {
	Start        time.Time
	Requests     int64
	Errors       int64
	P50Ms, P95Ms float64
	Cost         float64
	Tokens       int64
	// ModelCost splits Cost by model.
	ModelCost map[string]float64
}

// Series is the statistics' time series: one point per Step from the
// first point's Start, empty steps included.
type Series struct {
	Step   time.Duration
	Points []SeriesPoint
}

// ModelTokens is one model's tokens, for the tokens chart.
type ModelTokens struct {
	Model   string
	In, Out int64 // prompt and completion tokens
}

// Scale maps a domain [D0, D1] linearly onto a range [R0, R1].
type Scale struct{ D0, D1, R0, R1 float64 }

// Map returns v's position. A scale with an empty domain maps everything
// to R0.
func (s Scale) Map(v float64) float64 {
	if s.D1 == s.D0 {
		return s.R0
	}
	return s.R0 + (v-s.D0)/(s.D1-s.D0)*(s.R1-s.R0)
}

// NiceTicks returns ticks from 0 up to at least max, at most n+1 of them
// (n ≥ 1), spaced by 1, 2 or 5 times a power of ten; with integer set, the
// spacing is at least 1. A max of 0 or less gives 0 and one step, so that
// an empty chart still has an axis.
func NiceTicks(max float64, n int, integer bool) []float64 {
	if n < 1 {
		n = 1
	}
	if !(max > 0) || math.IsInf(max, 0) {
		max = 1
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	var step float64
	for _, m := range []float64{1, 2, 5, 10} {
		step = m * mag
		if step >= raw*(1-1e-9) {
			break
		}
	}
	if integer && step < 1 {
		step = 1
	}
	k := int(math.Ceil(max/step - 1e-9))
	out := make([]float64, 0, k+1)
	for i := 0; i <= k; i++ {
		out = append(out, roundTo(float64(i)*step, step))
	}
	return out
}

// roundTo removes the float noise of i·step, such as 0.30000000000000004.
func roundTo(v, step float64) float64 {
	digits := max(0, -int(math.Floor(math.Log10(step)))+1)
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// timeSteps are the spacings the time axis may label at, finest first.
var timeSteps = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 2 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour,
	56 * 24 * time.Hour, 91 * 24 * time.Hour, 182 * 24 * time.Hour, 364 * 24 * time.Hour,
	728 * 24 * time.Hour, 1820 * 24 * time.Hour, 3640 * 24 * time.Hour,
}

// clockSpan is the longest span whose axis is labelled with times of
// day: a day, and the step or so by which a window is rounded out.
const clockSpan = 25 * time.Hour

// timeLabel formats a time axis label: the time of day for spans up to
// clockSpan, else the date, with the year when the span reaches into
// another year.
func timeLabel(t time.Time, span time.Duration, years bool) string {
	t = t.UTC()
	switch {
	case span <= clockSpan:
		return t.Format("15:04")
	case years:
		return t.Format("Jan 2 '06")
	default:
		return t.Format("Jan 2")
	}
}

// TimeTicks labels the time axis of [from, to) drawn from x0 to x1: at
// multiples (in UTC) of the finest spacing that keeps neighbouring labels
// apart, and at whole days when the span exceeds clockSpan, so
// that date labels fall on midnight. Crowded labels are thinned this way,
// never drawn over each other; where not even one spacing fits, there are
// none.
func TimeTicks(from, to time.Time, x0, x1 float64) []Tick {
	span := to.Sub(from)
	if span <= 0 || x1 <= x0 {
		return nil
	}
	years := from.UTC().Year() != to.Add(-time.Nanosecond).UTC().Year()
	// The widest label of the format: a two-digit day, late in the day.
	label := timeLabel(time.Date(2000, 12, 28, 23, 59, 0, 0, time.UTC), span, years)
	room := float64(len(label))*chartCharW + chartLabelGap
	sc := Scale{D0: 0, D1: float64(span), R0: x0, R1: x1}
	for _, st := range timeSteps {
		if span > clockSpan && st < 24*time.Hour {
			continue
		}
		// Two neighbouring labels must not overlap.
		if float64(st)/float64(span)*(x1-x0) < room {
			continue
		}
		first := ceilTime(from, st)
		var out []Tick
		for t := first; t.Before(to); t = t.Add(st) {
			x := sc.Map(float64(t.Sub(from)))
			// A label centred on a tick too close to an edge would run
			// into the y axis' labels or out of the SVG.
			text := timeLabel(t, span, years)
			half := float64(len(text)) * chartCharW / 2
			if x-half < x0-8 || x+half > chartWidth {
				continue
			}
			out = append(out, Tick{Pos: x, Label: text})
		}
		return out
	}
	return nil
}

// ceilTime rounds t up to a multiple of d since the Unix epoch.
func ceilTime(t time.Time, d time.Duration) time.Time {
	tr := t.Truncate(d)
	if tr.Before(t) {
		tr = tr.Add(d)
	}
	return tr.UTC()
}

// Stack piles values up: for each, the bottom and top of its segment,
// starting from 0. Negative values count as 0.
func Stack(values []float64) [][2]float64 {
	out := make([][2]float64, len(values))
	var at float64
	for i, v := range values {
		v = max(0, v)
		out[i] = [2]float64{at, at + v}
		at += v
	}
	return out
}

// plotArea is the plot of a chart whose y labels are as wide as the
// widest of labels.
func plotArea(labels []string, height float64) Rect {
	w := 0
	for _, l := range labels {
		w = max(w, len(l))
	}
	left := float64(w)*chartCharW + 8
	return Rect{X: left, Y: chartPadTop, W: chartWidth - left - chartPadR, H: height - chartPadTop - chartPadBot}
}

// yAxis returns the ticks of a y axis from 0 to max with labels made by
// format, and the plot they leave.
func yAxis(maxV float64, integer bool, format func(float64) string) (Rect, Scale, []Tick) {
	vals := NiceTicks(maxV, 4, integer)
	labels := make([]string, len(vals))
	for i, v := range vals {
		labels[i] = format(v)
	}
	plot := plotArea(labels, chartHeight)
	sc := Scale{D0: 0, D1: vals[len(vals)-1], R0: plot.Bottom(), R1: plot.Y}
	ticks := make([]Tick, len(vals))
	for i, v := range vals {
		ticks[i] = Tick{Pos: sc.Map(v), Label: labels[i]}
	}
	return plot, sc, ticks
}

// slot is the horizontal room of step i of n in plot, and the bar drawn in
// it.
func slot(plot Rect, i, n int) (x, w float64) {
	sw := plot.W / float64(n)
	gap := min(sw*0.2, 2)
	if sw < 2 {
		gap = 0
	}
	return plot.X + float64(i)*sw + gap/2, sw - gap
}

// span is the period the series covers.
func (s Series) span() (time.Time, time.Time) {
	if len(s.Points) == 0 {
		return time.Time{}, time.Time{}
	}
	return s.Points[0].Start, s.Points[len(s.Points)-1].Start.Add(s.Step)
}

// stepTime formats a step's start for hover titles, exactly.
func stepTime(t time.Time, step time.Duration) string {
	t = t.UTC()
	if step >= 24*time.Hour && step%(24*time.Hour) == 0 {
		return t.Format("2006-01-02")
	}
	return t.Format("2006-01-02 15:04") + " UTC"
}

// stepName says how long a step is, for titles: "per 15 min".
func stepName(step time.Duration) string {
	switch {
	case step%(24*time.Hour) == 0:
		return plural(int64(step/(24*time.Hour)), "per day", "per "+strconv.Itoa(int(step/(24*time.Hour)))+" days")
	case step%time.Hour == 0:
		return plural(int64(step/time.Hour), "per hour", "per "+strconv.Itoa(int(step/time.Hour))+" h")
	default:
		return plural(int64(step/time.Minute), "per minute", "per "+strconv.Itoa(int(step/time.Minute))+" min")
	}
}

// timeChart is a chart over s's span with its y axis and x ticks set.
func timeChart(id, title string, s Series, maxV float64, integer bool, unit string, format func(float64) string) (Chart, Scale) {
	plot, sc, yt := yAxis(maxV, integer, format)
	from, to := s.span()
	return Chart{
		ID: id, Title: title, Width: chartWidth, Height: chartHeight, Plot: plot,
		YTicks: yt, XTicks: TimeTicks(from, to, plot.X, plot.Right()), XUnit: "UTC", YUnit: unit,
	}, sc
}

// emptyNote is what an empty chart says.
const emptyNote = "No requests in this period"

// RequestsChart shows the requests of each step as bars, their errors as
// a red bar in front, from the bottom.
func RequestsChart(s Series) Chart {
	var most, total, errs int64
	var busiest SeriesPoint
	for _, p := range s.Points {
		if p.Requests > most {
			most, busiest = p.Requests, p
		}
		total += p.Requests
		errs += p.Errors
	}
	c, sc := timeChart("requests", "Requests and errors "+stepName(s.Step), s, float64(most), true, "requests", formatCount)
	c.Legend = []LegendItem{{"ch-req", "requests"}, {"ch-err", "errors"}}
	if total == 0 {
		c.Empty = emptyNote
		c.Summary = "Requests and errors over time: no requests in this period."
		return c
	}
	c.Summary = "Requests and errors " + stepName(s.Step) + ": " + FormatInt(total) + " " + plural(total, "request", "requests") +
		", " + FormatInt(errs) + " " + plural(errs, "error", "errors") + "; the busiest step, " + stepTime(busiest.Start, s.Step) +
		", had " + FormatInt(busiest.Requests) + "."
	base := c.Plot.Bottom()
	for i, p := range s.Points {
		if p.Requests == 0 {
			continue
		}
		x, w := slot(c.Plot, i, len(s.Points))
		title := stepTime(p.Start, s.Step) + ": " + FormatInt(p.Requests) + " " + plural(p.Requests, "request", "requests") +
			", " + FormatInt(p.Errors) + " " + plural(p.Errors, "error", "errors")
		y := sc.Map(float64(p.Requests))
		c.Bars = append(c.Bars, Bar{Rect: Rect{X: x, Y: y, W: w, H: base - y}, Class: "ch-req", Title: title})
		if p.Errors > 0 {
			ye := sc.Map(float64(p.Errors))
			c.Bars = append(c.Bars, Bar{Rect: Rect{X: x, Y: ye, W: w, H: base - ye}, Class: "ch-err", Title: title})
		}
	}
	return c
}

// LatencyChart shows the p50 and p95 latency of each step with requests as
// two lines, broken over the steps without.
func LatencyChart(s Series) Chart {
	var most float64
	var any bool
	for _, p := range s.Points {
		if p.Requests > 0 {
			most, any = max(most, p.P50Ms, p.P95Ms), true
		}
	}
	c, sc := timeChart("latency", "Latency p50 and p95 "+stepName(s.Step), s, most, false, "ms", formatAxisMs)
	c.Legend = []LegendItem{{"ch-p50", "p50"}, {"ch-p95", "p95"}}
	if !any {
		c.Empty = emptyNote
		c.Summary = "Latency over time: no requests in this period."
		return c
	}
	for _, q := range []struct {
		class, name string
		v           func(SeriesPoint) float64
	}{
		{"ch-p50", "p50", func(p SeriesPoint) float64 { return p.P50Ms }},
		{"ch-p95", "p95", func(p SeriesPoint) float64 { return p.P95Ms }},
	} {
		l := Line{Class: q.class, Label: q.name}
		var d strings.Builder
		prev := false
		for i, p := range s.Points {
			if p.Requests == 0 {
				prev = false
				continue
			}
			x, w := slot(c.Plot, i, len(s.Points))
			x += w / 2
			y := sc.Map(q.v(p))
			if prev {
				d.WriteString(" L")
			} else {
				if d.Len() > 0 {
					d.WriteByte(' ')
				}
				d.WriteByte('M')
			}
			d.WriteString(num(x) + " " + num(y))
			prev = true
			l.Points = append(l.Points, Dot{X: x, Y: y, Title: stepTime(p.Start, s.Step) + ": " + q.name + " " + exactMs(q.v(p))})
		}
		l.Path = d.String()
		c.Lines = append(c.Lines, l)
	}
	var worst SeriesPoint
	for _, p := range s.Points {
		if p.Requests > 0 && p.P95Ms >= worst.P95Ms {
			worst = p
		}
	}
	c.Summary = "Latency p50 and p95 " + stepName(s.Step) + ": the highest p95, " + exactMs(worst.P95Ms) + ", was at " +
		stepTime(worst.Start, s.Step) + "."
	return c
}

// CostChart shows the cost of each step as bars stacked by model: the
// maxStacked most costly models of the whole series apart, the others
// together as "other".
func CostChart(s Series) Chart {
	totals := map[string]float64{}
	var most, total float64
	for _, p := range s.Points {
		most = max(most, p.Cost)
		total += p.Cost
		for m, v := range p.ModelCost {
			totals[m] += v
		}
	}
	models := make([]string, 0, len(totals))
	for m, v := range totals {
		if v > 0 {
			models = append(models, m)
		}
	}
	slices.SortFunc(models, func(a, b string) int { return cmp.Or(cmp.Compare(totals[b], totals[a]), strings.Compare(a, b)) })
	top := models[:min(len(models), maxStacked)]
	c, sc := timeChart("cost", "Cost by model "+stepName(s.Step), s, most, false, "USD", formatAxisUSD)
	for i, m := range top {
		c.Legend = append(c.Legend, LegendItem{"ch-s" + strconv.Itoa(i), modelName(m)})
	}
	if len(models) > len(top) {
		c.Legend = append(c.Legend, LegendItem{"ch-other", "other"})
	}
	if !(total > 0) {
		c.Empty = "No cost in this period"
		c.Summary = "Cost over time: no cost in this period."
		return c
	}
	c.Summary = "Cost by model " + stepName(s.Step) + ": " + FormatCost(total) + " in all"
	if len(top) > 0 {
		c.Summary += ", most of it on " + modelName(top[0]) + " (" + FormatCost(totals[top[0]]) + ")"
	}
	c.Summary += "."
	base := c.Plot.Bottom()
	for i, p := range s.Points {
		if !(p.Cost > 0) {
			continue
		}
		vals := make([]float64, len(top)+1)
		for j, m := range top {
			vals[j] = p.ModelCost[m]
		}
		// Whatever the named models leave, "other" included, so that the
		// stack is as high as the step's cost.
		vals[len(top)] = p.Cost
		for j := range top {
			vals[len(top)] -= vals[j]
		}
		x, w := slot(c.Plot, i, len(s.Points))
		for j, seg := range Stack(vals) {
			if seg[1]-seg[0] <= 0 || vals[j] < 1e-12 {
				continue
			}
			class, name := "ch-other", "other"
			if j < len(top) {
				class, name = "ch-s"+strconv.Itoa(j), modelName(top[j])
			}
			y0, y1 := sc.Map(seg[0]), sc.Map(seg[1])
			c.Bars = append(c.Bars, Bar{
				Rect:  Rect{X: x, Y: y1, W: w, H: min(y0, base) - y1},
				Class: class, Title: stepTime(p.Start, s.Step) + ": " + name + " " + FormatCost(vals[j]) + " of " + FormatCost(p.Cost),
			})
		}
	}
	return c
}

// TokensChart shows the tokens of each model as horizontal bars, prompt
// (in) and completion (out) side by side in one bar, the maxBarModels
// busiest models first and the rest as "other". The name of each model
// stands above its bar, so long names need no margin.
func TokensChart(models []ModelTokens) Chart {
	ms := slices.Clone(models)
	slices.SortStableFunc(ms, func(a, b ModelTokens) int { return cmp.Compare(b.In+b.Out, a.In+a.Out) })
	for len(ms) > 0 && ms[len(ms)-1].In+ms[len(ms)-1].Out <= 0 {
		ms = ms[:len(ms)-1]
	}
	if len(ms) > maxBarModels {
		other := ModelTokens{Model: "other"}
		for _, m := range ms[maxBarModels-1:] {
			other.In += m.In
			other.Out += m.Out
		}
		ms = append(ms[:maxBarModels-1:maxBarModels-1], other)
	}
	const rowH, barH = 34.0, 14.0
	c := Chart{ID: "tokens", Title: "Tokens by model", Width: chartWidth, YUnit: "tokens",
		Legend: []LegendItem{{"ch-in", "in (prompt)"}, {"ch-out", "out (completion)"}}}
	if len(ms) == 0 {
		c.Height = chartHeight
		c.Plot = Rect{X: 8, Y: chartPadTop, W: chartWidth - 8 - chartPadR, H: chartHeight - chartPadTop - chartPadBot}
		c.Empty = "No tokens in this period"
		c.Summary = "Tokens by model: none in this period."
		return c
	}
	var most, total int64
	for _, m := range ms {
		most = max(most, m.In+m.Out)
		total += m.In + m.Out
	}
	vals := NiceTicks(float64(most), 4, true)
	c.Height = chartPadTop + float64(len(ms))*rowH + chartPadBot
	// The last tick's label is centred on the right edge: keep room for
	// half of it.
	last := formatCount(vals[len(vals)-1])
	right := max(chartPadR, float64(len(last))*chartCharW/2+2)
	c.Plot = Rect{X: 8, Y: chartPadTop, W: chartWidth - 8 - right, H: float64(len(ms)) * rowH}
	sc := Scale{D0: 0, D1: vals[len(vals)-1], R0: c.Plot.X, R1: c.Plot.Right()}
	for _, v := range vals {
		c.XTicks = append(c.XTicks, Tick{Pos: sc.Map(v), Label: formatCount(v)})
	}
	for i, m := range ms {
		top := c.Plot.Y + float64(i)*rowH
		name := modelName(m.Model)
		c.Labels = append(c.Labels, Label{X: c.Plot.X, Y: top + 11, Text: name + " · " + FormatCompact(m.In+m.Out), Anchor: "start", Class: "ch-cat"})
		title := name + ": " + FormatInt(m.In+m.Out) + " tokens (" + FormatInt(m.In) + " in, " + FormatInt(m.Out) + " out)"
		y := top + rowH - barH - 4
		seg := Stack([]float64{float64(m.In), float64(m.Out)})
		for j, class := range []string{"ch-in", "ch-out"} {
			x0, x1 := sc.Map(seg[j][0]), sc.Map(seg[j][1])
			if x1-x0 <= 0 {
				continue
			}
			c.Bars = append(c.Bars, Bar{Rect: Rect{X: x0, Y: y, W: x1 - x0, H: barH}, Class: class, Title: title})
		}
	}
	c.Summary = "Tokens by model: " + FormatInt(total) + " in all; " + modelName(ms[0].Model) + " used the most, " + FormatInt(ms[0].In+ms[0].Out) + "."
	return c
}

// modelName shows a model, "(none)" for records that named none.
func modelName(m string) string {
	if m == "" {
		return "(none)"
	}
	return m
}

// num prints a coordinate with at most two decimals.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// formatCount is a count axis label: "0", "250", "1.5K".
func formatCount(v float64) string { return FormatCompact(int64(math.Round(v))) }

// formatAxisMs is a latency axis label: "0", "250 ms", "1.5 s".
func formatAxisMs(v float64) string {
	if v <= 0 {
		return "0"
	}
	if v >= 1000 {
		return trimZero(strconv.FormatFloat(v/1000, 'f', 1, 64)) + " s"
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + " ms"
}

// formatAxisUSD is a cost axis label: "$0", "$0.002", "$1.5".
func formatAxisUSD(v float64) string {
	if v <= 0 {
		return "$0"
	}
	return "$" + strconv.FormatFloat(v, 'f', -1, 64)
}

// exactMs is a latency for a hover title, to a tenth of a millisecond.
func exactMs(v float64) string {
	return trimZero(strconv.FormatFloat(v, 'f', 1, 64)) + " ms"
}
