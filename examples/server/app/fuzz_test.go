package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/paygate/paygate/store"
)

// fuzzEndpoint is one JSON endpoint of the API, with the request type its
// handler decodes.
type fuzzEndpoint struct {
	path    string
	headers []string
	newReq  func() any
}

var fuzzEndpoints = []fuzzEndpoint{
	{"/checkouts", nil, func() any { return new(checkoutRequest) }},
	{"/payments/approve", nil, func() any { return new(approveRequest) }},
	{"/payments/approve", []string{"Idempotency-Key", "fuzz-approve"}, func() any { return new(approveRequest) }},
	{"/payments/pay_fuzz/cancel", []string{"Idempotency-Key", "fuzz-cancel", "Authorization", "Bearer " + testToken}, func() any { return new(cancelRequest) }},
	{"/sandbox/tosspay/pay", nil, func() any { return new(sandboxPayRequest) }},
	{"/sandbox/kakaopay/pay", nil, func() any { return new(sandboxPayRequest) }},
	{"/sandbox/inicis/pay", nil, func() any { return new(sandboxPayRequest) }},
}

var fuzzContentTypes = []string{"application/json", "application/json; charset=utf-8", "text/plain", ""}

// tableCounts counts the rows of every table a request could write.
func tableCounts(t testing.TB, a *App) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"checkouts", "payments", "payment_order_mapping", "payment_cancels", "payment_events",
		"webhook_deliveries", "saga_instances", "settlement_entries", "example_orders", "idempotency_keys"} {
		var n int
		if err := a.DB().SQL().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		out[table] = n
	}
	return out
}

// FuzzJSONEndpoints sends arbitrary bodies to every JSON endpoint: the
// server never answers 5xx, answers in the documented shape, decodes only
// what is unambiguous JSON (a body the strict decoder refuses is a 400, 413
// or 415; one it accepts is valid JSON to encoding/json too, without
// duplicate keys, with the same values), and a refused request stores
// nothing. The sandbox buyer endpoints run on a second app, so a fault the
// fuzzer scripts there never reaches an approval of the first.
func FuzzJSONEndpoints(f *testing.F) {
	seeds := []string{
		`{"orderId":"fuzz-0001","amount":15000,"pg":"tosspay","orderName":"Linen shirt"}`,
		`{"orderId":"fuzz-0002","amount":15000,"pg":"inicis","orderName":"셔츠","sandbox":{"orderFailure":"transient","times":2}}`,
		`{"pg":"tosspay","orderId":"fuzz-0001","amount":15000,"paymentKey":"tsbx1"}`,
		`{"pg":"kakaopay","orderId":"fuzz-0003","amount":15000,"redirect":{"pg_token":"t"}}`,
		`{"amount":5000,"reason":"one item returned"}`,
		`{"orderId":"fuzz-0001","amount":15000}`,
		`{"orderId":"a","orderId":"b","amount":1}`,
		`{"orderId":"\ud800","amount":1}`,
		"{\"orderId\":\"\xff\",\"amount\":1}",
		`{"OrderId":"x","amount":"15000"}`,
		`{"reason":"x"}}`,
		`[]`, `null`, ``, `{"amount":1e400}`, `{"amount":-0.0}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), uint8(0), []byte(s))
	}
	f.Add(uint8(0), uint8(2), []byte(seeds[0]))

	a := newTestApp(f, store.SQLite, nil)
	sb := newTestApp(f, store.SQLite, nil)
	spec, err := openapi3.NewLoader().LoadFromData(OpenAPI)
	if err != nil {
		f.Fatal(err)
	}
	spec.Servers = openapi3.Servers{{URL: "http://example.com"}}
	router, err := gorillamux.NewRouter(spec)
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, route, ct uint8, body []byte) {
		ep := fuzzEndpoints[int(route)%len(fuzzEndpoints)]
		target := a
		if ep.path == "/sandbox/tosspay/pay" || ep.path == "/sandbox/kakaopay/pay" || ep.path == "/sandbox/inicis/pay" {
			target = sb
		}
		contentType := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]
		before := tableCounts(t, target.App)

		headers := append([]string{"Content-Type", contentType}, ep.headers...)
		for i := 0; i+1 < len(headers); i += 2 {
			if headers[i] == "Idempotency-Key" {
				// A key per input: a replay of an earlier input's answer
				// would hide this input's handling.
				headers[i+1] = fmt.Sprintf("%s-%x", headers[i+1], sha256.Sum256(body))
			}
		}
		req := httptest.NewRequest(http.MethodPost, "http://example.com"+ep.path, bytes.NewReader(body))
		req.RemoteAddr = "203.0.113.9:1"
		for i := 0; i+1 < len(headers); i += 2 {
			if headers[i+1] != "" {
				req.Header.Set(headers[i], headers[i+1])
			}
		}
		rec := httptest.NewRecorder()
		target.Handler().ServeHTTP(rec, req)
		status := rec.Code

		if status >= 500 {
			t.Fatalf("%s %q (%s) → %d %s", ep.path, body, contentType, status, rec.Body)
		}
		checkDocumented(t, router, req, rec)

		var code string
		var errShape struct {
			Error struct{ Code string } `json:"error"`
		}
		if json.Unmarshal(rec.Body.Bytes(), &errShape) == nil {
			code = errShape.Error.Code
		}
		strictErr := decodeStrict(body, ep.newReq())
		decoderRefusal := status == http.StatusUnsupportedMediaType || status == http.StatusRequestEntityTooLarge ||
			(status == http.StatusBadRequest && code == "INVALID_REQUEST")
		switch {
		case contentType != "application/json" && contentType != "application/json; charset=utf-8":
			if status != http.StatusUnsupportedMediaType {
				t.Fatalf("%s with Content-Type %q → %d, want 415", ep.path, contentType, status)
			}
		case strictErr != nil && !decoderRefusal:
			t.Fatalf("%s %q: the decoder refuses it (%v) but the answer is %d %s", ep.path, body, strictErr, status, rec.Body)
		case strictErr == nil:
			agreesWithEncodingJSON(t, body)
		}

		switch status {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusRequestEntityTooLarge,
			http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
			if after := tableCounts(t, target.App); !equalCounts(before, after) {
				t.Fatalf("%s %q refused with %d but stored: %v → %v", ep.path, body, status, before, after)
			}
		}
		if target == sb {
			if after := tableCounts(t, sb.App); !equalCounts(before, after) {
				t.Fatalf("the sandbox buyer stored something: %v → %v", before, after)
			}
		}
	})
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkDocumented fails t when the answer does not match openapi.yaml.
func checkDocumented(t *testing.T, router routers.Router, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("undocumented route %s: %v", req.URL.Path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 rec.Code,
		Header:                 rec.Header(),
		Body:                   io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Fatalf("%s → %d %s does not match the OpenAPI document: %v", req.URL.Path, rec.Code, rec.Body, err)
	}
}

// agreesWithEncodingJSON checks a body the strict decoder accepted against
// encoding/json: valid, an object, no key twice, the same strings.
func agreesWithEncodingJSON(t *testing.T, body []byte) {
	t.Helper()
	if !utf8.Valid(body) || !json.Valid(body) {
		t.Fatalf("accepted %q, which is not valid JSON", body)
	}
	var m map[string]any
	num := json.NewDecoder(bytes.NewReader(body))
	num.UseNumber()
	if err := num.Decode(&m); err != nil {
		t.Fatalf("accepted %q, which is not a JSON object: %v", body, err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := noDuplicateKeys(dec); err != nil {
		t.Fatalf("accepted %q: %v", body, err)
	}
	root := &jsonParser{b: body}
	root.skipSpace()
	v, err := root.value(0)
	if err != nil {
		t.Fatal(err)
	}
	for k, item := range v.fields {
		if s, ok := m[k].(string); ok && item.kind == kindString && s != item.text {
			t.Fatalf("%q: %s read as %q, encoding/json reads %q", body, k, item.text, s)
		}
	}
}

// noDuplicateKeys walks a JSON value with encoding/json's tokenizer and
// reports an object with a key twice.
func noDuplicateKeys(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch d {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return err
			}
			key := k.(string)
			if seen[key] {
				return fmt.Errorf("key %q twice", key)
			}
			seen[key] = true
			if err := noDuplicateKeys(dec); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := noDuplicateKeys(dec); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token()
	return err
}
