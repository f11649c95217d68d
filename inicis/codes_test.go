package inicis

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestResultCodes_EveryEntryHasAReason(t *testing.T) {
	t.Parallel()
	for a, codes := range resultCodes {
		for code, o := range codes {
			assert.NotEmpty(t, o.reason, "api %d code %q", a, code)
		}
	}
	assert.False(t, lookupCode(apiInquiry, "NEVER-SEEN").ok)
	assert.NotEqual(t, "not found", lookupCode(apiInquiry, "NEVER-SEEN").kind.String(),
		"an unreadable inquiry answer must never read as not found")
}
