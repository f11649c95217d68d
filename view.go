package paygate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
)

// PaymentView is a payment with its cancels and the trace of its flow.
type PaymentView struct {
	PaymentID      string
	OrderID        string
	PG             string
	PaymentKey     string
	Amount         pg.Money
	Status         pg.Status
	Method         string
	ApprovedAt     time.Time
	ApprovedAmount pg.Money
	CanceledAmount pg.Money
	// Balance is what can still be refunded.
	Balance        pg.Money
	FailureCode    string
	FailureMessage string
	Cancels        []CancelView
	Events         []EventView
}

// CancelView is one cancel of a payment.
type CancelView struct {
	CancelID  string
	Amount    pg.Money
	Reason    string
	Status    string
	CreatedAt time.Time
}

// EventView is one entry of a payment's event log.
type EventView struct {
	EventID    string
	Type       string
	OccurredAt time.Time
}

// Payment returns a payment with its cancels and events; ErrNotFound when
// there is none.
func (p *Paygate) Payment(ctx context.Context, paymentID string) (*PaymentView, error) {
	pay, err := p.db.PaymentByID(ctx, paymentID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: payment %q", ErrNotFound, paymentID)
	}
	if err != nil {
		return nil, err
	}
	zero := zeroOf(pay.Amount)
	v := &PaymentView{
		PaymentID: pay.ID, OrderID: pay.OrderID, PG: pay.PG, PaymentKey: pay.PaymentKey,
		Amount: pay.Amount, Status: pay.Status, Method: pay.Method, ApprovedAt: pay.ApprovedAt,
		ApprovedAmount: orZero(pay.ApprovedAmount, zero), CanceledAmount: orZero(pay.CanceledAmount, zero),
		FailureCode: pay.FailureCode, FailureMessage: pay.FailureMessage,
	}
	if v.Balance, err = balance(pay); err != nil {
		return nil, err
	}
	cancels, err := p.db.CancelsByPayment(ctx, pay.ID)
	if err != nil {
		return nil, err
	}
	for _, c := range cancels {
		v.Cancels = append(v.Cancels, CancelView{CancelID: c.ID, Amount: c.Amount, Reason: c.Reason, Status: string(c.Status), CreatedAt: c.CreatedAt})
	}
	events, err := p.db.EventsByPayment(ctx, pay.ID)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		v.Events = append(v.Events, EventView{EventID: e.ID, Type: e.Type, OccurredAt: e.OccurredAt})
	}
	return v, nil
}

func orZero(m, zero pg.Money) pg.Money {
	if !m.IsSet() {
		return zero
	}
	return m
}

// PaymentOfOrder returns the payment holding the order, or its latest
// payment; ErrNotFound when the order has none.
func (p *Paygate) PaymentOfOrder(ctx context.Context, orderID string) (*PaymentView, error) {
	id, err := p.db.OrderPayment(ctx, orderID)
	if errors.Is(err, store.ErrNotFound) {
		ps, err := p.db.PaymentsByOrder(ctx, orderID)
		if err != nil {
			return nil, err
		}
		if len(ps) == 0 {
			return nil, fmt.Errorf("%w: no payment for order %q", ErrNotFound, orderID)
		}
		id = ps[len(ps)-1].ID
	} else if err != nil {
		return nil, err
	}
	return p.Payment(ctx, id)
}
