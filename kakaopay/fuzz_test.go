package kakaopay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/paygate/paygate/pg"
)

// The fuzz targets feed arbitrary bodies to the response parsers. Whatever
// KakaoPay (or something in between) sends, parsing never panics, every
// failure is a *pg.Error of a known kind, and a parsed payment is coherent.
// Run as tests they replay the seeds; go test -fuzz=FuzzX explores.

func seedResponses(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "responses", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed responses: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		``, `null`, `[]`, `{}`, `{"tid":""}`, `{"amount":{"total":1e400}}`,
		`{"tid":"T1","status":"SUCCESS_PAYMENT","amount":{"total":"00100"},"cancel_available_amount":{"total":100}}`,
		`{"tid":"T1","status":"PART_CANCEL_PAYMENT","amount":{"total":100},"canceled_amount":{"total":101}}`,
		`{"tid":"T1","status":"CANCEL_PAYMENT","amount":{"total":100},"approved_cancel_amount":{"total":100},"cancel_available_amount":{"total":0}}`,
		`{"tid":"T1","amount":{"total":100},"approved_at":"2023-02-30T25:00:00"}`,
		`{"tid":"T1","payment_action_details":[{"payment_action_type":"CANCEL","amount":null}]}`,
		`{"tid":"T1","partner_order_id":"o","status":"PART_CANCEL_PAYMENT","amount":{"total":100},"canceled_amount":{"total":30},"payment_action_details":[{"payment_action_type":"PAYMENT"},{"payment_action_type":"CANCEL"},{"payment_action_type":"CANCEL","amount":40}]}`,
	} {
		f.Add([]byte(s))
	}
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if k := pg.KindOf(err); k > pg.KindNotFound {
		t.Fatalf("unknown kind %v for %v", k, err)
	}
}

func checkPayment(t *testing.T, p *pg.Payment) {
	t.Helper()
	if p.PaymentKey == "" {
		t.Fatal("payment without tid")
	}
	if !p.Status.Valid() && p.Status != pg.StatusPending {
		t.Fatalf("status %q", p.Status)
	}
	for _, m := range []pg.Money{p.Amount, p.Balance} {
		if m.IsSet() && (m.Currency() != pg.KRW || m.Amount().IsNegative() || !m.Amount().IsInteger()) {
			t.Fatalf("amount %s is not whole won", m)
		}
	}
	if p.Status.Captured() || p.Status == pg.StatusCanceled {
		if !p.Amount.IsSet() || !p.Balance.IsSet() {
			t.Fatalf("captured payment without amounts: %+v", p)
		}
		if c, err := p.Balance.Cmp(p.Amount); err != nil || c > 0 {
			t.Fatalf("balance %s above amount %s", p.Balance, p.Amount)
		}
	}
	if p.Status == pg.StatusCanceled && !p.Balance.IsZero() {
		t.Fatalf("canceled with balance %s", p.Balance)
	}
	for _, c := range p.Cancels {
		if !c.Amount.IsSet() || c.Amount.Currency() != pg.KRW || c.Amount.Amount().IsNegative() {
			t.Fatalf("cancel %+v without a whole-won amount", c)
		}
	}
}

// FuzzValidatePrepare: whatever the checkout, the rule never panics, and a
// checkout it accepts becomes a ready request within KakaoPay's limits.
func FuzzValidatePrepare(f *testing.F) {
	f.Add("order-1", "user-1", "초코파이", int64(2200))
	f.Add("주문", "", "  ", int64(1))
	f.Add("order\u0085", "user\x00", "\xff", int64(0))
	g, err := New(Config{CID: TestCID, SecretKey: "k", ApprovalURL: "https://s.example/a", CancelURL: "https://s.example/c", FailURL: "https://s.example/f"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, orderID, customerID, orderName string, amount int64) {
		req := pg.PrepareRequest{OrderID: orderID, CustomerID: customerID, OrderName: orderName}
		if amount >= 0 {
			req.Amount = pg.Won(amount)
		}
		verr := g.ValidatePrepare(req)
		r, rerr := g.readyRequest(req)
		if (verr == nil) != (rerr == nil) {
			t.Fatalf("ValidatePrepare %v, Prepare's check %v", verr, rerr)
		}
		if verr != nil {
			checkErr(t, verr)
			if pg.KindOf(verr) != pg.KindInvalid {
				t.Fatalf("refusal of kind %v", pg.KindOf(verr))
			}
			return
		}
		for _, s := range []string{r.PartnerOrderID, r.PartnerUserID, r.ItemName} {
			if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 100 || strings.TrimSpace(s) == "" {
				t.Fatalf("accepted text %q", s)
			}
		}
		if r.TotalAmount <= 0 {
			t.Fatalf("accepted amount %d", r.TotalAmount)
		}
	})
}

func FuzzParseOrder(f *testing.F) {
	seedResponses(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var r orderResponse
		if err := decode(body, &r); err != nil {
			return
		}
		p, err := paymentFromOrder(r, opLookup)
		checkErr(t, err)
		if err == nil {
			checkPayment(t, p)
		}
	})
}

func FuzzParseApprove(f *testing.F) {
	seedResponses(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var r approveResponse
		if err := decode(body, &r); err != nil {
			return
		}
		p, err := paymentFromApprove(r)
		checkErr(t, err)
		if err == nil {
			checkPayment(t, p)
			if p.Status != pg.StatusApproved || !p.Amount.Equal(p.Balance) {
				t.Fatalf("approval parsed as %+v", p)
			}
		}
	})
}

func FuzzParseCancel(f *testing.F) {
	seedResponses(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		var r cancelResponse
		if err := decode(body, &r); err != nil {
			return
		}
		p, err := paymentFromCancel(r)
		checkErr(t, err)
		if err == nil {
			checkPayment(t, p)
			if len(p.Cancels) != 1 || !p.Cancels[0].Amount.IsSet() {
				t.Fatalf("cancel parsed without its cancel: %+v", p)
			}
		}
	})
}

func FuzzErrorAnswer(f *testing.F) {
	seedResponses(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, op := range []string{opPrepare, opApprove, opCancel, opLookup} {
			for _, status := range []int{400, 401, 404, 429, 500, 503} {
				e := errorFrom(op, status, body)
				if e == nil || e.PG != Name || e.Op != op || e.HTTPStatus != status {
					t.Fatalf("error %+v for %s %d", e, op, status)
				}
				checkErr(t, e)
				// On approve a refusal never reads as "nothing happened"
				// unless KakaoPay said so with a code we know.
				if op == opApprove && status >= 500 && status != 503 && e.Kind != pg.KindUnknown && e.Kind != pg.KindUnavailable {
					t.Fatalf("approve %d mapped to %v", status, e.Kind)
				}
			}
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2023-07-15T21:18:22", "2023-07-15 21:18:22", "2023-07-15T21:18:22.123", "2023-07-15T21:18:22+09:00", "2023-07-15T12:18:22Z", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseTime(s)
		if err != nil || tm.IsZero() {
			return
		}
		// Whatever the layout, a timestamp without an offset is Seoul time.
		again, err := parseTime(tm.In(seoul).Format("2006-01-02T15:04:05.999999999"))
		if err != nil || !again.Equal(tm) {
			t.Fatalf("%q parsed to %v, its Seoul rendering to %v (%v)", s, tm, again, err)
		}
	})
}
