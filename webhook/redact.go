package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/url"
	"strings"
)

// redacted replaces a masked value.
const redacted = "[REDACTED]"

// maxRedactDepth bounds the nesting RedactBody walks; deeper JSON is not
// stored at all rather than stored unmasked.
const maxRedactDepth = 64

// withheld is stored instead of a body that could not be masked.
var withheld = []byte("[body withheld: it could not be parsed to mask its secrets; see body_sha256]")

// sensitiveWords mark a field or header name as holding a secret when they
// appear in it (case and "-"/"_" ignored). "secret" covers Toss's
// per-payment webhook secret.
var sensitiveWords = []string{"secret", "password", "passwd", "token", "apikey", "signkey", "privatekey", "cookie", "authorization"}

// Sensitive reports whether a field or header name looks like it holds a
// secret: it contains one of secret, password, passwd, token, apikey,
// signkey, privatekey, cookie or authorization, ignoring case, "-" and "_".
func Sensitive(name string) bool {
	n := strings.ToLower(name)
	n = strings.NewReplacer("-", "", "_", "").Replace(n)
	for _, w := range sensitiveWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// DefaultRedactHeader masks Authorization, Proxy-Authorization, Cookie and
// every header Sensitive names. Signature headers are kept: a MAC is
// evidence, not a secret.
func DefaultRedactHeader(name string) bool {
	return Sensitive(name)
}

// RedactBody returns the copy of a webhook body that is stored for audit:
//
//   - JSON (by content type, or a body starting with { or [): the values of
//     object fields Sensitive names become "[REDACTED]", at any depth; the
//     rest is kept, in order, re-encoded compactly;
//   - application/x-www-form-urlencoded: the values of Sensitive fields
//     become [REDACTED]; every other pair is kept byte for byte, in order
//     (Inicis sends EUC-KR, which must not be re-encoded);
//   - anything else is stored as received.
//
// A body that claims to be JSON but cannot be walked is replaced by a note;
// the digest of the original is stored beside it either way.
func RedactBody(contentType string, body []byte) []byte {
	media, _, _ := mime.ParseMediaType(contentType)
	trimmed := bytes.TrimSpace(body)
	switch {
	case media == "application/json" || strings.HasSuffix(media, "+json") ||
		(len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')):
		out, err := redactJSON(body)
		if err != nil {
			return withheld
		}
		return out
	case media == "application/x-www-form-urlencoded":
		return redactForm(body)
	default:
		return bytes.Clone(body)
	}
}

func redactJSON(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var out bytes.Buffer
	if err := redactValue(dec, &out, 0); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("webhook: trailing data after the JSON body")
	}
	return out.Bytes(), nil
}

func redactValue(dec *json.Decoder, out *bytes.Buffer, depth int) error {
	if depth > maxRedactDepth {
		return errors.New("webhook: JSON body nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			out.WriteByte('{')
			for i := 0; dec.More(); i++ {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				if i > 0 {
					out.WriteByte(',')
				}
				writeJSON(out, k)
				out.WriteByte(':')
				if Sensitive(k) {
					var skip json.RawMessage
					if err := dec.Decode(&skip); err != nil {
						return err
					}
					writeJSON(out, redacted)
					continue
				}
				if err := redactValue(dec, out, depth+1); err != nil {
					return err
				}
			}
			out.WriteByte('}')
		case '[':
			out.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					out.WriteByte(',')
				}
				if err := redactValue(dec, out, depth+1); err != nil {
					return err
				}
			}
			out.WriteByte(']')
		}
		_, err := dec.Token() // the closing delimiter
		return err
	case json.Number:
		out.WriteString(t.String())
	default:
		writeJSON(out, t) // string, bool or nil
	}
	return nil
}

func writeJSON(out *bytes.Buffer, v any) {
	b, _ := jsonMarshal(v) // strings, bools and nil always marshal
	out.Write(b)
}

func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func redactForm(body []byte) []byte {
	var out bytes.Buffer
	for i, pair := range bytes.Split(body, []byte("&")) {
		if i > 0 {
			out.WriteByte('&')
		}
		rawKey, _, hasValue := bytes.Cut(pair, []byte("="))
		key, err := url.QueryUnescape(string(rawKey))
		if err != nil {
			key = string(rawKey)
		}
		if hasValue && Sensitive(key) {
			out.Write(rawKey)
			out.WriteString("=" + url.QueryEscape(redacted))
			continue
		}
		out.Write(pair)
	}
	return out.Bytes()
}
