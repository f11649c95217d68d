// Package outbox is a transactional outbox: events written in the
// transaction that made them true, delivered to subscribers at least once —
// exactly once in effect for a subscriber that only writes to the database.
//
//	ob := outbox.New(sagastore.New(db), outbox.Config{})
//	_ = ob.Subscribe(outbox.Subscriber{Name: "settlement", Types: []string{"ORDER_CREATED"}, Handle: record})
//	go ob.Run(ctx)
//
//	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
//		// ... the state change the event reports ...
//		_, err := ob.Emit(ctx, tx, outbox.Event{Type: "ORDER_CREATED", Key: paymentID, Payload: body})
//		return err
//	})
//
// How it keeps its promises:
//
//   - Emit writes the event and one pending delivery row per subscriber
//     registered for its type in the caller's transaction: they exist if
//     and only if the state change commits.
//   - Deliveries are rows per (event, subscriber), claimed in batches with
//     SELECT … FOR UPDATE SKIP LOCKED and leased, never "everything after
//     the last id seen": an event whose transaction commits late is still
//     delivered. Any number of processes run dispatchers against one
//     database.
//   - A subscriber's Handler runs in the transaction that marks its
//     delivery done, so its database writes and the delivery's completion
//     commit together. Failures are retried under the subscriber's Policy
//     and parked as dead after MaxAttempts (or at once for a Permanent
//     error), for Outbox.Deliveries and Outbox.Redeliver.
//   - An Ordered subscriber gets the events of one key in emission order.
//   - A Relay forwards events to an external broker instead, at least
//     once (outbox/natsrelay publishes to NATS JetStream).
//
// The files follow those parts: outbox.go (Outbox, Config, Emit, Run),
// subscriber.go (Subscriber, Handler, Delivery, Policy), dispatch.go (claim,
// handle, record the outcome), relay.go (Relay), operator.go (Deliveries,
// Redeliver), store.go (the Store it needs).
//
// The package imports nothing else of paygate but what it shares with saga's
// Runner (internal/claimloop, internal/retry): it defines the Store it
// needs, which store/sagastore implements on MySQL/MariaDB and SQLite.
package outbox
