package settlement_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
)

// hostile are rows whose text a spreadsheet would run as formulas.
var hostile = []settlement.ReportRow{
	{Date: "2026-03-02", PG: "tosspay", Method: "CARD", Currency: pg.KRW, SalesCount: 2, RefundCount: 1,
		Gross: 1_234_567, Refunds: 10_000, Fee: 39_186, VAT: 3_918, Net: 1_181_463, PayoutDate: "2026-03-04"},
	{Date: "2026-03-02", PG: "=HYPERLINK(\"http://x\")", Method: "+SUM(A1)", Currency: pg.KRW, SalesCount: 0, RefundCount: 1,
		Gross: 0, Refunds: 5_000, Fee: -160, VAT: -16, Net: -4_824, PayoutDate: "2026-03-04"},
	{Date: "2026-03-03", PG: "@cmd", Method: "-2+3", Currency: pg.KRW, SalesCount: 1,
		Gross: 100, Fee: 3, Net: 97, PayoutDate: "\tx"},
}

func totalsOf(rows []settlement.ReportRow) settlement.ReportTotals {
	t := settlement.ReportTotals{Currency: pg.KRW}
	for _, r := range rows {
		t.SalesCount += r.SalesCount
		t.RefundCount += r.RefundCount
		t.Gross += r.Gross
		t.Refunds += r.Refunds
		t.Fee += r.Fee
		t.VAT += r.VAT
		t.Net += r.Net
	}
	t.Payouts = []settlement.Payout{{PG: "tosspay", Date: "2026-03-04", Currency: pg.KRW, Amount: t.Net}}
	return t
}

func write(t *testing.T, f settlement.Format, lang settlement.Lang, rows []settlement.ReportRow) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := settlement.NewReportWriter(&buf, f, settlement.Daily, lang, pg.KRW)
	require.NoError(t, err)
	defer w.Close()
	for _, r := range rows {
		require.NoError(t, w.WriteRow(r))
	}
	require.NoError(t, w.Finish(totalsOf(rows)))
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// A CSV download starts with a UTF-8 byte order mark (Excel on Korean
// Windows reads it as UTF-8, not CP949), has Korean headers by default,
// numbers as plain numbers (negative ones too) and formula-like text
// neutralized, and ends with the totals.
func TestCSV_BOMKoreanHeadersNeutralizedTextAndTotals(t *testing.T) {
	raw := write(t, settlement.CSV, "", hostile)
	require.True(t, bytes.HasPrefix(raw, []byte("\xEF\xBB\xBF")), "BOM")
	assert.Contains(t, string(raw), "\r\n", "CRLF lines")
	recs, err := csv.NewReader(bytes.NewReader(raw[3:])).ReadAll()
	require.NoError(t, err)
	require.Len(t, recs, 1+len(hostile)+1)
	assert.Equal(t, []string{"일자", "PG사", "결제수단", "통화", "매출 건수", "환불 건수", "매출액", "환불액", "수수료", "부가세", "정산액", "지급일"}, recs[0])
	assert.Equal(t, []string{"2026-03-02", "tosspay", "CARD", "KRW", "2", "1", "1234567", "10000", "39186", "3918", "1181463", "2026-03-04"}, recs[1])
	assert.Equal(t, "'=HYPERLINK(\"http://x\")", recs[2][1])
	assert.Equal(t, "'+SUM(A1)", recs[2][2])
	assert.Equal(t, "-4824", recs[2][10], "a negative number stays a number")
	assert.Equal(t, "'@cmd", recs[3][1])
	assert.Equal(t, "'-2+3", recs[3][2])
	assert.Equal(t, "'\tx", recs[3][11])
	tot := totalsOf(hostile)
	assert.Equal(t, []string{"합계", "", "", "KRW", "3", "2", "1234667", "15000", strconv.FormatInt(tot.Fee, 10),
		strconv.FormatInt(tot.VAT, 10), strconv.FormatInt(tot.Net, 10), ""}, recs[4])

	en, err := csv.NewReader(bytes.NewReader(write(t, settlement.CSV, settlement.English, hostile[:1])[3:])).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, "Date", en[0][0])
	assert.Equal(t, "Total", en[2][0])
}

// An XLSX download is a real workbook: the report's sheet with a frozen
// header, typed number cells in won format, neutralized text and a totals
// row of SUM formulas holding the exact sums; then a sheet of payouts.
func TestXLSX_TypedCellsFrozenHeaderTotalsAndPayoutSheet(t *testing.T) {
	raw := write(t, settlement.XLSX, "", hostile)
	f, err := excelize.OpenReader(bytes.NewReader(raw))
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, []string{"일별 정산", "지급 예정"}, f.GetSheetList())
	sheet := "일별 정산"

	panes, err := f.GetPanes(sheet)
	require.NoError(t, err)
	assert.True(t, panes.Freeze)
	assert.Equal(t, 1, panes.YSplit)
	assert.Equal(t, "A2", panes.TopLeftCell)

	rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
	require.NoError(t, err)
	require.Len(t, rows, 1+len(hostile)+1)
	assert.Equal(t, "매출액", rows[0][6])
	assert.Equal(t, "'=HYPERLINK(\"http://x\")", rows[2][1])
	assert.Equal(t, "'@cmd", rows[3][1])

	for _, c := range []struct {
		cell string
		want string
	}{{"G2", "1234567"}, {"K3", "-4824"}, {"E2", "2"}} {
		typ, err := f.GetCellType(sheet, c.cell)
		require.NoError(t, err)
		assert.NotEqual(t, excelize.CellTypeInlineString, typ, "%s is a number", c.cell)
		v, err := f.GetCellValue(sheet, c.cell, excelize.Options{RawCellValue: true})
		require.NoError(t, err)
		assert.Equal(t, c.want, v)
		formatted, err := f.GetCellValue(sheet, c.cell)
		require.NoError(t, err)
		if c.cell == "G2" {
			assert.Equal(t, "1,234,567", formatted, "won formatting")
		}
	}
	typ, err := f.GetCellType(sheet, "B3")
	require.NoError(t, err)
	assert.Equal(t, excelize.CellTypeInlineString, typ, "text stays text")

	formula, err := f.GetCellFormula(sheet, "G5")
	require.NoError(t, err)
	assert.Equal(t, "SUM(G2:G4)", formula)
	v, err := f.GetCellValue(sheet, "G5", excelize.Options{RawCellValue: true})
	require.NoError(t, err)
	assert.Equal(t, "1234667", v, "the cached total")
	label, _ := f.GetCellValue(sheet, "A5")
	assert.Equal(t, "합계", label)

	payouts, err := f.GetRows("지급 예정", excelize.Options{RawCellValue: true})
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"지급일", "PG사", "통화", "지급액"}, {"2026-03-04", "tosspay", "KRW", strconv.FormatInt(totalsOf(hostile).Net, 10)},
		{"합계", "", "KRW", strconv.FormatInt(totalsOf(hostile).Net, 10)}}, payouts)

	en, err := excelize.OpenReader(bytes.NewReader(write(t, settlement.XLSX, settlement.English, nil)))
	require.NoError(t, err)
	defer en.Close()
	assert.Equal(t, []string{"Daily settlement", "Payouts"}, en.GetSheetList())
	head, err := en.GetRows("Daily settlement")
	require.NoError(t, err)
	assert.Equal(t, "Gross sales", head[0][6])
	assert.Equal(t, "Total", head[1][0], "an empty report still has its totals row")
}

// exportRows makes n rows of a report for the export benchmark.
func exportRows(n int, each func(settlement.ReportRow) error) (settlement.ReportTotals, error) {
	pgs := []string{"inicis", "kakaopay", "tosspay"}
	methods := []string{"CARD", "EASY_PAY", "TRANSFER", "VIRTUAL_ACCOUNT"}
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, settlement.Seoul)
	t := settlement.ReportTotals{Currency: pg.KRW}
	for i := range n {
		gross := int64(100_000 + i%9_000_000)
		r := settlement.ReportRow{Date: day.AddDate(0, 0, i/12).Format("2006-01-02"), PG: pgs[i%3], Method: methods[(i/3)%4],
			Currency: pg.KRW, SalesCount: int64(1 + i%40), RefundCount: int64(i % 3), Gross: gross, Refunds: gross / 20,
			Fee: gross * 32 / 1000, VAT: gross * 32 / 10000, PayoutDate: day.AddDate(0, 0, i/12+2).Format("2006-01-02")}
		r.Net = r.Gross - r.Refunds - r.Fee - r.VAT
		t.SalesCount += r.SalesCount
		t.Gross += r.Gross
		t.Net += r.Net
		if err := each(r); err != nil {
			return t, err
		}
	}
	return t, nil
}

// childEnv names the variables that make TestExportChild a child process.
const (
	childRows   = "PAYGATE_EXPORT_CHILD_ROWS"
	childFormat = "PAYGATE_EXPORT_CHILD_FORMAT"
	childOut    = "PAYGATE_EXPORT_CHILD_OUT"
)

// TestExportChild is the process BenchmarkExport measures: it writes the
// rows its environment asks for into a file and prints the time taken, the
// heap the Go runtime obtained from the system (MemStats.HeapSys, which
// follows the heap's peak) and the peak resident set of the whole process
// (VmHWM). Run alone it skips.
func TestExportChild(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(childRows))
	if err != nil {
		t.Skip("the export benchmark's child process; run by BenchmarkExport")
	}
	out, err := os.Create(os.Getenv(childOut))
	require.NoError(t, err)
	defer out.Close()
	start := time.Now()
	w, err := settlement.NewReportWriter(out, settlement.Format(os.Getenv(childFormat)), settlement.Daily, settlement.Korean, pg.KRW)
	require.NoError(t, err)
	tot, err := exportRows(n, w.WriteRow)
	require.NoError(t, err)
	require.NoError(t, w.Finish(tot))
	require.NoError(t, w.Close())
	require.NoError(t, out.Sync())
	elapsed := time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("EXPORT seconds=%.3f cpu_seconds=%.3f heap_sys_mb=%.1f vmhwm_mb=%.1f\n", elapsed.Seconds(), cpu.Seconds(), float64(ms.HeapSys)/(1<<20), vmHWM(t)/1024)
}

// vmHWM is the process's peak resident set in KiB, from /proc/self/status.
func vmHWM(t *testing.T) float64 {
	f, err := os.Open("/proc/self/status")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			require.NoError(t, err)
			return kb
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// BenchmarkExport writes PAYGATE_BENCH_EXPORT_ROWS report rows (default
// 100,000; the README's figure is 1,000,000) as XLSX and as CSV, each in a
// child process of its own so its peak resident set is the export's alone,
// and reports the seconds (wall and CPU: on a shared machine the wall time
// includes waiting for a core), the peak RSS and the heap the Go runtime
// held.
//
//	PAYGATE_BENCH_EXPORT_ROWS=1000000 go test -run '^$' -bench BenchmarkExport -benchtime 1x ./settlement/
func BenchmarkExport(b *testing.B) {
	n := 100_000
	if v := os.Getenv("PAYGATE_BENCH_EXPORT_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("PAYGATE_BENCH_EXPORT_ROWS=%q: want a positive count", v)
		}
	}
	for _, f := range []settlement.Format{settlement.XLSX, settlement.CSV} {
		b.Run(string(f), func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "report."+string(f))
			var secs, cpu, rss, heap float64
			for b.Loop() {
				cmd := exec.Command(os.Args[0], "-test.run=^TestExportChild$", "-test.v")
				cmd.Env = append(os.Environ(), childRows+"="+strconv.Itoa(n), childFormat+"="+string(f), childOut+"="+out)
				res, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("child: %v\n%s", err, res)
				}
				line := ""
				for l := range strings.Lines(string(res)) {
					if strings.HasPrefix(l, "EXPORT ") {
						line = l
					}
				}
				if _, err := fmt.Sscanf(line, "EXPORT seconds=%f cpu_seconds=%f heap_sys_mb=%f vmhwm_mb=%f", &secs, &cpu, &heap, &rss); err != nil {
					b.Fatalf("child said %q: %v", res, err)
				}
			}
			st, err := os.Stat(out)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(secs, "s/export")
			b.ReportMetric(cpu, "s-cpu/export")
			b.ReportMetric(rss, "MB-peak-RSS")
			b.ReportMetric(heap, "MB-heap-sys")
			b.ReportMetric(float64(st.Size())/(1<<20), "MB-file")
			b.ReportMetric(float64(n), "rows")
		})
	}
}
