package retry_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/paygate/paygate/internal/retry"
)

// The wait doubles per attempt up to the cap and is drawn from [d/2, d].
func TestBackoff_DoublesToTheCapWithJitter(t *testing.T) {
	for attempt, d := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 5 * time.Second, 60: 5 * time.Second} {
		for range 50 {
			got := retry.Backoff(time.Second, 5*time.Second, attempt)
			assert.GreaterOrEqual(t, got, d/2, "attempt %d", attempt)
			assert.LessOrEqual(t, got, d, "attempt %d", attempt)
		}
	}
}

func TestPermanent_MarksAndUnwraps(t *testing.T) {
	cause := errors.New("declined")
	err := retry.Permanent(cause)
	assert.True(t, retry.IsPermanent(err))
	assert.ErrorIs(t, err, cause)
	assert.EqualError(t, err, "permanent: declined")
	assert.False(t, retry.IsPermanent(cause))
	assert.NoError(t, retry.Permanent(nil))
	assert.EqualError(t, &retry.PanicError{Value: "boom"}, "panic: boom")
}
