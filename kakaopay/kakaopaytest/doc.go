// Package kakaopaytest is a stateful sandbox of KakaoPay's online payment
// API, like net/http/httptest for a PG: it speaks the real wire formats
// (the current open-api.kakaopay.com JSON API with
// "Authorization: SECRET_KEY …" and the legacy kapi.kakao.com form API with
// "Authorization: KakaoAK …"), checks the key and the cid, keeps every tid's
// state, plays the buyer, scripts faults, and records what the PG side did.
//
// A host app's test starts one, points the kakaopay adapter at it and plays
// the buyer between Prepare and Approve:
//
//	sb := kakaopaytest.NewServer(kakaopaytest.Config{})
//	defer sb.Close()
//	gw, _ := kakaopay.New(kakaopay.Config{
//		CID: kakaopaytest.TestCID, SecretKey: kakaopaytest.DefaultSecretKey, BaseURL: sb.URL,
//	})
//	prep, _ := gw.Prepare(ctx, pg.PrepareRequest{OrderID: "order-1", Amount: pg.Won(15000), ...})
//	paid, _ := sb.Pay(ctx, pgtest.PayRequest{OrderID: "order-1", Amount: pg.Won(15000)})
//	payment, err := gw.Approve(ctx, pg.ApproveRequest{
//		OrderID: "order-1", Amount: pg.Won(15000), Redirect: paid.Redirect, Prepared: prep.Data,
//	})
//
// Like every sandbox of this module it is laid out as sandbox.go (Config,
// the books, New and NewServer), api.go (KakaoPay's own endpoints),
// window.go (the buyer: the payment window and Pay), control.go (the test
// controls) and wire.go (the sandbox's own copy of KakaoPay's wire format,
// kept apart from the adapter's so a wire mistake cannot hide on both
// sides). KakaoPay notifies nobody, so it has no webhooks.
//
// # What it serves
//
// Under its base URL (Config.BaseURL; the example server mounts it at
// /sandbox/kakaopay/):
//
//   - POST /online/v1/payment/{ready,approve,order,cancel}: the current API.
//   - POST /v1/payment/{ready,approve,order,cancel} (and GET
//     /v1/payment/order): the legacy API.
//   - GET /v1/{id}/info, /mInfo, /aInfo: the buyer's payment window that
//     ready's next_redirect_*_url point to; paying there redirects the
//     browser to approval_url?pg_token=…, quitting to cancel_url.
//
// and its test controls, under pgtest.ControlPrefix:
//
//	POST /_sandbox/pay     {"orderId", "amount"?, "fault"?, "method"?}: Pay; answers {"redirect": {"pg_token"}, "redirectUrl"}
//	POST /_sandbox/faults  {"op", "fault", "orderId"?}: FailNext
//	GET  /_sandbox/ledger  Ledger
//
// # Faults and time
//
// PayRequest.Fault scripts the approval that follows: pgtest.FaultDecline
// answers -780 (approval failure) and fails the payment;
// pgtest.FaultTimeout approves and then cuts the connection without an
// answer (once the client gives up, or Config.HoldMax passes; at once
// without a HoldMax); pgtest.FaultTimeoutUnapproved cuts it without
// approving; pgtest.FaultError500 answers 500 without approving. Each
// fires once; the next approval of the tid is answered normally. FailNext
// (pgtest.Scripter) does the same for the next ready (pgtest.OpPrepare),
// approve (OpApprove), cancel (OpCancel) or order lookup (OpLookup) of an
// order; SetLatency delays every call.
//
// Refusals carry KakaoPay's error body ({"error_code", "error_message",
// "extras"}; legacy {"code", "msg", "extras"}): a wrong pg_token is -708, an
// approval for another amount -722, a second approval -702, an approval
// whose partner_order_id or partner_user_id differs from the tid's ready
// call -706 or -707 (checked before the tid's status, so an approved tid of
// another order never answers -702), an expired tid -723, a cancel above
// the cancelable amount, with a stale cancel_available_amount or of a
// canceled payment -710, an unknown tid -721. Only -780 is confirmed by
// KakaoPay's public documentation; the other codes follow its legacy error
// table as integrators quote it. Ready counts its limits (100 for the
// partner ids and item_name, 255 for URLs) in characters.
//
// Config.OmitActionAmounts answers order lookups with
// payment_action_details entries that lack amount, as some live answers
// do.
//
// Config.Now is the clock; a tid readied longer than Config.TIDTTL ago
// (15 minutes by default; KakaoPay does not publish its figure) can no
// longer be paid or approved, and its status becomes QUIT_PAYMENT (never
// paid) or FAIL_PAYMENT (paid, never approved).
//
// Ledger lists the PG side's record of every tid for invariant checks:
// approvals and cancels applied, amounts captured and refunded.
//
// The command kakaopay-sandbox (./cmd/kakaopay-sandbox) runs a sandbox as its
// own process.
package kakaopaytest
