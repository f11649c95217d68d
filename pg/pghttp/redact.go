package pghttp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
)

// Redacted replaces every secret in logs.
const Redacted = "[REDACTED]"

// redactor hides configured secret values and credential headers.
type redactor struct {
	rep     *strings.Replacer // nil when there are no secrets
	headers map[string]bool   // canonical names always redacted
}

func newRedactor(secrets, headers []string) *redactor {
	r := &redactor{headers: map[string]bool{}}
	for _, h := range []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"} {
		r.headers[h] = true
	}
	for _, h := range headers {
		r.headers[http.CanonicalHeaderKey(h)] = true
	}
	var vals []string
	for _, s := range secrets {
		if s != "" {
			vals = append(vals, s)
		}
	}
	// Longest first, so a secret that contains another is hidden whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	if len(vals) > 0 {
		pairs := make([]string, 0, 2*len(vals))
		for _, v := range vals {
			pairs = append(pairs, v, Redacted)
		}
		r.rep = strings.NewReplacer(pairs...)
	}
	return r
}

func (r *redactor) str(s string) string {
	if r == nil || r.rep == nil {
		return s
	}
	return r.rep.Replace(s)
}

// err keeps err's chain for errors.Is/As but hides secrets in its text.
func (r *redactor) err(err error) error {
	if err == nil || r == nil || r.rep == nil {
		return err
	}
	msg := err.Error()
	if red := r.rep.Replace(msg); red != msg {
		return &redactedError{msg: red, err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// sensitiveHeader reports whether a header's value must never be logged.
func (r *redactor) sensitiveHeader(name string) bool {
	name = http.CanonicalHeaderKey(name)
	if r.headers[name] {
		return true
	}
	l := strings.ToLower(name)
	for _, w := range []string{"secret", "token", "signature", "password", "api-key", "apikey"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// headerValue logs a header with credentials replaced.
type headerValue struct {
	h http.Header
	r *redactor
}

func (v headerValue) LogValue() slog.Value {
	names := make([]string, 0, len(v.h))
	for k := range v.h {
		names = append(names, k)
	}
	sort.Strings(names)
	attrs := make([]slog.Attr, 0, len(names))
	for _, k := range names {
		val := strings.Join(v.h[k], ", ")
		if v.r.sensitiveHeader(k) {
			val = Redacted
		}
		attrs = append(attrs, slog.String(k, v.r.str(val)))
	}
	return slog.GroupValue(attrs...)
}

// redactingHandler scrubs secret values from the message and from every
// attribute, however deeply nested, before the next handler sees them.
type redactingHandler struct {
	next slog.Handler
	r    *redactor
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.str(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a)
	}
	return &redactingHandler{next: h.next.WithAttrs(red), r: h.r}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{next: h.next.WithGroup(name), r: h.r}
}

func (h *redactingHandler) attr(a slog.Attr) slog.Attr {
	a.Key = h.r.str(a.Key)
	a.Value = h.value(a.Value, 0)
	return a
}

func (h *redactingHandler) value(v slog.Value, depth int) slog.Value {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(h.r.str(v.String()))
	case slog.KindGroup:
		if depth > 16 {
			return slog.StringValue(Redacted)
		}
		as := v.Group()
		out := make([]slog.Attr, len(as))
		for i, a := range as {
			out[i] = slog.Attr{Key: h.r.str(a.Key), Value: h.value(a.Value, depth+1)}
		}
		return slog.GroupValue(out...)
	case slog.KindAny:
		x := v.Any()
		if err, ok := x.(error); ok {
			return slog.StringValue(h.r.str(err.Error()))
		}
		if hdr, ok := x.(http.Header); ok {
			return headerValue{h: hdr, r: h.r}.LogValue()
		}
		return slog.StringValue(h.r.str(fmt.Sprintf("%+v", x)))
	default:
		return v
	}
}

// RedactHandler wraps next so that every value in secrets and every
// credential header is replaced by "[REDACTED]" in each record. Adapters
// that log outside Client.Do use it to get the same guarantee.
func RedactHandler(next slog.Handler, secrets ...string) slog.Handler {
	return &redactingHandler{next: next, r: newRedactor(secrets, nil)}
}
