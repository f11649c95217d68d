// Package e2e holds the example server's end-to-end tests: the server of
// package app over real HTTP, its sandbox PGs called through it, on SQLite
// and MariaDB, every answer checked against the OpenAPI document and every
// scenario against the invariants of paygate's design (no double charge, no
// orphan, ledger = PG, exactly-once effects, nothing stuck silently, refunds
// within the capture, the order's amount). A crash test runs the server
// binary as a child process, kills it mid-flight and proves every payment
// converges after a restart; another runs three instances on one MariaDB
// and kills them in turn; another publishes the events to an embedded NATS
// JetStream server (PAYGATE_NATS_URL) that is restarted while the server is
// killed, and reads every event once.
//
// Run them with
//
//	go test -race ./examples/server/e2e/
//
// MariaDB is found through PAYGATE_TEST_MYSQL_DSN (see store/storetest);
// -short skips the tests that run processes.
package e2e
