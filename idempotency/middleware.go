package idempotency

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
)

// Error codes of the JSON error answers, {"success":false,"error":{"code":…,"message":…}}.
const (
	CodeKeyMissing       = "IDEMPOTENCY_KEY_MISSING" // 400
	CodeKeyInvalid       = "IDEMPOTENCY_KEY_INVALID" // 400
	CodeBadRequest       = "BAD_REQUEST"             // 400: the body could not be read
	CodeKeyInUse         = "IDEMPOTENCY_KEY_IN_USE"  // 409
	CodeKeyReused        = "IDEMPOTENCY_KEY_REUSED"  // 422
	CodeTooLarge         = "REQUEST_TOO_LARGE"       // 413
	CodeInternal         = "INTERNAL_ERROR"          // 500: the handler panicked
	CodeStoreUnavailable = "IDEMPOTENCY_UNAVAILABLE" // 503: the key store failed; nothing ran
)

// Middleware makes next idempotent for requests that carry an
// Idempotency-Key header; requests without one pass through untouched.
func (m *Manager) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, next, false) })
}

// Require is Middleware for routes where the key is mandatory: a request
// without one gets 400 IDEMPOTENCY_KEY_MISSING and next does not run.
func (m *Manager) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { m.serve(w, r, next, true) })
}

func (m *Manager) serve(w http.ResponseWriter, r *http.Request, next http.Handler, required bool) {
	values := r.Header.Values(HeaderKey)
	switch {
	case len(values) == 0 && required:
		WriteError(w, http.StatusBadRequest, CodeKeyMissing, "this request requires an Idempotency-Key header")
		return
	case len(values) == 0:
		next.ServeHTTP(w, r)
		return
	case len(values) > 1:
		WriteError(w, http.StatusBadRequest, CodeKeyInvalid, "send exactly one Idempotency-Key header")
		return
	}
	key, err := ParseKey(values[0])
	if err != nil {
		WriteError(w, http.StatusBadRequest, CodeKeyInvalid, err.Error())
		return
	}

	body, status, err := m.readBody(w, r)
	if err != nil {
		code := CodeBadRequest
		if status == http.StatusRequestEntityTooLarge {
			code = CodeTooLarge
		}
		WriteError(w, status, code, err.Error())
		return
	}

	scope := storedScope(m.cfg.Scope(r) + "|" + r.Method + " " + m.cfg.Route(r))
	h, rec, err := m.claim(r.Context(), scope, key, requestFingerprint(r.Method, r.URL.RequestURI(), body))
	switch {
	case errors.Is(err, ErrKeyReused):
		WriteError(w, http.StatusUnprocessableEntity, CodeKeyReused,
			"this Idempotency-Key was already used with a different request")
		return
	case errors.Is(err, ErrInFlight):
		w.Header().Set("Retry-After", "1")
		WriteError(w, http.StatusConflict, CodeKeyInUse,
			"a request with this Idempotency-Key is still being processed; retry later")
		return
	case err != nil:
		m.cfg.Logger.Error("idempotency: claim", "scope", scope, "key", key, "err", err)
		w.Header().Set("Retry-After", "1")
		WriteError(w, http.StatusServiceUnavailable, CodeStoreUnavailable,
			"the idempotency store is unavailable; nothing was done, retry later")
		return
	case rec != nil:
		writeStored(w, rec.Response, true)
		return
	}
	m.run(w, r, next, h, body)
}

// readBody reads the whole body under the cap. It returns the status to
// answer with when it fails.
func (m *Manager) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, error) {
	limit := m.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the request body exceeds %d bytes", limit)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return []byte{}, 0, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("the request body exceeds %d bytes", limit)
		}
		return nil, http.StatusBadRequest, errors.New("the request body could not be read")
	}
	return body, 0, nil
}

// run executes next under the claim h and records its outcome.
func (m *Manager) run(w http.ResponseWriter, r *http.Request, next http.Handler, h *Handle, body []byte) {
	ctx, cancel := context.WithCancelCause(withHandle(r.Context(), h))
	defer cancel(nil)
	r2 := r.WithContext(ctx)
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	rec := &recorder{header: w.Header().Clone()}

	stop := h.keepAlive(r.Context(), cancel)
	panicked := serveGuarded(next, rec, r2)
	stop()

	if panicked != nil {
		m.finish(r.Context(), h, Response{}, false)
		if panicked.value == http.ErrAbortHandler {
			panic(http.ErrAbortHandler) // the handler's deliberate abort; net/http handles it quietly
		}
		m.cfg.Logger.Error("idempotency: handler panicked; the key was released",
			"scope", h.scope, "key", h.key, "panic", fmt.Sprint(panicked.value), "stack", string(panicked.stack))
		WriteError(w, http.StatusInternalServerError, CodeInternal, "internal error")
		return
	}

	resp := rec.response(m)
	keep := m.cfg.KeepStatus(resp.Status) && len(resp.Body) <= m.cfg.MaxResponseBytes
	if m.cfg.KeepStatus(resp.Status) && !keep {
		m.cfg.Logger.Error("idempotency: response too large to store; the key was released",
			"scope", h.scope, "key", h.key, "bytes", len(resp.Body), "limit", m.cfg.MaxResponseBytes)
	}
	stored := resp
	stored.Header = m.storedHeader(resp.Header)
	final, how := m.finish(r.Context(), h, stored, keep)
	replaceHeader(w.Header(), rec.header)
	if how == storedByHolder {
		writeStored(w, final, false)
		return
	}
	w.WriteHeader(resp.Status)
	_, _ = w.Write(resp.Body)
}

type recovered struct {
	value any
	stack []byte
}

func serveGuarded(next http.Handler, w http.ResponseWriter, r *http.Request) (p *recovered) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				p = &recovered{value: v}
				return
			}
			p = &recovered{value: v, stack: debug.Stack()}
		}
	}()
	next.ServeHTTP(w, r)
	return nil
}

// recorder buffers the handler's response so it can be stored before it is
// sent. Its header map starts as a copy of the real writer's (headers outer
// middleware set) and replaces it when the response is sent, so a handler
// that panics leaves no half-set headers behind. Streaming (Flush) is not
// offered: an idempotent response is sent whole.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(code int) {
	if rec.status != 0 || code < 200 || code > 999 {
		return // informational answers cannot be buffered; later calls are superfluous
	}
	rec.status = code
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return rec.body.Write(p)
}

// response is what the handler produced, with the Content-Type net/http
// would have sniffed made explicit so a replay carries it too.
func (rec *recorder) response(m *Manager) Response {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	body := rec.body.Bytes()
	if _, set := rec.header["Content-Type"]; !set && len(body) > 0 {
		rec.header.Set("Content-Type", http.DetectContentType(body))
	}
	return Response{Status: status, Header: rec.header, Body: body}
}

func replaceHeader(dst, src http.Header) {
	for k := range dst {
		delete(dst, k)
	}
	for k, vs := range src {
		dst[k] = vs
	}
}

func (m *Manager) storedHeader(h http.Header) http.Header {
	out := http.Header{}
	for k, vs := range h {
		if m.stored[http.CanonicalHeaderKey(k)] && len(vs) > 0 {
			out[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
		}
	}
	return out
}

// writeStored sends a stored response: its status, its stored headers and
// its body byte for byte.
func writeStored(w http.ResponseWriter, resp Response, replayed bool) {
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = append([]string(nil), vs...)
	}
	if replayed {
		h.Set(HeaderReplayed, "true")
	}
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(resp.Body)
}

type errorBody struct {
	Success bool `json:"success"`
	Error   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// WriteError writes the API's JSON error answer:
// {"success":false,"error":{"code":code,"message":message}}.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, message
	out, _ := json.Marshal(b) // a struct of strings always marshals
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(out)
}
