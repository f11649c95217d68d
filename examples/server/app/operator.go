package app

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/paygate/paygate/admin"
	"github.com/paygate/paygate/store/adminstore"
)

// Operators. A refund and the operators' console are the shop's business,
// not a buyer's: those routes need the operator token, sent as
// "Authorization: Bearer <token>" (or typed into the console's login page).
// Without a valid one they answer 401 in the API's error shape and run
// nothing (no Idempotency-Key is claimed either).

// MinAdminTokenLen is the shortest operator token the app accepts.
const MinAdminTokenLen = 16

// adminTokenFile is the generated token's file name under the data
// directory.
const adminTokenFile = "admin-token"

var errUnauthorized = errors.New("unauthorized")

// consoleOperator is who the operator token names in payments' timelines.
var consoleOperator = admin.Operator{ID: "operator", Name: "Operator"}

// newConsole builds the operators' console (package admin) on the app's
// paygate, mounted at /admin/, with an Authenticator for the operator
// token. Its session key is derived from the token: every process started
// with the same token accepts the same sessions, and a new token ends them
// all.
func (a *App) newConsole() (*admin.Handler, error) {
	auth, err := admin.NewTokenAuthenticator(a.cfg.AdminToken, consoleOperator)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, []byte(a.cfg.AdminToken))
	mac.Write([]byte("paygate admin console sessions"))
	return admin.New(admin.Config{
		Paygate: a.pay, Store: adminstore.New(a.db), Auth: auth,
		SessionKey: mac.Sum(nil), Logger: a.log,
	})
}

// operator runs next only for a request carrying the operator token.
func (a *App) operator(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.validOperator(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="paygate operators"`)
			a.fail(w, fmt.Errorf("%w: this route needs the operator token (Authorization: Bearer …)", errUnauthorized))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// validOperator compares the request's bearer token with the operator
// token in constant time (over digests, so the length leaks nothing
// either).
func (a *App) validOperator(r *http.Request) bool {
	values := r.Header.Values("Authorization")
	if len(values) != 1 {
		return false
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], a.adminDigest[:]) == 1
}

// GenerateAdminToken makes a random operator token and stores it in the
// file "admin-token" under dir (created if missing), readable by its owner
// only (0600). It returns the token and the file's path. A token file left
// by an earlier start is replaced.
func GenerateAdminToken(dir string) (token, path string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	path = filepath.Join(dir, adminTokenFile)
	// Written next to its final name and renamed over it: the file is
	// never readable by others, not even for a moment, and a reader never
	// sees half a token.
	tmp, err := os.CreateTemp(dir, adminTokenFile+".*")
	if err != nil {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err == nil {
		_, err = tmp.WriteString(token + "\n")
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return "", "", fmt.Errorf("admin token: %w", err)
	}
	return token, path, nil
}
