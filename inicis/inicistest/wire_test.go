package inicistest_test

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/inicis"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
)

// rawInquiry asks the sandbox's INIAPI inquiry for tid, signed as Inicis
// requires, and returns the answer as decoded JSON.
func rawInquiry(t *testing.T, e *env, tid string) map[string]any {
	t.Helper()
	resp := postInquiry(t, e, tid)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, "00", out["resultCode"], "%v", out)
	return out
}

// postInquiry sends the sandbox's INIAPI inquiry for tid, signed as Inicis
// requires.
func postInquiry(t *testing.T, e *env, tid string) *http.Response {
	t.Helper()
	data := `{"tid":"` + tid + `"}`
	const ts = "20240301190000"
	sum := sha512.Sum512([]byte(inicis.TestAPIKey + inicis.TestMID + "inquiry" + ts + data))
	body := `{"mid":"` + inicis.TestMID + `","type":"inquiry","timestamp":"` + ts + `","clientIp":"127.0.0.1","data":` + data +
		`,"hashData":"` + hex.EncodeToString(sum[:]) + `"}`
	resp, err := http.Post(e.srv.URL+"/v2/pg/inquiry", "application/json;charset=utf-8", bytes.NewReader([]byte(body)))
	require.NoError(t, err)
	return resp
}

// shape lists an answer's field names and JSON types, nested objects
// included ("vacctInfo.depositStatus string").
func shape(v map[string]any, prefix string) []string {
	var out []string
	for k, x := range v {
		name := prefix + k
		switch x := x.(type) {
		case map[string]any:
			out = append(out, name+" object")
			out = append(out, shape(x, name+".")...)
		case []any:
			out = append(out, name+" array")
			if len(x) > 0 {
				if o, ok := x[0].(map[string]any); ok {
					out = append(out, shape(o, name+"[].")...)
				}
			}
		case string:
			out = append(out, name+" string")
		case bool:
			out = append(out, name+" boolean")
		case float64:
			out = append(out, name+" number")
		default:
			out = append(out, name+" null")
		}
	}
	sort.Strings(out)
	return out
}

func goldenShape(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "inquiry", file))
	require.NoError(t, err)
	var v map[string]any
	require.NoError(t, json.Unmarshal(b, &v))
	return shape(v, "")
}

// The sandbox answers inquiries in the shape of the golden answers the
// adapter is tested against (testdata/inquiry): the same fields, of the
// same JSON types, in every state.
func TestInquiry_AnswersHaveTheGoldenShapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	_, card, err := e.approve(t, "order-card", 10000, pgtest.FaultNone)
	require.NoError(t, err)
	assert.Equal(t, goldenShape(t, "card_approved.json"), shape(rawInquiry(t, e, card.PaymentKey), ""), "card approved")

	_, err = e.gw.Cancel(ctx, pg.CancelRequest{PaymentKey: card.PaymentKey, Amount: pg.Won(3000), Balance: pg.Won(10000)})
	require.NoError(t, err)
	assert.Equal(t, goldenShape(t, "partially_canceled.json"), shape(rawInquiry(t, e, card.PaymentKey), ""), "partially canceled")

	_, err = e.gw.Cancel(ctx, pg.CancelRequest{PaymentKey: card.PaymentKey, Amount: pg.Won(7000), Balance: pg.Won(7000)})
	require.NoError(t, err)
	got := rawInquiry(t, e, card.PaymentKey)
	assert.Equal(t, "CANCEL", got["transactionStatus"])
	delete(got, "partCancelTransInfo") // canceled in two parts here; canceled.json in one
	assert.Equal(t, goldenShape(t, "canceled.json"), shape(got, ""), "canceled")

	res, err := e.srv.PayVirtualAccount(ctx, pgtest.PayRequest{OrderID: "order-va", Amount: pg.Won(10000)})
	require.NoError(t, err)
	va, err := e.gw.Approve(ctx, pg.ApproveRequest{OrderID: "order-va", Amount: pg.Won(10000), Redirect: res.Redirect})
	require.NoError(t, err)
	got = rawInquiry(t, e, va.PaymentKey)
	assert.Equal(t, "APPROVAL", got["transactionStatus"], "an issued account is an approval at Inicis")
	assert.Equal(t, goldenShape(t, "vbank_issued_unpaid.json"), shape(got, ""), "virtual account issued")

	require.NoError(t, e.srv.Deposit(ctx, "order-va"))
	assert.Equal(t, goldenShape(t, "vbank_deposited.json"), shape(rawInquiry(t, e, va.PaymentKey), ""), "virtual account deposited")
}
