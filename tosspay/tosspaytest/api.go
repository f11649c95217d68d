package tosspaytest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// call is one authenticated API request.
type call struct {
	apiKey string
	body   []byte
}

// api authenticates like Toss, honours TossPayments-Test-Code for test keys
// and adds the configured latency.
func (s *Sandbox) api(h func(w http.ResponseWriter, r *http.Request, c *call)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", "요청 본문을 읽을 수 없습니다."})
			return
		}
		key, aerr := s.authenticate(r.Header.Get("Authorization"))
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if !sleep(r.Context(), time.Duration(s.latency.Load())) {
			return
		}
		if code := r.Header.Get("TossPayments-Test-Code"); code != "" && strings.HasPrefix(key, "test_") {
			status, ok := testCodes[code]
			if !ok {
				writeError(w, &apiError{http.StatusBadRequest, "INVALID_TEST_CODE", "유효하지 않은 테스트 코드입니다."})
				return
			}
			writeError(w, &apiError{status, code, "테스트 코드로 발생한 에러입니다."})
			return
		}
		h(w, r, &call{apiKey: key, body: body})
	}
}

// authenticate checks "Basic base64(secretKey:)".
func (s *Sandbox) authenticate(h string) (string, *apiError) {
	const prefix = "Basic "
	if !strings.HasPrefix(h, prefix) {
		return "", &apiError{http.StatusUnauthorized, "UNAUTHORIZED_KEY", "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다."}
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil || !strings.HasSuffix(string(raw), ":") {
		return "", &apiError{http.StatusForbidden, "INCORRECT_BASIC_AUTH_FORMAT", "잘못된 요청입니다. ':' 를 포함해 인코딩해주세요."}
	}
	key := strings.TrimSuffix(string(raw), ":")
	if key != s.cfg.SecretKey {
		return "", &apiError{http.StatusUnauthorized, "UNAUTHORIZED_KEY", "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다."}
	}
	return key, nil
}

// sleep waits d unless ctx ends first; it reports whether to go on.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// lose withholds the answer until the client gives up (or HoldMax), then
// cuts the connection without a response: the client sees a timeout or a
// reset, never the result. Without a HoldMax, or with sc.Reset, it cuts at
// once. Where the ResponseWriter cannot be hijacked (an HTTP/2 connection,
// a wrapping middleware) the handler is aborted with http.ErrAbortHandler,
// which net/http turns into a reset.
func (s *Sandbox) lose(w http.ResponseWriter, r *http.Request, sc Script) {
	if !sc.Reset && s.cfg.HoldMax > 0 {
		t := time.NewTimer(s.cfg.HoldMax)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		case <-s.closed:
		}
	}
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // reset, not an orderly close
		}
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// idempotent runs fn once per (Idempotency-Key, API key, method, path), as
// Toss does: a repeat gets the first answer byte for byte, a repeat while the
// first still runs gets 409 IDEMPOTENT_REQUEST_PROCESSING. A 5xx answer is
// not kept (nothing was processed), so a resend runs again.
func (s *Sandbox) idempotent(r *http.Request, c *call, fn func() reply) reply {
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		return fn()
	}
	scope := idemScope{key: key, apiKey: c.apiKey, method: r.Method, path: r.URL.Path}
	s.mu.Lock()
	now := s.cfg.Now()
	if e, ok := s.idem[scope]; ok && now.Sub(e.firstUse) >= IdempotencyTTL {
		delete(s.idem, scope)
	}
	if e, ok := s.idem[scope]; ok {
		done, rep := e.done, reply{e.status, e.body}
		s.mu.Unlock()
		if !done {
			return errReply(&apiError{http.StatusConflict, "IDEMPOTENT_REQUEST_PROCESSING", "이전 멱등 요청이 처리 중입니다. 잠시 후 다시 시도해주세요."})
		}
		return rep
	}
	e := &idemEntry{firstUse: now}
	s.idem[scope] = e
	s.mu.Unlock()

	rep := fn()

	s.mu.Lock()
	defer s.mu.Unlock()
	if rep.status >= 500 {
		delete(s.idem, scope)
	} else {
		e.done, e.status, e.body = true, rep.status, rep.body
	}
	return rep
}

// gaveUp is the answer to a client that left while the call was being
// processed: nothing was done, and as a 5xx it is not kept for replays.
var gaveUp = errReply(&apiError{http.StatusServiceUnavailable, "COMMON_ERROR", "요청이 취소되었습니다."})

// preFault applies the faults that strike before anything is processed: a
// 500, or a call that is swallowed. It reports whether to go on.
func (s *Sandbox) preFault(w http.ResponseWriter, r *http.Request, sc Script) bool {
	switch sc.Fault {
	case pgtest.FaultError500:
		if sleep(r.Context(), sc.Latency) {
			writeError(w, &apiError{http.StatusInternalServerError, "FAILED_INTERNAL_SYSTEM_PROCESSING", "내부 시스템 처리 작업이 실패했습니다. 잠시 후 다시 시도해주세요."})
		}
		return false
	case pgtest.FaultTimeoutUnapproved:
		s.lose(w, r, sc)
		return false
	}
	return true
}

func validIdempotencyKey(w http.ResponseWriter, r *http.Request) bool {
	if len(r.Header.Get("Idempotency-Key")) > 300 {
		writeError(w, &apiError{http.StatusBadRequest, "INVALID_IDEMPOTENCY_KEY", "멱등키는 300자 이하여야 합니다."})
		return false
	}
	return true
}

func (s *Sandbox) handleConfirm(w http.ResponseWriter, r *http.Request, c *call) {
	if !validIdempotencyKey(w, r) {
		return
	}
	var req confirmRequest
	if err := json.Unmarshal(c.body, &req); err != nil || req.PaymentKey == "" || req.OrderID == "" || len(req.Amount) == 0 {
		writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", "paymentKey, orderId, amount는 필수 파라미터입니다."})
		return
	}
	s.mu.Lock()
	sc := Script{}
	if p, ok := s.byKey[req.PaymentKey]; ok {
		sc = p.script
	}
	s.mu.Unlock()
	next, scripted := s.nextFault(pgtest.OpApprove, req.OrderID)
	if scripted {
		sc = next
	}
	if !s.preFault(w, r, sc) {
		return
	}
	if scripted && sc.Fault == pgtest.FaultDecline {
		// A refusal scripted for this one call is answered like a
		// TossPayments-Test-Code refusal: not kept under the
		// Idempotency-Key, so the same request sent again is processed.
		writeReply(w, s.confirm(req, sc))
		return
	}
	rep := s.idempotent(r, c, func() reply {
		if !sleep(r.Context(), sc.Latency) {
			return gaveUp
		}
		return s.confirm(req, sc)
	})
	if sc.Fault == pgtest.FaultTimeout {
		s.lose(w, r, sc)
		return
	}
	writeReply(w, rep)
}

func (s *Sandbox) confirm(req confirmRequest, sc Script) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	p, ok := s.byKey[req.PaymentKey]
	if !ok {
		return errReply(&apiError{http.StatusNotFound, "NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다."})
	}
	s.expireLocked(p, now)
	amount, err := pg.DecodeAmount(req.Amount)
	if err != nil {
		return errReply(&apiError{http.StatusBadRequest, "INVALID_REQUEST", "잘못된 결제 금액입니다."})
	}
	// A paymentKey of another order is refused before anything else is
	// looked at, whatever that payment's status: a DONE payment of order A
	// confirmed for order B must not answer ALREADY_PROCESSED_PAYMENT (or
	// its Payment), which would read as B's approval. Toss documents no
	// code for this refusal (pg-apis.md 1.7 lists none); the sandbox
	// answers 400 INVALID_REQUEST, which the adapter, like the other
	// candidate NOT_FOUND_PAYMENT, treats as a definite refusal.
	if req.OrderID != p.orderID {
		return errReply(&apiError{http.StatusBadRequest, "INVALID_REQUEST", "주문번호가 결제 정보와 일치하지 않습니다."})
	}
	switch p.status {
	case "IN_PROGRESS":
	case "READY", "EXPIRED":
		return errReply(&apiError{http.StatusNotFound, "NOT_FOUND_PAYMENT_SESSION", "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다."})
	default:
		return errReply(&apiError{http.StatusBadRequest, "ALREADY_PROCESSED_PAYMENT", "이미 처리된 결제 입니다."})
	}
	if !amount.Equal(p.amount) {
		return errReply(&apiError{http.StatusBadRequest, "INVALID_REQUEST", "결제 금액이 일치하지 않습니다."})
	}
	if p.currency == pg.KRW && amount.LessThan(decimal.NewFromInt(100)) {
		return errReply(&apiError{http.StatusBadRequest, "BELOW_MINIMUM_AMOUNT", "신용카드 결제 금액은 100원 이상이어야 합니다."})
	}
	if sc.Fault == pgtest.FaultDecline {
		code := sc.DeclineCode
		if code == "" {
			code = "REJECT_CARD_COMPANY"
		}
		status, ok := testCodes[code]
		if !ok {
			status = http.StatusForbidden
		}
		e := &apiError{status, code, "카드사에서 거절한 결제입니다."}
		p.status, p.failure = "ABORTED", e
		s.newsLocked(p, now)
		return errReply(e)
	}
	if p.method == methodVirtualAccount {
		// Confirm issues the account; money moves at the deposit.
		p.status = "WAITING_FOR_DEPOSIT"
		p.va = &vaInfo{number: "X" + randomDigits(13), bank: "20", holder: "토스페이먼츠", due: now.Add(VirtualAccountTTL)}
		p.lastTxKey = randomID(32)
		s.newsLocked(p, now)
		return okReply(s.paymentJSONLocked(p))
	}
	p.status, p.approvedAt, p.approvals = "DONE", now, p.approvals+1
	p.lastTxKey = randomID(32)
	s.txs = append(s.txs, transaction{key: p.lastTxKey, paymentKey: p.key, orderID: p.orderID, method: p.method,
		status: "DONE", currency: p.currency, amount: p.amount, at: now})
	s.newsLocked(p, now)
	return okReply(s.paymentJSONLocked(p))
}

func (s *Sandbox) handleIssueVirtualAccount(w http.ResponseWriter, r *http.Request, c *call) {
	if !validIdempotencyKey(w, r) {
		return
	}
	var req issueRequest
	bad := &apiError{http.StatusBadRequest, "INVALID_REQUEST", "amount, orderId, orderName, customerName, bank는 필수 파라미터입니다."}
	if err := json.Unmarshal(c.body, &req); err != nil || !present(req.Amount) || !present(req.OrderID) ||
		req.OrderName == "" || req.CustomerName == "" || req.Bank == "" {
		writeError(w, bad)
		return
	}
	orderID, ok := idText(req.OrderID)
	d, err := pg.DecodeAmount(req.Amount)
	if !ok || err != nil {
		writeError(w, bad)
		return
	}
	amount, err := pg.NewMoney(d, pg.KRW)
	if err != nil {
		writeError(w, bad)
		return
	}
	rep := s.idempotent(r, c, func() reply {
		s.mu.Lock()
		defer s.mu.Unlock()
		p, err := s.issueLocked(VirtualAccountRequest{OrderID: orderID, OrderName: req.OrderName, CustomerName: req.CustomerName,
			Amount: amount, Bank: req.Bank, ValidHours: req.ValidHours})
		switch {
		case errors.Is(err, ErrDuplicatedOrder):
			return errReply(&apiError{http.StatusBadRequest, "DUPLICATED_ORDER_ID", "이미 승인 및 취소가 진행된 중복된 주문번호 입니다."})
		case errors.Is(err, ErrBadOrder):
			return errReply(&apiError{http.StatusBadRequest, "INVALID_ORDER_ID", "주문번호 형식이 올바르지 않습니다."})
		case err != nil:
			return errReply(bad)
		}
		return okReply(s.paymentJSONLocked(p))
	})
	writeReply(w, rep)
}

// VirtualAccountRequest is a virtual account issued outside any checkout,
// as POST /v1/virtual-accounts takes it.
type VirtualAccountRequest struct {
	OrderID, OrderName, CustomerName string
	Amount                           pg.Money // KRW
	// Bank is the numeric bank code ("20" when empty).
	Bank string
	// ValidHours is how long the account waits for the deposit
	// (VirtualAccountTTL when 0).
	ValidHours int
}

// IssueVirtualAccount issues a virtual account the way
// POST /v1/virtual-accounts does, outside any checkout: the payment is
// WAITING_FOR_DEPOSIT at once (no confirm), and Deposit plays the
// transfer. Its orderId may be shorter than a checkout's (live Toss issued
// one for the order "71"). It returns the payment's key.
func (s *Sandbox) IssueVirtualAccount(ctx context.Context, req VirtualAccountRequest) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.issueLocked(req)
	if err != nil {
		return "", err
	}
	return p.key, nil
}

func (s *Sandbox) issueLocked(req VirtualAccountRequest) (*payment, error) {
	if !validIssuedOrderID(req.OrderID) {
		return nil, ErrBadOrder
	}
	if !req.Amount.IsSet() || !req.Amount.IsPositive() || req.Amount.Currency() != pg.KRW {
		return nil, ErrBadAmount
	}
	if req.ValidHours < 0 {
		return nil, ErrBadValidHours
	}
	now := s.cfg.Now()
	for _, p := range s.byOrder[req.OrderID] {
		s.expireLocked(p, now)
		if p.status == "DONE" || p.status == "CANCELED" || p.status == "PARTIAL_CANCELED" || p.status == "WAITING_FOR_DEPOSIT" {
			return nil, ErrDuplicatedOrder
		}
	}
	ttl := VirtualAccountTTL
	if req.ValidHours > 0 {
		ttl = time.Duration(req.ValidHours) * time.Hour
	}
	name, holder, bank := req.OrderName, req.CustomerName, req.Bank
	if name == "" {
		name = "paygate order " + req.OrderID
	}
	if holder == "" {
		holder = "토스페이먼츠"
	}
	if bank == "" {
		bank = "20"
	}
	p := &payment{
		key: "tsbx" + randomID(20), orderID: req.OrderID, orderName: name,
		currency: pg.KRW, amount: req.Amount.Amount(), balance: req.Amount.Amount(),
		method: methodVirtualAccount, status: "WAITING_FOR_DEPOSIT", requestedAt: now, secret: "ps_" + randomID(20),
		va:        &vaInfo{number: "X" + randomDigits(13), bank: bank, holder: holder, due: now.Add(ttl)},
		lastTxKey: randomID(32),
	}
	s.payments = append(s.payments, p)
	s.byKey[p.key] = p
	s.byOrder[req.OrderID] = append(s.byOrder[req.OrderID], p)
	s.newsLocked(p, now)
	return p, nil
}

// idText reads an id sent as a JSON string or a JSON integer.
func idText(raw json.RawMessage) (string, bool) {
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		if _, err := n.Int64(); err == nil {
			return n.String(), true
		}
	}
	return "", false
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// orderOf is the orderId of the payment with the key ("" when there is
// none).
func (s *Sandbox) orderOf(paymentKey string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.byKey[paymentKey]; ok {
		return p.orderID
	}
	return ""
}

func (s *Sandbox) handleCancel(w http.ResponseWriter, r *http.Request, c *call) {
	if !validIdempotencyKey(w, r) {
		return
	}
	key := r.PathValue("paymentKey")
	var req cancelRequest
	if err := json.Unmarshal(c.body, &req); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", "잘못된 요청입니다."})
		return
	}
	sc, _ := s.nextFault(pgtest.OpCancel, s.orderOf(key))
	if !s.preFault(w, r, sc) {
		return
	}
	if sc.Fault == pgtest.FaultDecline {
		// As for a confirm: a scripted refusal is not kept under the
		// Idempotency-Key.
		writeReply(w, s.cancel(key, req, sc))
		return
	}
	rep := s.idempotent(r, c, func() reply {
		if !sleep(r.Context(), sc.Latency) {
			return gaveUp
		}
		return s.cancel(key, req, sc)
	})
	if sc.Fault == pgtest.FaultTimeout {
		s.lose(w, r, sc)
		return
	}
	writeReply(w, rep)
}

func (s *Sandbox) cancel(key string, req cancelRequest, sc Script) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	p, ok := s.byKey[key]
	if !ok {
		return errReply(&apiError{http.StatusNotFound, "NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다."})
	}
	s.expireLocked(p, now)
	if strings.TrimSpace(req.CancelReason) == "" || len([]rune(req.CancelReason)) > 200 {
		return errReply(&apiError{http.StatusBadRequest, "INVALID_REQUEST", "취소 사유는 필수이며 200자 이하여야 합니다."})
	}
	if req.Currency != "" && req.Currency != string(p.currency) {
		return errReply(&apiError{http.StatusBadRequest, "INVALID_REQUEST", "결제 통화와 취소 통화가 다릅니다."})
	}
	switch p.status {
	case "DONE", "PARTIAL_CANCELED", "WAITING_FOR_DEPOSIT":
	case "CANCELED":
		return errReply(&apiError{http.StatusBadRequest, "ALREADY_CANCELED_PAYMENT", "이미 취소된 결제 입니다."})
	default:
		return errReply(&apiError{http.StatusForbidden, "NOT_CANCELABLE_PAYMENT", "취소 할 수 없는 결제 입니다."})
	}
	if sc.Fault == pgtest.FaultDecline {
		code := sc.DeclineCode
		if code == "" {
			code = "NOT_CANCELABLE_PAYMENT"
		}
		status, ok := testCodes[code]
		if !ok {
			status = http.StatusForbidden
		}
		return errReply(&apiError{status, code, "취소가 거절되었습니다."})
	}
	if present(req.RefundableAmount) {
		guard, err := pg.DecodeAmount(req.RefundableAmount)
		if err != nil {
			return errReply(&apiError{http.StatusBadRequest, "INVALID_REQUEST", "잘못된 환불 가능 금액입니다."})
		}
		if !guard.Equal(p.balance) {
			return errReply(&apiError{http.StatusBadRequest, "NOT_MATCHES_REFUNDABLE_AMOUNT", "잔액 결과가 일치하지 않습니다."})
		}
	}
	waiting := p.status == "WAITING_FOR_DEPOSIT"
	if waiting && present(req.CancelAmount) {
		if a, err := pg.DecodeAmount(req.CancelAmount); err != nil || !a.Equal(p.balance) {
			return errReply(&apiError{http.StatusForbidden, "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT", "입금 대기중인 결제는 부분 환불이 불가합니다."})
		}
	}
	if p.deposited && (req.RefundReceiveAccount == nil || req.RefundReceiveAccount.Bank == "" ||
		req.RefundReceiveAccount.AccountNumber == "" || req.RefundReceiveAccount.HolderName == "") {
		return errReply(&apiError{http.StatusBadRequest, "INVALID_REFUND_ACCOUNT_INFO", "환불 계좌번호와 예금주명이 일치하지 않습니다."})
	}
	amount := p.balance
	if present(req.CancelAmount) {
		a, err := pg.DecodeAmount(req.CancelAmount)
		if err != nil || !a.IsPositive() {
			return errReply(&apiError{http.StatusBadRequest, "INVALID_REQUEST", "잘못된 취소 금액입니다."})
		}
		if _, err := pg.NewMoney(a, p.currency); err != nil {
			return errReply(&apiError{http.StatusBadRequest, "INVALID_REQUEST", "잘못된 취소 금액입니다."})
		}
		if a.GreaterThan(p.balance) {
			return errReply(&apiError{http.StatusForbidden, "NOT_CANCELABLE_AMOUNT", "취소 할 수 없는 금액 입니다."})
		}
		amount = a
	}
	if present(req.TaxFreeAmount) {
		tf, err := pg.DecodeAmount(req.TaxFreeAmount)
		if err != nil || tf.IsNegative() || tf.GreaterThan(amount) {
			return errReply(&apiError{http.StatusBadRequest, "INVALID_REQUEST", "잘못된 면세 금액입니다."})
		}
	}
	p.balance = p.balance.Sub(amount)
	txKey := randomID(32)
	p.cancels = append(p.cancels, cancelRec{amount: amount, refundable: p.balance, reason: req.CancelReason, txKey: txKey, at: now, refund: !waiting})
	p.lastTxKey = txKey
	p.status = "PARTIAL_CANCELED"
	if p.balance.IsZero() {
		p.status = "CANCELED"
	}
	if !waiting {
		s.txs = append(s.txs, transaction{key: txKey, paymentKey: p.key, orderID: p.orderID, method: p.method,
			status: p.status, currency: p.currency, amount: amount, at: now, cancel: true})
	}
	s.newsLocked(p, now)
	return okReply(s.paymentJSONLocked(p))
}

func (s *Sandbox) handleLookup(w http.ResponseWriter, r *http.Request, _ *call) {
	orderID := r.PathValue("orderId")
	if key := r.PathValue("paymentKey"); key != "" {
		orderID = s.orderOf(key)
	}
	sc, _ := s.nextFault(pgtest.OpLookup, orderID)
	switch sc.Fault {
	case pgtest.FaultError500:
		writeError(w, &apiError{http.StatusInternalServerError, "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", "결제가 완료되지 않았어요. 다시 시도해주세요."})
		return
	case pgtest.FaultTimeout, pgtest.FaultTimeoutUnapproved:
		s.lose(w, r, sc)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	var p *payment
	if key := r.PathValue("paymentKey"); key != "" {
		p = s.byKey[key]
	} else {
		p = s.latestLocked(r.PathValue("orderId"))
	}
	if p == nil {
		writeError(w, &apiError{http.StatusNotFound, "NOT_FOUND_PAYMENT", "존재하지 않는 결제 정보 입니다."})
		return
	}
	s.expireLocked(p, now)
	writeReply(w, okReply(s.paymentJSONLocked(p)))
}

func (s *Sandbox) handleTransactions(w http.ResponseWriter, r *http.Request, _ *call) {
	q := r.URL.Query()
	from, err1 := parseQueryTime(q.Get("startDate"))
	to, err2 := parseQueryTime(q.Get("endDate"))
	if err1 != nil || err2 != nil {
		writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", "startDate, endDate는 필수 파라미터입니다."})
		return
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 5000 {
			writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", "limit은 1 이상 5000 이하여야 합니다."})
			return
		}
		limit = n
	}
	after := q.Get("startingAfter")
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []transactionJSON{}
	skipping := after != ""
	for _, t := range s.txs {
		if skipping {
			if t.key == after {
				skipping = false
			}
			continue
		}
		if t.at.Before(from) || t.at.After(to) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, transactionJSON{MID: s.cfg.MID, TransactionKey: t.key, PaymentKey: t.paymentKey, OrderID: t.orderID,
			Method: t.method, CustomerKey: nil, UseEscrow: false, ReceiptURL: s.BaseURL() + "/receipt/" + t.key,
			Status: t.status, TransactionAt: formatTime(t.at), Currency: string(t.currency), Amount: json.Number(t.amount.String())})
	}
	writeReply(w, okReply(out))
}

func (s *Sandbox) handleSettlements(w http.ResponseWriter, r *http.Request, _ *call) {
	q := r.URL.Query()
	from, err1 := time.ParseInLocation("2006-01-02", q.Get("startDate"), kst)
	to, err2 := time.ParseInLocation("2006-01-02", q.Get("endDate"), kst)
	dateType := q.Get("dateType")
	if dateType == "" {
		dateType = "soldDate"
	}
	page, size := 1, 100
	var err3, err4 error
	if v := q.Get("page"); v != "" {
		page, err3 = strconv.Atoi(v)
	}
	if v := q.Get("size"); v != "" {
		size, err4 = strconv.Atoi(v)
	}
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || page < 1 || size < 1 || size > 5000 ||
		(dateType != "soldDate" && dateType != "paidOutDate") {
		writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", "잘못된 요청입니다."})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	today := dateOf(s.cfg.Now())
	var rows []settlementJSON
	for _, t := range s.txs {
		sold := dateOf(t.at)
		if !sold.Before(today) {
			continue // records appear from the day after the payment
		}
		paid := sold.AddDate(0, 0, 2)
		d := sold
		if dateType == "paidOutDate" {
			d = paid
		}
		if d.Before(from) || d.After(to) {
			continue
		}
		amt := t.amount
		fee := amt.Mul(s.cfg.FeeRate).Round(0)
		if t.cancel {
			amt, fee = amt.Neg(), fee.Neg()
		}
		row := settlementJSON{MID: s.cfg.MID, PaymentKey: t.paymentKey, TransactionKey: t.key, OrderID: t.orderID,
			Currency: string(t.currency), Method: t.method, Amount: num(amt), InterestFee: num(decimal.Zero),
			Fee: num(fee), Fees: []feeJSON{{Type: "BASE", Fee: num(fee)}}, SupplyAmount: num(fee.Sub(fee.Div(decimal.NewFromInt(11)).Round(0))),
			Vat: num(fee.Div(decimal.NewFromInt(11)).Round(0)), PayOutAmount: num(amt.Sub(fee)),
			ApprovedAt: formatTime(t.at), SoldDate: sold.Format("2006-01-02"), PaidOutDate: paid.Format("2006-01-02")}
		if s.cfg.OmitSettlementFees {
			row.Fees = nil
		}
		rows = append(rows, row)
	}
	start := (page - 1) * size
	out := []settlementJSON{}
	if start < len(rows) {
		end := min(start+size, len(rows))
		out = rows[start:end]
	}
	writeReply(w, okReply(out))
}

func dateOf(t time.Time) time.Time {
	y, m, d := t.In(kst).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, kst)
}

func parseQueryTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02T15:04:05", s, kst)
}

// paymentJSONLocked writes the payment as Toss answers it.
func (s *Sandbox) paymentJSONLocked(p *payment) paymentJSON {
	vat := p.amount.Div(decimal.NewFromInt(11)).Round(0)
	out := paymentJSON{
		MID: s.cfg.MID, PaymentKey: p.key, OrderID: p.orderID, OrderName: p.orderName,
		TaxExemptionAmount: "0", Status: p.status, RequestedAt: formatTime(p.requestedAt),
		Cancels: nil, Type: "NORMAL", Country: "KR", IsPartialCancelable: true,
		Currency: string(p.currency), TotalAmount: num(p.amount), BalanceAmount: num(p.balance),
		SuppliedAmount: num(p.amount.Sub(vat)), Vat: num(vat), TaxFreeAmount: "0",
		Method: p.method, Version: "2022-11-16", v14: s.cfg.APIVersion == APIVersion14,
		Checkout: &urlJSON{URL: s.BaseURL() + "/checkout/" + p.key},
	}
	if p.va == nil && (p.status == "READY" || p.status == "IN_PROGRESS" || p.status == "EXPIRED") {
		out.Method = ""
	}
	secret := p.secret
	out.Secret = &secret
	if p.lastTxKey != "" {
		k := p.lastTxKey
		out.LastTransactionKey = &k
	}
	if !p.approvedAt.IsZero() {
		a := formatTime(p.approvedAt)
		out.ApprovedAt = &a
		out.Receipt = &urlJSON{URL: s.BaseURL() + "/receipt/" + p.key}
	}
	if !p.approvedAt.IsZero() && p.method != methodVirtualAccount {
		out.Card = &cardJSON{IssuerCode: "61", AcquirerCode: "31", Number: "43301234****123*", ApproveNo: "00000000",
			CardType: "신용", OwnerType: "개인", AcquireStatus: "READY", Amount: num(p.amount)}
	}
	if p.va != nil {
		refund := "NONE"
		if len(p.cancels) > 0 && p.deposited {
			refund = "COMPLETED"
		}
		out.VirtualAccount = map[string]any{
			"accountType": "일반", "accountNumber": p.va.number, "bankCode": p.va.bank,
			"customerName": p.va.holder, "dueDate": formatTime(p.va.due), "refundStatus": refund,
			"expired": p.status == "EXPIRED", "settlementStatus": "INCOMPLETED", "refundReceiveAccount": nil,
		}
	}
	if p.failure != nil {
		out.Failure = &failureJSON{Code: p.failure.code, Message: p.failure.message}
	}
	for _, c := range p.cancels {
		out.Cancels = append(out.Cancels, cancelJSON{
			TransactionKey: c.txKey, CancelReason: c.reason, TaxExemptionAmount: "0", CanceledAt: formatTime(c.at),
			TransferDiscountAmount: "0", EasyPayDiscountAmount: "0", ReceiptKey: "rk_" + c.txKey[:16],
			CancelAmount: num(c.amount), TaxFreeAmount: "0", RefundableAmount: num(c.refundable),
			CardDiscountAmount: "0", CancelStatus: "DONE",
		})
	}
	return out
}
