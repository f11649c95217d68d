package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
)

func ctxT(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newPayment(orderID string) *store.Payment {
	return &store.Payment{
		ID:      store.NewPaymentID(),
		PG:      "tosspay",
		OrderID: orderID,
		Amount:  pg.Won(15000),
		Status:  pg.StatusApproving,
	}
}

func newEvent(p *store.Payment, typ string) *store.Event {
	id := store.NewEventID()
	payload, _ := json.Marshal(map[string]any{
		"eventId": id, "eventType": typ, "paymentId": p.ID, "orderId": p.OrderID,
		"amount": json.Number(p.Amount.Amount().String()), "currency": string(p.Amount.Currency()), "pg": p.PG,
		"occurredAt": time.Now().UTC().Format(time.RFC3339Nano),
	})
	return &store.Event{ID: id, PaymentID: p.ID, OrderID: p.OrderID, Type: typ, Payload: payload}
}

// tx runs fn in a transaction and fails the test on error.
func tx(t testing.TB, db *store.DB, fn func(ctx context.Context, tx *sql.Tx) error) {
	t.Helper()
	require.NoError(t, db.InTx(ctxT(t), fn))
}

func insertPayment(t testing.TB, db *store.DB, p *store.Payment) {
	t.Helper()
	tx(t, db, func(ctx context.Context, tx *sql.Tx) error { return db.InsertPayment(ctx, tx, p) })
}

func count(t testing.TB, db *store.DB, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.SQL().QueryRowContext(ctxT(t), query, args...).Scan(&n))
	return n
}

func orderID(t testing.TB) string {
	return fmt.Sprintf("order-%d", time.Now().UnixNano())
}
