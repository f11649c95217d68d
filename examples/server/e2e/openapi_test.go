package e2e_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
)

// The response checker must be able to fail: answers that break the
// document are caught.
func TestOpenAPIChecker_CatchesAnswersThatBreakTheDocument(t *testing.T) {
	s := startServer(t, store.SQLite)
	cases := []struct {
		name   string
		method string
		path   string
		status int
		body   string
	}{
		{"approval without paymentId", "POST", "/payments/approve", 200, `{"success":true,"status":"APPROVED"}`},
		{"unknown status", "POST", "/payments/approve", 200, `{"success":true,"paymentId":"p","status":"DONE"}`},
		{"undocumented status code", "POST", "/payments/approve", 418, `{"success":false,"error":{"code":"X","message":"y"}}`},
		{"error without code", "GET", "/orders/x", 404, `{"success":false,"error":{"message":"y"}}`},
		{"amount as text", "GET", "/payments/p", 200, `{"paymentId":"p","orderId":"o","pg":"inicis","amount":"1000","currency":"KRW","status":"APPROVED","canceledAmount":0,"balanceAmount":1000,"events":[]}`},
		{"undocumented route", "GET", "/admin/secrets", 200, `{}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, s.url+c.path, nil)
			require.NoError(t, err)
			h := http.Header{"Content-Type": {"application/json"}}
			assert.Error(t, s.conforms(req, c.status, h, []byte(c.body)))
		})
	}
	req, err := http.NewRequest("GET", s.url+"/orders/x", nil)
	require.NoError(t, err)
	assert.NoError(t, s.conforms(req, 200, http.Header{"Content-Type": {"application/json"}}, []byte(`{"orderId":"x","status":"PAID","paymentId":"p"}`)),
		"a conforming answer passes")
}
