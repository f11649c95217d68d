// Package inicis is paygate's adapter for KG Inicis (KG이니시스): INIpay
// Standard for taking payments in the buyer's browser, INIpay Mobile for
// phones and apps, INIAPI v2 for refunds and inquiries, and virtual-account
// deposit notifications.
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
// A checkout for pg.DeviceMobile or pg.DeviceApp opens INIpay Mobile
// instead: Prepare answers the P_* form (P_MID, P_OID, P_AMT, P_GOODS,
// P_NEXT_URL, P_NOTI_URL, P_TIMESTAMP and, with Config.MobileHashKey,
// P_CHKFAKE) and the window to post it to, Client["actionUrl"]. Inicis posts
// the auth result (P_STATUS "00", P_TID, P_REQ_URL, P_RMESG1) to
// P_NEXT_URL; it goes into Redirect as the standard one does, and Approve
// POSTs P_MID and P_TID to P_REQ_URL only when it is exactly one of the
// allow-listed mobile approval addresses (Endpoints.MobileAuthURL; the same
// check as authUrl's). The answer is EUC-KR name=value text; one that
// differs from the request, or whose P_CHKFAKE does not match, is refunded
// at once through INIAPI and never returned as approved. Refunds and
// lookups go through INIAPI as for standard payments, and P_NOTI_URL
// notifications (a virtual account's deposit, a card result) are verified
// like deposit notifications and come out of ParseWebhook the same way.
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
