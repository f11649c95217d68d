package inicis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/korean"

	"github.com/paygate/paygate/pg"
)

// maxNotiBody caps a deposit notification; real ones are well under 2 KiB.
const maxNotiBody = 16 << 10

// Notification is a virtual-account deposit notification (가상계좌 입금통보)
// as Inicis posts it, decoded. Text fields arrive in EUC-KR from older
// systems and in UTF-8 from newer ones; both are decoded to UTF-8.
//
// A deposit is a transaction of its own at Inicis: no_tid is the deposit's
// own tid ("ININPGVBNK…"), and the payment it pays is named by no_req_tid,
// the tid the approval returned (also no_cshr_tid when a cash receipt was
// issued). The payment is found by ReqTID, or by the order id when a
// notification carries no no_req_tid; TID is never looked up.
type Notification struct {
	TID            string // no_tid: the deposit's own tid
	ReqTID         string // no_req_tid: the payment's (approval's) tid
	CashReceiptTID string // no_cshr_tid, when a cash receipt was issued
	OrderID        string // no_oid
	MID            string // id_merchant
	TypeMsg        string // type_msg: "0200" deposit, "0400" deposit canceled
	Amount         pg.Money
	Account        string // no_vacct
	BankCode       string // cd_bank
	BankName       string // nm_inputbank
	Depositor      string // nm_input
	MsgSeq         string // no_msgseq: the message's sequence number
	TransSeq       string // no_transseq: the transaction's sequence number, often blank
	TransDate      string // dt_trans, YYYYMMDD
	TransTime      string // tm_trans, hhmmss
	AfterClosing   bool   // cl_close / flg_close = "1"
}

// ParseNotification decodes a deposit notification body without verifying
// where it came from; ParseWebhook verifies.
func ParseNotification(body []byte) (*Notification, error) {
	if len(body) > maxNotiBody {
		return nil, fmt.Errorf("inicis: notification of %d bytes is too large", len(body))
	}
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("inicis: notification is not form data: %w", err)
	}
	get := func(name string) string { return decodeText(vals.Get(name)) }
	n := &Notification{
		TID: get("no_tid"), ReqTID: get("no_req_tid"), CashReceiptTID: get("no_cshr_tid"),
		OrderID: get("no_oid"), MID: get("id_merchant"), TypeMsg: get("type_msg"),
		Account: get("no_vacct"), BankCode: get("cd_bank"), BankName: get("nm_inputbank"),
		Depositor: get("nm_input"), MsgSeq: get("no_msgseq"),
		// Inicis spells it no_transseq; some copies of its field list
		// no_transeq.
		TransSeq:  firstNonEmpty(get("no_transseq"), get("no_transeq")),
		TransDate: get("dt_trans"), TransTime: get("tm_trans"),
		AfterClosing: firstNonEmpty(get("cl_close"), get("flg_close")) == "1",
	}
	var missing []string
	for name, v := range map[string]string{"no_tid": n.TID, "no_oid": n.OrderID, "id_merchant": n.MID, "type_msg": n.TypeMsg, "amt_input": get("amt_input"), "dt_trans": n.TransDate} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("inicis: notification lacks %s", strings.Join(slices.Sorted(slices.Values(missing)), ", "))
	}
	if n.TypeMsg != notiDeposit && n.TypeMsg != notiCancel {
		return nil, fmt.Errorf("inicis: notification type_msg %q is neither %s nor %s", n.TypeMsg, notiDeposit, notiCancel)
	}
	if n.Amount, err = parseWon(get("amt_input")); err != nil {
		return nil, fmt.Errorf("inicis: notification amt_input: %w", err)
	}
	if !n.Amount.IsPositive() {
		return nil, fmt.Errorf("inicis: notification amt_input must be positive")
	}
	for _, t := range []string{n.TID, n.ReqTID, n.CashReceiptTID} {
		if t == "" {
			continue
		}
		if err := checkTID("webhook", t); err != nil {
			return nil, err
		}
	}
	for name, seq := range map[string]string{"no_msgseq": n.MsgSeq, "no_transseq": n.TransSeq} {
		if err := checkSeq(seq); err != nil {
			return nil, fmt.Errorf("inicis: notification %s: %w", name, err)
		}
	}
	if err := checkOID("webhook", n.OrderID); err != nil {
		return nil, err
	}
	if _, err := n.OccurredAt(); err != nil {
		return nil, err
	}
	return n, nil
}

// checkSeq refuses sequence numbers a dedup key cannot carry.
func checkSeq(seq string) error {
	if len(seq) > 40 {
		return fmt.Errorf("%d bytes is too long", len(seq))
	}
	for _, c := range []byte(seq) {
		if c <= ' ' || c > '~' {
			return fmt.Errorf("%q has a non-printable character", seq)
		}
	}
	return nil
}

// DedupKey identifies the notice: the deposit's tid, the message type and
// the message's sequence number (no_msgseq, else no_transseq, else the
// transaction time). Inicis delivering one notice again repeats it; a
// later notice about the same deposit, such as a second deposit-cancel
// notice, has a sequence of its own and is news.
func (n *Notification) DedupKey() string {
	seq := firstNonEmpty(n.MsgSeq, n.TransSeq)
	if seq == "" {
		seq = "t" + n.TransDate + n.TransTime
	}
	return "vbank:" + n.TID + ":" + n.TypeMsg + ":" + seq
}

// OccurredAt is dt_trans/tm_trans in KST.
func (n *Notification) OccurredAt() (time.Time, error) {
	t, err := parseKST(n.TransDate, n.TransTime)
	if err != nil {
		return t, fmt.Errorf("inicis: notification dt_trans/tm_trans: %w", err)
	}
	return t, nil
}

// decodeText turns a form value into UTF-8: valid UTF-8 stays, anything else
// is read as EUC-KR (CP949), the legacy encoding of Inicis notifications.
func decodeText(s string) string {
	s = strings.TrimSpace(s)
	if utf8.ValidString(s) {
		return s
	}
	out, err := korean.EUCKR.NewDecoder().String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return out
}

// ParseWebhook verifies and reads a virtual-account deposit notification
// (type_msg 0200) or deposit-cancel notification (0400). Inicis does not
// sign them, so the checks are: the connection's peer address is one of
// Config.NotiSources; the MID is ours; and, unless Config.SkipNotiInquiry,
// the payment fetched back from INIAPI — by no_req_tid, the payment's tid,
// or by the order id when the notice has none; never by no_tid, which is
// the deposit's own — is a virtual account for the notified order and
// amount whose state agrees with the notice: paid for a deposit, paid and
// refunded again for a deposit cancel. A notification failing a check is
// refused with an error wrapping pg.ErrWebhookRejected, before anything is
// stored. When the inquiry itself fails, or Inicis has not recorded a
// notified deposit yet, the error is not a rejection: answer anything but
// "OK" and Inicis delivers again.
//
// The event names the payment by its tid (PaymentKey) and carries the
// inquiry's view of it (Payment); its DedupKey is the notice's own
// (Notification.DedupKey).
//
// INIpay Mobile's notifications (P_NOTI_URL, P_* fields) come to the same
// place and pass the same source check; see parseMobileWebhook for the
// rest (MobileNotification).
func (g *Gateway) ParseWebhook(ctx context.Context, req pg.WebhookRequest) (*pg.WebhookEvent, error) {
	reject := func(format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		g.log.WarnContext(ctx, "inicis: notification rejected", "remoteAddr", req.RemoteAddr, "reason", msg)
		return fmt.Errorf("inicis: notification rejected: %s: %w", msg, pg.ErrWebhookRejected)
	}
	addr, err := peerAddr(req.RemoteAddr)
	if err != nil {
		return nil, reject("peer address %q: %v", req.RemoteAddr, err)
	}
	if !g.trustedSource(addr) {
		return nil, reject("source %s is not an Inicis notification address", addr)
	}
	if isMobileNoti(req.Body) {
		return g.parseMobileWebhook(ctx, req, reject)
	}
	n, err := ParseNotification(req.Body)
	if err != nil {
		return nil, reject("%v", err)
	}
	if n.MID != g.cfg.MID {
		return nil, reject("merchant %q is not ours", n.MID)
	}
	at, _ := n.OccurredAt()
	ev := &pg.WebhookEvent{
		PG:         Name,
		Type:       pg.WebhookDeposit,
		DedupKey:   n.DedupKey(),
		PaymentKey: n.ReqTID,
		OrderID:    n.OrderID,
		Status:     pg.StatusApproved,
		Amount:     n.Amount,
		OccurredAt: at,
	}
	if n.TypeMsg == notiCancel {
		ev.Type, ev.Status = pg.WebhookCancelStatus, pg.StatusCanceled
	}
	if g.cfg.SkipNotiInquiry {
		return ev, nil
	}
	lookup := pg.LookupRequest{PaymentKey: n.ReqTID}
	if n.ReqTID == "" {
		lookup = pg.LookupRequest{OrderID: n.OrderID}
	}
	p, err := g.Lookup(ctx, lookup)
	if err != nil {
		if errors.Is(err, pg.ErrNotFound) {
			return nil, reject("payment %s is unknown to Inicis", firstNonEmpty(n.ReqTID, "of order "+n.OrderID))
		}
		return nil, fmt.Errorf("inicis: verify notification for order %q: %w", n.OrderID, err)
	}
	switch {
	case p.OrderID != "" && p.OrderID != n.OrderID:
		return nil, reject("tid %q belongs to order %q, not %q", p.PaymentKey, p.OrderID, n.OrderID)
	case n.ReqTID == "" && n.TID != p.PaymentKey && !isDepositTID(n.TID):
		// Without no_req_tid, no_tid is either the deposit's own tid or,
		// in older notices, the payment's: anything else names another
		// transaction.
		return nil, reject("no_tid %q is neither a deposit nor the order's payment %q", n.TID, p.PaymentKey)
	case !p.Amount.Equal(n.Amount):
		return nil, reject("notified amount %s differs from the payment's %s", n.Amount, p.Amount)
	case p.Method != "" && p.Method != pg.MethodVirtualAccount:
		return nil, reject("tid %q is a %s payment, not a virtual account", p.PaymentKey, p.Method)
	case p.Method == "":
		return nil, fail("webhook", pg.KindUnknown, "", fmt.Sprintf("Inicis does not say whether %s is a virtual account", p.PaymentKey), 0, nil)
	}
	// Money that came in and went out again shows as cancels of a
	// canceled (or partially canceled) payment.
	refunded := (p.Status == pg.StatusCanceled || p.Status == pg.StatusPartialCanceled) && len(p.Cancels) > 0
	deposited := p.Status == pg.StatusApproved || refunded
	switch n.TypeMsg {
	case notiDeposit:
		if !deposited {
			// Inicis has not recorded the deposit it notifies: not trusted
			// yet, not forged either; a redelivery will find it.
			return nil, fail("webhook", pg.KindUnknown, "", fmt.Sprintf("Inicis reports %s for a notified deposit", p.Status), 0, nil)
		}
	case notiCancel:
		if p.Status != pg.StatusCanceled || !refunded {
			return nil, reject("a deposit cancel of %s, which Inicis reports %s", p.PaymentKey, p.Status)
		}
		ev.Status = p.Status
	}
	ev.PaymentKey = p.PaymentKey
	ev.Payment = p
	return ev, nil
}

// isDepositTID reports whether tid has the prefix of a virtual-account
// deposit's own tid.
func isDepositTID(tid string) bool { return strings.HasPrefix(tid, "ININPGVBNK") }

func peerAddr(remote string) (netip.Addr, error) {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, err
	}
	return a.Unmap(), nil
}

func (g *Gateway) trustedSource(a netip.Addr) bool {
	for _, p := range g.cfg.NotiSources {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// AckWebhook answers a stored notification with the plain text "OK" Inicis
// expects; any other answer makes it deliver again.
func (g *Gateway) AckWebhook(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "OK")
}
