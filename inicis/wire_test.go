package inicis

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMarshalData_KeepsSlashesAndHangulUnescaped(t *testing.T) {
	t.Parallel()
	got, err := marshalData(refundData{TID: "T1", Msg: "부분 취소/반품 <a&b>"})
	require.NoError(t, err)
	assert.Equal(t, `{"tid":"T1","msg":"부분 취소/반품 <a&b>"}`, string(got))
}

func TestTimes_AreKST(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0).UTC()
	assert.Equal(t, "20231115071320", apiTimestamp(now))
	assert.Equal(t, "1700000000000", formTimestamp(now))
	got, err := parseKST("20231115", "071320")
	require.NoError(t, err)
	assert.True(t, got.Equal(now))
	for _, bad := range [][2]string{{"2023111", "071320"}, {"20231115", "7132"}, {"20231332", "000000"}, {"2023111x", "000000"}} {
		_, err := parseKST(bad[0], bad[1])
		assert.Error(t, err, bad)
	}
}

func TestParseWon_IsExactAndRefusesFractions(t *testing.T) {
	t.Parallel()
	m, err := parseWon(" 1000000000000 ")
	require.NoError(t, err)
	assert.Equal(t, int64(1000000000000), m.Int64())
	for _, bad := range []string{"", "10.5", "-1", "1e3x", "abc", "123456789012345678901"} {
		_, err := parseWon(bad)
		assert.Error(t, err, bad)
	}
}
