package tosspay

import (
	"encoding/json"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pghttp"
)

// statusInfo is how one Toss payment status maps onto paygate's.
type statusInfo struct {
	status pg.Status
	why    string
}

// statuses maps every Toss payment status (pg-apis.md 1.6) onto pg.Status.
// An unlisted status (Toss adds enums without a new API version) decodes to
// an error, never to a guess.
var statuses = map[string]statusInfo{
	"READY":               {pg.StatusPending, "payment window opened, buyer not authenticated; nothing captured"},
	"IN_PROGRESS":         {pg.StatusPending, "buyer authenticated, confirm not (yet) applied; nothing captured"},
	"WAITING_FOR_DEPOSIT": {pg.StatusWaitingForDeposit, "virtual account issued, deposit pending"},
	"DONE":                {pg.StatusApproved, "captured (or virtual account deposited)"},
	"CANCELED":            {pg.StatusCanceled, "refunded in full, or virtual account canceled before deposit"},
	"PARTIAL_CANCELED":    {pg.StatusPartialCanceled, "part of the amount refunded"},
	"ABORTED":             {pg.StatusFailed, "approval failed; nothing captured"},
	"EXPIRED":             {pg.StatusExpired, "the 30-minute window or the 10-minute confirm limit passed; nothing captured"},
}

// codeInfo is how one Toss error code maps onto a pg.Kind.
type codeInfo struct {
	kind pg.Kind
	// retryable: Toss's own message says the same request may work later.
	retryable bool
	why       string
}

// Shorthands keep the table readable.
const (
	declined    = pg.KindDeclined
	invalid     = pg.KindInvalid
	unavailable = pg.KindUnavailable
	unknown     = pg.KindUnknown
	alreadyDone = pg.KindAlreadyDone
	notFound    = pg.KindNotFound
)

// errorCodes maps every Toss error code of pg-apis.md 1.7 (confirm, lookup,
// cancel, idempotency and the other codes of the full table) onto a kind.
// A code not listed falls back to pg.KindForHTTPStatus of the answer.
var errorCodes = map[string]codeInfo{
	// Already happened: look the payment up to learn the result.
	"ALREADY_PROCESSED_PAYMENT": {alreadyDone, false, "confirm already applied (double submit); look it up"},
	"ALREADY_CANCELED_PAYMENT":  {alreadyDone, false, "the payment is already canceled"},
	"ALREADY_REFUND_PAYMENT":    {alreadyDone, false, "the refund was already made"},
	"ALREADY_COMPLETED_PAYMENT": {alreadyDone, false, "the payment is already complete"},
	"ALREADY_REFUNDING_PAYMENT": {alreadyDone, false, "a refund of this payment is in progress"},
	"DUPLICATED_ORDER_ID":       {alreadyDone, false, "the orderId was already approved or canceled"},
	"DUPLICATED_REQUEST":        {alreadyDone, false, "the same request was already received"},
	// The balance guard refused: a cancel was applied since the balance was
	// read (possibly this very cancel, resent); the caller must look up the
	// payment before deciding anything.
	"NOT_MATCHES_REFUNDABLE_AMOUNT": {alreadyDone, false, "refundableAmount guard: the balance moved; look it up"},

	// Definite refusals of a confirm: no money moved, the buyer may try again.
	"PROVIDER_ERROR":                                      {declined, true, "card company or bank temporary error; try again later"},
	"EXCEED_MAX_CARD_INSTALLMENT_PLAN":                    {declined, false, "installment months over the limit"},
	"NOT_ALLOWED_POINT_USE":                               {declined, false, "card points not allowed"},
	"INVALID_REJECT_CARD":                                 {declined, false, "card refused"},
	"BELOW_MINIMUM_AMOUNT":                                {declined, false, "below minimum (card 100 KRW, account 200 KRW)"},
	"INVALID_CARD_EXPIRATION":                             {declined, false, "card expired"},
	"INVALID_STOPPED_CARD":                                {declined, false, "card suspended"},
	"EXCEED_MAX_DAILY_PAYMENT_COUNT":                      {declined, false, "daily payment count exceeded"},
	"NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT":     {declined, false, "installments not supported"},
	"INVALID_CARD_INSTALLMENT_PLAN":                       {declined, false, "bad installment plan"},
	"NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN":              {declined, false, "monthly installments not supported"},
	"NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN_BELOW_AMOUNT": {declined, false, "installments not allowed below the amount"},
	"EXCEED_MAX_PAYMENT_AMOUNT":                           {declined, false, "over the payment limit"},
	"INVALID_AUTHORIZE_AUTH":                              {declined, false, "authentication invalid"},
	"INVALID_CARD_LOST_OR_STOLEN":                         {declined, false, "card reported lost or stolen"},
	"RESTRICTED_TRANSFER_ACCOUNT":                         {declined, false, "account restricted for transfers"},
	"INVALID_CARD_NUMBER":                                 {declined, false, "card number invalid"},
	"EXCEED_MAX_ONE_DAY_WITHDRAW_AMOUNT":                  {declined, false, "daily withdrawal limit exceeded"},
	"EXCEED_MAX_ONE_TIME_WITHDRAW_AMOUNT":                 {declined, false, "single withdrawal limit exceeded"},
	"CARD_PROCESSING_ERROR":                               {declined, false, "card company refused processing"},
	"EXCEED_MAX_AMOUNT":                                   {declined, false, "over the transaction limit"},
	"INVALID_ACCOUNT_INFO_RE_REGISTER":                    {declined, false, "account must be registered again"},
	"NOT_AVAILABLE_PAYMENT":                               {declined, false, "payment not available at this time"},
	"UNAPPROVED_ORDER_ID":                                 {declined, false, "order not authenticated by the buyer"},
	"EXCEED_MAX_MONTHLY_PAYMENT_AMOUNT":                   {declined, false, "monthly limit exceeded"},
	"REJECT_CARD_PAYMENT":                                 {declined, false, "limit exceeded or insufficient balance"},
	"REJECT_CARD_COMPANY":                                 {declined, false, "card company refused"},
	"REJECT_ACCOUNT_PAYMENT":                              {declined, false, "insufficient balance"},
	"REJECT_TOSSPAY_INVALID_ACCOUNT":                      {declined, false, "Toss Pay linked account invalid"},
	"EXCEED_MAX_AUTH_COUNT":                               {declined, false, "too many authentication attempts"},
	"EXCEED_MAX_ONE_DAY_AMOUNT":                           {declined, false, "daily amount exceeded"},
	"NOT_AVAILABLE_BANK":                                  {declined, false, "bank not available now"},
	"INVALID_PASSWORD":                                    {declined, false, "wrong payment password"},
	"FDS_ERROR":                                           {declined, false, "fraud detection refused"},
	"NOT_FOUND_PAYMENT_SESSION":                           {declined, false, "the 10/30-minute payment session expired; nothing captured"},
	"PAY_PROCESS_CANCELED":                                {declined, false, "buyer canceled the payment"},
	"PAY_PROCESS_ABORTED":                                 {declined, false, "payment aborted"},
	"FAILED_BILL_KEY_AUTH_CREATION":                       {declined, true, "billing key not created; try again later"},

	// Definite refusals of a cancel.
	"EXCEED_CANCEL_AMOUNT_DISCOUNT_AMOUNT":       {declined, false, "cancel amount exceeds what the discount allows"},
	"REFUND_REJECTED":                            {declined, false, "refund refused"},
	"FORBIDDEN_BANK_REFUND_REQUEST":              {declined, false, "bank refuses the refund"},
	"NOT_CANCELABLE_AMOUNT":                      {declined, false, "amount not cancelable (over the balance)"},
	"NOT_CANCELABLE_PAYMENT":                     {declined, false, "payment not cancelable"},
	"EXCEED_MAX_REFUND_DUE":                      {declined, false, "refund window passed"},
	"NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT": {declined, false, "virtual account before deposit: full cancel only"},
	"NOT_ALLOWED_PARTIAL_REFUND":                 {declined, false, "partial refund not allowed for this payment"},
	"NOT_CANCELABLE_PAYMENT_FOR_DORMANT_USER":    {declined, false, "buyer account dormant"},
	"EXCEED_CANCEL_LIMIT":                        {declined, false, "cancel limit exceeded"},
	"EXCEED_MAX_REFUND_AMOUNT":                   {declined, false, "refund amount over the limit"},

	// Our request is wrong or our keys are: the same request cannot succeed.
	"INVALID_REQUEST":               {invalid, false, "bad parameters"},
	"INVALID_API_KEY":               {invalid, false, "wrong secret key"},
	"NOT_FOUND_TERMINAL_ID":         {invalid, false, "merchant terminal not configured"},
	"INVALID_UNREGISTERED_SUBMALL":  {invalid, false, "sub-mall not registered"},
	"NOT_REGISTERED_BUSINESS":       {invalid, false, "business not registered"},
	"UNAUTHORIZED_KEY":              {invalid, false, "secret key not authorised"},
	"FORBIDDEN_REQUEST":             {invalid, false, "request forbidden (key or MID mismatch)"},
	"INCORRECT_BASIC_AUTH_FORMAT":   {invalid, false, "Authorization header malformed"},
	"INVALID_REFUND_ACCOUNT_INFO":   {invalid, false, "refund account details wrong"},
	"INVALID_REFUND_ACCOUNT_NUMBER": {invalid, false, "refund account number malformed"},
	"INVALID_BANK":                  {invalid, false, "bank code invalid"},
	"INVALID_ORDER_ID":              {invalid, false, "orderId format invalid"},
	"API_VERSION_UPDATE_NEEDED":     {invalid, false, "merchant API version too old for this call"},
	"INVALID_TEST_CODE":             {invalid, false, "bad TossPayments-Test-Code"},
	"INVALID_IDEMPOTENCY_KEY":       {invalid, false, "Idempotency-Key longer than 300 chars"},
	"NOT_FOUND_MERCHANT":            {invalid, false, "merchant unknown to Toss (configuration)"},

	// Not processed: try again later.
	"FORBIDDEN_CONSECUTIVE_REQUEST": {unavailable, true, "too many consecutive requests; refused before processing"},
	"MAINTAINED_METHOD":             {unavailable, true, "payment method under maintenance"},

	// Not found.
	"NOT_FOUND_PAYMENT": {notFound, false, "no such payment"},
	// A generic NOT_FOUND names no payment: it may be a wrong path or API,
	// and reading it as "no such payment" would write a captured payment off.
	"NOT_FOUND":         {invalid, false, "no such resource (not a payment answer)"},
	"NOT_FOUND_BILLING": {notFound, false, "no such billing key"},

	// Toss-side failures: the call may have been applied; look it up (a
	// resend with the same Idempotency-Key returns the first result).
	"FAILED_INTERNAL_SYSTEM_PROCESSING":         {unknown, true, "Toss internal error; try again later"},
	"FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING": {unknown, true, "institution-side error; try again"},
	"UNKNOWN_PAYMENT_ERROR":                     {unknown, true, "unknown payment error"},
	"FAILED_REFUND_PROCESS":                     {unknown, true, "bank-side refund failure"},
	"FAILED_PARTIAL_REFUND":                     {unknown, true, "partial refund failed at the institution"},
	"FAILED_METHOD_HANDLING_CANCEL":             {unknown, true, "method-side cancel failure"},
	"FAILED_METHOD_HANDLING":                    {unknown, true, "method-side failure"},
	"COMMON_ERROR":                              {unknown, true, "generic error; try again later"},
	"FAILED_DB_PROCESSING":                      {unknown, true, "Toss database error"},
	"UNKNOWN_ERROR":                             {unknown, true, "unknown error; try again later"},
	"FAILED_BILLING_AUTO_CANCEL":                {unknown, true, "billing auto-cancel failed"},
	// The first request with this Idempotency-Key is still running: resent
	// with the same key (bounded); still running after that means unknown.
	"IDEMPOTENT_REQUEST_PROCESSING": {unknown, true, "first request with this key still in flight; resend with the same key"},
}

// errorFromResponse maps a Toss error answer onto a *pg.Error through the
// code table, falling back to the HTTP status.
func errorFromResponse(op string, resp *pghttp.Response) *pg.Error {
	e := resp.StatusError(Name, op)
	var body errorJSON
	if err := json.Unmarshal(resp.Body, &body); err == nil {
		if body.Code == "" && body.Error != nil {
			body.Code, body.Message = body.Error.Code, body.Error.Message
		}
		if body.Code != "" {
			e.Code, e.Message = body.Code, body.Message
			if info, ok := errorCodes[body.Code]; ok {
				e.Kind, e.Retryable = info.kind, info.retryable
			}
		}
	}
	return e
}

// KindOfCode reports how the adapter classifies a Toss error code, and
// whether the code is in its table.
func KindOfCode(code string) (pg.Kind, bool) {
	info, ok := errorCodes[code]
	return info.kind, ok
}
