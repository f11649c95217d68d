package inicis

import (
	"regexp"

	"github.com/paygate/paygate/pg"
)

// outcome is how one Inicis result code maps onto paygate: the kind of the
// error (when it is not a success), whether trying again later may help, and
// why the mapping is what it is.
type outcome struct {
	ok        bool
	kind      pg.Kind
	retryable bool
	reason    string
}

// api names the Inicis interface a code comes from; the same digits mean
// different things in each.
type api uint8

const (
	apiAuth          api = iota // the auth result in the buyer's redirect
	apiApprove                  // POST authUrl / netCancelUrl
	apiRefund                   // INIAPI refund, partialRefund
	apiInquiry                  // INIAPI inquiry
	apiMobileAuth               // INIpay Mobile: the auth result posted to P_NEXT_URL
	apiMobileApprove            // INIpay Mobile: the answer of POST P_REQ_URL
)

// resultCodes is the one table of Inicis result codes. Codes not listed take
// the per-interface default below. Sources: the pg-apis reference (section
// 3.5) for the success codes and 500626; the codes marked "sandbox" are the
// inicistest sandbox's own for cases the public material gives no code for,
// so that the sandbox exercises every kind; a real Inicis answer with an
// unlisted code falls to the conservative default.
var resultCodes = map[api]map[string]outcome{
	apiAuth: {
		"0000": {ok: true, reason: "buyer authenticated"},
		"2001": {kind: pg.KindDeclined, reason: "buyer closed the window"},
		"0021": {kind: pg.KindDeclined, reason: "buyer canceled"},
		"0022": {kind: pg.KindDeclined, reason: "buyer canceled"},
		"":     {kind: pg.KindDeclined, reason: "no result code: treated as a buyer cancel"},
	},
	apiApprove: {
		"0000": {ok: true, reason: "approved"},
		// sandbox codes
		"V801": {kind: pg.KindDeclined, reason: "card company refused (sandbox)"},
		"V802": {kind: pg.KindDeclined, retryable: true, reason: "card company temporary fault (sandbox)"},
		"V810": {kind: pg.KindInvalid, reason: "signature or verification mismatch (sandbox)"},
		"V811": {kind: pg.KindDeclined, reason: "authToken unknown, expired or used (sandbox)"},
		"V812": {kind: pg.KindDeclined, reason: "price differs from the authenticated amount (sandbox)"},
		"V813": {kind: pg.KindInvalid, reason: "mid differs from the authenticated merchant (sandbox)"},
		"V820": {kind: pg.KindNotFound, reason: "net cancel: no such approval (sandbox)"},
	},
	apiMobileAuth: {
		"00": {ok: true, reason: "buyer authenticated (P_STATUS 00)"},
		"01": {kind: pg.KindDeclined, reason: "buyer canceled or the authentication failed"},
		"":   {kind: pg.KindDeclined, reason: "no P_STATUS: treated as a buyer cancel"},
	},
	apiMobileApprove: {
		"00": {ok: true, reason: "approved (P_STATUS 00)"},
		// sandbox codes, as for the standard approval
		"V801": {kind: pg.KindDeclined, reason: "card company refused (sandbox)"},
		"V802": {kind: pg.KindDeclined, retryable: true, reason: "card company temporary fault (sandbox)"},
		"V810": {kind: pg.KindInvalid, reason: "malformed approval request (sandbox)"},
		"V811": {kind: pg.KindDeclined, reason: "P_TID unknown, expired or used (sandbox)"},
		"V813": {kind: pg.KindInvalid, reason: "P_MID differs from the authenticated merchant (sandbox)"},
	},
	apiRefund: {
		"00":     {ok: true, reason: "canceled"},
		"500626": {kind: pg.KindAlreadyDone, reason: "already canceled (reference: one integrator)"},
		// "01" is Inicis's generic refusal; what it refuses is in
		// detailResultCode (detailCodes below) and, failing that, the
		// message (alreadyCanceledMsg).
		// sandbox codes
		"400601": {kind: pg.KindInvalid, reason: "hashData mismatch (sandbox)"},
		"400602": {kind: pg.KindInvalid, reason: "malformed request or field (sandbox)"},
		"400603": {kind: pg.KindInvalid, reason: "mid does not own the tid (sandbox)"},
		"400604": {kind: pg.KindNotFound, reason: "no such transaction (sandbox)"},
		"500627": {kind: pg.KindAlreadyDone, reason: "confirmPrice does not match the balance: an earlier cancel changed it; look it up (sandbox)"},
		"500628": {kind: pg.KindInvalid, reason: "cancel amount exceeds the cancelable balance (sandbox)"},
		"500629": {kind: pg.KindDeclined, reason: "not cancelable in its state, e.g. virtual account waiting for deposit (sandbox)"},
	},
	apiInquiry: {
		"00":      {ok: true, reason: "found"},
		"0000":    {ok: true, reason: "found"},
		"SUCCESS": {ok: true, reason: "found (as seen in third-party fixtures)"},
		// sandbox codes
		"400601": {kind: pg.KindInvalid, reason: "hashData mismatch (sandbox)"},
		"400602": {kind: pg.KindInvalid, reason: "malformed request (sandbox)"},
		"400603": {kind: pg.KindInvalid, reason: "mid does not own the tid (sandbox)"},
		"400604": {kind: pg.KindNotFound, reason: "no such transaction (sandbox)"},
	},
}

// defaults for codes not in the table:
//   - auth: a failed authentication never reached approval: declined.
//   - approve: Inicis answered with a refusal, nothing was captured: declined.
//   - refund: the cancel was refused and nothing moved; declined, so the
//     flow puts it before an operator instead of retrying forever.
//   - inquiry: an answer we cannot read must never be taken as "not found"
//     (a captured payment would be marked failed): invalid.
//   - mobile auth and approval: as the standard auth and approval.
var defaultOutcome = map[api]outcome{
	apiAuth:          {kind: pg.KindDeclined, reason: "authentication failed"},
	apiApprove:       {kind: pg.KindDeclined, reason: "approval refused"},
	apiRefund:        {kind: pg.KindDeclined, reason: "cancel refused"},
	apiInquiry:       {kind: pg.KindInvalid, reason: "inquiry refused"},
	apiMobileAuth:    {kind: pg.KindDeclined, reason: "authentication failed"},
	apiMobileApprove: {kind: pg.KindDeclined, reason: "approval refused"},
}

func lookupCode(a api, code string) outcome {
	if o, ok := resultCodes[a][code]; ok {
		return o
	}
	return defaultOutcome[a]
}

// detailCodes are INIAPI detailResultCode values that say more than the
// resultCode they come with. Inicis answers many refusals with the generic
// resultCode "01" and the reason in detailResultCode, so a listed detail
// code decides the outcome whatever the resultCode.
var detailCodes = map[api]map[string]outcome{
	apiRefund: {
		// Seen in real traffic: a refund of a transaction canceled before
		// answers resultCode "01", resultMsg "기 취소 거래", detailResultCode
		// "512626". Nothing moved now, but the refund the caller wants is
		// done: the flow looks the payment up to confirm it.
		"512626": {kind: pg.KindAlreadyDone, reason: "already canceled (기 취소 거래)"},
	},
}

// alreadyCanceledMsg matches the message Inicis gives a refund of a
// transaction already canceled ("기 취소 거래", also written "기취소"), for
// answers whose codes are not in the tables. Reading such a refusal as
// "already done" is safe: the flow then looks the payment up and only takes
// the cancel as applied if Inicis's own record shows it.
var alreadyCanceledMsg = regexp.MustCompile(`기\s*취소`)

// lookupAnswer maps a whole INIAPI answer: a listed detailResultCode first,
// then the resultCode, then (for refunds refused with an unlisted code) the
// message.
func lookupAnswer(a api, code, detail, msg string) outcome {
	if code != "" {
		if o := lookupCode(a, code); o.ok {
			return o
		}
	}
	if o, ok := detailCodes[a][detail]; ok {
		return o
	}
	if o, ok := resultCodes[a][code]; ok {
		return o
	}
	if a == apiRefund && alreadyCanceledMsg.MatchString(msg) {
		return outcome{kind: pg.KindAlreadyDone, reason: "already canceled (by the message)"}
	}
	return defaultOutcome[a]
}

// transactionStatuses maps INIAPI inquiry's transactionStatus. APPROVAL,
// CANCEL and PART_CANCEL are from the reference. APPROVAL is also what a
// virtual account reports once it is issued, paid or not: for one, the
// deposit status decides (depositStatuses). READY and EXPIRED are the
// sandbox's own for an issued account and one past its due time, as the
// public material does not show what Inicis reports for them. Unlisted
// values make Lookup fail rather than guess.
var transactionStatuses = map[string]pg.Status{
	"APPROVAL":    pg.StatusApproved,
	"CANCEL":      pg.StatusCanceled,
	"PART_CANCEL": pg.StatusPartialCanceled,
	"READY":       pg.StatusWaitingForDeposit,
	"EXPIRED":     pg.StatusExpired,
}

// depositStatuses maps the inquiry's vacctInfo.depositStatus of a virtual
// account: whether the buyer's money arrived. Production integrations read
// the field, but no public material lists its values; "Y" and "N" are the
// ones the sandbox sends. A virtual account is only ever read as paid on a
// value listed here as paid: an unlisted value fails the lookup (nothing is
// guessed), and an answer without a deposit status reads as not paid yet.
var depositStatuses = map[string]bool{
	"Y": true,  // deposited
	"N": false, // issued, no deposit (or the deposit was canceled)
}

// Deposit notification type_msg values.
const (
	notiDeposit = "0200"
	notiCancel  = "0400"
)

// P_STATUS values of INIpay Mobile notifications (P_NOTI_URL): a card
// result or a virtual account's deposit is "00"; a virtual account's
// issue is "02", which carries no payment news.
const (
	mobileNotiPaid   = "00"
	mobileNotiIssued = "02"
)
