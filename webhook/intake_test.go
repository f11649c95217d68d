package webhook_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
	"github.com/paygate/paygate/store/webhookstore"
	"github.com/paygate/paygate/webhook"
)

func done(id, order string, st pg.Status) notification {
	return notification{ID: id, PaymentKey: "pk_1", OrderID: order, Status: string(st), Amount: 15000, Secret: "ps_secret_1"}
}

func TestIntake_Delivery_RecordedWithEffectSecretsMasked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-1": pg.StatusApproved})
		e := newEnv(t, db, monotonicEffect(db), nil)

		n := done("wh-1", "o-1", pg.StatusCanceled)
		raw, err := json.Marshal(n)
		require.NoError(t, err)
		a := e.deliver(t, "testpg", n, "ps_secret_1")
		assert.Equal(t, http.StatusOK, a.Status)
		assert.Empty(t, a.Body)
		assert.Equal(t, pg.StatusCanceled, e.status(t, "o-1"))
		assert.Equal(t, 1, e.effects(t))

		d, err := webhookstore.New(db).Get(context.Background(), e.deliveryID(t, "testpg", "wh-1"))
		require.NoError(t, err)
		assert.Equal(t, "testpg", d.PG)
		assert.Equal(t, pg.StatusCanceled, d.Event.Status)
		assert.True(t, d.Event.Amount.Equal(pg.Won(15000)))
		require.NotNil(t, d.Event.Payment)
		assert.Empty(t, d.Event.Payment.Secret, "the stored event holds no secret")
		sum := sha256.Sum256(raw)
		assert.Equal(t, hex.EncodeToString(sum[:]), d.BodySHA256, "digest of the body as received")
		assert.NotContains(t, string(d.Body), "ps_secret_1", "the stored body holds no secret")
		assert.Contains(t, string(d.Body), `"secret":"[REDACTED]"`)
		assert.Contains(t, string(d.Body), `"orderId":"o-1"`)
		assert.Equal(t, "[REDACTED]", d.Header.Get("Authorization"))
		assert.Equal(t, sign("ps_secret_1", raw), d.Header.Get("X-Test-Signature"), "signatures are evidence, kept")
		assert.NotEmpty(t, d.RemoteAddr)
		assert.NotContains(t, e.logs.String(), "ps_secret_1")
	})
}

func TestIntake_ThirtyConcurrentDuplicates_OneEffect(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-2": pg.StatusApproved})
		e := newEnv(t, db, monotonicEffect(db), nil)
		n := done("wh-dup", "o-2", pg.StatusPartialCanceled)

		var wg sync.WaitGroup
		statuses := make(chan int, 30)
		for range 30 {
			wg.Go(func() { statuses <- e.deliver(t, "testpg", n, "ps_secret_1").Status })
		}
		wg.Wait()
		close(statuses)
		for s := range statuses {
			assert.Equal(t, http.StatusOK, s, "every duplicate is acknowledged")
		}
		assert.Equal(t, 1, e.effects(t), "one effect")
		assert.Equal(t, 1, e.deliveries(t))
		assert.Equal(t, pg.StatusPartialCanceled, e.status(t, "o-2"), "applied once: a second PARTIAL_CANCELED would be a second refund")

		// And once more, later.
		assert.Equal(t, http.StatusOK, e.deliver(t, "testpg", n, "ps_secret_1").Status)
		assert.Equal(t, 1, e.effects(t))
	})
}

func TestIntake_ForgedWebhook_RejectedNothingStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-3": pg.StatusApproved})
		e := newEnv(t, db, monotonicEffect(db), nil)
		genuine := done("wh-3", "o-3", pg.StatusCanceled)
		body, err := json.Marshal(genuine)
		require.NoError(t, err)
		tampered := strings.Replace(string(body), `"amount":15000`, `"amount":1`, 1)
		require.NotEqual(t, string(body), tampered)

		tests := []struct {
			name   string
			body   []byte
			header map[string]string
		}{
			{"no signature", body, nil},
			{"signed with a guessed secret", body, map[string]string{"X-Test-Signature": sign("guess", body)}},
			{"tampered amount", []byte(tampered), map[string]string{"X-Test-Signature": sign("ps_secret_1", body)}},
			{"unknown payment", []byte(strings.Replace(string(body), "pk_1", "pk_404", 1)), map[string]string{"X-Test-Signature": sign("ps_secret_1", body)}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := e.deliverRaw(t, "testpg", tt.body, tt.header)
				assert.Equal(t, http.StatusUnauthorized, a.Status)
				assert.Equal(t, webhook.CodeRejected, errorCode(t, a))
			})
		}
		assert.Zero(t, e.deliveries(t))
		assert.Zero(t, e.effects(t))
		assert.Equal(t, pg.StatusApproved, e.status(t, "o-3"))
		logs := e.logs.String()
		assert.Equal(t, len(tests), strings.Count(logs, "rejected a delivery that failed verification"), "each forgery is logged")
		assert.NotContains(t, logs, "ps_secret_1")

		// The genuine one still goes through afterwards.
		assert.Equal(t, http.StatusOK, e.deliver(t, "testpg", genuine, "ps_secret_1").Status)
		assert.Equal(t, pg.StatusCanceled, e.status(t, "o-3"))
	})
}

func TestIntake_OutOfOrder_StatusNeverMovesBackwards(t *testing.T) {
	tests := []struct {
		name  string
		start pg.Status
		seq   []pg.Status // in arrival order
		final pg.Status   // the PG's final state
	}{
		{"canceled before done", pg.StatusApproved, []pg.Status{pg.StatusCanceled, pg.StatusApproved}, pg.StatusCanceled},
		{"partial then full then late partial", pg.StatusApproved,
			[]pg.Status{pg.StatusPartialCanceled, pg.StatusCanceled, pg.StatusPartialCanceled}, pg.StatusCanceled},
		{"unknown resolved, late approval news", pg.StatusUnknown, []pg.Status{pg.StatusCanceled, pg.StatusApproved}, pg.StatusCanceled},
		{"deposit after expiry", pg.StatusWaitingForDeposit, []pg.Status{pg.StatusExpired, pg.StatusApproved}, pg.StatusExpired},
		{"in order", pg.StatusApproved, []pg.Status{pg.StatusPartialCanceled, pg.StatusCanceled}, pg.StatusCanceled},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		initial := map[string]pg.Status{}
		for i, tt := range tests {
			initial["o-ooo-"+string(rune('a'+i))] = tt.start
		}
		createPaymentTables(t, db, initial)
		e := newEnv(t, db, monotonicEffect(db), nil)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				order := "o-ooo-" + string(rune('a'+i))
				for j, st := range tt.seq {
					n := done(order+"-"+string(rune('0'+j)), order, st)
					assert.Equal(t, http.StatusOK, e.deliver(t, "testpg", n, "ps_secret_1").Status)
				}
				assert.Equal(t, tt.final, e.status(t, order))
			})
		}
	})
}

func TestIntake_EffectFails_NonSuccessNothingStored_RedeliveryApplies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-4": pg.StatusApproved})
		var calls atomic.Int64
		apply := monotonicEffect(db)
		effect := func(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) error {
			switch calls.Add(1) {
			case 1:
				if err := apply(ctx, tx, ev); err != nil { // half the work, then failure
					return err
				}
				return errors.New("order service table locked")
			case 2:
				_ = apply(ctx, tx, ev)
				panic("effect bug")
			}
			return apply(ctx, tx, ev)
		}
		e := newEnv(t, db, effect, func(c *webhook.Config) {})
		n := done("wh-4", "o-4", pg.StatusCanceled)

		for range 2 {
			a := e.deliver(t, "testpg", n, "ps_secret_1")
			assert.Equal(t, http.StatusInternalServerError, a.Status)
			assert.Equal(t, webhook.CodeNotProcessed, errorCode(t, a))
			assert.Zero(t, e.deliveries(t), "nothing recorded")
			assert.Zero(t, e.effects(t), "nothing half-stored")
			assert.Equal(t, pg.StatusApproved, e.status(t, "o-4"))
		}
		assert.Equal(t, http.StatusOK, e.deliver(t, "testpg", n, "ps_secret_1").Status)
		assert.Equal(t, 1, e.deliveries(t))
		assert.Equal(t, 1, e.effects(t))
		assert.Equal(t, pg.StatusCanceled, e.status(t, "o-4"))
	})
}

func TestIntake_Acker_AnswersOKOnlyAfterTheEffectIsStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-5": pg.StatusWaitingForDeposit})
		var fail atomic.Bool
		fail.Store(true)
		apply := monotonicEffect(db)
		e := newEnv(t, db, func(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) error {
			if fail.Load() {
				return errors.New("not now")
			}
			return apply(ctx, tx, ev)
		}, nil)
		n := done("vbank-0200-1", "o-5", pg.StatusApproved)

		a := e.deliver(t, "ackpg", n, "ps_secret_1")
		assert.Equal(t, http.StatusInternalServerError, a.Status)
		assert.NotEqual(t, "OK", a.Body)

		fail.Store(false)
		a = e.deliver(t, "ackpg", n, "ps_secret_1")
		assert.Equal(t, http.StatusOK, a.Status)
		assert.Equal(t, "OK", a.Body)
		assert.Equal(t, pg.StatusApproved, e.status(t, "o-5"))

		a = e.deliver(t, "ackpg", n, "ps_secret_1")
		assert.Equal(t, "OK", a.Body, "a duplicate gets the same answer")
		assert.Equal(t, 1, e.effects(t))
	})
}

// commitThenFail is a store whose transaction commits and then reports an
// error, as a connection that drops after COMMIT would (F25).
type commitThenFail struct {
	webhook.Store
	armed atomic.Bool
}

func (c *commitThenFail) InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	err := c.Store.InTx(ctx, fn)
	if err == nil && c.armed.CompareAndSwap(true, false) {
		return errors.New("commit: connection reset by peer")
	}
	return err
}

func TestIntake_CommitLandedButErrored_RedeliveryAckedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-6": pg.StatusApproved})
		flaky := &commitThenFail{Store: webhookstore.New(db)}
		flaky.armed.Store(true)
		e := newEnv(t, db, monotonicEffect(db), func(c *webhook.Config) { c.Store = flaky })
		n := done("wh-6", "o-6", pg.StatusPartialCanceled)

		assert.Equal(t, http.StatusInternalServerError, e.deliver(t, "testpg", n, "ps_secret_1").Status,
			"we could not know it committed, so the PG is asked to deliver again")
		assert.Equal(t, http.StatusOK, e.deliver(t, "testpg", n, "ps_secret_1").Status)
		assert.Equal(t, 1, e.effects(t))
		assert.Equal(t, 1, e.deliveries(t))
	})
}

func TestIntake_HostileOrUnusableInput_Clear4xxNothingStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-7": pg.StatusApproved})
		e := newEnv(t, db, monotonicEffect(db), func(c *webhook.Config) { c.MaxBodyBytes = 4096 })

		longOrder := done("wh-long", strings.Repeat("o", 65), pg.StatusCanceled)
		longBody, err := json.Marshal(longOrder)
		require.NoError(t, err)
		secretsFor := func(body []byte) map[string]string {
			return map[string]string{"X-Test-Signature": sign("ps_secret_1", body)}
		}

		tests := []struct {
			name   string
			method string
			pg     string
			body   []byte
			header map[string]string
			status int
			code   string
		}{
			{"huge body", http.MethodPost, "testpg", []byte(strings.Repeat("{", 5000)), nil, 413, webhook.CodeTooLarge},
			{"not JSON", http.MethodPost, "testpg", []byte("\x00\xffgarbage"), nil, 400, webhook.CodeMalformed},
			{"unknown PG", http.MethodPost, "nosuchpg", []byte("{}"), nil, 404, webhook.CodeUnknownPG},
			{"PG without webhooks", http.MethodPost, "nowebhooks", []byte("{}"), nil, 404, webhook.CodeUnknownPG},
			{"GET", http.MethodGet, "testpg", nil, nil, 405, webhook.CodeMethodNotAllowed},
			{"order id too long for the log", http.MethodPost, "testpg", longBody, secretsFor(longBody), 400, webhook.CodeMalformed},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, err := http.NewRequest(tt.method, e.srv.URL+"/webhooks/"+tt.pg, strings.NewReader(string(tt.body)))
				require.NoError(t, err)
				for k, v := range tt.header {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				a := answer{Status: resp.StatusCode, Body: string(body)}
				assert.Equal(t, tt.status, a.Status)
				assert.Equal(t, tt.code, errorCode(t, a))
			})
		}
		assert.Zero(t, e.deliveries(t))
		assert.Zero(t, e.effects(t))
	})
}

func TestIntake_VerificationUndecided_503SoThePGRetries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-8": pg.StatusApproved})
		e := newEnv(t, db, monotonicEffect(db), nil)
		e.test.unavailable.Store(true)
		a := e.deliver(t, "testpg", done("wh-8", "o-8", pg.StatusCanceled), "ps_secret_1")
		assert.Equal(t, http.StatusServiceUnavailable, a.Status)
		assert.Equal(t, webhook.CodeNotProcessed, errorCode(t, a))
		assert.Zero(t, e.deliveries(t))
	})
}

func TestIntake_EventTheAdapterIgnores_AckedNothingStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, nil)
		e := newEnv(t, db, monotonicEffect(db), nil)
		n := notification{ID: "wh-9", Type: "IGNORED"}
		assert.Equal(t, http.StatusOK, e.deliver(t, "testpg", n, "x").Status)
		assert.Zero(t, e.deliveries(t))
	})
}

func TestReplay_RerunsStoredEffect_IdempotentAndCounted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-10": pg.StatusApproved})
		e := newEnv(t, db, monotonicEffect(db), nil)
		require.Equal(t, http.StatusOK, e.deliver(t, "testpg", done("wh-10", "o-10", pg.StatusCanceled), "ps_secret_1").Status)
		id := e.deliveryID(t, "testpg", "wh-10")
		ctx := context.Background()

		// The host's data lost the news (restored from an older backup):
		// the operator replays the stored delivery.
		_, err := db.SQL().Exec("UPDATE test_payments SET status = 'APPROVED' WHERE order_id = 'o-10'")
		require.NoError(t, err)
		require.NoError(t, e.intake.Replay(ctx, id))
		assert.Equal(t, pg.StatusCanceled, e.status(t, "o-10"))

		// Replaying what is already applied changes nothing; concurrent
		// replays run one after the other and are all counted.
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { assert.NoError(t, e.intake.Replay(ctx, id)) })
		}
		wg.Wait()
		assert.Equal(t, pg.StatusCanceled, e.status(t, "o-10"))
		d, err := webhookstore.New(db).Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, 9, d.ReplayCount)
		assert.False(t, d.ReplayedAt.IsZero())

		assert.ErrorIs(t, e.intake.Replay(ctx, "whk_missing"), webhook.ErrNotFound)
	})
}

func TestReplay_EffectFails_NothingChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		createPaymentTables(t, db, map[string]pg.Status{"o-11": pg.StatusApproved})
		var fail atomic.Bool
		apply := monotonicEffect(db)
		e := newEnv(t, db, func(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) error {
			if err := apply(ctx, tx, ev); err != nil {
				return err
			}
			if fail.Load() {
				return errors.New("still broken")
			}
			return nil
		}, nil)
		require.Equal(t, http.StatusOK, e.deliver(t, "testpg", done("wh-11", "o-11", pg.StatusCanceled), "ps_secret_1").Status)
		id := e.deliveryID(t, "testpg", "wh-11")
		fail.Store(true)
		require.Error(t, e.intake.Replay(context.Background(), id))
		d, err := webhookstore.New(db).Get(context.Background(), id)
		require.NoError(t, err)
		assert.Zero(t, d.ReplayCount)
		assert.Equal(t, 1, e.effects(t), "the failed replay's writes were rolled back")
	})
}

func TestNew_RequiresRegistryStoreEffect(t *testing.T) {
	t.Parallel()
	reg, err := pg.NewRegistry()
	require.NoError(t, err)
	_, err = webhook.New(webhook.Config{Store: nil, Registry: reg})
	assert.Error(t, err)
	_, err = webhook.New(webhook.Config{Registry: reg, Store: &commitThenFail{}})
	assert.Error(t, err, "an effect is required")
}
