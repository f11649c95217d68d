package inicis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/paygate/paygate/pg"
)

// MobileNotification is an INIpay Mobile notification as Inicis posts it to
// P_NOTI_URL, decoded: a virtual account's deposit (P_TYPE VBANK, P_STATUS
// 00), its issue (P_STATUS 02, no payment news), or a card result (P_STATUS
// 00). Text fields arrive in EUC-KR or UTF-8; both are decoded to UTF-8.
// Unlike the standard deposit notification, P_TID is the payment's own tid.
type MobileNotification struct {
	TID      string // P_TID: the payment's tid
	MID      string // P_MID
	Status   string // P_STATUS: "00" paid (deposit or card result), "02" account issued
	Type     string // P_TYPE: VBANK, CARD, ISP, BANK, MOBILE, ...
	OrderID  string // P_OID
	Amount   pg.Money
	AuthDT   string // P_AUTH_DT, YYYYMMDDhhmmss
	BankName string // P_FN_NM
	Message  string // P_RMESG1
}

// isMobileNoti reports whether a notification body is INIpay Mobile's
// (P_* fields) rather than the standard deposit notification's.
func isMobileNoti(body []byte) bool {
	if len(body) > maxNotiBody {
		return false
	}
	vals, err := url.ParseQuery(string(body))
	return err == nil && (vals.Has("P_TID") || vals.Has("P_STATUS"))
}

// ParseMobileNotification decodes a P_NOTI_URL notification body without
// verifying where it came from; ParseWebhook verifies.
func ParseMobileNotification(body []byte) (*MobileNotification, error) {
	if len(body) > maxNotiBody {
		return nil, fmt.Errorf("inicis: notification of %d bytes is too large", len(body))
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("inicis: notification is not form data: %w", err)
	}
	for name, v := range vals {
		if len(v) > 1 && strings.HasPrefix(name, "P_") {
			return nil, fmt.Errorf("inicis: notification gives %s %d times", name, len(v))
		}
	}
	get := func(name string) string { return decodeText(vals.Get(name)) }
	n := &MobileNotification{
		TID: get("P_TID"), MID: get("P_MID"), Status: get("P_STATUS"), Type: strings.ToUpper(get("P_TYPE")),
		OrderID: get("P_OID"), AuthDT: get("P_AUTH_DT"), BankName: get("P_FN_NM"), Message: get("P_RMESG1"),
	}
	var missing []string
	for name, v := range map[string]string{"P_TID": n.TID, "P_MID": n.MID, "P_STATUS": n.Status, "P_TYPE": n.Type, "P_OID": n.OrderID, "P_AMT": get("P_AMT")} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("inicis: notification lacks %s", strings.Join(slices.Sorted(slices.Values(missing)), ", "))
	}
	if err := checkTID("webhook", n.TID); err != nil {
		return nil, err
	}
	if err := checkOID("webhook", n.OrderID); err != nil {
		return nil, err
	}
	if err := checkSeq(n.Status); err != nil || len(n.Status) > 4 {
		return nil, fmt.Errorf("inicis: notification P_STATUS %q is not a status", n.Status)
	}
	if !isMobileFieldName(n.Type) {
		return nil, fmt.Errorf("inicis: notification P_TYPE %q is not a method", n.Type)
	}
	if n.Amount, err = parseWon(get("P_AMT")); err != nil {
		return nil, fmt.Errorf("inicis: notification P_AMT: %w", err)
	}
	if !n.Amount.IsPositive() {
		return nil, errors.New("inicis: notification P_AMT must be positive")
	}
	if _, err := n.OccurredAt(); err != nil {
		return nil, err
	}
	return n, nil
}

// OccurredAt is P_AUTH_DT in KST (the zero time when it is absent).
func (n *MobileNotification) OccurredAt() (time.Time, error) {
	t, err := parseAuthDT(n.AuthDT)
	if err != nil {
		return t, fmt.Errorf("inicis: notification P_AUTH_DT: %w", err)
	}
	return t, nil
}

// DedupKey identifies the news: the payment's tid and its P_STATUS. Inicis
// delivering a notice again repeats both; a payment is deposited (or its
// card result reported) once.
func (n *MobileNotification) DedupKey() string {
	return "mobile:" + n.TID + ":" + n.Status
}

// isVirtualAccount reports whether the notice is about a virtual account.
func (n *MobileNotification) isVirtualAccount() bool {
	return methodOf(n.Type) == pg.MethodVirtualAccount
}

// parseMobileWebhook verifies and reads an INIpay Mobile notification, the
// source address having been checked: the merchant is ours and, unless
// Config.SkipNotiInquiry, the payment fetched back from INIAPI by P_TID is
// for the notified order and amount, of the notified kind (a virtual
// account for a VBANK notice, anything else for a card result), and paid.
// A deposit Inicis has not recorded yet is not a rejection (answer anything
// but "OK" and Inicis delivers again); a virtual account's issue (P_STATUS
// 02) or a failed result carries no payment news and returns (nil, nil).
func (g *Gateway) parseMobileWebhook(ctx context.Context, req pg.WebhookRequest, reject func(string, ...any) error) (*pg.WebhookEvent, error) {
	n, err := ParseMobileNotification(req.Body)
	if err != nil {
		return nil, reject("%v", err)
	}
	if n.MID != g.cfg.MID {
		return nil, reject("merchant %q is not ours", n.MID)
	}
	if n.Status != mobileNotiPaid {
		// An account issued (02), or a result that is not a payment: the
		// approval answer already told the flow; nothing to act on.
		return nil, nil
	}
	at, _ := n.OccurredAt()
	ev := &pg.WebhookEvent{
		PG: Name, Type: pg.WebhookPaymentStatus, DedupKey: n.DedupKey(),
		PaymentKey: n.TID, OrderID: n.OrderID, Status: pg.StatusApproved, Amount: n.Amount, OccurredAt: at,
	}
	if n.isVirtualAccount() {
		ev.Type = pg.WebhookDeposit
	}
	if g.cfg.SkipNotiInquiry {
		return ev, nil
	}
	p, err := g.Lookup(ctx, pg.LookupRequest{PaymentKey: n.TID})
	if err != nil {
		if errors.Is(err, pg.ErrNotFound) {
			return nil, reject("payment %s is unknown to Inicis", n.TID)
		}
		return nil, fmt.Errorf("inicis: verify notification for order %q: %w", n.OrderID, err)
	}
	switch {
	case p.OrderID != "" && p.OrderID != n.OrderID:
		return nil, reject("tid %q belongs to order %q, not %q", p.PaymentKey, p.OrderID, n.OrderID)
	case !p.Amount.Equal(n.Amount):
		return nil, reject("notified amount %s differs from the payment's %s", n.Amount, p.Amount)
	case p.Method == "":
		return nil, fail("webhook", pg.KindUnknown, "", fmt.Sprintf("Inicis does not say whether %s is a virtual account", p.PaymentKey), 0, nil)
	case n.isVirtualAccount() && p.Method != pg.MethodVirtualAccount:
		return nil, reject("tid %q is a %s payment, not a virtual account", p.PaymentKey, p.Method)
	case !n.isVirtualAccount() && p.Method == pg.MethodVirtualAccount:
		return nil, reject("tid %q is a virtual account, not a %s payment", p.PaymentKey, n.Type)
	}
	refunded := (p.Status == pg.StatusCanceled || p.Status == pg.StatusPartialCanceled) && len(p.Cancels) > 0
	if p.Status != pg.StatusApproved && !refunded {
		// Inicis has not recorded what it notifies: not trusted yet, not
		// forged either; a redelivery will find it.
		return nil, fail("webhook", pg.KindUnknown, "", fmt.Sprintf("Inicis reports %s for a notified payment", p.Status), 0, nil)
	}
	ev.PaymentKey = p.PaymentKey
	ev.Payment = p
	return ev, nil
}
