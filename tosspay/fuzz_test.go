package tosspay

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/jarcoal/httpmock"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pghttp"
)

func seedTestdata(f *testing.F, names ...string) {
	f.Helper()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecodePayment: any Payment body decodes to a consistent payment or an
// error, never a panic, never a negative or fractional-won amount.
func FuzzDecodePayment(f *testing.F) {
	seedTestdata(f, "payment_done.json", "payment_in_progress.json", "payment_aborted.json",
		"payment_partial_canceled.json", "payment_canceled.json", "payment_waiting_for_deposit.json", "payment_usd.json",
		"payment_virtual_account_short_order.json", "payment_v1_4_card_easypay.json", "payment_v1_4_virtual_account.json",
		"payment_v1_4_transfer_canceled.json")
	f.Add([]byte(`{"paymentKey":"k","orderId":"71","status":"DONE","totalAmount":1,"card":"현대","easyPay":{"provider":1},"transfer":[]}`))
	f.Add([]byte(`{"paymentKey":"k","orderId":"o","status":"DONE","totalAmount":"1e3","balanceAmount":"1000"}`))
	f.Add([]byte(`{"paymentKey":"k","status":"DONE","currency":"XYZ","totalAmount":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePayment(data)
		if err != nil {
			return
		}
		if !p.Amount.IsSet() || !p.Balance.IsSet() {
			t.Fatalf("decoded payment without amounts: %+v", p)
		}
		if p.Amount.Amount().IsNegative() || p.Balance.Amount().IsNegative() {
			t.Fatalf("negative amount: %+v", p)
		}
		if _, ok := statuses[p.PGStatus]; !ok {
			t.Fatalf("status %q accepted without a mapping", p.PGStatus)
		}
		for _, c := range p.Cancels {
			if !c.Amount.IsSet() || c.Amount.Currency() != p.Amount.Currency() {
				t.Fatalf("cancel amount %s in a %s payment", c.Amount, p.Amount.Currency())
			}
		}
	})
}

// FuzzParseWebhook: any delivery is accepted as a well-formed event or
// refused with an error; never a panic. Toss (mocked) knows no payment, so
// only deliveries proven by the stored secret can pass.
func FuzzParseWebhook(f *testing.F) {
	seedTestdata(f, "webhook_payment_status_changed.json", "webhook_deposit_callback.json", "webhook_cancel_status_changed.json",
		"webhook_deposit_callback_short_order.json")
	f.Add([]byte(`{"secret":"ps_a4CWyWY5m89PNh7xJwhk1ZxW","status":"DONE","transactionKey":"t","orderId":"71"}`))
	f.Add([]byte(`{"secret":"ps_a4CWyWY5m89PNh7xJwhk1ZxW","status":"DONE","transactionKey":"t","orderId":".."}`))
	f.Add([]byte(`{"eventType":"METHOD_UPDATED","data":{}}`))
	f.Add([]byte(`{"secret":"ps_a4CWyWY5m89PNh7xJwhk1ZxW","status":"DONE","transactionKey":"t","orderId":"a4CWyWY5m89PNh7xJwhk1"}`))
	f.Add([]byte(`null`))
	mt := httpmock.NewMockTransport()
	mt.RegisterNoResponder(httpmock.NewStringResponder(404, `{"code":"NOT_FOUND_PAYMENT","message":"없음"}`))
	gw, err := New(Config{SecretKey: "test_sk_fuzz", HTTPClient: &http.Client{Transport: mt}, MaxAttempts: 1})
	if err != nil {
		f.Fatal(err)
	}
	secret := func(context.Context, string, string) (string, bool) { return "ps_a4CWyWY5m89PNh7xJwhk1ZxW", true }
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := gw.ParseWebhook(context.Background(), pg.WebhookRequest{Body: body, Secret: secret})
		if err != nil || ev == nil {
			return // refused, or an event with nothing for the payment flow
		}
		if ev.PG != Name || ev.DedupKey == "" || ev.OrderID == "" && ev.PaymentKey == "" {
			t.Fatalf("accepted an incomplete event: %+v", ev)
		}
		if ev.Status != pg.StatusPending && !ev.Status.Valid() {
			t.Fatalf("event status %q", ev.Status)
		}
	})
}

// FuzzErrorBody: any error answer maps to a *pg.Error of a known kind.
func FuzzErrorBody(f *testing.F) {
	seedTestdata(f, "error_reject_card_company.json", "error_v2.json")
	f.Add([]byte(`{"code":"IDEMPOTENT_REQUEST_PROCESSING"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, status := range []int{400, 403, 404, 409, 429, 500, 503} {
			e := errorFromResponse("approve", &pghttp.Response{StatusCode: status, Body: body})
			if e == nil || e.PG != Name || e.HTTPStatus != status || e.Kind > pg.KindNotFound {
				t.Fatalf("bad error for %d %q: %+v", status, body, e)
			}
		}
	})
}

// FuzzSettlements: any settlement page decodes to records with set,
// non-negative amounts and a fee that is unset or non-negative, or fails;
// never a panic.
func FuzzSettlements(f *testing.F) {
	seedTestdata(f, "settlements.json", "settlements_fee_total.json")
	f.Add([]byte(`[{"amount":1000,"payOutAmount":970,"soldDate":"2022-01-01"}]`))
	f.Add([]byte(`[{"amount":1000,"fee":null,"fees":[],"payOutAmount":1000,"soldDate":"2022-01-01"}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var rows []settlementJSON
		if json.Unmarshal(body, &rows) != nil {
			return
		}
		for _, r := range rows {
			s, err := r.toSettlement()
			if err != nil {
				continue
			}
			if !s.Amount.IsSet() || s.Amount.Amount().IsNegative() || !s.Payout.IsSet() || s.Payout.Amount().IsNegative() {
				t.Fatalf("settlement amounts %s / %s", s.Amount, s.Payout)
			}
			if s.Fee.IsSet() && (s.Fee.Amount().IsNegative() || s.Fee.Currency() != s.Amount.Currency()) {
				t.Fatalf("fee %s for amount %s", s.Fee, s.Amount)
			}
		}
	})
}
