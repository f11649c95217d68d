package paygate

import (
	"context"
	"database/sql"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
)

// Event types: every one lands in payment_events (the trace of a payment's
// flow) and is emitted through the outbox to subscribers.
const (
	EventPaymentApproved     = "PAYMENT_APPROVED"
	EventPaymentFailed       = "PAYMENT_FAILED"
	EventPaymentUnknown      = "PAYMENT_UNKNOWN"
	EventOrderCreated        = "ORDER_CREATED"
	EventOrderCreationFailed = "ORDER_CREATION_FAILED"
	EventPaymentRefunded     = "PAYMENT_REFUNDED"
	EventPaymentCanceled     = "PAYMENT_CANCELED"
	// EventRefundFailed: the PG refused a refund for good (its code and
	// message in data); the refund waits in the operators' queue.
	EventRefundFailed       = "REFUND_FAILED"
	EventSettlementRecorded = "SETTLEMENT_RECORDED"
	EventWebhookReceived    = "WEBHOOK_RECEIVED"
	// EventPaymentLateCaptured: the PG captured a payment after paygate had
	// written it off (FAILED or EXPIRED). The capture is recorded (a sale in
	// the ledger) and refunded automatically (PAYMENT_REFUNDED).
	EventPaymentLateCaptured = "PAYMENT_LATE_CAPTURED"
	// EventOperatorAction: an operator acted on the payment — a refund
	// (Cancel with CancelRequest.Operator), a retry or a resolution of an
	// item of the attention queue (RetryAttention, ResolveAttention with
	// ByOperator). Reason is the operator's reason or note; data says who
	// and what (OperatorAction). It is written in the transaction of the
	// action itself.
	EventOperatorAction = "OPERATOR_ACTION"
)

// Operator actions, OperatorAction.Action.
const (
	ActionRefund  = "refund"
	ActionRetry   = "retry"
	ActionResolve = "resolve"
)

// OperatorAction is the data of an OPERATOR_ACTION event: who did what to
// which item. When is the event's occurredAt, why its reason.
type OperatorAction struct {
	// Operator names who acted, as the host's authentication knows them.
	Operator string `json:"operator"`
	// Action is ActionRefund, ActionRetry or ActionResolve.
	Action string `json:"action"`
	// Kind and ID name the attention item retried or resolved ("saga" and
	// its id); CancelID the cancel a refund recorded.
	Kind     string `json:"kind,omitempty"`
	ID       string `json:"id,omitempty"`
	CancelID string `json:"cancelId,omitempty"`
}

// EventSchema is the JSON Schema (draft 2020-12) of Event's JSON form.
//
//go:embed events.schema.json
var EventSchema []byte

// Event is the JSON form of a payment event, as stored in payment_events and
// delivered to subscribers.
type Event struct {
	EventID    string          `json:"eventId"`
	EventType  string          `json:"eventType"`
	PaymentID  string          `json:"paymentId"`
	OrderID    string          `json:"orderId"`
	Amount     json.Number     `json:"amount"`
	Currency   string          `json:"currency"`
	PG         string          `json:"pg"`
	OccurredAt time.Time       `json:"occurredAt"`
	Status     string          `json:"status,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
}

// ParseEvent decodes a delivered event's payload.
func ParseEvent(payload []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(payload, &e); err != nil {
		return Event{}, fmt.Errorf("paygate: event payload: %w", err)
	}
	return e, nil
}

// eventSpec is an event about to be recorded for a payment.
type eventSpec struct {
	typ    string
	amount string // decimal; the payment's amount when empty
	reason string
	data   any
	// handled names the outbox subscribers whose work for the event is
	// written with it (see outbox.Event.Handled).
	handled []string
}

// record appends events to the payment's log and emits them, in tx.
func (p *Paygate) record(ctx context.Context, tx *sql.Tx, pay *store.Payment, specs ...eventSpec) error {
	return p.recordAll(ctx, tx, paymentEvents{pay: pay, specs: specs})
}

// paymentEvents are events about to be recorded for one payment.
type paymentEvents struct {
	pay   *store.Payment
	specs []eventSpec
}

// recordAll is record for the events of several payments: the log's rows
// in one statement, then the outbox's for the events a subscriber takes.
func (p *Paygate) recordAll(ctx context.Context, tx *sql.Tx, batch ...paymentEvents) error {
	batch, err := p.recordSales(ctx, tx, batch)
	if err != nil {
		return err
	}
	var (
		rows []*store.Event
		emit []outbox.Event
		due  []store.SyncDue
	)
	for _, b := range batch {
		pay := b.pay
		for _, s := range b.specs {
			amount := s.amount
			if amount == "" {
				amount = pay.Amount.Amount().String()
			}
			ev := Event{
				EventID:    store.NewEventID(),
				EventType:  s.typ,
				PaymentID:  pay.ID,
				OrderID:    pay.OrderID,
				Amount:     json.Number(amount),
				Currency:   string(pay.Amount.Currency()),
				PG:         pay.PG,
				OccurredAt: p.now().Truncate(time.Microsecond),
				Status:     string(pay.Status),
				Reason:     s.reason,
			}
			if s.data != nil {
				raw, err := json.Marshal(s.data)
				if err != nil {
					return fmt.Errorf("paygate: event %s data: %w", s.typ, err)
				}
				ev.Data = raw
			}
			payload, err := json.Marshal(ev)
			if err != nil {
				return fmt.Errorf("paygate: event %s: %w", s.typ, err)
			}
			rows = append(rows, &store.Event{
				ID: ev.EventID, PaymentID: pay.ID, OrderID: pay.OrderID, Type: s.typ,
				Payload: payload, OccurredAt: ev.OccurredAt,
			})
			if !p.cfg.Sync.Disabled && schedulesSync(s.typ, pay) {
				// On the lookup schedule if and only if this commits.
				due = append(due, p.firstSync(pay, ev.OccurredAt))
			}
			if p.outbox.Wants(s.typ, s.handled...) {
				// Otherwise payment_events is the event's record; the
				// outbox would keep a copy nobody is sent.
				emit = append(emit, outbox.Event{
					ID: ev.EventID, Type: s.typ, Key: pay.ID, Payload: payload, OccurredAt: ev.OccurredAt,
					Handled: s.handled,
				})
			}
		}
	}
	if err := p.db.AppendEvents(ctx, tx, rows...); err != nil {
		return err
	}
	for _, ev := range emit {
		if _, err := p.outbox.Emit(ctx, tx, ev); err != nil {
			return err
		}
	}
	return p.db.ScheduleSyncs(ctx, tx, due)
}

// recordSales writes the SALE ledger entries of the approvals and late
// captures in batch, in the transaction that records them: the settlement
// subscriber's work for those events, done where the sale then exists if
// and only if the approval does, with no delivery to write, claim and mark
// done. It returns batch with each such event marked handled by the
// subscriber and, when its entry was new, followed by that entry's
// SETTLEMENT_RECORDED event. An entry that cannot be computed or is not
// valid (no fee policy for the PG, a payout date beyond the calendar) never
// fails the approval's record: its event goes to the subscriber as any
// other, which reports the entry as it always has (a permanent failure an
// operator sees and retries once the configuration is mended).
//
// Only a ledger kept in paygate's database (a settlement.DeferringStore,
// such as settlementstore's) is written here: its insert fails only when
// the database does, and then the transaction fails whatever it wrote. A
// ledger store of the host's own may refuse or fail on its own; its
// entries stay with the subscriber, where that never holds an approval
// back.
func (p *Paygate) recordSales(ctx context.Context, tx *sql.Tx, batch []paymentEvents) ([]paymentEvents, error) {
	if _, ok := p.cfg.Ledger.(settlement.DeferringStore); !ok {
		return batch, nil
	}
	type at struct{ b, s int }
	var (
		recs  []*settlement.Record
		where []at
	)
	for i, b := range batch {
		for j, s := range b.specs {
			if s.typ != EventPaymentApproved && s.typ != EventPaymentLateCaptured {
				continue
			}
			amount := b.pay.Amount
			if s.amount != "" {
				m, err := pg.ParseMoney(s.amount, b.pay.Amount.Currency())
				if err != nil {
					continue
				}
				amount = m
			}
			e, err := p.saleEntry(b.pay, amount, p.now())
			if err != nil {
				continue
			}
			rec := e.record(p.now())
			if rec.Complete() != nil {
				continue
			}
			recs = append(recs, rec)
			where = append(where, at{i, j})
		}
	}
	if len(recs) == 0 {
		return batch, nil
	}
	// The source keys are new: a sale is recorded here when its payment
	// moves to APPROVED or LATE_CAPTURED, which happens once, and every
	// other writer of a sale (reconciliation, the subscriber for an event
	// an earlier version emitted) needs that move committed first.
	inserted, err := settlement.NewLedger(p.cfg.Ledger).RecordNew(ctx, tx, recs)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(batch)
	cloned := map[int]bool{}
	for k, w := range where {
		if !cloned[w.b] {
			out[w.b].specs = slices.Clone(out[w.b].specs)
			cloned[w.b] = true
		}
		out[w.b].specs[w.s].handled = []string{settlementSubscriberName}
		if inserted[k] {
			out[w.b].specs = append(out[w.b].specs, recordedEvent(recs[k]))
		}
	}
	return out, nil
}
