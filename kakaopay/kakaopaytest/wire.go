package kakaopaytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// api is one of KakaoPay's two API generations.
type api int

const (
	apiCurrent api = iota // open-api.kakaopay.com: JSON, SECRET_KEY
	apiLegacy             // kapi.kakao.com: form, KakaoAK
)

// KakaoPay's error codes as the sandbox answers them. Only -780 is
// confirmed by KakaoPay's public documentation; the others follow the
// legacy developers.kakao.com error table as integrators quote it and may
// differ from what the live API sends. The shape of the body is the real
// one either way.
const (
	codeInternal         = -1   // internal error (HTTP 500)
	codeInvalidParam     = -2   // missing or malformed parameter
	codeUnauthorized     = -401 // bad or missing key
	codeNotAuthenticated = -701 // approve before the buyer authenticated
	codeAlreadyApproved  = -702 // approve of a tid already approved
	codeOrderMismatch    = -706 // approve with a partner_order_id other than the ready call's
	codeUserMismatch     = -707 // approve with a partner_user_id other than the ready call's
	codeInvalidPGToken   = -708 // pg_token does not belong to the tid
	codeCancelExceeds    = -710 // cancel above the cancelable amount, or its guard is stale
	codeTIDNotFound      = -721 // no such tid
	codeAmountMismatch   = -722 // amount differs from the one readied
	codeExpired          = -723 // the tid's time ran out
	codeInvalidCID       = -731 // cid not issued to this key
	codeApprovalFailure  = -780 // the payment method refused the approval
	codeCancelFailure    = -781 // the cancel was refused
)

// apiError is a KakaoPay error answer.
type apiError struct {
	status int
	code   int
	msg    string
	extras map[string]string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.code, e.msg) }

// errInternal is KakaoPay's answer when it failed before doing anything.
func errInternal() *apiError {
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: "internal server error"}
}

func errParam(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeInvalidParam, msg: "invalid request: " + fmt.Sprintf(format, args...)}
}

// write answers with the error body of the API generation: current
// {"error_code", "error_message", "extras"}, legacy {"code", "msg", "extras"}.
func (e *apiError) write(w http.ResponseWriter, a api) {
	body := map[string]any{}
	if a == apiLegacy {
		body["code"], body["msg"] = e.code, e.msg
	} else {
		body["error_code"], body["error_message"] = e.code, e.msg
	}
	if len(e.extras) > 0 {
		body["extras"] = e.extras
	}
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// maxBody bounds a request body; KakaoPay's largest request is far below.
const maxBody = 64 << 10

// params are a request's parameters as text, whichever encoding carried
// them: JSON strings and numbers both become their text, as KakaoPay
// accepts "2200" and 2200 alike.
type params map[string]string

// readParams decodes the request body of the API generation.
func readParams(w http.ResponseWriter, r *http.Request, a api) (params, *apiError) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if a == apiLegacy {
		if err := r.ParseForm(); err != nil {
			return nil, errParam("form body: %v", err)
		}
		p := params{}
		for k, vs := range r.Form {
			if len(vs) > 0 {
				p[k] = vs[0]
			}
		}
		return p, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, errParam("Content-Type must be application/json")
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, errParam("body: %v", err)
	}
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&fields); err != nil {
		return nil, errParam("JSON body: %v", err)
	}
	if dec.More() {
		return nil, errParam("JSON body: trailing data")
	}
	p := params{}
	for k, v := range fields {
		v = bytes.TrimSpace(v)
		switch {
		case bytes.Equal(v, []byte("null")):
		case len(v) > 0 && v[0] == '"':
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, errParam("%s: %v", k, err)
			}
			p[k] = s
		default:
			p[k] = string(v)
		}
	}
	return p, nil
}

// text returns a required text parameter of at most max runes.
func (p params) text(name string, max int) (string, *apiError) {
	v, ok := p[name]
	if !ok || strings.TrimSpace(v) == "" {
		return "", errParam("%s is required", name)
	}
	if n := len([]rune(v)); n > max {
		return "", errParam("%s is longer than %d characters", name, max)
	}
	return v, nil
}

// optText returns an optional text parameter of at most max runes.
func (p params) optText(name string, max int) (string, *apiError) {
	v, ok := p[name]
	if !ok {
		return "", nil
	}
	if n := len([]rune(v)); n > max {
		return "", errParam("%s is longer than %d characters", name, max)
	}
	return v, nil
}

// integer returns an integer parameter; KakaoPay's amounts are whole won.
func (p params) integer(name string, required bool) (int64, bool, *apiError) {
	v, ok := p[name]
	if !ok {
		if required {
			return 0, false, errParam("%s is required", name)
		}
		return 0, false, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, false, errParam("%s must be an integer, got %q", name, v)
	}
	if n < 0 {
		return 0, false, errParam("%s must not be negative", name)
	}
	return n, true, nil
}

// kst is the zone KakaoPay's offsetless timestamps are in.
var kst = func() *time.Location {
	if loc, err := time.LoadLocation("Asia/Seoul"); err == nil {
		return loc
	}
	return time.FixedZone("KST", 9*60*60)
}()

// stamp formats t as KakaoPay does: "2023-07-15T21:18:22", Seoul time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(kst).Format("2006-01-02T15:04:05")
}

// vatOf is KakaoPay's default VAT: (total − tax free) / 11, rounded half up.
func vatOf(total, taxFree int64) int64 {
	if total <= taxFree {
		return 0
	}
	return (total - taxFree + 5) / 11
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
	// Amount is left out under Config.OmitActionAmounts.
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
