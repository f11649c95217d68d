package inicistest

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// wait applies the configured latency; false when the caller gave up.
func (s *Sandbox) wait(r *http.Request) bool {
	d := time.Duration(s.latency.Load())
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// lose withholds the answer until the caller gives up or Config.HoldMax
// passes (at once without a HoldMax), then drops the connection without an
// answer: the caller sees a reset or EOF after its request went out.
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
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// failUnprocessed answers the faults that leave a call unprocessed — a 500,
// or a dropped connection with no answer — releasing s.mu, which the caller
// holds. It reports whether it answered.
func (s *Sandbox) failUnprocessed(w http.ResponseWriter, r *http.Request, fault pgtest.Fault) bool {
	switch fault {
	case pgtest.FaultError500:
		s.mu.Unlock()
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return true
	case pgtest.FaultTimeoutUnapproved:
		s.mu.Unlock()
		s.lose(w, r)
		return true
	}
	return false
}

// serveAuth is the standard payment's authUrl (approval) and netCancelUrl.
func (s *Sandbox) serveAuth(w http.ResponseWriter, r *http.Request, body []byte, op pgtest.Op) {
	if !s.wait(r) {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		writeJSON(w, http.StatusOK, result("V810", "요청 형식 오류: form-urlencoded 가 아닙니다"))
		return
	}
	token, ts := form.Get("authToken"), form.Get("timestamp")
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil || len(ts) != 13 {
		writeJSON(w, http.StatusOK, result("V810", "timestamp 오류"))
		return
	}
	if form.Get("signature") != sha256Hex("authToken="+token+"&timestamp="+ts) ||
		form.Get("verification") != sha256Hex("authToken="+token+"&signKey="+s.cfg.SignKey+"&timestamp="+ts) {
		writeJSON(w, http.StatusOK, result("V810", "signature/verification 불일치"))
		return
	}
	if form.Get("mid") != s.cfg.MID {
		writeJSON(w, http.StatusOK, result("V813", "상점아이디 불일치"))
		return
	}
	if op == pgtest.OpNetCancel {
		s.netCancel(w, r, token)
		return
	}
	s.approve(w, r, token, form.Get("price"), ts)
}

func (s *Sandbox) approve(w http.ResponseWriter, r *http.Request, token, price, ts string) {
	s.mu.Lock()
	now := s.cfg.Now()
	p := s.auths[token]
	if p == nil || p.used || now.Sub(p.authAt) > s.cfg.AuthTTL {
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, result("V811", "인증 정보가 없거나 만료되었습니다"))
		return
	}
	fault := p.fault
	if f, ok := s.nextFault(pgtest.OpApprove, p.oid); ok {
		fault = f
	}
	if s.failUnprocessed(w, r, fault) {
		return
	}
	p.used = true
	if price != "" && price != strconv.FormatInt(p.price, 10) {
		p.status = pg.StatusFailed
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, result("V812", "결제금액이 인증금액과 다릅니다"))
		return
	}
	if fault == pgtest.FaultDecline {
		p.status = pg.StatusFailed
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, result("V801", "카드사 승인거절(한도초과)"))
		return
	}
	p.applAt = now
	p.approvals++
	totPrice := strconv.FormatInt(p.price, 10)
	signature := authSignature(s.cfg.MID, ts, p.oid, totPrice)
	if s.tamper {
		// A forged or tampered answer: the signature is not Inicis's.
		s.tamper = false
		signature = sha256Hex("tampered:" + signature)
	}
	resp := map[string]any{
		"resultCode": "0000", "resultMsg": "정상처리되었습니다.",
		"mid": s.cfg.MID, "MOID": p.oid, "TotPrice": totPrice, "authSignature": signature,
		"goodName": "sandbox", "payMethod": p.method, "currency": "WON",
		"applDate": now.In(kst).Format("20060102"), "applTime": now.In(kst).Format("150405"),
		"buyerName": "홍길동", "buyerEmail": "buyer@example.com", "buyerTel": "010-0000-0000",
	}
	if p.method == "VBank" {
		p.tid = s.nextTID("StdpayVBNK", now)
		p.status = pg.StatusWaitingForDeposit
		due := now.Add(s.cfg.VBankTTL).In(kst)
		p.vact = &vaccount{bank: "04", num: "9" + p.tid[len(p.tid)-13:], name: "(주)샌드박스", due: due}
		resp["VACT_Num"], resp["VACT_BankCode"], resp["vactBankName"] = p.vact.num, p.vact.bank, "국민은행"
		resp["VACT_Name"], resp["VACT_InputName"] = p.vact.name, "홍길동"
		resp["VACT_Date"], resp["VACT_Time"] = due.Format("20060102"), due.Format("150405")
	} else {
		p.tid = s.nextTID("StdpayCARD", now)
		p.status = pg.StatusApproved
		p.approved = p.price
		resp["applNum"], resp["CARD_Num"], resp["CARD_Quota"], resp["CARD_Code"] = "30001234", "94909400****123*", "00", "14"
	}
	resp["tid"] = p.tid
	s.byTID[p.tid] = p
	s.byOID[p.oid] = p
	s.mu.Unlock()
	if fault == pgtest.FaultTimeout {
		s.lose(w, r)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// netCancel undoes an approval made with the token.
func (s *Sandbox) netCancel(w http.ResponseWriter, r *http.Request, token string) {
	s.mu.Lock()
	p := s.auths[token]
	var oid string
	if p != nil {
		oid = p.oid
	}
	fault, _ := s.nextFault(pgtest.OpNetCancel, oid)
	if s.failUnprocessed(w, r, fault) {
		return
	}
	if p == nil || p.tid == "" {
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, result("V820", "망취소 대상 거래가 없습니다"))
		return
	}
	if !p.netCanceled {
		p.netCanceled = true
		p.canceled = p.approved
		p.cancels++
		p.canceledAt = s.cfg.Now()
		p.status = pg.StatusCanceled
	}
	s.mu.Unlock()
	if fault == pgtest.FaultTimeout {
		s.lose(w, r)
		return
	}
	writeJSON(w, http.StatusOK, result("0000", "망취소 성공"))
}

// serveAPI is INIAPI v2: typ is the request type its URL names.
func (s *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request, body []byte, typ string) {
	if !s.wait(r) {
		return
	}
	if !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/json") {
		writeJSON(w, http.StatusOK, result("400602", "JSON 요청만 허용됩니다"))
		return
	}
	var req apiRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil || len(req.Data) == 0 {
		writeJSON(w, http.StatusOK, result("400602", "요청 전문 오류"))
		return
	}
	sum := sha512.Sum512([]byte(s.cfg.APIKey + req.MID + req.Type + req.Timestamp + string(req.Data)))
	switch {
	case req.Type != typ:
		writeJSON(w, http.StatusOK, result("400602", "type 이 URL 과 다릅니다"))
		return
	case !apiTimestampRE.MatchString(req.Timestamp):
		writeJSON(w, http.StatusOK, result("400602", "timestamp 형식 오류"))
		return
	case !validClientIP(req.ClientIP, s.cfg.ClientIP):
		writeJSON(w, http.StatusOK, result("400602", "등록되지 않은 clientIp"))
		return
	case req.HashData != hex.EncodeToString(sum[:]):
		writeJSON(w, http.StatusOK, result("400601", "hashData 불일치"))
		return
	case req.MID != s.cfg.MID:
		writeJSON(w, http.StatusOK, result("400603", "상점아이디 불일치"))
		return
	}
	var data map[string]string
	if err := json.Unmarshal(req.Data, &data); err != nil {
		writeJSON(w, http.StatusOK, result("400602", "data 는 문자열 값의 객체여야 합니다"))
		return
	}
	op := pgtest.OpCancel
	if typ == typeInquiry {
		op = pgtest.OpLookup
	}
	s.mu.Lock()
	fault, _ := s.nextFault(op, s.orderOfLocked(data))
	if s.failUnprocessed(w, r, fault) {
		return
	}
	switch fault {
	case pgtest.FaultDecline:
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, result("500629", "취소 불가 거래입니다"))
		return
	}
	var resp map[string]any
	switch typ {
	case typeRefund:
		resp = s.refund(data)
	case typePartialRefund:
		resp = s.partialRefund(data)
	default:
		resp = s.inquiry(data)
	}
	s.mu.Unlock()
	if fault == pgtest.FaultTimeout {
		s.lose(w, r)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func validClientIP(got, want string) bool {
	if want != "" {
		return got == want
	}
	return net4or6(got)
}

var ipRE = regexp.MustCompile(`^[0-9a-fA-F:.]{2,45}$`)

func net4or6(s string) bool { return ipRE.MatchString(s) && strings.ContainsAny(s, ".:") }

// orderOfLocked is the order an INIAPI call is about: its tid's payment's,
// or the oid it names ("" when neither is known). Callers hold mu.
func (s *Sandbox) orderOfLocked(data map[string]string) string {
	if p := s.byTID[data["tid"]]; p != nil {
		return p.oid
	}
	return data["oid"]
}

// find returns the payment for a tid; callers hold mu.
func (s *Sandbox) find(tid string) *payment {
	p := s.byTID[tid]
	if p != nil {
		s.expire(p, s.cfg.Now())
	}
	return p
}

// refund cancels the whole remaining amount; callers hold mu.
func (s *Sandbox) refund(data map[string]string) map[string]any {
	p := s.find(data["tid"])
	if p == nil {
		return result("400604", "거래내역이 존재하지 않습니다")
	}
	if resp := s.cancelable(p); resp != nil {
		return resp
	}
	if resp := s.checkRefundAccount(p, data); resp != nil {
		return resp
	}
	now := s.cfg.Now()
	p.canceled = p.approved
	p.cancels++
	p.canceledAt = now
	p.status = pg.StatusCanceled
	return map[string]any{
		"resultCode": "00", "resultMsg": "정상처리되었습니다.",
		"cancelDate": now.In(kst).Format("20060102"), "cancelTime": now.In(kst).Format("150405"),
		"cshrCancelNum": "", "detailResultCode": "", "receiptInfo": "",
	}
}

// cancelable refuses cancels of payments in the wrong state.
func (s *Sandbox) cancelable(p *payment) map[string]any {
	switch p.status {
	case pg.StatusCanceled:
		// As Inicis answers it: the generic refusal code, the reason in
		// detailResultCode.
		resp := result("01", "기 취소 거래")
		resp["detailResultCode"] = "512626"
		return resp
	case pg.StatusApproved, pg.StatusPartialCanceled:
		return nil
	case pg.StatusWaitingForDeposit:
		return nil
	default:
		return result("500629", "취소 불가 거래입니다")
	}
}

// checkRefundAccount requires an encrypted refund account for deposited
// virtual accounts and checks it decrypts with the merchant's key and IV.
func (s *Sandbox) checkRefundAccount(p *payment, data map[string]string) map[string]any {
	if p.method != "VBank" || p.approved == 0 {
		return nil
	}
	enc, bank, name := data["refundAcctNum"], data["refundBankCode"], data["refundAcctName"]
	if enc == "" || bank == "" || name == "" {
		return result("400602", "가상계좌 환불에는 환불계좌 정보가 필요합니다")
	}
	if _, ok := decryptField(s.cfg.APIKey, s.cfg.APIIV, enc); !ok {
		return result("400602", "refundAcctNum 복호화 실패")
	}
	return nil
}

// partialRefund applies the confirmPrice guard; callers hold mu.
func (s *Sandbox) partialRefund(data map[string]string) map[string]any {
	p := s.find(data["tid"])
	if p == nil {
		return result("400604", "거래내역이 존재하지 않습니다")
	}
	price, ok1 := wonField(data["price"])
	confirm, ok2 := wonField(data["confirmPrice"])
	if !ok1 || !ok2 || price == 0 || data["currency"] != "WON" {
		return result("400602", "price/confirmPrice/currency 오류")
	}
	if p.status == pg.StatusWaitingForDeposit {
		return result("500629", "입금 전 가상계좌는 부분취소할 수 없습니다")
	}
	if resp := s.cancelable(p); resp != nil {
		return resp
	}
	if resp := s.checkRefundAccount(p, data); resp != nil {
		return resp
	}
	if price > p.remaining() {
		return result("500628", "취소가능금액 초과")
	}
	if confirm != p.remaining()-price {
		return result("500627", "confirmPrice 불일치")
	}
	now := s.cfg.Now()
	ptid := s.nextTID(p.tid[:10], now)
	p.canceled += price
	p.cancels++
	p.parts = append(p.parts, partCancel{tid: ptid, price: price, at: now})
	s.partials[ptid] = p
	p.status = pg.StatusPartialCanceled
	if p.remaining() == 0 {
		p.status = pg.StatusCanceled
		p.canceledAt = now
	}
	return map[string]any{
		"resultCode": "00", "resultMsg": "정상처리되었습니다.",
		"tid": ptid, "prtcTid": p.tid,
		"prtcPrice": strconv.FormatInt(price, 10), "prtcRemains": strconv.FormatInt(p.remaining(), 10),
		"prtcCnt": strconv.Itoa(len(p.parts)), "prtcType": "1",
		"prtcDate": now.In(kst).Format("20060102"), "prtcTime": now.In(kst).Format("150405"),
		"pointAmount": "0", "discountAmount": "0", "creditAmount": strconv.FormatInt(price, 10), "cashReceiptAmount": "0",
	}
}

var inquiryStatus = map[pg.Status]string{
	pg.StatusApproved: "APPROVAL", pg.StatusPartialCanceled: "PART_CANCEL", pg.StatusCanceled: "CANCEL",
	// An issued virtual account is an approval at Inicis; vacctInfo says
	// whether it was paid.
	pg.StatusWaitingForDeposit: "APPROVAL",
	// What Inicis reports for an account past its due time is not public;
	// this is the sandbox's own.
	pg.StatusExpired: "EXPIRED",
}

// inquiry reports a payment by tid, or the latest approved one of an order
// by oid, in the shape production integrations read: transactionStatus,
// availablePartCancel, partCancelTransInfo and, for a virtual account,
// vacctInfo with its deposit status. Callers hold mu.
func (s *Sandbox) inquiry(data map[string]string) map[string]any {
	var p *payment
	switch {
	case data["tid"] != "" && data["oid"] == "":
		p = s.find(data["tid"])
	case data["oid"] != "" && data["tid"] == "":
		if c := s.byOID[data["oid"]]; c != nil {
			p = s.find(c.tid)
		}
	default:
		return result("400602", "tid 또는 oid 중 하나만 보내야 합니다")
	}
	if p == nil {
		return result("400604", "거래내역이 존재하지 않습니다")
	}
	k := func(t time.Time, layout string) string { return t.In(kst).Format(layout) }
	resp := map[string]any{
		"resultCode": "00", "resultMsg": "정상처리되었습니다.",
		"tid": p.tid, "mid": s.cfg.MID, "oid": p.oid, "price": strconv.FormatInt(p.price, 10),
		"goodsName": "sandbox", "paymethod": p.method,
		"approvedDate": k(p.applAt, "20060102"), "approvedTime": k(p.applAt, "150405"),
		"buyerName": "홍길동", "buyerTel": "010-0000-0000", "buyerMail": "buyer@example.com",
		"transactionStatus":   inquiryStatus[p.status],
		"availablePartCancel": (p.status == pg.StatusApproved || p.status == pg.StatusPartialCanceled) && p.remaining() > 0,
	}
	if p.method == "Card" {
		resp["cardInfo"] = map[string]any{"approvedNumber": "30001234", "currencyCode": "WON"}
	}
	if v := p.vact; v != nil {
		info := map[string]any{
			"accountNumber": v.num, "bankName": "국민은행", "bankCode": v.bank, "accountName": v.name,
			"senderName": "홍길동", "validDate": k(v.due, "20060102"),
			"depositStatus": "N", "depositBankName": "", "depositBankCode": "", "depositAmount": "",
			"depositName": "", "depositDate": "", "depositTime": "",
		}
		if !v.depositAt.IsZero() {
			info["depositStatus"], info["depositAmount"], info["depositName"] = "Y", strconv.FormatInt(p.price, 10), "홍길동"
			info["depositBankName"], info["depositBankCode"] = "국민은행", v.bank
			info["depositDate"], info["depositTime"] = k(v.depositAt, "20060102"), k(v.depositAt, "150405")
		}
		resp["vacctInfo"] = info
	}
	if len(p.parts) > 0 {
		parts := make([]map[string]any, 0, len(p.parts))
		for _, pc := range p.parts {
			parts = append(parts, map[string]any{
				"tid": pc.tid, "requestDate": k(pc.at, "20060102"),
				"requestTime": k(pc.at, "150405"), "requestPrice": strconv.FormatInt(pc.price, 10),
			})
		}
		resp["partCancelTransInfo"] = parts
	}
	if p.status == pg.StatusCanceled && !p.canceledAt.IsZero() {
		resp["cancelDate"], resp["cancelTime"] = k(p.canceledAt, "20060102"), k(p.canceledAt, "150405")
	}
	return resp
}

// mobileResult is a refusal in INIpay Mobile's text answer.
func mobileResult(code, msg string) []field {
	return []field{{"P_STATUS", code}, {"P_RMESG1", msg}}
}

// serveMobileAuth is INIpay Mobile's approval, the P_REQ_URL of its auth
// results: a form POST of P_MID and P_TID, answered in EUC-KR key=value
// text (P_STATUS, P_TID, P_TYPE, P_AUTH_DT, P_OID, P_AMT, P_VACT_* for a
// virtual account, P_TIMESTAMP and P_CHKFAKE). Faults play as for the
// standard approval: a decline (V801), a 500 or a lost request before
// approving, a lost answer after approving, latency.
func (s *Sandbox) serveMobileAuth(w http.ResponseWriter, r *http.Request, body []byte) {
	if !s.wait(r) {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		writeMobileText(w, mobileResult("V810", "요청 형식 오류: form-urlencoded 가 아닙니다"))
		return
	}
	if form.Get("P_MID") != s.cfg.MID {
		writeMobileText(w, mobileResult("V813", "상점아이디 불일치"))
		return
	}
	s.mu.Lock()
	now := s.cfg.Now()
	p := s.auths[form.Get("P_TID")]
	if p == nil || !p.mobile || p.used || now.Sub(p.authAt) > s.cfg.AuthTTL {
		s.mu.Unlock()
		writeMobileText(w, mobileResult("V811", "인증 정보가 없거나 만료되었습니다"))
		return
	}
	fault := p.fault
	if f, ok := s.nextFault(pgtest.OpApprove, p.oid); ok {
		fault = f
	}
	if s.failUnprocessed(w, r, fault) {
		return
	}
	p.used = true
	if fault == pgtest.FaultDecline {
		p.status = pg.StatusFailed
		s.mu.Unlock()
		writeMobileText(w, mobileResult("V801", "카드사 승인거절(한도초과)"))
		return
	}
	p.applAt = now
	p.approvals++
	p.tid = p.token
	amt := strconv.FormatInt(p.price, 10)
	k := now.In(kst)
	fields := []field{
		{"P_STATUS", "00"}, {"P_RMESG1", "정상처리되었습니다."}, {"P_TID", p.tid}, {"P_TYPE", ""},
		{"P_AUTH_DT", k.Format("20060102150405")}, {"P_MID", s.cfg.MID}, {"P_OID", p.oid}, {"P_AMT", amt},
		{"P_UNAME", "홍길동"}, {"P_NOTI", ""},
	}
	if p.method == "VBank" {
		fields[3].value = "VBANK"
		p.status = pg.StatusWaitingForDeposit
		due := now.Add(s.cfg.VBankTTL).In(kst)
		p.vact = &vaccount{bank: "04", num: "9" + p.tid[len(p.tid)-13:], name: "(주)샌드박스", due: due}
		fields = append(fields, field{"P_FN_CD1", p.vact.bank}, field{"P_FN_NM", "국민은행"},
			field{"P_VACT_NUM", p.vact.num}, field{"P_VACT_BANK_CODE", p.vact.bank}, field{"P_VACT_NAME", p.vact.name},
			field{"P_VACT_DATE", due.Format("20060102")}, field{"P_VACT_TIME", due.Format("150405")})
	} else {
		fields[3].value = "CARD"
		p.status = pg.StatusApproved
		p.approved = p.price
		fields = append(fields, field{"P_AUTH_NO", "30001234"}, field{"P_FN_CD1", "14"}, field{"P_FN_NM", "국민카드"},
			field{"P_CARD_NUM", "94909400****123*"})
		p.cardNoti = s.mobileNoti(p, now, "CARD")
	}
	key := s.cfg.MobileHashKey
	if s.tamper {
		// A forged or tampered answer: the hash is not Inicis's.
		s.tamper = false
		key = "tampered:" + key
	}
	fields = append(fields, field{"P_TIMESTAMP", p.mobileTS}, field{"P_CHKFAKE", mobileChkFake(amt, p.oid, p.mobileTS, key)})
	s.byTID[p.tid] = p
	s.byOID[p.oid] = p
	s.mu.Unlock()
	if fault == pgtest.FaultTimeout {
		s.lose(w, r)
		return
	}
	writeMobileText(w, fields)
}
