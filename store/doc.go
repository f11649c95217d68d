// Package store is paygate's persistence: the schema and its migrations for
// MySQL/MariaDB (production) and SQLite (the embedded default), transactions
// with retry, and the repositories the payment flow uses.
//
// The smallest use:
//
//	db, err := store.Open(ctx, "sqlite:./data/paygate.db") // or "mysql:user:pw@tcp(host:3306)/paygate"
//	if err != nil { ... }
//	defer db.Close()
//	if err := db.Migrate(ctx); err != nil { ... }
//	err = db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
//		p := &store.Payment{ID: store.NewPaymentID(), ...}
//		if err := db.InsertPayment(ctx, tx, p); err != nil {
//			return err
//		}
//		return db.ClaimOrder(ctx, tx, p.OrderID, p.ID) // ErrOrderClaimed if another payment holds it
//	})
//
// # Transactions
//
// Every state change goes through DB.InTx, which retries the whole function
// on deadlocks, lock wait timeouts, SQLite busy errors and dropped
// connections; the function must be re-runnable (see InTx). Whatever works
// inside a transaction takes the caller's *sql.Tx explicitly, so a state
// change, its event and its dedup row commit together: writes
// (InsertPayment), locking reads (LockPayment), and the Tx form of every
// read. A read has two forms: PaymentByID(ctx, id) reads the pool,
// PaymentByIDTx(ctx, tx, id) reads in tx and sees what tx wrote.
//
// # The other packages' stores
//
// Packages that own an interface for what they keep (the Go way: the
// consumer defines it) find it implemented on DB in a package of its own:
//
//	store/idemstore        idempotency.Store: Idempotency-Keys
//	store/webhookstore     webhook.Store: the webhook delivery log
//	store/sagastore        saga instances, their steps and the outbox
//	store/settlementstore  settlement.Store: the settlement ledger
//
// store/storetest gives each test a fresh, migrated database on SQLite and
// MySQL/MariaDB.
//
// # Errors
//
// Repositories return errors wrapped with what they were doing
// ("store: claim order \"o-1\": ..."); callers branch with errors.Is on the
// sentinels ErrNotFound, ErrOrderClaimed, ErrConflict, ErrDuplicate and
// ErrInvalid, and on raw driver errors with IsUniqueViolation and
// IsRetryable.
//
// # Migrations
//
// Migrations are SQL files embedded per dialect, migrations/mysql/NNNN_name.sql
// and migrations/sqlite/NNNN_name.sql, applied by DB.Migrate in version order
// and recorded with a checksum in paygate_schema_migrations. store owns the
// tables of every paygate package, so what Migrate creates never depends on
// which packages a program imports. Add a version in both dialects; never
// edit an applied file. Version ranges are reserved so tables can be added
// in parallel:
//
//	0001–0099  foundation tables (checkouts, payments, mapping, cancels, events)
//	0100–0199  idempotency keys and the webhook log
//	0200–0299  saga instances, steps and the outbox
//	0300–0399  settlement ledger
//	0400–0499  payment flow (cancel times, the lookup schedule)
//	0900–0999  a host's own tables (WithMigrations)
//
// A host that keeps its own tables in the same database ships files in the
// same layout and passes them to Migrate explicitly:
//
//	err := db.Migrate(ctx, store.WithMigrations("shop", shopMigrations))
//
// A file may hold several statements. By default a statement ends at a line
// whose last non-blank character is ";". A file that needs semicolons inside
// a statement (SQLite triggers) instead starts each statement with a line
// "-- +statement"; once a file uses that marker, only markers split it.
// On MySQL, DDL commits implicitly, so a file that fails halfway leaves its
// earlier statements applied and is retried from the top next time: write
// CREATE TABLE IF NOT EXISTS and keep indexes inside CREATE TABLE.
//
// # Money and time
//
// Amounts are stored as BIGINT/INTEGER minor units of the row's currency
// (won for KRW, cents for USD) next to a currency column. Both dialects then
// hold the same exact integer, SUM() stays exact on SQLite (which has no
// decimal type), and an operator reading a KRW row sees won. Conversion to
// and from decimal amounts refuses fractions the currency does not have and
// values that overflow, instead of rounding.
//
// Times are stored in UTC to the microsecond and returned in UTC.
package store
