package idemstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/idemstore"
)

// The key store behind an idempotency.Manager: the first call with a key
// does the work and stores its result under the key; a repeat gets the
// stored result.
func ExampleNewKeys() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "paygate-example")
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "paygate.db")) // or "mysql:..."
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil { // creates idempotency_keys
		fmt.Println(err)
		return
	}

	keys := idemstore.NewKeys(db)
	m, err := idempotency.New(idempotency.Config{Store: keys})
	if err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		res, err := m.Do(ctx, "shipping", "order-1", []byte("order-1"), func(ctx context.Context) ([]byte, error) {
			fmt.Println("booking the courier")
			return []byte("parcel-7"), nil
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(string(res.Value), "replayed:", res.Replayed)
	}
	// Output:
	// booking the courier
	// parcel-7 replayed: false
	// parcel-7 replayed: true
}
