package views

import (
	"math"
	"strconv"
	"strings"
)

// tone is the colour family of a status pill or a stat: ok (green), warn
// (amber), err (red), pending (blue) or neutral (grey).
type tone string

const (
	toneOK      tone = "ok"
	toneWarn    tone = "warn"
	toneErr     tone = "err"
	tonePending tone = "pending"
	toneNeutral tone = "neutral"
)

// statusTone picks a pill colour from the HTTP status and the outcome. An
// outcome that went wrong after a 2xx (a broken stream, a timeout) wins over
// the status code.
func statusTone(status int, outcome string, pending bool) tone {
	if pending || outcome == "pending" {
		return tonePending
	}
	switch outcome {
	case "stream_error", "timeout", "proxy_error":
		return toneErr
	case "cancelled":
		return toneNeutral
	}
	switch {
	case status >= 200 && status < 300:
		return toneOK
	case status >= 300 && status < 400:
		return toneNeutral
	case status >= 400 && status < 500:
		return toneWarn
	default:
		return toneErr
	}
}

// statusText is the pill's text: the status code, or a word when there is
// none (the proxy failed before any response).
func statusText(status int, outcome string, pending bool) string {
	if pending || outcome == "pending" {
		return "pending"
	}
	if status > 0 {
		return strconv.Itoa(status)
	}
	if outcome == "cancelled" {
		return "cancelled"
	}
	return "error"
}

// outcomeLabel names an outcome for people.
func outcomeLabel(outcome string) string {
	switch outcome {
	case "ok", "":
		return "OK"
	case "upstream_error":
		return "Upstream error"
	case "stream_error":
		return "Stream error"
	case "cancelled":
		return "Cancelled"
	case "timeout":
		return "Timeout"
	case "proxy_error":
		return "Proxy error"
	case "pending":
		return "Pending"
	}
	return strings.ReplaceAll(outcome, "_", " ")
}

// showOutcome reports whether an outcome adds anything to the status code
// it goes with: "upstream_error" does not, the code says it already.
func showOutcome(outcome string) bool {
	switch outcome {
	case "", "ok", "pending", "upstream_error":
		return false
	}
	return true
}

func pillClass(t tone) string { return "pill pill-" + string(t) }

// pageURL builds the link to page n of the current filter.
func pageURL(query string, n int) string {
	if query == "" {
		return "/?page=" + strconv.Itoa(n)
	}
	return "/?" + query + "&page=" + strconv.Itoa(n)
}

// currentPage clamps the table's page to 1…TotalPages.
func currentPage(t Table) int {
	if t.Page < 1 {
		return 1
	}
	return t.Page
}

func totalPages(t Table) int {
	if t.TotalPages < currentPage(t) {
		return currentPage(t)
	}
	return t.TotalPages
}

// requestURL is the detail page of one exchange.
func requestURL(id string) string { return "/request/" + id }

// successTone colours the success-rate stat.
func successTone(s Stats) tone {
	switch {
	case s.TotalRequests == 0:
		return toneNeutral
	case s.SuccessRate >= 99:
		return toneOK
	case s.SuccessRate >= 90:
		return toneWarn
	default:
		return toneErr
	}
}

// plural picks the singular or plural form for n.
func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// roleClass is the bubble class of a chat role; unknown roles look like
// the assistant's.
func roleClass(role string) string {
	switch role {
	case "system", "developer":
		return "msg msg-system"
	case "user":
		return "msg msg-user"
	case "tool", "function":
		return "msg msg-tool"
	default:
		return "msg msg-assistant"
	}
}

// hasToggle reports whether a body has a pretty form worth switching to.
func hasToggle(pretty, raw string) bool {
	return pretty != "" && raw != "" && pretty != raw
}

// firstNonEmpty returns the first argument that is not "".
func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// filterIDs tells a filter form's fields apart on a page: id prefixes
// their element ids, test their data-testid attributes.
type filterIDs struct{ id, test string }

// The two filter forms: the dashboard's and the statistics page's.
var (
	dashboardFilterIDs = filterIDs{id: "f", test: "filter"}
	statsFilterIDs     = filterIDs{id: "s", test: "stats-filter"}
)

// statusOptions are the choices of the status filter.
var statusOptions = []Option{
	{"", "Any status"},
	{"success", "Success"},
	{"error", "Errors"},
	{"2xx", "2xx"},
	{"4xx", "4xx"},
	{"5xx", "5xx"},
}

// withCurrent returns the options of a select, with the current value
// appended when it is missing, so a filter from a shared URL stays visible.
func withCurrent(values []string, current string) []string {
	if current == "" {
		return values
	}
	for _, v := range values {
		if v == current {
			return values
		}
	}
	return append(values[:len(values):len(values)], current)
}

// hiddenKeys notes the keys the key filter leaves out, and where to find
// them instead.
func hiddenKeys(n int) string {
	return "… " + strconv.Itoa(n) + " older " + plural(int64(n), "key", "keys") + " not listed; filter from a request's page"
}

// successValue is the success-rate stat, "—" before any traffic.
func successValue(s Stats) string {
	if s.TotalRequests == 0 {
		return dash
	}
	return FormatPercent(s.SuccessRate)
}

// statCount is a count card's value, "—" when the stats are unknown.
func statCount(s Stats, n int64) string {
	if s.Unknown {
		return dash
	}
	return FormatCompact(n)
}

// statDetail is the value of a card that sums the records (latency,
// tokens, cost): "—" when the stats are unknown or too many records
// matched to sum.
func statDetail(s Stats, v string) string {
	if s.Unknown || s.Narrow != "" {
		return dash
	}
	return v
}

// searchPlaceholder is the search box's hint.
const searchPlaceholder = `Words, "a phrase", -exclude, model:…, status:4xx`

// searchHelp is the search box's tooltip: the syntax in brief.
func searchHelp(admin bool) string {
	h := "Words match with one typo, and as prefixes from 4 letters; \"quoted phrases\" match exactly; -word excludes. " +
		"Filters: model:, status: (200, 4xx, success, error), method:, stream:, before:, after: (2026-01-31)"
	if admin {
		h += ", key: (a key fingerprint)"
	}
	return h + "."
}

// statusLabel is a status choice's label, with the number of matches
// when counts are given.
func statusLabel(o Option, counts map[string]int64) string {
	if counts == nil || o.Value == "" {
		return o.Label
	}
	return o.Label + " (" + FormatInt(counts[o.Value]) + ")"
}

// String returns the snippet's text, hits unmarked.
func (s Snippet) String() string {
	var b strings.Builder
	for _, p := range s {
		b.WriteString(p.Text)
	}
	return b.String()
}

// statCost is the total cost stat: cents from a dollar up, else up to six
// decimals.
func statCost(usd float64) string {
	if usd <= 0 {
		return "$0.00"
	}
	if usd >= 1 {
		cents := int64(math.Round(usd * 100))
		return "$" + FormatInt(cents/100) + "." + pad2(cents%100)
	}
	return FormatCost(usd)
}

// upstreamNote is the line under the cost metric.
func upstreamNote(m Detail) string {
	if m.UpstreamCost > 0 && m.UpstreamCost != m.Cost {
		return "upstream " + FormatCost(m.UpstreamCost)
	}
	return ""
}

func attempts(n int) string {
	if n <= 0 {
		return dash
	}
	return strconv.Itoa(n)
}

// exactSub is the line under a compacted count: the exact number when the
// card shows it rounded.
func exactSub(n int64) string {
	if FormatCompact(n) == FormatInt(n) {
		return "recorded"
	}
	return FormatInt(n) + " recorded"
}

// rateValue is a rate card's value, "—" before any traffic.
func rateValue(requests int64, pct float64) string {
	if requests == 0 {
		return dash
	}
	return FormatPercent(pct)
}
