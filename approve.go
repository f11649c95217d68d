package paygate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/paygate/paygate/internal/telemetry"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
)

// ApproveRequest is what the shop's return page got from the PG's redirect.
type ApproveRequest struct {
	PG      string
	OrderID string
	// Amount as the redirect carried it; it must equal the checkout's.
	Amount pg.Money
	// PaymentKey is the PG's key when the redirect carries one (Toss).
	PaymentKey string
	// Redirect holds the redirect's other parameters by the PG's names
	// (KakaoPay "pg_token"; Inicis "authToken", "authUrl",
	// "netCancelUrl", "idc_name").
	Redirect map[string]string
}

// ApproveResult says how the approval ended.
type ApproveResult struct {
	PaymentID string
	// Status is APPROVED, FAILED, UNKNOWN (resolved later by lookup; the
	// caller should show "we are checking") or WAITING_FOR_DEPOSIT.
	Status     pg.Status
	ApprovedAt time.Time
	// FailureCode and FailureMessage say why a payment FAILED.
	FailureCode    string
	FailureMessage string
}

// Approve confirms the payment at the PG and starts the rest of the flow.
//
// Before the PG is called, the amount is checked against the checkout
// (ErrAmountMismatch otherwise) and the order is claimed for this payment;
// the PG is then called inline, on a context the caller's cancellation does
// not cut short. The result is APPROVED, FAILED (declined; the order can be
// paid again) or UNKNOWN (the PG's answer was lost; paygate resolves it by
// lookup in the background). After an approval the order is created, the
// settlement recorded and, if the order cannot be created, the payment is
// refunded — all in background runners (Run), surviving crashes.
//
// Approving an order that already has a payment returns that payment's
// result when it is the same PG payment, ErrInProgress while that payment is
// still being approved, and ErrConflict when another payment paid the order.
func (p *Paygate) Approve(ctx context.Context, req ApproveRequest) (*ApproveResult, error) {
	ctx, span := p.tel.Tracer.Start(ctx, "paygate.Approve",
		trace.WithAttributes(telemetry.PG.String(req.PG), telemetry.OrderID.String(req.OrderID)))
	defer span.End()
	res, pay, err := p.approve(ctx, req)
	if err != nil {
		telemetry.Fail(span, err)
		return nil, err
	}
	if pay != nil {
		// A new approval (not the answer of an earlier one) ended.
		p.tel.Approvals.Add(ctx, 1, metric.WithAttributes(telemetry.PG.String(pay.PG),
			telemetry.Method.String(methodAttr(pay.Method)), telemetry.Outcome.String(approvalOutcome(res.Status))))
	}
	span.SetAttributes(telemetry.PaymentID.String(res.PaymentID), telemetry.Status.String(string(res.Status)))
	return res, nil
}

// approve is Approve. It returns the payment when this call made a new
// approval attempt, nil when it answered with an existing payment.
func (p *Paygate) approve(ctx context.Context, req ApproveRequest) (*ApproveResult, *store.Payment, error) {
	if err := ValidateOrderID(req.OrderID); err != nil {
		return nil, nil, err
	}
	if !req.Amount.IsSet() || !req.Amount.IsPositive() {
		return nil, nil, fmt.Errorf("%w: amount must be positive", ErrInvalid)
	}
	if len(req.PaymentKey) > 200 {
		return nil, nil, fmt.Errorf("%w: paymentKey is longer than 200 characters", ErrInvalid)
	}
	if _, err := p.gateway(req.PG); err != nil {
		return nil, nil, err
	}

	c := &approveClaim{ctx: ctx, req: req}
	err := p.claimOrder(c)
	inst, existing, pay, checkout := c.inst, c.existing, c.pay, c.checkout
	switch {
	case errors.Is(err, store.ErrOrderClaimed), errors.Is(err, store.ErrDuplicate):
		// A concurrent approval of the same order won the claim.
		return nil, nil, fmt.Errorf("%w: order %q is being approved by another request", ErrInProgress, req.OrderID)
	case err != nil:
		return nil, nil, err
	case existing != nil:
		res, err := p.existingResult(existing, req)
		return res, nil, err
	}

	// The PG call must not be cut short by the client going away: an
	// approval abandoned half-way is an unknown outcome for nobody's
	// benefit.
	runCtx, f := withFresh(context.WithoutCancel(ctx), pay, checkout)
	runCtx, cancel := context.WithTimeout(runCtx, p.cfg.ApproveTimeout)
	defer cancel()
	if _, err := p.runner.RunInline(runCtx, inst, 1); err != nil {
		p.log.Warn("paygate: inline approval handed to the runners", "payment", pay.ID, "err", err)
	} else if after := f.applied.Load(); after != nil {
		// The step's outcome — approved, declined or unknown — committed
		// with its record: answer with what this attempt wrote, not with
		// what a runner may have learned since, and without reading it.
		return approveResult(after), after, nil
	}
	return p.resultOf(ctx, pay.ID)
}

// existingResult answers an approval for an order or PG payment that already
// has a payment.
func (p *Paygate) existingResult(pay *store.Payment, req ApproveRequest) (*ApproveResult, error) {
	samePG := req.PaymentKey != "" && pay.PaymentKey == req.PaymentKey
	switch {
	case pay.Status == pg.StatusApproving || pay.Status == pg.StatusUnknown:
		return nil, fmt.Errorf("%w: payment %s of order %q is %s", ErrInProgress, pay.ID, pay.OrderID, pay.Status)
	case samePG || req.PaymentKey == "":
		return resultFromPayment(pay), nil
	default:
		return nil, fmt.Errorf("%w: order %q is already paid by payment %s", ErrConflict, pay.OrderID, pay.ID)
	}
}

func (p *Paygate) resultOf(ctx context.Context, paymentID string) (*ApproveResult, *store.Payment, error) {
	pay, err := p.db.PaymentByID(ctx, paymentID)
	if err != nil {
		return nil, nil, err
	}
	return approveResult(pay), pay, nil
}

// approveResult is Approve's answer for pay as it stands after the inline
// run.
func approveResult(pay *store.Payment) *ApproveResult {
	res := resultFromPayment(pay)
	if res.Status == pg.StatusApproving {
		// The inline run could not record an outcome (the database
		// failed, or the lease was lost): the runners resolve it.
		res.Status = pg.StatusUnknown
	}
	return res
}

func resultFromPayment(pay *store.Payment) *ApproveResult {
	return &ApproveResult{
		PaymentID: pay.ID, Status: pay.Status, ApprovedAt: pay.ApprovedAt,
		FailureCode: pay.FailureCode, FailureMessage: pay.FailureMessage,
	}
}
