package inicis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
)

// kst is Korea Standard Time. Korea has kept UTC+9 without daylight saving
// since 1988, so a fixed zone is exact and needs no tzdata.
var kst = time.FixedZone("KST", 9*60*60)

// apiTimestamp formats INIAPI's timestamp, YYYYMMDDhhmmss in KST.
func apiTimestamp(t time.Time) string { return t.In(kst).Format("20060102150405") }

// formTimestamp is the standard payment's timestamp: epoch milliseconds.
func formTimestamp(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// parseKST reads a YYYYMMDD date and an optional hhmmss time as KST. Empty
// input is the zero time.
func parseKST(date, clock string) (time.Time, error) {
	date, clock = strings.TrimSpace(date), strings.TrimSpace(clock)
	if date == "" {
		return time.Time{}, nil
	}
	if clock == "" {
		clock = "000000"
	}
	if len(date) != 8 || len(clock) != 6 {
		return time.Time{}, fmt.Errorf("bad date/time %q %q", date, clock)
	}
	t, err := time.ParseInLocation("20060102150405", date+clock, kst)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad date/time %q %q", date, clock)
	}
	return t, nil
}

// parseWon reads an Inicis amount (a string or number of whole won) exactly.
func parseWon(s string) (pg.Money, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return pg.Money{}, fmt.Errorf("%w: missing amount", pg.ErrInvalidMoney)
	}
	if len(s) > 20 {
		return pg.Money{}, fmt.Errorf("%w: amount too long", pg.ErrInvalidMoney)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return pg.Money{}, fmt.Errorf("%w: %q is not a number", pg.ErrInvalidMoney, s)
	}
	return pg.NewMoney(d, pg.KRW)
}

// wonString formats a KRW amount the way Inicis expects it: whole won, no
// separators. Other currencies are refused: the standard payment and INIAPI
// take won only.
func wonString(m pg.Money) (string, error) {
	if !m.IsSet() {
		return "", fmt.Errorf("%w: amount is required", pg.ErrInvalidMoney)
	}
	if m.Currency() != pg.KRW {
		return "", fmt.Errorf("%w: inicis takes KRW only, got %s", pg.ErrInvalidMoney, m.Currency())
	}
	return m.Amount().StringFixed(0), nil
}

// fields is a JSON object whose values are kept raw, so string and number
// amounts both decode exactly.
type fields map[string]json.RawMessage

// maxBody caps what is read from a response or a notification.
const maxBody = 1 << 20

var errNotObject = errors.New("not a JSON object")

func decodeFields(body []byte) (fields, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, errNotObject
	}
	var f fields
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	return f, nil
}

// str returns a field as text: strings unquoted, numbers as written, null
// and missing as "".
func (f fields) str(name string) string {
	raw, ok := f[name]
	if !ok {
		return ""
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return strings.TrimSpace(s)
		}
		return ""
	}
	if raw[0] == '{' || raw[0] == '[' {
		return ""
	}
	return string(raw)
}

// obj returns a nested object, or nil.
func (f fields) obj(name string) fields {
	sub, err := decodeFields(f[name])
	if err != nil {
		return nil
	}
	return sub
}

// list returns a nested array of objects; entries that are not objects are
// skipped.
func (f fields) list(name string) []fields {
	var raws []json.RawMessage
	if json.Unmarshal(f[name], &raws) != nil {
		return nil
	}
	out := make([]fields, 0, len(raws))
	for _, r := range raws {
		if sub, err := decodeFields(r); err == nil {
			out = append(out, sub)
		}
	}
	return out
}

// marshalData encodes an INIAPI data object the way the hash is computed
// over it: no HTML escaping, "/" and non-ASCII as they are, no trailing
// newline.
func marshalData(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// methodOf maps Inicis payMethod / paymethod codes onto pg methods.
func methodOf(payMethod string) pg.Method {
	switch strings.ToLower(strings.TrimSpace(payMethod)) {
	case "card", "vcard":
		return pg.MethodCard
	case "vbank", "vacct":
		return pg.MethodVirtualAccount
	case "directbank", "bank", "acct":
		return pg.MethodTransfer
	case "hpp", "mobile":
		return pg.MethodMobilePhone
	case "":
		return ""
	case "kakaopay", "naverpay", "payco", "tosspay", "samsungpay", "lpay", "ssgpay", "applepay":
		return pg.MethodEasyPay
	default:
		return pg.MethodOther
	}
}

// methodOfAnswer is the method of an approval or inquiry answer: its
// paymethod, or, when the answer names none, a virtual account if it carries
// the account's details or its tid has the virtual-account prefix
// ("StdpayVBNK…", "INIMX_VBNK…": the 10-byte prefix ends in the method).
// An answer that names no method is never taken for a card: an issued
// account read as a card would read as captured.
func methodOfAnswer(payMethod, tid string, hasAccount bool) pg.Method {
	if m := methodOf(payMethod); m != "" {
		return m
	}
	if hasAccount || (len(tid) >= 10 && tid[6:10] == "VBNK") {
		return pg.MethodVirtualAccount
	}
	return ""
}

// goPayMethod is the form's gopaymethod for a requested method; empty lets
// the buyer choose in the window.
func goPayMethod(m pg.Method) (string, error) {
	switch m {
	case "":
		return "", nil
	case pg.MethodCard:
		return "Card", nil
	case pg.MethodVirtualAccount:
		return "VBank", nil
	case pg.MethodTransfer:
		return "DirectBank", nil
	case pg.MethodMobilePhone:
		return "HPP", nil
	default:
		return "", fmt.Errorf("inicis does not offer method %q in the standard window", m)
	}
}
