package store

import (
	"fmt"
	"math"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
)

var maxMinorUnits = decimal.NewFromInt(math.MaxInt64)

// minorUnits converts m to the integer the database stores: its amount in
// minor units of its currency (won for KRW, cents for USD). It refuses an
// unset Money, an unknown currency, a fraction the currency does not have
// and an amount that does not fit in a signed 64-bit integer; it never
// rounds.
func minorUnits(m pg.Money) (int64, error) {
	if !m.IsSet() {
		return 0, fmt.Errorf("%w: amount not set", ErrInvalid)
	}
	units, ok := m.Currency().MinorUnits()
	if !ok {
		return 0, fmt.Errorf("%w: unknown currency %q", ErrInvalid, m.Currency())
	}
	shifted := m.Amount().Shift(units)
	if !shifted.IsInteger() {
		return 0, fmt.Errorf("%w: %s has a fraction below the minor unit of %s", ErrInvalid, m.Amount(), m.Currency())
	}
	if shifted.IsNegative() {
		return 0, fmt.Errorf("%w: negative amount %s", ErrInvalid, m)
	}
	if shifted.GreaterThan(maxMinorUnits) {
		return 0, fmt.Errorf("%w: amount %s is too large to store", ErrInvalid, m)
	}
	return shifted.IntPart(), nil
}

// money is the inverse of minorUnits.
func money(v int64, currency string) (pg.Money, error) {
	c := pg.Currency(currency)
	units, ok := c.MinorUnits()
	if !ok {
		return pg.Money{}, fmt.Errorf("store: stored currency %q is unknown", currency)
	}
	m, err := pg.NewMoney(decimal.New(v, -units), c)
	if err != nil {
		return pg.Money{}, fmt.Errorf("store: stored amount %d %s: %w", v, currency, err)
	}
	return m, nil
}

// optionalMinorUnits is minorUnits for amounts that may be unset (an
// approved amount before approval): unset stores 0. A set amount must be in
// the record's currency.
func optionalMinorUnits(m pg.Money, currency pg.Currency, what string) (int64, error) {
	if !m.IsSet() {
		return 0, nil
	}
	if m.Currency() != currency {
		return 0, fmt.Errorf("%w: %s is in %s, the payment in %s", ErrInvalid, what, m.Currency(), currency)
	}
	v, err := minorUnits(m)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return v, nil
}
