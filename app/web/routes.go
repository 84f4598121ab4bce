package web

import (
	"fmt"
	"net/http"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/assets"
)

// Handler returns every route of the dashboard, wrapped once in the
// security middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", s.requireLogin(s.handleDashboard))
	mux.Handle("GET /partials/requests", s.requireLogin(s.handlePoll))
	mux.Handle("GET /stats", s.requireLogin(s.handleStats))
	mux.Handle("GET /partials/stats", s.requireLogin(s.handleStatsPoll))
	mux.HandleFunc("GET /login", s.handleLoginPage)
	mux.HandleFunc("POST /login", s.handleLogin)
	mux.HandleFunc("POST /logout", s.handleLogout)
	mux.Handle("GET /request/{id}", s.requireLogin(s.handleDetail))
	mux.Handle("GET /api/requests", s.requireAPI(s.handleAPIRequests))
	mux.Handle("GET /api/request/{id}", s.requireAPI(s.handleAPIRequest))
	mux.Handle("GET /api/stats", s.requireAPI(s.handleAPIStats))
	mux.Handle("GET /api/export", s.requireAPI(s.handleExport))
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	mux.Handle("GET /assets/", assets.Handler())
	mux.HandleFunc("/", s.handleNotFound)

	// Cross-origin POSTs (login, logout) are refused by Go's Fetch-metadata
	// and Origin checks; no state changes on GET.
	return securityHeaders(http.NewCrossOriginProtection().Handler(mux))
}

// Ops returns the handler of a process without a dashboard (the proxy
// role): GET /healthz from health, and GET /metrics from metrics if not
// nil; anything else is 404.
func Ops(health func() store.Health, metrics http.Handler) http.Handler {
	s := &Server{Health: health}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return securityHeaders(mux)
}

// handleHealthz answers "ok", or "degraded" with why: the proxy still
// forwards traffic then, so the status stays 200 and a load balancer keeps
// the node; monitoring reads the first line. Nothing in it is secret: no
// key, no record content, only counts and the database's error.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.Health == nil {
		w.Write([]byte("ok\n"))
		return
	}
	h := s.Health()
	if !h.Degraded {
		fmt.Fprintf(w, "ok\nqueued_records %d\nqueued_bytes %d\nrecords_lost %d\n", h.QueuedRecords, h.QueuedBytes, h.Lost)
		return
	}
	fmt.Fprintf(w, "degraded\ndatabase_failing %t\nrecords_lost %d\nqueued_records %d\nqueued_bytes %d\n",
		h.Failing, h.Lost, h.QueuedRecords, h.QueuedBytes)
	if h.LastError != "" {
		fmt.Fprintf(w, "last_error %s\n", h.LastError)
	}
}
