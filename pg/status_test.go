package pg_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
)

// allowedMoves is the state machine written out independently from the table
// in status.go's doc comment:
//
//	APPROVING → APPROVED | FAILED | UNKNOWN | WAITING_FOR_DEPOSIT
//	UNKNOWN → APPROVED | FAILED | WAITING_FOR_DEPOSIT | PARTIAL_CANCELED | CANCELED | EXPIRED
//	WAITING_FOR_DEPOSIT → APPROVED | CANCELED | EXPIRED
//	APPROVED → PARTIAL_CANCELED → CANCELED;  APPROVED → CANCELED
//
// plus PARTIAL_CANCELED → PARTIAL_CANCELED (one more partial refund).
var allowedMoves = map[[2]pg.Status]bool{
	{pg.StatusApproving, pg.StatusApproved}:              true,
	{pg.StatusApproving, pg.StatusFailed}:                true,
	{pg.StatusApproving, pg.StatusUnknown}:               true,
	{pg.StatusApproving, pg.StatusWaitingForDeposit}:     true,
	{pg.StatusUnknown, pg.StatusApproved}:                true,
	{pg.StatusUnknown, pg.StatusFailed}:                  true,
	{pg.StatusUnknown, pg.StatusWaitingForDeposit}:       true,
	{pg.StatusUnknown, pg.StatusPartialCanceled}:         true,
	{pg.StatusUnknown, pg.StatusCanceled}:                true,
	{pg.StatusUnknown, pg.StatusExpired}:                 true,
	{pg.StatusWaitingForDeposit, pg.StatusApproved}:      true,
	{pg.StatusWaitingForDeposit, pg.StatusCanceled}:      true,
	{pg.StatusWaitingForDeposit, pg.StatusExpired}:       true,
	{pg.StatusApproved, pg.StatusPartialCanceled}:        true,
	{pg.StatusApproved, pg.StatusCanceled}:               true,
	{pg.StatusPartialCanceled, pg.StatusPartialCanceled}: true,
	{pg.StatusPartialCanceled, pg.StatusCanceled}:        true,
}

var storedStatuses = []pg.Status{
	pg.StatusApproving, pg.StatusUnknown, pg.StatusWaitingForDeposit, pg.StatusApproved,
	pg.StatusPartialCanceled, pg.StatusFailed, pg.StatusCanceled, pg.StatusExpired,
}

func TestStatuses_ListsEveryStoredStatusOnce(t *testing.T) {
	t.Parallel()
	assert.ElementsMatch(t, storedStatuses, pg.Statuses)
	for _, s := range pg.Statuses {
		assert.True(t, s.Valid(), s)
	}
	for _, s := range []pg.Status{pg.StatusPending, "", "DONE", "approved", "APPROVED "} {
		assert.False(t, s.Valid(), "%q must not be a stored status", s)
	}
}

// Every (from, to) pair over every status, stored or not, against the table.
func TestCanTransition_EveryPairMatchesTheDocumentedTable(t *testing.T) {
	t.Parallel()
	all := append(append([]pg.Status{}, storedStatuses...), pg.StatusPending, "", "DONE")
	for _, from := range all {
		for _, to := range all {
			want := allowedMoves[[2]pg.Status{from, to}]
			t.Run(fmt.Sprintf("%s→%s", from, to), func(t *testing.T) {
				assert.Equal(t, want, pg.CanTransition(from, to))
				err := pg.CheckTransition(from, to)
				if want {
					assert.NoError(t, err)
					return
				}
				require.Error(t, err)
				assert.ErrorIs(t, err, pg.ErrIllegalTransition)
				assert.Contains(t, err.Error(), string(from))
				assert.Contains(t, err.Error(), string(to))
			})
		}
	}
}

func TestCheckTransition_UnknownStatusIsSaidSo(t *testing.T) {
	t.Parallel()
	for _, c := range [][2]pg.Status{
		{pg.StatusPending, pg.StatusApproved},
		{pg.StatusApproving, pg.StatusPending},
		{"DONE", pg.StatusCanceled},
		{pg.StatusApproved, ""},
	} {
		err := pg.CheckTransition(c[0], c[1])
		require.ErrorIs(t, err, pg.ErrIllegalTransition)
		assert.Contains(t, err.Error(), "unknown status")
	}
	err := pg.CheckTransition(pg.StatusCanceled, pg.StatusApproved)
	require.ErrorIs(t, err, pg.ErrIllegalTransition)
	assert.Equal(t, "pg: illegal status transition: CANCELED → APPROVED", err.Error())
}

func TestStatus_TerminalAndCaptured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s                  pg.Status
		terminal, captured bool
	}{
		{pg.StatusApproving, false, false},
		{pg.StatusUnknown, false, false},
		{pg.StatusWaitingForDeposit, false, false},
		{pg.StatusApproved, false, true},
		{pg.StatusPartialCanceled, false, true},
		{pg.StatusFailed, true, false},
		{pg.StatusCanceled, true, false},
		{pg.StatusExpired, true, false},
		{pg.StatusPending, false, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.terminal, tt.s.Terminal(), "%s terminal", tt.s)
		assert.Equal(t, tt.captured, tt.s.Captured(), "%s captured", tt.s)
	}
	// Terminal means exactly "no move out"; every other stored status has one.
	for _, from := range storedStatuses {
		hasMove := false
		for _, to := range storedStatuses {
			hasMove = hasMove || pg.CanTransition(from, to)
		}
		assert.Equal(t, !from.Terminal(), hasMove, "%s", from)
	}
}

// reachable returns every status some non-empty sequence of allowed moves
// leads to from s.
func reachable(s pg.Status) map[pg.Status]bool {
	seen := map[pg.Status]bool{}
	queue := []pg.Status{s}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, next := range storedStatuses {
			if pg.CanTransition(cur, next) && !seen[next] {
				seen[next] = true
				queue = append(queue, next)
			}
		}
	}
	return seen
}

func TestStatus_NoSequenceOfMovesLeavesATerminalStatus(t *testing.T) {
	t.Parallel()
	for _, s := range storedStatuses {
		if !s.Terminal() {
			continue
		}
		assert.Empty(t, reachable(s), "%s must be a dead end", s)
	}
}

// Monotonic: no sequence of moves ever returns to a status it left, except
// the PARTIAL_CANCELED self-move; and every terminal status is reachable from
// APPROVING.
func TestStatus_MovesNeverGoBack(t *testing.T) {
	t.Parallel()
	for _, s := range storedStatuses {
		back := reachable(s)[s]
		assert.Equal(t, s == pg.StatusPartialCanceled, back, "%s reaches itself", s)
	}
	fromStart := reachable(pg.StatusApproving)
	for _, s := range storedStatuses {
		if s != pg.StatusApproving {
			assert.True(t, fromStart[s], "%s unreachable from APPROVING", s)
		}
	}
	assert.False(t, fromStart[pg.StatusApproving])
}
