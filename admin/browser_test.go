package admin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// chromiumPath is Debian's Chromium, which the browser tests drive.
const chromiumPath = "/usr/bin/chromium"

// EnvArtifacts names a directory the browser tests save their screenshots
// in; unset, they go to the test's temporary directory.
const EnvArtifacts = "PAYGATE_ARTIFACTS"

// browser starts a headless Chromium with a fresh profile and returns a
// tab's context. Without Chromium the test is skipped, or fails under
// CI=true.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("CI=true and no Chromium at %s (apt-get install -y chromium)", chromiumPath)
		}
		t.Skipf("no Chromium at %s; apt-get install -y chromium", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	// The first call starts the browser, which lives as long as its
	// context: no timeout on that one, one on everything after.
	require.NoError(t, chromedp.Do(tab), "Chromium starts")
	ctx, cancelTime := context.WithTimeout(tab, 3*time.Minute)
	t.Cleanup(func() {
		cancelTime()
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// do runs browser steps and fails the test on an error.
func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, steps...))
}

// run runs one browser action and returns its value.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	require.NoError(t, err)
	return v
}

// arrived waits until the tab has loaded a page whose address contains
// part: after a click that navigates, the old page's elements would
// otherwise satisfy a wait for the new one's.
func arrived(t *testing.T, ctx context.Context, part string) {
	t.Helper()
	eventually(t, "a page at …"+part, func() bool {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`location.href.includes(%q) && document.readyState === "complete"`, part)))
		return err == nil && ok
	})
}

// css is a CSS selector.
func css(s string) chromedp.CSS { return chromedp.CSS(s) }

// artifacts is where screenshots go.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		return t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := run(t, ctx, chromedp.FullScreenshot(100))
	path := filepath.Join(dir, "admin-"+name+".png")
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("screenshot %s", path)
}

// fetchStatus runs a fetch from the page and returns its HTTP status.
func fetchStatus(t *testing.T, ctx context.Context, method, path, body string, headers map[string]string) int {
	t.Helper()
	h := `{"Content-Type":"application/json"`
	for k, v := range headers {
		h += fmt.Sprintf(",%q:%q", k, v)
	}
	h += "}"
	js := fmt.Sprintf(`fetch(%q, {method:%q, headers:%s, body:%s, credentials:"same-origin"}).then(r => r.status)`,
		path, method, h, strconv.Quote(body))
	if method == "GET" {
		js = fmt.Sprintf(`fetch(%q, {credentials:"same-origin"}).then(r => r.status)`, path)
	}
	return run(t, ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
}

// An operator in a real browser: nothing works before logging in; after,
// a payment is found by its order id, part of it refunded (a double click
// refunds once) and its timeline grows; a refused refund in the queue is
// retried; an order name of <script> is text; a POST without the CSRF
// token is refused; the page switches language and fits a phone.
func TestBrowser_OperatorsConsole(t *testing.T) {
	// The browser drives one database; the API tests cover both.
	func(db *store.DB) {
		c := newConsole(t, db)
		ctx := browser(t)
		dir := artifacts(t)
		var dialogs atomic.Int64
		require.NoError(t, chromedp.Listen(ctx, func(ev any) {
			if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
				dialogs.Add(1)
				go func() {
					_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
				}()
			}
		}))

		const evil = `<script>alert(1)</script>`
		tossID := c.paid("tosspay", "ord-browser-1", evil, 30000)
		iniID := c.paid("inicis", "ord-browser-2", "무선 이어폰", 45000)
		for i := range 4 {
			c.paid("inicis", fmt.Sprintf("ord-browser-%d", 3+i), []string{"린넨 셔츠", "Wool socks", "텀블러", "Desk lamp"}[i], int64(12000+7000*i))
		}

		// Before logging in: pages send to the login form, the API says 401.
		do(t, ctx, chromedp.Navigate(c.url+"/admin/payments/"+tossID), chromedp.WaitVisible(css("#login-form")))
		loc := run(t, ctx, chromedp.Location())
		assert.True(t, strings.HasSuffix(loc, "/admin/login"), "sent to the login page, at %s", loc)
		assert.Equal(t, 401, fetchStatus(t, ctx, "POST", "/admin/api/payments/"+tossID+"/refund", `{"reason":"x"}`, map[string]string{"Idempotency-Key": "b0"}))
		assert.Equal(t, 401, fetchStatus(t, ctx, "GET", "/admin/api/payments", "", nil))
		screenshot(t, ctx, dir, "login")

		// A wrong token is refused; the right one opens the dashboard.
		do(t, ctx, chromedp.SendKeys(css("#token"), "wrong-token-wrong-token"), chromedp.Click(css("#login-submit")),
			chromedp.WaitVisible(css("#login-error")))
		assert.NotEmpty(t, run(t, ctx, chromedp.Text(css("#login-error"))))
		do(t, ctx, chromedp.SendKeys(css("#token"), operatorToken), chromedp.Click(css("#login-submit")))
		arrived(t, ctx, c.url+"/admin/")
		do(t, ctx, chromedp.WaitVisible(css("#stats")))
		assert.Equal(t, "6", run(t, ctx, chromedp.Text(css("#stat-count"))))
		assert.Equal(t, 2, run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart").length`)), "two charts")
		screenshot(t, ctx, dir, "dashboard")

		// Find the payment by its order id; its name is text.
		do(t, ctx, chromedp.Navigate(c.url+"/admin/payments"), chromedp.WaitVisible(css("#search-form")),
			chromedp.SendKeys(css("#q-order"), "ord-browser-1"), chromedp.Click(css("#search-submit")))
		arrived(t, ctx, "orderId=ord-browser-1")
		do(t, ctx, chromedp.WaitVisible(css("#results")))
		assert.Equal(t, 1, run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#results tbody tr").length`)))
		assert.Equal(t, evil, run(t, ctx, chromedp.Text(css("#results .order-name"))), "the order name is shown as text")
		assert.Zero(t, run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("main script").length`)), "no script element came from the order name")

		// The list of everything, for the README.
		do(t, ctx, chromedp.Navigate(c.url+"/admin/payments"), chromedp.WaitVisible(css("#results")))
		screenshot(t, ctx, dir, "payments")

		// Refund part of it with a double click: one refund, and the
		// timeline grows.
		do(t, ctx, chromedp.Navigate(c.url+"/admin/payments?orderId=ord-browser-1"), chromedp.WaitVisible(css(".payment-link")),
			chromedp.Click(css(".payment-link")))
		arrived(t, ctx, "/admin/payments/"+tossID)
		do(t, ctx, chromedp.WaitVisible(css("#refund-form")))
		before := run(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#timeline tbody tr").length`))
		do(t, ctx, chromedp.SendKeys(css("#refund-amount"), "3000"), chromedp.SendKeys(css("#refund-reason"), "상자 파손 damaged box"),
			chromedp.DoubleClick(css("#refund-submit")))
		var after int
		eventually(t, "the refund's events in the timeline", func() bool {
			if chromedp.Do(ctx, chromedp.WaitVisible(css("#timeline"))) != nil {
				return false
			}
			canceled, err := chromedp.Run(ctx, chromedp.Text(css("#canceled-amount")))
			if err != nil || !strings.Contains(canceled, "3,000") {
				return false
			}
			types, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#timeline tbody tr td:nth-child(2)")].map(td => td.textContent)`))
			after = len(types)
			all := strings.Join(types, " ")
			if err == nil && strings.Contains(all, "OPERATOR_ACTION") && strings.Contains(all, "PAYMENT_CANCELED") {
				return true
			}
			_ = chromedp.Do(ctx, chromedp.Reload())
			return false
		})
		assert.Greater(t, after, before, "the timeline grew")
		assert.Equal(t, "ops-1", run(t, ctx, chromedp.Text(css("#actions tbody tr td:nth-child(2)"))), "the operator is named")
		v, err := c.pay.Payment(context.Background(), tossID)
		require.NoError(t, err)
		require.Len(t, v.Cancels, 1, "a double click refunds once")
		assert.True(t, v.CanceledAmount.Equal(pg.Won(3000)))
		screenshot(t, ctx, dir, "payment")

		// An over-refund is explained in the operator's language.
		do(t, ctx, chromedp.SendKeys(css("#refund-amount"), "999999"), chromedp.SendKeys(css("#refund-reason"), "too much"),
			chromedp.Click(css("#refund-submit")))
		var msg string
		eventually(t, "the over-refund message", func() bool {
			msg, err = chromedp.Run(ctx, chromedp.Text(css("#refund-message")))
			return err == nil && msg != ""
		})
		assert.Contains(t, msg, "환불 가능 금액보다", "in Korean by default")
		assert.Contains(t, msg, "OVER_REFUND")

		// A POST without the CSRF token is refused, even with the session.
		assert.Equal(t, 403, fetchStatus(t, ctx, "POST", "/admin/api/payments/"+tossID+"/refund", `{"amount":1000,"reason":"csrf"}`, map[string]string{"Idempotency-Key": "b1"}))
		assert.Equal(t, 403, fetchStatus(t, ctx, "POST", "/admin/api/payments/"+tossID+"/refund", `{"amount":1000,"reason":"csrf"}`, map[string]string{"Idempotency-Key": "b2", "X-CSRF-Token": "forged"}))
		v, err = c.pay.Payment(context.Background(), tossID)
		require.NoError(t, err)
		assert.Len(t, v.Cancels, 1, "nothing more was refunded")

		// A refund the PG refused waits in the queue; retry it.
		item := c.refused(iniID, 5000)
		do(t, ctx, chromedp.Navigate(c.url+"/admin/attention"), chromedp.WaitVisible(css("#attention")))
		kind := run(t, ctx, chromedp.AttributeValue(css(`tr.item[data-id="`+item.ID+`"]`), "data-kind"))
		assert.Equal(t, "saga", kind.Value)
		screenshot(t, ctx, dir, "attention")
		do(t, ctx, chromedp.Click(css(`tr.item[data-id="`+item.ID+`"] button.retry`)))
		eventually(t, "the retried refund to go through", func() bool {
			v, err := c.pay.Payment(context.Background(), iniID)
			require.NoError(t, err)
			return v.CanceledAmount.Equal(pg.Won(5000))
		})
		eventually(t, "the queue to empty", func() bool {
			if chromedp.Do(ctx, chromedp.Navigate(c.url+"/admin/attention"), chromedp.WaitReady(css("main"))) != nil {
				return false
			}
			n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#attention-empty").length`))
			return err == nil && n == 1
		})
		do(t, ctx, chromedp.Navigate(c.url+"/admin/payments/"+iniID), chromedp.WaitVisible(css("#actions")))
		assert.Equal(t, "재시도", run(t, ctx, chromedp.Text(css("#actions tbody tr td:nth-child(3)"))), "the retry is in the payment's timeline")

		// English, and a phone's screen.
		do(t, ctx, chromedp.Click(css("#lang-toggle")))
		arrived(t, ctx, "lang=en")
		do(t, ctx, chromedp.WaitVisible(css("#timeline")))
		h1 := run(t, ctx, chromedp.Text(css("h1")))
		assert.True(t, strings.HasPrefix(h1, "Payment"), "English: %q", h1)
		do(t, ctx, chromedp.Navigate(c.url+"/admin/"), chromedp.WaitVisible(css("#stats")))
		screenshot(t, ctx, dir, "dashboard-en")
		do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(c.url+"/admin/payments/"+tossID),
			chromedp.WaitVisible(css("#timeline")))
		overflow := run(t, ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
		assert.False(t, overflow, "the page fits a phone's width (wide tables scroll inside their box)")
		screenshot(t, ctx, dir, "payment-phone")

		assert.Zero(t, dialogs.Load(), "no script ever ran an alert")
	}(storetest.Open(t, store.SQLite))
}
