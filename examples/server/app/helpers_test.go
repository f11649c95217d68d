package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// testToken is the operator token of the apps these tests start.
const testToken = "app-test-operator-token"

// testApp is an App behind a real HTTP listener whose address is its
// public URL, so the sandbox PGs it serves are reached over HTTP.
type testApp struct {
	*App
	url string
}

// newTestApp starts an app on a fresh database of dialect d; mod may change
// its configuration.
func newTestApp(t testing.TB, d store.Dialect, mod func(*Config)) *testApp {
	t.Helper()
	var handler atomic.Pointer[http.Handler]
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := handler.Load()
		if h == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	cfg := Config{
		DB: storetest.NewDSN(t, d), PublicURL: ts.URL, AdminToken: testToken,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, a.Close()) })
	h := a.Handler()
	handler.Store(&h)
	return &testApp{App: a, url: ts.URL}
}

// post sends a JSON request to the app over HTTP and decodes the answer.
func (a *testApp) post(t testing.TB, path string, body any, headers ...string) (int, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, a.url+path, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// serve runs one request through the app's handler in process, as if from
// remoteAddr, and returns the recorded answer.
func (a *testApp) serve(method, path, remoteAddr string, body []byte, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.RemoteAddr = remoteAddr
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, req)
	return rec
}
