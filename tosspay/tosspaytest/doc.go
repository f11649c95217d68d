// Package tosspaytest is a sandbox Toss Payments: a stateful HTTP fake of
// the core API v1 (confirm, cancel, lookups, transactions, settlements) with
// Toss's wire formats, error codes, idempotency and webhooks, and scripted
// faults. It implements pgtest.Sandbox, pgtest.WebhookSandbox and
// pgtest.VirtualAccountSandbox.
//
// In a test, like net/http/httptest:
//
//	srv := tosspaytest.NewServer(tosspaytest.Config{})
//	defer srv.Close()
//	gw, _ := tosspay.New(tosspay.Config{SecretKey: srv.SecretKey(), BaseURL: srv.URL})
//	res, _ := srv.Pay(ctx, pgtest.PayRequest{OrderID: "order-0001", Amount: pg.Won(15000)})
//	// res.PaymentKey is what Toss's success redirect carries.
//
// Mounted in another server (the example server serves it under
// /sandbox/tosspay/), with Config.BaseURL naming the public address:
//
//	sb := tosspaytest.New(tosspaytest.Config{BaseURL: "http://127.0.0.1:8080/sandbox/tosspay"})
//	mux.Handle("/sandbox/tosspay/", sb)
//
// As its own process, so it survives a crash of the app under test:
//
//	go run ./tosspay/tosspaytest/cmd/tosspay-sandbox -addr 127.0.0.1:9101
//
// Like every sandbox of this module it is laid out as sandbox.go (Config,
// the books, New and NewServer), api.go (Toss's own endpoints), window.go
// (the buyer: Pay), control.go (the test controls), webhooks.go (what Toss
// notifies) and wire.go (the sandbox's own copy of Toss's JSON, kept apart
// from the adapter's so a wire mistake cannot hide on both sides).
//
// # What it does like Toss
//
//   - The buyer: Pay opens the window and authenticates, leaving the
//     payment IN_PROGRESS; Open leaves it READY. READY expires after 30
//     minutes, IN_PROGRESS after 10, on the Config.Now clock.
//   - The payment window takes orderIds of 6 to 64 ASCII letters, digits,
//     '-' and '_', like Toss's SDK.
//   - Confirm checks the paymentKey, the orderId and the amount; a
//     paymentKey of another order is refused (400 INVALID_REQUEST: Toss
//     documents no code for it) before its status is looked at; a repeated
//     confirm is ALREADY_PROCESSED_PAYMENT; an expired session
//     NOT_FOUND_PAYMENT_SESSION.
//   - POST /v1/virtual-accounts (and IssueVirtualAccount) issues a virtual
//     account outside any checkout, with an orderId as short as live Toss
//     takes there ("71", even as a JSON number).
//   - Config.APIVersion "1.4" writes Payments as merchants pinned to that
//     version get them: card.company, virtualAccount.bank and
//     transfer.bank names instead of codes, transactionKey for
//     lastTransactionKey, easyPay as a string.
//   - Settlements carry the total in fee, and fees[] unless
//     Config.OmitSettlementFees (as some live answers).
//   - Idempotency-Key: scoped to (key, API key, path, method), kept 15 days;
//     a repeat gets the first answer byte for byte, a repeat while the first
//     runs gets 409 IDEMPOTENT_REQUEST_PROCESSING. 5xx answers are not kept.
//   - Cancels: full and partial, refundableAmount must equal the balance
//     (NOT_MATCHES_REFUNDABLE_AMOUNT), over the balance is
//     NOT_CANCELABLE_AMOUNT, a canceled payment ALREADY_CANCELED_PAYMENT.
//   - Webhooks: PAYMENT_STATUS_CHANGED for DONE, CANCELED, PARTIAL_CANCELED,
//     ABORTED and EXPIRED (and DEPOSIT_CALLBACK for virtual accounts),
//     POSTed to Config.WebhookURL with Toss's transmission headers (a new
//     transmission id per send) and retry schedule (Config.WebhookSchedule;
//     compress it in tests) until the receiver answers 200.
//   - TossPayments-Test-Code is honoured for test keys.
//
// # Faults
//
// A payment's confirm follows its pgtest.Fault (given to Pay, or replaced
// with ScriptPayment): FaultDecline refuses (REJECT_CARD_COMPANY or
// Script.DeclineCode) and ABORTs the payment; FaultTimeout approves and loses
// every answer, holding it until the client gives up or Config.HoldMax
// passes and then cutting the connection (at once without a HoldMax, or
// with Script.Reset); FaultTimeoutUnapproved holds without approving;
// FaultError500 answers 500 without approving. FailNext (pgtest.Scripter)
// scripts the next confirm (pgtest.OpApprove), cancel (OpCancel) or lookup
// (OpLookup) of an order once; SetLatency slows every answer.
//
// # Test controls
//
// Under pgtest.ControlPrefix, apart from Toss's paths:
//
//	POST /_sandbox/pay      {"orderId", "amount", "currency"?, "fault"?, "declineCode"?, "latencyMs"?, "reset"?, "method"?}: Pay
//	POST /_sandbox/faults   {"op", "fault", "orderId"?}: FailNext
//	GET  /_sandbox/ledger   Ledger
//	POST /_sandbox/deposit  {"orderId"}: Deposit
//
// Ledger is the PG side the invariant checks compare with; Payments,
// Transactions (also served by GET /v1/transactions) and Deliveries show
// the rest.
package tosspaytest
