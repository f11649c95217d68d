package app

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/kakaopay"
	"github.com/paygate/paygate/kakaopay/kakaopaytest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

// The sandbox PGs the server serves answer only to the keys of this start:
// with the published test keys nobody can read a payment (a Toss payment's
// webhook secret included) or refund one, while the server's own adapters
// work as before.
func TestSandbox_KeysOfThisStartOnly_PublishedKeysRefused(t *testing.T) {
	a := newTestApp(t, store.SQLite, nil)
	ctx := context.Background()
	published := map[string]func(base string) pg.Gateway{
		tosspay.Name: func(base string) pg.Gateway {
			gw, err := tosspay.New(tosspay.Config{SecretKey: tosspaytest.DefaultSecretKey, BaseURL: base, MaxAttempts: 1})
			require.NoError(t, err)
			return gw
		},
		kakaopay.Name: func(base string) pg.Gateway {
			gw, err := kakaopay.New(kakaopay.Config{CID: kakaopaytest.TestCID, SecretKey: kakaopaytest.DefaultSecretKey,
				BaseURL: base, ApprovalURL: a.url + "/a", CancelURL: a.url + "/c", FailURL: a.url + "/f"})
			require.NoError(t, err)
			return gw
		},
		inicis.Name: func(base string) pg.Gateway {
			// The INIpayTest keys every sandbox has by default.
			gw, err := inicis.New(inicistest.New(inicistest.Config{BaseURL: base}).GatewayConfig())
			require.NoError(t, err)
			return gw
		},
	}
	for name, stranger := range published {
		t.Run(name, func(t *testing.T) {
			orderID := "keys-" + name + "-0001"
			status, _ := a.post(t, "/checkouts", map[string]any{"orderId": orderID, "amount": 15000, "pg": name, "orderName": "keys"})
			require.Equal(t, http.StatusCreated, status)
			status, redirect := a.post(t, "/sandbox/"+name+"/pay", map[string]any{"orderId": orderID, "amount": 15000})
			require.Equal(t, http.StatusOK, status)
			body := map[string]any{"pg": name, "orderId": orderID, "amount": 15000}
			for k, v := range redirect {
				body[k] = v
			}
			status, approved := a.post(t, "/payments/approve", body)
			require.Equal(t, http.StatusOK, status, "%v", approved)

			ps, err := a.DB().PaymentsByOrder(ctx, orderID)
			require.NoError(t, err)
			require.Len(t, ps, 1)
			req := pg.LookupRequest{PaymentKey: ps[0].PaymentKey, OrderID: orderID}
			own, err := a.pgs[name].gateway.Lookup(ctx, req)
			require.NoError(t, err, "the server's own adapter")
			assert.Equal(t, pg.StatusApproved, own.Status)

			_, err = stranger(sandboxBase(a.url, name)).Lookup(ctx, req)
			assert.Error(t, err, "the published test keys are refused")
			_, err = stranger(sandboxBase(a.url, name)).Cancel(ctx, pg.CancelRequest{
				CancelID: "stranger-1", PaymentKey: ps[0].PaymentKey, OrderID: orderID,
				Amount: pg.Won(15000), Balance: pg.Won(15000), Reason: "not mine",
			})
			assert.Error(t, err, "a stranger cannot refund at the PG")
			for _, e := range a.Sandbox(name).Ledger() {
				assert.Zero(t, e.Cancels, "nothing was refunded")
			}
		})
	}

	// Toss's lookup with the published key, over the wire.
	req, err := http.NewRequest(http.MethodGet, a.url+"/sandbox/tosspay/v1/payments/orders/keys-tosspay-0001", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(tosspaytest.DefaultSecretKey+":")))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

// The sandboxes' test controls (playing the buyer at the sandbox itself,
// deposits, scripted faults, the PG's ledger) answer only a client on this
// machine, judged by the connection's peer address, never by headers; the
// PG APIs and the buyer's payment window answer anyone.
func TestSandbox_TestControlsOnlyFromThisMachine(t *testing.T) {
	a := newTestApp(t, store.SQLite, nil)
	const remote, local = "203.0.113.9:40000", "127.0.0.1:40000"
	spoof := []string{"X-Forwarded-For", "127.0.0.1", "X-Real-Ip", "127.0.0.1", "Forwarded", "for=127.0.0.1", "Content-Type", "application/json"}
	controls := []struct{ method, path, body string }{
		{http.MethodGet, "/sandbox/tosspay/_sandbox/ledger", ""},
		{http.MethodPost, "/sandbox/tosspay/_sandbox/faults", `{"op":"cancel","fault":"decline"}`},
		{http.MethodPost, "/sandbox/tosspay/_sandbox/deposit", `{"orderId":"x"}`},
		{http.MethodPost, "/sandbox/tosspay/_sandbox/pay", `{"orderId":"x","amount":1000}`},
		{http.MethodPost, "/sandbox/inicis/_sandbox/deposit", `{"orderId":"x"}`},
		{http.MethodPost, "/sandbox/inicis/_sandbox/pay", `{"orderId":"x","amount":1000}`},
		{http.MethodPost, "/sandbox/inicis/_sandbox/faults", `{"op":"cancel","fault":"decline"}`},
		{http.MethodPost, "/sandbox/kakaopay/_sandbox/pay", `{"orderId":"x","amount":1000}`},
		{http.MethodPost, "/sandbox/kakaopay/_sandbox/faults", `{"op":"approve","fault":"timeout"}`},
		{http.MethodGet, "/sandbox/kakaopay/_sandbox/ledger", ""},
		{http.MethodGet, "/sandbox/inicis/_sandbox/ledger", ""},
		{http.MethodGet, "/sandbox/inicis/_sandbox", ""},
		{http.MethodGet, "/sandbox/kakaopay/%5Fsandbox/ledger", ""},
		{http.MethodGet, "/sandbox/tosspay/_sandbox%2Fledger", ""},
	}
	for _, c := range controls {
		rec := a.serve(c.method, c.path, remote, []byte(c.body), spoof...)
		assert.Equal(t, http.StatusNotFound, rec.Code, "%s %s from afar: %s", c.method, c.path, rec.Body)
		assert.Contains(t, rec.Body.String(), `"NOT_FOUND"`)
	}
	rec := a.serve(http.MethodGet, "/sandbox/tosspay/_sandbox/ledger", local, nil)
	assert.Equal(t, http.StatusOK, rec.Code, "from this machine: %s", rec.Body)
	rec = a.serve(http.MethodGet, "/sandbox/tosspay/_sandbox/ledger", "[::1]:40000", nil)
	assert.Equal(t, http.StatusOK, rec.Code, "from this machine over IPv6: %s", rec.Body)

	// The PG API is served to anyone (and wants this start's key).
	rec = a.serve(http.MethodGet, "/sandbox/tosspay/v1/payments/orders/x", remote, nil)
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Contains(t, rec.Body.String(), "UNAUTHORIZED_KEY", "the Toss sandbox answered")
	rec = a.serve(http.MethodPost, "/sandbox/inicis/v2/pg/inquiry", remote, []byte(`{}`), "Content-Type", "application/json")
	assert.Equal(t, http.StatusOK, rec.Code, "Inicis's INIAPI answers anyone: %s", rec.Body)
	assert.Contains(t, rec.Body.String(), "resultCode")
	// A control path behind a PG path is no control path, and no PG path.
	rec = a.serve(http.MethodPost, "/sandbox/inicis/v2/pg/inquiry/_sandbox/deposit", remote, []byte(`{"orderId":"x"}`), "Content-Type", "application/json")
	assert.Equal(t, http.StatusNotFound, rec.Code, "%s", rec.Body)
	// So is the API's own buyer call.
	rec = a.serve(http.MethodPost, "/sandbox/tosspay/pay", remote, []byte(`{"orderId":"never-prepared","amount":1000}`), "Content-Type", "application/json")
	assert.NotEqual(t, http.StatusNotFound, rec.Code, "%s", rec.Body)
}

// A PG with live settings has no sandbox: nothing is served under
// /sandbox/{pg}, and its checkouts take no sandbox options.
func TestSandbox_OffWhenThePGRunsLive(t *testing.T) {
	a := newTestApp(t, store.SQLite, func(c *Config) {
		c.Toss = PGSettings{BaseURL: "https://api.tosspayments.example", SecretKey: "live_sk_0000000000", ClientKey: "live_ck_0000"}
	})
	assert.Nil(t, a.Sandbox(tosspay.Name))
	for _, path := range []string{"/sandbox/tosspay/_sandbox/ledger", "/sandbox/tosspay/v1/payments/orders/x"} {
		rec := a.serve(http.MethodGet, path, "127.0.0.1:1", nil)
		assert.Equal(t, http.StatusNotFound, rec.Code, path)
	}
	rec := a.serve(http.MethodPost, "/sandbox/tosspay/pay", "127.0.0.1:1", []byte(`{"orderId":"x","amount":1000}`), "Content-Type", "application/json")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.NotNil(t, a.Sandbox(kakaopay.Name), "the other PGs stay sandboxes")
}

var nonceAttr = regexp.MustCompile(`nonce="([^"]+)"`)

// Every HTML page carries a Content-Security-Policy, refuses to be framed
// and says nosniff; every other answer says nosniff too.
func TestPages_SecurityHeaders(t *testing.T) {
	a := newTestApp(t, store.SQLite, nil)
	const local = "127.0.0.1:1"

	page := a.serve(http.MethodGet, "/?orderId=%22%3E%3Cscript%3Ealert(1)%3C/script%3E", local, nil)
	require.Equal(t, http.StatusOK, page.Code)
	csp := page.Header().Get("Content-Security-Policy")
	assert.Contains(t, csp, "default-src 'none'")
	assert.Contains(t, csp, "frame-ancestors 'none'")
	assert.NotContains(t, csp, "unsafe-inline")
	nonces := nonceAttr.FindAllStringSubmatch(page.Body.String(), -1)
	require.Len(t, nonces, 2, "the page's one style and one script carry the nonce")
	for _, n := range nonces {
		assert.Contains(t, csp, "'nonce-"+n[1]+"'")
	}
	assert.Equal(t, "DENY", page.Header().Get("X-Frame-Options"))
	assert.Equal(t, "nosniff", page.Header().Get("X-Content-Type-Options"))
	assert.NotContains(t, page.Body.String(), "<script>alert(1)", "the query value is escaped")
	again := a.serve(http.MethodGet, "/", local, nil)
	assert.NotEqual(t, csp, again.Header().Get("Content-Security-Policy"), "a nonce per page")

	// The KakaoPay sandbox's payment window, a page of the sandbox.
	status, co := a.post(t, "/checkouts", map[string]any{"orderId": "window-0001", "amount": 15000, "pg": kakaopay.Name, "orderName": "w"})
	require.Equal(t, http.StatusCreated, status)
	window, err := url.Parse(co["client"].(map[string]any)[kakaopay.ClientRedirectPC].(string))
	require.NoError(t, err)
	win := a.serve(http.MethodGet, window.Path, "203.0.113.9:1", nil)
	require.Equal(t, http.StatusOK, win.Code, "%s", win.Body)
	assert.True(t, strings.HasPrefix(win.Header().Get("Content-Type"), "text/html"))
	assert.Equal(t, defaultPageCSP, win.Header().Get("Content-Security-Policy"))
	assert.Equal(t, "DENY", win.Header().Get("X-Frame-Options"))
	assert.Equal(t, "nosniff", win.Header().Get("X-Content-Type-Options"))

	for _, path := range []string{"/healthz", "/openapi.yaml", "/nowhere", "/payments/pay_x"} {
		rec := a.serve(http.MethodGet, path, local, nil)
		assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"), path)
		assert.Empty(t, rec.Header().Get("X-Frame-Options"), "%s is not a page", path)
	}
}

// The return page's redirect is built from a query value: it is escaped,
// so the value stays one parameter of the checkout page.
func TestPaymentReturn_RedirectEscapesTheOrderID(t *testing.T) {
	a := newTestApp(t, store.SQLite, nil)
	for given, want := range map[string]string{
		"a&next=https://evil.example#x": "/?orderId=a%26next%3Dhttps%3A%2F%2Fevil.example%23x",
		"//evil.example":                "/?orderId=%2F%2Fevil.example",
		"order 1\r\nSet-Cookie: x=1":    "/?orderId=order+1%0D%0ASet-Cookie%3A+x%3D1",
		"":                              "/",
	} {
		rec := a.serve(http.MethodGet, "/return/tosspay/cancel?orderId="+url.QueryEscape(given), "127.0.0.1:1", nil)
		assert.Equal(t, http.StatusSeeOther, rec.Code)
		assert.Equal(t, want, rec.Header().Get("Location"), "%q", given)
	}
}

// The operator token file is readable by its owner only and holds a fresh
// random token; the app refuses a weak token.
func TestGenerateAdminToken_OwnerOnlyFreshToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	token, path, err := GenerateAdminToken(dir)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "admin-token"), path)
	assert.GreaterOrEqual(t, len(token), 32)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, token, strings.TrimSpace(string(raw)))

	next, _, err := GenerateAdminToken(dir)
	require.NoError(t, err)
	assert.NotEqual(t, token, next, "a new token every start")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary files left")

	for _, weak := range []string{"", "short", " " + testToken, testToken + "\n"} {
		_, err := New(context.Background(), Config{DB: "sqlite:" + filepath.Join(t.TempDir(), "x.db"), AdminToken: weak})
		assert.Error(t, err, "%q", weak)
	}
}
