// Package pgtest is what every PG adapter is tested with: the Sandbox
// interface its fake PG implements (tosspaytest, kakaopaytest, inicistest),
// the scripted Faults and the Scripter that plays them, the pieces every
// sandbox shares, and Run, the adapter conformance suite.
//
// An adapter passes the suite against its own sandbox:
//
//	func TestConformance(t *testing.T) {
//		srv := tosspaytest.NewServer(tosspaytest.Config{})
//		t.Cleanup(srv.Close)
//		gw, err := tosspay.New(tosspay.Config{
//			SecretKey: srv.SecretKey(), BaseURL: srv.URL,
//			Timeout: 300 * time.Millisecond, // fault cases wait for it
//		})
//		require.NoError(t, err)
//		pgtest.Run(t, pgtest.Harness{Gateway: gw, Sandbox: srv.Sandbox})
//	}
//
// Run covers approval, duplicate approval, declines, lost answers resolved
// by lookup (both ways), 5xx before approving, partial and full cancels,
// over-cancels, resent cancels held to one refund by the balance guard, a
// cancel the PG refuses (scripted with the sandbox's FailNext), lookup by
// order id, and (when the gateway is a pg.WebhookParser and the
// sandbox a WebhookSandbox) webhook verification, deduplication and forged
// deliveries. Every case checks the sandbox's Ledger, the PG's own record.
// When the gateway is a pg.Preparer, each case prepares its order first and
// hands Prepared.Data back in later calls, as the payment flow does.
//
// # The sandbox template
//
// The three sandboxes share one shape, and a new PG's sandbox copies it:
//
//   - New(Config) returns the *Sandbox, an http.Handler to mount at
//     Config.BaseURL; NewServer(Config) starts one on a loopback port (its
//     URL the base URL, Close to stop it). Config fields of the same
//     meaning have the same names: BaseURL, the PG's keys (SecretKey, MID,
//     ...), Now (the clock), Latency, HoldMax (how long a lost answer is
//     held before the connection is cut; zero cuts it at once), Logger,
//     WebhookURL where the PG notifies.
//   - Files: doc.go; sandbox.go (Config, the Sandbox and its books, the
//     constructors); api.go (the PG's own endpoints only, in its real wire
//     format); window.go (the buyer's payment window: Pay); control.go (the
//     test controls and their Go methods: FailNext, Ledger, deposits, ...);
//     webhooks.go (what the PG notifies, where it notifies); wire.go (the
//     sandbox's own copy of the PG's wire structs, kept apart from the
//     adapter's so a wire mistake cannot hide on both sides).
//   - Test controls live under ControlPrefix, apart from the PG's paths:
//     POST /_sandbox/pay, POST /_sandbox/faults (ServeFaults), GET
//     /_sandbox/ledger (ServeLedger), and PG-specific ones under the same
//     prefix (POST /_sandbox/deposit). Their refusals have one shape
//     (ControlError).
//   - Faults are scripted through Scripter by Op and order id, whatever the
//     PG; FaultQueue keeps the books, CheckScript refuses what the PG
//     cannot play.
//
// A harness holds a Sandbox and scripts it without knowing its type; what
// only some PGs do is a small interface of its own (WebhookSandbox,
// VirtualAccountSandbox).
package pgtest
