package webhookstore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/webhookstore"
	"github.com/paygate/paygate/webhook"
)

// The delivery log behind a webhook.Intake (webhook.Config.Store): a
// delivery is recorded in the transaction that applies it, once per PG and
// dedup key, and an operator's timeline lists a payment's deliveries.
func ExampleNew() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "paygate-example")
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "paygate.db")) // or "mysql:..."
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil { // creates webhook_deliveries
		fmt.Println(err)
		return
	}

	log := webhookstore.New(db)
	d := webhook.Delivery{
		ID: "whk_1", PG: "tosspay", DedupKey: "whtrans_1",
		Event: pg.WebhookEvent{PG: "tosspay", Type: pg.WebhookPaymentStatus, DedupKey: "whtrans_1",
			PaymentKey: "tgen_1", OrderID: "order-1", Status: pg.StatusCanceled, Amount: pg.Won(15000)},
		Header: http.Header{}, Body: []byte(`{"status":"CANCELED"}`),
	}
	for _, id := range []string{"whk_1", "whk_2"} { // the PG sends it twice
		d.ID = id
		err := log.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			if err := log.InsertTx(ctx, tx, d); err != nil {
				return err
			}
			// ... apply the event in the same transaction ...
			return nil
		})
		fmt.Println(id, "duplicate:", errors.Is(err, webhook.ErrDuplicate))
	}

	list, err := log.ByPayment(ctx, "tosspay", "tgen_1")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range list {
		fmt.Println(d.ID, d.Event.OrderID, d.Event.Status, d.Event.Amount)
	}
	// Output:
	// whk_1 duplicate: false
	// whk_2 duplicate: true
	// whk_1 order-1 CANCELED 15000 KRW
}
