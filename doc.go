// Package paygate is the payment flow a Korean commerce backend embeds to
// take payments through several PGs (Toss Payments, KakaoPay, KG Inicis, or
// any adapter implementing pg.Gateway) while keeping payment, order and
// settlement data consistent whatever fails.
//
// The host hands New a database (store), the PG adapters (pg.Registry), its
// order service (OrderService) and a fee policy, starts the background work
// with Run, and calls three methods from its handlers:
//
//   - Prepare records the checkout — order id, amount, PG — before the buyer
//     sees the PG's window, and returns what the window needs.
//   - Approve checks the amount against the checkout, claims the order,
//     confirms the payment at the PG inline and answers APPROVED, FAILED or
//     UNKNOWN. Then, in background runners that survive crashes: the order
//     is created through the OrderService (retried; if it fails for good the
//     payment is refunded at the PG exactly once and the order rolled back),
//     and every approval and refund becomes a settlement ledger entry.
//   - Cancel refunds all or part of a payment with the PG's balance guard.
//     A full refund rolls the host's order back, retried until it works;
//     a refund the PG refuses for good is recorded (REFUND_FAILED) and
//     waits for an operator.
//
// New also builds what the host mounts: WebhookHandler receives the PGs'
// notifications (verified, recorded once, applied by ApplyWebhook in the
// same transaction) and Idempotency wraps the host's approve and cancel
// handlers with Idempotency-Key semantics; Run reaps its expired keys. Run
// also looks captured payments up at their PG about once a day
// (Config.Sync; SyncPayment on demand), so cancels made in a PG's console
// reach the payment and the ledger for PGs that send no notification of
// them. Unresolved lists what needs an operator; ResolveAttention and
// RetryAttention act on it, and with ByOperator (and a refund with
// CancelRequest.Operator) the operator's action is an OPERATOR_ACTION event
// in the payment's timeline; package admin is a console built on them.
// Every state change of a payment writes its
// event to payment_events (the trace of its flow) and to the outbox in the
// same transaction.
//
// # How it stays consistent
//
// Each dedup point is a unique key written with the business change: the
// order's claim (payment_order_mapping), the PG's payment key, a cancel's
// idempotency key, a saga per payment, a ledger entry per sale or refund.
// The PG call is recorded as dispatched before it is made, so a crash or a
// timeout leaves an unknown outcome that the runners resolve by looking the
// payment up at the PG — seconds, then minutes, then hours, never given up —
// instead of guessing. Statuses only move forward (pg.CanTransition), so a
// late webhook or lookup never undoes a newer fact.
//
// # Metrics and traces
//
// paygate records through the OpenTelemetry API: Config.MeterProvider and
// Config.TracerProvider, the global providers when nil (no-ops until the
// host installs an SDK). Approve and Cancel are spans holding their saga
// steps and PG calls; the trace context is stored with every saga
// instance and outbox event, so steps run later by any process and the
// settlement entry join the same trace. The README's "Operating paygate"
// lists every metric.
//
// # Where things are
//
// The files named for what a host calls are the public face: paygate.go
// (Config, New, Run), prepare.go, approve.go, cancel.go, view.go,
// webhook.go, sync.go, attention.go (the operators' list), events.go,
// orders.go, errors.go. The machinery is one file per concept:
// payment_state.go (the payment state machine: every status change is a
// paymentChange applied under the payment's lock with its events),
// payment_saga.go (approve, resolve by lookup, create the order, refund on
// failure), refund_saga.go (one cancel at the PG, then the order's
// rollback), refund.go (a refund at the PG, what both sagas share),
// sagas.go (their payload and names), checkout.go (checkout attempts),
// gateway.go (calls to the PG), telemetry.go (the PG calls' spans and
// latency, the gauge of unknown outcomes), webhook_effects.go and cancel_sync.go (what
// the PG's news does to a payment), late_capture.go (captures after a
// write-off), settlement_subscriber.go (the ledger entry of each sale and
// refund).
package paygate
