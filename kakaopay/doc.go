// Package kakaopay is paygate's adapter for KakaoPay online single
// payments: a pg.Gateway and pg.Preparer speaking KakaoPay's current API
// (https://open-api.kakaopay.com/online/v1/payment/{ready,approve,order,cancel},
// JSON bodies, "Authorization: SECRET_KEY …") or, with Config.Legacy, the
// legacy kapi.kakao.com form API ("Authorization: KakaoAK …").
//
// The flow is KakaoPay's: Prepare (ready) returns the tid and the redirect
// URLs of KakaoPay's payment window; the buyer pays there and comes back to
// the approval URL with a pg_token; Approve captures with the tid, the
// partner ids and the pg_token; Lookup reads the payment by tid; Cancel
// refunds all or part of it.
//
//	gw, err := kakaopay.New(kakaopay.Config{
//		CID:         kakaopay.TestCID,
//		SecretKey:   os.Getenv("KAKAOPAY_SECRET_KEY"),
//		ApprovalURL: "https://shop.example/pay/kakao/approve",
//		CancelURL:   "https://shop.example/pay/kakao/cancel",
//		FailURL:     "https://shop.example/pay/kakao/fail",
//	})
//	prep, err := gw.Prepare(ctx, pg.PrepareRequest{OrderID: "order-1", OrderName: "초코파이", Amount: pg.Won(2200)})
//	// Store prep.Data with the checkout; send the buyer to
//	// prep.Client[kakaopay.ClientRedirectPC]. A checkout prepared with
//	// Device pg.DeviceMobile gets ClientRedirectMobile instead, one with
//	// pg.DeviceApp ClientRedirectApp and the app schemes.
//	// On the approval URL, KakaoPay's redirect carries ?pg_token=…:
//	payment, err := gw.Approve(ctx, pg.ApproveRequest{
//		PaymentID: "pay_…", OrderID: "order-1", Amount: pg.Won(2200),
//		Redirect: map[string]string{"pg_token": pgToken}, Prepared: prep.Data,
//	})
//
// CID and SecretKey are required; every other Config field says its
// default.
//
// # What the adapter relies on
//
// KakaoPay has no idempotency key and no webhooks (Capabilities says so).
// Approve and Cancel are therefore sent once: a timeout, a reset after
// sending, a 5xx, or an approval refused with an error code the adapter does
// not know is a KindUnknown error, to be resolved by Lookup, never by
// sending again. A second approval of a tid is refused by KakaoPay
// (KindAlreadyDone). A partial cancel carries the caller's balance as
// cancel_available_amount, so a cancel retried after an unknown outcome is
// refused (KindAlreadyDone: look it up) instead of applied twice, while a
// cancel sent without a balance and above what is left is KindInvalid; the
// CancelID travels as payload and comes back in Lookup as the cancel's
// Reason. Lookup is resent on transport failures since it changes nothing.
// Transport, retries, timeouts and log redaction are pg/pghttp's.
//
// Lookup needs the tid: KakaoPay cannot find a payment by our order id
// alone. Prepare's Data carries it (and the cid and partner ids), and the
// flow hands it back in every later call's Prepared. Every answer must be
// about the order asked about: Payment.OrderID is KakaoPay's
// partner_order_id, and an approval, lookup or cancel answered for another
// tid or order is never taken as this one's. Entries of a lookup's
// payment_action_details may lack amount; they never fail the lookup.
//
// # Checkouts
//
// ValidatePrepare (pg.PrepareValidator) refuses, before anything is
// written, a checkout ready would refuse: partner_order_id,
// partner_user_id and item_name over 100 characters, redirect URLs over
// 255, amounts and methods KakaoPay does not take. Lengths are characters
// (Unicode code points), as KakaoPay documents them, so 100 Hangul
// syllables pass. Prepare applies the same check, so the two never
// disagree.
//
// # Statuses
//
// Every status of KakaoPay's order lookup maps onto pg's (codes.go has the
// table with the reasons): READY, SEND_TMS, OPEN_PAYMENT, SELECT_METHOD,
// ARS_WAITING and AUTH_PASSWORD are pg.StatusPending (nothing captured);
// SUCCESS_PAYMENT is approved, PART_CANCEL_PAYMENT partially canceled,
// CANCEL_PAYMENT canceled; FAIL_AUTH_PASSWORD, QUIT_PAYMENT, FAIL_PAYMENT and
// ISSUED_SID (a recurring key issued without a charge) are failed. A status
// KakaoPay does not document is a KindUnknown error, never a guess.
//
// # Errors
//
// Error answers ({"error_code", "error_message", "extras"}, legacy
// {"code", "msg", "extras"}) map onto pg kinds by code (codes.go has the
// table). KakaoPay publishes no complete code table for the current API:
// -780 (approval failure, with extras.method_result_code such as
// USER_LOCKED) is confirmed; the other -7xx codes follow the legacy table as
// integrators quote it (-706 and -707: an approval with partner ids other
// than the ready call's, i.e. a tid of another order, a definite refusal). Codes outside the table fall back on the HTTP status
// (pg.KindForHTTPStatus), except that an approval refused with an unknown
// code is KindUnknown, because KakaoPay answers 400 for everything and only
// a lookup can tell whether the tid was approved.
//
// Amounts are decoded exactly (whole won, numbers or strings), unknown
// fields are ignored, and timestamps without an offset are Seoul time.
//
// # Testing a host app
//
// The sandbox in kakaopay/kakaopaytest speaks the same wire format. Point
// the adapter at it, play the buyer with Pay, and script faults:
//
//	sb := kakaopaytest.NewServer(kakaopaytest.Options{})
//	defer sb.Close()
//	gw, _ := kakaopay.New(kakaopay.Config{
//		CID: kakaopaytest.TestCID, SecretKey: kakaopaytest.DefaultSecretKey, BaseURL: sb.URL,
//		ApprovalURL: "https://shop.example/ok", CancelURL: "https://shop.example/cancel", FailURL: "https://shop.example/fail",
//	})
//	prep, _ := gw.Prepare(ctx, pg.PrepareRequest{OrderID: "order-1", Amount: pg.Won(2200)})
//	paid, _ := sb.Pay(ctx, pgtest.PayRequest{OrderID: "order-1", Amount: pg.Won(2200), Fault: pgtest.FaultTimeout})
//	_, err := gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-1", Amount: pg.Won(2200), Redirect: paid.Redirect, Prepared: prep.Data})
//	// errors.Is(err, pg.ErrUnknown): the answer was lost, but KakaoPay approved:
//	p, _ := gw.Lookup(ctx, pg.LookupRequest{OrderID: "order-1", Prepared: prep.Data}) // p.Status == pg.StatusApproved
//	// sb.Ledger() shows what the PG side did: one approval.
package kakaopay
