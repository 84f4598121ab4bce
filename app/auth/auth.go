// Package auth decides who a dashboard request comes from: a session cookie
// (gorilla/sessions, holding only a random session id) backed by a
// server-side session row, or an `Authorization: Bearer` API key. Keys are
// compared by fingerprint, never kept in plaintext.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// CookieName is the dashboard's session cookie. The proxy drops it from
// requests it forwards: cookies ignore the port, so browsers send it there
// too.
const CookieName = "orp_session"

// SessionTTL is how long a login lasts.
const SessionTTL = 7 * 24 * time.Hour

// Errors Login returns; the web layer shows their text to the user.
var (
	ErrEmptyKey      = errors.New("enter an API key")
	ErrDefaultKey    = errors.New("the default key belongs to anonymous callers and cannot log in")
	ErrUnknownKey    = errors.New("no traffic has been recorded for this key yet: send a request through the proxy first")
	ErrNotLoggedIn   = errors.New("not logged in")
	errSessionMissed = errors.New("session not found")
)

// Identity is who a request comes from.
type Identity struct {
	KeyHash string
	KeyMask string
	Admin   bool
}

// Viewer is the store's visibility rule for this identity.
func (id Identity) Viewer() store.Viewer { return store.Viewer{Admin: id.Admin, KeyHash: id.KeyHash} }

// Sessions is the server-side session table the Auth needs.
type Sessions interface {
	CreateSession(ctx context.Context, s store.Session) error
	GetSession(ctx context.Context, idHash string, now time.Time) (store.Session, error)
	DeleteSession(ctx context.Context, idHash string) error
}

// KnownKeys reports whether any record was made with a key fingerprint.
type KnownKeys interface {
	HasKey(ctx context.Context, keyHash string) (bool, error)
}

// Options configure an Auth.
type Options struct {
	AdminKeys    []string // SUPER_ADMIN_APIKEY
	DefaultKey   string   // DEFAULT_APIKEY: refused at login
	Secret       []byte   // signs the session cookie
	CookieSecure bool
	Sessions     Sessions
	Known        KnownKeys
}

// Auth authenticates dashboard requests.
type Auth struct {
	admins     [][]byte // fingerprints of admin keys
	defaultFP  []byte
	cookies    *sessions.CookieStore
	sessions   Sessions
	known      KnownKeys
	now        func() time.Time
	cookieOpts sessions.Options
}

// New returns an Auth.
func New(o Options) *Auth {
	a := &Auth{sessions: o.Sessions, known: o.Known, now: time.Now}
	for _, k := range o.AdminKeys {
		a.admins = append(a.admins, []byte(capture.Fingerprint(k)))
	}
	if o.DefaultKey != "" {
		a.defaultFP = []byte(capture.Fingerprint(o.DefaultKey))
	}
	a.cookieOpts = sessions.Options{
		Path:     "/",
		MaxAge:   int(SessionTTL / time.Second),
		HttpOnly: true,
		Secure:   o.CookieSecure,
		SameSite: http.SameSiteLaxMode,
	}
	a.cookies = sessions.NewCookieStore(o.Secret)
	a.cookies.Options = &a.cookieOpts
	return a
}

// identify classifies a key. Comparison is between fingerprints, in
// constant time, so neither a key nor its timing leaks.
func (a *Auth) identify(key string) (Identity, error) {
	key = strings.TrimSpace(key)
	if key == "" {
		return Identity{}, ErrEmptyKey
	}
	fp := []byte(capture.Fingerprint(key))
	id := Identity{KeyHash: string(fp), KeyMask: capture.Mask(key), Admin: a.isAdmin(fp)}
	if !id.Admin && a.isDefault(fp) {
		return Identity{}, ErrDefaultKey
	}
	return id, nil
}

// CheckKey returns the identity of an API key, refusing the default key and,
// for non-admins, keys the proxy has never seen.
func (a *Auth) CheckKey(ctx context.Context, key string) (Identity, error) {
	id, err := a.identify(key)
	if err != nil || id.Admin {
		return id, err
	}
	ok, err := a.known.HasKey(ctx, id.KeyHash)
	if err != nil {
		return Identity{}, fmt.Errorf("auth: look up key: %w", err)
	}
	if !ok {
		return Identity{}, ErrUnknownKey
	}
	return id, nil
}

// Login checks key and starts a session: a random id goes into the signed
// cookie, and only its hash into the session table.
func (a *Auth) Login(w http.ResponseWriter, r *http.Request, key string) (Identity, error) {
	id, err := a.CheckKey(r.Context(), key)
	if err != nil {
		return Identity{}, err
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	sid := hex.EncodeToString(raw)
	now := a.now()
	err = a.sessions.CreateSession(r.Context(), store.Session{
		IDHash: hashSID(sid), KeyHash: id.KeyHash, KeyMask: id.KeyMask, Admin: id.Admin,
		Created: now, Expires: now.Add(SessionTTL),
	})
	if err != nil {
		return Identity{}, fmt.Errorf("auth: create session: %w", err)
	}
	sess, _ := a.cookies.New(r, CookieName)
	sess.Values["sid"] = sid
	if err := sess.Save(r, w); err != nil {
		return Identity{}, fmt.Errorf("auth: save cookie: %w", err)
	}
	return id, nil
}

// Logout deletes the server-side session, so every copy of the cookie stops
// working at once, and clears the cookie.
func (a *Auth) Logout(w http.ResponseWriter, r *http.Request) error {
	if sid, ok := a.sessionID(r); ok {
		if err := a.sessions.DeleteSession(r.Context(), hashSID(sid)); err != nil {
			return fmt.Errorf("auth: delete session: %w", err)
		}
	}
	http.SetCookie(w, sessions.NewCookie(CookieName, "", &sessions.Options{
		Path: "/", MaxAge: -1, HttpOnly: true, Secure: a.cookieOpts.Secure, SameSite: http.SameSiteLaxMode,
	}))
	return nil
}

// Identify returns who r comes from: a Bearer key first (for API clients),
// else the session cookie. It returns ErrNotLoggedIn when neither works.
func (a *Auth) Identify(r *http.Request) (Identity, error) {
	// Only a Bearer credential is ours: a reverse proxy's Basic auth in
	// front of the dashboard sends its own Authorization header with every
	// browser request, and the session cookie must still count then.
	if key, ok := capture.BearerToken(r.Header.Get("Authorization")); ok {
		id, err := a.CheckKey(r.Context(), key)
		if errors.Is(err, ErrEmptyKey) || errors.Is(err, ErrDefaultKey) || errors.Is(err, ErrUnknownKey) {
			return Identity{}, ErrNotLoggedIn
		}
		return id, err
	}
	sid, ok := a.sessionID(r)
	if !ok {
		return Identity{}, ErrNotLoggedIn
	}
	s, err := a.sessions.GetSession(r.Context(), hashSID(sid), a.now())
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, ErrNotLoggedIn
	}
	if err != nil {
		return Identity{}, fmt.Errorf("auth: read session: %w", err)
	}
	// The role follows today's configuration, not the one at login: a key
	// removed from SUPER_ADMIN_APIKEY loses its view of others' traffic at
	// the next restart, and a key that became DEFAULT_APIKEY is out.
	id := Identity{KeyHash: s.KeyHash, KeyMask: s.KeyMask, Admin: a.isAdmin([]byte(s.KeyHash))}
	if !id.Admin && a.isDefault([]byte(s.KeyHash)) {
		return Identity{}, ErrNotLoggedIn
	}
	return id, nil
}

// isAdmin compares a fingerprint with the admin keys' in constant time.
func (a *Auth) isAdmin(fp []byte) bool {
	admin := false
	for _, k := range a.admins {
		if subtle.ConstantTimeCompare(fp, k) == 1 {
			admin = true
		}
	}
	return admin
}

// isDefault reports whether a fingerprint is DEFAULT_APIKEY's.
func (a *Auth) isDefault(fp []byte) bool {
	return a.defaultFP != nil && subtle.ConstantTimeCompare(fp, a.defaultFP) == 1
}

// sessionID reads the session id from a validly signed cookie.
func (a *Auth) sessionID(r *http.Request) (string, bool) {
	sess, err := a.cookies.Get(r, CookieName)
	if err != nil {
		return "", false
	}
	sid, ok := sess.Values["sid"].(string)
	return sid, ok && sid != ""
}

// hashSID is what the session table stores instead of the session id, so a
// copy of the database holds no live session.
func hashSID(sid string) string {
	sum := sha256.Sum256([]byte(sid))
	return hex.EncodeToString(sum[:])
}

// SecretStore keeps the secrets every process on one database shares
// (store.Store.Secret).
type SecretStore interface {
	Secret(ctx context.Context, name string, value []byte) ([]byte, error)
}

// SharedSecret returns the cookie-signing secret kept in the database,
// generated by the first process that asks: with SESSION_SECRET unset,
// every dashboard replica on one database then accepts every session.
func SharedSecret(ctx context.Context, s SecretStore) ([]byte, error) {
	fresh := make([]byte, 64)
	rand.Read(fresh)
	secret, err := s.Secret(ctx, "session", fresh)
	if err != nil {
		return nil, fmt.Errorf("auth: session secret: %w", err)
	}
	if len(secret) < 32 {
		return nil, errors.New("auth: session secret: the database holds one shorter than 32 bytes")
	}
	return secret, nil
}

// LoadSecret returns the cookie-signing secret: configured if given, else
// read from, or generated once into, DATA_DIR/session_secret, so restarts
// don't log everyone out.
func LoadSecret(configured, dataDir string) ([]byte, error) {
	if configured != "" {
		if len(configured) < 32 {
			return nil, errors.New("config: SESSION_SECRET must be at least 32 characters")
		}
		return []byte(configured), nil
	}
	path := filepath.Join(dataDir, "session_secret")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 {
		return b, nil
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("auth: session secret: %w", err)
	}
	secret := make([]byte, 64)
	rand.Read(secret)
	if err := os.WriteFile(path, secret, 0o600); err != nil {
		return nil, fmt.Errorf("auth: session secret: %w", err)
	}
	return secret, nil
}
