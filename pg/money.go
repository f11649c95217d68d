package pg

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// Currency is an ISO 4217 currency code such as "KRW".
type Currency string

// Currencies paygate knows the minor unit of. Other codes are refused by
// NewMoney, so a typo never becomes money.
const (
	KRW Currency = "KRW"
	USD Currency = "USD"
	JPY Currency = "JPY"
	EUR Currency = "EUR"
	CNY Currency = "CNY"
)

var minorUnits = map[Currency]int32{KRW: 0, JPY: 0, USD: 2, EUR: 2, CNY: 2}

// MinorUnits reports how many decimal places the currency allows (KRW: 0,
// USD: 2) and whether paygate knows the currency at all.
func (c Currency) MinorUnits() (int32, bool) {
	n, ok := minorUnits[c]
	return n, ok
}

// Valid reports whether c is a currency paygate knows.
func (c Currency) Valid() bool { _, ok := minorUnits[c]; return ok }

// ErrInvalidMoney is wrapped by every error that refuses an amount: an unknown
// currency, a fraction the currency does not have (fractional won), a
// negative amount, or a number that does not parse.
var ErrInvalidMoney = errors.New("pg: invalid money")

// maxDigits bounds the digits of an amount in minor units (18 integer digits
// of won, 16 of dollars). 10^18 won is far past any real payment and keeps
// every amount's Int64 exact and inside a signed 64-bit integer column.
const maxDigits = 18

var maxAmount = decimal.New(1, maxDigits)

// Money is an exact amount in one currency. The zero Money is "no amount"
// (currency empty); use NewMoney or Won to make one. Amounts are never
// negative: a refund is a separate operation, not a negative payment.
//
// Arithmetic is decimal; there is no float64 anywhere on the way in or out.
type Money struct {
	amount   decimal.Decimal
	currency Currency
}

// NewMoney validates amount for currency: the currency must be known, the
// amount must not be negative and must not have more decimal places than the
// currency's minor unit (1000.5 KRW is refused; 10.25 USD is fine).
func NewMoney(amount decimal.Decimal, currency Currency) (Money, error) {
	units, ok := currency.MinorUnits()
	if !ok {
		return Money{}, fmt.Errorf("%w: unknown currency %q", ErrInvalidMoney, currency)
	}
	if amount.IsNegative() {
		return Money{}, fmt.Errorf("%w: negative amount %s %s", ErrInvalidMoney, amount, currency)
	}
	if !amount.Equal(amount.Truncate(units)) {
		if units == 0 {
			return Money{}, fmt.Errorf("%w: %s has no minor unit, got %s", ErrInvalidMoney, currency, amount)
		}
		return Money{}, fmt.Errorf("%w: %s allows %d decimal places, got %s", ErrInvalidMoney, currency, units, amount)
	}
	if amount.Shift(units).GreaterThanOrEqual(maxAmount) {
		return Money{}, fmt.Errorf("%w: amount %s %s has more than %d digits in minor units", ErrInvalidMoney, amount, currency, maxDigits)
	}
	return Money{amount: amount.Truncate(units), currency: currency}, nil
}

// ParseMoney parses a decimal string such as "15000" or "10.25".
func ParseMoney(s string, currency Currency) (Money, error) {
	d, err := decimal.NewFromString(strings.TrimSpace(s))
	if err != nil {
		return Money{}, fmt.Errorf("%w: %q is not a number", ErrInvalidMoney, s)
	}
	return NewMoney(d, currency)
}

// Won returns an amount of Korean won. It never fails for a non-negative
// value; a negative one is clamped to an invalid zero Money (IsSet false), so
// literal mistakes show up as validation errors, not as wrong charges.
func Won(n int64) Money {
	m, err := NewMoney(decimal.NewFromInt(n), KRW)
	if err != nil {
		return Money{}
	}
	return m
}

// MustMoney is NewMoney for constants in tests and examples; it panics on an
// invalid amount and must not be used on input.
func MustMoney(amount string, currency Currency) Money {
	m, err := ParseMoney(amount, currency)
	if err != nil {
		panic(err)
	}
	return m
}

// Amount returns the decimal amount.
func (m Money) Amount() decimal.Decimal { return m.amount }

// Currency returns the currency code.
func (m Money) Currency() Currency { return m.currency }

// IsSet reports whether m holds an amount (any valid Money, zero included).
func (m Money) IsSet() bool { return m.currency != "" }

// IsZero reports whether the amount is zero (or m is unset).
func (m Money) IsZero() bool { return m.amount.IsZero() }

// IsPositive reports whether the amount is greater than zero.
func (m Money) IsPositive() bool { return m.amount.IsPositive() }

// String formats as "15000 KRW".
func (m Money) String() string {
	if !m.IsSet() {
		return "<no amount>"
	}
	return m.amount.StringFixed(minorUnits[m.currency]) + " " + string(m.currency)
}

// Int64 returns the amount in minor units (won for KRW, cents for USD).
func (m Money) Int64() int64 {
	return m.amount.Shift(minorUnits[m.currency]).IntPart()
}

// Equal reports whether both the amount and the currency are the same.
func (m Money) Equal(o Money) bool {
	return m.currency == o.currency && m.amount.Equal(o.amount)
}

// Cmp compares two amounts of the same currency (-1, 0, +1).
func (m Money) Cmp(o Money) (int, error) {
	if err := m.sameCurrency(o); err != nil {
		return 0, err
	}
	return m.amount.Cmp(o.amount), nil
}

// Add returns m+o.
func (m Money) Add(o Money) (Money, error) {
	if err := m.sameCurrency(o); err != nil {
		return Money{}, err
	}
	return NewMoney(m.amount.Add(o.amount), m.currency)
}

// Sub returns m-o; it fails when the result would be negative.
func (m Money) Sub(o Money) (Money, error) {
	if err := m.sameCurrency(o); err != nil {
		return Money{}, err
	}
	return NewMoney(m.amount.Sub(o.amount), m.currency)
}

func (m Money) sameCurrency(o Money) error {
	if m.currency != o.currency {
		return fmt.Errorf("%w: currency mismatch %s vs %s", ErrInvalidMoney, m.currency, o.currency)
	}
	return nil
}

// moneyJSON is the wire shape: the amount is a JSON number, never a string
// and never a float on the way through.
type moneyJSON struct {
	Amount   json.Number `json:"amount"`
	Currency Currency    `json:"currency"`
}

// MarshalJSON writes {"amount":15000,"currency":"KRW"}.
func (m Money) MarshalJSON() ([]byte, error) {
	if !m.IsSet() {
		return []byte("null"), nil
	}
	var b bytes.Buffer
	b.WriteString(`{"amount":`)
	b.WriteString(m.amount.StringFixed(minorUnits[m.currency]))
	b.WriteString(`,"currency":`)
	c, _ := json.Marshal(string(m.currency))
	b.Write(c)
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads {"amount":15000,"currency":"KRW"} with full validation.
// The amount may be a JSON number or a decimal string.
func (m *Money) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*m = Money{}
		return nil
	}
	var raw struct {
		Amount   json.RawMessage `json:"amount"`
		Currency Currency        `json:"currency"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidMoney, err)
	}
	d, err := DecodeAmount(raw.Amount)
	if err != nil {
		return err
	}
	v, err := NewMoney(d, raw.Currency)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// DecodeAmount reads a JSON amount exactly: a number (15000, 10.25) or a
// string holding one ("15000"), as PGs send both. It never goes through
// float64.
func DecodeAmount(raw json.RawMessage) (decimal.Decimal, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return decimal.Decimal{}, fmt.Errorf("%w: missing amount", ErrInvalidMoney)
	}
	if s[0] == '"' {
		var str string
		if err := json.Unmarshal([]byte(s), &str); err != nil {
			return decimal.Decimal{}, fmt.Errorf("%w: %v", ErrInvalidMoney, err)
		}
		s = strings.TrimSpace(str)
	}
	if len(s) > 64 {
		return decimal.Decimal{}, fmt.Errorf("%w: amount too long", ErrInvalidMoney)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%w: %q is not a number", ErrInvalidMoney, s)
	}
	return d, nil
}
