// Package metricstest scrapes a /metrics endpoint over HTTP and reads the
// answer with the Prometheus text parser, for tests.
package metricstest

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families is a parsed scrape, by metric name.
type Families map[string]*dto.MetricFamily

// Scrape GETs url, with `Authorization: Bearer token` unless token is
// empty, and fails tb unless the answer is 200 in the Prometheus text
// format. It returns the parsed families and the text as served.
func Scrape(tb testing.TB, url, token string) (Families, string) {
	tb.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: status %d: %s", url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		tb.Fatalf("GET %s: Content-Type %q, want text/plain", url, ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		tb.Fatalf("GET %s: not Prometheus text: %v", url, err)
	}
	return Families(families), string(body)
}

// Metric returns the series of family name whose labels are exactly
// labels, given as name, value, name, value…; nil when there is none.
func (f Families) Metric(name string, labels ...string) *dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
	for _, m := range fam.GetMetric() {
		if sameLabels(m.GetLabel(), labels) {
			return m
		}
	}
	return nil
}

// Value returns the value of the counter or gauge series of family name
// with exactly labels, and false when there is no such series.
func (f Families) Value(name string, labels ...string) (float64, bool) {
	m := f.Metric(name, labels...)
	if m == nil {
		return 0, false
	}
	if c := m.GetCounter(); c != nil {
		return c.GetValue(), true
	}
	return m.GetGauge().GetValue(), true
}

// Histogram returns the sample count and sum of the histogram series of
// family name with exactly labels, and false when there is no such series.
func (f Families) Histogram(name string, labels ...string) (count uint64, sum float64, ok bool) {
	m := f.Metric(name, labels...)
	if m == nil || m.GetHistogram() == nil {
		return 0, 0, false
	}
	h := m.GetHistogram()
	return h.GetSampleCount(), h.GetSampleSum(), true
}

// Sum returns the sum of the values of the counter or gauge series of
// family name, over all their labels.
func (f Families) Sum(name string) float64 {
	var sum float64
	for _, m := range f[name].GetMetric() {
		if c := m.GetCounter(); c != nil {
			sum += c.GetValue()
		} else {
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

// LabelValues returns the distinct values label takes in family name,
// sorted.
func (f Families) LabelValues(name, label string) []string {
	var vals []string
	for _, m := range f[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && !slices.Contains(vals, l.GetValue()) {
				vals = append(vals, l.GetValue())
			}
		}
	}
	slices.Sort(vals)
	return vals
}

func sameLabels(got []*dto.LabelPair, want []string) bool {
	if len(got)*2 != len(want) {
		return false
	}
	pairs := make(map[string]string, len(got))
	for i := 0; i+1 < len(want); i += 2 {
		pairs[want[i]] = want[i+1]
	}
	for _, l := range got {
		if v, ok := pairs[l.GetName()]; !ok || v != l.GetValue() {
			return false
		}
	}
	return true
}
