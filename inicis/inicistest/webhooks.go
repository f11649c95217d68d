package inicistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/korean"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

var (
	_ pgtest.WebhookSandbox        = (*Sandbox)(nil)
	_ pgtest.VirtualAccountSandbox = (*Sandbox)(nil)
)

// ErrNoNotification is returned by Webhooks for an order Inicis has sent no
// notification about: Inicis notifies the shop of virtual-account deposits
// and of INIpay Mobile card results, never of standard card payments or of
// cancels.
var ErrNoNotification = errors.New("inicistest: Inicis sent no notification for the order")

// Source addresses the sandbox's deliveries come from, as the shop's
// listener would see them; GatewayConfig trusts loopback.
const (
	notiPeer      = "127.0.0.1:41001"
	notiPeerRetry = "127.0.0.1:41002"
	foreignPeer   = "198.51.100.7:41003"
)

// SetWebhookURL changes where deposit notifications go ("" sends none).
func (s *Sandbox) SetWebhookURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL = u
}

// SetNotifyURL is the former name of SetWebhookURL.
//
// Deprecated: use SetWebhookURL.
func (s *Sandbox) SetNotifyURL(u string) { s.SetWebhookURL(u) }

func notiHeader() http.Header {
	return http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=EUC-KR"}}
}

// Webhooks returns the latest notification about the order's virtual
// account (after Deposit, or CancelDeposit) as first delivered and as
// Inicis's redelivery of it: the same body from a new connection.
func (s *Sandbox) Webhooks(ctx context.Context, orderID string) (first, retry pgtest.WebhookDelivery, err error) {
	if err := ctx.Err(); err != nil {
		return first, retry, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byOID[orderID]
	var noti []byte
	switch {
	case p == nil:
	case p.vact != nil:
		noti = p.vact.noti
	default:
		noti = p.cardNoti
	}
	if noti == nil {
		return first, retry, fmt.Errorf("%w %q (only virtual-account deposits and mobile card results are notified; call Deposit first)", ErrNoNotification, orderID)
	}
	body := append([]byte(nil), noti...)
	first = pgtest.WebhookDelivery{Header: notiHeader(), Body: body, RemoteAddr: notiPeer}
	retry = pgtest.WebhookDelivery{Header: notiHeader(), Body: append([]byte(nil), body...), RemoteAddr: notiPeerRetry}
	return first, retry, nil
}

// ForgedWebhooks returns notifications an attacker could send about the
// order's payment: the genuine content from a foreign address, and from a
// trusted address a tampered amount, a payment tid (no_req_tid) Inicis does
// not know, another merchant, a message type Inicis does not send, a
// deposit cancel of a deposit that stands (or, for a card payment, of one
// that never was) and, for a card payment, a deposit that never was. A
// verifying parser refuses every one.
func (s *Sandbox) ForgedWebhooks(ctx context.Context, orderID string) ([]pgtest.WebhookDelivery, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.byOID[orderID]
	if p == nil {
		return nil, fmt.Errorf("inicistest: no approved payment for order %q", orderID)
	}
	if p.mobile {
		return s.forgedMobileLocked(p), nil
	}
	k := s.cfg.Now().In(kst)
	depositTID := "ININPGVBNK" + (s.cfg.MID + "0000000000")[:10] + k.Format("20060102150405") + "999998"
	if p.vact != nil && p.vact.depositTID != "" {
		depositTID = p.vact.depositTID
	}
	base := func() url.Values {
		return url.Values{
			"no_tid": {depositTID}, "no_req_tid": {p.tid}, "no_oid": {p.oid}, "id_merchant": {s.cfg.MID},
			"cd_bank": {"04"}, "dt_trans": {k.Format("20060102")}, "tm_trans": {k.Format("150405")},
			"no_msgseq": {"9999999999"}, "type_msg": {"0200"}, "no_vacct": {"90000000000000"},
			"amt_input": {strconv.FormatInt(p.price, 10)},
		}
	}
	with := func(name, value string) []byte {
		v := base()
		v.Set(name, value)
		return []byte(v.Encode())
	}
	out := []pgtest.WebhookDelivery{
		{Header: notiHeader(), Body: []byte(base().Encode()), RemoteAddr: foreignPeer},
		{Header: notiHeader(), Body: with("amt_input", strconv.FormatInt(p.price*10, 10)), RemoteAddr: notiPeer},
		{Header: notiHeader(), Body: with("no_req_tid", p.tid[:10]+(s.cfg.MID + "0000000000")[:10]+"20000101000000999999"), RemoteAddr: notiPeer},
		{Header: notiHeader(), Body: with("id_merchant", "forged0001"), RemoteAddr: notiPeer},
		{Header: notiHeader(), Body: with("type_msg", "0210"), RemoteAddr: notiPeer},
	}
	if p.vact == nil || (!p.vact.depositAt.IsZero() && !p.vact.reversed && p.status == pg.StatusApproved) {
		out = append(out, pgtest.WebhookDelivery{Header: notiHeader(), Body: with("type_msg", "0400"), RemoteAddr: notiPeer})
	}
	if p.vact == nil {
		out = append(out, pgtest.WebhookDelivery{Header: notiHeader(), Body: []byte(base().Encode()), RemoteAddr: notiPeer})
	}
	return out, nil
}

// depositNoti builds a notification form about the account's deposit, in
// the shape Inicis sends: no_tid is the deposit's own tid, no_req_tid the
// payment's, no_msgseq the message's sequence. Callers hold mu.
func (s *Sandbox) depositNoti(p *payment, now time.Time, typeMsg string) []byte {
	text := func(v string) string {
		if s.cfg.UTF8Noti {
			return v
		}
		enc, err := korean.EUCKR.NewEncoder().String(v)
		if err != nil {
			return v
		}
		return enc
	}
	k := now.In(kst)
	s.seq++
	v := url.Values{
		"no_tid": {p.vact.depositTID}, "no_req_tid": {p.tid}, "no_oid": {p.oid}, "id_merchant": {s.cfg.MID},
		"cd_bank": {p.vact.bank}, "cd_deal": {p.vact.bank},
		"dt_trans": {k.Format("20060102")}, "tm_trans": {k.Format("150405")},
		"no_msgseq": {fmt.Sprintf("%010d", 9000000000+s.seq)}, "cd_joinorg": {"20000101"},
		"dt_transbase": {k.Format("20060102")}, "no_transseq": {" "},
		"type_msg": {typeMsg}, "cl_close": {"0"}, "flg_close": {"0"}, "cl_kor": {"2"},
		"no_msgmanage": {" "}, "no_vacct": {p.vact.num},
		"amt_input": {strconv.FormatInt(p.price, 10)}, "amt_check": {"0"},
		"nm_inputbank": {text("국민은행")}, "nm_input": {text("홍길동")},
		"dt_inputstd": {k.Format("20060102")}, "dt_calculstd": {k.Format("20060102")},
		"cl_trans": {"1100"},
	}
	return []byte(v.Encode())
}

// notify posts a notification to the shop and wants "OK" back.
func (s *Sandbox) notify(ctx context.Context, client *http.Client, target string, body []byte) error {
	if target == "" {
		// Nowhere to deliver: the deposit is recorded and Webhooks hands
		// the notification out.
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("inicistest: notification request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=EUC-KR")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("inicistest: send notification: %w", err)
	}
	defer resp.Body.Close()
	ack, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(ack)) != "OK" {
		s.log.Warn("notification not acknowledged", "url", target, "status", resp.StatusCode)
		return fmt.Errorf("%w: HTTP %d %q", ErrNotAcked, resp.StatusCode, ack)
	}
	return nil
}

// mobileNoti builds the P_NOTI_URL notification of a mobile payment's news
// (P_STATUS 00): a card result (typ CARD) or a virtual account's deposit
// (VBANK). P_TID is the payment's own tid. Callers hold mu.
func (s *Sandbox) mobileNoti(p *payment, now time.Time, typ string) []byte {
	return []byte(s.mobileNotiValues(p, now, typ).Encode())
}

func (s *Sandbox) mobileNotiValues(p *payment, now time.Time, typ string) url.Values {
	text := func(v string) string {
		if s.cfg.UTF8Noti {
			return v
		}
		enc, err := korean.EUCKR.NewEncoder().String(v)
		if err != nil {
			return v
		}
		return enc
	}
	v := url.Values{
		"P_STATUS": {"00"}, "P_TID": {p.tid}, "P_TYPE": {typ}, "P_AUTH_DT": {now.In(kst).Format("20060102150405")},
		"P_MID": {s.cfg.MID}, "P_OID": {p.oid}, "P_AMT": {strconv.FormatInt(p.price, 10)},
		"P_UNAME": {text("홍길동")}, "P_RMESG1": {text("정상처리되었습니다.")}, "P_NOTI": {""},
	}
	if typ == "VBANK" && p.vact != nil {
		v.Set("P_FN_CD1", p.vact.bank)
		v.Set("P_FN_NM", text("국민은행"))
	} else {
		v.Set("P_AUTH_NO", "30001234")
		v.Set("P_FN_CD1", "14")
		v.Set("P_FN_NM", text("국민카드"))
	}
	return v
}

// forgedMobileLocked is ForgedWebhooks for a mobile payment: P_* notices
// from a foreign address, with a tampered amount, an unknown tid, another
// merchant, another order, and of the other kind of payment (a deposit of
// a card payment, a card result of a virtual account). Callers hold mu.
func (s *Sandbox) forgedMobileLocked(p *payment) []pgtest.WebhookDelivery {
	now := s.cfg.Now()
	typ, other := "CARD", "VBANK"
	if p.vact != nil {
		typ, other = "VBANK", "CARD"
	}
	with := func(name, value string) []byte {
		v := s.mobileNotiValues(p, now, typ)
		if name != "" {
			v.Set(name, value)
		}
		return []byte(v.Encode())
	}
	unknownTID := p.tid[:10] + (s.cfg.MID + "0000000000")[:10] + "20000101000000999999"
	return []pgtest.WebhookDelivery{
		{Header: notiHeader(), Body: with("", ""), RemoteAddr: foreignPeer},
		{Header: notiHeader(), Body: with("P_AMT", strconv.FormatInt(p.price*10, 10)), RemoteAddr: notiPeer},
		{Header: notiHeader(), Body: with("P_TID", unknownTID), RemoteAddr: notiPeer},
		{Header: notiHeader(), Body: with("P_MID", "forged0001"), RemoteAddr: notiPeer},
		{Header: notiHeader(), Body: with("P_OID", "forged-order-0001"), RemoteAddr: notiPeer},
		{Header: notiHeader(), Body: with("P_TYPE", other), RemoteAddr: notiPeer},
	}
}

// ForeignLoopback is the address POST /_sandbox/webhooks sends the
// foreign-source forgery from: a loopback address other than 127.0.0.1, so
// a host trusting only 127.0.0.1/32 as Inicis's source sees it as foreign
// while the rest of the sandbox's traffic stays trusted.
const ForeignLoopback = "127.0.0.2"

// pickWebhooks returns the deliveries of send about the order
// (pgtest.ServeWebhooks): pgtest.SendLatest the order's latest deposit
// notification, SendForged ForgedWebhooks with the foreign source played by
// ForeignLoopback. Inicis notifies nothing else.
func (s *Sandbox) pickWebhooks(ctx context.Context, orderID, send string) ([]pgtest.WebhookDelivery, error) {
	switch send {
	case pgtest.SendLatest:
		first, _, err := s.Webhooks(ctx, orderID)
		if errors.Is(err, ErrNoNotification) {
			return nil, fmt.Errorf("%w: %w", pgtest.ErrNoNews, err)
		}
		if err != nil {
			return nil, err
		}
		return []pgtest.WebhookDelivery{first}, nil
	case pgtest.SendForged:
		ds, err := s.ForgedWebhooks(ctx, orderID)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", pgtest.ErrNoNews, err)
		}
		for i := range ds {
			if ds[i].RemoteAddr == foreignPeer {
				ds[i].RemoteAddr = ForeignLoopback + ":0"
			}
		}
		return ds, nil
	}
	return nil, fmt.Errorf("inicistest: cannot send %q (Inicis notifies deposits only: latest or forged)", send)
}
