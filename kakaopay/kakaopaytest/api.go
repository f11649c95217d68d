package kakaopaytest

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paygate/paygate/pg/pgtest"
)

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
			s.lose(w, r)
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
	scheme, key := "SECRET_KEY ", s.cfg.SecretKey
	if a == apiLegacy {
		scheme, key = "KakaoAK ", s.cfg.AdminKey
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), scheme)
	if !ok || got != key {
		return &apiError{status: http.StatusUnauthorized, code: codeUnauthorized, msg: "invalid authorization: expected " + strings.TrimSpace(scheme) + " with a valid key"}
	}
	return nil
}

// lose withholds the answer until the client gives up or Config.HoldMax
// passes (at once without a HoldMax), then cuts the connection without
// answering. Behind a ResponseWriter that cannot be hijacked (HTTP/2, some
// middleware) it aborts the handler, which net/http turns into a reset
// stream or closed connection.
func (s *Sandbox) lose(w http.ResponseWriter, r *http.Request) {
	if s.cfg.HoldMax > 0 {
		t := time.NewTimer(s.cfg.HoldMax)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-t.C:
		case <-s.closed:
		}
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

func (s *Sandbox) ready(cid string, p params) reply {
	pm := &payment{cid: cid, status: StatusReady, createdAt: s.cfg.Now()}
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
	fault, _ := s.nextFault(pgtest.OpPrepare, pm.partnerOrderID)
	switch fault {
	case pgtest.FaultError500:
		return reply{err: errInternal()}
	case pgtest.FaultTimeoutUnapproved:
		return reply{drop: true}
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

	if fault == pgtest.FaultTimeout {
		return reply{drop: true}
	}
	win := s.BaseURL() + "/v1/" + pm.window
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
	if s.expireLocked(pm, s.cfg.Now()) {
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

	// A script from FailNext takes this call; the payment's own fault
	// (from Pay) then waits for the next.
	fault, scripted := s.nextFault(pgtest.OpApprove, pm.partnerOrderID)
	if !scripted {
		fault, pm.fault = pm.fault, pgtest.FaultNone
	}
	switch fault {
	case pgtest.FaultDecline:
		pm.status = StatusFailPayment
		return reply{err: declined()}
	case pgtest.FaultError500:
		return reply{err: errInternal()}
	case pgtest.FaultTimeoutUnapproved:
		return reply{drop: true}
	}

	now := s.cfg.Now()
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
	switch fault, _ := s.nextFault(pgtest.OpLookup, pm.partnerOrderID); fault {
	case pgtest.FaultError500:
		return reply{err: errInternal()}
	case pgtest.FaultTimeout, pgtest.FaultTimeoutUnapproved:
		return reply{drop: true}
	}
	s.expireLocked(pm, s.cfg.Now())
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
		if !s.cfg.OmitActionAmounts {
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

	fault, _ := s.nextFault(pgtest.OpCancel, pm.partnerOrderID)
	switch fault {
	case pgtest.FaultDecline:
		return reply{err: &apiError{status: http.StatusBadRequest, code: codeCancelFailure, msg: "cancel failure!"}}
	case pgtest.FaultError500:
		return reply{err: errInternal()}
	case pgtest.FaultTimeoutUnapproved:
		return reply{drop: true}
	}

	now := s.cfg.Now()
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
