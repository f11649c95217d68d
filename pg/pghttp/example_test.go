package pghttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/paygate/paygate/pg/pghttp"
)

// An adapter sends a confirm carrying an idempotency key the PG honours, so
// a timeout or a 5xx is resent with the same key; a transport failure comes
// back as a *pg.Error of kind Unavailable or Unknown, an HTTP answer as a
// Response for the adapter to map.
func ExampleClient_Do() {
	pgServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"DONE","idempotencyKey":%q}`, r.Header.Get("Idempotency-Key"))
	}))
	defer pgServer.Close()

	c := pghttp.New("tosspay")
	c.Secrets = []string{"test_sk_example"}
	resp, err := c.Do(context.Background(), &pghttp.Request{
		Op:         "approve",
		Method:     http.MethodPost,
		URL:        pgServer.URL + "/v1/payments/confirm",
		Header:     http.Header{"Idempotency-Key": {"approve-pay_01"}, "Content-Type": {"application/json"}},
		Body:       []byte(`{"paymentKey":"pk","orderId":"order-1","amount":15000}`),
		Idempotent: true,
	})
	if err != nil {
		fmt.Println("failed:", err)
		return
	}
	fmt.Println(resp.StatusCode, string(resp.Body))
	// Output: 200 {"status":"DONE","idempotencyKey":"approve-pay_01"}
}
