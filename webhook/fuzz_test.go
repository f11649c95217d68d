package webhook

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzRedactBody: redaction never panics, and valid JSON comes out as valid
// JSON (or the withheld note) with no value left under a secret-looking key.
func FuzzRedactBody(f *testing.F) {
	for _, s := range []string{
		`{"secret":"ps_1","data":{"totalAmount":15000}}`,
		`[{"token":"t"},{"a":[1,2,{"password":"p"}]}]`,
		`{"a":"\u003c\u0000"}`, `"str"`, `1e400`, `{"secret":`, "a=b&signKey=c",
	} {
		f.Add("application/json", []byte(s))
	}
	f.Add("application/x-www-form-urlencoded", []byte("x=%zz&token=1"))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		out := RedactBody(contentType, body)
		if !json.Valid(body) || !looksJSON(contentType, body) {
			return
		}
		if bytes.Equal(out, withheld) {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("valid JSON %q redacted to invalid %q", body, out)
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		checkNoSecrets(t, v)
	})
}

func looksJSON(contentType string, body []byte) bool {
	t := bytes.TrimSpace(body)
	return contentType == "application/json" || (len(t) > 0 && (t[0] == '{' || t[0] == '['))
}

func checkNoSecrets(t *testing.T, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if Sensitive(k) {
				if val != redacted {
					t.Fatalf("field %q kept %v", k, val)
				}
				continue
			}
			checkNoSecrets(t, val)
		}
	case []any:
		for _, e := range x {
			checkNoSecrets(t, e)
		}
	}
}
