// Package web serves the dashboard on WEB_PORT: server-rendered templ pages
// driven by htmx, and a JSON API. Every handler asks the store with the
// caller's Viewer, so visibility is enforced by the query itself.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/auth"
	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/live"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// Store is what the dashboard reads.
type Store interface {
	List(ctx context.Context, f store.Filter) ([]*capture.Record, int64, error)
	Get(ctx context.Context, id string, v store.Viewer) (*capture.Record, error)
	Stats(ctx context.Context, f store.Filter, now time.Time) (store.Stats, error)
	// Breakdown, Series and Coverage answer the statistics page.
	Breakdown(ctx context.Context, f store.Filter, by store.Dimension) ([]store.BreakdownRow, error)
	Series(ctx context.Context, f store.Filter, step time.Duration) ([]store.Point, error)
	Coverage(ctx context.Context) (store.Coverage, error)
	Models(ctx context.Context, v store.Viewer) ([]string, error)
	Methods(ctx context.Context, v store.Viewer) ([]string, error)
	Keys(ctx context.Context) ([]store.KeyInfo, error)
	// Texts returns the text of the records with these ids that v may
	// see, for the previews of a search.
	Texts(ctx context.Context, ids []string, v store.Viewer) (map[string]store.Texts, error)
	// Each calls fn with every record matching f that f.Viewer may see,
	// bodies included, newest first, reading in pages: for an export.
	Each(ctx context.Context, f store.Filter, fn func(*capture.Record) error) error
}

// Server holds the dashboard's dependencies.
type Server struct {
	Store Store
	// Search answers the searches while it is ready; nil, or not ready,
	// leaves them to the store's slower substring scan.
	Search  Index
	Auth    *auth.Auth
	Limiter *auth.Limiter
	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// for the login limiter (TRUSTED_PROXIES); nil trusts no header.
	TrustedProxies []netip.Prefix
	Live           *live.Tracker
	PageSize       int    // PAGE_SIZE
	ProxyURL       string // the proxy's base URL, for copy-as-curl
	Demo           bool
	// Health reports the recording pipeline's state for /healthz and the
	// degraded banner; nil means always healthy.
	Health func() store.Health
	// Metrics serves GET /metrics; nil leaves the route out.
	Metrics http.Handler
	Log     *slog.Logger

	now     func() time.Time // the clock; nil means time.Now
	updates liveCache        // live updates, shared by the polls of one view

	saltOnce sync.Once
	salt     [16]byte // hides the index's watermark in poll versions

	covMu sync.Mutex
	cov   store.Coverage // the rollups' coverage, read at covAt
	covAt time.Time
}

// coverageTTL is how long the rollups' coverage is reused: it moves when
// compaction runs (every 10 minutes) or history older than it arrives, and
// reading it on every statistics poll would cost each open page a query
// even when nothing changed.
const coverageTTL = time.Minute

// coverage returns the rollups' coverage, read at most once a coverageTTL.
func (s *Server) coverage(ctx context.Context) (store.Coverage, error) {
	s.covMu.Lock()
	defer s.covMu.Unlock()
	if now := s.clock(); s.covAt.IsZero() || now.Sub(s.covAt) >= coverageTTL || now.Before(s.covAt) {
		cov, err := s.Store.Coverage(ctx)
		if err != nil {
			return cov, err
		}
		s.cov, s.covAt = cov, now
	}
	return s.cov, nil
}

// clock returns the current time.
func (s *Server) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// maxPageSize bounds page_size on the API, so one call cannot ask for the
// whole table.
const maxPageSize = 500

// recentWindow is what "recent" means in the stats: the last hour.
const recentWindow = time.Hour
