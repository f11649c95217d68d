// Package tosspay is the paygate adapter for the Toss Payments core API v1
// (https://api.tosspayments.com): confirm, full and partial cancel with the
// refundableAmount balance guard, lookup by paymentKey or orderId, payment
// webhooks, and the transaction and settlement reports.
//
// A host app builds it from a Config and registers it with the payment
// flow:
//
//	toss, err := tosspay.New(tosspay.Config{SecretKey: os.Getenv("TOSS_SECRET_KEY"), Logger: logger})
//	if err != nil {
//		return err
//	}
//	reg, err := pg.NewRegistry(toss)
//
// Only SecretKey is required; every other Config field says its default.
//
// The browser opens Toss's payment window with the client key; Toss
// redirects to successUrl?paymentKey=…&orderId=…&amount=…, and the flow
// confirms with pg.ApproveRequest{PaymentID, OrderID, Amount, PaymentKey}.
//
// # Safety on the wire
//
// Every POST carries an Idempotency-Key derived from paygate's own ids
// (ApproveIdempotencyKey(req.PaymentID), CancelIdempotencyKey(req.CancelID)),
// so a confirm or cancel that timed out, was reset or got a 5xx is resent with
// the same key and Toss answers the first result instead of acting twice. A
// 409 IDEMPOTENT_REQUEST_PROCESSING (the first request still running) is
// resent with the same key too. Resends are bounded (Config.MaxAttempts);
// when they run out the error is pg.KindUnknown and the flow resolves it by
// Lookup.
// ALREADY_PROCESSED_PAYMENT is pg.KindAlreadyDone: look it up.
//
// Every Toss status and error code of the API reference maps onto a pg
// status or kind in one table each (codes.go), with the reason.
//
// # Checkouts, order ids and API versions
//
// ValidatePrepare (pg.PrepareValidator) holds a checkout to Toss's rules
// before anything is written: an orderId of 6 to 64 ASCII letters, digits,
// '-' and '_', an orderName of at most 100 characters. Payments made
// outside a checkout can have shorter ids (a live virtual account has
// "71"); Lookup and ParseWebhook accept them. Every answer must be about
// the payment asked about: Payment.OrderID is Toss's orderId, and a lookup
// or cancel answered for another payment is an error, never this one's.
//
// Merchants pinned to API version 1.4 (or any version before 2022-11-16)
// get institutions by name (card.company, virtualAccount.bank,
// transfer.bank), transactionKey for lastTransactionKey and easyPay as a
// string; both shapes are read (Payment.Data keys say code or name).
// Settlement records take their fee from the top-level fee, fees[] being
// absent from some live answers.
//
// # Webhooks
//
// ParseWebhook handles PAYMENT_STATUS_CHANGED, DEPOSIT_CALLBACK and
// CANCEL_STATUS_CHANGED. Toss signs none of them: a delivery is verified by
// the payment's secret (pg.Payment.Secret, stored by the host and given back
// through pg.WebhookRequest.Secret), or, when no secret is known, by fetching
// the payment from Toss and trusting only the fetched state.
//
// # Testing a host app
//
// Package tosspaytest is a stateful fake of the same API, in-process or as
// its own process (tosspaytest/cmd/tosspay-sandbox):
//
//	srv := tosspaytest.NewServer(tosspaytest.Options{})
//	defer srv.Close()
//	toss, _ := tosspay.New(tosspay.Config{SecretKey: srv.SecretKey(), BaseURL: srv.URL})
//	res, _ := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-0001", Amount: pg.Won(15000)})
//	p, err := toss.Approve(ctx, pg.ApproveRequest{PaymentID: "pay_1", OrderID: "order-0001",
//		Amount: pg.Won(15000), PaymentKey: res.PaymentKey})
//
// TossPayments-Test-Code is sent per gateway (Config.TestCode) or per call
// (ContextWithTestCode); test keys then answer with that error.
package tosspay
