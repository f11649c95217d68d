package settlement

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// ErrBeyondCalendar is returned when a business-day question needs a date
// the calendar's holiday data does not cover: whether such a day is a
// holiday is unknown, so it is not guessed.
var ErrBeyondCalendar = errors.New("settlement: date beyond the holiday calendar")

// HolidayKind says why a day is not a business day.
type HolidayKind string

const (
	// HolidayFixed is a public holiday on a fixed solar date (3·1절,
	// 어린이날, 기독탄신일, …).
	HolidayFixed HolidayKind = "fixed"
	// HolidayLunar is a public holiday on a lunar date (설날, 부처님 오신 날,
	// 추석): shipped as announced, never computed.
	HolidayLunar HolidayKind = "lunar"
	// HolidaySubstitute is a substitute holiday (대체공휴일).
	HolidaySubstitute HolidayKind = "substitute"
	// HolidayElection is an election day (선거일).
	HolidayElection HolidayKind = "election"
	// HolidayTemporary is a temporary holiday the government declared
	// (임시공휴일).
	HolidayTemporary HolidayKind = "temporary"
	// HolidayBank is a day the banks are closed though it is not a public
	// holiday (근로자의 날 before 2026): nothing is paid out.
	HolidayBank HolidayKind = "bank"
	// HolidayHost is a day the host added (a company holiday).
	HolidayHost HolidayKind = "host"
)

func (k HolidayKind) valid() bool {
	switch k {
	case HolidayFixed, HolidayLunar, HolidaySubstitute, HolidayElection, HolidayTemporary, HolidayBank, HolidayHost:
		return true
	}
	return false
}

// Holiday is a day that is not a business day, on whatever weekday it
// falls. Dates are read in Seoul: only Date's day in Asia/Seoul counts.
type Holiday struct {
	Date   time.Time // midnight in Seoul
	Name   string    // in Korean, e.g. "대체공휴일(추석)"
	NameEn string    // in English
	Kind   HolidayKind
	Note   string // why, or how certain the announcement is
}

// day is a calendar date in Seoul.
type day struct {
	y int
	m time.Month
	d int
}

func dayOf(t time.Time) day {
	y, m, d := t.In(Seoul).Date()
	return day{y, m, d}
}

func (d day) time() time.Time { return time.Date(d.y, d.m, d.d, 0, 0, 0, 0, Seoul) }

func (d day) next() day { return dayOf(d.time().AddDate(0, 0, 1)) }

func (d day) before(o day) bool {
	if d.y != o.y {
		return d.y < o.y
	}
	if d.m != o.m {
		return d.m < o.m
	}
	return d.d < o.d
}

func (d day) String() string { return d.time().Format(dateLayout) }

// Calendar is a Korean business-day calendar: Monday to Friday, minus the
// public holidays, substitute holidays, election days, temporary holidays
// and bank holidays of its data, minus any day the host added. It knows
// only the range its data covers (Coverage); every question about a day
// outside it answers ErrBeyondCalendar. A Calendar is immutable and safe
// for concurrent use; With returns a new one.
type Calendar struct {
	from, to day
	days     map[day][]Holiday
}

//go:embed holidays_kr.csv
var holidaysKR []byte

var korean = func() *Calendar {
	c, err := LoadCalendar(bytes.NewReader(holidaysKR))
	if err != nil {
		panic(err) // the embedded data is fixed at build time and tested
	}
	return c
}()

// KoreanCalendar returns the calendar of the officially announced Korean
// holidays shipped with paygate (holidays_kr.csv: 2025 to 2027, sources in
// its header). Lunar holidays and substitute days are as announced by the
// government, not computed. For a later year, or a holiday declared after
// this release, load a newer list with LoadCalendar or add days with With.
func KoreanCalendar() *Calendar { return korean }

// NewCalendar returns a calendar whose data is complete for the days from
// from to to (inclusive, read in Seoul), closed on holidays. Each holiday
// needs a name and a known kind, and must fall within the coverage.
func NewCalendar(from, to time.Time, holidays ...Holiday) (*Calendar, error) {
	c := &Calendar{from: dayOf(from), to: dayOf(to), days: map[day][]Holiday{}}
	if c.to.before(c.from) {
		return nil, fmt.Errorf("settlement: calendar coverage ends (%s) before it starts (%s)", c.to, c.from)
	}
	if err := c.add(holidays, false); err != nil {
		return nil, err
	}
	return c, nil
}

// With returns a copy of c also closed on days: company holidays, or a
// temporary holiday declared after c's data was published. A day without a
// Kind is HolidayHost. Days must fall within c's coverage (adding one day
// says nothing about the rest of an uncovered year); c is unchanged.
func (c *Calendar) With(days ...Holiday) (*Calendar, error) {
	n := &Calendar{from: c.from, to: c.to, days: make(map[day][]Holiday, len(c.days)+len(days))}
	for d, hs := range c.days {
		n.days[d] = slices.Clone(hs)
	}
	if err := n.add(days, true); err != nil {
		return nil, err
	}
	return n, nil
}

func (c *Calendar) add(holidays []Holiday, host bool) error {
	for _, h := range holidays {
		if h.Kind == "" && host {
			h.Kind = HolidayHost
		}
		d := dayOf(h.Date)
		switch {
		case h.Date.IsZero():
			return errors.New("settlement: holiday has no date")
		case strings.TrimSpace(h.Name) == "":
			return fmt.Errorf("settlement: holiday on %s has no name", d)
		case !h.Kind.valid():
			return fmt.Errorf("settlement: holiday %s on %s has unknown kind %q", h.Name, d, h.Kind)
		case !c.covers(d):
			return fmt.Errorf("%w: holiday %s on %s is outside the calendar's coverage %s..%s", ErrBeyondCalendar, h.Name, d, c.from, c.to)
		}
		h.Date = d.time()
		if slices.ContainsFunc(c.days[d], func(o Holiday) bool { return o.Name == h.Name }) {
			continue // the same day added twice closes it once
		}
		c.days[d] = append(c.days[d], h)
	}
	return nil
}

// Coverage returns the first and last day (midnight in Seoul) the
// calendar's holiday data is complete for.
func (c *Calendar) Coverage() (from, to time.Time) { return c.from.time(), c.to.time() }

// Covers reports whether t's date in Seoul is within the coverage.
func (c *Calendar) Covers(t time.Time) bool { return c.covers(dayOf(t)) }

func (c *Calendar) covers(d day) bool { return !d.before(c.from) && !c.to.before(d) }

func (c *Calendar) beyond(d day) error {
	return fmt.Errorf("%w: %s is outside %s..%s", ErrBeyondCalendar, d, c.from, c.to)
}

// isBusinessDay answers for d; weekdaysBeyond takes a weekday outside the
// coverage as a business day instead of failing.
func (c *Calendar) isBusinessDay(d day, weekdaysBeyond bool) (bool, error) {
	if !c.covers(d) && !weekdaysBeyond {
		return false, c.beyond(d)
	}
	if wd := d.time().Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false, nil
	}
	return len(c.days[d]) == 0, nil
}

// IsBusinessDay reports whether t's date in Seoul is a business day. It
// fails with ErrBeyondCalendar for a date outside the coverage.
func (c *Calendar) IsBusinessDay(t time.Time) (bool, error) {
	return c.isBusinessDay(dayOf(t), false)
}

// Holidays lists the holidays from from to to (inclusive, dates in Seoul)
// in date order, weekend ones included. The range must be within the
// coverage.
func (c *Calendar) Holidays(from, to time.Time) ([]Holiday, error) {
	f, t := dayOf(from), dayOf(to)
	if !c.covers(f) {
		return nil, c.beyond(f)
	}
	if !c.covers(t) {
		return nil, c.beyond(t)
	}
	var out []Holiday
	for d := f; !t.before(d); d = d.next() {
		out = append(out, c.days[d]...)
	}
	return out, nil
}

// AddBusinessDays returns the date (midnight in Seoul) n business days after
// at's date in Seoul, the business date D: the n-th business day after D
// (D+n). For n = 0 it is D itself when D is a business day, else the next
// business day. Every day it passes must be within the coverage, else it
// fails with ErrBeyondCalendar.
func (c *Calendar) AddBusinessDays(at time.Time, n int) (time.Time, error) {
	return c.addBusinessDays(at, n, false)
}

func (c *Calendar) addBusinessDays(at time.Time, n int, weekdaysBeyond bool) (time.Time, error) {
	if n < 0 {
		return time.Time{}, fmt.Errorf("settlement: %d business days: must not be negative", n)
	}
	d := dayOf(at)
	if n == 0 {
		for {
			ok, err := c.isBusinessDay(d, weekdaysBeyond)
			if err != nil {
				return time.Time{}, err
			}
			if ok {
				return d.time(), nil
			}
			d = d.next()
		}
	}
	for n > 0 {
		d = d.next()
		ok, err := c.isBusinessDay(d, weekdaysBeyond)
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			n--
		}
	}
	return d.time(), nil
}

const coveragePrefix = "# coverage:"

// LoadCalendar reads a calendar in the format of holidays_kr.csv: lines
// starting with # are comments, one of them "# coverage: YYYY-MM-DD..YYYY-MM-DD"
// (the range the list is complete for); then a header row and rows of
// date,name_ko,name_en,kind with an optional note. A host uses it for a newer
// list than the one shipped, e.g. once the next year's 월력요항 is published.
func LoadCalendar(r io.Reader) (*Calendar, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("settlement: reading calendar: %w", err)
	}
	var from, to time.Time
	found := false
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(line, coveragePrefix)
		if !ok {
			continue
		}
		if found {
			return nil, errors.New("settlement: calendar has more than one coverage line")
		}
		a, b, ok := strings.Cut(strings.TrimSpace(rest), "..")
		if ok {
			from, err = time.ParseInLocation(dateLayout, strings.TrimSpace(a), Seoul)
		}
		if ok && err == nil {
			to, err = time.ParseInLocation(dateLayout, strings.TrimSpace(b), Seoul)
		}
		if !ok || err != nil {
			return nil, fmt.Errorf("settlement: calendar coverage %q: want YYYY-MM-DD..YYYY-MM-DD", line)
		}
		found = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("settlement: reading calendar: %w", err)
	}
	if !found {
		return nil, errors.New("settlement: calendar has no coverage line (# coverage: YYYY-MM-DD..YYYY-MM-DD)")
	}

	cr := csv.NewReader(bytes.NewReader(raw))
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("settlement: calendar header: %w", err)
	}
	if len(header) < 4 || header[0] != "date" || header[1] != "name_ko" || header[2] != "name_en" || header[3] != "kind" {
		return nil, fmt.Errorf("settlement: calendar header %q: want date,name_ko,name_en,kind[,note]", strings.Join(header, ","))
	}
	var holidays []Holiday
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("settlement: calendar: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) < 4 || len(rec) > 5 {
			return nil, fmt.Errorf("settlement: calendar line %d: want 4 or 5 fields, got %d", line, len(rec))
		}
		date, err := time.ParseInLocation(dateLayout, rec[0], Seoul)
		if err != nil {
			return nil, fmt.Errorf("settlement: calendar line %d: date %q: want YYYY-MM-DD", line, rec[0])
		}
		h := Holiday{Date: date, Name: rec[1], NameEn: rec[2], Kind: HolidayKind(rec[3])}
		if len(rec) == 5 {
			h.Note = rec[4]
		}
		if h.Kind == "" {
			return nil, fmt.Errorf("settlement: calendar line %d: no kind", line)
		}
		holidays = append(holidays, h)
	}
	return NewCalendar(from, to, holidays...)
}
