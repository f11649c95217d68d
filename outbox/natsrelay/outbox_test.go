package natsrelay_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/outbox/natsrelay"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/sagastore"
	"github.com/paygate/paygate/store/storetest"
)

func outboxConfig() outbox.Config {
	return outbox.Config{Loop: outbox.Loop{PollInterval: 20 * time.Millisecond, Lease: 10 * time.Second, ClaimBatch: 8, Logger: quietLogger()}}
}

// fastRetry keeps the relay's unlimited retries but waits milliseconds, not
// seconds, between them.
var fastRetry = outbox.Policy{MaxAttempts: outbox.Unlimited, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}

func emit(t testing.TB, db *store.DB, o *outbox.Outbox, evs ...outbox.Event) {
	t.Helper()
	require.NoError(t, db.InTx(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		for _, ev := range evs {
			if _, err := o.Emit(ctx, tx, ev); err != nil {
				return err
			}
		}
		return nil
	}))
}

func deliveryCount(t testing.TB, o *outbox.Outbox, status outbox.DeliveryStatus) int {
	t.Helper()
	ds, err := o.Deliveries(context.Background(), outbox.DeliveryFilter{Status: status, Limit: 1000})
	require.NoError(t, err)
	return len(ds)
}

// forgetful publishes through the relay and then, for batches it picks,
// reports an error anyway: the events are in the stream but the outbox
// believes they are not, as after a crash between publish and marking the
// deliveries done. The outbox publishes them again.
type forgetful struct {
	relay      outbox.Relay
	republish  atomic.Int64
	forgetWhen func(ds []outbox.Delivery) bool
}

func (f *forgetful) Publish(ctx context.Context, ds []outbox.Delivery) error {
	if err := f.relay.Publish(ctx, ds); err != nil {
		return err
	}
	if f.forgetWhen(ds) {
		f.republish.Add(int64(len(ds)))
		return errors.New("published, but the outbox lost track of it")
	}
	return nil
}

// consumeAll reads the stream with a durable consumer until it has seen
// want distinct event ids, deduplicating by Nats-Msg-Id as a consumer must,
// and returns the ids in stream order and how many duplicates it dropped.
func consumeAll(t testing.TB, js jetstream.JetStream, stream string, want int) (ids []string, keys map[string][]string, dups int) {
	t.Helper()
	ctx := context.Background()
	c, err := js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{Durable: "test-reader", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	seen := map[string]bool{}
	keys = map[string][]string{}
	waitFor(t, fmt.Sprintf("%d distinct events from the stream", want), func() bool {
		batch, err := c.Fetch(100, jetstream.FetchMaxWait(time.Second))
		require.NoError(t, err)
		for m := range batch.Messages() {
			id := m.Headers().Get(jetstream.MsgIDHeader)
			require.NotEmpty(t, id)
			if seen[id] {
				dups++
			} else {
				seen[id] = true
				ids = append(ids, id)
				k := m.Headers().Get(natsrelay.HeaderEventKey)
				keys[k] = append(keys[k], id)
			}
			require.NoError(t, m.Ack())
		}
		require.NoError(t, batch.Error())
		return len(seen) >= want
	})
	return ids, keys, dups
}

// TestOutbox_RelaySubscriber_EveryEventOnceInStreamInKeyOrder: an outbox
// run whose relay batches are often "forgotten" after publishing (so
// published again) leaves exactly one message per event in the stream, in
// emission order per payment, on SQLite and MariaDB.
func TestOutbox_RelaySubscriber_EveryEventOnceInStreamInKeyOrder(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg target) {
		storetest.Each(t, func(t *testing.T, db *store.DB) {
			t.Parallel()
			nc := connect(t, tg.url)
			cfg := config(t, tg.url)
			r, err := natsrelay.New(context.Background(), nc, cfg)
			require.NoError(t, err)
			fg := &forgetful{relay: r, forgetWhen: func(ds []outbox.Delivery) bool {
				for _, d := range ds {
					if d.Attempt == 1 && d.DeliveryID%5 == 0 {
						return true
					}
				}
				return false
			}}
			sub := r.Subscriber()
			sub.Relay, sub.Retry = fg, fastRetry
			o := outbox.New(sagastore.New(db), outboxConfig())
			require.NoError(t, o.Subscribe(sub))

			const keys, perKey = 6, 10
			var want []string
			types := []string{"PAYMENT_APPROVED", "ORDER_CREATED", "SETTLEMENT_RECORDED", "PAYMENT_REFUNDED"}
			for n := range perKey {
				var evs []outbox.Event
				for k := range keys {
					id := fmt.Sprintf("%s-k%d-n%02d", db.Dialect(), k, n)
					want = append(want, id)
					evs = append(evs, outbox.Event{
						ID: id, Type: types[n%len(types)], Key: fmt.Sprintf("pay_%d", k),
						Payload: fmt.Appendf(nil, `{"eventId":%q}`, id),
					})
				}
				emit(t, db, o, evs...)
			}
			runFor(t, o)
			waitFor(t, "every delivery done", func() bool { return deliveryCount(t, o, outbox.DeliveryDone) == len(want) })
			assert.Positive(t, fg.republish.Load(), "some events were published twice")

			js := jsFor(t, nc)
			assert.Equal(t, len(want), streamMsgs(t, js, cfg.Stream), "JetStream dropped every republished copy")
			ids, byKey, dups := consumeAll(t, js, cfg.Stream, len(want))
			assert.ElementsMatch(t, want, ids)
			assert.Zero(t, dups)
			for k := range keys {
				key := fmt.Sprintf("pay_%d", k)
				var inOrder []string
				for n := range perKey {
					inOrder = append(inOrder, fmt.Sprintf("%s-k%d-n%02d", db.Dialect(), k, n))
				}
				assert.Equal(t, inOrder, byKey[key], "events of %s in emission order", key)
			}
		})
	})
}

// TestOutbox_ServerDown_RelayFailsThenEverythingDelivered: while the NATS
// server is down the relay's deliveries fail and stay pending; once it is
// back (same port, same store) the outbox delivers every event, and the
// events published before the outage are still there.
func TestOutbox_ServerDown_RelayFailsThenEverythingDelivered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		t.Parallel()
		e := startEmbedded(t)
		nc := connect(t, e.url())
		cfg := config(t, e.url())
		r, err := natsrelay.New(context.Background(), nc, cfg)
		require.NoError(t, err)

		var mu sync.Mutex
		failures := map[string]error{}
		ocfg := outboxConfig()
		ocfg.OnDelivery = func(rep outbox.DeliveryReport) {
			if rep.Err != nil {
				mu.Lock()
				failures[rep.EventID] = rep.Err
				mu.Unlock()
			}
		}
		o := outbox.New(sagastore.New(db), ocfg)
		sub := r.Subscriber()
		sub.Retry = fastRetry
		require.NoError(t, o.Subscribe(sub))
		runFor(t, o)

		batch := func(from, n int) []outbox.Event {
			var evs []outbox.Event
			for i := from; i < from+n; i++ {
				evs = append(evs, outbox.Event{ID: fmt.Sprintf("ev-%03d", i), Type: "ORDER_CREATED", Key: fmt.Sprintf("pay_%d", i%4), Payload: []byte(`{}`)})
			}
			return evs
		}
		emit(t, db, o, batch(0, 10)...)
		waitFor(t, "the first events delivered", func() bool { return deliveryCount(t, o, outbox.DeliveryDone) == 10 })

		e.stop()
		waitFor(t, "the connection to notice", func() bool { return !nc.IsConnected() })
		emit(t, db, o, batch(10, 15)...)
		waitFor(t, "a failed delivery of an event emitted during the outage", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return failures["ev-010"] != nil
		})
		assert.Equal(t, 10, deliveryCount(t, o, outbox.DeliveryDone), "nothing delivered while the server is down")
		assert.Equal(t, 15, deliveryCount(t, o, outbox.DeliveryPending))
		assert.Zero(t, deliveryCount(t, o, outbox.DeliveryDead))
		mu.Lock()
		assert.ErrorContains(t, failures["ev-010"], "natsrelay")
		mu.Unlock()
		pending, err := o.Deliveries(context.Background(), outbox.DeliveryFilter{Status: outbox.DeliveryPending, EventID: "ev-010"})
		require.NoError(t, err)
		require.Len(t, pending, 1)
		assert.Contains(t, pending[0].LastError, "natsrelay", "the reason is recorded for operators")

		e.restart()
		waitFor(t, "every delivery done after the restart", func() bool { return deliveryCount(t, o, outbox.DeliveryDone) == 25 })
		js := jsFor(t, nc)
		assert.Equal(t, 25, streamMsgs(t, js, cfg.Stream))
		var want []string
		for _, ev := range batch(0, 25) {
			want = append(want, ev.ID)
		}
		ids, _, dups := consumeAll(t, js, cfg.Stream, 25)
		assert.ElementsMatch(t, want, ids)
		assert.Zero(t, dups)
	})
}
