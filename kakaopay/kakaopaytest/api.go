package kakaopaytest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

func (s *Sandbox) routes() {
	m := http.NewServeMux()
	for _, op := range []string{"ready", "approve", "order", "cancel"} {
		m.HandleFunc("POST /online/v1/payment/"+op, s.apiHandler(apiCurrent, op))
		m.HandleFunc("POST /v1/payment/"+op, s.apiHandler(apiLegacy, op))
	}
	// The legacy lookup also answers GET with the parameters in the query.
	m.HandleFunc("GET /v1/payment/order", s.apiHandler(apiLegacy, "order"))
	m.HandleFunc("POST /pay", s.handlePay)
	m.HandleFunc("GET /v1/{window}/{view}", s.handleWindow)
	m.HandleFunc("POST /v1/{window}/pay", s.handleWindowPay)
	s.mux = m
}

// ServeHTTP serves the API, with the path prefix of Options.BaseURL removed
// when the request still carries it.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.prefix != "" {
		if rest, ok := strings.CutPrefix(r.URL.Path, s.prefix); ok && (rest == "" || rest[0] == '/') {
			r2 := new(http.Request)
			*r2 = *r
			u := *r.URL
			u.Path, u.RawPath = rest, ""
			r2.URL = &u
			r = r2
		}
	}
	s.mux.ServeHTTP(w, r)
}

// reply is what an API operation answers.
type reply struct {
	body any
	err  *apiError
	// drop loses the response: the connection is cut with nothing written,
	// as when the PG's answer never makes it back.
	drop bool
}

func (s *Sandbox) apiHandler(a api, op string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if e := s.authorize(r, a); e != nil {
			e.write(w, a)
			return
		}
		p, e := readParams(w, r, a)
		if e != nil {
			e.write(w, a)
			return
		}
		// The delay follows reading the body: only then does net/http watch
		// the connection and end the context when the client gives up.
		if err := s.delay(r.Context()); err != nil {
			return
		}
		cid, e := p.text("cid", 10)
		if e != nil {
			e.write(w, a)
			return
		}
		if !s.cids[cid] {
			(&apiError{status: http.StatusBadRequest, code: codeInvalidCID, msg: "invalid cid"}).write(w, a)
			return
		}
		var rep reply
		switch op {
		case "ready":
			rep = s.ready(cid, p)
		case "approve":
			rep = s.approve(cid, p)
		case "order":
			rep = s.order(cid, p)
		case "cancel":
			rep = s.cancel(cid, p)
		}
		switch {
		case rep.drop:
			dropResponse(w)
		case rep.err != nil:
			rep.err.write(w, a)
		default:
			writeJSON(w, http.StatusOK, rep.body)
		}
	}
}

// delay waits the configured latency, or until the client gives up.
func (s *Sandbox) delay(ctx context.Context) error {
	d := time.Duration(s.latency.Load())
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Sandbox) authorize(r *http.Request, a api) *apiError {
	scheme, key := "SECRET_KEY ", s.secretKey
	if a == apiLegacy {
		scheme, key = "KakaoAK ", s.adminKey
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), scheme)
	if !ok || got != key {
		return &apiError{status: http.StatusUnauthorized, code: codeUnauthorized, msg: "invalid authorization: expected " + strings.TrimSpace(scheme) + " with a valid key"}
	}
	return nil
}

// dropResponse cuts the connection without answering. Behind a
// ResponseWriter that cannot be hijacked (HTTP/2, some middleware) it aborts
// the handler, which net/http turns into a reset stream or closed
// connection.
func dropResponse(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

type amountJSON struct {
	Total        int64 `json:"total"`
	TaxFree      int64 `json:"tax_free"`
	VAT          int64 `json:"vat"`
	Point        int64 `json:"point"`
	Discount     int64 `json:"discount"`
	GreenDeposit int64 `json:"green_deposit"`
}

type readyResponse struct {
	TID                   string `json:"tid"`
	NextRedirectAppURL    string `json:"next_redirect_app_url"`
	NextRedirectMobileURL string `json:"next_redirect_mobile_url"`
	NextRedirectPCURL     string `json:"next_redirect_pc_url"`
	AndroidAppScheme      string `json:"android_app_scheme"`
	IOSAppScheme          string `json:"ios_app_scheme"`
	CreatedAt             string `json:"created_at"`
}

func (s *Sandbox) ready(cid string, p params) reply {
	pm := &payment{cid: cid, status: StatusReady, createdAt: s.now()}
	var e *apiError
	for _, f := range []struct {
		dst  *string
		name string
		max  int
	}{
		{&pm.partnerOrderID, "partner_order_id", 100},
		{&pm.partnerUserID, "partner_user_id", 100},
		{&pm.itemName, "item_name", 100},
		{&pm.approvalURL, "approval_url", 255},
		{&pm.cancelURL, "cancel_url", 255},
		{&pm.failURL, "fail_url", 255},
	} {
		if *f.dst, e = p.text(f.name, f.max); e != nil {
			return reply{err: e}
		}
	}
	if pm.itemCode, e = p.optText("item_code", 100); e != nil {
		return reply{err: e}
	}
	for _, u := range []string{pm.approvalURL, pm.cancelURL, pm.failURL} {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return reply{err: errParam("redirect URL %q must be an absolute http(s) URL", u)}
		}
	}
	var vatSet bool
	if pm.quantity, _, e = p.integer("quantity", true); e != nil {
		return reply{err: e}
	}
	if pm.total, _, e = p.integer("total_amount", true); e != nil {
		return reply{err: e}
	}
	if pm.taxFree, _, e = p.integer("tax_free_amount", true); e != nil {
		return reply{err: e}
	}
	if pm.vat, vatSet, e = p.integer("vat_amount", false); e != nil {
		return reply{err: e}
	}
	switch {
	case pm.quantity < 1:
		return reply{err: errParam("quantity must be at least 1")}
	case pm.total < 1:
		return reply{err: errParam("total_amount must be positive")}
	case pm.taxFree > pm.total:
		return reply{err: errParam("tax_free_amount exceeds total_amount")}
	case vatSet && pm.vat > pm.total-pm.taxFree:
		return reply{err: errParam("vat_amount exceeds the taxable amount")}
	}
	if !vatSet {
		pm.vat = vatOf(pm.total, pm.taxFree)
	}

	s.mu.Lock()
	for {
		pm.tid = newID("T")
		if s.byTID[pm.tid] == nil {
			break
		}
	}
	pm.window = randomHex(10)
	pm.seq = len(s.all)
	s.byTID[pm.tid] = pm
	s.byWindow[pm.window] = pm
	s.all = append(s.all, pm)
	s.mu.Unlock()

	win := s.base + "/v1/" + pm.window
	scheme := "kakaotalk://kakaopay/pg?url=" + url.QueryEscape(win+"/aInfo")
	return reply{body: readyResponse{
		TID:                   pm.tid,
		NextRedirectAppURL:    win + "/aInfo",
		NextRedirectMobileURL: win + "/mInfo",
		NextRedirectPCURL:     win + "/info",
		AndroidAppScheme:      scheme,
		IOSAppScheme:          scheme,
		CreatedAt:             stamp(pm.createdAt),
	}}
}

type cardInfoJSON struct {
	KakaopayPurchaseCorp     string `json:"kakaopay_purchase_corp"`
	KakaopayPurchaseCorpCode string `json:"kakaopay_purchase_corp_code"`
	KakaopayIssuerCorp       string `json:"kakaopay_issuer_corp"`
	KakaopayIssuerCorpCode   string `json:"kakaopay_issuer_corp_code"`
	Bin                      string `json:"bin"`
	CardType                 string `json:"card_type"`
	InstallMonth             string `json:"install_month"`
	ApprovedID               string `json:"approved_id"`
	CardMID                  string `json:"card_mid"`
	InterestFreeInstall      string `json:"interest_free_install"`
	InstallmentType          string `json:"installment_type"`
	CardItemCode             string `json:"card_item_code"`
}

type approveResponse struct {
	AID               string        `json:"aid"`
	TID               string        `json:"tid"`
	CID               string        `json:"cid"`
	PartnerOrderID    string        `json:"partner_order_id"`
	PartnerUserID     string        `json:"partner_user_id"`
	PaymentMethodType string        `json:"payment_method_type"`
	Amount            amountJSON    `json:"amount"`
	CardInfo          *cardInfoJSON `json:"card_info,omitempty"`
	ItemName          string        `json:"item_name"`
	ItemCode          string        `json:"item_code,omitempty"`
	Quantity          int64         `json:"quantity"`
	CreatedAt         string        `json:"created_at"`
	ApprovedAt        string        `json:"approved_at"`
	Payload           string        `json:"payload,omitempty"`
}

// lookupLocked finds the cid's tid.
func (s *Sandbox) lookupLocked(cid, tid string) (*payment, *apiError) {
	pm := s.byTID[tid]
	if pm == nil || pm.cid != cid {
		return nil, &apiError{status: http.StatusBadRequest, code: codeTIDNotFound, msg: "tid not found"}
	}
	return pm, nil
}

func (s *Sandbox) approve(cid string, p params) reply {
	tid, e := p.text("tid", 20)
	if e != nil {
		return reply{err: e}
	}
	orderID, e := p.text("partner_order_id", 100)
	if e != nil {
		return reply{err: e}
	}
	userID, e := p.text("partner_user_id", 100)
	if e != nil {
		return reply{err: e}
	}
	token, e := p.text("pg_token", 100)
	if e != nil {
		return reply{err: e}
	}
	payload, e := p.optText("payload", 200)
	if e != nil {
		return reply{err: e}
	}
	total, totalSet, e := p.integer("total_amount", false)
	if e != nil {
		return reply{err: e}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	pm, e := s.lookupLocked(cid, tid)
	if e != nil {
		return reply{err: e}
	}
	// A tid of another order (or buyer) is refused before its status is
	// looked at: an approved tid of order A must not answer order B with
	// -702 "already approved", which reads as B's approval. -706 and -707
	// come from the legacy error table as integrators quote it; KakaoPay
	// documents no code for this refusal on the current API (pg-apis.md
	// 2.5 confirms only -780).
	switch {
	case pm.partnerOrderID != orderID:
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeOrderMismatch, msg: "partner_order_id differs from the ready request"}}
	case pm.partnerUserID != userID:
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeUserMismatch, msg: "partner_user_id differs from the ready request"}}
	}
	if pm.approved() {
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeAlreadyApproved, msg: "payment already approved"}}
	}
	if s.expireLocked(pm, s.now()) {
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeExpired, msg: "payment time expired"}}
	}
	switch pm.status {
	case StatusAuthPassword:
	case StatusFailPayment:
		return reply{err: declined()}
	case StatusReady:
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeNotAuthenticated, msg: "payment not authenticated by the user"}}
	default:
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeNotAuthenticated, msg: "payment cannot be approved in status " + pm.status}}
	}
	if token != pm.pgToken {
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeInvalidPGToken, msg: "invalid pg_token"}}
	}
	if totalSet && total != pm.total {
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeAmountMismatch, msg: "total_amount differs from the ready request"}}
	}

	fault := pm.fault
	pm.fault = pgtest.FaultNone
	switch fault {
	case pgtest.FaultDecline:
		pm.status = StatusFailPayment
		return reply{err: declined()}
	case pgtest.FaultError500:
		return reply{err: &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: "internal server error"}}
	case pgtest.FaultTimeoutUnapproved:
		return reply{drop: true}
	}

	now := s.now()
	pm.status = StatusSuccessPayment
	pm.approvedAt = now
	pm.approvals++
	aid := newID("A")
	pm.actions = append(pm.actions, action{aid: aid, kind: "PAYMENT", amount: pm.total, at: now, payload: payload})
	if fault == pgtest.FaultTimeout {
		return reply{drop: true}
	}
	resp := approveResponse{
		AID: aid, TID: pm.tid, CID: pm.cid,
		PartnerOrderID: pm.partnerOrderID, PartnerUserID: pm.partnerUserID,
		PaymentMethodType: pm.methodType,
		Amount:            amountJSON{Total: pm.total, TaxFree: pm.taxFree, VAT: pm.vat},
		ItemName:          pm.itemName, ItemCode: pm.itemCode, Quantity: pm.quantity,
		CreatedAt: stamp(pm.createdAt), ApprovedAt: stamp(now), Payload: payload,
	}
	if pm.methodType == "CARD" {
		resp.CardInfo = &cardInfoJSON{
			KakaopayPurchaseCorp: "비씨카드", KakaopayPurchaseCorpCode: "104",
			KakaopayIssuerCorp: "수협은행", KakaopayIssuerCorpCode: "212",
			Bin: "621640", CardType: "체크", InstallMonth: "00",
			ApprovedID: aid[len(aid)-8:], CardMID: "123456789",
			InterestFreeInstall: "N", InstallmentType: "CARD_INSTALLMENT",
		}
	}
	return reply{body: resp}
}

// declined is the approval failure KakaoPay answers when the card company
// or money account refuses.
func declined() *apiError {
	return &apiError{
		status: http.StatusBadRequest, code: codeApprovalFailure, msg: "approval failure!",
		extras: map[string]string{
			"method_result_code":    "REJECT_CARD",
			"method_result_message": "카드사 승인이 거절되었습니다.",
		},
	}
}

type selectedCardJSON struct {
	CardBin             string `json:"card_bin"`
	InstallMonth        int64  `json:"install_month"`
	InstallmentType     string `json:"installment_type"`
	CardCorpName        string `json:"card_corp_name"`
	InterestFreeInstall string `json:"interest_free_install"`
}

type actionJSON struct {
	AID        string `json:"aid"`
	ApprovedAt string `json:"approved_at"`
	// Amount is left out under Options.OmitActionAmounts.
	Amount            *int64 `json:"amount,omitempty"`
	PointAmount       int64  `json:"point_amount"`
	DiscountAmount    int64  `json:"discount_amount"`
	GreenDeposit      int64  `json:"green_deposit"`
	PaymentActionType string `json:"payment_action_type"`
	Payload           string `json:"payload"`
}

type orderResponse struct {
	TID                   string            `json:"tid"`
	CID                   string            `json:"cid"`
	Status                string            `json:"status"`
	PartnerOrderID        string            `json:"partner_order_id"`
	PartnerUserID         string            `json:"partner_user_id"`
	PaymentMethodType     string            `json:"payment_method_type,omitempty"`
	Amount                amountJSON        `json:"amount"`
	CanceledAmount        amountJSON        `json:"canceled_amount"`
	CancelAvailableAmount amountJSON        `json:"cancel_available_amount"`
	ItemName              string            `json:"item_name"`
	ItemCode              string            `json:"item_code,omitempty"`
	Quantity              int64             `json:"quantity"`
	CreatedAt             string            `json:"created_at"`
	ApprovedAt            string            `json:"approved_at,omitempty"`
	CanceledAt            string            `json:"canceled_at,omitempty"`
	SelectedCardInfo      *selectedCardJSON `json:"selected_card_info,omitempty"`
	PaymentActionDetails  []actionJSON      `json:"payment_action_details"`
}

func (s *Sandbox) order(cid string, p params) reply {
	tid, e := p.text("tid", 20)
	if e != nil {
		return reply{err: e}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pm, e := s.lookupLocked(cid, tid)
	if e != nil {
		return reply{err: e}
	}
	s.expireLocked(pm, s.now())
	resp := orderResponse{
		TID: pm.tid, CID: pm.cid, Status: pm.status,
		PartnerOrderID: pm.partnerOrderID, PartnerUserID: pm.partnerUserID,
		Amount:   amountJSON{Total: pm.total, TaxFree: pm.taxFree, VAT: pm.vat},
		ItemName: pm.itemName, ItemCode: pm.itemCode, Quantity: pm.quantity,
		CreatedAt: stamp(pm.createdAt), ApprovedAt: stamp(pm.approvedAt), CanceledAt: stamp(pm.canceledAt),
		PaymentActionDetails: []actionJSON{},
	}
	if pm.status != StatusReady {
		resp.PaymentMethodType = pm.methodType
	}
	if pm.approved() {
		resp.CanceledAmount = pm.canceledAmount()
		resp.CancelAvailableAmount = pm.availableAmount()
	}
	if pm.methodType == "CARD" && pm.status != StatusReady {
		resp.SelectedCardInfo = &selectedCardJSON{
			CardBin: "621640", InstallMonth: 0, InstallmentType: "CARD_INSTALLMENT",
			CardCorpName: "수협은행", InterestFreeInstall: "N",
		}
	}
	for _, a := range pm.actions {
		aj := actionJSON{AID: a.aid, ApprovedAt: stamp(a.at), PaymentActionType: a.kind, Payload: a.payload}
		if !s.noAmounts {
			amount := a.amount
			aj.Amount = &amount
		}
		resp.PaymentActionDetails = append(resp.PaymentActionDetails, aj)
	}
	return reply{body: resp}
}

func (pm *payment) canceledAmount() amountJSON {
	return amountJSON{Total: pm.canceled, TaxFree: pm.canceledTaxFree, VAT: pm.canceledVAT}
}

func (pm *payment) availableAmount() amountJSON {
	return amountJSON{Total: pm.remaining(), TaxFree: pm.taxFree - pm.canceledTaxFree, VAT: pm.vat - pm.canceledVAT}
}

type cancelResponse struct {
	AID                   string     `json:"aid"`
	TID                   string     `json:"tid"`
	CID                   string     `json:"cid"`
	Status                string     `json:"status"`
	PartnerOrderID        string     `json:"partner_order_id"`
	PartnerUserID         string     `json:"partner_user_id"`
	PaymentMethodType     string     `json:"payment_method_type"`
	Amount                amountJSON `json:"amount"`
	ApprovedCancelAmount  amountJSON `json:"approved_cancel_amount"`
	CanceledAmount        amountJSON `json:"canceled_amount"`
	CancelAvailableAmount amountJSON `json:"cancel_available_amount"`
	ItemName              string     `json:"item_name"`
	ItemCode              string     `json:"item_code,omitempty"`
	Quantity              int64      `json:"quantity"`
	CreatedAt             string     `json:"created_at"`
	ApprovedAt            string     `json:"approved_at"`
	CanceledAt            string     `json:"canceled_at"`
	Payload               string     `json:"payload,omitempty"`
}

func (s *Sandbox) cancel(cid string, p params) reply {
	tid, e := p.text("tid", 20)
	if e != nil {
		return reply{err: e}
	}
	amount, _, e := p.integer("cancel_amount", true)
	if e != nil {
		return reply{err: e}
	}
	taxFree, _, e := p.integer("cancel_tax_free_amount", true)
	if e != nil {
		return reply{err: e}
	}
	vat, vatSet, e := p.integer("cancel_vat_amount", false)
	if e != nil {
		return reply{err: e}
	}
	guard, guardSet, e := p.integer("cancel_available_amount", false)
	if e != nil {
		return reply{err: e}
	}
	payload, e := p.optText("payload", 200)
	if e != nil {
		return reply{err: e}
	}
	switch {
	case amount < 1:
		return reply{err: errParam("cancel_amount must be positive")}
	case taxFree > amount:
		return reply{err: errParam("cancel_tax_free_amount exceeds cancel_amount")}
	case vatSet && vat > amount-taxFree:
		return reply{err: errParam("cancel_vat_amount exceeds the taxable cancel amount")}
	}
	if !vatSet {
		vat = vatOf(amount, taxFree)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	pm, e := s.lookupLocked(cid, tid)
	if e != nil {
		return reply{err: e}
	}
	switch pm.status {
	case StatusSuccessPayment, StatusPartCancelPayment:
	case StatusCancelPayment:
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeCancelExceeds, msg: "payment already canceled"}}
	default:
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeCancelFailure, msg: "payment not approved: cannot cancel in status " + pm.status}}
	}
	if guardSet && guard != pm.remaining() {
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeCancelExceeds, msg: "cancel_available_amount does not match the cancelable amount"}}
	}
	if amount > pm.remaining() {
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeCancelExceeds, msg: "cancel_amount exceeds the cancelable amount"}}
	}
	if taxFree > pm.taxFree-pm.canceledTaxFree {
		return reply{err: errParam("cancel_tax_free_amount exceeds the cancelable tax free amount")}
	}

	fault := s.cancelFaults[pm.partnerOrderID]
	delete(s.cancelFaults, pm.partnerOrderID)
	switch fault {
	case pgtest.FaultDecline:
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeCancelFailure, msg: "cancel failure!"}}
	case pgtest.FaultError500:
		return reply{err: &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: "internal server error"}}
	case pgtest.FaultTimeoutUnapproved:
		return reply{drop: true}
	}

	now := s.now()
	pm.canceled += amount
	pm.canceledTaxFree += taxFree
	pm.canceledVAT += min(vat, pm.vat-pm.canceledVAT)
	pm.canceledAt = now
	pm.cancels++
	if pm.remaining() == 0 {
		pm.status = StatusCancelPayment
	} else {
		pm.status = StatusPartCancelPayment
	}
	aid := newID("A")
	pm.actions = append(pm.actions, action{aid: aid, kind: "CANCEL", amount: amount, at: now, payload: payload})
	if fault == pgtest.FaultTimeout {
		return reply{drop: true}
	}
	return reply{body: cancelResponse{
		AID: aid, TID: pm.tid, CID: pm.cid, Status: pm.status,
		PartnerOrderID: pm.partnerOrderID, PartnerUserID: pm.partnerUserID,
		PaymentMethodType:     pm.methodType,
		Amount:                amountJSON{Total: pm.total, TaxFree: pm.taxFree, VAT: pm.vat},
		ApprovedCancelAmount:  amountJSON{Total: amount, TaxFree: taxFree, VAT: vat},
		CanceledAmount:        pm.canceledAmount(),
		CancelAvailableAmount: pm.availableAmount(),
		ItemName:              pm.itemName, ItemCode: pm.itemCode, Quantity: pm.quantity,
		CreatedAt: stamp(pm.createdAt), ApprovedAt: stamp(pm.approvedAt), CanceledAt: stamp(now),
		Payload: payload,
	}}
}

// payRequest is the body of POST /pay.
type payRequest struct {
	OrderID string          `json:"orderId"`
	Amount  json.RawMessage `json:"amount"`
	Fault   pgtest.Fault    `json:"fault"`
	Method  string          `json:"method"`
}

// handlePay plays the buyer over HTTP: POST /pay
// {"orderId", "amount"?, "fault"?, "method"?: "CARD"|"MONEY"} answers
// {"redirect": {"pg_token"}, "redirectUrl"} like Pay.
func (s *Sandbox) handlePay(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	var req payRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		payError(w, http.StatusBadRequest, "INVALID_REQUEST", "body: "+err.Error())
		return
	}
	if req.OrderID == "" {
		payError(w, http.StatusBadRequest, "INVALID_REQUEST", "orderId is required")
		return
	}
	var amount pg.Money
	if len(req.Amount) > 0 && string(req.Amount) != "null" {
		d, err := pg.DecodeAmount(req.Amount)
		if err == nil {
			amount, err = pg.NewMoney(d, pg.KRW)
		}
		if err != nil {
			payError(w, http.StatusBadRequest, "INVALID_REQUEST", "amount: "+err.Error())
			return
		}
	}
	if req.Method == "" {
		req.Method = "CARD"
	}
	tok, redirect, err := s.pay(req.OrderID, amount, req.Fault, req.Method)
	switch {
	case errors.Is(err, ErrNoPayment):
		payError(w, http.StatusNotFound, "NOT_FOUND", err.Error())
	case errors.Is(err, ErrExpired):
		payError(w, http.StatusConflict, "EXPIRED", err.Error())
	case errors.Is(err, ErrAmount):
		payError(w, http.StatusUnprocessableEntity, "AMOUNT_MISMATCH", err.Error())
	case err != nil:
		payError(w, http.StatusBadRequest, "INVALID_REQUEST", err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]any{
			"redirect":    map[string]string{"pg_token": tok},
			"redirectUrl": redirect,
		})
	}
}

func payError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"success": false, "error": map[string]string{"code": code, "message": msg}})
}
