package web

import (
	"net/http"

	"github.com/openrouter-proxy/openrouter-proxy/assets"
)

// Handler returns every route of the dashboard, wrapped once in the
// security middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", s.requireLogin(s.handleDashboard))
	mux.Handle("GET /partials/requests", s.requireLogin(s.handlePoll))
	mux.HandleFunc("GET /login", s.handleLoginPage)
	mux.HandleFunc("POST /login", s.handleLogin)
	mux.HandleFunc("POST /logout", s.handleLogout)
	mux.Handle("GET /request/{id}", s.requireLogin(s.handleDetail))
	mux.Handle("GET /api/requests", s.requireAPI(s.handleAPIRequests))
	mux.Handle("GET /api/request/{id}", s.requireAPI(s.handleAPIRequest))
	mux.Handle("GET /api/stats", s.requireAPI(s.handleAPIStats))
	mux.HandleFunc("GET /healthz", handleHealthz)
	mux.Handle("GET /assets/", assets.Handler())
	mux.HandleFunc("/", s.handleNotFound)

	// Cross-origin POSTs (login, logout) are refused by Go's Fetch-metadata
	// and Origin checks; no state changes on GET.
	return securityHeaders(http.NewCrossOriginProtection().Handler(mux))
}

func handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}
