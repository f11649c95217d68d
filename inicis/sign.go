package inicis

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"sort"
	"strings"
)

// The INIpay Standard hashes are SHA-256 (hex) over "name=value" pairs
// joined with "&", names in alphabetical order, no trailing "&" and no
// spaces. The signKey takes part only in verification, so the signature may
// be shown to the buyer while only Inicis (which knows the key) can check
// the verification.

// signPairs hashes the pairs in name order.
func signPairs(pairs map[string]string) string {
	names := make([]string, 0, len(pairs))
	for n := range pairs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(pairs[n])
	}
	return sha256Hex(b.String())
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// formSignature is the payment form's signature:
// SHA256("oid={oid}&price={price}&timestamp={timestamp}").
func formSignature(oid, price, timestamp string) string {
	return signPairs(map[string]string{"oid": oid, "price": price, "timestamp": timestamp})
}

// formVerification is the payment form's verification:
// SHA256("oid={oid}&price={price}&signKey={signKey}&timestamp={timestamp}").
func formVerification(oid, price, signKey, timestamp string) string {
	return signPairs(map[string]string{"oid": oid, "price": price, "signKey": signKey, "timestamp": timestamp})
}

// mKey is SHA256(signKey).
func mKey(signKey string) string { return sha256Hex(signKey) }

// authSignature is the approval's signature:
// SHA256("authToken={authToken}&timestamp={timestamp}").
func authSignature(authToken, timestamp string) string {
	return signPairs(map[string]string{"authToken": authToken, "timestamp": timestamp})
}

// authVerification is the approval's verification:
// SHA256("authToken={authToken}&signKey={signKey}&timestamp={timestamp}").
func authVerification(authToken, signKey, timestamp string) string {
	return signPairs(map[string]string{"authToken": authToken, "signKey": signKey, "timestamp": timestamp})
}

// authSignatureOrders are the three fields, in order, that the approval
// answer's authSignature covers, by the last digit of the approval
// request's timestamp (as Inicis's INIStdPay samples compute it).
var authSignatureOrders = [10][3]string{
	0: {"TotPrice", "tstamp", "MOID"},
	1: {"MOID", "mid", "tstamp"},
	2: {"MOID", "tstamp", "mid"},
	3: {"mid", "MOID", "tstamp"},
	4: {"mid", "tstamp", "MOID"},
	5: {"tstamp", "mid", "MOID"},
	6: {"tstamp", "MOID", "mid"},
	7: {"TotPrice", "mid", "tstamp"},
	8: {"TotPrice", "tstamp", "mid"},
	9: {"TotPrice", "MOID", "tstamp"},
}

// answerSignature is the authSignature Inicis puts in an approval answer:
// SHA-256 hex of "k=v&k=v&k=v" over three of mid (ours), tstamp (the
// timestamp our approval request sent), MOID and TotPrice (as the answer
// has them), chosen and ordered by tstamp's last digit. It is "" for a
// timestamp that does not end in a digit.
func answerSignature(mid, tstamp, moid, totPrice string) string {
	if tstamp == "" || tstamp[len(tstamp)-1] < '0' || tstamp[len(tstamp)-1] > '9' {
		return ""
	}
	vals := map[string]string{"mid": mid, "tstamp": tstamp, "MOID": moid, "TotPrice": totPrice}
	var b strings.Builder
	for i, name := range authSignatureOrders[tstamp[len(tstamp)-1]-'0'] {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(vals[name])
	}
	return sha256Hex(b.String())
}

// apiHash is INIAPI v2's hashData: SHA512hex(key + mid + type + timestamp +
// JSON(data)), where JSON(data) is byte for byte the data object sent.
func apiHash(key, mid, typ, timestamp string, data []byte) string {
	h := sha512.New()
	h.Write([]byte(key))
	h.Write([]byte(mid))
	h.Write([]byte(typ))
	h.Write([]byte(timestamp))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// encryptField encrypts an INIAPI [ENC] field: AES-128-CBC with the INIAPI
// key and IV, PKCS#7 padding, base64.
func encryptField(key, iv, plain string) (string, error) {
	if len(key) != 16 || len(iv) != 16 {
		return "", errors.New("INIAPI key and IV must be 16 bytes for [ENC] fields")
	}
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		return "", err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := append([]byte(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, []byte(iv)).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// mobileChkFake is INIpay Mobile's P_CHKFAKE: the standard base64 of the raw
// SHA-512 digest of amount + oid + timestamp + the mobile hash key, the
// values concatenated as they are sent.
func mobileChkFake(amount, oid, timestamp, hashKey string) string {
	sum := sha512.Sum512([]byte(amount + oid + timestamp + hashKey))
	return base64.StdEncoding.EncodeToString(sum[:])
}
