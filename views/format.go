package views

import (
	"math"
	"strconv"
	"strings"
)

// dash stands for a value that is unknown or not applicable.
const dash = "—"

// FormatMs formats a duration in milliseconds for people: "4.2 ms",
// "340 ms", "1.2 s", "2m 05s". Zero or less is unknown and gives "—".
func FormatMs(ms float64) string {
	switch {
	case ms <= 0 || math.IsNaN(ms) || math.IsInf(ms, 0):
		return dash
	case ms < 9.95:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	case ms < 999.5:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	case ms < 59950:
		return strconv.FormatFloat(ms/1000, 'f', 1, 64) + " s"
	}
	s := int64(math.Round(ms / 1000))
	if s < 3600 {
		return strconv.FormatInt(s/60, 10) + "m " + pad2(s%60) + "s"
	}
	return strconv.FormatInt(s/3600, 10) + "h " + pad2(s%3600/60) + "m"
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// FormatInt formats n with thousands separators: 1234567 → "1,234,567".
func FormatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// FormatTokens is FormatInt for token counts in tables, with "—" for zero,
// which there means no usage was reported.
func FormatTokens(n int64) string {
	if n <= 0 {
		return dash
	}
	return FormatInt(n)
}

// FormatCost formats a USD amount with up to six decimals and at least
// two: "$0.000123", "$1.50", "$1,234.56". Zero is unknown and gives "—";
// amounts too small to show give "<$0.000001".
func FormatCost(usd float64) string {
	if usd <= 0 || math.IsNaN(usd) || math.IsInf(usd, 0) {
		return dash
	}
	if usd < 0.0000005 {
		return "<$0.000001"
	}
	s := strconv.FormatFloat(usd, 'f', 6, 64)
	whole, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	return "$" + FormatInt(w) + "." + frac
}

// FormatPercent formats a percentage with at most one decimal: "99.5%",
// "100%".
func FormatPercent(p float64) string {
	if math.IsNaN(p) || math.IsInf(p, 0) {
		return dash
	}
	return trimZero(strconv.FormatFloat(p, 'f', 1, 64)) + "%"
}

// FormatRate formats a throughput in tokens per second: "42.1 tok/s".
func FormatRate(tps float64) string {
	if n := FormatRateNumber(tps); n != dash {
		return n + " tok/s"
	}
	return dash
}

// FormatRateNumber is FormatRate without its unit, for a card whose label
// names it.
func FormatRateNumber(tps float64) string {
	if tps <= 0 || math.IsNaN(tps) || math.IsInf(tps, 0) {
		return dash
	}
	if tps >= 100 {
		return strconv.FormatFloat(tps, 'f', 0, 64)
	}
	return strconv.FormatFloat(tps, 'f', 1, 64)
}

// FormatBytes formats a size in bytes: "512 B", "1.2 KB", "3.4 MB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	for _, u := range []string{"KB", "MB", "GB"} {
		f /= unit
		if f < unit || u == "GB" {
			return trimZero(strconv.FormatFloat(f, 'f', 1, 64)) + " " + u
		}
	}
	return "" // unreachable
}

// trimZero drops a ".0" decimal: "100.0" → "100".
func trimZero(s string) string {
	return strings.TrimSuffix(s, ".0")
}

// FormatCompact shortens large counts for stat cards: 1234 → "1,234",
// 12345 → "12.3K", 1234567 → "1.23M".
func FormatCompact(n int64) string {
	abs := n
	if abs < 0 {
		abs = -abs
	}
	switch {
	case abs < 10_000:
		return FormatInt(n)
	case abs < 999_500:
		return compact(float64(n)/1e3, "K")
	case abs < 999_500_000:
		return compact(float64(n)/1e6, "M")
	default:
		return compact(float64(n)/1e9, "B")
	}
}

// compact prints f with three significant digits: 1.23, 12.3, 123.
func compact(f float64, unit string) string {
	a := math.Abs(f)
	prec := 2
	if a >= 100 {
		prec = 0
	} else if a >= 10 {
		prec = 1
	}
	s := strconv.FormatFloat(f, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + unit
}
