package tosspaytest

import (
	"context"
	"errors"
	"fmt"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// Errors of Pay and Open.
var (
	ErrBadOrder        = errors.New("tosspaytest: orderId must be 6 to 64 ASCII letters, digits, '-' or '_'")
	ErrBadAmount       = errors.New("tosspaytest: amount must be a positive KRW, USD or JPY amount")
	ErrDuplicatedOrder = errors.New("tosspaytest: DUPLICATED_ORDER_ID: the order was already paid")
	ErrBadValidHours   = errors.New("tosspaytest: validHours must not be negative")
)

// Pay plays the buyer: it opens the payment window for (OrderID, Amount) and
// authenticates, leaving the payment IN_PROGRESS for the shop to confirm
// within ConfirmTTL. The result carries the paymentKey of Toss's success
// redirect (successUrl?paymentKey=…&orderId=…&amount=…). An order already
// paid (DONE, canceled) cannot be paid again; one whose attempt failed or
// expired can. req.Fault scripts every confirm of this payment. Toss's
// SDK opens the same window on every device, so req.Device may be any.
func (s *Sandbox) Pay(ctx context.Context, req pgtest.PayRequest) (pgtest.PayResult, error) {
	if err := pgtest.CheckDevice(req.Device, pg.DevicePC, pg.DeviceMobile, pg.DeviceApp); err != nil {
		return pgtest.PayResult{}, err
	}
	return s.PayScripted(ctx, req.OrderID, req.Amount, Script{Fault: req.Fault})
}

// PayScripted is Pay with a full script (decline code, latency, reset).
func (s *Sandbox) PayScripted(ctx context.Context, orderID string, amount pg.Money, sc Script) (pgtest.PayResult, error) {
	return s.pay(ctx, orderID, amount, sc, "카드")
}

// PayVirtualAccount plays a buyer who picks a virtual account: confirming
// the payment issues the account (WAITING_FOR_DEPOSIT, due after
// VirtualAccountTTL), and Deposit plays the transfer.
func (s *Sandbox) PayVirtualAccount(ctx context.Context, req pgtest.PayRequest) (pgtest.PayResult, error) {
	return s.pay(ctx, req.OrderID, req.Amount, Script{Fault: req.Fault}, methodVirtualAccount)
}

func (s *Sandbox) pay(ctx context.Context, orderID string, amount pg.Money, sc Script, method string) (pgtest.PayResult, error) {
	if err := ctx.Err(); err != nil {
		return pgtest.PayResult{}, err
	}
	if !sc.Fault.Valid() {
		return pgtest.PayResult{}, fmt.Errorf("tosspaytest: unknown fault %q", sc.Fault)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.openLocked(orderID, amount)
	if err != nil {
		return pgtest.PayResult{}, err
	}
	p.status = "IN_PROGRESS"
	p.authenticatedAt = s.cfg.Now()
	p.script = sc
	p.method = method
	return pgtest.PayResult{PaymentKey: p.key, Redirect: map[string]string{
		"paymentKey": p.key, "orderId": p.orderID, "amount": p.amount.String(),
	}}, nil
}

// Open opens the payment window without the buyer authenticating: the
// payment is READY and expires after WindowTTL. Confirming it fails with
// NOT_FOUND_PAYMENT_SESSION.
func (s *Sandbox) Open(orderID string, amount pg.Money) (paymentKey string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.openLocked(orderID, amount)
	if err != nil {
		return "", err
	}
	return p.key, nil
}

func (s *Sandbox) openLocked(orderID string, amount pg.Money) (*payment, error) {
	if !validOrderID(orderID) {
		return nil, ErrBadOrder
	}
	if !amount.IsSet() || !amount.IsPositive() || (amount.Currency() != pg.KRW && amount.Currency() != pg.USD && amount.Currency() != pg.JPY) {
		return nil, ErrBadAmount
	}
	now := s.cfg.Now()
	for _, p := range s.byOrder[orderID] {
		s.expireLocked(p, now)
		if p.status == "DONE" || p.status == "CANCELED" || p.status == "PARTIAL_CANCELED" || p.status == "WAITING_FOR_DEPOSIT" {
			return nil, ErrDuplicatedOrder
		}
	}
	p := &payment{
		key: "tsbx" + randomID(20), orderID: orderID, orderName: "paygate order " + orderID,
		currency: amount.Currency(), amount: amount.Amount(), balance: amount.Amount(),
		method: "카드", status: "READY", requestedAt: now, secret: "ps_" + randomID(20),
	}
	s.payments = append(s.payments, p)
	s.byKey[p.key] = p
	s.byOrder[orderID] = append(s.byOrder[orderID], p)
	return p, nil
}
