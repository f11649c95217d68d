package idempotency_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/idemstore"
)

// openExampleDB opens a migrated SQLite database in a temporary directory.
func openExampleDB() (db *store.DB, cleanup func()) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "paygate-example")
	if err != nil {
		log.Fatal(err)
	}
	db, err = store.Open(ctx, "sqlite:"+filepath.Join(dir, "paygate.db"))
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	return db, func() { db.Close(); os.RemoveAll(dir) }
}

// The middleware on a route that requires a key: the second request with the
// same key and body gets the stored response, and the handler runs once.
func ExampleManager_Require() {
	db, cleanup := openExampleDB()
	defer cleanup()

	keys, err := idempotency.New(idempotency.Config{
		Store: idemstore.NewKeys(db),
		Scope: func(r *http.Request) string { return r.Header.Get("X-Api-Key-Id") },
	})
	if err != nil {
		log.Fatal(err)
	}
	runs := 0
	approve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs++
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"success":true,"paymentId":"pay_1","status":"APPROVED"}`)
	})
	mux := http.NewServeMux()
	mux.Handle("POST /payments/approve", keys.Require(approve))

	for _, key := range []string{`"8e03978e-40d5"`, `"8e03978e-40d5"`, ""} {
		req := httptest.NewRequest(http.MethodPost, "/payments/approve", strings.NewReader(`{"orderId":"o-1","amount":15000}`))
		if key != "" {
			req.Header.Set(idempotency.HeaderKey, key)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get(idempotency.HeaderReplayed), rec.Body.String())
	}
	fmt.Println("handler runs:", runs)
	// Output:
	// 200  {"success":true,"paymentId":"pay_1","status":"APPROVED"}
	// 200 true {"success":true,"paymentId":"pay_1","status":"APPROVED"}
	// 400  {"success":false,"error":{"code":"IDEMPOTENCY_KEY_MISSING","message":"this request requires an Idempotency-Key header"}}
	// handler runs: 1
}

// Do for a queue consumer: a redelivered message returns the stored result
// and the work is not done twice.
func ExampleManager_Do() {
	db, cleanup := openExampleDB()
	defer cleanup()
	keys, err := idempotency.New(idempotency.Config{Store: idemstore.NewKeys(db)})
	if err != nil {
		log.Fatal(err)
	}
	msg := []byte(`{"eventId":"evt_1","eventType":"ORDER_CREATED","amount":15000}`)
	for range 2 {
		res, err := keys.Do(context.Background(), "settlement", "evt_1", msg, func(ctx context.Context) ([]byte, error) {
			fmt.Println("recording the ledger entry")
			return []byte("entry-1"), nil
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(string(res.Value), res.Replayed)
	}
	// Output:
	// recording the ledger entry
	// entry-1 false
	// entry-1 true
}

// A handler completes the key in its own transaction, so the business change
// and the stored response commit together or not at all.
func ExampleHandle_CompleteTx() {
	db, cleanup := openExampleDB()
	defer cleanup()
	if _, err := db.SQL().Exec("CREATE TABLE orders (order_id TEXT PRIMARY KEY)"); err != nil {
		log.Fatal(err)
	}
	keys, err := idempotency.New(idempotency.Config{Store: idemstore.NewKeys(db)})
	if err != nil {
		log.Fatal(err)
	}
	create := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := []byte(`{"success":true,"orderId":"o-7"}`)
		hdr := http.Header{"Content-Type": {"application/json"}}
		err := db.InTx(r.Context(), func(ctx context.Context, tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO orders (order_id) VALUES ('o-7')"); err != nil {
				return err
			}
			return idempotency.FromContext(r.Context()).CompleteTx(ctx, tx, http.StatusCreated, hdr, body)
		})
		if err != nil {
			http.Error(w, "failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(body)
	})
	h := keys.Require(create)
	for range 2 {
		req := httptest.NewRequest(http.MethodPost, "/orders", strings.NewReader(`{"orderId":"o-7"}`))
		req.Header.Set(idempotency.HeaderKey, "order-o-7")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get(idempotency.HeaderReplayed), rec.Body.String())
	}
	// Output:
	// 201  {"success":true,"orderId":"o-7"}
	// 201 true {"success":true,"orderId":"o-7"}
}
