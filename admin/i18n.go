package admin

import (
	"net/http"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
)

// The page speaks Korean (the default) and English.
const (
	langKo = "ko"
	langEn = "en"
)

// messages are the page's words by language. Keys starting "err." are the
// API's error codes, shown to an operator instead of the API's English
// message.
var messages = map[string]map[string]string{
	langKo: {
		"title": "paygate 운영 콘솔", "nav.dashboard": "대시보드", "nav.payments": "결제 검색", "nav.attention": "확인 필요",
		"nav.logout": "로그아웃", "nav.lang": "English",
		"login.title": "운영자 로그인", "login.token": "운영자 토큰", "login.submit": "로그인",
		"login.failed": "토큰이 맞지 않습니다.", "login.limited": "실패한 로그인이 너무 많습니다. 잠시 후 다시 시도하세요.",
		"dash.range": "기간", "dash.count": "결제 건수", "dash.approved": "승인 금액", "dash.refunded": "환불 금액",
		"dash.approvalRate": "승인율", "dash.refundRate": "환불율", "dash.openUnknown": "결과 미확인",
		"dash.byDay": "일별 승인·환불 금액", "dash.byPG": "PG별 승인 금액", "dash.show": "보기",
		"search.title": "결제 검색", "search.from": "시작일", "search.to": "종료일", "search.status": "상태", "search.pg": "PG",
		"search.method": "결제수단", "search.orderId": "주문번호", "search.paymentId": "결제 ID", "search.minAmount": "최소 금액",
		"search.maxAmount": "최대 금액", "search.q": "주문명", "search.submit": "검색", "search.next": "다음 페이지",
		"search.none": "조건에 맞는 결제가 없습니다.", "search.any": "전체",
		"col.createdAt": "생성 시각", "col.payment": "결제 ID", "col.order": "주문번호", "col.orderName": "주문명", "col.pg": "PG",
		"col.method": "수단", "col.status": "상태", "col.amount": "금액", "col.canceled": "환불됨", "col.balance": "환불 가능",
		"col.approvedAt": "승인 시각", "col.reason": "사유", "col.at": "시각", "col.type": "종류", "col.kind": "종류",
		"col.since": "발생", "col.attempts": "시도", "col.actions": "조치", "col.operator": "운영자", "col.action": "조치",
		"col.state": "상태", "col.step": "단계", "col.error": "마지막 오류", "col.date": "영업일", "col.payout": "지급일",
		"col.gross": "총액", "col.fee": "수수료", "col.vat": "부가세", "col.net": "정산액", "col.body": "본문",
		"col.from": "보낸 곳", "col.id": "ID", "col.paymentKey": "PG 결제키", "col.failure": "실패",
		"detail.title": "결제 상세", "detail.timeline": "타임라인", "detail.cancels": "취소·환불", "detail.sagas": "사가",
		"detail.ledger": "정산 원장", "detail.webhooks": "수신한 웹훅", "detail.actions": "운영자 조치",
		"detail.refund": "환불", "detail.refundAmount": "환불 금액 (비우면 전액)", "detail.refundReason": "사유",
		"detail.refundSubmit": "환불하기", "detail.refundDone": "환불되었습니다.", "detail.none": "없음",
		"attention.title": "확인 필요", "attention.empty": "확인이 필요한 항목이 없습니다.", "attention.retry": "재시도",
		"attention.resolve": "처리 완료", "attention.note": "처리 내용", "attention.done": "반영되었습니다.",
		"action.refund": "환불", "action.retry": "재시도", "action.resolve": "처리 완료",
		"err.UNAUTHORIZED": "로그인이 필요합니다.", "err.CSRF_TOKEN_INVALID": "페이지가 만료되었습니다. 새로 고친 뒤 다시 시도하세요.",
		"err.TOO_MANY_ATTEMPTS": "실패가 너무 많습니다. 잠시 후 다시 시도하세요.",
		"err.OVER_REFUND":       "환불 가능 금액보다 많이 환불할 수 없습니다.", "err.NOT_REFUNDABLE": "환불할 수 없는 상태의 결제입니다.",
		"err.IN_PROGRESS": "이 결제에 진행 중인 작업이 있습니다. 잠시 후 다시 시도하세요.", "err.CONFLICT": "현재 상태에서는 할 수 없는 작업입니다.",
		"err.REASON_REQUIRED": "환불 사유를 입력하세요 (200자 이내).", "err.INVALID_AMOUNT": "금액이 올바르지 않습니다 (원 단위 양수).",
		"err.INVALID_REQUEST": "입력이 올바르지 않습니다.", "err.NOT_FOUND": "찾을 수 없습니다.",
		"err.PG_REFUSED": "PG가 거절했습니다.", "err.PG_UNAVAILABLE": "PG에 연결할 수 없습니다. 환불되지 않았습니다.",
		"err.PG_TIMEOUT": "PG 응답이 늦어 결과를 확인 중입니다.", "err.PG_ERROR": "PG 오류입니다.",
		"err.IDEMPOTENCY_KEY_IN_USE": "같은 요청을 처리하는 중입니다.", "err.IDEMPOTENCY_KEY_REUSED": "같은 요청 키가 다른 내용으로 쓰였습니다.",
		"err.NOTE_REQUIRED": "처리 내용을 입력하세요.", "err.NOT_ACTIONABLE": "이 항목은 직접 조치할 수 없습니다.",
		"err.INTERNAL_ERROR": "요청을 처리하지 못했습니다.", "err.NETWORK": "서버에 연결할 수 없습니다.",
	},
	langEn: {
		"title": "paygate operators' console", "nav.dashboard": "Dashboard", "nav.payments": "Payments", "nav.attention": "Attention",
		"nav.logout": "Log out", "nav.lang": "한국어",
		"login.title": "Operator login", "login.token": "Operator token", "login.submit": "Log in",
		"login.failed": "That token is not right.", "login.limited": "Too many failed logins. Try again later.",
		"dash.range": "Range", "dash.count": "Payments", "dash.approved": "Approved", "dash.refunded": "Refunded",
		"dash.approvalRate": "Approval rate", "dash.refundRate": "Refund rate", "dash.openUnknown": "Outcome unknown",
		"dash.byDay": "Approved and refunded by day", "dash.byPG": "Approved by PG", "dash.show": "Show",
		"search.title": "Payments", "search.from": "From", "search.to": "To", "search.status": "Status", "search.pg": "PG",
		"search.method": "Method", "search.orderId": "Order id", "search.paymentId": "Payment id", "search.minAmount": "Min amount",
		"search.maxAmount": "Max amount", "search.q": "Order name", "search.submit": "Search", "search.next": "Next page",
		"search.none": "No payment matches.", "search.any": "Any",
		"col.createdAt": "Created", "col.payment": "Payment", "col.order": "Order", "col.orderName": "Order name", "col.pg": "PG",
		"col.method": "Method", "col.status": "Status", "col.amount": "Amount", "col.canceled": "Refunded", "col.balance": "Refundable",
		"col.approvedAt": "Approved", "col.reason": "Reason", "col.at": "When", "col.type": "Type", "col.kind": "Kind",
		"col.since": "Since", "col.attempts": "Attempts", "col.actions": "Actions", "col.operator": "Operator", "col.action": "Action",
		"col.state": "State", "col.step": "Step", "col.error": "Last error", "col.date": "Business day", "col.payout": "Payout",
		"col.gross": "Gross", "col.fee": "Fee", "col.vat": "VAT", "col.net": "Net", "col.body": "Body",
		"col.from": "From", "col.id": "ID", "col.paymentKey": "PG payment key", "col.failure": "Failure",
		"detail.title": "Payment", "detail.timeline": "Timeline", "detail.cancels": "Cancels and refunds", "detail.sagas": "Sagas",
		"detail.ledger": "Settlement ledger", "detail.webhooks": "Webhooks received", "detail.actions": "Operators' actions",
		"detail.refund": "Refund", "detail.refundAmount": "Amount (empty: all that is left)", "detail.refundReason": "Reason",
		"detail.refundSubmit": "Refund", "detail.refundDone": "Refunded.", "detail.none": "None",
		"attention.title": "Attention", "attention.empty": "Nothing needs attention.", "attention.retry": "Retry",
		"attention.resolve": "Resolve", "attention.note": "What was done", "attention.done": "Done.",
		"action.refund": "Refund", "action.retry": "Retry", "action.resolve": "Resolve",
		"err.UNAUTHORIZED": "Please log in.", "err.CSRF_TOKEN_INVALID": "This page expired; reload it and try again.",
		"err.TOO_MANY_ATTEMPTS": "Too many failed attempts; try again later.",
		"err.OVER_REFUND":       "That is more than is left to refund.", "err.NOT_REFUNDABLE": "This payment cannot be refunded in its state.",
		"err.IN_PROGRESS": "Something is in progress on this payment; try again shortly.", "err.CONFLICT": "Not possible in the current state.",
		"err.REASON_REQUIRED": "Give a reason (up to 200 characters).", "err.INVALID_AMOUNT": "The amount is not valid (a positive number of won).",
		"err.INVALID_REQUEST": "The input is not valid.", "err.NOT_FOUND": "Not found.",
		"err.PG_REFUSED": "The PG refused.", "err.PG_UNAVAILABLE": "The PG is unavailable; nothing was refunded.",
		"err.PG_TIMEOUT": "The PG answered late; the outcome is being checked.", "err.PG_ERROR": "The PG failed.",
		"err.IDEMPOTENCY_KEY_IN_USE": "The same request is being processed.", "err.IDEMPOTENCY_KEY_REUSED": "This request key was used for another request.",
		"err.NOTE_REQUIRED": "Say what was done.", "err.NOT_ACTIONABLE": "This item cannot be acted on by hand.",
		"err.INTERNAL_ERROR": "The request failed.", "err.NETWORK": "The server cannot be reached.",
	},
}

// langCookie remembers the page's language.
const langCookie = "paygate_admin_lang"

// lang is the page's language: ?lang=, else the cookie, else Korean. A
// ?lang= choice is remembered.
func (h *Handler) lang(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == langKo || l == langEn {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: h.cfg.Prefix + "/", MaxAge: 365 * 24 * 3600,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.cfg.SecureCookies || r.TLS != nil})
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && (c.Value == langKo || c.Value == langEn) {
		return c.Value
	}
	return langKo
}

func translate(lang, key string) string {
	if s, ok := messages[lang][key]; ok {
		return s
	}
	return key
}

// formatMoney writes an amount the way an operator reads it: won with
// thousands separators ("12,000원", "₩12,000"), other currencies with their
// code.
func formatMoney(lang string, m pg.Money) string {
	if !m.IsSet() {
		return ""
	}
	units, _ := m.Currency().MinorUnits()
	s := group(m.Amount().StringFixed(units))
	if m.Currency() == pg.KRW {
		if lang == langKo {
			return s + "원"
		}
		return "₩" + s
	}
	return s + " " + string(m.Currency())
}

// group puts thousands separators into a decimal string.
func group(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		return sign + b.String() + "." + frac
	}
	return sign + b.String()
}

// formatTime writes a time in Seoul.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(Seoul).Format("2006-01-02 15:04:05") + " KST"
}

func formatPercent(r float64) string {
	return decimal.NewFromFloat(r*100).StringFixed(1) + "%"
}
