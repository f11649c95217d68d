// Package inicis is paygate's adapter for KG Inicis (KG이니시스): INIpay
// Standard for taking payments in the buyer's browser, INIAPI v2 for
// refunds and inquiries, and virtual-account deposit notifications.
//
// The payment is two-phase. Prepare signs the form the shop's page posts
// through INIStdPay.js (SHA-256 signature, verification and mKey over the
// order id, price and timestamp); nothing is sent to Inicis. After the buyer
// authenticates, Inicis POSTs the auth result to the shop's returnUrl; its
// fields go, as they are, into pg.ApproveRequest.Redirect. Approve then
// checks that the authUrl in it is exactly the allow-listed address for its
// idc_name (the redirect passed through the browser, so it may be forged:
// an untrusted URL is never called) and POSTs the signed approval there.
//
//	gw, err := inicis.New(inicis.Config{
//		MID: "mymid00001", SignKey: signKey,          // INIpay Standard
//		APIKey: iniapiKey, APIIV: iniapiIV,           // INIAPI
//		ClientIP: "203.0.113.10",                     // this server's registered address
//	})
//	prepared, err := gw.Prepare(ctx, pg.PrepareRequest{
//		OrderID: "order-1", OrderName: "티셔츠", Amount: pg.Won(15000),
//		SuccessURL: "https://shop.example/inicis/return",
//	})
//	// ... the browser posts prepared.Client; Inicis posts the auth result back ...
//	payment, err := gw.Approve(ctx, pg.ApproveRequest{
//		OrderID: "order-1", Amount: pg.Won(15000), Redirect: authResult, Prepared: prepared.Data,
//	})
//
// Every other Config field says its default: the live INIAPI host
// (DefaultBaseURL), Inicis's approval hosts (DefaultIDCs) and notification
// addresses (DefaultNotiSources), pghttp's timeouts and retries, and
// slog.Default() for the log.
//
// Inicis carries no idempotency key anywhere. A call that may have taken
// effect (timeout, reset, 5xx) fails with pg.KindUnknown and is resolved by
// Lookup, which also works with only the order id. Partial refunds send the
// balance left after the refund as confirmPrice, so a refund retried after a
// lost answer is refused by Inicis (pg.KindAlreadyDone) instead of applied
// twice.
//
// Deposit notifications (type_msg 0200) and deposit-cancel notifications
// (0400) carry no signature: ParseWebhook accepts them only from
// Config.NotiSources and, by default, fetches the payment back by inquiry
// to check the order, the amount and that Inicis's record agrees with the
// notice. A deposit is a transaction of its own: the notice's no_tid is the
// deposit's tid and the payment is no_req_tid, which is what is inquired
// (or the order id, for a notice without it) and what the event names. Each
// notice is deduplicated by the deposit's tid, its type and its message
// sequence. AckWebhook answers the plain "OK" Inicis expects; answer it
// only after the event is stored.
//
// A virtual account is APPROVAL at Inicis from the moment it is issued;
// Lookup reads it as paid only when the inquiry's vacctInfo.depositStatus
// says so, and as WAITING_FOR_DEPOSIT otherwise.
//
// Every Inicis result code the adapter knows is in one table (codes.go) with
// the kind it maps to and why; unknown codes take a conservative default per
// interface (an inquiry answer is never read as "not found" unless its code
// says so).
//
// In tests, package inicistest runs a stateful Inicis over real HTTP; its
// GatewayConfig allows the sandbox's own approval host and nothing else.
package inicis
