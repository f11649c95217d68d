package natsrelay_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/outbox/natsrelay"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/sagastore"
)

// exampleServer starts a JetStream server for an example; in production the
// relay connects to the NATS cluster the host runs.
func exampleServer() (url string, stop func()) {
	dir, err := os.MkdirTemp("", "natsrelay-example")
	if err != nil {
		panic(err)
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		panic("NATS server did not start")
	}
	return srv.ClientURL(), func() { srv.Shutdown(); srv.WaitForShutdown(); os.RemoveAll(dir) }
}

// Wiring the relay into an outbox: one constructor, one subscriber. Every
// event emitted from then on reaches the stream.
func ExampleNew() {
	url, stopServer := exampleServer()
	defer stopServer()
	ctx := context.Background()

	dir, _ := os.MkdirTemp("", "natsrelay-example-db")
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "paygate.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		panic(err)
	}

	// Reconnect for as long as it takes: the outbox keeps the events
	// meanwhile and the relay fails until the connection is back.
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	relay, err := natsrelay.New(ctx, nc, natsrelay.Config{}) // stream PAYGATE_EVENTS, subjects paygate.events.>
	if err != nil {
		panic(err)
	}
	ob := outbox.New(sagastore.New(db), outbox.Config{})
	if err := ob.Subscribe(relay.Subscriber()); err != nil { // with paygate: Config.Subscribers
		panic(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- ob.Run(runCtx) }()
	defer func() { stop(); <-done }()

	err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := ob.Emit(ctx, tx, outbox.Event{
			ID: "ev-1", Type: "PAYMENT_APPROVED", Key: "pay_1",
			Payload:    []byte(`{"eventId":"ev-1","eventType":"PAYMENT_APPROVED","paymentId":"pay_1"}`),
			OccurredAt: time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC),
		})
		return err
	})
	if err != nil {
		panic(err)
	}

	// Somewhere downstream:
	js, _ := jetstream.New(nc)
	c, err := js.CreateOrUpdateConsumer(ctx, relay.Stream(), jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		panic(err)
	}
	msgs, err := c.Fetch(1, jetstream.FetchMaxWait(30*time.Second))
	if err != nil {
		panic(err)
	}
	for m := range msgs.Messages() {
		h := m.Headers()
		fmt.Println(m.Subject())
		fmt.Println(h.Get(jetstream.MsgIDHeader), h.Get(natsrelay.HeaderEventType), h.Get(natsrelay.HeaderEventKey), h.Get(natsrelay.HeaderOccurredAt))
		fmt.Println(string(m.Data()))
		_ = m.Ack()
	}
	// Output:
	// paygate.events.PAYMENT_APPROVED
	// ev-1 PAYMENT_APPROVED pay_1 2026-03-01T00:30:00Z
	// {"eventId":"ev-1","eventType":"PAYMENT_APPROVED","paymentId":"pay_1"}
}

// A downstream service reads the stream with a durable consumer and
// deduplicates by event id. Here the outbox publishes a batch twice (it
// could not record the first publish); JetStream's duplicate window drops
// the copies. The consumer deduplicates all the same, because the window
// does not cover everything: a republish after the window (an outage
// longer than it) is stored again, and the consumer itself gets a message
// again when its ack is lost, its AckWait runs out or it restarts between
// its effect and its ack. In a real service the processed ids live in the
// service's database, written in the transaction of the effect (see
// examples/consumer).
func Example_consumer() {
	url, stopServer := exampleServer()
	defer stopServer()
	ctx := context.Background()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	relay, err := natsrelay.New(ctx, nc, natsrelay.Config{})
	if err != nil {
		panic(err)
	}

	var batch []outbox.Delivery
	for i, typ := range []string{"PAYMENT_APPROVED", "ORDER_CREATED", "ORDER_CREATED"} {
		batch = append(batch, outbox.Delivery{Event: outbox.Event{
			ID: fmt.Sprintf("ev-%d", i+1), Type: typ, Key: fmt.Sprintf("pay_%d", i%2+1), Payload: []byte(`{}`),
		}})
	}
	for range 2 {
		if err := relay.Publish(ctx, batch); err != nil {
			panic(err)
		}
	}

	js, _ := jetstream.New(nc)
	s, _ := js.Stream(ctx, relay.Stream())
	info, _ := s.Info(ctx)
	fmt.Println("messages in the stream:", info.State.Msgs)

	// A durable consumer remembers its position across restarts; this one
	// only wants created orders.
	c, err := js.CreateOrUpdateConsumer(ctx, relay.Stream(), jetstream.ConsumerConfig{
		Durable:       "shipping",
		FilterSubject: relay.Subject("ORDER_CREATED"),
		AckPolicy:     jetstream.AckExplicitPolicy,
	})
	if err != nil {
		panic(err)
	}
	processed := map[string]bool{}
	msgs, err := c.Fetch(2, jetstream.FetchMaxWait(30*time.Second))
	if err != nil {
		panic(err)
	}
	for m := range msgs.Messages() {
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if !processed[id] {
			processed[id] = true
			fmt.Println("ship the order of", m.Headers().Get(natsrelay.HeaderEventKey), "for", id)
		}
		_ = m.Ack()
	}
	// Output:
	// messages in the stream: 3
	// ship the order of pay_2 for ev-2
	// ship the order of pay_1 for ev-3
}
