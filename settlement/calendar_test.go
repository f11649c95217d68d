package settlement_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/settlement"
)

func seoulDay(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02", s, settlement.Seoul)
	if err != nil {
		panic(err)
	}
	return t
}

type officialDay struct {
	date string
	name string
	kind settlement.HolidayKind
}

// The officially announced non-business days of 2025-2027: the 월력요항 of
// each year, the KASI special-day API, the temporary holidays declared by the
// 국무회의, and 5/1 (bank holiday before 2026, public holiday from 2026).
var officialDays = map[int][]officialDay{
	2025: {
		{"2025-01-01", "1월 1일", settlement.HolidayFixed},
		{"2025-01-27", "임시공휴일", settlement.HolidayTemporary},
		{"2025-01-28", "설날 전날", settlement.HolidayLunar},
		{"2025-01-29", "설날", settlement.HolidayLunar},
		{"2025-01-30", "설날 다음 날", settlement.HolidayLunar},
		{"2025-03-01", "3·1절", settlement.HolidayFixed},
		{"2025-03-03", "대체공휴일(3·1절)", settlement.HolidaySubstitute},
		{"2025-05-01", "근로자의 날", settlement.HolidayBank},
		{"2025-05-05", "어린이날", settlement.HolidayFixed},
		{"2025-05-05", "부처님 오신 날", settlement.HolidayLunar},
		{"2025-05-06", "대체공휴일(부처님 오신 날)", settlement.HolidaySubstitute},
		{"2025-06-03", "제21대 대통령선거", settlement.HolidayElection},
		{"2025-06-06", "현충일", settlement.HolidayFixed},
		{"2025-08-15", "광복절", settlement.HolidayFixed},
		{"2025-10-03", "개천절", settlement.HolidayFixed},
		{"2025-10-05", "추석 전날", settlement.HolidayLunar},
		{"2025-10-06", "추석", settlement.HolidayLunar},
		{"2025-10-07", "추석 다음 날", settlement.HolidayLunar},
		{"2025-10-08", "대체공휴일(추석)", settlement.HolidaySubstitute},
		{"2025-10-09", "한글날", settlement.HolidayFixed},
		{"2025-12-25", "기독탄신일", settlement.HolidayFixed},
	},
	2026: {
		{"2026-01-01", "1월 1일", settlement.HolidayFixed},
		{"2026-02-16", "설날 전날", settlement.HolidayLunar},
		{"2026-02-17", "설날", settlement.HolidayLunar},
		{"2026-02-18", "설날 다음 날", settlement.HolidayLunar},
		{"2026-03-01", "3·1절", settlement.HolidayFixed},
		{"2026-03-02", "대체공휴일(3·1절)", settlement.HolidaySubstitute},
		{"2026-05-01", "노동절", settlement.HolidayFixed},
		{"2026-05-05", "어린이날", settlement.HolidayFixed},
		{"2026-05-24", "부처님 오신 날", settlement.HolidayLunar},
		{"2026-05-25", "대체공휴일(부처님 오신 날)", settlement.HolidaySubstitute},
		{"2026-06-03", "제9회 전국동시지방선거", settlement.HolidayElection},
		{"2026-06-06", "현충일", settlement.HolidayFixed},
		{"2026-07-17", "제헌절", settlement.HolidayFixed},
		{"2026-08-15", "광복절", settlement.HolidayFixed},
		{"2026-08-17", "대체공휴일(광복절)", settlement.HolidaySubstitute},
		{"2026-09-24", "추석 전날", settlement.HolidayLunar},
		{"2026-09-25", "추석", settlement.HolidayLunar},
		{"2026-09-26", "추석 다음 날", settlement.HolidayLunar},
		{"2026-10-03", "개천절", settlement.HolidayFixed},
		{"2026-10-05", "대체공휴일(개천절)", settlement.HolidaySubstitute},
		{"2026-10-09", "한글날", settlement.HolidayFixed},
		{"2026-12-25", "기독탄신일", settlement.HolidayFixed},
	},
	2027: {
		{"2027-01-01", "1월 1일", settlement.HolidayFixed},
		{"2027-02-06", "설날 전날", settlement.HolidayLunar},
		{"2027-02-07", "설날", settlement.HolidayLunar},
		{"2027-02-08", "설날 다음 날", settlement.HolidayLunar},
		{"2027-02-09", "대체공휴일(설날)", settlement.HolidaySubstitute},
		{"2027-03-01", "3·1절", settlement.HolidayFixed},
		{"2027-05-01", "노동절", settlement.HolidayFixed},
		{"2027-05-03", "대체공휴일(노동절)", settlement.HolidaySubstitute},
		{"2027-05-05", "어린이날", settlement.HolidayFixed},
		{"2027-05-13", "부처님 오신 날", settlement.HolidayLunar},
		{"2027-06-06", "현충일", settlement.HolidayFixed},
		{"2027-07-17", "제헌절", settlement.HolidayFixed},
		{"2027-07-19", "대체공휴일(제헌절)", settlement.HolidaySubstitute},
		{"2027-08-15", "광복절", settlement.HolidayFixed},
		{"2027-08-16", "대체공휴일(광복절)", settlement.HolidaySubstitute},
		{"2027-09-14", "추석 전날", settlement.HolidayLunar},
		{"2027-09-15", "추석", settlement.HolidayLunar},
		{"2027-09-16", "추석 다음 날", settlement.HolidayLunar},
		{"2027-10-03", "개천절", settlement.HolidayFixed},
		{"2027-10-04", "대체공휴일(개천절)", settlement.HolidaySubstitute},
		{"2027-10-09", "한글날", settlement.HolidayFixed},
		{"2027-10-11", "대체공휴일(한글날)", settlement.HolidaySubstitute},
		{"2027-12-25", "기독탄신일", settlement.HolidayFixed},
		{"2027-12-27", "대체공휴일(기독탄신일)", settlement.HolidaySubstitute},
	},
}

func TestKoreanCalendar_EveryOfficialHolidayAndNothingElse(t *testing.T) {
	cal := settlement.KoreanCalendar()
	for year, want := range officialDays {
		t.Run(fmt.Sprint(year), func(t *testing.T) {
			from, to := time.Date(year, 1, 1, 0, 0, 0, 0, settlement.Seoul), time.Date(year, 12, 31, 0, 0, 0, 0, settlement.Seoul)
			got, err := cal.Holidays(from, to)
			require.NoError(t, err)
			var listed []officialDay
			for _, h := range got {
				listed = append(listed, officialDay{h.Date.Format("2006-01-02"), h.Name, h.Kind})
				assert.Equal(t, settlement.Seoul, h.Date.Location(), h.Name)
				assert.NotEmpty(t, h.NameEn, h.Name)
			}
			assert.Equal(t, want, listed)

			// Every day of the year: a business day exactly when it is a
			// weekday not in the official list.
			closed := map[string]bool{}
			for _, o := range want {
				closed[o.date] = true
			}
			businessDays := 0
			for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
				ok, err := cal.IsBusinessDay(d)
				require.NoError(t, err)
				weekday := d.Weekday() != time.Saturday && d.Weekday() != time.Sunday
				assert.Equal(t, weekday && !closed[d.Format("2006-01-02")], ok, d.Format("2006-01-02 Mon"))
				if ok {
					businessDays++
				}
			}
			assert.Equal(t, map[int]int{2025: 243, 2026: 245, 2027: 246}[year], businessDays)
		})
	}
}

func TestKoreanCalendar_SubstituteRules(t *testing.T) {
	cal := settlement.KoreanCalendar()
	tests := []struct {
		date     string
		business bool
		why      string
	}{
		{"2025-03-03", false, "3·1절 on a Saturday moves to Monday"},
		{"2025-05-06", false, "어린이날 and 부처님 오신 날 on the same day: the next day"},
		{"2025-10-08", false, "추석 eve on a Sunday: the day after the three days"},
		{"2026-03-02", false, "3·1절 on a Sunday moves to Monday"},
		{"2026-05-25", false, "부처님 오신 날 on a Sunday moves to Monday"},
		{"2026-08-17", false, "광복절 on a Saturday moves to Monday"},
		{"2026-10-05", false, "개천절 on a Saturday moves to Monday"},
		{"2027-02-09", false, "설날 on a Sunday: the day after the three days"},
		{"2027-05-03", false, "노동절 on a Saturday moves to Monday"},
		{"2027-07-19", false, "제헌절 on a Saturday moves to Monday"},
		{"2027-10-11", false, "한글날 on a Saturday moves to Monday"},
		{"2027-12-27", false, "기독탄신일 on a Saturday moves to Monday"},
		{"2026-06-08", true, "현충일 on a Saturday has no substitute"},
		{"2027-06-07", true, "현충일 on a Sunday has no substitute"},
		{"2026-09-28", true, "추석 on a Saturday has no substitute: only a Sunday counts"},
		{"2026-01-02", true, "1월 1일 has no substitute, and the 2nd is a weekday"},
	}
	for _, tt := range tests {
		ok, err := cal.IsBusinessDay(seoulDay(tt.date))
		require.NoError(t, err)
		assert.Equal(t, tt.business, ok, "%s: %s", tt.date, tt.why)
	}
}

func TestKoreanCalendar_DatesOutsideCoverageAreUnknown(t *testing.T) {
	cal := settlement.KoreanCalendar()
	from, to := cal.Coverage()
	assert.Equal(t, "2025-01-01", from.Format("2006-01-02"))
	assert.Equal(t, "2027-12-31", to.Format("2006-01-02"))

	for _, d := range []string{"2024-12-31", "2028-01-03", "2028-01-01"} {
		assert.False(t, cal.Covers(seoulDay(d)), d)
		_, err := cal.IsBusinessDay(seoulDay(d))
		assert.ErrorIs(t, err, settlement.ErrBeyondCalendar, d)
	}
	// 2027-12-31 is covered; 2028-01-01 09:00 in Seoul is 2027-12-31 in UTC
	// but not in Seoul.
	ok, err := cal.IsBusinessDay(time.Date(2027, 12, 31, 14, 59, 59, 0, time.UTC))
	require.NoError(t, err)
	assert.True(t, ok)
	_, err = cal.IsBusinessDay(time.Date(2027, 12, 31, 15, 0, 0, 0, time.UTC))
	assert.ErrorIs(t, err, settlement.ErrBeyondCalendar)

	// D+2 from the last covered Thursday runs into 2028: unknown, not a guess.
	_, err = cal.AddBusinessDays(seoulDay("2027-12-30"), 2)
	assert.ErrorIs(t, err, settlement.ErrBeyondCalendar)
	d, err := cal.AddBusinessDays(seoulDay("2027-12-30"), 1)
	require.NoError(t, err)
	assert.Equal(t, "2027-12-31", d.Format("2006-01-02"))

	_, err = cal.Holidays(seoulDay("2027-12-01"), seoulDay("2028-01-31"))
	assert.ErrorIs(t, err, settlement.ErrBeyondCalendar)
}

func TestCalendar_AddBusinessDays_AcrossSeollalAndChuseok(t *testing.T) {
	cal := settlement.KoreanCalendar()
	tests := []struct {
		at   string
		n    int
		want string
	}{
		// 2025 설날: temporary holiday 1/27, 1/28-30.
		{"2025-01-24", 1, "2025-01-31"},
		{"2025-01-24", 2, "2025-02-03"},
		{"2025-01-26", 1, "2025-01-31"}, // a Sunday sale
		// 2026 설날: 2/16-18.
		{"2026-02-13", 1, "2026-02-19"},
		{"2026-02-13", 2, "2026-02-20"},
		{"2026-02-17", 0, "2026-02-19"}, // D+0 on a holiday: the next business day
		// 2027 설날 with its substitute: 2/6-9.
		{"2027-02-05", 1, "2027-02-10"},
		// 2025 추석 between 개천절 and 한글날: 10/3-9 closed.
		{"2025-10-02", 1, "2025-10-10"},
		{"2025-10-02", 3, "2025-10-14"},
		// 2026 추석 running into a Saturday: 9/24-26.
		{"2026-09-23", 2, "2026-09-29"},
		// 2027 추석: 9/14-16.
		{"2027-09-13", 1, "2027-09-17"},
		{"2027-09-13", 2, "2027-09-20"},
		// An ordinary week.
		{"2026-11-24", 0, "2026-11-24"},
		{"2026-11-27", 1, "2026-11-30"},
	}
	for _, tt := range tests {
		got, err := cal.AddBusinessDays(seoulDay(tt.at).Add(10*time.Hour), tt.n)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got.Format("2006-01-02"), "%s D+%d", tt.at, tt.n)
		assert.Equal(t, settlement.Seoul, got.Location())
		assert.Zero(t, got.Hour())
	}
	_, err := cal.AddBusinessDays(seoulDay("2026-02-13"), -1)
	assert.Error(t, err)
}

func TestCalendar_AddBusinessDays_BusinessDateIsTheSaleDateInSeoul(t *testing.T) {
	cal := settlement.KoreanCalendar()
	// 2025-01-24 is the last business day before the 설날 closure (1/25-30).
	tests := []struct {
		name string
		at   time.Time
		want string
	}{
		{"23:59:59 KST on Thursday 1/23", time.Date(2025, 1, 23, 23, 59, 59, 0, settlement.Seoul), "2025-01-24"},
		{"the same instant in UTC", time.Date(2025, 1, 23, 14, 59, 59, 0, time.UTC), "2025-01-24"},
		{"one second later: 00:00:00 KST on Friday 1/24", time.Date(2025, 1, 23, 15, 0, 0, 0, time.UTC), "2025-01-31"},
		{"00:00:00 UTC on 1/24 is 09:00 KST on 1/24", time.Date(2025, 1, 24, 0, 0, 0, 0, time.UTC), "2025-01-31"},
		{"23:59:59 KST on Thursday 10/2, before the 10/3-9 closure", time.Date(2025, 10, 2, 23, 59, 59, 0, settlement.Seoul), "2025-10-10"},
	}
	for _, tt := range tests {
		got, err := cal.AddBusinessDays(tt.at, 1)
		require.NoError(t, err)
		assert.Equal(t, tt.want, got.Format("2006-01-02"), tt.name)
	}
}

func TestCalendar_With_AddsHostDaysToACopy(t *testing.T) {
	base := settlement.KoreanCalendar()
	company, err := base.With(settlement.Holiday{Date: seoulDay("2026-12-31"), Name: "창립기념일", NameEn: "Founding day"})
	require.NoError(t, err)

	got, err := company.AddBusinessDays(seoulDay("2026-12-30"), 1)
	require.NoError(t, err)
	assert.Equal(t, "2027-01-04", got.Format("2006-01-02"), "12/31 closed, 1/1 a holiday, then a weekend")
	hs, err := company.Holidays(seoulDay("2026-12-31"), seoulDay("2026-12-31"))
	require.NoError(t, err)
	require.Len(t, hs, 1)
	assert.Equal(t, settlement.HolidayHost, hs[0].Kind)

	// The shipped calendar is unchanged.
	got, err = base.AddBusinessDays(seoulDay("2026-12-30"), 1)
	require.NoError(t, err)
	assert.Equal(t, "2026-12-31", got.Format("2006-01-02"))

	// A temporary holiday declared after the data shipped, given as any
	// instant of that day in Seoul, keeps its kind; adding it twice is one day.
	declared := settlement.Holiday{Date: time.Date(2027, 10, 1, 3, 0, 0, 0, time.UTC), Name: "임시공휴일", Kind: settlement.HolidayTemporary}
	c, err := base.With(declared, declared)
	require.NoError(t, err)
	hs, err = c.Holidays(seoulDay("2027-10-01"), seoulDay("2027-10-01"))
	require.NoError(t, err)
	require.Len(t, hs, 1)
	assert.Equal(t, settlement.HolidayTemporary, hs[0].Kind)
	assert.Equal(t, seoulDay("2027-10-01"), hs[0].Date)
	ok, err := c.IsBusinessDay(seoulDay("2027-10-01"))
	require.NoError(t, err)
	assert.False(t, ok)
}

func TestCalendar_With_RefusesBadDays(t *testing.T) {
	base := settlement.KoreanCalendar()
	tests := []struct {
		name string
		day  settlement.Holiday
	}{
		{"beyond coverage", settlement.Holiday{Date: seoulDay("2028-01-03"), Name: "창립기념일"}},
		{"no name", settlement.Holiday{Date: seoulDay("2026-12-31")}},
		{"no date", settlement.Holiday{Name: "창립기념일"}},
		{"unknown kind", settlement.Holiday{Date: seoulDay("2026-12-31"), Name: "창립기념일", Kind: "company"}},
	}
	for _, tt := range tests {
		c, err := base.With(tt.day)
		assert.Error(t, err, tt.name)
		assert.Nil(t, c, tt.name)
	}
	_, err := base.With(settlement.Holiday{Date: seoulDay("2028-01-03"), Name: "창립기념일"})
	assert.ErrorIs(t, err, settlement.ErrBeyondCalendar)
	// A day beyond coverage does not become known by adding one holiday.
	_, err = base.IsBusinessDay(seoulDay("2028-01-04"))
	assert.ErrorIs(t, err, settlement.ErrBeyondCalendar)
}

func TestCalendar_ConcurrentUse(t *testing.T) {
	base := settlement.KoreanCalendar()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := base.With(settlement.Holiday{Date: seoulDay("2026-12-28").AddDate(0, 0, i%4), Name: fmt.Sprint("휴무", i)})
			assert.NoError(t, err)
			_, err = c.AddBusinessDays(seoulDay("2026-12-24"), 3)
			assert.NoError(t, err)
			_, err = base.AddBusinessDays(seoulDay("2026-12-24"), 3)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	got, err := base.AddBusinessDays(seoulDay("2026-12-24"), 3)
	require.NoError(t, err)
	assert.Equal(t, "2026-12-30", got.Format("2006-01-02"), "the shared calendar took none of the copies' days")
}

const hostCalendar2028 = `# A host's list for 2028, once announced.
# coverage: 2028-01-01..2028-12-31
date,name_ko,name_en,kind,note
2028-01-01,1월 1일,New Year's Day,fixed,
2028-01-26,설날 전날,Seollal (eve),lunar,
2028-01-27,설날,Seollal,lunar,
2028-01-28,설날 다음 날,Seollal (day after),lunar,
2028-04-12,"제23대 국회의원선거",23rd general election,election,"quoted, with a comma"
`

func TestLoadCalendar_ReadsAHostsNewerList(t *testing.T) {
	c, err := settlement.LoadCalendar(strings.NewReader(hostCalendar2028))
	require.NoError(t, err)
	from, to := c.Coverage()
	assert.Equal(t, "2028-01-01", from.Format("2006-01-02"))
	assert.Equal(t, "2028-12-31", to.Format("2006-01-02"))
	got, err := c.AddBusinessDays(seoulDay("2028-01-25"), 1)
	require.NoError(t, err)
	assert.Equal(t, "2028-01-31", got.Format("2006-01-02"))
	hs, err := c.Holidays(seoulDay("2028-04-12"), seoulDay("2028-04-12"))
	require.NoError(t, err)
	require.Len(t, hs, 1)
	assert.Equal(t, settlement.HolidayElection, hs[0].Kind)
	assert.Equal(t, "quoted, with a comma", hs[0].Note)
	_, err = c.IsBusinessDay(seoulDay("2027-12-31"))
	assert.ErrorIs(t, err, settlement.ErrBeyondCalendar)
}

func TestLoadCalendar_RefusesMalformedLists(t *testing.T) {
	const header = "date,name_ko,name_en,kind,note\n"
	const coverage = "# coverage: 2028-01-01..2028-12-31\n"
	tests := []struct {
		name, text, want string
	}{
		{"no coverage", header + "2028-01-01,1월 1일,New Year's Day,fixed,\n", "no coverage"},
		{"bad coverage", "# coverage: 2028-01-01\n" + header, "coverage"},
		{"two coverages", coverage + coverage + header, "more than one"},
		{"coverage backwards", "# coverage: 2028-12-31..2028-01-01\n" + header, "before it starts"},
		{"no header", coverage, "header"},
		{"wrong header", coverage + "day,name,kind\n", "header"},
		{"bad date", coverage + header + "2028-13-01,x,x,fixed,\n", "line 3"},
		{"unknown kind", coverage + header + "2028-01-01,1월 1일,New Year's Day,solar,\n", "unknown kind"},
		{"no kind", coverage + header + "2028-01-01,1월 1일,New Year's Day,,\n", "no kind"},
		{"no name", coverage + header + "2028-01-01,,New Year's Day,fixed,\n", "no name"},
		{"too few fields", coverage + header + "2028-01-01,1월 1일,fixed\n", "fields"},
		{"outside coverage", coverage + header + "2029-01-01,1월 1일,New Year's Day,fixed,\n", "outside"},
	}
	for _, tt := range tests {
		c, err := settlement.LoadCalendar(strings.NewReader(tt.text))
		require.Error(t, err, tt.name)
		assert.Nil(t, c, tt.name)
		assert.Contains(t, err.Error(), tt.want, tt.name)
	}
	_, err := settlement.LoadCalendar(errReader{})
	assert.Error(t, err)
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk gone") }

func TestNewCalendar(t *testing.T) {
	c, err := settlement.NewCalendar(seoulDay("2030-01-01"), seoulDay("2030-01-31"),
		settlement.Holiday{Date: seoulDay("2030-01-01"), Name: "1월 1일", Kind: settlement.HolidayFixed})
	require.NoError(t, err)
	ok, err := c.IsBusinessDay(seoulDay("2030-01-01"))
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = settlement.NewCalendar(seoulDay("2030-01-01"), seoulDay("2030-01-31"),
		settlement.Holiday{Date: seoulDay("2030-01-01"), Name: "1월 1일"})
	assert.Error(t, err, "a holiday of the data needs a kind")
}

func ExampleCalendar_AddBusinessDays() {
	cal := settlement.KoreanCalendar()
	// A card sale on the Friday before 설날 2025: 1/27 was declared a
	// temporary holiday, 1/28-30 are 설날.
	sold := time.Date(2025, 1, 24, 15, 30, 0, 0, settlement.Seoul)
	payout, _ := cal.AddBusinessDays(sold, 2)
	fmt.Println(payout.Format("2006-01-02 Mon"))

	_, err := cal.AddBusinessDays(time.Date(2028, 3, 2, 10, 0, 0, 0, settlement.Seoul), 2)
	fmt.Println(errors.Is(err, settlement.ErrBeyondCalendar))
	// Output:
	// 2025-02-03 Mon
	// true
}
