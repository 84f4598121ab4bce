package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
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
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		loginError(http.StatusBadRequest, "The login form could not be read.")
		return
	}
	// The key is checked before the limiter is asked, so a valid key is
	// never locked out; only refused keys count.
	_, err := s.Auth.Login(w, r, r.PostForm.Get("api_key"))
	switch {
	case err == nil:
		http.Redirect(w, r, "/", http.StatusSeeOther)
	case errors.Is(err, auth.ErrEmptyKey), errors.Is(err, auth.ErrDefaultKey), errors.Is(err, auth.ErrUnknownKey):
		client := auth.Client(r, s.TrustedProxies)
		wait, limited, lerr := s.loginFailed(w, r, client)
		if lerr != nil {
			s.serverError(w, r, lerr)
			return
		}
		if limited {
			s.Log.Info("login refused: rate limited", "client", client)
			loginError(http.StatusTooManyRequests, fmt.Sprintf("Too many failed logins from your address. Try again in %s.", wait.Round(time.Second)))
			return
		}
		s.Log.Info("login refused", "client", client, "reason", err)
		loginError(http.StatusUnauthorized, capitalize(err.Error())+".")
	default:
		s.serverError(w, r, err)
	}
}

// loginFailed counts a refused key from client, and when that is beyond
// the limit, sets Retry-After and reports how long the client must wait.
func (s *Server) loginFailed(w http.ResponseWriter, r *http.Request, client string) (time.Duration, bool, error) {
	ok, wait, err := s.Limiter.Fail(r.Context(), client)
	if err != nil || ok {
		return 0, false, err
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
	return wait, true, nil
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
