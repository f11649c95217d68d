package inicis_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
	"github.com/paygate/paygate/store/webhookstore"
	"github.com/paygate/paygate/webhook"
)

// intakeEnv is a shop's notification endpoint as paygate hosts mount it —
// the webhook intake with its delivery log in a real database — in front of
// the Inicis sandbox, which notifies it over HTTP.
type intakeEnv struct {
	db     *store.DB
	srv    *inicistest.Server
	gw     *inicis.Gateway
	hooks  *httptest.Server
	log    *webhookstore.Store
	effect string // effect table
}

func newIntakeEnv(t *testing.T, db *store.DB) *intakeEnv {
	t.Helper()
	e := &intakeEnv{db: db, srv: inicistest.NewServer(inicistest.Config{}), log: webhookstore.New(db), effect: "inicis_test_effects"}
	t.Cleanup(e.srv.Close)
	cfg := e.srv.GatewayConfig()
	cfg.Logger = slog.New(slog.DiscardHandler)
	gw, err := inicis.New(cfg)
	require.NoError(t, err)
	e.gw = gw
	_, err = db.SQL().ExecContext(context.Background(),
		`CREATE TABLE `+e.effect+` (dedup_key VARCHAR(255) NOT NULL, payment_key VARCHAR(64) NOT NULL, status VARCHAR(32) NOT NULL)`)
	require.NoError(t, err)
	reg, err := pg.NewRegistry(gw)
	require.NoError(t, err)
	in, err := webhook.New(webhook.Config{
		Registry: reg, Store: e.log, Logger: slog.New(slog.DiscardHandler),
		// The effect writes in the delivery's transaction: a row here
		// means the delivery was applied.
		Effect: func(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO `+e.effect+` (dedup_key, payment_key, status) VALUES (?, ?, ?)`,
				ev.DedupKey, ev.PaymentKey, string(ev.Status))
			return err
		},
	})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{pg}", in)
	e.hooks = httptest.NewServer(mux)
	t.Cleanup(e.hooks.Close)
	e.srv.SetNotifyURL(e.hooks.URL + "/webhooks/" + inicis.Name)
	return e
}

// issue has the buyer choose a virtual account and approves it.
func (e *intakeEnv) issue(t *testing.T, orderID string, amount int64) *pg.Payment {
	t.Helper()
	ctx := context.Background()
	res, err := e.srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: orderID, Amount: pg.Won(amount)})
	require.NoError(t, err)
	p, err := e.gw.Approve(ctx, pg.ApproveRequest{OrderID: orderID, Amount: pg.Won(amount), Redirect: res.Redirect})
	require.NoError(t, err)
	require.Equal(t, pg.StatusWaitingForDeposit, p.Status)
	return p
}

// post delivers a notification body to the intake from a loopback
// address, as the sandbox does.
func (e *intakeEnv) post(t *testing.T, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(e.hooks.URL+"/webhooks/"+inicis.Name, "application/x-www-form-urlencoded; charset=EUC-KR", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// applied lists the dedup keys the effect ran for, for one payment.
func (e *intakeEnv) applied(t *testing.T, paymentKey string) []string {
	t.Helper()
	rows, err := e.db.SQL().QueryContext(context.Background(), `SELECT dedup_key FROM `+e.effect+` WHERE payment_key = ? ORDER BY dedup_key`, paymentKey)
	require.NoError(t, err)
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		keys = append(keys, k)
	}
	require.NoError(t, rows.Err())
	return keys
}

// Deposit-cancel notices (type_msg 0400) are verified by inquiry like
// deposits, and deduplicated by what makes a notice unique: two genuine
// notices for one tid with different sequences are both applied, the same
// notice delivered again is not, and a deposit cancel Inicis's records
// contradict is refused and stores nothing.
func TestIntake_DepositCancelNotices_VerifiedAndDeduplicatedPerNotice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newIntakeEnv(t, db)
		ctx := context.Background()

		p := e.issue(t, "order-va-1", 20000)
		require.NoError(t, e.srv.Deposit(ctx, "order-va-1"), "the deposit notice is answered OK")
		require.NoError(t, e.srv.CancelDeposit(ctx, "order-va-1"), "the bank cancels the deposit: a 0400 notice")
		firstCancel, _, err := e.srv.Webhooks(ctx, "order-va-1")
		require.NoError(t, err)
		require.NoError(t, e.srv.CancelDeposit(ctx, "order-va-1"), "a later 0400 notice for the same tid, a new message")

		keys := e.applied(t, p.PaymentKey)
		require.Len(t, keys, 3, "the deposit and both deposit-cancel notices were applied: %v", keys)
		seqs := map[string]bool{}
		for _, k := range keys {
			assert.NotContains(t, k, p.PaymentKey, "keyed on the deposit's own tid, not the payment's")
			seqs[k] = true
		}
		assert.Len(t, seqs, 3)

		// The same notice delivered again is acknowledged and not applied
		// twice.
		status, answer := e.post(t, firstCancel.Body)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, "OK", answer)
		assert.Equal(t, keys, e.applied(t, p.PaymentKey))

		deliveries, err := e.log.ByPayment(ctx, inicis.Name, p.PaymentKey)
		require.NoError(t, err)
		require.Len(t, deliveries, 3)
		types := map[pg.WebhookType]int{}
		for _, d := range deliveries {
			types[d.Event.Type]++
			require.NotNil(t, d.Event.Payment, "verified by inquiry")
			assert.Equal(t, p.PaymentKey, d.Event.Payment.PaymentKey)
		}
		assert.Equal(t, map[pg.WebhookType]int{pg.WebhookDeposit: 1, pg.WebhookCancelStatus: 2}, types)

		// A deposit cancel of a deposit that stands (a copy of a genuine
		// deposit notice turned into 0400) is refused: the inquiry says
		// otherwise.
		q := e.issue(t, "order-va-2", 15000)
		require.NoError(t, e.srv.Deposit(ctx, "order-va-2"))
		deposit, _, err := e.srv.Webhooks(ctx, "order-va-2")
		require.NoError(t, err)
		forged, err := url.ParseQuery(string(deposit.Body))
		require.NoError(t, err)
		forged.Set("type_msg", "0400")
		forged.Set("no_msgseq", "9000999999")
		status, _ = e.post(t, []byte(forged.Encode()))
		assert.Equal(t, http.StatusUnauthorized, status)
		assert.Len(t, e.applied(t, q.PaymentKey), 1, "only the genuine deposit")
		got, err := e.gw.Lookup(ctx, pg.LookupRequest{PaymentKey: q.PaymentKey})
		require.NoError(t, err)
		assert.Equal(t, pg.StatusApproved, got.Status, "nothing moved at the PG")
	})
}

// The sandbox's forged notifications, delivered through the intake, are
// all refused and leave nothing in the log.
func TestIntake_ForgedNotificationsStoreNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newIntakeEnv(t, db)
		ctx := context.Background()
		p := e.issue(t, "order-va-3", 9000)
		require.NoError(t, e.srv.Deposit(ctx, "order-va-3"))
		forged, err := e.srv.ForgedWebhooks(ctx, "order-va-3")
		require.NoError(t, err)
		posted := 0
		for i, d := range forged {
			if peer, err := netip.ParseAddrPort(d.RemoteAddr); err != nil || !peer.Addr().IsLoopback() {
				continue // meant to come from elsewhere; this test's connections are loopback
			}
			status, _ := e.post(t, d.Body)
			assert.Equal(t, http.StatusUnauthorized, status, "forgery %d: %s", i, d.Body)
			posted++
		}
		assert.GreaterOrEqual(t, posted, 5)
		assert.Len(t, e.applied(t, p.PaymentKey), 1, "only the genuine deposit")
	})
}
