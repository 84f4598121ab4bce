package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/auth"
	"github.com/openrouter-proxy/openrouter-proxy/views"
)

func (s *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if _, err := s.Auth.Identify(r); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	render(w, r, http.StatusOK, views.LoginPage(views.Login{Page: s.page(r, "Log in")}))
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	loginError := func(status int, msg string) {
		render(w, r, status, views.LoginPage(views.Login{Page: s.page(r, "Log in"), Error: msg}))
	}
	if ok, wait := s.Limiter.Take(r.RemoteAddr); !ok {
		w.Header().Set("Retry-After", fmt.Sprint(int(wait/time.Second)+1))
		loginError(http.StatusTooManyRequests, fmt.Sprintf("Too many failed logins from your address. Try again in %s.", wait.Round(time.Second)))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.Limiter.Refund(r.RemoteAddr)
		loginError(http.StatusBadRequest, "The login form could not be read.")
		return
	}
	_, err := s.Auth.Login(w, r, r.PostForm.Get("api_key"))
	switch {
	case err == nil:
		s.Limiter.Refund(r.RemoteAddr)
		http.Redirect(w, r, "/", http.StatusSeeOther)
	case errors.Is(err, auth.ErrEmptyKey), errors.Is(err, auth.ErrDefaultKey), errors.Is(err, auth.ErrUnknownKey):
		s.Log.Info("login refused", "client", r.RemoteAddr, "reason", err)
		loginError(http.StatusUnauthorized, capitalize(err.Error())+".")
	default:
		s.Limiter.Refund(r.RemoteAddr)
		s.serverError(w, r, err)
	}
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := s.Auth.Logout(w, r); err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
