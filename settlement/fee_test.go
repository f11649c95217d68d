package settlement_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
)

func TestSale_FeeVATAndNet_RoundedToTheWon(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, settlement.Seoul) // a Friday
	tests := []struct {
		name          string
		policy        settlement.FeePolicy
		gross         pg.Money
		fee, vat, net int64
		payout        string
	}{
		{"3.2% of 10,000", settlement.RateFee{Rate: decimal.RequireFromString("0.032")}, pg.Won(10000), 320, 32, 9648, "2026-12-01"},
		{"rounded half up", settlement.RateFee{Rate: decimal.RequireFromString("0.0275")}, pg.Won(1234), 34, 3, 1197, "2026-12-01"},
		{"rate plus fixed", settlement.RateFee{Rate: decimal.RequireFromString("0.01"), Fixed: pg.Won(100)}, pg.Won(5000), 150, 15, 4835, "2026-12-01"},
		{"no fee", settlement.RateFee{}, pg.Won(777), 0, 0, 777, "2026-12-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := settlement.Sale(tt.policy, "tosspay", pg.MethodCard, tt.gross, at, 2)
			require.NoError(t, err)
			assert.Equal(t, settlement.EntrySale, e.Type)
			assert.Equal(t, int64(1), e.Sign())
			assert.Equal(t, tt.fee, e.Fee.Int64(), "fee")
			assert.Equal(t, tt.vat, e.VAT.Int64(), "VAT")
			assert.Equal(t, tt.net, e.Net.Int64(), "net")
			assert.Equal(t, tt.gross.Int64(), e.Fee.Int64()+e.VAT.Int64()+e.Net.Int64(), "gross = fee + VAT + net")
			assert.Equal(t, tt.payout, e.Payout.Format("2006-01-02"))
		})
	}
}

func TestRefund_ReturnsTheRatePartNotTheFixedFee(t *testing.T) {
	policy := settlement.RateFee{Rate: decimal.RequireFromString("0.01"), Fixed: pg.Won(100)}
	e, err := settlement.Refund(policy, "inicis", pg.MethodCard, pg.Won(5000), time.Now(), 2)
	require.NoError(t, err)
	assert.Equal(t, settlement.EntryRefund, e.Type)
	assert.Equal(t, int64(-1), e.Sign())
	assert.Equal(t, int64(50), e.Fee.Int64())
	assert.Equal(t, int64(5), e.VAT.Int64())
	assert.Equal(t, int64(4945), e.Net.Int64())
}

func TestEntry_BadInputRefused(t *testing.T) {
	good := settlement.RateFee{Rate: decimal.RequireFromString("0.03")}
	for name, fn := range map[string]func() error{
		"zero amount": func() error {
			_, err := settlement.Sale(good, "x", pg.MethodCard, pg.Won(0), time.Now(), 2)
			return err
		},
		"no policy": func() error {
			_, err := settlement.Sale(nil, "x", pg.MethodCard, pg.Won(1000), time.Now(), 2)
			return err
		},
		"negative rate": func() error {
			_, err := settlement.Sale(settlement.RateFee{Rate: decimal.NewFromInt(-1)}, "x", pg.MethodCard, pg.Won(1000), time.Now(), 2)
			return err
		},
		"rate of 100%": func() error {
			_, err := settlement.Sale(settlement.RateFee{Rate: decimal.NewFromInt(1)}, "x", pg.MethodCard, pg.Won(1000), time.Now(), 2)
			return err
		},
		"fixed fee in another currency": func() error {
			_, err := settlement.Sale(settlement.RateFee{Fixed: pg.MustMoney("0.30", pg.USD)}, "x", pg.MethodCard, pg.Won(1000), time.Now(), 2)
			return err
		},
		"fee and VAT above the amount (never a negative net)": func() error {
			_, err := settlement.Sale(settlement.RateFee{Fixed: pg.Won(500)}, "x", pg.MethodCard, pg.Won(300), time.Now(), 2)
			return err
		},
		"no policy for the PG": func() error {
			_, err := settlement.Sale(settlement.PerPG{Policies: map[string]settlement.FeePolicy{"tosspay": good}}, "kakaopay", pg.MethodCard, pg.Won(1000), time.Now(), 2)
			return err
		},
	} {
		assert.Error(t, fn(), name)
	}
}

func TestPerPG_UsesEachPGsPolicyThenTheDefault(t *testing.T) {
	p := settlement.PerPG{
		Policies: map[string]settlement.FeePolicy{"tosspay": settlement.RateFee{Rate: decimal.RequireFromString("0.03")}},
		Default:  settlement.RateFee{Rate: decimal.RequireFromString("0.02")},
	}
	toss, err := p.Fee("tosspay", pg.MethodCard, pg.Won(10000), false)
	require.NoError(t, err)
	other, err := p.Fee("inicis", pg.MethodCard, pg.Won(10000), false)
	require.NoError(t, err)
	assert.Equal(t, int64(300), toss.Int64())
	assert.Equal(t, int64(200), other.Int64())
}

func TestPayoutDate_SkipsWeekendsInSeoul(t *testing.T) {
	tests := []struct {
		at   time.Time
		days int
		want string
	}{
		{time.Date(2026, 11, 23, 9, 0, 0, 0, settlement.Seoul), 2, "2026-11-25"}, // Monday → Wednesday
		{time.Date(2026, 11, 27, 9, 0, 0, 0, settlement.Seoul), 1, "2026-11-30"}, // Friday → Monday
		{time.Date(2026, 11, 28, 9, 0, 0, 0, settlement.Seoul), 1, "2026-11-30"}, // Saturday → Monday
		{time.Date(2026, 11, 26, 16, 30, 0, 0, time.UTC), 1, "2026-11-30"},       // Friday 01:30 in Seoul
		{time.Date(2026, 11, 24, 9, 0, 0, 0, settlement.Seoul), 0, "2026-11-24"}, // same day
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, settlement.PayoutDate(tt.at, tt.days).Format("2006-01-02"), "%s +%d", tt.at, tt.days)
	}
}

func ExampleSale() {
	policy := settlement.RateFee{Rate: decimal.RequireFromString("0.032")}
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, settlement.Seoul)
	e, _ := settlement.Sale(policy, "tosspay", pg.MethodCard, pg.Won(10000), at, 2)
	fmt.Println(e.Gross, "fee", e.Fee, "VAT", e.VAT, "net", e.Net, "paid out", e.Payout.Format("2006-01-02"))
	// Output: 10000 KRW fee 320 KRW VAT 32 KRW net 9648 KRW paid out 2026-12-01
}
