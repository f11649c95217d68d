package paygate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/settlementstore"
)

// Ledger is the settlement ledger paygate records every sale and refund
// into, for reports and downloads (Report, Export).
func (p *Paygate) Ledger() *settlement.Ledger { return settlement.NewLedger(p.cfg.Ledger) }

// Reconciler compares the ledger with each PG's own records and keeps the
// runs in paygate's database: Toss's settlement report payment by payment,
// and for the other PGs paygate's payment rows and a sample of the PG's
// lookups. A sale the PG captured that the ledger misses is recorded by
// the run through the settlement subscriber's own write (SettlementPayments).
func (p *Paygate) Reconciler() *settlement.Reconciler { return p.reconciler }

func (p *Paygate) newReconciler() (*settlement.Reconciler, error) {
	return settlement.NewReconciler(settlement.ReconcilerConfig{
		Ledger: p.Ledger(), Runs: settlementstore.New(p.db), Gateways: p.cfg.Gateways,
		Payments: p.SettlementPayments(), Now: p.now,
	})
}

// SettlementPayments is paygate's side of a reconciliation
// (settlement.Payments), for a host that configures its own
// settlement.Reconciler: its payment rows, lookups at their PG, and the
// ledger write of the settlement subscriber.
func (p *Paygate) SettlementPayments() settlement.Payments { return reconcilePayments{p} }

type reconcilePayments struct{ p *Paygate }

func paymentRecord(pay *store.Payment) settlement.PaymentRecord {
	return settlement.PaymentRecord{
		ID: pay.ID, PG: pay.PG, PaymentKey: pay.PaymentKey, OrderID: pay.OrderID, Method: pay.Method,
		Status: pay.Status, Approved: orZero(pay.ApprovedAmount, zeroOf(pay.Amount)),
		Canceled: orZero(pay.CanceledAmount, zeroOf(pay.Amount)), ApprovedAt: pay.ApprovedAt,
	}
}

func (r reconcilePayments) ByKey(ctx context.Context, pgName, paymentKey string) (*settlement.PaymentRecord, error) {
	if paymentKey == "" {
		return nil, nil
	}
	pay, err := r.p.db.PaymentByKey(ctx, pgName, paymentKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec := paymentRecord(pay)
	return &rec, nil
}

func (r reconcilePayments) Approved(ctx context.Context, pgName string, from, to time.Time, after *settlement.PaymentRecord, limit int) ([]settlement.PaymentRecord, error) {
	var afterAt time.Time
	afterID := ""
	if after != nil {
		afterAt, afterID = after.ApprovedAt, after.ID
	}
	ps, err := r.p.db.PaymentsApproved(ctx, pgName, from, to, afterAt, afterID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]settlement.PaymentRecord, len(ps))
	for i, pay := range ps {
		out[i] = paymentRecord(pay)
	}
	return out, nil
}

func (r reconcilePayments) Lookup(ctx context.Context, paymentID string) (*pg.Payment, error) {
	pay, err := r.p.db.PaymentByID(ctx, paymentID)
	if err != nil {
		return nil, err
	}
	return r.p.lookup(ctx, pay, "")
}

// RecordSale records the sale of a payment the PG captured, in a
// transaction of its own, exactly as the settlement subscriber does on the
// approval's event: the same entry (source "sale:<payment id>"), the same
// SETTLEMENT_RECORDED event, and nothing when the entry exists.
func (r reconcilePayments) RecordSale(ctx context.Context, paymentID string) (bool, error) {
	var inserted bool
	err := r.p.db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		inserted = false
		pay, err := r.p.db.PaymentByIDTx(ctx, tx, paymentID)
		if err != nil {
			return err
		}
		if pay.ApprovedAt.IsZero() || !pay.ApprovedAmount.IsSet() || !pay.ApprovedAmount.IsPositive() {
			return fmt.Errorf("%w: payment %s has no approval to record (status %s)", ErrConflict, pay.ID, pay.Status)
		}
		inserted, err = r.p.recordSale(ctx, tx, pay, pay.ApprovedAmount, pay.ApprovedAt)
		return err
	})
	return inserted, err
}
