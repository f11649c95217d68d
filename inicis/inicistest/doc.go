// Package inicistest is a stateful KG Inicis for tests, benchmarks, the
// chaos harness and the example server's sandbox mode, the way
// net/http/httptest is a server for tests.
//
// It speaks Inicis's real wire formats: the standard payment's approval
// (authUrl) and net-cancel (netCancelUrl) form POSTs with their SHA-256
// signature and verification, INIpay Mobile's approval (P_REQ_URL: a form
// POST of P_MID and P_TID answered in EUC-KR name=value text carrying
// P_CHKFAKE) and its P_NOTI_URL notifications, INIAPI v2 refund, partialRefund and inquiry
// (JSON with SHA-512 hashData over the exact data bytes, and the
// confirmPrice balance guard), and virtual-account deposit notifications
// (EUC-KR form POSTs answered "OK"). It verifies every signature and hash
// it receives with the merchant's keys (by default Inicis's published
// INIpayTest keys), so a wrong hash fails here the way it fails at Inicis.
//
// The smallest use, in a host app's test:
//
//	srv := inicistest.NewServer(inicistest.Config{})
//	defer srv.Close()
//	gw, _ := inicis.New(srv.GatewayConfig()) // allows the sandbox's approval host, nothing else
//	auth, _ := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-1", Amount: pg.Won(15000)})
//	payment, err := gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(15000), Redirect: auth.Redirect})
//
// Like every sandbox of this module it is laid out as sandbox.go (Config,
// the books, New and NewServer), api.go (Inicis's own endpoints),
// window.go (the buyer: Pay, PayForm), control.go (the test controls),
// webhooks.go (the deposit notifications) and wire.go (the sandbox's own
// copy of Inicis's wire format and signatures, kept apart from the
// adapter's so a wire mistake cannot hide on both sides).
//
// Pay plays the buyer, in the standard window or, for pg.DeviceMobile and
// pg.DeviceApp, in INIpay Mobile's (PayForm does it with the shop's own
// signed form and checks it, PayMobileForm with its P_* form and
// P_CHKFAKE; PayVirtualAccount issues a virtual account that Deposit later
// pays, sending the notification to Config.WebhookURL; CancelDeposit plays
// the bank canceling that deposit, notified as type_msg 0400). Notifications
// have Inicis's shape: no_tid is the deposit's own tid, no_req_tid the
// payment's, no_msgseq the message's sequence; a mobile account's deposit
// is notified with P_* fields instead (P_STATUS 00, P_TYPE VBANK, P_TID the
// payment's), and a mobile card result is handed out by Webhooks. A
// mobile approval's faults play as the standard one's. pgtest.Fault scripts
// the approval: decline, approve-then-lose-the-answer, lose the request, or
// a 500 before approving. FailNext (pgtest.Scripter) scripts the next
// approval (pgtest.OpApprove), net cancel (OpNetCancel), INIAPI refund or
// partialRefund (OpCancel) or inquiry (OpLookup) of an order the same way;
// a lost answer is held until the caller gives up or Config.HoldMax passes
// (cut at once without a HoldMax). TamperNextApproval makes the next
// approval answer's authSignature wrong (approval answers are otherwise
// signed as Inicis signs them), and SetLatency slows every answer. Ledger
// is the PG side's record for invariant checks. Config.Now moves time for
// token and account expiry. As a pgtest.WebhookSandbox and
// pgtest.VirtualAccountSandbox, Webhooks hands out an order's deposit
// notification (and its redelivery) without a listening shop, and
// ForgedWebhooks the notifications an attacker could send.
//
// Served under a prefix (the example server uses /sandbox/inicis/), tell it
// its public address with Config.BaseURL or SetBaseURL. Its endpoints,
// relative to that address:
//
//	POST /api/payAuth, /api/netCancel               standard payment approval, net cancel
//	POST /smart/payment/                            the INIpay Mobile window: the shop's P_* form in, {"redirect"} out
//	POST /smart/payReq.ini                          INIpay Mobile approval (P_REQ_URL)
//	POST /v2/pg/refund, /partialRefund, /inquiry    INIAPI v2
//
// and its test controls, under pgtest.ControlPrefix:
//
//	POST /_sandbox/pay             {"orderId","amount","fault","method","device"} or the signed (or P_*) form: plays the buyer
//	POST /_sandbox/faults          {"op","fault","orderId"}: FailNext
//	GET  /_sandbox/ledger          Ledger
//	POST /_sandbox/deposit         {"orderId"}: pays the virtual account and sends the notification
//	POST /_sandbox/cancel-deposit  {"orderId"}: the bank cancels the deposit
//
// cmd/inicis-sandbox runs it as its own process.
package inicistest
