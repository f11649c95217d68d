package inicistest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// Paths under BaseURL.
const (
	pathPayAuth   = "/api/payAuth"
	pathNetCancel = "/api/netCancel"
	pathV2        = "/v2/pg/"
	pathPay       = "/pay"
	pathDeposit   = "/deposit"
)

const maxRequest = 64 << 10

// ServeHTTP serves the sandbox's endpoints. Routing is by path suffix, so
// the handler works mounted under any prefix, stripped or not.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil || len(body) > maxRequest {
		http.Error(w, "request too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	path := r.URL.Path
	switch {
	case strings.HasSuffix(path, pathPayAuth):
		s.serveAuth(w, r, body, OpApprove)
	case strings.HasSuffix(path, pathNetCancel):
		s.serveAuth(w, r, body, OpNetCancel)
	case strings.HasSuffix(path, pathV2+"refund"):
		s.serveAPI(w, r, body, OpRefund)
	case strings.HasSuffix(path, pathV2+"partialRefund"):
		s.serveAPI(w, r, body, OpPartialRefund)
	case strings.HasSuffix(path, pathV2+"inquiry"):
		s.serveAPI(w, r, body, OpInquiry)
	case strings.HasSuffix(path, pathPay):
		s.servePay(w, r, body)
	case strings.HasSuffix(path, pathDeposit):
		s.serveDeposit(w, r, body)
	default:
		http.NotFound(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// wait applies the configured latency; false when the caller gave up.
func (s *Sandbox) wait(r *http.Request) bool {
	s.mu.Lock()
	d := s.latency
	s.mu.Unlock()
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

// abort drops the connection without an answer: the caller sees a reset
// or EOF after its request went out.
func abort(w http.ResponseWriter) {
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
func (s *Sandbox) failUnprocessed(w http.ResponseWriter, fault pgtest.Fault) bool {
	switch fault {
	case pgtest.FaultError500:
		s.mu.Unlock()
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return true
	case pgtest.FaultTimeoutUnapproved:
		s.mu.Unlock()
		abort(w)
		return true
	}
	return false
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func result(code, msg string) map[string]any {
	return map[string]any{"resultCode": code, "resultMsg": msg}
}

// serveAuth is the standard payment's authUrl (approval) and netCancelUrl.
func (s *Sandbox) serveAuth(w http.ResponseWriter, r *http.Request, body []byte, op Op) {
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
	if op == OpNetCancel {
		s.netCancel(w, r, token)
		return
	}
	s.approve(w, r, token, form.Get("price"), ts)
}

// authSignatureOrders are the fields an approval answer's authSignature
// covers, in order, by the last digit of the approval request's timestamp.
var authSignatureOrders = map[byte][]string{
	'1': {"MOID", "mid", "tstamp"}, '2': {"MOID", "tstamp", "mid"}, '3': {"mid", "MOID", "tstamp"},
	'4': {"mid", "tstamp", "MOID"}, '5': {"tstamp", "mid", "MOID"}, '6': {"tstamp", "MOID", "mid"},
	'7': {"TotPrice", "mid", "tstamp"}, '8': {"TotPrice", "tstamp", "mid"}, '9': {"TotPrice", "MOID", "tstamp"},
	'0': {"TotPrice", "tstamp", "MOID"},
}

// authSignature signs an approval answer as Inicis does: SHA-256 hex of
// "k=v&k=v&k=v" over three of the merchant's mid, the request's timestamp,
// the answer's MOID and TotPrice.
func authSignature(mid, tstamp, moid, totPrice string) string {
	vals := map[string]string{"mid": mid, "tstamp": tstamp, "MOID": moid, "TotPrice": totPrice}
	pairs := make([]string, 0, 3)
	for _, name := range authSignatureOrders[tstamp[len(tstamp)-1]] {
		pairs = append(pairs, name+"="+vals[name])
	}
	return sha256Hex(strings.Join(pairs, "&"))
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
	if f := s.takeFault(OpApprove); f != pgtest.FaultNone {
		fault = f
	}
	if s.failUnprocessed(w, fault) {
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
		abort(w)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// netCancel undoes an approval made with the token.
func (s *Sandbox) netCancel(w http.ResponseWriter, _ *http.Request, token string) {
	s.mu.Lock()
	fault := s.takeFault(OpNetCancel)
	p := s.auths[token]
	if s.failUnprocessed(w, fault) {
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
		abort(w)
		return
	}
	writeJSON(w, http.StatusOK, result("0000", "망취소 성공"))
}

// apiRequest is INIAPI v2's envelope as received; Data stays raw because
// hashData covers its exact bytes.
type apiRequest struct {
	MID       string          `json:"mid"`
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	ClientIP  string          `json:"clientIp"`
	Data      json.RawMessage `json:"data"`
	HashData  string          `json:"hashData"`
}

var apiTimestampRE = regexp.MustCompile(`^\d{14}$`)

func (s *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request, body []byte, op Op) {
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
	case req.Type != string(op):
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
	s.mu.Lock()
	fault := s.takeFault(op)
	if s.failUnprocessed(w, fault) {
		return
	}
	switch fault {
	case pgtest.FaultDecline:
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, result("500629", "취소 불가 거래입니다"))
		return
	}
	var resp map[string]any
	switch op {
	case OpRefund:
		resp = s.refund(data)
	case OpPartialRefund:
		resp = s.partialRefund(data)
	default:
		resp = s.inquiry(data)
	}
	s.mu.Unlock()
	if fault == pgtest.FaultTimeout {
		abort(w)
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

func decryptField(key, iv, enc string) (string, bool) {
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return "", false
	}
	block, err := aes.NewCipher([]byte(key))
	if err != nil || len(iv) != aes.BlockSize {
		return "", false
	}
	cipher.NewCBCDecrypter(block, []byte(iv)).CryptBlocks(raw, raw)
	pad := int(raw[len(raw)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(raw) {
		return "", false
	}
	for _, b := range raw[len(raw)-pad:] {
		if int(b) != pad {
			return "", false
		}
	}
	return string(raw[:len(raw)-pad]), true
}

func wonField(s string) (int64, bool) {
	d, err := decimal.NewFromString(s)
	if err != nil || !d.IsInteger() || d.IsNegative() || len(s) > 15 || strings.TrimSpace(s) != s {
		return 0, false
	}
	return d.IntPart(), true
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
