package settlementhttp_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/inicis/inicistest"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/settlement/settlementhttp"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
	"github.com/paygate/paygate/tosspay"
	"github.com/paygate/paygate/tosspay/tosspaytest"
)

var fees = settlement.RateFee{Rate: decimal.RequireFromString("0.032")}

// orders is a host order service that accepts every order.
type orders struct{}

func (orders) CreateOrder(context.Context, paygate.OrderRequest) error   { return nil }
func (orders) RollbackOrder(context.Context, paygate.OrderRequest) error { return nil }

// api is the handler over a paygate with Toss and Inicis sandboxes, its
// ledger seeded, and the OpenAPI document's router to check its answers.
type api struct {
	t      *testing.T
	db     *store.DB
	p      *paygate.Paygate
	h      http.Handler
	router routers.Router
}

func newAPI(t *testing.T, db *store.DB) *api {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	toss := tosspaytest.NewServer(tosspaytest.Options{})
	t.Cleanup(toss.Close)
	tg, err := tosspay.New(tosspay.Config{SecretKey: toss.SecretKey(), BaseURL: toss.URL, Logger: quiet})
	require.NoError(t, err)
	ini := inicistest.NewServer(inicistest.Config{})
	t.Cleanup(ini.Close)
	ig, err := inicis.New(ini.GatewayConfig())
	require.NoError(t, err)
	reg, err := pg.NewRegistry(tg, ig)
	require.NoError(t, err)
	p, err := paygate.New(paygate.Config{DB: db, Gateways: reg, Orders: orders{}, Fees: fees, Logger: quiet})
	require.NoError(t, err)
	h, err := settlementhttp.New(settlementhttp.Config{Ledger: p.Ledger(), Reconciler: p.Reconciler(), Logger: quiet})
	require.NoError(t, err)

	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "server", "app", "openapi.yaml"))
	require.NoError(t, err)
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	require.NoError(t, err)
	doc.Servers = openapi3.Servers{{URL: "http://example.com"}}
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	return &api{t: t, db: db, p: p, h: h, router: router}
}

// entry records one ledger line through the ledger's own write.
func (a *api) entry(typ settlement.EntryType, n int, pgName, method string, amount int64, at time.Time) {
	a.t.Helper()
	mk := settlement.Sale
	source := fmt.Sprintf("sale:pay_%d", n)
	if typ == settlement.EntryRefund {
		mk, source = settlement.Refund, fmt.Sprintf("refund:cnl_%d", n)
	}
	e, err := mk(fees, pgName, pg.Method(method), pg.Won(amount), at, 2)
	require.NoError(a.t, err)
	require.NoError(a.t, a.db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := a.p.Ledger().Record(ctx, tx, &settlement.Record{SourceKey: source, PaymentID: fmt.Sprintf("pay_%d", n),
			OrderID: fmt.Sprintf("order-%d", n), PG: pgName, Method: method, Entry: e, BusinessDate: at})
		return err
	}))
}

// seed writes sales and refunds over 2026-03-09..12 and 2026-04-01, on
// two PGs and three methods, one of them text a spreadsheet would run.
func (a *api) seed() {
	n := 0
	for d := 0; d < 4; d++ {
		for _, pgName := range []string{"tosspay", "inicis"} {
			for _, method := range []string{"CARD", "EASY_PAY", "=1+2"} {
				at := time.Date(2026, 3, 9+d, 10+d, 0, 0, 0, settlement.Seoul)
				n++
				a.entry(settlement.EntrySale, n, pgName, method, int64(10_000*n+7), at)
				if n%3 == 0 {
					a.entry(settlement.EntryRefund, n, pgName, method, int64(1_000*n), at.Add(time.Hour))
				}
			}
		}
	}
	a.entry(settlement.EntrySale, 100, "tosspay", "CARD", 55_000, time.Date(2026, 4, 1, 9, 0, 0, 0, settlement.Seoul))
}

// do serves one request and checks the answer against openapi.yaml.
func (a *api) do(method, target, contentType, body string) *httptest.ResponseRecorder {
	a.t.Helper()
	req := httptest.NewRequest(method, "http://example.com"+target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	route, params, err := a.router.FindRoute(req)
	require.NoError(a.t, err, "%s %s is documented", method, target)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 rec.Code,
		Header:                 rec.Header(),
		Body:                   io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		in.Options.ExcludeResponseBody = true
	}
	require.NoError(a.t, openapi3filter.ValidateResponse(context.Background(), in), "%s %s → %d %s", method, target, rec.Code, rec.Body)
	return rec
}

type report struct {
	Rows   []map[string]any `json:"rows"`
	Totals map[string]any   `json:"totals"`
}

func (a *api) json(target string) report {
	a.t.Helper()
	rec := a.do(http.MethodGet, target, "", "")
	require.Equal(a.t, http.StatusOK, rec.Code, rec.Body.String())
	var r report
	dec := json.NewDecoder(rec.Body)
	dec.UseNumber()
	require.NoError(a.t, dec.Decode(&r))
	return r
}

// cells turns JSON rows and totals into the cells a download holds, in its
// column order.
func cells(r report, first, total string) [][]string {
	str := func(v any) string {
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	var out [][]string
	for _, row := range r.Rows {
		out = append(out, []string{str(row[first]), str(row["pg"]), str(row["method"]), str(row["currency"]),
			str(row["salesCount"]), str(row["refundCount"]), str(row["gross"]), str(row["refunds"]), str(row["fee"]),
			str(row["vat"]), str(row["net"]), str(row["payoutDate"])})
	}
	t := r.Totals
	out = append(out, []string{total, "", "", str(t["currency"]), str(t["salesCount"]), str(t["refundCount"]),
		str(t["gross"]), str(t["refunds"]), str(t["fee"]), str(t["vat"]), str(t["net"]), ""})
	return out
}

// plain undoes Neutralize for comparison with the JSON.
func plain(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(s[1])) {
		return s[1:]
	}
	return s
}

// The same query answered as JSON, CSV and XLSX holds the same rows and
// totals, daily and monthly, in Korean and in English, with a filter too;
// on SQLite and MariaDB.
func TestReports_JSONCSVAndXLSXAgree(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		a := newAPI(t, db)
		a.seed()
		for _, tc := range []struct {
			path, query, first string
			rows               int
		}{
			{"daily", "from=2026-03-01&to=2026-04-30", "date", 25},
			{"daily", "from=2026-03-09&to=2026-03-10&pg=inicis&method=CARD", "date", 2},
			{"monthly", "from=2026-03&to=2026-04", "month", 7},
		} {
			j := a.json("/admin/api/settlements/" + tc.path + "?" + tc.query)
			require.Len(t, j.Rows, tc.rows, tc.query)
			for _, lang := range []string{"ko", "en"} {
				label := map[string]string{"ko": "합계", "en": "Total"}[lang]
				want := cells(j, tc.first, label)

				rec := a.do(http.MethodGet, "/admin/api/settlements/"+tc.path+".csv?"+tc.query+"&lang="+lang, "", "")
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				assert.Equal(t, "text/csv; charset=utf-8", rec.Header().Get("Content-Type"))
				assert.Contains(t, rec.Header().Get("Content-Disposition"), "attachment; filename=settlement-"+tc.path)
				body := rec.Body.Bytes()
				require.True(t, bytes.HasPrefix(body, []byte("\uFEFF")), "BOM")
				recs, err := csv.NewReader(bytes.NewReader(body[3:])).ReadAll()
				require.NoError(t, err)
				for _, r := range recs[1:] {
					for i := range r {
						r[i] = plain(r[i])
					}
				}
				assert.Equal(t, want, recs[1:], "CSV %s %s", tc.query, lang)

				rec = a.do(http.MethodGet, "/admin/api/settlements/"+tc.path+".xlsx?"+tc.query+"&lang="+lang, "", "")
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				f, err := excelize.OpenReader(bytes.NewReader(rec.Body.Bytes()))
				require.NoError(t, err)
				sheets := f.GetSheetList()
				require.Len(t, sheets, 2, "the report and its payouts")
				rows, err := f.GetRows(sheets[0], excelize.Options{RawCellValue: true})
				require.NoError(t, err)
				got := make([][]string, 0, len(rows)-1)
				for _, r := range rows[1:] {
					for len(r) < 12 {
						r = append(r, "")
					}
					for i := range r {
						r[i] = plain(r[i])
					}
					got = append(got, r)
				}
				assert.Equal(t, want, got, "XLSX %s %s", tc.query, lang)
				typ, err := f.GetCellType(sheets[0], "G2")
				require.NoError(t, err)
				assert.NotEqual(t, excelize.CellTypeInlineString, typ, "amounts are numbers")
				payouts, err := f.GetRows(sheets[1], excelize.Options{RawCellValue: true})
				require.NoError(t, err)
				jp := j.Totals["payouts"].([]any)
				require.Len(t, payouts, len(jp)+2, "header, payouts, total")
				for i, p := range jp {
					m := p.(map[string]any)
					assert.Equal(t, []string{fmt.Sprint(m["payoutDate"]), fmt.Sprint(m["pg"]), "KRW", fmt.Sprint(m["amount"])}, payouts[i+1])
				}
				require.NoError(t, f.Close())
			}
		}

		// The daily sums are the ledger's: every sale and refund once.
		j := a.json("/admin/api/settlements/daily?from=2026-03-01&to=2026-04-30")
		var gross int64
		for n := 1; n <= 24; n++ {
			gross += int64(10_000*n + 7)
		}
		gross += 55_000
		assert.Equal(t, strconv.FormatInt(gross, 10), fmt.Sprint(j.Totals["gross"]))
		assert.Equal(t, "25", fmt.Sprint(j.Totals["salesCount"]), "24 sales in March and one in April")
		assert.Equal(t, "8", fmt.Sprint(j.Totals["refundCount"]))
	})
}

type errorAnswer struct {
	Success *bool `json:"success"`
	Error   struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (a *api) refused(method, target, contentType, body string, status int, code string) string {
	a.t.Helper()
	rec := a.do(method, target, contentType, body)
	require.Equal(a.t, status, rec.Code, "%s %s %q → %s", method, target, body, rec.Body)
	var e errorAnswer
	require.NoError(a.t, json.Unmarshal(rec.Body.Bytes(), &e))
	require.NotNil(a.t, e.Success)
	assert.False(a.t, *e.Success)
	assert.Equal(a.t, code, e.Error.Code)
	assert.NotEmpty(a.t, e.Error.Message)
	return e.Error.Message
}

// Bad input is refused with 400 and the API's error shape, before anything
// is read or stored.
func TestReports_RefuseBadInput(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	a := newAPI(t, db)
	for _, q := range []string{
		"daily?from=2026-01-01&to=2027-01-02", // 367 days
		"daily?from=2026-03-10&to=2026-03-09", // backwards
		"daily?from=2026-3-1&to=2026-03-09",   // malformed
		"daily?from=2026-02-30&to=2026-03-09", // no such day
		"daily?to=2026-03-09",                 // missing
		"daily?from=2026-03-01&to=2026-03-09&pg=nopay",
		"daily?from=2026-03-01&to=2026-03-09&currency=XYZ",
		"daily?from=2026-03-01&to=2026-03-09&from=2026-03-02",
		"daily.csv?from=2026-03-01&to=2026-03-09&lang=fr",
		"daily.xlsx?from=2026-03-01&to=2027-03-09",
		"monthly?from=2026-03-01&to=2026-04", // a day for a month
		"monthly?from=2016-01&to=2026-04",    // 124 months
		"monthly.xlsx?from=2026-05&to=2026-04",
	} {
		a.refused(http.MethodGet, "/admin/api/settlements/"+q, "", "", http.StatusBadRequest, "INVALID_REQUEST")
	}
	msg := a.refused(http.MethodGet, "/admin/api/settlements/daily?from=2026-01-01&to=2027-01-02", "", "", http.StatusBadRequest, "INVALID_REQUEST")
	assert.Contains(t, msg, "366")
	msg = a.refused(http.MethodGet, "/admin/api/settlements/daily?from=2026-03-01&to=2026-03-09&pg=nopay", "", "", http.StatusBadRequest, "INVALID_REQUEST")
	assert.Contains(t, msg, "unknown PG")

	for _, tc := range []struct{ ct, body, code string }{
		{"text/plain", `{"pg":"tosspay","from":"2026-03-01","to":"2026-03-02"}`, "UNSUPPORTED_MEDIA_TYPE"},
		{"application/json", `{"pg":"nopay","from":"2026-03-01","to":"2026-03-02"}`, "INVALID_REQUEST"},
		{"application/json", `{"pg":"tosspay","from":"2026-03-01","to":"03/02/2026"}`, "INVALID_REQUEST"},
		{"application/json", `{"pg":"tosspay","from":"2026-01-01","to":"2026-06-01"}`, "INVALID_REQUEST"},
		{"application/json", `{"pg":"tosspay","from":"2026-03-02","to":"2026-03-01"}`, "INVALID_REQUEST"},
		{"application/json", `{"pg":"tosspay","from":"2026-03-01"}`, "INVALID_REQUEST"},
		{"application/json", `{"pg":"tosspay","from":"2026-03-01","to":"2026-03-02","x":1}`, "INVALID_REQUEST"},
		{"application/json", `{"pg":"tosspay","from":"2026-03-01","to":"2026-03-02"} {}`, "INVALID_REQUEST"},
		{"application/json", `[]`, "INVALID_REQUEST"},
		{"application/json", `{"pg":"tosspay","from":"` + strings.Repeat("x", 20_000) + `"}`, "REQUEST_TOO_LARGE"},
	} {
		status := map[string]int{"UNSUPPORTED_MEDIA_TYPE": 415, "INVALID_REQUEST": 400, "REQUEST_TOO_LARGE": 413}[tc.code]
		a.refused(http.MethodPost, "/admin/api/reconciliation", tc.ct, tc.body, status, tc.code)
	}
	a.refused(http.MethodGet, "/admin/api/reconciliation?limit=0", "", "", http.StatusBadRequest, "INVALID_REQUEST")
	a.refused(http.MethodGet, "/admin/api/reconciliation?pg=nopay", "", "", http.StatusBadRequest, "INVALID_REQUEST")
	runs, err := a.p.Reconciler().Runs(context.Background(), "", 10)
	require.NoError(t, err)
	assert.Empty(t, runs, "nothing ran")

	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/admin/api/reconciliation", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Contains(t, rec.Body.String(), `"METHOD_NOT_ALLOWED"`)
	rec = httptest.NewRecorder()
	a.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/api/settlements/weekly", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.Contains(t, rec.Body.String(), `"NOT_FOUND"`)
}

// POST /reconciliation runs and stores a reconciliation and answers the
// run; GET lists the runs, newest first, per PG.
func TestReconciliation_RunAndList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		a := newAPI(t, db)
		a.seed()
		rec := a.do(http.MethodPost, "/admin/api/reconciliation", "application/json", `{"pg":"tosspay","from":"2026-03-09","to":"2026-03-10"}`)
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		var run struct {
			ID, PG, From, To, Source string
			DifferenceCount          int
			Days                     []struct {
				Date        string
				LedgerNet   json.Number
				PGNet       *json.Number
				Differences []struct {
					Kind, PaymentID string
					Ours, Theirs    any
				}
			}
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &run))
		assert.Equal(t, "tosspay", run.PG)
		assert.Equal(t, "2026-03-09", run.From)
		assert.Equal(t, settlement.SourceSettlementReport, run.Source)
		require.Len(t, run.Days, 2)
		// The sandbox PG has none of the seeded payments: every one of
		// them is missing at the PG.
		assert.Equal(t, 6, run.DifferenceCount)
		for _, d := range run.Days {
			require.NotNil(t, d.PGNet)
			assert.Equal(t, "0", d.PGNet.String())
			for _, x := range d.Differences {
				assert.Equal(t, "MISSING_AT_PG", x.Kind)
				assert.IsType(t, float64(0), x.Ours, "an amount is a number")
				assert.Nil(t, x.Theirs)
			}
		}

		rec = a.do(http.MethodPost, "/admin/api/reconciliation", "application/json", `{"pg":"inicis","from":"2026-03-09","to":"2026-03-09"}`)
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		var list struct {
			Items []struct{ ID, PG, Source string }
		}
		rec = a.do(http.MethodGet, "/admin/api/reconciliation", "", "")
		require.Equal(t, http.StatusOK, rec.Code)
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list))
		require.Len(t, list.Items, 2)
		assert.Equal(t, "inicis", list.Items[0].PG, "newest first")
		assert.Equal(t, settlement.SourceLookup, list.Items[0].Source)
		assert.Equal(t, run.ID, list.Items[1].ID)
		rec = a.do(http.MethodGet, "/admin/api/reconciliation?pg=tosspay&limit=5", "", "")
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list))
		require.Len(t, list.Items, 1)
		assert.Equal(t, run.ID, list.Items[0].ID)
	})
}
