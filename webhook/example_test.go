package webhook_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/webhookstore"
	"github.com/paygate/paygate/webhook"
)

// The intake mounted at POST /webhooks/{pg}: a delivery is verified by the
// PG's adapter, recorded and applied once; the PG's retry of the same
// delivery is acknowledged without a second effect.
func ExampleIntake() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "paygate-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "paygate.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	// testPG stands in for an adapter such as tosspay: it verifies the
	// delivery with the payment's secret and normalises it.
	registry, err := pg.NewRegistry(&testPG{name: "testpg"})
	if err != nil {
		log.Fatal(err)
	}
	intake, err := webhook.New(webhook.Config{
		Registry: registry,
		Store:    webhookstore.New(db),
		Effect: func(ctx context.Context, tx *sql.Tx, ev pg.WebhookEvent) error {
			fmt.Printf("order %s is now %s\n", ev.OrderID, ev.Status)
			return nil
		},
		Secret: func(ctx context.Context, pgName, paymentKey, orderID string) (string, bool) {
			return "ps_secret_1", paymentKey == "pk_1"
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/{pg}", intake)

	body, _ := json.Marshal(notification{ID: "wh-1", PaymentKey: "pk_1", OrderID: "o-1", Status: "CANCELED", Amount: 15000, Secret: "ps_secret_1"})
	for range 2 {
		req := httptest.NewRequest(http.MethodPost, "/webhooks/testpg", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Test-Signature", sign("ps_secret_1", body))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code)
	}
	// Output:
	// order o-1 is now CANCELED
	// 200
	// 200
}
