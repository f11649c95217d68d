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

func (s *Sandbox) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST /v1/payments/confirm", s.api(s.handleConfirm))
	m.HandleFunc("POST /v1/payments/{paymentKey}/cancel", s.api(s.handleCancel))
	m.HandleFunc("POST /v1/virtual-accounts", s.api(s.handleIssueVirtualAccount))
	m.HandleFunc("GET /v1/payments/{paymentKey}", s.api(s.handleLookup))
	m.HandleFunc("GET /v1/payments/orders/{orderId}", s.api(s.handleLookup))
	m.HandleFunc("GET /v1/transactions", s.api(s.handleTransactions))
	m.HandleFunc("GET /v1/settlements", s.api(s.handleSettlements))
	m.HandleFunc("POST /sandbox/pay", s.handlePay)
	m.HandleFunc("POST /sandbox/fail-next", s.handleFailNext)
	m.HandleFunc("POST /sandbox/deposit", s.handleDeposit)
	m.HandleFunc("GET /sandbox/ledger", s.handleLedger)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{http.StatusNotFound, "NOT_FOUND", "존재하지 않는 API입니다."})
	})
	s.mux = m
}

// ServeHTTP serves the Toss API, with or without the BaseURL's path prefix.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.prefix != "" && strings.HasPrefix(r.URL.Path, s.prefix+"/") {
		r2 := r.Clone(r.Context())
		r2.URL.Path = strings.TrimPrefix(r.URL.Path, s.prefix)
		r2.URL.RawPath = ""
		r = r2
	}
	s.mux.ServeHTTP(w, r)
}

// apiError is a Toss error answer {code, message}.
type apiError struct {
	status        int
	code, message string
}

// reply is a complete answer, as stored for idempotent replays.
type reply struct {
	status int
	body   []byte
}

func errReply(e *apiError) reply {
	b, _ := json.Marshal(map[string]string{"code": e.code, "message": e.message})
	return reply{e.status, b}
}

func okReply(v any) reply {
	b, _ := json.Marshal(v)
	return reply{http.StatusOK, b}
}

func writeReply(w http.ResponseWriter, rep reply) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(rep.status)
	_, _ = w.Write(rep.body)
}

func writeError(w http.ResponseWriter, e *apiError) { writeReply(w, errReply(e)) }

// call is one authenticated API request.
type call struct {
	apiKey string
	body   []byte
	next   *Script // a one-shot FailNext script, if this call drew one
}

// api authenticates like Toss, honours TossPayments-Test-Code for test keys,
// draws a FailNext script and adds the configured latency.
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
		s.mu.Lock()
		latency := s.latency
		var next *Script
		if len(s.next) > 0 {
			sc := s.next[0]
			s.next = s.next[1:]
			next = &sc
		}
		s.mu.Unlock()
		if !sleep(r.Context(), latency) {
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
		h(w, r, &call{apiKey: key, body: body, next: next})
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
	if key != s.opts.SecretKey {
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
// reset, never the result. With sc.Reset it cuts at once. Where the ResponseWriter cannot be hijacked (an
// HTTP/2 connection, a wrapping middleware) the handler is aborted with
// http.ErrAbortHandler, which net/http turns into a reset.
func (s *Sandbox) lose(w http.ResponseWriter, r *http.Request, sc Script) {
	if !sc.Reset {
		t := time.NewTimer(s.opts.HoldMax)
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
	now := s.opts.Now()
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

type confirmRequest struct {
	PaymentKey string          `json:"paymentKey"`
	OrderID    string          `json:"orderId"`
	Amount     json.RawMessage `json:"amount"`
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
	if c.next != nil {
		sc = *c.next
	}
	if !s.preFault(w, r, sc) {
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
	now := s.opts.Now()
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

// issueRequest is POST /v1/virtual-accounts. Toss took the orderId of a
// live issue as a JSON number (71); a string or a number is read.
type issueRequest struct {
	Amount       json.RawMessage `json:"amount"`
	OrderID      json.RawMessage `json:"orderId"`
	OrderName    string          `json:"orderName"`
	CustomerName string          `json:"customerName"`
	Bank         string          `json:"bank"`
	ValidHours   int             `json:"validHours"`
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

type cancelRequest struct {
	CancelReason         string          `json:"cancelReason"`
	CancelAmount         json.RawMessage `json:"cancelAmount"`
	RefundableAmount     json.RawMessage `json:"refundableAmount"`
	TaxFreeAmount        json.RawMessage `json:"taxFreeAmount"`
	Currency             string          `json:"currency"`
	RefundReceiveAccount *struct {
		Bank          string `json:"bank"`
		AccountNumber string `json:"accountNumber"`
		HolderName    string `json:"holderName"`
	} `json:"refundReceiveAccount"`
}

func present(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

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
	sc := Script{}
	if c.next != nil {
		sc = *c.next
	}
	if !s.preFault(w, r, sc) {
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
	now := s.opts.Now()
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

func (s *Sandbox) handleLookup(w http.ResponseWriter, r *http.Request, c *call) {
	if c.next != nil {
		if !sleep(r.Context(), c.next.Latency) {
			return
		}
		switch c.next.Fault {
		case pgtest.FaultError500:
			writeError(w, &apiError{http.StatusInternalServerError, "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", "결제가 완료되지 않았어요. 다시 시도해주세요."})
			return
		case pgtest.FaultTimeout, pgtest.FaultTimeoutUnapproved:
			s.lose(w, r, *c.next)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
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
		out = append(out, transactionJSON{MID: s.opts.MID, TransactionKey: t.key, PaymentKey: t.paymentKey, OrderID: t.orderID,
			Method: t.method, CustomerKey: nil, UseEscrow: false, ReceiptURL: s.opts.BaseURL + "/receipt/" + t.key,
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
	today := dateOf(s.opts.Now())
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
		fee := amt.Mul(s.opts.FeeRate).Round(0)
		if t.cancel {
			amt, fee = amt.Neg(), fee.Neg()
		}
		row := settlementJSON{MID: s.opts.MID, PaymentKey: t.paymentKey, TransactionKey: t.key, OrderID: t.orderID,
			Currency: string(t.currency), Method: t.method, Amount: num(amt), InterestFee: num(decimal.Zero),
			Fee: num(fee), Fees: []feeJSON{{Type: "BASE", Fee: num(fee)}}, SupplyAmount: num(fee.Sub(fee.Div(decimal.NewFromInt(11)).Round(0))),
			Vat: num(fee.Div(decimal.NewFromInt(11)).Round(0)), PayOutAmount: num(amt.Sub(fee)),
			ApprovedAt: formatTime(t.at), SoldDate: sold.Format("2006-01-02"), PaidOutDate: paid.Format("2006-01-02")}
		if s.opts.OmitSettlementFees {
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

// payRequestJSON is POST /sandbox/pay: the buyer in the payment window.
type payRequestJSON struct {
	OrderID     string          `json:"orderId"`
	Amount      json.RawMessage `json:"amount"`
	Currency    string          `json:"currency"`
	Fault       string          `json:"fault"`
	DeclineCode string          `json:"declineCode"`
	LatencyMS   int             `json:"latencyMs"`
	// Reset cuts a lost answer's connection at once (Script.Reset).
	Reset bool `json:"reset"`
	// Method "VIRTUAL_ACCOUNT" pays by virtual account; anything else by card.
	Method string `json:"method"`
}

func (s *Sandbox) handlePay(w http.ResponseWriter, r *http.Request) {
	var req payRequestJSON
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", "body must be {orderId, amount}"})
		return
	}
	cur := pg.Currency(req.Currency)
	if cur == "" {
		cur = pg.KRW
	}
	d, err := pg.DecodeAmount(req.Amount)
	if err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", err.Error()})
		return
	}
	amount, err := pg.NewMoney(d, cur)
	if err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", err.Error()})
		return
	}
	sc := Script{Fault: pgtest.Fault(req.Fault), DeclineCode: req.DeclineCode, Latency: time.Duration(req.LatencyMS) * time.Millisecond, Reset: req.Reset}
	method := "카드"
	if req.Method == "VIRTUAL_ACCOUNT" || req.Method == methodVirtualAccount {
		method = methodVirtualAccount
	}
	res, err := s.pay(r.Context(), req.OrderID, amount, sc, method)
	if err != nil {
		code := "INVALID_REQUEST"
		if err == ErrDuplicatedOrder {
			code = "DUPLICATED_ORDER_ID"
		}
		writeError(w, &apiError{http.StatusBadRequest, code, err.Error()})
		return
	}
	writeReply(w, okReply(map[string]any{"paymentKey": res.PaymentKey, "orderId": req.OrderID, "amount": json.Number(d.String())}))
}

func (s *Sandbox) handleFailNext(w http.ResponseWriter, r *http.Request) {
	var req payRequestJSON
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", "body must be {fault}"})
		return
	}
	if err := s.FailNext(Script{Fault: pgtest.Fault(req.Fault), DeclineCode: req.DeclineCode, Latency: time.Duration(req.LatencyMS) * time.Millisecond, Reset: req.Reset}); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", err.Error()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) handleDeposit(w http.ResponseWriter, r *http.Request) {
	var req payRequestJSON
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", "body must be {orderId}"})
		return
	}
	if err := s.Deposit(req.OrderID); err != nil {
		writeError(w, &apiError{http.StatusBadRequest, "INVALID_REQUEST", err.Error()})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sandbox) handleLedger(w http.ResponseWriter, _ *http.Request) {
	type entry struct {
		OrderID    string      `json:"orderId"`
		PaymentKey string      `json:"paymentKey"`
		Approved   json.Number `json:"approved"`
		Canceled   json.Number `json:"canceled"`
		Currency   string      `json:"currency"`
		Approvals  int         `json:"approvals"`
		Cancels    int         `json:"cancels"`
		Status     string      `json:"status"`
	}
	out := []entry{}
	for _, e := range s.Ledger() {
		approved := "0"
		if e.Approved.IsSet() {
			approved = e.Approved.Amount().String()
		}
		out = append(out, entry{e.OrderID, e.PaymentKey, json.Number(approved), json.Number(e.Canceled.Amount().String()),
			string(e.Canceled.Currency()), e.Approvals, e.Cancels, string(e.Status)})
	}
	writeReply(w, okReply(out))
}

// testCodes gives the HTTP status of each error code a test key may ask
// for with TossPayments-Test-Code (pg-apis.md 1.7).
var testCodes = map[string]int{
	"ALREADY_PROCESSED_PAYMENT": 400, "PROVIDER_ERROR": 400, "EXCEED_MAX_CARD_INSTALLMENT_PLAN": 400,
	"INVALID_REQUEST": 400, "NOT_ALLOWED_POINT_USE": 400, "INVALID_API_KEY": 400, "INVALID_REJECT_CARD": 400,
	"BELOW_MINIMUM_AMOUNT": 400, "INVALID_CARD_EXPIRATION": 400, "INVALID_STOPPED_CARD": 400,
	"EXCEED_MAX_DAILY_PAYMENT_COUNT": 400, "NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT": 400,
	"INVALID_CARD_INSTALLMENT_PLAN": 400, "NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN": 400,
	"EXCEED_MAX_PAYMENT_AMOUNT": 400, "NOT_FOUND_TERMINAL_ID": 400, "INVALID_AUTHORIZE_AUTH": 400,
	"INVALID_CARD_LOST_OR_STOLEN": 400, "RESTRICTED_TRANSFER_ACCOUNT": 400, "INVALID_CARD_NUMBER": 400,
	"INVALID_UNREGISTERED_SUBMALL": 400, "NOT_REGISTERED_BUSINESS": 400, "EXCEED_MAX_ONE_DAY_WITHDRAW_AMOUNT": 400,
	"EXCEED_MAX_ONE_TIME_WITHDRAW_AMOUNT": 400, "CARD_PROCESSING_ERROR": 400, "EXCEED_MAX_AMOUNT": 400,
	"INVALID_ACCOUNT_INFO_RE_REGISTER": 400, "NOT_AVAILABLE_PAYMENT": 400, "UNAPPROVED_ORDER_ID": 400,
	"EXCEED_MAX_MONTHLY_PAYMENT_AMOUNT": 400, "UNAUTHORIZED_KEY": 401,
	"REJECT_CARD_PAYMENT": 403, "REJECT_CARD_COMPANY": 403, "FORBIDDEN_REQUEST": 403, "REJECT_ACCOUNT_PAYMENT": 403,
	"REJECT_TOSSPAY_INVALID_ACCOUNT": 403, "EXCEED_MAX_AUTH_COUNT": 403, "EXCEED_MAX_ONE_DAY_AMOUNT": 403,
	"NOT_AVAILABLE_BANK": 403, "INVALID_PASSWORD": 403, "INCORRECT_BASIC_AUTH_FORMAT": 403, "FDS_ERROR": 403,
	"NOT_FOUND_PAYMENT": 404, "NOT_FOUND_PAYMENT_SESSION": 404, "NOT_FOUND": 404,
	"FAILED_INTERNAL_SYSTEM_PROCESSING": 500, "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING": 500, "UNKNOWN_PAYMENT_ERROR": 500,
	"NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN_BELOW_AMOUNT": 400, "FORBIDDEN_CONSECUTIVE_REQUEST": 403,
	"ALREADY_CANCELED_PAYMENT": 400, "INVALID_REFUND_ACCOUNT_INFO": 400, "EXCEED_CANCEL_AMOUNT_DISCOUNT_AMOUNT": 400,
	"INVALID_REFUND_ACCOUNT_NUMBER": 400, "INVALID_BANK": 400, "NOT_MATCHES_REFUNDABLE_AMOUNT": 400,
	"REFUND_REJECTED": 400, "ALREADY_REFUND_PAYMENT": 400, "FORBIDDEN_BANK_REFUND_REQUEST": 400,
	"NOT_CANCELABLE_AMOUNT": 403, "NOT_CANCELABLE_PAYMENT": 403, "EXCEED_MAX_REFUND_DUE": 403,
	"NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT": 403, "NOT_ALLOWED_PARTIAL_REFUND": 403,
	"NOT_CANCELABLE_PAYMENT_FOR_DORMANT_USER": 403, "EXCEED_CANCEL_LIMIT": 403,
	"FAILED_REFUND_PROCESS": 500, "FAILED_PARTIAL_REFUND": 500, "FAILED_METHOD_HANDLING_CANCEL": 500, "COMMON_ERROR": 500,
	"DUPLICATED_ORDER_ID": 400, "DUPLICATED_REQUEST": 400, "ALREADY_COMPLETED_PAYMENT": 400, "ALREADY_REFUNDING_PAYMENT": 400,
	"INVALID_ORDER_ID": 400, "API_VERSION_UPDATE_NEEDED": 400, "MAINTAINED_METHOD": 400,
	"PAY_PROCESS_CANCELED": 400, "PAY_PROCESS_ABORTED": 400, "EXCEED_MAX_REFUND_AMOUNT": 403,
	"NOT_FOUND_BILLING": 404, "NOT_FOUND_MERCHANT": 404, "FAILED_DB_PROCESSING": 500, "FAILED_METHOD_HANDLING": 500,
	"UNKNOWN_ERROR": 500, "FAILED_BILLING_AUTO_CANCEL": 500, "IDEMPOTENT_REQUEST_PROCESSING": 409,
	"INVALID_IDEMPOTENCY_KEY": 400,
}
