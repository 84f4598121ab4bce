package web

import (
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// TestPickStep: a chart gets the finest step that keeps it within
// maxChartPoints, and a month or more is charted by whole days, which the
// day rollups answer cheaply.
func TestPickStep(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		span, want time.Duration
	}{
		{time.Hour, time.Minute},
		{day, 15 * time.Minute},
		{7 * day, 2 * time.Hour},
		{27 * day, 8 * time.Hour},
		{30 * day, day},
		{365 * day, 7 * day},
	} {
		if got := pickStep(now.Add(-tc.span), now, store.Coverage{}); got != tc.want {
			t.Errorf("span %v: step %v, want %v", tc.span, got, tc.want)
		}
	}
}
