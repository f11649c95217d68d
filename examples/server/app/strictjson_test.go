package app

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The one decoder refuses whatever two readers could understand
// differently, and reads the rest exactly.
func TestDecodeStrict_RefusesAmbiguousJSON(t *testing.T) {
	refused := map[string]string{
		"invalid UTF-8":               "{\"orderId\":\"a\xffb\"}",
		"truncated UTF-8":             "{\"orderId\":\"a\xed\xa0\"}",
		"lone high surrogate":         `{"orderId":"a\ud800b"}`,
		"lone low surrogate":          `{"orderId":"a\udc00b"}`,
		"high surrogate then letter":  `{"orderId":"a\ud800\u0041"}`,
		"duplicate key":               `{"orderId":"a","orderId":"b"}`,
		"duplicate key by escape":     `{"orderId":"a","\u006frderId":"b"}`,
		"trailing brace":              `{"orderId":"a"}}`,
		"trailing object":             `{"orderId":"a"} {"orderId":"b"}`,
		"trailing garbage":            `{"orderId":"a"}x`,
		"key in another case":         `{"OrderId":"a"}`,
		"unknown key":                 `{"orderId":"a","coupon":"FREE"}`,
		"unknown nested key":          `{"sandbox":{"orderFailure":"permanent","extra":1}}`,
		"amount as a string":          `{"amount":"15000"}`,
		"amount as true":              `{"amount":true}`,
		"amount null":                 `{"amount":null}`,
		"string null":                 `{"orderId":null}`,
		"string as number":            `{"orderId":12}`,
		"times fractional":            `{"sandbox":{"times":1.5}}`,
		"times with exponent":         `{"sandbox":{"times":1e2}}`,
		"times beyond int32":          `{"sandbox":{"times":99999999999}}`,
		"redirect value a number":     `{"redirect":{"pg_token":1}}`,
		"redirect an array":           `{"redirect":["a"]}`,
		"an array":                    `["orderId"]`,
		"a string":                    `"orderId"`,
		"empty":                       ``,
		"whitespace only":             " \n\t",
		"byte order mark":             "\xef\xbb\xbf{\"orderId\":\"a\"}",
		"single quotes":               `{'orderId':'a'}`,
		"unquoted key":                `{orderId:"a"}`,
		"trailing comma":              `{"orderId":"a",}`,
		"leading zero":                `{"amount":015000}`,
		"plus sign":                   `{"amount":+15000}`,
		"hex number":                  `{"amount":0x3a98}`,
		"NaN":                         `{"amount":NaN}`,
		"control character":           "{\"orderId\":\"a\tb\"}",
		"bad escape":                  `{"orderId":"a\qb"}`,
		"short unicode escape":        `{"orderId":"a\u12"}`,
		"unterminated string":         `{"orderId":"a`,
		"unterminated object":         `{"orderId":"a"`,
		"nested beyond the limit":     `{"sandbox":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 41),
		"deep array":                  strings.Repeat("[", 100000),
		"comment":                     `{"orderId":"a" /* c */}`,
		"true misspelled":             `{"x":tru}`,
		"number without digits":       `{"amount":-}`,
		"fraction without digits":     `{"amount":1.}`,
		"exponent without digits":     `{"amount":1e}`,
		"Go-style escaped field name": `{"order_id":"a"}`,
	}
	for name, body := range refused {
		t.Run(name, func(t *testing.T) {
			var req checkoutRequest
			err := decodeStrict([]byte(body), &req)
			require.Error(t, err)
			assert.True(t, errors.Is(err, errBadRequest), "%v", err)
			assert.NotRegexp(t, `Go |json\.|struct|reflect|checkoutRequest`, err.Error(), "no Go types in the message")
		})
	}
}

func TestDecodeStrict_ReadsValidJSONExactly(t *testing.T) {
	var req checkoutRequest
	body := ` { "orderId" : "o-\u00e9\ud83d\ude00/\"x\"" , "amount":1.5e4,"currency":"KRW","pg":"tosspay",` +
		`"orderName":"셔츠","customerId":"","sandbox":{"orderFailure":"transient","times":3}}` + "\n"
	require.NoError(t, decodeStrict([]byte(body), &req))
	assert.Equal(t, "o-é😀/\"x\"", req.OrderID)
	assert.Equal(t, json.Number("1.5e4"), req.Amount, "amounts stay the number's literal")
	assert.Equal(t, "셔츠", req.OrderName)
	require.NotNil(t, req.Sandbox)
	assert.Equal(t, "transient", req.Sandbox.OrderFailure)
	assert.Equal(t, 3, req.Sandbox.Times)

	var ap approveRequest
	require.NoError(t, decodeStrict([]byte(`{"pg":"kakaopay","orderId":"o","amount":-0,"redirect":{"pg_token":"t","x":""}}`), &ap))
	assert.Equal(t, map[string]string{"pg_token": "t", "x": ""}, ap.Redirect)
	assert.Equal(t, json.Number("-0"), ap.Amount, "read as given; money() refuses it")
}

func TestDecode_ContentTypeMustBeJSON(t *testing.T) {
	for ct, ok := range map[string]bool{
		"application/json":                    true,
		"application/json; charset=utf-8":     true,
		"Application/JSON;charset=UTF-8":      true,
		"":                                    false,
		"text/plain":                          false,
		"text/plain; charset=utf-8":           false,
		"application/x-www-form-urlencoded":   false,
		"multipart/form-data; boundary=x":     false,
		"application/json; charset=latin1":    false,
		"application/json; profile=x":         false,
		"application/jsonx":                   false,
		"application/json, text/plain":        false,
		"application/problem+json":            false,
		"application/json; charset=\"utf-8\"": true,
	} {
		req := httptest.NewRequest(http.MethodPost, "/checkouts", strings.NewReader(`{"orderId":"a"}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		var v checkoutRequest
		err := decode(httptest.NewRecorder(), req, &v)
		if ok {
			assert.NoError(t, err, "%q", ct)
		} else {
			assert.True(t, errors.Is(err, errUnsupportedMedia), "%q: %v", ct, err)
		}
	}
}
