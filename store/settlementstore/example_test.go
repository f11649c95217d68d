package settlementstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/settlementstore"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "paygate-example")
	defer os.RemoveAll(dir)
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "paygate.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil { // creates settlement_entries with every other table
		fmt.Println(err)
		return
	}
	ledger := settlement.NewLedger(settlementstore.New(db))

	// A sale of 15,000 won at 3.2% + VAT, recorded in the transaction that
	// handles the approval; recording it again changes nothing.
	soldAt := time.Date(2026, 3, 2, 10, 0, 0, 0, settlement.Seoul)
	sale, _ := settlement.Sale(settlement.RateFee{Rate: decimal.RequireFromString("0.032")},
		"tosspay", pg.MethodCard, pg.Won(15000), soldAt, 2)
	for range 2 {
		err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			inserted, err := ledger.Record(ctx, tx, &settlement.Record{
				SourceKey: "sale:pay_1", PaymentID: "pay_1", OrderID: "order-1", PG: "tosspay",
				Method: string(pg.MethodCard), Entry: sale, BusinessDate: soldAt,
			})
			fmt.Println("recorded:", inserted)
			return err
		})
		if err != nil {
			fmt.Println(err)
			return
		}
	}

	days, _ := ledger.Daily(ctx, soldAt, soldAt)
	for _, d := range days {
		fmt.Println(d.PG, d.Day, "sales", d.Sales, "fees", d.Fees, "net", d.Net)
	}
	// Output:
	// recorded: true
	// recorded: false
	// tosspay 2026-03-02 sales 15000 fees 528 net 14472
}
