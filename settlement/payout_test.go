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

func TestPayoutPolicy_DaysPerPGAndMethod(t *testing.T) {
	policy := settlement.PayoutPolicy{
		Days: 2,
		PG:   map[string]int{"kakaopay": 1},
		Method: map[settlement.PayoutKey]int{
			{PG: "tosspay", Method: pg.MethodVirtualAccount}: 1,
			{PG: "inicis", Method: pg.MethodCard}:            3,
		},
	}
	// Sold on Wednesday 2026-09-23, before 추석 (9/24-26) and a Sunday.
	sold := time.Date(2026, 9, 23, 14, 0, 0, 0, settlement.Seoul)
	tests := []struct {
		pg     string
		method pg.Method
		days   int
		want   string
	}{
		{"tosspay", pg.MethodCard, 2, "2026-09-29"},           // the default
		{"tosspay", pg.MethodVirtualAccount, 1, "2026-09-28"}, // (PG, method)
		{"kakaopay", pg.MethodMoney, 1, "2026-09-28"},         // PG
		{"kakaopay", pg.MethodCard, 1, "2026-09-28"},          // PG, no method override
		{"inicis", pg.MethodCard, 3, "2026-09-30"},            // (PG, method)
		{"inicis", pg.MethodTransfer, 2, "2026-09-29"},        // default
	}
	for _, tt := range tests {
		n, err := policy.DaysFor(tt.pg, tt.method)
		require.NoError(t, err)
		assert.Equal(t, tt.days, n, "%s %s", tt.pg, tt.method)
		got, err := policy.PayoutDate(tt.pg, tt.method, sold)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got.Format("2006-01-02"), "%s %s", tt.pg, tt.method)
	}

	bad := settlement.PayoutPolicy{Days: 2, PG: map[string]int{"inicis": -1}}
	_, err := bad.PayoutDate("inicis", pg.MethodCard, sold)
	assert.Error(t, err)
	_, err = bad.DaysFor("inicis", pg.MethodCard)
	assert.Error(t, err)
}

func TestPayoutPolicy_UsesItsCalendar(t *testing.T) {
	company, err := settlement.KoreanCalendar().With(settlement.Holiday{Date: seoulDay("2026-12-31"), Name: "창립기념일"})
	require.NoError(t, err)
	sold := time.Date(2026, 12, 30, 11, 0, 0, 0, settlement.Seoul)

	got, err := settlement.PayoutPolicy{Days: 1}.PayoutDate("tosspay", pg.MethodCard, sold)
	require.NoError(t, err)
	assert.Equal(t, "2026-12-31", got.Format("2006-01-02"), "nil Calendar is the Korean calendar")

	got, err = settlement.PayoutPolicy{Calendar: company, Days: 1}.PayoutDate("tosspay", pg.MethodCard, sold)
	require.NoError(t, err)
	assert.Equal(t, "2027-01-04", got.Format("2006-01-02"))
}

func TestPayoutPolicy_BeyondCalendar(t *testing.T) {
	// Thursday 2027-12-30: D+2 needs 2028-01-03, which the data does not cover.
	sold := time.Date(2027, 12, 30, 11, 0, 0, 0, settlement.Seoul)

	_, err := settlement.PayoutPolicy{Days: 2}.PayoutDate("tosspay", pg.MethodCard, sold)
	assert.ErrorIs(t, err, settlement.ErrBeyondCalendar, "the default refuses to guess")

	got, err := settlement.PayoutPolicy{Days: 2, BeyondCalendar: settlement.WeekdaysBeyondCalendar}.PayoutDate("tosspay", pg.MethodCard, sold)
	require.NoError(t, err)
	assert.Equal(t, "2028-01-03", got.Format("2006-01-02"), "the chosen fallback counts weekdays")

	// Within coverage the fallback changes nothing: holidays still count.
	got, err = settlement.PayoutPolicy{Days: 1, BeyondCalendar: settlement.WeekdaysBeyondCalendar}.PayoutDate("tosspay", pg.MethodCard, seoulDay("2027-12-24"))
	require.NoError(t, err)
	assert.Equal(t, "2027-12-28", got.Format("2006-01-02"), "12/25's substitute is 12/27")
}

func TestPayoutDate_SkipsKoreanHolidays(t *testing.T) {
	tests := []struct {
		at   time.Time
		days int
		want string
	}{
		{time.Date(2026, 9, 23, 9, 0, 0, 0, settlement.Seoul), 2, "2026-09-29"},   // over 추석
		{time.Date(2026, 2, 13, 9, 0, 0, 0, settlement.Seoul), 1, "2026-02-19"},   // over 설날
		{time.Date(2025, 1, 23, 15, 0, 0, 0, time.UTC), 1, "2025-01-31"},          // 00:00 KST Friday, over 설날
		{time.Date(2025, 1, 23, 14, 59, 59, 0, time.UTC), 1, "2025-01-24"},        // 23:59:59 KST Thursday
		{time.Date(2026, 4, 30, 9, 0, 0, 0, settlement.Seoul), 1, "2026-05-04"},   // over 노동절
		{time.Date(2026, 12, 24, 9, 0, 0, 0, settlement.Seoul), 1, "2026-12-28"},  // over 기독탄신일
		{time.Date(2027, 12, 30, 9, 0, 0, 0, settlement.Seoul), 2, "2028-01-03"},  // beyond coverage: weekdays
		{time.Date(2029, 2, 2, 9, 0, 0, 0, settlement.Seoul), 1, "2029-02-05"},    // wholly beyond: weekdays
		{time.Date(2026, 5, 1, 9, 0, 0, 0, settlement.Seoul), 0, "2026-05-04"},    // D+0 on a holiday
		{time.Date(2026, 11, 24, 9, 0, 0, 0, settlement.Seoul), -1, "2026-11-24"}, // negative is D+0
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, settlement.PayoutDate(tt.at, tt.days).Format("2006-01-02"), "%s +%d", tt.at, tt.days)
	}
}

func TestSale_PayoutDateSkipsHolidays(t *testing.T) {
	// A sale on the eve of the 2025 추석 closure (10/3-9) is paid out after it.
	at := time.Date(2025, 10, 2, 18, 0, 0, 0, settlement.Seoul)
	e, err := settlement.Sale(settlement.RateFee{Rate: decimal.RequireFromString("0.032")}, "tosspay", pg.MethodCard, pg.Won(10000), at, 2)
	require.NoError(t, err)
	assert.Equal(t, "2025-10-13", e.Payout.Format("2006-01-02"))
	assert.Equal(t, settlement.Seoul, e.Payout.Location())
}

func ExamplePayoutPolicy() {
	policy := settlement.PayoutPolicy{
		Days: 2, // cards: D+2
		Method: map[settlement.PayoutKey]int{
			{PG: "tosspay", Method: pg.MethodVirtualAccount}: 1,
		},
	}
	// A sale late on Wednesday 2026-09-23, before 추석 (9/24-26).
	sold := time.Date(2026, 9, 23, 23, 30, 0, 0, settlement.Seoul)
	card, _ := policy.PayoutDate("tosspay", pg.MethodCard, sold)
	va, _ := policy.PayoutDate("tosspay", pg.MethodVirtualAccount, sold)
	fmt.Println("card", card.Format("2006-01-02 Mon"))
	fmt.Println("virtual account", va.Format("2006-01-02 Mon"))

	// A company holiday the host adds.
	cal, _ := settlement.KoreanCalendar().With(settlement.Holiday{
		Date: time.Date(2026, 9, 28, 0, 0, 0, 0, settlement.Seoul), Name: "창립기념일", NameEn: "Founding day",
	})
	policy.Calendar = cal
	card, _ = policy.PayoutDate("tosspay", pg.MethodCard, sold)
	fmt.Println("card, with the company holiday", card.Format("2006-01-02 Mon"))
	// Output:
	// card 2026-09-29 Tue
	// virtual account 2026-09-28 Mon
	// card, with the company holiday 2026-09-30 Wed
}

// An entry computed through a PayoutPolicy has the fee of the fee policy
// and the payout date of the PG's cycle; beyond the calendar the policy's
// choice holds.
func TestPayoutPolicy_SaleAndRefundEntries(t *testing.T) {
	fees := settlement.RateFee{Rate: decimal.RequireFromString("0.032")}
	policy := settlement.PayoutPolicy{Days: 2, PG: map[string]int{"kakaopay": 1}}
	sold := time.Date(2026, 9, 23, 14, 0, 0, 0, settlement.Seoul)

	sale, err := policy.Sale(fees, "tosspay", pg.MethodCard, pg.Won(10_000), sold)
	require.NoError(t, err)
	assert.Equal(t, settlement.EntrySale, sale.Type)
	assert.True(t, sale.Net.Equal(pg.Won(9_648)), "fee 320, VAT 32: %s", sale.Net)
	assert.Equal(t, "2026-09-29", sale.Payout.Format("2006-01-02"), "D+2 over 추석")

	refund, err := policy.Refund(fees, "kakaopay", pg.MethodMoney, pg.Won(5_000), sold)
	require.NoError(t, err)
	assert.Equal(t, settlement.EntryRefund, refund.Type)
	assert.Equal(t, "2026-09-28", refund.Payout.Format("2006-01-02"), "kakaopay's D+1")

	_, cover := settlement.KoreanCalendar().Coverage()
	late := cover.AddDate(0, 0, 1)
	_, err = policy.Sale(fees, "tosspay", pg.MethodCard, pg.Won(10_000), late)
	assert.ErrorIs(t, err, settlement.ErrBeyondCalendar)
	policy.BeyondCalendar = settlement.WeekdaysBeyondCalendar
	_, err = policy.Sale(fees, "tosspay", pg.MethodCard, pg.Won(10_000), late)
	assert.NoError(t, err)
}
