// Package webhook receives PG notifications: an http.Handler, Intake, mounted
// as POST /webhooks/{pg}, that verifies each delivery through the PG's
// adapter (pg.WebhookParser), records it once in the webhook log under its
// unique (pg, dedup key) and applies its effect in the same transaction.
//
// The smallest use, with the log of store/webhookstore:
//
//	intake, _ := webhook.New(webhook.Config{
//		Registry: registry, // adapters implementing pg.WebhookParser
//		Store:    webhookstore.New(db),
//		Effect: func(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) error {
//			return payments.AdvanceTx(ctx, tx, ev) // forward only: pg.CanTransition
//		},
//		Secret: secrets.Lookup, // per-payment secrets the host stored
//	})
//	mux.Handle("POST /webhooks/{pg}", intake)
//
// # Outcomes
//
//   - Verified and new: recorded and applied in one transaction, then
//     acknowledged (the adapter's pg.WebhookAcker answer, e.g. Inicis's
//     plain "OK"; otherwise 200 with an empty body). The answer is given
//     only after the commit.
//   - Duplicate, sequential or concurrent: the same success answer and no
//     second effect. The unique (pg, dedup key) decides, not a prior read.
//   - Verified only by looking the payment up (the delivery carried no
//     proof; pg.WebhookEvent.ByLookup): keyed by the PG's answer, recorded
//     without the delivery's bytes, and a duplicate when a recorded
//     delivery of the payment brought that answer already (Store
//     implementing PaymentLog). A stranger replaying or varying such a
//     delivery adds nothing.
//   - Failed verification (forged, tampered, unknown payment): 401
//     WEBHOOK_REJECTED, a warning in the log (the start of the body with
//     secrets masked, capped, and its digest), nothing stored.
//   - Verified but not about anything paygate acts on: an adapter says so by
//     returning a nil event and a nil error; the delivery gets the success
//     answer (so the PG stops retrying) and nothing is stored.
//   - Malformed, or values the log cannot hold: 400; over the size cap: 413.
//   - The adapter could not decide (the PG's fetch-back failed) or the
//     effect failed, panicked or ran past Config.Timeout: 500/503 with
//     nothing stored, so the PG delivers again (Toss retries 7 times over
//     about 3 days).
//
// Intake.Stats counts every outcome (recorded, duplicates, ignored,
// rejected, malformed, failed) for monitoring.
//
// # Audit and replay
//
// Each recorded delivery keeps its headers and body with secrets masked
// (RedactBody, DefaultRedactHeader) — unless it was verified only by lookup —,
// the SHA-256 of the body as received, the peer address and the normalised
// event. Intake.Replay re-runs a recorded
// delivery's effect from that stored event for an operator; it is safe
// because the Effect contract requires effects to be idempotent and
// monotonic.
package webhook
