package views_test

import (
	"math"
	"testing"

	"github.com/openrouter-proxy/openrouter-proxy/views"
)

func TestFormatMs(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "—"},
		{-5, "—"},
		{math.NaN(), "—"},
		{0.42, "0.4 ms"},
		{4.25, "4.2 ms"},
		{9.96, "10 ms"},
		{340.4, "340 ms"},
		{999.4, "999 ms"},
		{999.6, "1.0 s"},
		{1234, "1.2 s"},
		{59_900, "59.9 s"},
		{59_960, "1m 00s"},
		{125_000, "2m 05s"},
		{3_725_000, "1h 02m"},
	} {
		if got := views.FormatMs(tc.in); got != tc.want {
			t.Errorf("FormatMs(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatInt(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{7, "7"},
		{999, "999"},
		{1000, "1,000"},
		{1234567, "1,234,567"},
		{-1234, "-1,234"},
		{math.MinInt64, "-9,223,372,036,854,775,808"},
	} {
		if got := views.FormatInt(tc.in); got != tc.want {
			t.Errorf("FormatInt(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := views.FormatTokens(0); got != "—" {
		t.Errorf("FormatTokens(0) = %q", got)
	}
	if got := views.FormatTokens(12345); got != "12,345" {
		t.Errorf("FormatTokens(12345) = %q", got)
	}
}

func TestFormatCompact(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{9999, "9,999"},
		{12_345, "12.3K"},
		{100_000, "100K"},
		{999_499, "999K"},
		{999_500, "1M"},
		{1_234_567, "1.23M"},
		{48_213_994, "48.2M"},
		{2_500_000_000, "2.5B"},
	} {
		if got := views.FormatCompact(tc.in); got != tc.want {
			t.Errorf("FormatCompact(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatCost(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "—"},
		{-1, "—"},
		{0.0000001, "<$0.000001"},
		{0.000123, "$0.000123"},
		{0.0001234567, "$0.000123"},
		{0.01, "$0.01"},
		{0.1, "$0.10"},
		{1.5, "$1.50"},
		{12.3456789, "$12.345679"},
		{1234.5, "$1,234.50"},
	} {
		if got := views.FormatCost(tc.in); got != tc.want {
			t.Errorf("FormatCost(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatPercent(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0%"},
		{100, "100%"},
		{99.5, "99.5%"},
		{99.96, "100%"},
		{33.333, "33.3%"},
		{math.Inf(1), "—"},
	} {
		if got := views.FormatPercent(tc.in); got != tc.want {
			t.Errorf("FormatPercent(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatRateAndBytes(t *testing.T) {
	for in, want := range map[float64]string{0: "—", 42.06: "42.1 tok/s", 123.4: "123 tok/s"} {
		if got := views.FormatRate(in); got != want {
			t.Errorf("FormatRate(%v) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{0: "0 B", 512: "512 B", 1024: "1 KB", 1536: "1.5 KB", 3 << 20: "3 MB", 5 << 30: "5 GB"} {
		if got := views.FormatBytes(in); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}
