package inicistest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
	"golang.org/x/text/encoding/korean"
)

// Inicis's wire format as the sandbox reads and writes it: the sandbox's
// own copy, kept apart from the adapter's so that a mistake in one shows
// against the other.

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func result(code, msg string) map[string]any {
	return map[string]any{"resultCode": code, "resultMsg": msg}
}

// authSignatureOrders are the fields an approval answer's authSignature
// covers, in order, by the last digit of the approval request's timestamp.
var authSignatureOrders = map[byte][]string{
	'1': {"MOID", "mid", "tstamp"}, '2': {"MOID", "tstamp", "mid"}, '3': {"mid", "MOID", "tstamp"},
	'4': {"mid", "tstamp", "MOID"}, '5': {"tstamp", "mid", "MOID"}, '6': {"tstamp", "MOID", "mid"},
	'7': {"TotPrice", "mid", "tstamp"}, '8': {"TotPrice", "tstamp", "mid"}, '9': {"TotPrice", "MOID", "tstamp"},
	'0': {"TotPrice", "tstamp", "MOID"},
}

// authSignature signs an approval answer as Inicis does: SHA-256 hex of
// "k=v&k=v&k=v" over three of the merchant's mid, the request's timestamp,
// the answer's MOID and TotPrice.
func authSignature(mid, tstamp, moid, totPrice string) string {
	vals := map[string]string{"mid": mid, "tstamp": tstamp, "MOID": moid, "TotPrice": totPrice}
	pairs := make([]string, 0, 3)
	for _, name := range authSignatureOrders[tstamp[len(tstamp)-1]] {
		pairs = append(pairs, name+"="+vals[name])
	}
	return sha256Hex(strings.Join(pairs, "&"))
}

// apiRequest is INIAPI v2's envelope as received; Data stays raw because
// hashData covers its exact bytes.
type apiRequest struct {
	MID       string          `json:"mid"`
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	ClientIP  string          `json:"clientIp"`
	Data      json.RawMessage `json:"data"`
	HashData  string          `json:"hashData"`
}

var apiTimestampRE = regexp.MustCompile(`^\d{14}$`)

func decryptField(key, iv, enc string) (string, bool) {
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(raw) == 0 || len(raw)%aes.BlockSize != 0 {
		return "", false
	}
	block, err := aes.NewCipher([]byte(key))
	if err != nil || len(iv) != aes.BlockSize {
		return "", false
	}
	cipher.NewCBCDecrypter(block, []byte(iv)).CryptBlocks(raw, raw)
	pad := int(raw[len(raw)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(raw) {
		return "", false
	}
	for _, b := range raw[len(raw)-pad:] {
		if int(b) != pad {
			return "", false
		}
	}
	return string(raw[:len(raw)-pad]), true
}

func wonField(s string) (int64, bool) {
	d, err := decimal.NewFromString(s)
	if err != nil || !d.IsInteger() || d.IsNegative() || len(s) > 15 || strings.TrimSpace(s) != s {
		return 0, false
	}
	return d.IntPart(), true
}

// mobileChkFake is INIpay Mobile's P_CHKFAKE: base64 of the raw SHA-512 of
// amount + oid + timestamp + the mobile hash key.
func mobileChkFake(amount, oid, timestamp, hashKey string) string {
	sum := sha512.Sum512([]byte(amount + oid + timestamp + hashKey))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// field is one name=value of INIpay Mobile's text answers.
type field struct{ name, value string }

// writeMobileText answers in INIpay Mobile's text format: name=value pairs
// joined by "&", values as they are (not URL-encoded), the whole in EUC-KR.
func writeMobileText(w http.ResponseWriter, fields []field) {
	var b strings.Builder
	for i, f := range fields {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(f.name)
		b.WriteByte('=')
		b.WriteString(f.value)
	}
	body, err := korean.EUCKR.NewEncoder().String(b.String())
	if err != nil {
		body = b.String()
	}
	w.Header().Set("Content-Type", "text/plain; charset=euc-kr")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, body)
}
