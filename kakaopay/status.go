package kakaopay

import "github.com/paygate/paygate/pg"

// statusRule maps one KakaoPay status onto paygate's, with the reason.
type statusRule struct {
	status pg.Status
	reason string
}

// statuses maps every status KakaoPay's order lookup reports. Nothing before
// SUCCESS_PAYMENT has captured money, so the flow may treat each of those as
// "not approved" (StatusPending); the three failures are terminal.
var statuses = map[string]statusRule{
	"READY":               {pg.StatusPending, "ready done; the buyer has not opened the payment window"},
	"SEND_TMS":            {pg.StatusPending, "payment request message sent to the buyer's KakaoTalk; not authenticated"},
	"OPEN_PAYMENT":        {pg.StatusPending, "the buyer opened the payment screen; not authenticated"},
	"SELECT_METHOD":       {pg.StatusPending, "the buyer chose a method; not approved"},
	"ARS_WAITING":         {pg.StatusPending, "ARS authentication in progress; not approved"},
	"AUTH_PASSWORD":       {pg.StatusPending, "the buyer authenticated; waiting for our approve call, nothing captured"},
	"ISSUED_SID":          {pg.StatusFailed, "a recurring SID was issued without a charge: this tid never captures money"},
	"SUCCESS_PAYMENT":     {pg.StatusApproved, "approved and captured"},
	"PART_CANCEL_PAYMENT": {pg.StatusPartialCanceled, "part of the amount was canceled"},
	"CANCEL_PAYMENT":      {pg.StatusCanceled, "canceled in full"},
	"FAIL_AUTH_PASSWORD":  {pg.StatusFailed, "the buyer failed the password check"},
	"QUIT_PAYMENT":        {pg.StatusFailed, "the buyer quit the payment (or its time ran out)"},
	"FAIL_PAYMENT":        {pg.StatusFailed, "approval failed"},
}

// mapStatus returns paygate's status for a KakaoPay status; ok is false for a
// status KakaoPay does not document, which callers must not guess about.
func mapStatus(s string) (pg.Status, bool) {
	r, ok := statuses[s]
	return r.status, ok
}

// statusSuccessPayment is what an approve response means; the response
// itself carries no status.
const statusSuccessPayment = "SUCCESS_PAYMENT"
