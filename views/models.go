// Package views holds the dashboard's templ components. Each page takes a
// plain view model defined here, filled by the web handlers; views know
// nothing of HTTP or storage.
package views

// User is the logged-in dashboard user.
type User struct {
	KeyMask string // the API key, masked, e.g. "sk-or-v1-…3f9a"
	Admin   bool   // admins see everyone's traffic
}

// Page is what every full page needs for its layout.
type Page struct {
	Title string
	User  *User // nil when logged out
	Demo  bool  // running against the mock upstream
	// Degraded, when set, shows a banner: traffic is forwarded but not all
	// of it is recorded.
	Degraded *Degraded
}

// Degraded describes a recording pipeline that is losing or holding
// records. Admins see the details; other users only that it is degraded.
type Degraded struct {
	Lost    int64  // records given up since the start
	Failing bool   // the database refuses writes now
	Error   string // the database's last error; "" for non-admins
}

// Stats are the headline numbers above the request table.
type Stats struct {
	TotalRequests  int64
	SuccessRate    float64 // percent, 0–100
	AvgResponseMs  float64
	RecentRequests int64 // in the last hour
	P95Ms          float64
	TotalTokens    int64
	TotalCost      float64 // USD
	// Unknown shows every card as a dash: there is nothing to describe,
	// such as after a search that could not run.
	Unknown bool
	// Narrow, when set, shows the latency, token and cost cards as a
	// dash with Narrow as their tooltip: a search matched too many
	// records to sum them.
	Narrow string
}

// Filter is the dashboard's current search, as submitted by its form.
type Filter struct {
	Search string
	Status string // "", "success", "error", "2xx", "4xx", "5xx"
	Model  string
	// Provider keeps the records one provider served; it has no field of
	// its own on the dashboard, only the statistics page's links set it.
	Provider string
	Method   string
	From     string // value of <input type=datetime-local>
	To       string // value of <input type=datetime-local>
	Key      string // key_hash; admin only
	Sort     string // "" (newest first) or "relevance"; for searches
	Page     int
}

// Option is one choice of a <select>.
type Option struct {
	Value, Label string
}

// Row is one line of the request table: a finished exchange or one still in
// flight (Pending).
type Row struct {
	ID       string
	TimeISO  string // RFC 3339, for <time datetime>
	TimeText string // server-rendered UTC fallback
	Method   string
	Path     string
	Model    string
	Status   int
	Outcome  string // ok, upstream_error, stream_error, cancelled, timeout, proxy_error, pending
	// DurationMs and TTFTMs are 0 when unknown.
	DurationMs, TTFTMs float64
	Tokens             int64
	Cost               float64 // USD; 0 when unknown
	Stream, Pending    bool
	KeyMask            string // shown to admins only
	Error              string
	// Preview, while searching, is the start of the request's last user
	// message and of the reply, with the search's hits marked.
	Preview *Preview
}

// Preview is what the preview column shows of a matching record.
type Preview struct {
	Request, Response Snippet
}

// Snippet is a short excerpt of a record's text, in parts; the Hit parts
// are what the search matched. The parts are text, escaped when rendered.
type Snippet []SnippetPart

// SnippetPart is one run of a Snippet.
type SnippetPart struct {
	Text string
	Hit  bool
}

// Table is the live request table with its pagination.
type Table struct {
	Rows       []Row // pending rows first, then records newest first
	Page       int
	TotalPages int
	Total      int64
	// Approx is true when Total is an estimate (a phrase search with more
	// candidates than the index checks): the pager says "about".
	Approx  bool
	Admin   bool   // adds the key column
	PollURL string // the URL the table polls: filter query and cursor included
	// QueryString is the current filter without page, to build page links
	// as "/?"+QueryString+"&page=N".
	QueryString string
	// Filtered is true when a filter narrows the table (page size aside),
	// so an empty table says "no match" rather than "no requests yet".
	Filtered bool
	// Preview adds the preview column: a search is active.
	Preview bool
	// Notice is one line above the table, such as why a search is slow.
	Notice string
	// Error, when set, replaces the table: the search or the filters
	// could not be understood, and this says why.
	Error string
}

// Dashboard is the main page.
type Dashboard struct {
	Page
	Stats   Stats
	Filter  Filter
	Table   Table
	Models  []string // suggestions for the model filter, which takes any text
	Methods []string
	Keys    []Option // admin key filter: value key_hash, label key mask
	// KeysHidden is how many keys with traffic Keys leaves out.
	KeysHidden int
	// StatusCounts, while searching, counts the matches of each status
	// filter choice (by its value), for the labels of the status list.
	StatusCounts map[string]int64
}

// Login is the login page.
type Login struct {
	Page
	Error string
}

// Message is one message of a chat request's conversation.
type Message struct {
	Role       string
	Name       string
	Content    string
	ToolCalls  string // pretty JSON
	ToolCallID string
}

// Header is one HTTP header line.
type Header struct {
	Name, Value string
}

// Detail is the page of one recorded exchange.
type Detail struct {
	Page
	ID, TimeISO, TimeText, Method, URL, Path, Model, ModelRequested, Provider, Outcome, Error, FinishReason, GenerationID, KeyMask, ClientAddr string
	Status, Attempts                                                                                                                           int
	Stream                                                                                                                                     bool

	DurationMs, TTFBMs, TTFTMs, TokensPerSec                                   float64
	PromptTokens, CompletionTokens, TotalTokens, CachedTokens, ReasoningTokens int64
	Cost, UpstreamCost                                                         float64
	HasUsage                                                                   bool

	ReqHeaders, RespHeaders                                []Header
	ReqBodyPretty, ReqBodyRaw, RespBodyPretty, RespBodyRaw string
	ReqTruncated, RespTruncated                            bool
	ReqSize, RespSize                                      int64

	// Messages is the chat request's conversation; empty for other requests.
	Messages []Message
	// ReplyContent, ReplyReasoning and ReplyToolCalls are the assistant's
	// reply: the reassembled stream or the response message.
	ReplyContent, ReplyReasoning, ReplyToolCalls string

	// KeyFilterURL, for admins, lists every record of this record's key.
	KeyFilterURL string

	RawSSE string // the raw stream as received, when Stream
	Curl   string // copy-as-curl command with the key masked
}

// NotFound is the 404 page.
type NotFound struct {
	Page
	Message string
}

// Unavailable is the page shown while the database cannot be reached.
type Unavailable struct {
	Page
	// Retry is the address the page reloads itself from until it answers.
	Retry string
}

// StatsPage is the statistics page: a window, the table's filters, and the
// numbers, breakdowns and charts of what they select.
type StatsPage struct {
	Page
	// Admin adds the key filter and the key breakdown.
	Admin bool
	// Windows are the window picker's choices; one is Current unless the
	// window is a custom from–to.
	Windows []WindowChoice
	// Window is the current window's value: "1h", "24h", "7d", "30d",
	// "all", or "custom" for a from–to.
	Window string
	// Filter is the form's state: Status, Model, Provider, Method, Key
	// (admins), and From and To when the window is custom.
	Filter Filter
	// Models, Methods, Keys and KeysHidden are the form's choices, as on
	// the dashboard.
	Models     []string
	Methods    []string
	Keys       []Option
	KeysHidden int
	Body       StatsBody
}

// WindowChoice is one choice of the window picker: a link to the page with
// that window and the current filters.
type WindowChoice struct {
	Value, Label, URL string
	Current           bool
}

// StatsBody is the part of the statistics page that refreshes: cards,
// charts and breakdowns, in #stats-body.
type StatsBody struct {
	// PollURL is what #stats-body polls; the server answers 204 while
	// nothing it shows has changed.
	PollURL string
	// Period says which period the numbers cover, e.g. "Last 24 hours,
	// since 2026-10-02 14:00 UTC".
	Period string
	// Coverage says what period the rollups cover and at which grain.
	Coverage string
	// TableURL is the request table with the same filters and window.
	TableURL string
	Cards    StatsCards
	Series   Series
	// Tokens are the models' tokens for the tokens chart.
	Tokens     []ModelTokens
	Breakdowns []Breakdown
	// Error, when set, replaces everything: the filters could not be
	// understood, and this says why.
	Error string
}

// StatsCards are the statistics page's headline numbers.
type StatsCards struct {
	Requests, Errors               int64
	SuccessRate, ErrorRate         float64 // percent, 0–100
	AvgMs, P50Ms, P95Ms, P99Ms     float64
	TTFTP50Ms, TTFTP95Ms           float64
	TokensPerSec                   float64
	PromptTokens, CompletionTokens int64
	CachedTokens, ReasoningTokens  int64
	Cost                           float64 // USD
}

// Breakdown is one table of the statistics by a dimension.
type Breakdown struct {
	// ID names the table in data-testid ("breakdown-"+ID).
	ID, Title string
	// Column heads the first column: "Model", "Provider", …
	Column string
	Rows   []BreakdownRow
	// Hidden is how many smaller groups Rows leaves out.
	Hidden int
}

// BreakdownRow is one group of a Breakdown.
type BreakdownRow struct {
	Label string
	// URL is the request table filtered to this group; "" when the table
	// has no filter for it (no model, an unknown provider, a 3xx status).
	URL              string
	Requests, Errors int64
	// Share is the group's part of all requests, in percent.
	Share        float64
	ErrorRate    float64
	P50Ms, P95Ms float64
	Tokens       int64
	Cost         float64
}
