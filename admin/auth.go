package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Operator is who acts in the console, as the host's authentication knows
// them. ID is what the payment's timeline records.
type Operator struct {
	ID   string
	Name string
}

// Authenticator is the host's check of an operator's credential. It gets
// every API request that carries an Authorization header, and the console's
// login, whose form's token it sees as "Authorization: Bearer <token>". Any
// error means "not an operator" (401); the console never shows it.
type Authenticator interface {
	Authenticate(r *http.Request) (Operator, error)
}

// ErrUnauthorized is what TokenAuthenticator returns for a missing or wrong
// token.
var ErrUnauthorized = errors.New("admin: not an operator")

// MinTokenLen is the shortest token TokenAuthenticator accepts.
const MinTokenLen = 16

// TokenAuthenticator admits one static bearer token as one operator.
type TokenAuthenticator struct {
	digest [sha256.Size]byte
	op     Operator
}

// NewTokenAuthenticator returns an Authenticator for the token (at least
// MinTokenLen characters) that names whoever presents it op.
func NewTokenAuthenticator(token string, op Operator) (*TokenAuthenticator, error) {
	if len(token) < MinTokenLen || strings.TrimSpace(token) != token {
		return nil, fmt.Errorf("admin: the token must be at least %d characters without surrounding spaces", MinTokenLen)
	}
	if op.ID == "" {
		return nil, errors.New("admin: the token's operator needs an ID")
	}
	return &TokenAuthenticator{digest: sha256.Sum256([]byte(token)), op: op}, nil
}

// Authenticate compares the request's bearer token with the token in
// constant time, over digests, so neither its bytes nor its length leak.
func (a *TokenAuthenticator) Authenticate(r *http.Request) (Operator, error) {
	token, ok := bearer(r)
	if !ok {
		return Operator{}, ErrUnauthorized
	}
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], a.digest[:]) != 1 {
		return Operator{}, ErrUnauthorized
	}
	return a.op, nil
}

// bearer is the request's one "Authorization: Bearer" token.
func bearer(r *http.Request) (string, bool) {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// Sessions of the web page are HMAC-signed cookies rather than rows kept
// on the server: a host runs several processes against one database, and a
// cookie any of them can check (given the same Config.SessionKey) needs no
// shared session table, survives restarts and costs no write per login. The
// price is that a cookie cannot be revoked before it expires except by
// changing the key, so sessions are short (Config.SessionTTL) and logout
// clears the cookie. The CSRF token is bound to the session: the HMAC of
// the session's random id, so a token is good for one session only and a
// page of another session (or a forged form) cannot produce it.

// session is what the cookie carries, signed.
type session struct {
	OperatorID   string `json:"o"`
	OperatorName string `json:"n,omitempty"`
	ID           string `json:"s"`
	Expires      int64  `json:"e"`
}

// maxCookie caps the session cookie read.
const maxCookie = 2048

func (h *Handler) sign(b []byte) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write(b)
	return m.Sum(nil)
}

// newSession returns the cookie value of a new session of op.
func (h *Handler) newSession(op Operator) (string, session) {
	var id [18]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails on supported platforms
	s := session{OperatorID: op.ID, OperatorName: op.Name, ID: base64.RawURLEncoding.EncodeToString(id[:]),
		Expires: h.now().Add(h.cfg.SessionTTL).Unix()}
	raw, _ := json.Marshal(s)
	payload := base64.RawURLEncoding.EncodeToString(raw)
	return payload + "." + base64.RawURLEncoding.EncodeToString(h.sign([]byte("session|"+payload))), s
}

// sessionOf returns the request's valid session, if it has one.
func (h *Handler) sessionOf(r *http.Request) (session, bool) {
	c, err := r.Cookie(h.cookieName)
	if err != nil || len(c.Value) > maxCookie {
		return session{}, false
	}
	payload, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return session{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, h.sign([]byte("session|"+payload))) {
		return session{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return session{}, false
	}
	var s session
	if json.Unmarshal(raw, &s) != nil || s.ID == "" || s.OperatorID == "" || h.now().Unix() >= s.Expires {
		return session{}, false
	}
	return s, true
}

// csrfToken is the session's CSRF token.
func (h *Handler) csrfToken(s session) string {
	return base64.RawURLEncoding.EncodeToString(h.sign([]byte("csrf|" + s.ID)))
}

// validCSRF reports whether got is the session's CSRF token.
func (h *Handler) validCSRF(s session, got string) bool {
	want := h.csrfToken(s)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (h *Handler) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: h.cookieName, Value: value, Path: h.cfg.Prefix + "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.cfg.SecureCookies || r.TLS != nil,
	})
}

// limiter counts failed logins per client address in fixed windows: past
// limit failures within window, every attempt from that address is refused
// until the window ends.
type limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	fails map[string]*failWindow
}

type failWindow struct {
	start time.Time
	n     int
}

// maxTracked bounds the addresses a limiter remembers; past it, windows
// that ended are dropped first.
const maxTracked = 100000

// blocked reports whether addr is over its limit, and for how long more.
func (l *limiter) blocked(addr string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.fails[addr]
	if f == nil {
		return 0, false
	}
	left := f.start.Add(l.window).Sub(l.now())
	if left <= 0 {
		delete(l.fails, addr)
		return 0, false
	}
	return left, f.n >= l.limit
}

// failed counts a failed attempt of addr.
func (l *limiter) failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.fails[addr]
	if f == nil || !now.Before(f.start.Add(l.window)) {
		if len(l.fails) >= maxTracked {
			for k, v := range l.fails {
				if !now.Before(v.start.Add(l.window)) {
					delete(l.fails, k)
				}
			}
		}
		f = &failWindow{start: now}
		l.fails[addr] = f
	}
	f.n++
}

// peerAddr is the connection's peer address without its port: what a
// client cannot choose, unlike a header.
func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// tooMany answers 429 with Retry-After.
func tooMany(w http.ResponseWriter, left time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(left.Seconds()))))
}
