package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/a-h/templ"

	"github.com/openrouter-proxy/openrouter-proxy/app/auth"
	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
	"github.com/openrouter-proxy/openrouter-proxy/views"
)

// csp allows only the app's own scripts and styles; htmx runs with
// allowEval off, so no 'unsafe-eval' is needed.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

type ctxIdentity struct{}

// identity returns the caller set by requireLogin or requireAPI.
func identity(r *http.Request) auth.Identity {
	id, _ := r.Context().Value(ctxIdentity{}).(auth.Identity)
	return id
}

// authenticated runs h with the caller's identity in the context, or calls
// refuse when there is none. asJSON says how to answer a failure to look
// the caller up.
func (s *Server) authenticated(h http.HandlerFunc, refuse http.HandlerFunc, asJSON bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := s.Auth.Identify(r)
		// A wrong Bearer key is a failed login: it counts against the
		// same limit as the login form. A valid one is never limited.
		if _, bearer := capture.BearerToken(r.Header.Get("Authorization")); bearer && errors.Is(err, auth.ErrNotLoggedIn) {
			_, limited, lerr := s.loginFailed(w, r, auth.Client(r, s.TrustedProxies))
			if lerr != nil {
				s.fail(w, r, lerr, asJSON)
				return
			}
			if limited {
				writeJSONError(w, http.StatusTooManyRequests, "rate_limited", "too many failed logins from your address; try again later")
				return
			}
		}
		switch {
		case errors.Is(err, auth.ErrNotLoggedIn):
			refuse(w, r)
		case err != nil:
			s.fail(w, r, err, asJSON)
		default:
			h(w, r.WithContext(context.WithValue(r.Context(), ctxIdentity{}, id)))
		}
	})
}

// requireLogin sends visitors without a session to the login page.
func (s *Server) requireLogin(h http.HandlerFunc) http.Handler {
	return s.authenticated(h, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("HX-Request") != "" {
			// htmx would swap the login page into the table; make it
			// navigate instead.
			w.Header().Set("HX-Redirect", "/login")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	}, false)
}

// requireAPI answers 401 in JSON to callers without a session or key.
func (s *Server) requireAPI(h http.HandlerFunc) http.Handler {
	return s.authenticated(h, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="openrouter-proxy"`)
		writeJSONError(w, http.StatusUnauthorized, "unauthorized", "log in or send Authorization: Bearer <your API key>")
	}, true)
}

// page returns the layout model for r's caller.
func (s *Server) page(r *http.Request, title string) views.Page {
	p := views.Page{Title: title, Demo: s.Demo}
	id := identity(r)
	if id.KeyHash != "" {
		p.User = &views.User{KeyMask: id.KeyMask, Admin: id.Admin}
		if s.Health != nil {
			if h := s.Health(); h.Degraded {
				p.Degraded = &views.Degraded{Lost: h.Lost, Failing: h.Failing}
				if id.Admin {
					p.Degraded.Error = h.LastError
				}
			}
		}
	}
	return p
}

func render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	c.Render(r.Context(), w)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "code": status}})
}

// fail answers an error from the store or from input parsing: 400 with the
// message for bad input, 404 for what the caller cannot see, else 500.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error, asJSON bool) {
	switch {
	case isBadInput(err):
		if asJSON {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", err.Error())
		} else {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	case errors.Is(err, store.ErrNotFound):
		if asJSON {
			writeJSONError(w, http.StatusNotFound, "not_found", "no such request")
		} else {
			render(w, r, http.StatusNotFound, views.NotFoundPage(views.NotFound{Page: s.page(r, "Not found"), Message: "There is no request with this id, or it is not yours."}))
		}
	case errors.Is(err, store.ErrUnavailable):
		s.unavailable(w, r, err, asJSON)
	default:
		if asJSON {
			s.Log.Error("dashboard api", "path", r.URL.Path, "err", err)
			writeJSONError(w, http.StatusInternalServerError, "internal_error", "internal error")
		} else {
			s.serverError(w, r, err)
		}
	}
}

func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		s.unavailable(w, r, err, false)
		return
	}
	s.Log.Error("dashboard", "path", r.URL.Path, "err", err)
	http.Error(w, "internal error", http.StatusInternalServerError)
}

// unavailable answers 503 while the database cannot be reached: JSON for
// the API, for htmx a status its polls leave the page alone on, else a page
// that says so and reloads itself. The store's own log says what failed;
// this logs at warning level, since nothing here is a bug.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error, asJSON bool) {
	s.Log.Warn("dashboard: database unreachable", "path", r.URL.Path, "err", err)
	w.Header().Set("Retry-After", "5")
	switch {
	case asJSON:
		writeJSONError(w, http.StatusServiceUnavailable, "database_unavailable", "the database is unreachable; try again shortly")
	case r.Header.Get("HX-Request") != "":
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		render(w, r, http.StatusServiceUnavailable, views.UnavailablePage(views.Unavailable{Page: s.page(r, "Database unreachable"), Retry: r.URL.RequestURI()}))
	}
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	render(w, r, http.StatusNotFound, views.NotFoundPage(views.NotFound{Page: s.page(r, "Not found"), Message: "There is nothing at " + r.URL.Path + "."}))
}
