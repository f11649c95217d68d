// Package pgtest is what every PG adapter is tested with: the Sandbox
// interface its fake PG implements (tosspaytest, kakaopaytest, inicistest),
// the scripted Faults, and Run, the adapter conformance suite.
//
// An adapter passes the suite against its own sandbox:
//
//	func TestConformance(t *testing.T) {
//		srv := tosspaytest.NewServer(tosspaytest.Config{})
//		t.Cleanup(srv.Close)
//		gw, err := tosspay.New(srv.SecretKey(),
//			tosspay.WithBaseURL(srv.URL),
//			tosspay.WithTimeout(300*time.Millisecond)) // fault cases wait for it
//		require.NoError(t, err)
//		pgtest.Run(t, pgtest.Harness{Gateway: gw, Sandbox: srv.Sandbox})
//	}
//
// Run covers approval, duplicate approval, declines, lost answers resolved
// by lookup (both ways), 5xx before approving, partial and full cancels,
// over-cancels, resent cancels held to one refund by the balance guard,
// lookup by order id, and (when the gateway is a pg.WebhookParser and the
// sandbox a WebhookSandbox) webhook verification, deduplication and forged
// deliveries. Every case checks the sandbox's Ledger, the PG's own record.
// When the gateway is a pg.Preparer, each case prepares its order first and
// hands Prepared.Data back in later calls, as the payment flow does.
package pgtest
