package idempotency

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Handle is a claim on one key, held by the request (or Do call) that is
// running. The middleware and Do put it in the context they run the handler
// with; FromContext gets it back.
type Handle struct {
	m                 *Manager
	scope, key, token string

	mu         sync.Mutex
	leaseUntil time.Time
}

type handleKey struct{}

func (m *Manager) newHandle(rec Record) *Handle {
	return &Handle{m: m, scope: rec.Scope, key: rec.Key, token: rec.Token, leaseUntil: rec.LeaseUntil}
}

func withHandle(ctx context.Context, h *Handle) context.Context {
	return context.WithValue(ctx, handleKey{}, h)
}

// FromContext returns the claim the middleware or Do is running under, or
// nil when ctx carries none. The methods of a nil *Handle return ErrNoHandle.
func FromContext(ctx context.Context) *Handle {
	h, _ := ctx.Value(handleKey{}).(*Handle)
	return h
}

// Key returns the idempotency key.
func (h *Handle) Key() string {
	if h == nil {
		return ""
	}
	return h.key
}

// Scope returns the stored scope (for HTTP: caller scope, method and route).
func (h *Handle) Scope() string {
	if h == nil {
		return ""
	}
	return h.scope
}

// CompleteTx stores the response in the caller's transaction, so the
// response is stored if and only if the caller's business change commits:
// there is no moment at which the change exists and the key does not know
// its answer. It composes with store.InTx:
//
//	err := db.InTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
//		if err := insertPayment(ctx, tx, p); err != nil {
//			return err
//		}
//		return idempotency.FromContext(r.Context()).CompleteTx(ctx, tx, http.StatusOK, hdr, body)
//	})
//
// Only the configured StoredHeaders of header are kept. Once the transaction
// commits, the stored response is what the middleware sends, to this client
// and on every replay; the handler should write the same response.
//
// It returns an error wrapping ErrLeaseLost when the claim was taken over;
// the caller must then roll its transaction back. If the transaction rolls
// back for any reason, nothing is stored and the middleware records what the
// handler writes, as if CompleteTx had not been called. A retried
// transaction (store.InTx after a deadlock) may call it again.
func (h *Handle) CompleteTx(ctx context.Context, tx *sql.Tx, status int, header http.Header, body []byte) error {
	if h == nil {
		return ErrNoHandle
	}
	if status < 100 || status > 999 {
		return fmt.Errorf("idempotency: complete key %q: invalid status %d", h.key, status)
	}
	return h.completeTx(ctx, tx, Response{Status: status, Header: h.m.storedHeader(header), Body: body})
}

// CompleteResultTx is CompleteTx for Do: it stores value as the result Do
// returns, in the caller's transaction.
func (h *Handle) CompleteResultTx(ctx context.Context, tx *sql.Tx, value []byte) error {
	if h == nil {
		return ErrNoHandle
	}
	return h.completeTx(ctx, tx, Response{Body: value})
}

func (h *Handle) completeTx(ctx context.Context, tx *sql.Tx, resp Response) error {
	if tx == nil {
		return fmt.Errorf("idempotency: complete key %q: nil transaction", h.key)
	}
	if len(resp.Body) > h.m.cfg.MaxResponseBytes {
		return fmt.Errorf("idempotency: complete key %q: response of %d bytes exceeds the %d-byte limit",
			h.key, len(resp.Body), h.m.cfg.MaxResponseBytes)
	}
	now := h.m.cfg.Now()
	ok, err := h.m.cfg.Store.CompleteTx(ctx, tx, Completion{
		Scope: h.scope, Key: h.key, Token: h.token, Response: resp,
		CompletedAt: now, ExpiresAt: now.Add(h.m.cfg.TTL),
	})
	if err != nil {
		return fmt.Errorf("idempotency: complete key %q: %w", h.key, err)
	}
	if !ok {
		return fmt.Errorf("idempotency: complete key %q: %w", h.key, ErrLeaseLost)
	}
	return nil
}

func (h *Handle) lease() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.leaseUntil
}

func (h *Handle) setLease(t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.leaseUntil = t
}

// keepAlive renews the lease every Heartbeat until stop is called. If the
// lease cannot be kept (the row was taken over, or the store was unreachable
// until the lease ran out) it cancels the run with cause ErrLeaseLost, so the
// handler stops working on a key that may now be another request's. stop
// waits for the renewing goroutine to end.
func (h *Handle) keepAlive(parent context.Context, cancel context.CancelCauseFunc) (stop func()) {
	m := h.m
	ctx, stopCtx := context.WithCancel(context.WithoutCancel(parent))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(m.cfg.Heartbeat)
		defer t.Stop()
		giveUp := func(reason string, err error) {
			m.cfg.Logger.Error("idempotency: "+reason+"; canceling the request", "scope", h.scope, "key", h.key, "err", err)
			cancel(ErrLeaseLost)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			lease := m.cfg.Now().Add(m.cfg.Lease)
			ok, err := m.cfg.Store.Extend(ctx, h.scope, h.key, h.token, lease)
			if ctx.Err() != nil {
				return
			}
			if err == nil && ok {
				h.setLease(lease)
				continue
			}
			if err == nil {
				// Not in flight under our token any more: completed in
				// the handler's own transaction (nothing left to keep),
				// or taken over.
				cur, gerr := m.cfg.Store.Get(ctx, h.scope, h.key)
				if ctx.Err() != nil {
					return
				}
				switch {
				case gerr == nil && cur.Token == h.token && cur.State == StateCompleted:
					return
				case gerr == nil || errors.Is(gerr, ErrNotFound):
					giveUp("lost the claim on the key", ErrLeaseLost)
					return
				}
				err = gerr
			}
			if !m.cfg.Now().Before(h.lease()) {
				giveUp("could not renew the lease before it ran out", err)
				return
			}
			m.cfg.Logger.Warn("idempotency: renew lease", "scope", h.scope, "key", h.key, "err", err)
		}
	}()
	return func() {
		stopCtx()
		<-done
	}
}
