package tosspay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
)

// maxReportPages stops a paging loop that a misbehaving server would never
// end.
const maxReportPages = 10000

// reportBodyCap bounds one report page: 5000 records of a few hundred bytes.
const reportBodyCap = 64 << 20

type transactionJSON struct {
	MID            string          `json:"mId"`
	TransactionKey string          `json:"transactionKey"`
	PaymentKey     string          `json:"paymentKey"`
	OrderID        string          `json:"orderId"`
	Method         string          `json:"method"`
	CustomerKey    string          `json:"customerKey"`
	UseEscrow      bool            `json:"useEscrow"`
	ReceiptURL     string          `json:"receiptUrl"`
	Status         string          `json:"status"`
	TransactionAt  string          `json:"transactionAt"`
	Currency       string          `json:"currency"`
	Amount         json.RawMessage `json:"amount"`
}

// Transactions fetches every approval and cancel between q.From and q.To
// (Asia/Seoul): GET /v1/transactions, paged by startingAfter, each page with
// the report timeout. A transaction whose status is CANCELED or
// PARTIAL_CANCELED is a cancel; its amount is the amount canceled.
func (g *Gateway) Transactions(ctx context.Context, q pg.ReportQuery) ([]pg.Transaction, error) {
	const op = "transactions"
	if err := validateRange(op, q); err != nil {
		return nil, err
	}
	var out []pg.Transaction
	after := ""
	for page := 0; page < maxReportPages; page++ {
		v := url.Values{
			"startDate": {q.From.In(seoul).Format("2006-01-02T15:04:05")},
			"endDate":   {q.To.In(seoul).Format("2006-01-02T15:04:05")},
			"limit":     {strconv.Itoa(g.reportPage)},
		}
		if after != "" {
			v.Set("startingAfter", after)
		}
		var rows []transactionJSON
		if err := g.report(ctx, op, "/v1/transactions", v, &rows); err != nil {
			return nil, err
		}
		for i, r := range rows {
			t, err := r.toTransaction()
			if err != nil {
				return nil, fmt.Errorf("tosspay: transactions: row %d: %w", i, err)
			}
			out = append(out, t)
		}
		if len(rows) < g.reportPage {
			return out, nil
		}
		last := rows[len(rows)-1].TransactionKey
		if last == "" || last == after {
			return nil, fmt.Errorf("tosspay: transactions: paging does not advance after %q", after)
		}
		after = last
	}
	return nil, fmt.Errorf("tosspay: transactions: more than %d pages", maxReportPages)
}

func (r transactionJSON) toTransaction() (pg.Transaction, error) {
	info, ok := statuses[r.Status]
	if !ok {
		return pg.Transaction{}, fmt.Errorf("%w: unknown transaction status %q", ErrMalformed, r.Status)
	}
	cur := pg.Currency(r.Currency)
	if cur == "" {
		cur = pg.KRW
	}
	amt, err := money(r.Amount, cur, "amount")
	if err != nil {
		return pg.Transaction{}, err
	}
	at, err := parseTime(r.TransactionAt)
	if err != nil {
		return pg.Transaction{}, fmt.Errorf("%w: transactionAt: %v", ErrMalformed, err)
	}
	return pg.Transaction{
		TransactionKey: r.TransactionKey, PaymentKey: r.PaymentKey, OrderID: r.OrderID,
		Method: methodOf(r.Method), Status: info.status, Amount: amt,
		Cancel: r.Status == "CANCELED" || r.Status == "PARTIAL_CANCELED", At: at,
	}, nil
}

type settlementJSON struct {
	MID            string          `json:"mId"`
	PaymentKey     string          `json:"paymentKey"`
	TransactionKey string          `json:"transactionKey"`
	OrderID        string          `json:"orderId"`
	Currency       string          `json:"currency"`
	Method         string          `json:"method"`
	Amount         json.RawMessage `json:"amount"`
	InterestFee    json.RawMessage `json:"interestFee"`
	// Fee is the total fee. Live answers carry it, and some carry no
	// fees[] at all; fees[] is read only when fee is absent.
	Fee  json.RawMessage `json:"fee"`
	Fees []struct {
		Type string          `json:"type"`
		Fee  json.RawMessage `json:"fee"`
	} `json:"fees"`
	SupplyAmount json.RawMessage `json:"supplyAmount"`
	SuppliedAmt  json.RawMessage `json:"suppliedAmount"`
	Vat          json.RawMessage `json:"vat"`
	PayOutAmount json.RawMessage `json:"payOutAmount"`
	ApprovedAt   string          `json:"approvedAt"`
	SoldDate     string          `json:"soldDate"`
	PaidOutDate  string          `json:"paidOutDate"`
	Cancel       json.RawMessage `json:"cancel"`
}

// Settlements fetches the settlement records sold between q.From and q.To
// (dates in Asia/Seoul): GET /v1/settlements?dateType=soldDate, paged by page
// and size, each page with the report timeout. Fee is the record's top-level
// fee (the total) when it has one, otherwise the sum of fees[].fee; a record
// with neither leaves Fee unset, since a fee nobody reported is not a fee
// of 0.
//
// pg.Money holds no negative amounts, so a cancel's negative amount, fee and
// payout are reported by magnitude, with Cancel set.
func (g *Gateway) Settlements(ctx context.Context, q pg.ReportQuery) ([]pg.Settlement, error) {
	const op = "settlements"
	if err := validateRange(op, q); err != nil {
		return nil, err
	}
	var out []pg.Settlement
	for page := 1; page <= maxReportPages; page++ {
		v := url.Values{
			"startDate": {q.From.In(seoul).Format("2006-01-02")},
			"endDate":   {q.To.In(seoul).Format("2006-01-02")},
			"dateType":  {"soldDate"},
			"page":      {strconv.Itoa(page)},
			"size":      {strconv.Itoa(g.reportPage)},
		}
		var rows []settlementJSON
		if err := g.report(ctx, op, "/v1/settlements", v, &rows); err != nil {
			return nil, err
		}
		for i, r := range rows {
			s, err := r.toSettlement()
			if err != nil {
				return nil, fmt.Errorf("tosspay: settlements: page %d row %d: %w", page, i, err)
			}
			out = append(out, s)
		}
		if len(rows) < g.reportPage {
			return out, nil
		}
	}
	return nil, fmt.Errorf("tosspay: settlements: more than %d pages", maxReportPages)
}

func (r settlementJSON) toSettlement() (pg.Settlement, error) {
	cur := pg.Currency(r.Currency)
	if cur == "" {
		cur = pg.KRW
	}
	amt, err := absMoney(r.Amount, cur, "amount")
	if err != nil {
		return pg.Settlement{}, err
	}
	fee, err := r.fee(cur)
	if err != nil {
		return pg.Settlement{}, err
	}
	payout, err := absMoney(r.PayOutAmount, cur, "payOutAmount")
	if err != nil {
		return pg.Settlement{}, err
	}
	s := pg.Settlement{PaymentKey: r.PaymentKey, OrderID: r.OrderID, Method: methodOf(r.Method), Amount: amt, Fee: fee, Payout: payout}
	if d, err := pg.DecodeAmount(r.Amount); err == nil && d.IsNegative() {
		s.Cancel = true
	}
	if s.SoldDate, err = parseTime(r.SoldDate); err != nil {
		return pg.Settlement{}, fmt.Errorf("%w: soldDate: %v", ErrMalformed, err)
	}
	if r.PaidOutDate != "" {
		if s.PaidOutAt, err = parseTime(r.PaidOutDate); err != nil {
			return pg.Settlement{}, fmt.Errorf("%w: paidOutDate: %v", ErrMalformed, err)
		}
	}
	return s, nil
}

// fee is the record's total fee: fee when present, else the sum of fees[]
// (an empty fees[] is a fee of 0), else unset. Like the amount, it is
// reported by magnitude: a cancel's fee is negative on the wire.
func (r settlementJSON) fee(cur pg.Currency) (pg.Money, error) {
	if present(r.Fee) {
		return absMoney(r.Fee, cur, "fee")
	}
	if r.Fees == nil {
		return pg.Money{}, nil
	}
	sum := decimal.Zero
	for i, f := range r.Fees {
		d, err := pg.DecodeAmount(f.Fee)
		if err != nil {
			return pg.Money{}, fmt.Errorf("%w: fees[%d].fee: %w", ErrMalformed, i, err)
		}
		sum = sum.Add(d)
	}
	m, err := pg.NewMoney(sum.Abs(), cur)
	if err != nil {
		return pg.Money{}, fmt.Errorf("%w: fees: %w", ErrMalformed, err)
	}
	return m, nil
}

// present reports a JSON value that is there and not null.
func present(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) > 0 && !bytes.Equal(s, []byte("null"))
}

func absMoney(raw json.RawMessage, cur pg.Currency, field string) (pg.Money, error) {
	d, err := pg.DecodeAmount(raw)
	if err != nil {
		return pg.Money{}, fmt.Errorf("%w: %s: %w", ErrMalformed, field, err)
	}
	m, err := pg.NewMoney(d.Abs(), cur)
	if err != nil {
		return pg.Money{}, fmt.Errorf("%w: %s: %w", ErrMalformed, field, err)
	}
	return m, nil
}

// report GETs one page of a report into out.
func (g *Gateway) report(ctx context.Context, op, path string, q url.Values, out any) error {
	resp, err := g.sendReport(ctx, op, path, q)
	if err != nil {
		return fmt.Errorf("tosspay: %s: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("tosspay: %s: %w", op, errorFromResponse(op, resp))
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return fmt.Errorf("tosspay: %s: %w: %v", op, ErrMalformed, err)
	}
	return nil
}

func validateRange(op string, q pg.ReportQuery) error {
	if q.From.IsZero() || q.To.IsZero() || q.To.Before(q.From) {
		return invalidErr(op, "report needs From <= To")
	}
	return nil
}
