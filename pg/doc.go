// Package pg is the contract between paygate and the payment gateways (PGs)
// it talks to: the Gateway interface every adapter implements, the optional
// interfaces a PG may add (Preparer, WebhookParser, NetCanceler,
// TransactionReporter, SettlementReporter), exact Money, the payment Status
// machine, the one Error type with its Kinds, a Registry and a Router.
//
// It imports nothing else of paygate. Adapters (tosspay, kakaopay, inicis, or
// your own) import pg; the payment flow programs against pg only, asking
// "does this PG support X?" through type assertions:
//
//	if p, ok := gw.(pg.Preparer); ok {
//		prepared, err := p.Prepare(ctx, req)
//		...
//	}
//
// Errors from a PG call are branched on by kind, never by a PG's codes:
//
//	switch {
//	case errors.Is(err, pg.ErrDeclined):    // definite no; the buyer may retry
//	case errors.Is(err, pg.ErrUnavailable): // not processed; try later
//	case errors.Is(err, pg.ErrAlreadyDone): // look it up
//	default:                                // unknown: look it up, never assume
//	}
package pg
