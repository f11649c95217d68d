package webhook

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"time"

	"github.com/paygate/paygate/pg"
)

// Delivery is one recorded notification.
type Delivery struct {
	// ID is paygate's id of the delivery ("whk_" and a UUIDv7).
	ID       string
	PG       string
	DedupKey string
	// Event is the verified, normalised event the effect received, with
	// secrets (Payment.Secret) cleared. Replay hands it to the effect again.
	Event pg.WebhookEvent
	// Header and Body are the delivery as received, with secrets masked
	// (see Config.RedactHeader and Config.RedactBody).
	Header http.Header
	Body   []byte
	// BodySHA256 is the hex digest of the body exactly as received, before
	// masking.
	BodySHA256 string
	RemoteAddr string
	ReceivedAt time.Time
	// ReplayCount and ReplayedAt record operator replays.
	ReplayCount int
	ReplayedAt  time.Time
}

// Errors a Store returns for the intake to branch on.
var (
	// ErrDuplicate is returned (possibly wrapped) by Store.InsertTx when a
	// delivery with the same (pg, dedup key) is recorded already.
	ErrDuplicate = errors.New("webhook: duplicate delivery")
	// ErrNotFound is returned (possibly wrapped) for an unknown delivery id.
	ErrNotFound = errors.New("webhook: no such delivery")
)

// Store records deliveries. store/webhookstore implements it; *store.DB's InTx
// is the transaction runner.
type Store interface {
	// InTx runs fn in a transaction, committing when fn returns nil and
	// rolling back otherwise. It may run fn again after a transient
	// database error (deadlock, lock wait timeout, busy), so fn must be
	// re-runnable.
	InTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error
	// InsertTx records d in tx. It returns an error wrapping ErrDuplicate
	// when (d.PG, d.DedupKey) is recorded already (or is being recorded by
	// a concurrent transaction that then commits); it never overwrites.
	InsertTx(ctx context.Context, tx *sql.Tx, d Delivery) error
	// LockTx reads a delivery in tx and locks it against concurrent
	// replays until tx ends; ErrNotFound (wrapped) for an unknown id.
	LockTx(ctx context.Context, tx *sql.Tx, id string) (Delivery, error)
	// MarkReplayedTx counts one replay of the delivery, at at.
	MarkReplayedTx(ctx context.Context, tx *sql.Tx, id string, at time.Time) error
	// Get reads a delivery; ErrNotFound (wrapped) for an unknown id.
	Get(ctx context.Context, id string) (Delivery, error)
}

// PaymentLog is implemented by a Store that can list the events recorded for
// one payment. With it the intake recognises a delivery confirmed by lookup
// (pg.WebhookEvent.ByLookup) whose news a verified delivery of the payment
// brought already, and records nothing for it; without it such a delivery
// is deduplicated by the PG's answer alone.
type PaymentLog interface {
	// PaymentEventsTx returns, in tx, the events of the deliveries recorded
	// for (pgName, paymentKey), the latest ones first, at most a few
	// hundred.
	PaymentEventsTx(ctx context.Context, tx *sql.Tx, pgName, paymentKey string) ([]pg.WebhookEvent, error)
}
