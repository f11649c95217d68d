package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/outbox/natsrelay"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// setup starts an embedded JetStream server and a relay whose stream has
// the shortest duplicate window JetStream allows, so a test can get copies
// into the stream by republishing until the window passed.
func setup(t *testing.T) (*natsrelay.Relay, jetstream.JetStream, *Shipping) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	require.NoError(t, err)
	srv.Start()
	require.True(t, srv.ReadyForConnections(30*time.Second))
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	relay, err := natsrelay.New(context.Background(), nc, natsrelay.Config{Duplicates: 100 * time.Millisecond, Logger: quietLogger()})
	require.NoError(t, err)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := OpenShipping(context.Background(), filepath.Join(t.TempDir(), "consumer.db"), quietLogger())
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return relay, js, s
}

// events returns n deliveries of typ as paygate emits them.
func events(t *testing.T, typ string, n int) []outbox.Delivery {
	t.Helper()
	var ds []outbox.Delivery
	for i := range n {
		ev := paygate.Event{
			EventID: fmt.Sprintf("%s-%d", typ, i), EventType: typ, PaymentID: fmt.Sprintf("pay_%d", i),
			OrderID: fmt.Sprintf("order-%d", i), Amount: "15000", Currency: "KRW", PG: "tosspay",
			OccurredAt: time.Date(2026, 3, 1, 1, 0, i, 0, time.UTC),
		}
		payload, err := json.Marshal(ev)
		require.NoError(t, err)
		ds = append(ds, outbox.Delivery{Event: outbox.Event{ID: ev.EventID, Type: typ, Key: ev.PaymentID, Payload: payload, OccurredAt: ev.OccurredAt}})
	}
	return ds
}

func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) int {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	require.NoError(t, err)
	info, err := s.Info(context.Background())
	require.NoError(t, err)
	return int(info.State.Msgs)
}

func count(t *testing.T, s *Shipping, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, s.db.QueryRow(query, args...).Scan(&n))
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRun_CopiesInTheStream_OneShipmentPerOrder: the outbox republished
// after the duplicate window, so the stream holds copies of created
// orders; the consumer books one parcel per order and acks everything.
func TestRun_CopiesInTheStream_OneShipmentPerOrder(t *testing.T) {
	relay, js, s := setup(t)
	ctx := context.Background()
	orders := events(t, paygate.EventOrderCreated, 5)
	require.NoError(t, relay.Publish(ctx, events(t, paygate.EventPaymentApproved, 5)))
	require.NoError(t, relay.Publish(ctx, orders))
	waitFor(t, "copies of the created orders in the stream", func() bool {
		require.NoError(t, relay.Publish(ctx, orders))
		return streamMsgs(t, js, relay.Stream()) >= 10+len(orders)
	})

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- s.Run(runCtx, js, ConsumerConfig{Stream: relay.Stream(), Durable: "shipping", Subjects: []string{relay.Subject(paygate.EventOrderCreated)}})
	}()
	t.Cleanup(func() { stop(); require.NoError(t, <-done) })

	var c jetstream.Consumer
	waitFor(t, "the consumer to ack every created order", func() bool {
		var err error
		if c == nil {
			if c, err = js.Consumer(ctx, relay.Stream(), "shipping"); err != nil {
				return false
			}
		}
		info, err := c.Info(ctx)
		require.NoError(t, err)
		return info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Consumer >= uint64(len(orders)+5)
	})
	assert.Equal(t, len(orders), count(t, s, `SELECT COUNT(*) FROM shipments`))
	for _, d := range orders {
		var ev paygate.Event
		require.NoError(t, json.Unmarshal(d.Payload, &ev))
		assert.Equal(t, 1, count(t, s, `SELECT COUNT(*) FROM shipments WHERE order_id = ?`, ev.OrderID), ev.OrderID)
	}
	assert.Equal(t, len(orders), count(t, s, `SELECT COUNT(*) FROM processed_events`), "payment approvals are filtered out")
}

// TestProcess_RedeliveredAfterCommit_Skipped: the service committed but
// stopped before its ack; JetStream delivers the message again after
// AckWait and Process skips it.
func TestProcess_RedeliveredAfterCommit_Skipped(t *testing.T) {
	relay, js, s := setup(t)
	ctx := context.Background()
	require.NoError(t, relay.Publish(ctx, events(t, paygate.EventOrderCreated, 1)))
	c, err := js.CreateOrUpdateConsumer(ctx, relay.Stream(), jetstream.ConsumerConfig{
		Durable: "shipping", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	fetch := func() jetstream.Msg {
		msgs, err := c.Fetch(1, jetstream.FetchMaxWait(30*time.Second))
		require.NoError(t, err)
		m, ok := <-msgs.Messages()
		require.True(t, ok, "a message: %v", msgs.Error())
		return m
	}

	first := fetch()
	fresh, err := s.Process(ctx, first)
	require.NoError(t, err)
	assert.True(t, fresh)
	// No ack: the service "stopped" here.

	again := fetch()
	meta, err := again.Metadata()
	require.NoError(t, err)
	assert.EqualValues(t, 2, meta.NumDelivered, "the same message, delivered again")
	fresh, err = s.Process(ctx, again)
	require.NoError(t, err)
	assert.False(t, fresh)
	require.NoError(t, again.DoubleAck(ctx))
	assert.Equal(t, 1, count(t, s, `SELECT COUNT(*) FROM shipments`))
}

func TestProcess_Malformed_Refused(t *testing.T) {
	relay, js, s := setup(t)
	ctx := context.Background()
	subject := relay.Subject(paygate.EventOrderCreated)
	_, err := js.Publish(ctx, subject, []byte(`{"eventId":"ev-1"}`))
	require.NoError(t, err, "no Nats-Msg-Id")
	_, err = js.Publish(ctx, subject, []byte(`not json`), jetstream.WithMsgID("ev-2"))
	require.NoError(t, err)
	_, err = js.Publish(ctx, subject, []byte(`{"eventId":"ev-other","eventType":"ORDER_CREATED"}`), jetstream.WithMsgID("ev-3"))
	require.NoError(t, err)

	c, err := js.CreateOrUpdateConsumer(ctx, relay.Stream(), jetstream.ConsumerConfig{Durable: "shipping", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(t, err)
	msgs, err := c.Fetch(3, jetstream.FetchMaxWait(30*time.Second))
	require.NoError(t, err)
	n := 0
	for m := range msgs.Messages() {
		n++
		_, err := s.Process(ctx, m)
		assert.ErrorIs(t, err, errMalformed)
	}
	require.Equal(t, 3, n)
	assert.Zero(t, count(t, s, `SELECT COUNT(*) FROM processed_events`))
	assert.Zero(t, count(t, s, `SELECT COUNT(*) FROM shipments`))
}
