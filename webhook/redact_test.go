package webhook

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedactBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, contentType, in, want string
	}{
		{
			name:        "Toss deposit callback: top-level secret",
			contentType: "application/json",
			in:          `{"createdAt":"2026-03-02T09:00:00.000000","secret":"ps_abc","status":"DONE","orderId":"o-1"}`,
			want:        `{"createdAt":"2026-03-02T09:00:00.000000","secret":"[REDACTED]","status":"DONE","orderId":"o-1"}`,
		},
		{
			name:        "nested secret, order and numbers kept exactly",
			contentType: "application/json; charset=utf-8",
			in:          `{"eventType":"PAYMENT_STATUS_CHANGED","data":{"totalAmount":15000.00,"secret":"ps_x","cancels":[{"accessToken":"t","amt":1e3}]}}`,
			want:        `{"eventType":"PAYMENT_STATUS_CHANGED","data":{"totalAmount":15000.00,"secret":"[REDACTED]","cancels":[{"accessToken":"[REDACTED]","amt":1e3}]}}`,
		},
		{
			name:        "secret holding an object",
			contentType: "",
			in:          ` {"client_secret":{"a":[1,2]},"ok":true,"n":null} `,
			want:        `{"client_secret":"[REDACTED]","ok":true,"n":null}`,
		},
		{
			name:        "HTML and unicode are not escaped",
			contentType: "application/json",
			in:          `{"orderName":"<키보드> & 마우스"}`,
			want:        `{"orderName":"<키보드> & 마우스"}`,
		},
		{
			name:        "Inicis form: pairs kept byte for byte, secrets masked",
			contentType: "application/x-www-form-urlencoded",
			in:          "no_tid=INIpay%20123&nm_input=%C8%AB%B1%E6%B5%BF&signKey=abc&amt_input=15000",
			want:        "no_tid=INIpay%20123&nm_input=%C8%AB%B1%E6%B5%BF&signKey=%5BREDACTED%5D&amt_input=15000",
		},
		{
			name:        "unknown format kept",
			contentType: "text/plain",
			in:          "P_STATUS=00",
			want:        "P_STATUS=00",
		},
		{
			name:        "broken JSON withheld",
			contentType: "application/json",
			in:          `{"secret":"ps_abc"`,
			want:        string(withheld),
		},
		{
			name:        "JSON too deep withheld",
			contentType: "application/json",
			in:          strings.Repeat("[", 100) + `{"secret":"s"}` + strings.Repeat("]", 100),
			want:        string(withheld),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, string(RedactBody(tt.contentType, []byte(tt.in))))
		})
	}
}

func TestDefaultRedactHeader(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"Authorization":                          true,
		"Proxy-Authorization":                    true,
		"Cookie":                                 true,
		"X-Api-Key":                              true,
		"X-Webhook-Secret":                       true,
		"Tosspayments-Webhook-Signature":         false,
		"Tosspayments-Webhook-Transmission-Id":   false,
		"Tosspayments-Webhook-Transmission-Time": false,
		"Content-Type":                           false,
	} {
		assert.Equal(t, want, DefaultRedactHeader(name), name)
	}
}
