package pg_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/paygate/paygate/pg"
)

func TestNewMoney_ValidatesCurrencySignFractionAndBound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		amount   string
		currency pg.Currency
		want     string // String() of the result; empty means refused
	}{
		{"zero won", "0", pg.KRW, "0 KRW"},
		{"whole won", "15000", pg.KRW, "15000 KRW"},
		{"won with a zero fraction", "1000.00", pg.KRW, "1000 KRW"},
		{"fractional won", "1000.5", pg.KRW, ""},
		{"smallest fractional won", "0.1", pg.KRW, ""},
		{"negative won", "-1", pg.KRW, ""},
		{"negative zero is zero", "-0", pg.KRW, "0 KRW"},
		{"USD with cents", "10.25", pg.USD, "10.25 USD"},
		{"USD with one place", "10.5", pg.USD, "10.50 USD"},
		{"USD with a trailing zero third place", "10.250", pg.USD, "10.25 USD"},
		{"USD with three places", "10.255", pg.USD, ""},
		{"negative cent", "-0.01", pg.USD, ""},
		{"whole yen", "100", pg.JPY, "100 JPY"},
		{"fractional yen", "100.5", pg.JPY, ""},
		{"EUR cents", "1.5", pg.EUR, "1.50 EUR"},
		{"CNY fen", "0.01", pg.CNY, "0.01 CNY"},
		{"unknown currency", "1", "XYZ", ""},
		{"lower-case code", "1", "krw", ""},
		{"empty currency", "1", "", ""},
		{"largest won", "999999999999999999", pg.KRW, "999999999999999999 KRW"},
		{"largest won with zero fraction", "999999999999999999.000", pg.KRW, "999999999999999999 KRW"},
		{"won at the bound", "1000000000000000000", pg.KRW, ""},
		{"won at the bound in exponent form", "1e18", pg.KRW, ""},
		{"won far past the bound", "1e30", pg.KRW, ""},
		// The bound is on minor units: every valid amount's Int64 must be exact.
		{"largest dollars", "9999999999999999.99", pg.USD, "9999999999999999.99 USD"},
		{"dollars at the bound", "10000000000000000", pg.USD, ""},
		{"dollars whose cents overflow int64", "999999999999999999.99", pg.USD, ""},
		{"largest yen", "999999999999999999", pg.JPY, "999999999999999999 JPY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := pg.NewMoney(decimal.RequireFromString(tt.amount), tt.currency)
			if tt.want == "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, pg.ErrInvalidMoney)
				assert.False(t, m.IsSet(), "a refused amount must be the zero Money")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, m.String())
			assert.Equal(t, tt.currency, m.Currency())
			assert.True(t, m.IsSet())
		})
	}
}

func TestNewMoney_ErrorSaysWhy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount   string
		currency pg.Currency
		contains string
	}{
		{"1000.5", pg.KRW, "KRW has no minor unit"},
		{"10.255", pg.USD, "USD allows 2 decimal places"},
		{"-5", pg.KRW, "negative"},
		{"1", "XYZ", `unknown currency "XYZ"`},
		{"1e18", pg.KRW, "digits"},
	}
	for _, tt := range tests {
		_, err := pg.NewMoney(decimal.RequireFromString(tt.amount), tt.currency)
		require.Error(t, err, tt.amount)
		assert.Contains(t, err.Error(), tt.contains)
		assert.True(t, strings.HasPrefix(err.Error(), "pg: invalid money: "), err.Error())
	}
}

func TestParseMoney_AcceptsDecimalAndExponentFormsExactly(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		currency pg.Currency
		want     string
	}{
		{"15000", pg.KRW, "15000 KRW"},
		{"  15000\n", pg.KRW, "15000 KRW"},
		{"1e3", pg.KRW, "1000 KRW"},
		{"1E3", pg.KRW, "1000 KRW"},
		{"1.5e3", pg.KRW, "1500 KRW"},
		{"15000e-1", pg.KRW, "1500 KRW"},
		{"1025e-2", pg.USD, "10.25 USD"},
		{"12345678901234567", pg.KRW, "12345678901234567 KRW"},
	}
	for _, tt := range tests {
		m, err := pg.ParseMoney(tt.in, tt.currency)
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, m.String(), tt.in)
	}
}

func TestParseMoney_RefusesJunk(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", " ", "abc", "15,000", "1_000", "0x10", "NaN", "Inf", "-Inf",
		"--1", "1.2.3", "12 34", "１０００", "1e", "e3", "1e1.5", "₩1000", "1000원",
		"1e-1",          // 0.1 won
		"1e10001",       // exponent past what the decimal parser accepts
		"-1e3",          // negative
		"1000000000e10", // 10^19
		"1000.5",        // fractional won
		"100000000000000000000000000000000000000000000000000000000000000000000000", // far too large
	} {
		m, err := pg.ParseMoney(in, pg.KRW)
		require.Error(t, err, "%q", in)
		assert.ErrorIs(t, err, pg.ErrInvalidMoney, "%q", in)
		assert.False(t, m.IsSet(), "%q", in)
	}
}

func TestMoney_AddSubCmp(t *testing.T) {
	t.Parallel()
	won := func(s string) pg.Money { return pg.MustMoney(s, pg.KRW) }
	usd := func(s string) pg.Money { return pg.MustMoney(s, pg.USD) }

	sum, err := won("1000").Add(won("500"))
	require.NoError(t, err)
	assert.True(t, sum.Equal(won("1500")), sum.String())

	cents, err := usd("0.1").Add(usd("0.2"))
	require.NoError(t, err)
	assert.True(t, cents.Equal(usd("0.3")), "0.1+0.2 must be exactly 0.30, got %s", cents)

	diff, err := won("1500").Sub(won("1500"))
	require.NoError(t, err)
	assert.True(t, diff.IsSet())
	assert.True(t, diff.IsZero())

	diff, err = usd("10.25").Sub(usd("0.25"))
	require.NoError(t, err)
	assert.Equal(t, "10.00 USD", diff.String())

	_, err = won("1000").Sub(won("1001"))
	assert.ErrorIs(t, err, pg.ErrInvalidMoney, "a subtraction going negative must be refused")

	_, err = won("999999999999999999").Add(won("1"))
	assert.ErrorIs(t, err, pg.ErrInvalidMoney, "a sum past the bound must be refused")

	for _, c := range []struct {
		a, b pg.Money
		want int
	}{
		{won("1"), won("2"), -1},
		{won("2"), won("2"), 0},
		{won("3"), won("2"), 1},
		{usd("10.5"), usd("10.50"), 0},
		{won("1e3"), won("1000"), 0},
	} {
		got, err := c.a.Cmp(c.b)
		require.NoError(t, err)
		assert.Equal(t, c.want, got, "%s vs %s", c.a, c.b)
	}
}

func TestMoney_MixedCurrenciesAreRefused(t *testing.T) {
	t.Parallel()
	krw := pg.Won(1000)
	usd := pg.MustMoney("1000", pg.USD)

	sum, err := krw.Add(usd)
	assert.ErrorIs(t, err, pg.ErrInvalidMoney)
	assert.Contains(t, err.Error(), "currency mismatch")
	assert.False(t, sum.IsSet())

	diff, err := usd.Sub(krw)
	assert.ErrorIs(t, err, pg.ErrInvalidMoney)
	assert.False(t, diff.IsSet())

	_, err = krw.Cmp(usd)
	assert.ErrorIs(t, err, pg.ErrInvalidMoney)

	assert.False(t, krw.Equal(usd), "same number in another currency is not equal")

	_, err = krw.Add(pg.Money{})
	assert.ErrorIs(t, err, pg.ErrInvalidMoney, "adding an unset amount must be refused")
	_, err = pg.Money{}.Add(pg.Money{})
	assert.ErrorIs(t, err, pg.ErrInvalidMoney, "two unset amounts have no currency")
}

func TestMoney_Int64IsMinorUnits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount   string
		currency pg.Currency
		want     int64
	}{
		{"0", pg.KRW, 0},
		{"15000", pg.KRW, 15000},
		{"1e3", pg.KRW, 1000},
		{"12345678901234567", pg.KRW, 12345678901234567},
		{"999999999999999999", pg.KRW, 999999999999999999},
		{"10.25", pg.USD, 1025},
		{"0.01", pg.USD, 1},
		{"1", pg.EUR, 100},
		{"9999999999999999.99", pg.USD, 999999999999999999},
		{"100", pg.JPY, 100},
	}
	for _, tt := range tests {
		m := pg.MustMoney(tt.amount, tt.currency)
		assert.Equal(t, tt.want, m.Int64(), "%s %s", tt.amount, tt.currency)
	}
}

// Every valid amount round-trips exactly through its minor units and through
// JSON, at any size the bound allows.
func TestMoney_MinorUnitsAndJSONRoundTrip_Property(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		cur := rapid.SampledFrom([]pg.Currency{pg.KRW, pg.USD, pg.JPY, pg.EUR, pg.CNY}).Draw(t, "currency")
		minor := rapid.Int64Range(0, 999_999_999_999_999_999).Draw(t, "minor")
		units, _ := cur.MinorUnits()

		m, err := pg.NewMoney(decimal.New(minor, -units), cur)
		if err != nil {
			t.Fatalf("NewMoney(%d minor units of %s): %v", minor, cur, err)
		}
		if got := m.Int64(); got != minor {
			t.Fatalf("Int64 = %d, want %d", got, minor)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var back pg.Money
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if !back.Equal(m) {
			t.Fatalf("round trip %s: got %s, want %s", b, back, m)
		}
	})
}

func TestMoney_StringAndPredicates(t *testing.T) {
	t.Parallel()
	var unset pg.Money
	assert.Equal(t, "<no amount>", unset.String())
	assert.False(t, unset.IsSet())
	assert.True(t, unset.IsZero())
	assert.False(t, unset.IsPositive())

	zero := pg.Won(0)
	assert.True(t, zero.IsSet(), "zero won is a valid amount")
	assert.True(t, zero.IsZero())
	assert.False(t, zero.IsPositive())
	assert.Equal(t, "0 KRW", zero.String())

	m := pg.MustMoney("10.5", pg.USD)
	assert.Equal(t, "10.50 USD", m.String())
	assert.True(t, m.IsPositive())
	assert.True(t, m.Amount().Equal(decimal.RequireFromString("10.5")))
}

func TestCurrency_MinorUnitsAndValid(t *testing.T) {
	t.Parallel()
	for cur, want := range map[pg.Currency]int32{pg.KRW: 0, pg.JPY: 0, pg.USD: 2, pg.EUR: 2, pg.CNY: 2} {
		got, ok := cur.MinorUnits()
		assert.True(t, ok, cur)
		assert.Equal(t, want, got, cur)
		assert.True(t, cur.Valid(), cur)
	}
	for _, cur := range []pg.Currency{"", "XYZ", "krw", "KRW "} {
		_, ok := cur.MinorUnits()
		assert.False(t, ok, "%q", cur)
		assert.False(t, cur.Valid(), "%q", cur)
	}
}

func TestWon_NegativeIsUnsetNotACharge(t *testing.T) {
	t.Parallel()
	assert.True(t, pg.Won(15000).Equal(pg.MustMoney("15000", pg.KRW)))
	assert.Equal(t, int64(math.MaxInt32), pg.Won(math.MaxInt32).Int64())
	assert.False(t, pg.Won(-1).IsSet())
	assert.False(t, pg.Won(math.MinInt64).IsSet())
	assert.False(t, pg.Won(math.MaxInt64).IsSet(), "past the 18-digit bound")
}

func TestMustMoney_PanicsWithTheValidationError(t *testing.T) {
	t.Parallel()
	assert.NotPanics(t, func() { pg.MustMoney("10.25", pg.USD) })
	for _, in := range []struct {
		amount   string
		currency pg.Currency
	}{{"1000.5", pg.KRW}, {"abc", pg.KRW}, {"1", "XYZ"}, {"-1", pg.USD}} {
		func() {
			defer func() {
				r := recover()
				require.NotNil(t, r, "MustMoney(%q, %q) did not panic", in.amount, in.currency)
				err, ok := r.(error)
				require.True(t, ok, "panic value %v is not an error", r)
				assert.ErrorIs(t, err, pg.ErrInvalidMoney)
			}()
			pg.MustMoney(in.amount, in.currency)
		}()
	}
}

func TestMoney_MarshalJSON_AmountIsANumber(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m    pg.Money
		want string
	}{
		{pg.Won(15000), `{"amount":15000,"currency":"KRW"}`},
		{pg.Won(0), `{"amount":0,"currency":"KRW"}`},
		{pg.MustMoney("1e3", pg.KRW), `{"amount":1000,"currency":"KRW"}`},
		{pg.MustMoney("12345678901234567", pg.KRW), `{"amount":12345678901234567,"currency":"KRW"}`},
		{pg.MustMoney("10.5", pg.USD), `{"amount":10.50,"currency":"USD"}`},
		{pg.MustMoney("0.01", pg.USD), `{"amount":0.01,"currency":"USD"}`},
		{pg.Money{}, `null`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.m)
		require.NoError(t, err)
		assert.JSONEq(t, tt.want, string(b))
		assert.Equal(t, tt.want, string(b), "exact wire form")

		if tt.m.IsSet() {
			var generic map[string]any
			dec := json.NewDecoder(strings.NewReader(string(b)))
			dec.UseNumber()
			require.NoError(t, dec.Decode(&generic))
			_, isNumber := generic["amount"].(json.Number)
			assert.True(t, isNumber, "amount must be a JSON number, never a string: %s", b)
		}
	}

	type order struct {
		Total  pg.Money  `json:"total"`
		Refund pg.Money  `json:"refund"`
		Fee    *pg.Money `json:"fee,omitempty"`
	}
	b, err := json.Marshal(order{Total: pg.Won(15000)})
	require.NoError(t, err)
	assert.Equal(t, `{"total":{"amount":15000,"currency":"KRW"},"refund":null}`, string(b))
}

func TestMoney_UnmarshalJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string // String() of the result; empty means refused
	}{
		{"number", `{"amount":15000,"currency":"KRW"}`, "15000 KRW"},
		{"decimal string", `{"amount":"15000","currency":"KRW"}`, "15000 KRW"},
		{"USD number", `{"amount":10.25,"currency":"USD"}`, "10.25 USD"},
		{"USD string", `{"amount":"10.25","currency":"USD"}`, "10.25 USD"},
		{"exponent number", `{"amount":1.5e3,"currency":"KRW"}`, "1500 KRW"},
		{"beyond float64 precision", `{"amount":12345678901234567,"currency":"KRW"}`, "12345678901234567 KRW"},
		{"whitespace", ` { "currency" : "KRW" , "amount" : 7 } `, "7 KRW"},
		{"unknown fields ignored", `{"amount":1,"currency":"KRW","extra":[1,2]}`, "1 KRW"},
		{"fractional won", `{"amount":1000.5,"currency":"KRW"}`, ""},
		{"fractional won as string", `{"amount":"1000.5","currency":"KRW"}`, ""},
		{"three-place USD", `{"amount":10.255,"currency":"USD"}`, ""},
		{"negative", `{"amount":-1,"currency":"KRW"}`, ""},
		{"past the bound", `{"amount":1e18,"currency":"KRW"}`, ""},
		{"unknown currency", `{"amount":1,"currency":"XYZ"}`, ""},
		{"missing currency", `{"amount":1}`, ""},
		{"missing amount", `{"currency":"KRW"}`, ""},
		{"null amount", `{"amount":null,"currency":"KRW"}`, ""},
		{"empty string amount", `{"amount":"","currency":"KRW"}`, ""},
		{"junk string amount", `{"amount":"abc","currency":"KRW"}`, ""},
		{"bool amount", `{"amount":true,"currency":"KRW"}`, ""},
		{"object amount", `{"amount":{},"currency":"KRW"}`, ""},
		{"array amount", `{"amount":[1],"currency":"KRW"}`, ""},
		{"currency not a string", `{"amount":1,"currency":1}`, ""},
		{"bare number", `15000`, ""},
		{"bare string", `"15000 KRW"`, ""},
		{"array", `[15000,"KRW"]`, ""},
		{"over-long amount string", `{"amount":"` + strings.Repeat("1", 65) + `","currency":"KRW"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := pg.Won(42) // a failed decode must leave the target as it was
			err := json.Unmarshal([]byte(tt.in), &m)
			if tt.want == "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, pg.ErrInvalidMoney)
				assert.True(t, m.Equal(pg.Won(42)), "target changed to %s", m)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, m.String())
		})
	}
}

func TestMoney_UnmarshalJSON_NullUnsets(t *testing.T) {
	t.Parallel()
	m := pg.Won(42)
	require.NoError(t, json.Unmarshal([]byte(`null`), &m))
	assert.False(t, m.IsSet())

	var v struct {
		Total pg.Money `json:"total"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"total":null}`), &v))
	assert.False(t, v.Total.IsSet())
}

func TestMoney_UnmarshalJSON_MalformedDocument(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`{"amount":`, `{"amount":1,"currency":"KRW"`, `{amount:1}`, ``} {
		var m pg.Money
		assert.Error(t, json.Unmarshal([]byte(in), &m), "%q", in)
		assert.False(t, m.IsSet())
		// Called directly, as a decoder of a larger document would.
		assert.ErrorIs(t, m.UnmarshalJSON([]byte(in)), pg.ErrInvalidMoney, "%q", in)
	}
}

func TestDecodeAmount_IsExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want string
	}{
		{`15000`, "15000"},
		{`"15000"`, "15000"},
		{` 15000 `, "15000"},
		{`" 15000 "`, "15000"},
		{`10.25`, "10.25"},
		{`"10.25"`, "10.25"},
		{`0.1`, "0.1"},
		{`1e2`, "100"},
		{`"1e2"`, "100"},
		{`12345678901234567`, "12345678901234567"},   // float64 would give ...568
		{`"12345678901234567"`, "12345678901234567"}, // as a string too
		{`9007199254740993`, "9007199254740993"},     // 2^53+1
		{`999999999999999999.99`, "999999999999999999.99"},
		{`-5`, "-5"}, // the sign is NewMoney's to refuse, not the decoder's
	}
	for _, tt := range tests {
		d, err := pg.DecodeAmount(json.RawMessage(tt.raw))
		require.NoError(t, err, tt.raw)
		assert.True(t, d.Equal(decimal.RequireFromString(tt.want)), "%s decoded as %s", tt.raw, d)
		assert.Equal(t, tt.want, d.String(), tt.raw)
	}

	// 0.1 + 0.2 is exactly 0.3 on the way through, unlike float64.
	a, err := pg.DecodeAmount(json.RawMessage(`0.1`))
	require.NoError(t, err)
	b, err := pg.DecodeAmount(json.RawMessage(`"0.2"`))
	require.NoError(t, err)
	c, err := pg.DecodeAmount(json.RawMessage(`0.3`))
	require.NoError(t, err)
	assert.True(t, a.Add(b).Equal(c), "0.1+0.2 = %s", a.Add(b))

	// The same number through float64 loses the last digit; the decoder must not.
	var f float64
	require.NoError(t, json.Unmarshal([]byte(`12345678901234567`), &f))
	d, err := pg.DecodeAmount(json.RawMessage(`12345678901234567`))
	require.NoError(t, err)
	assert.NotEqual(t, decimal.NewFromFloat(f).String(), d.String())
	assert.Equal(t, int64(12345678901234567), d.IntPart())
}

func TestDecodeAmount_RefusesNonNumbers(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		``, ` `, `null`, ` null `, `""`, `"  "`, `"abc"`, `true`, `{}`, `[]`, `[1]`,
		`"`, `"15000`, `"1,000"`, `NaN`, `"Infinity"`, `1e10001`,
		strings.Repeat("9", 65), `"` + strings.Repeat("9", 65) + `"`,
	} {
		_, err := pg.DecodeAmount(json.RawMessage(raw))
		require.Error(t, err, "%q", raw)
		assert.ErrorIs(t, err, pg.ErrInvalidMoney, "%q", raw)
	}
	_, err := pg.DecodeAmount(nil)
	assert.ErrorIs(t, err, pg.ErrInvalidMoney)
	assert.False(t, errors.Is(err, pg.ErrInvalid), "a money error is not a PG error kind")
}
