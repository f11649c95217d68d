package settlement

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/paygate/paygate/pg"
)

// Lang is the language of a download's headers.
type Lang string

const (
	Korean  Lang = "ko" // the default
	English Lang = "en"
)

// Format is a download's file format.
type Format string

const (
	CSV  Format = "csv"
	XLSX Format = "xlsx"
)

// ContentType is the MIME type of a download in f.
func (f Format) ContentType() string {
	if f == XLSX {
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "text/csv; charset=utf-8"
}

// ReportWriter writes a report into a file as it is read: WriteRow for every
// row in order, then Finish with the totals, which completes the file. Close
// releases what the writer holds (an XLSX writer's temporary files); call it
// when done, whether or not Finish ran.
type ReportWriter interface {
	WriteRow(ReportRow) error
	Finish(ReportTotals) error
	Close() error
}

// NewReportWriter returns a writer of period's report in format f onto w,
// with headers in lang (Korean unless English), amounts in cur.
func NewReportWriter(w io.Writer, f Format, period Period, lang Lang, cur pg.Currency) (ReportWriter, error) {
	if cur == "" {
		cur = pg.KRW
	}
	if !cur.Valid() {
		return nil, fmt.Errorf("%w: unknown currency %q", ErrInvalidQuery, cur)
	}
	switch f {
	case CSV:
		return newCSVWriter(w, period, lang, cur), nil
	case XLSX:
		return newXLSXWriter(w, period, lang, cur)
	}
	return nil, fmt.Errorf("%w: unknown format %q", ErrInvalidQuery, f)
}

// Export writes the report of q onto w in format f, streaming: rows go into
// the file as the database hands them over, so a long report is never held
// in memory. It returns the totals it wrote. A CSV download is written to
// w as it goes; an XLSX one is assembled in temporary files and written to
// w only once complete, so nothing reaches w when the report fails.
func (l *Ledger) Export(ctx context.Context, w io.Writer, q ReportQuery, f Format, lang Lang) (ReportTotals, error) {
	n, err := q.normalize()
	if err != nil {
		return ReportTotals{}, err
	}
	rw, err := NewReportWriter(w, f, n.Period, lang, n.Currency)
	if err != nil {
		return ReportTotals{}, err
	}
	defer rw.Close()
	tot, err := l.Report(ctx, q, rw.WriteRow)
	if err != nil {
		return ReportTotals{}, err
	}
	if err := rw.Finish(tot); err != nil {
		return ReportTotals{}, err
	}
	return tot, rw.Close()
}

// Neutralize makes a text cell inert in a spreadsheet: a value starting with
// =, +, -, @, a tab or a carriage return, which Excel and its kin would run
// as a formula (CSV injection), gets a leading apostrophe and is shown as
// the text it is. Number cells are never passed through it.
func Neutralize(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// columns are a report's headers in order: the text columns, the counts,
// the amounts, the payout date.
func columns(period Period, lang Lang) []string {
	if lang == English {
		first := "Date"
		if period == Monthly {
			first = "Month"
		}
		return []string{first, "PG", "Method", "Currency", "Sales count", "Refund count",
			"Gross sales", "Refunds", "Fee", "VAT", "Net", "Payout date"}
	}
	first := "일자"
	if period == Monthly {
		first = "월"
	}
	return []string{first, "PG사", "결제수단", "통화", "매출 건수", "환불 건수",
		"매출액", "환불액", "수수료", "부가세", "정산액", "지급일"}
}

func totalLabel(lang Lang) string {
	if lang == English {
		return "Total"
	}
	return "합계"
}

func sheetName(period Period, lang Lang) string {
	switch {
	case lang == English && period == Monthly:
		return "Monthly settlement"
	case lang == English:
		return "Daily settlement"
	case period == Monthly:
		return "월별 정산"
	}
	return "일별 정산"
}

func payoutColumns(lang Lang) (sheet string, cols []string) {
	if lang == English {
		return "Payouts", []string{"Payout date", "PG", "Currency", "Amount"}
	}
	return "지급 예정", []string{"지급일", "PG사", "통화", "지급액"}
}

// amountText writes minor units of cur as the currency's decimal.
func amountText(minor int64, cur pg.Currency) string {
	units, _ := cur.MinorUnits()
	if units == 0 {
		return strconv.FormatInt(minor, 10)
	}
	return Money(minor, cur).StringFixed(units)
}

// csvWriter writes UTF-8 with a byte order mark, which Excel on Korean
// Windows needs to read the file as UTF-8 rather than CP949, and CRLF line
// ends.
type csvWriter struct {
	buf    *bufio.Writer
	w      *csv.Writer
	cur    pg.Currency
	lang   Lang
	period Period
	err    error
}

func newCSVWriter(w io.Writer, period Period, lang Lang, cur pg.Currency) *csvWriter {
	buf := bufio.NewWriterSize(w, 64<<10)
	c := &csvWriter{buf: buf, w: csv.NewWriter(buf), cur: cur, lang: lang, period: period}
	c.w.UseCRLF = true
	if _, err := buf.WriteString("\uFEFF"); err != nil {
		c.err = err
		return c
	}
	cols := columns(period, lang)
	c.err = c.w.Write(cols)
	return c
}

func (c *csvWriter) WriteRow(r ReportRow) error {
	if c.err != nil {
		return c.err
	}
	c.err = c.w.Write([]string{
		Neutralize(r.Date), Neutralize(r.PG), Neutralize(r.Method), Neutralize(string(r.Currency)),
		strconv.FormatInt(r.SalesCount, 10), strconv.FormatInt(r.RefundCount, 10),
		amountText(r.Gross, c.cur), amountText(r.Refunds, c.cur), amountText(r.Fee, c.cur),
		amountText(r.VAT, c.cur), amountText(r.Net, c.cur), Neutralize(r.PayoutDate),
	})
	return c.err
}

func (c *csvWriter) Finish(t ReportTotals) error {
	if c.err != nil {
		return c.err
	}
	if err := c.w.Write([]string{
		totalLabel(c.lang), "", "", string(c.cur),
		strconv.FormatInt(t.SalesCount, 10), strconv.FormatInt(t.RefundCount, 10),
		amountText(t.Gross, c.cur), amountText(t.Refunds, c.cur), amountText(t.Fee, c.cur),
		amountText(t.VAT, c.cur), amountText(t.Net, c.cur), "",
	}); err != nil {
		return err
	}
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	return c.buf.Flush()
}

func (c *csvWriter) Close() error { return nil }

// xlsxWriter writes a workbook with excelize's StreamWriter: the report's
// sheet, rows streamed into a temporary file, then a sheet of payouts. Cells
// are typed: counts and amounts are numbers (amounts formatted #,##0 for
// won, #,##0.00 for a currency with cents), text is inline strings made
// inert by Neutralize. The header row is frozen, and the last row holds the
// totals, as SUM formulas whose cached values are paygate's exact sums.
type xlsxWriter struct {
	out    io.Writer
	f      *excelize.File
	sw     *excelize.StreamWriter
	row    int
	cur    pg.Currency
	units  int32
	lang   Lang
	period Period

	header, text, count, money, totalText, totalCount, totalMoney int
	finished                                                      bool
}

func newXLSXWriter(w io.Writer, period Period, lang Lang, cur pg.Currency) (*xlsxWriter, error) {
	f := excelize.NewFile()
	x := &xlsxWriter{out: w, f: f, cur: cur, lang: lang, period: period}
	x.units, _ = cur.MinorUnits()
	if err := x.styles(); err != nil {
		_ = f.Close()
		return nil, err
	}
	name := sheetName(period, lang)
	if err := f.SetSheetName("Sheet1", name); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("settlement: xlsx: %w", err)
	}
	sw, err := x.sheet(name, columns(period, lang), []float64{12, 12, 16, 8, 11, 11, 16, 16, 14, 14, 16, 12})
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	x.sw, x.row = sw, 1
	return x, nil
}

func (x *xlsxWriter) styles() error {
	numFmt := "#,##0"
	if x.units > 0 {
		numFmt = "#,##0." + strings.Repeat("0", int(x.units))
	}
	border := []excelize.Border{{Type: "top", Color: "000000", Style: 1}}
	var err error
	mk := func(s *excelize.Style) int {
		if err != nil {
			return 0
		}
		var id int
		id, err = x.f.NewStyle(s)
		return id
	}
	bold := &excelize.Font{Bold: true}
	x.header = mk(&excelize.Style{Font: bold, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"D9E1F2"}},
		Alignment: &excelize.Alignment{Horizontal: "center"}})
	x.text = mk(&excelize.Style{})
	x.count = mk(&excelize.Style{CustomNumFmt: ptr("#,##0")})
	x.money = mk(&excelize.Style{CustomNumFmt: &numFmt})
	x.totalText = mk(&excelize.Style{Font: bold, Border: border})
	x.totalCount = mk(&excelize.Style{Font: bold, Border: border, CustomNumFmt: ptr("#,##0")})
	x.totalMoney = mk(&excelize.Style{Font: bold, Border: border, CustomNumFmt: &numFmt})
	if err != nil {
		return fmt.Errorf("settlement: xlsx styles: %w", err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// sheet starts a streamed sheet with its column widths, a frozen header
// row and the header.
func (x *xlsxWriter) sheet(name string, cols []string, widths []float64) (*excelize.StreamWriter, error) {
	sw, err := x.f.NewStreamWriter(name)
	if err != nil {
		return nil, fmt.Errorf("settlement: xlsx: %w", err)
	}
	for i, w := range widths {
		if err := sw.SetColWidth(i+1, i+1, w); err != nil {
			return nil, fmt.Errorf("settlement: xlsx: %w", err)
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return nil, fmt.Errorf("settlement: xlsx: %w", err)
	}
	head := make([]any, len(cols))
	for i, c := range cols {
		head[i] = excelize.Cell{StyleID: x.header, Value: c}
	}
	if err := sw.SetRow("A1", head); err != nil {
		return nil, fmt.Errorf("settlement: xlsx: %w", err)
	}
	return sw, nil
}

// amount is a number cell's value: an integer in won, the exact decimal as
// a float where the currency has cents (a spreadsheet holds every number as
// a float; cents are exact in one up to 2^53).
func (x *xlsxWriter) amount(minor int64) any {
	if x.units == 0 {
		return minor
	}
	return Money(minor, x.cur).InexactFloat64()
}

func (x *xlsxWriter) WriteRow(r ReportRow) error {
	if x.sw == nil {
		return errors.New("settlement: xlsx: writer is closed")
	}
	x.row++
	cell, _ := excelize.CoordinatesToCellName(1, x.row)
	return x.sw.SetRow(cell, []any{
		excelize.Cell{StyleID: x.text, Value: Neutralize(r.Date)},
		excelize.Cell{StyleID: x.text, Value: Neutralize(r.PG)},
		excelize.Cell{StyleID: x.text, Value: Neutralize(r.Method)},
		excelize.Cell{StyleID: x.text, Value: Neutralize(string(r.Currency))},
		excelize.Cell{StyleID: x.count, Value: r.SalesCount},
		excelize.Cell{StyleID: x.count, Value: r.RefundCount},
		excelize.Cell{StyleID: x.money, Value: x.amount(r.Gross)},
		excelize.Cell{StyleID: x.money, Value: x.amount(r.Refunds)},
		excelize.Cell{StyleID: x.money, Value: x.amount(r.Fee)},
		excelize.Cell{StyleID: x.money, Value: x.amount(r.VAT)},
		excelize.Cell{StyleID: x.money, Value: x.amount(r.Net)},
		excelize.Cell{StyleID: x.text, Value: Neutralize(r.PayoutDate)},
	})
}

// sum is a totals cell: SUM over the column's data rows, cached as v.
func (x *xlsxWriter) sum(col, lastRow, style int, v any) excelize.Cell {
	name, _ := excelize.ColumnNumberToName(col)
	c := excelize.Cell{StyleID: style, Value: v}
	if lastRow >= 2 {
		c.Formula = fmt.Sprintf("SUM(%s2:%s%d)", name, name, lastRow)
	}
	return c
}

func (x *xlsxWriter) Finish(t ReportTotals) error {
	if x.sw == nil || x.finished {
		return errors.New("settlement: xlsx: writer is closed")
	}
	last := x.row
	x.row++
	cell, _ := excelize.CoordinatesToCellName(1, x.row)
	err := x.sw.SetRow(cell, []any{
		excelize.Cell{StyleID: x.totalText, Value: totalLabel(x.lang)},
		excelize.Cell{StyleID: x.totalText, Value: ""},
		excelize.Cell{StyleID: x.totalText, Value: ""},
		excelize.Cell{StyleID: x.totalText, Value: string(x.cur)},
		x.sum(5, last, x.totalCount, t.SalesCount),
		x.sum(6, last, x.totalCount, t.RefundCount),
		x.sum(7, last, x.totalMoney, x.amount(t.Gross)),
		x.sum(8, last, x.totalMoney, x.amount(t.Refunds)),
		x.sum(9, last, x.totalMoney, x.amount(t.Fee)),
		x.sum(10, last, x.totalMoney, x.amount(t.VAT)),
		x.sum(11, last, x.totalMoney, x.amount(t.Net)),
		excelize.Cell{StyleID: x.totalText, Value: ""},
	})
	if err == nil {
		err = x.sw.Flush()
	}
	if err != nil {
		return fmt.Errorf("settlement: xlsx: %w", err)
	}

	name, cols := payoutColumns(x.lang)
	if _, err := x.f.NewSheet(name); err != nil {
		return fmt.Errorf("settlement: xlsx: %w", err)
	}
	sw, err := x.sheet(name, cols, []float64{12, 12, 8, 16})
	if err != nil {
		return err
	}
	row := 1
	var total int64
	for _, p := range t.Payouts {
		row++
		total += p.Amount
		cell, _ := excelize.CoordinatesToCellName(1, row)
		if err := sw.SetRow(cell, []any{
			excelize.Cell{StyleID: x.text, Value: Neutralize(p.Date)},
			excelize.Cell{StyleID: x.text, Value: Neutralize(p.PG)},
			excelize.Cell{StyleID: x.text, Value: Neutralize(string(p.Currency))},
			excelize.Cell{StyleID: x.money, Value: x.amount(p.Amount)},
		}); err != nil {
			return fmt.Errorf("settlement: xlsx: %w", err)
		}
	}
	cell, _ = excelize.CoordinatesToCellName(1, row+1)
	err = sw.SetRow(cell, []any{
		excelize.Cell{StyleID: x.totalText, Value: totalLabel(x.lang)},
		excelize.Cell{StyleID: x.totalText, Value: ""},
		excelize.Cell{StyleID: x.totalText, Value: string(x.cur)},
		x.sum(4, row, x.totalMoney, x.amount(total)),
	})
	if err == nil {
		err = sw.Flush()
	}
	if err == nil {
		x.f.SetActiveSheet(0)
		// excelize assembles the zip in a bytes.Buffer before writing it
		// out, which would hold the whole file in memory; its zip writer
		// is pointed at the output instead, so the sheets' temporary
		// files are compressed straight into it and the buffer stays
		// empty. (The buffer is only patched for ZIP64 entries over 4 GiB,
		// far beyond a report.)
		// Deflate at its fastest level: compression is half the work
		// of a large export, and the file grows by a fifth.
		x.f.SetZipWriter(func(io.Writer) excelize.ZipWriter {
			zw := zip.NewWriter(x.out)
			zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
				return flate.NewWriter(w, flate.BestSpeed)
			})
			return zw
		})
		var buf *bytes.Buffer
		if buf, err = x.f.WriteToBuffer(); err == nil && buf.Len() > 0 {
			err = errors.New("excelize wrote around the streaming zip writer")
		}
	}
	if err != nil {
		return fmt.Errorf("settlement: xlsx: %w", err)
	}
	x.finished = true
	return nil
}

func (x *xlsxWriter) Close() error {
	if x.f == nil {
		return nil
	}
	err := x.f.Close()
	x.f, x.sw = nil, nil
	if err != nil {
		return fmt.Errorf("settlement: xlsx: %w", err)
	}
	return nil
}
