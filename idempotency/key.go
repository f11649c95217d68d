package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// HeaderKey is the request header carrying the key (IETF httpapi
// "The Idempotency-Key HTTP Header Field").
const HeaderKey = "Idempotency-Key"

// HeaderReplayed is set to "true" on a response answered from the store.
const HeaderReplayed = "Idempotent-Replayed"

// MaxKeyLen is the longest key accepted, in characters (all ASCII).
const MaxKeyLen = 255

// maxScopeLen bounds the stored scope in bytes; longer HTTP scopes are stored
// as their digest.
const maxScopeLen = 255

// ErrInvalidKey is wrapped by every refusal of a key: empty, longer than
// MaxKeyLen, not printable ASCII, or a malformed structured-field string.
var ErrInvalidKey = errors.New("idempotency: invalid key")

// ErrInvalidScope is returned by Do for a scope longer than 255 bytes or not
// valid UTF-8.
var ErrInvalidScope = errors.New("idempotency: invalid scope")

// ParseKey reads an Idempotency-Key header value. It accepts the
// structured-field string the draft specifies ("8e03978e-40d5") and, because
// many clients send one, a bare token (8e03978e-40d5). The decoded key must be
// 1 to 255 printable ASCII characters; a bare token may not contain spaces,
// double quotes or commas (a comma means two header lines were joined).
// Structured-field parameters after the string are refused rather than
// silently ignored.
func ParseKey(v string) (string, error) {
	v = strings.Trim(v, " \t")
	if v == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	var key string
	if v[0] == '"' {
		var b strings.Builder
		closed := false
		i := 1
	scan:
		for ; i < len(v); i++ {
			c := v[i]
			switch {
			case c == '\\':
				i++
				if i >= len(v) || (v[i] != '"' && v[i] != '\\') {
					return "", fmt.Errorf("%w: bad escape in quoted key", ErrInvalidKey)
				}
				b.WriteByte(v[i])
			case c == '"':
				closed = true
				i++
				break scan
			case c < 0x20 || c > 0x7e:
				return "", fmt.Errorf("%w: only printable ASCII is allowed", ErrInvalidKey)
			default:
				b.WriteByte(c)
			}
			if b.Len() > MaxKeyLen {
				return "", fmt.Errorf("%w: longer than %d characters", ErrInvalidKey, MaxKeyLen)
			}
		}
		if !closed {
			return "", fmt.Errorf("%w: unterminated quoted key", ErrInvalidKey)
		}
		if i != len(v) {
			return "", fmt.Errorf("%w: unexpected characters after the quoted key", ErrInvalidKey)
		}
		key = b.String()
	} else {
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c <= 0x20 || c > 0x7e {
				return "", fmt.Errorf("%w: only printable ASCII without spaces is allowed in an unquoted key", ErrInvalidKey)
			}
			if c == '"' || c == ',' {
				return "", fmt.Errorf("%w: %q is not allowed in an unquoted key", ErrInvalidKey, c)
			}
		}
		key = v
	}
	if err := checkKey(key); err != nil {
		return "", err
	}
	return key, nil
}

// checkKey validates a decoded key.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidKey, MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: only printable ASCII is allowed", ErrInvalidKey)
		}
	}
	return nil
}

func checkScope(scope string) error {
	if len(scope) > maxScopeLen {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidScope, maxScopeLen)
	}
	if !utf8.ValidString(scope) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidScope)
	}
	return nil
}

// storedScope makes an HTTP scope storable: itself when it fits, otherwise a
// digest, so a long route or tenant name never fails a request and two
// different scopes never share a row.
func storedScope(scope string) string {
	if checkScope(scope) == nil {
		return scope
	}
	sum := sha256.Sum256([]byte(scope))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// requestFingerprint is the hex SHA-256 of the method, the request URI (path
// and query) and the body, each length-prefixed so no two different requests
// encode alike.
func requestFingerprint(method, uri string, body []byte) string {
	h := sha256.New()
	var n [8]byte
	for _, part := range [][]byte{[]byte(method), []byte(uri), body} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// digest is the stored form of a Do fingerprint.
func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
