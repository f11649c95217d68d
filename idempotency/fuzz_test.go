package idempotency

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzParseKey: whatever the header holds, ParseKey either refuses it with
// ErrInvalidKey or returns 1–255 printable ASCII characters that read back
// the same through the structured-field form.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{`"abc"`, "abc", `"a\"b"`, `"`, `""`, "키", " \t", `"a\\"`, strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		key, err := ParseKey(in)
		if err != nil {
			return
		}
		if len(key) == 0 || len(key) > MaxKeyLen {
			t.Fatalf("ParseKey(%q) = %q: bad length", in, key)
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x20 || key[i] > 0x7e {
				t.Fatalf("ParseKey(%q) = %q: byte %#x", in, key, key[i])
			}
		}
		quoted := `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(key) + `"`
		again, err := ParseKey(quoted)
		if err != nil || again != key {
			t.Fatalf("round trip of %q through %s: %q, %v", key, strconv.Quote(quoted), again, err)
		}
	})
}
