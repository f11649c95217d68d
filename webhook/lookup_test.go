package webhook_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
	"github.com/paygate/paygate/store/webhookstore"
	"github.com/paygate/paygate/webhook"
)

// lookupNote is a notification that proves nothing by itself: the test PG
// confirms it by its own record of the payment.
func lookupNote(id, order string, claimed pg.Status, pad int) notification {
	return notification{ID: id, Type: "LOOKUP", PaymentKey: "pk_1", OrderID: order, Status: string(claimed),
		Amount: 1, Pad: strings.Repeat("x", pad)}
}

// A delivery confirmed by looking the payment up is keyed by the PG's
// answer, not by anything it says: five different forged bodies of 100 KB
// about one real payment record the PG's state once, and keep none of their
// bytes. A new state at the PG is new news.
func TestIntake_ConfirmedByLookup_KeyedByThePGsAnswer_NoBytesKept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-20": pg.StatusApproving})
		e := newEnv(t, db, monotonicEffect(db), nil)
		e.test.record(pg.Payment{PaymentKey: "pk_1", OrderID: "o-20", Status: pg.StatusApproved,
			Amount: pg.Won(15000), Balance: pg.Won(15000)})

		for i, claimed := range []pg.Status{pg.StatusCanceled, pg.StatusApproved, pg.StatusFailed, pg.StatusPartialCanceled, pg.StatusCanceled} {
			a := e.deliver(t, "testpg", lookupNote(fmt.Sprintf("forged-%d", i), "o-20", claimed, 100<<10), "")
			assert.Equal(t, http.StatusOK, a.Status, "the PG confirms the payment: acknowledged")
		}
		assert.Equal(t, 1, e.deliveries(t), "one record of the PG's one state")
		assert.Equal(t, 1, e.effects(t))
		assert.Equal(t, pg.StatusApproved, e.status(t, "o-20"), "the PG's word, not the deliveries'")
		stats := e.intake.Stats()
		assert.Equal(t, int64(1), stats.Recorded)
		assert.Equal(t, int64(4), stats.Duplicates)

		var id, key string
		require.NoError(t, db.SQL().QueryRow("SELECT id, dedup_key FROM webhook_deliveries").Scan(&id, &key))
		assert.True(t, strings.HasPrefix(key, "lookup:"), "keyed by the PG's answer: %s", key)
		d, err := webhookstore.New(db).Get(context.Background(), id)
		require.NoError(t, err)
		assert.Empty(t, d.Body, "an unproven body is not kept")
		assert.Empty(t, d.Header, "nor its headers")
		assert.NotEmpty(t, d.BodySHA256)
		assert.Equal(t, pg.StatusApproved, d.Event.Status)
		assert.True(t, d.Event.ByLookup)
		var longest int
		require.NoError(t, db.SQL().QueryRow("SELECT MAX(LENGTH(body)) FROM webhook_deliveries").Scan(&longest))
		assert.Zero(t, longest)

		// The PG refunds part of it: that is news, recorded once.
		e.test.record(pg.Payment{PaymentKey: "pk_1", OrderID: "o-20", Status: pg.StatusPartialCanceled,
			Amount: pg.Won(15000), Balance: pg.Won(10000),
			Cancels: []pg.CancelRecord{{TransactionKey: "tx-1", Amount: pg.Won(5000)}}})
		for i := range 3 {
			a := e.deliver(t, "testpg", lookupNote(fmt.Sprintf("cancel-%d", i), "o-20", pg.StatusApproved, 10), "")
			assert.Equal(t, http.StatusOK, a.Status)
		}
		assert.Equal(t, 2, e.deliveries(t))
		assert.Equal(t, 2, e.effects(t))
		assert.Equal(t, pg.StatusPartialCanceled, e.status(t, "o-20"))
	})
}

// A delivery confirmed by lookup that reports what a verified delivery of
// the payment brought already is a duplicate: nothing is recorded and the
// effect does not run again (so nothing lands in a payment's timeline).
func TestIntake_ConfirmedByLookup_NewsAlreadyRecorded_Duplicate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-21": pg.StatusApproving})
		e := newEnv(t, db, monotonicEffect(db), nil)
		require.Equal(t, http.StatusOK, e.deliver(t, "testpg", done("wh-21", "o-21", pg.StatusApproved), "ps_secret_1").Status)
		// The PG's record is what the verified delivery said.
		e.test.record(pg.Payment{PaymentKey: "pk_1", OrderID: "o-21", Status: pg.StatusApproved, Amount: pg.Won(15000)})

		for i := range 5 {
			a := e.deliver(t, "testpg", lookupNote(fmt.Sprintf("again-%d", i), "o-21", pg.StatusCanceled, 100<<10), "")
			assert.Equal(t, http.StatusOK, a.Status)
		}
		assert.Equal(t, 1, e.deliveries(t), "only the verified delivery")
		assert.Equal(t, 1, e.effects(t))
		assert.Equal(t, int64(5), e.intake.Stats().Duplicates)

		// A payment the PG does not have is refused and stores nothing.
		a := e.deliver(t, "testpg", notification{ID: "x", Type: "LOOKUP", PaymentKey: "pk_404", OrderID: "o-21", Status: "CANCELED"}, "")
		assert.Equal(t, http.StatusUnauthorized, a.Status)
		assert.Equal(t, 1, e.deliveries(t))
	})
}

// A refused delivery is counted and logged — size-capped, its secrets
// masked — and never written to the database.
func TestIntake_Rejected_CountedLoggedMaskedAndCapped_NeverStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-22": pg.StatusApproved})
		e := newEnv(t, db, monotonicEffect(db), nil)
		const planted = "ps_planted_secret_value"
		for i := range 5 {
			n := done(fmt.Sprintf("forged-%d", i), "o-22", pg.StatusCanceled)
			n.Secret, n.Pad = planted, strings.Repeat("y", 100<<10)
			a := e.deliver(t, "testpg", n, "guessed")
			assert.Equal(t, http.StatusUnauthorized, a.Status)
			assert.Equal(t, webhook.CodeRejected, errorCode(t, a))
		}
		assert.Zero(t, e.deliveries(t), "nothing stored")
		assert.Zero(t, e.effects(t))
		assert.Equal(t, webhook.Stats{Rejected: 5}, e.intake.Stats())

		logs := e.logs.String()
		assert.NotContains(t, logs, planted, "secrets are masked in the log")
		lines := 0
		for _, line := range strings.Split(logs, "\n") {
			if strings.Contains(line, "rejected a delivery") {
				lines++
				assert.Less(t, len(line), 4<<10, "the log line is capped")
				assert.Contains(t, line, "sha256=")
				assert.Contains(t, line, `\"orderId\":\"o-22\"`, "the start of the body is shown")
			}
		}
		assert.Equal(t, 5, lines, "every refusal is logged")
	})
}
