package tosspay_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

func deliveryHeader(id, retried string) http.Header {
	return http.Header{
		"Content-Type":                                    {"application/json"},
		"Tosspayments-Webhook-Transmission-Time":          {"2024-09-05T12:19:21+09:00"},
		"Tosspayments-Webhook-Transmission-Id":            {id},
		"Tosspayments-Webhook-Transmission-Retried-Count": {retried},
	}
}

// storedSecret is the host's secret store holding one payment's secret.
func storedSecret(key, order, secret string) func(context.Context, string, string) (string, bool) {
	return func(_ context.Context, k, o string) (string, bool) {
		if (k != "" && k == key) || (k == "" && o == order) {
			return secret, true
		}
		return "", false
	}
}

// noCalls fails the test if the adapter talks to Toss.
func noCalls(t *testing.T, mt *httpmock.MockTransport) {
	mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
		t.Errorf("unexpected call %s %s", r.Method, r.URL)
		return nil, errors.New("no calls expected")
	})
}

func TestParseWebhook_PaymentStatus_VerifiedBySecret_NoFetch(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	noCalls(t, mt)
	body := golden(t, "webhook_payment_status_changed.json")
	secret := storedSecret(paymentKey, orderID, "ps_a4CWyWY5m89PNh7xJwhk1ZxW")

	ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Header: deliveryHeader("whtrans_a1", "0"), Body: body, Secret: secret})
	require.NoError(t, err)
	assert.Equal(t, "tosspay", ev.PG)
	assert.Equal(t, pg.WebhookPaymentStatus, ev.Type)
	assert.Equal(t, paymentKey, ev.PaymentKey)
	assert.Equal(t, orderID, ev.OrderID)
	assert.Equal(t, pg.StatusApproved, ev.Status)
	assert.True(t, pg.Won(1000).Equal(ev.Amount))
	assert.Equal(t, 2026, ev.OccurredAt.Year())
	require.NotNil(t, ev.Payment, "the verified body's own payment (no fetch: noCalls)")
	assert.Equal(t, paymentKey, ev.Payment.PaymentKey)
	assert.True(t, pg.Won(1000).Equal(ev.Payment.Amount))
	assert.True(t, ev.Payment.Balance.IsSet(), "the balance travels with the news")
	assert.False(t, ev.ByLookup, "the secret proved the delivery itself")
	assert.NotEmpty(t, ev.DedupKey)

	retry, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Header: deliveryHeader("whtrans_b2", "1"), Body: body, Secret: secret})
	require.NoError(t, err)
	assert.Equal(t, ev.DedupKey, retry.DedupKey, "a retry with a new transmission id is the same news")
}

func TestParseWebhook_PaymentStatus_SecretMismatch_Rejected(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	noCalls(t, mt)
	_, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{
		Body: golden(t, "webhook_payment_status_changed.json"), Secret: storedSecret(paymentKey, orderID, "ps_other")})
	assert.True(t, errors.Is(err, pg.ErrWebhookRejected), "%v", err)
}

func TestParseWebhook_NoSecretKnown_TrustsOnlyTheFetchedPayment(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	rec := &recorder{}
	// The delivery says DONE; Toss now says CANCELED: the fetched state wins.
	mt.RegisterResponder(http.MethodGet, api+"/v1/payments/"+paymentKey, rec.responder(200, golden(t, "payment_canceled.json")))
	ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: golden(t, "webhook_payment_status_changed.json")})
	require.NoError(t, err)
	assert.Equal(t, docsAuth, rec.only(t).Header.Get("Authorization"))
	assert.Equal(t, pg.StatusCanceled, ev.Status)
	require.NotNil(t, ev.Payment)
	assert.Equal(t, pg.StatusCanceled, ev.Payment.Status)
	assert.True(t, ev.ByLookup, "the delivery proved nothing; the fetched payment is the news")
}

func TestParseWebhook_FetchOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		status       int
		body         string
		wantRejected bool
		wantKind     pg.Kind
	}{
		{"Toss does not have the payment: forged", 404, `{"code":"NOT_FOUND_PAYMENT","message":"없음"}`, true, pg.KindInvalid},
		{"Toss has another order under the key: forged", 200, `{"paymentKey":"` + paymentKey + `","orderId":"someone-else","status":"DONE","totalAmount":1000}`, true, pg.KindInvalid},
		{"Toss failing: not rejected, delivered again later", 500, `{"code":"FAILED_INTERNAL_SYSTEM_PROCESSING","message":"x"}`, false, pg.KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			gw, mt := mockGateway(t)
			mt.RegisterNoResponder(httpmock.NewStringResponder(tt.status, tt.body))
			_, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: golden(t, "webhook_payment_status_changed.json")})
			require.Error(t, err)
			assert.Equal(t, tt.wantRejected, errors.Is(err, pg.ErrWebhookRejected), "%v", err)
			assert.Equal(t, tt.wantKind, pg.KindOf(err))
		})
	}
}

func TestParseWebhook_DepositCallback(t *testing.T) {
	t.Parallel()
	body := golden(t, "webhook_deposit_callback.json")
	t.Run("verified by the stored secret", func(t *testing.T) {
		t.Parallel()
		gw, mt := mockGateway(t)
		noCalls(t, mt)
		ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: body, Secret: storedSecret("", orderID, "ps_Z1aOwX7K8m2qjeLAw4b0e1gl")})
		require.NoError(t, err)
		assert.Equal(t, pg.WebhookDeposit, ev.Type)
		assert.Equal(t, orderID, ev.OrderID)
		assert.Equal(t, pg.StatusApproved, ev.Status)
		assert.NotEmpty(t, ev.DedupKey)
	})
	t.Run("wrong secret rejected", func(t *testing.T) {
		t.Parallel()
		gw, mt := mockGateway(t)
		noCalls(t, mt)
		_, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: body, Secret: storedSecret("", orderID, "ps_nope")})
		assert.True(t, errors.Is(err, pg.ErrWebhookRejected), "%v", err)
	})
	t.Run("no secret known: fetched by order id", func(t *testing.T) {
		t.Parallel()
		gw, mt := mockGateway(t)
		rec := &recorder{}
		mt.RegisterResponder(http.MethodGet, api+"/v1/payments/orders/"+orderID, rec.responder(200, golden(t, "payment_waiting_for_deposit.json")))
		ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: body})
		require.NoError(t, err)
		rec.only(t)
		assert.Equal(t, pg.StatusWaitingForDeposit, ev.Status, "the fetched state, not the delivery's DONE")
		assert.Equal(t, paymentKey, ev.PaymentKey)
		assert.True(t, ev.ByLookup)
	})
}

func TestParseWebhook_CancelStatusChanged_FetchedAlways(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	rec := &recorder{}
	mt.RegisterResponder(http.MethodGet, api+"/v1/payments/"+paymentKey, rec.responder(200, golden(t, "payment_canceled.json")))
	body := golden(t, "webhook_cancel_status_changed.json")
	ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: body, Secret: storedSecret(paymentKey, orderID, "ps_x")})
	require.NoError(t, err)
	rec.only(t)
	assert.Equal(t, pg.WebhookCancelStatus, ev.Type)
	assert.Equal(t, pg.StatusCanceled, ev.Status)
	assert.Equal(t, orderID, ev.OrderID)
	assert.True(t, ev.ByLookup, "a Cancel carries no secret: only the fetched payment is trusted")
}

func TestParseWebhook_DedupKeys_SameNewsCollides_NewNewsDiffers(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	noCalls(t, mt)
	secret := storedSecret(paymentKey, orderID, "ps_a4CWyWY5m89PNh7xJwhk1ZxW")
	parse := func(body string) string {
		ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: []byte(body), Secret: secret})
		require.NoError(t, err, body)
		return ev.DedupKey
	}
	done := `{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2024-01-01T00:00:00.000000","data":{"paymentKey":"` + paymentKey + `","orderId":"` + orderID + `","status":"DONE","totalAmount":1000,"balanceAmount":1000,"lastTransactionKey":"T1","secret":"ps_a4CWyWY5m89PNh7xJwhk1ZxW"}}`
	doneReordered := `{"data":{"secret":"ps_a4CWyWY5m89PNh7xJwhk1ZxW","lastTransactionKey":"T1","balanceAmount":1000,"totalAmount":1000,"status":"DONE","orderId":"` + orderID + `","paymentKey":"` + paymentKey + `"},"createdAt":"2024-01-01T00:00:00.000000","eventType":"PAYMENT_STATUS_CHANGED"}`
	partial1 := `{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2024-01-01T00:01:00.000000","data":{"paymentKey":"` + paymentKey + `","orderId":"` + orderID + `","status":"PARTIAL_CANCELED","totalAmount":1000,"balanceAmount":700,"lastTransactionKey":"T2","secret":"ps_a4CWyWY5m89PNh7xJwhk1ZxW","cancels":[{"cancelAmount":300,"transactionKey":"T2","cancelStatus":"DONE"}]}}`
	partial2 := `{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2024-01-01T00:02:00.000000","data":{"paymentKey":"` + paymentKey + `","orderId":"` + orderID + `","status":"PARTIAL_CANCELED","totalAmount":1000,"balanceAmount":400,"lastTransactionKey":"T3","secret":"ps_a4CWyWY5m89PNh7xJwhk1ZxW","cancels":[{"cancelAmount":300,"transactionKey":"T2","cancelStatus":"DONE"},{"cancelAmount":300,"transactionKey":"T3","cancelStatus":"DONE"}]}}`
	assert.Equal(t, parse(done), parse(doneReordered))
	keys := map[string]bool{parse(done): true, parse(partial1): true, parse(partial2): true}
	assert.Len(t, keys, 3, "each partial cancel is its own news")
}

func TestParseWebhook_HostileInput_Rejected(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	noCalls(t, mt)
	big := make([]byte, 2<<20)
	for i := range big {
		big[i] = ' '
	}
	for name, body := range map[string][]byte{
		"empty":                {},
		"not JSON":             []byte("hello"),
		"array":                []byte("[1,2]"),
		"oversized":            big,
		"no type, no order":    []byte(`{"status":"DONE"}`),
		"payment without keys": []byte(`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"status":"DONE","totalAmount":1}}`),
		"status unknown":       []byte(`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"paymentKey":"k","orderId":"order-1","status":"HACKED","totalAmount":1}}`),
		"fractional won":       []byte(`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"paymentKey":"k","orderId":"order-1","status":"DONE","totalAmount":1.5}}`),
		"negative amount":      []byte(`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"paymentKey":"k","orderId":"order-1","status":"DONE","totalAmount":-1}}`),
		"deposit bad status":   []byte(`{"secret":"ps","status":"PAID","transactionKey":"t","orderId":"order-1"}`),
		"cancel without keys":  []byte(`{"eventType":"CANCEL_STATUS_CHANGED","data":{"transactionKey":"t","cancelStatus":"DONE"}}`),
	} {
		_, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: body})
		assert.True(t, errors.Is(err, pg.ErrWebhookRejected), "%s: %v", name, err)
	}
}

func TestParseWebhook_OtherEventTypes_NotForThePaymentFlow(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	noCalls(t, mt)
	ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: []byte(`{"eventType":"METHOD_UPDATED","createdAt":"2024-01-01T00:00:00.000","data":{"customerKey":"c","methodKey":"m","status":"ENABLED"}}`)})
	require.NoError(t, err, "not a forgery, and nothing the PG should deliver again")
	assert.Nil(t, ev, "nothing for the payment flow to act on")
}

// A virtual account issued outside the checkout can have a short order id
// ("71" live); its deposit callback must verify by fetching that order.
func TestParseWebhook_DepositCallback_ShortOrderID(t *testing.T) {
	t.Parallel()
	body := golden(t, "webhook_deposit_callback_short_order.json")
	t.Run("fetched by the short order id", func(t *testing.T) {
		t.Parallel()
		gw, mt := mockGateway(t)
		rec := &recorder{}
		mt.RegisterResponder(http.MethodGet, api+"/v1/payments/orders/71", rec.responder(200, golden(t, "payment_virtual_account_short_order.json")))
		ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: body})
		require.NoError(t, err)
		assert.Equal(t, api+"/v1/payments/orders/71", rec.only(t).URL)
		assert.Equal(t, pg.WebhookDeposit, ev.Type)
		assert.Equal(t, "71", ev.OrderID)
		assert.Equal(t, "tviva20251130141719Qb7Xk", ev.PaymentKey)
		require.NotNil(t, ev.Payment)
		assert.Equal(t, "71", ev.Payment.OrderID)
	})
	t.Run("verified by the stored secret", func(t *testing.T) {
		t.Parallel()
		gw, mt := mockGateway(t)
		noCalls(t, mt)
		ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: body, Secret: storedSecret("", "71", "ps_eqRGgYO1r57E4Z5aBcDeFgHi")})
		require.NoError(t, err)
		assert.Equal(t, "71", ev.OrderID)
		assert.Equal(t, pg.StatusApproved, ev.Status)
	})
	t.Run("payment status change of the short order, fetched", func(t *testing.T) {
		t.Parallel()
		gw, mt := mockGateway(t)
		mt.RegisterResponder(http.MethodGet, api+"/v1/payments/tviva20251130141719Qb7Xk", httpmock.NewBytesResponder(200, golden(t, "payment_virtual_account_short_order.json")))
		data := golden(t, "payment_virtual_account_short_order.json")
		wh := append(append([]byte(`{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2025-11-30T14:17:19.502113","data":`), data...), '}')
		ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: wh})
		require.NoError(t, err)
		assert.Equal(t, "71", ev.OrderID)
		assert.Equal(t, pg.StatusWaitingForDeposit, ev.Status)
	})
}

func TestParseWebhook_OldVersionPaymentVerifiedBySecret(t *testing.T) {
	t.Parallel()
	gw, mt := mockGateway(t)
	noCalls(t, mt)
	data := golden(t, "payment_v1_4_virtual_account.json")
	body := append(append([]byte(`{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2021-11-15T15:19:38.000000","data":`), data...), '}')
	ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: body, Secret: storedSecret(paymentKey, orderID, "ps_Z1aOwX7K8m2qjeLAw4b0e1gl")})
	require.NoError(t, err)
	require.NotNil(t, ev.Payment)
	assert.Equal(t, "우리", ev.Payment.VirtualAccount.Bank)

	// The transaction key, under its old name, tells news apart.
	other := []byte(strings.Replace(string(body), "A7E0C1F2B3D4E5F60718293A4B5C6D7E", "B7E0C1F2B3D4E5F60718293A4B5C6D7E", 1))
	ev2, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: other, Secret: storedSecret(paymentKey, orderID, "ps_Z1aOwX7K8m2qjeLAw4b0e1gl")})
	require.NoError(t, err)
	assert.NotEqual(t, ev.DedupKey, ev2.DedupKey)
}
