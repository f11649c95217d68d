package inicis

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The expected values below were computed outside Go (sha256sum, sha512sum)
// from the INIpayTest keys, so a mistake in the input layout shows.
func TestHashes_MatchIndependentlyComputedVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, got, want string
	}{
		{"mKey of the INIpayTest signKey (reference value)", mKey(TestSignKey),
			"3a9503069192f207491d4b19bd743fc249a761ed94246c8c42fed06c3cd15a33"},
		{"form signature", formSignature("INIpayTest_1700000000000", "1000", "1700000000000"),
			"92c1060336d63249246b07bb6e747b5f163766e6c047b2024d8118eb7836ff76"},
		{"form verification", formVerification("INIpayTest_1700000000000", "1000", TestSignKey, "1700000000000"),
			"29465561b93f4686098e6e4df1ff6dbabb1894205d43420723d6e2f77deaf2ff"},
		{"approval signature", authSignature("abc+/=token", "1700000000000"),
			"5e647a5a1f509ca32e655423af2bcca8e4d9d0db6b769e8525ad9ceca146b123"},
		{"approval verification", authVerification("abc+/=token", TestSignKey, "1700000000000"),
			"ad0315ecb909016bdb792228420336228d0a73ec6f2ba5fa8541f2baa0f3aed2"},
		{"INIAPI v2 refund hashData",
			apiHash(TestAPIKey, TestMID, "refund", "20231115071320", []byte(`{"tid":"StdpayCARDINIpayTest20231115071320000001","msg":"취소요청"}`)),
			"03945a89ae6a83d45d84a5c87d44db3ac892e31edd2078d7c24937793c2afb00db83fc1503c01a30c6441d715771592e13f5edec0de3e2809868de98b0cb97d4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.got)
		})
	}
}

// The approval answer's authSignature for every last digit of the
// timestamp; expected values computed with sha256sum over the query strings
// the official INIStdPay samples build (mid INIpayTest, MOID order-1,
// TotPrice 1000).
func TestAnswerSignature_MatchesIndependentlyComputedVectors(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"1700000000000": "d4004fb186e859342f3d66455c6a983ed248c81ee2d7b7f2c71fda4b9891c1fb", // TotPrice,tstamp,MOID
		"1700000000001": "6b90fce6658a839ddd45b7878bf03c6422e28136717a2a80df8580d053134de7", // MOID,mid,tstamp
		"1700000000002": "9e700a76e15b6f3a153fcb6a019b9216b18e76054abc5f1d682a1fa2c529b6a7", // MOID,tstamp,mid
		"1700000000003": "eae5cfb794fb08a715b453a417a78d2356fa7951c70fe59138c728b725ea9c11", // mid,MOID,tstamp
		"1700000000004": "6877c874b3c4995ecb6b33db8b838576d49ec414b8441de9fc27a8d8e794c52c", // mid,tstamp,MOID
		"1700000000005": "922da3b6009a9dbc6e2b65c5d17196348f90ae545b6f1cdf82b66e5206d6a2bb", // tstamp,mid,MOID
		"1700000000006": "eae8d9b7a7970a5b525f47988bfde9e57b717213767537265e27f214a161444e", // tstamp,MOID,mid
		"1700000000007": "317d45fe274d320cf5f45c5d675482668c8ab1d03f78e9de16aee8615224874c", // TotPrice,mid,tstamp
		"1700000000008": "19dc5ee0f23d6b6597173880ec389864069c9fa29c06760b78241d54f0ce6a05", // TotPrice,tstamp,mid
		"1700000000009": "23e40fe47489d3a70c318d9beeaf704e98453ff5d4ac7c6eba2b977b0a794475", // TotPrice,MOID,tstamp
	}
	for ts, sig := range want {
		assert.Equal(t, sig, answerSignature(TestMID, ts, "order-1", "1000"), ts)
	}
	assert.Empty(t, answerSignature(TestMID, "", "order-1", "1000"))
	assert.Empty(t, answerSignature(TestMID, "170000000000x", "order-1", "1000"))
}

func TestEncryptField_ReproducesInicisFAQExample(t *testing.T) {
	t.Parallel()
	got, err := encryptField(TestAPIKey, TestAPIIV, "123456789")
	require.NoError(t, err)
	assert.Equal(t, "qwMHVJqsmXKoR+d8wQTS4g==", got)

	_, err = encryptField("short", TestAPIIV, "1")
	assert.Error(t, err)
}
