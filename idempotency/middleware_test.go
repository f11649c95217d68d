package idempotency_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/idempotency"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/idemstore"
	"github.com/paygate/paygate/store/storetest"
)

// approveBody is a response body with bytes a text-minded layer would
// mangle: no trailing newline normalisation, a NUL, invalid UTF-8.
var approveBody = []byte("{\"success\":true,\"paymentId\":\"pay_1\",\"status\":\"APPROVED\"}\n\x00\xff")

// countingHandler answers approveBody and counts its runs.
func countingHandler(runs *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Location", "/payments/pay_1")
		w.Header().Set("X-Request-Id", fmt.Sprint(runs.Load()))
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "per-client"})
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(approveBody)
	})
}

func TestMiddleware_FiftyConcurrentSameKey_HandlerRunsOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, nil)
		var runs atomic.Int64
		release, free := gate()
		defer free() // a failing test must not leave handlers blocked
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			runs.Add(1)
			<-release
			countingHandler(new(atomic.Int64)).ServeHTTP(w, r)
		})
		srv := serve(t, m.Require(h))
		body := []byte(`{"orderId":"o-1","amount":15000}`)

		const n = 50
		replies := make(chan reply, n)
		var conflicts atomic.Int64
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				r, err := post(t, context.Background(), srv.URL, body, "k-50")
				if !assert.NoError(t, err) {
					return
				}
				if r.Status == http.StatusConflict {
					conflicts.Add(1)
				}
				replies <- r
			})
		}
		// While the first runs, every other caller is told 409.
		eventually(t, "49 callers were answered 409", func() bool { return conflicts.Load() == n-1 })
		free()
		wg.Wait()
		close(replies)

		var created, conflict int
		for r := range replies {
			switch r.Status {
			case http.StatusCreated:
				created++
				assert.Equal(t, approveBody, r.Body)
			case http.StatusConflict:
				conflict++
				assert.Equal(t, idempotency.CodeKeyInUse, r.errorCode(t))
				assert.Equal(t, "1", r.Header.Get("Retry-After"))
			default:
				t.Errorf("unexpected status %d: %s", r.Status, r.Body)
			}
		}
		assert.Equal(t, 1, created)
		assert.Equal(t, n-1, conflict)
		assert.EqualValues(t, 1, runs.Load())

		// After completion, 50 concurrent repeats all get the stored answer.
		var again sync.WaitGroup
		for range n {
			again.Go(func() {
				r, err := post(t, context.Background(), srv.URL, body, "k-50")
				if assert.NoError(t, err) {
					assert.Equal(t, http.StatusCreated, r.Status)
					assert.Equal(t, approveBody, r.Body)
					assert.Equal(t, "true", r.Header.Get(idempotency.HeaderReplayed))
				}
			})
		}
		again.Wait()
		assert.EqualValues(t, 1, runs.Load())
		assert.Equal(t, 1, countKeys(t, db))
	})
}

func TestMiddleware_Repeat_ReplaysStoredResponseByteForByte(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, nil)
		var runs atomic.Int64
		srv := serve(t, m.Require(countingHandler(&runs)))
		body := []byte(`{"orderId":"o-2","amount":15000}`)

		first := mustPost(t, srv.URL, body, "k-replay")
		require.Equal(t, http.StatusCreated, first.Status)
		assert.Empty(t, first.Header.Get(idempotency.HeaderReplayed))
		assert.NotEmpty(t, first.Header.Get("Set-Cookie"), "the first answer carries everything the handler set")

		second := mustPost(t, srv.URL, body, "k-replay")
		assert.Equal(t, first.Status, second.Status)
		assert.Equal(t, first.Body, second.Body, "body byte for byte")
		assert.Equal(t, "true", second.Header.Get(idempotency.HeaderReplayed))
		assert.Equal(t, "application/json", second.Header.Get("Content-Type"))
		assert.Equal(t, "/payments/pay_1", second.Header.Get("Location"))
		assert.Empty(t, second.Header.Get("Set-Cookie"), "per-client headers are not replayed")
		assert.Empty(t, second.Header.Get("X-Request-Id"), "headers outside StoredHeaders are not replayed")
		assert.EqualValues(t, 1, runs.Load())

		// The structured-field form of the same key is the same key.
		third := mustPost(t, srv.URL, body, `"k-replay"`)
		assert.Equal(t, first.Body, third.Body)
		assert.Equal(t, "true", third.Header.Get(idempotency.HeaderReplayed))
		assert.EqualValues(t, 1, runs.Load())
	})
}

func TestMiddleware_SameKeyDifferentRequest_422AndNothingChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, nil)
		var runs atomic.Int64
		srv := serve(t, m.Require(countingHandler(&runs)))
		body := []byte(`{"orderId":"o-3","amount":15000}`)
		require.Equal(t, http.StatusCreated, mustPost(t, srv.URL, body, "k-422").Status)

		changed := mustPost(t, srv.URL, []byte(`{"orderId":"o-3","amount":1}`), "k-422")
		assert.Equal(t, http.StatusUnprocessableEntity, changed.Status)
		assert.Equal(t, idempotency.CodeKeyReused, changed.errorCode(t))

		// A different query string is a different request too.
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/payments/approve?dryRun=1", strings.NewReader(string(body)))
		require.NoError(t, err)
		req.Header.Set(idempotency.HeaderKey, "k-422")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)

		assert.EqualValues(t, 1, runs.Load())
		again := mustPost(t, srv.URL, body, "k-422")
		assert.Equal(t, approveBody, again.Body, "the stored response is untouched")
	})
}

func TestMiddleware_MissingKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, nil)
		var runs atomic.Int64
		required := serve(t, m.Require(countingHandler(&runs)))
		optional := serve(t, m.Middleware(countingHandler(&runs)))
		body := []byte(`{}`)

		r := mustPost(t, required.URL, body)
		assert.Equal(t, http.StatusBadRequest, r.Status)
		assert.Equal(t, idempotency.CodeKeyMissing, r.errorCode(t))
		assert.EqualValues(t, 0, runs.Load())

		// Where the key is optional, a request without one runs as usual,
		// every time, and leaves nothing behind.
		for range 2 {
			assert.Equal(t, http.StatusCreated, mustPost(t, optional.URL, body).Status)
		}
		assert.EqualValues(t, 2, runs.Load())
		assert.Zero(t, countKeys(t, db))
	})
}

func TestMiddleware_HostileInput_Clear4xxNothingStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, func(c *idempotency.Config) { c.MaxBodyBytes = 1024 })
		var runs atomic.Int64
		srv := serve(t, m.Require(countingHandler(&runs)))
		huge := []byte(strings.Repeat("x", 1025))

		tests := []struct {
			name    string
			keys    []string
			body    []byte
			chunked bool
			status  int
			code    string
		}{
			{"over-long key", []string{strings.Repeat("k", 256)}, []byte("{}"), false, 400, idempotency.CodeKeyInvalid},
			{"non-ASCII key", []string{"결제-1"}, []byte("{}"), false, 400, idempotency.CodeKeyInvalid},
			{"control character in key", []string{"\"a\tb\""}, []byte("{}"), false, 400, idempotency.CodeKeyInvalid},
			{"empty key", []string{`""`}, []byte("{}"), false, 400, idempotency.CodeKeyInvalid},
			{"two keys", []string{"a", "b"}, []byte("{}"), false, 400, idempotency.CodeKeyInvalid},
			{"huge body with length", []string{"k-huge"}, huge, false, 413, idempotency.CodeTooLarge},
			{"huge body chunked", []string{"k-huge-chunked"}, huge, true, 413, idempotency.CodeTooLarge},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var rd io.Reader = strings.NewReader(string(tt.body))
				if tt.chunked {
					rd = io.MultiReader(rd) // hides the length: sent chunked
				}
				req, err := http.NewRequest(http.MethodPost, srv.URL+"/payments/approve", rd)
				require.NoError(t, err)
				for _, k := range tt.keys {
					req.Header.Add(idempotency.HeaderKey, k)
				}
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				r := reply{Status: resp.StatusCode, Header: resp.Header, Body: b}
				assert.Equal(t, tt.status, r.Status)
				assert.Equal(t, tt.code, r.errorCode(t))
			})
		}
		assert.EqualValues(t, 0, runs.Load())
		assert.Zero(t, countKeys(t, db))
	})
}

func TestMiddleware_ScopesDoNotShareKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, nil)
		var runs atomic.Int64
		srv := serve(t, m.Require(countingHandler(&runs)))
		for _, tenant := range []string{"shop-a", "shop-b"} {
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/payments/approve", strings.NewReader("{}"))
			require.NoError(t, err)
			req.Header.Set(idempotency.HeaderKey, "same-key")
			req.Header.Set("X-Tenant", tenant)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusCreated, resp.StatusCode)
			assert.Empty(t, resp.Header.Get(idempotency.HeaderReplayed))
		}
		assert.EqualValues(t, 2, runs.Load())
	})
}

func TestMiddleware_CrashedHolder_KeyFreeAfterLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const lease = time.Minute
		m, clk := newManager(t, db, func(c *idempotency.Config) { c.Lease = lease })
		var runs atomic.Int64
		srv := serve(t, m.Require(countingHandler(&runs)))
		body := []byte(`{"orderId":"o-crash"}`)

		// Another process claims the key with this very request and dies
		// mid-request: its handler never returns and, once we hand its row
		// to a token nobody holds, nothing renews the claim.
		started := make(chan struct{})
		hang := make(chan struct{})
		defer close(hang)
		crashed := serve(t, mustManager(t, db, clk, lease).Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-hang
		})))
		go func() { _, _ = post(t, context.Background(), crashed.URL, body, "k-crash") }()
		<-started
		res, err := db.SQL().Exec("UPDATE idempotency_keys SET token = 'dead-process' WHERE idem_key = 'k-crash' AND state = 'in_flight'")
		require.NoError(t, err)
		n, err := res.RowsAffected()
		require.NoError(t, err)
		require.EqualValues(t, 1, n)

		r := mustPost(t, srv.URL, body, "k-crash")
		assert.Equal(t, http.StatusConflict, r.Status, "within the lease the key is still held")
		clk.Advance(lease - time.Second)
		assert.Equal(t, http.StatusConflict, mustPost(t, srv.URL, body, "k-crash").Status)

		// A different request cannot take an abandoned key: it was bound to
		// the first request.
		clk.Advance(2 * time.Second)
		assert.Equal(t, http.StatusUnprocessableEntity, mustPost(t, srv.URL, []byte(`{"other":1}`), "k-crash").Status)

		r = mustPost(t, srv.URL, body, "k-crash")
		assert.Equal(t, http.StatusCreated, r.Status, "after the lease the same request takes the key over")
		assert.EqualValues(t, 1, runs.Load())
		assert.Equal(t, "true", mustPost(t, srv.URL, body, "k-crash").Header.Get(idempotency.HeaderReplayed))
	})
}

// gate returns a channel that blocks handlers until free is called; free
// may be called more than once, so tests defer it to unblock handlers when
// they fail early.
func gate() (<-chan struct{}, func()) {
	ch := make(chan struct{})
	var once sync.Once
	return ch, func() { once.Do(func() { close(ch) }) }
}

// mustManager is a second manager on the same clock (another process).
func mustManager(t testing.TB, db *store.DB, clk *clock, lease time.Duration) *idempotency.Manager {
	m, err := idempotency.New(idempotency.Config{
		Store: idemstore.NewKeys(db), Now: clk.Now, Lease: lease, Heartbeat: lease / 3, Logger: quietLogger(t),
	})
	require.NoError(t, err)
	return m
}

func TestMiddleware_RunningRequest_RenewsItsLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, clk := newManager(t, db, func(c *idempotency.Config) {
			c.Lease = time.Minute
			c.Heartbeat = 20 * time.Millisecond // real time between renewals
		})
		var runs atomic.Int64
		release, free := gate()
		defer free()
		srv := serve(t, m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			runs.Add(1)
			<-release
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("done"))
		})))
		body := []byte(`{"orderId":"o-slow"}`)
		firstDone := make(chan reply, 1)
		go func() {
			r, _ := post(t, context.Background(), srv.URL, body, "k-slow")
			firstDone <- r
		}()
		keys := idemstore.NewKeys(db)
		eventually(t, "the first request holds the key", func() bool {
			rec, err := keys.Get(context.Background(), "|POST /payments/approve", "k-slow")
			return err == nil && rec.State == idempotency.StateInFlight
		})

		// Ten leases pass while the handler works: it keeps its key.
		clk.Advance(10 * time.Minute)
		eventually(t, "the lease was renewed past the new time", func() bool {
			rec, err := keys.Get(context.Background(), "|POST /payments/approve", "k-slow")
			return err == nil && rec.LeaseUntil.After(clk.Now())
		})
		assert.Equal(t, http.StatusConflict, mustPost(t, srv.URL, body, "k-slow").Status)

		free()
		first := <-firstDone
		assert.Equal(t, http.StatusOK, first.Status)
		assert.Equal(t, "done", string(mustPost(t, srv.URL, body, "k-slow").Body))
		assert.EqualValues(t, 1, runs.Load())
	})
}

func TestMiddleware_LeaseLost_CancelsHandlerAndStoresNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, func(c *idempotency.Config) {
			c.Lease = time.Minute
			c.Heartbeat = 20 * time.Millisecond
		})
		cause := make(chan error, 1)
		srv := serve(t, m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-r.Context().Done()
			cause <- context.Cause(r.Context())
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("late"))
		})))
		go func() { _, _ = post(t, context.Background(), srv.URL, []byte("{}"), "k-lost") }()
		keys := idemstore.NewKeys(db)
		eventually(t, "the request holds the key", func() bool {
			_, err := keys.Get(context.Background(), "|POST /payments/approve", "k-lost")
			return err == nil
		})
		// Another instance took the key over (its holder stalled past the
		// lease): the row now carries another token.
		_, err := db.SQL().Exec("UPDATE idempotency_keys SET token = 'other-instance' WHERE idem_key = 'k-lost'")
		require.NoError(t, err)

		select {
		case err := <-cause:
			assert.ErrorIs(t, err, idempotency.ErrLeaseLost)
		case <-time.After(30 * time.Second):
			t.Fatal("the handler was not canceled after losing its claim")
		}
		eventually(t, "the stale holder finished", func() bool {
			rec, err := keys.Get(context.Background(), "|POST /payments/approve", "k-lost")
			require.NoError(t, err)
			return rec.Token == "other-instance"
		})
		rec, err := keys.Get(context.Background(), "|POST /payments/approve", "k-lost")
		require.NoError(t, err)
		assert.Equal(t, idempotency.StateInFlight, rec.State, "the stale holder's late response was not stored")
	})
}

func TestMiddleware_ServerError_ReleasesKeyForRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, nil)
		var runs atomic.Int64
		srv := serve(t, m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if runs.Add(1) == 1 {
				http.Error(w, "database restarting", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok"))
		})))
		body := []byte("{}")
		assert.Equal(t, http.StatusServiceUnavailable, mustPost(t, srv.URL, body, "k-5xx").Status)
		assert.Zero(t, countKeys(t, db), "a 5xx is not stored")
		assert.Equal(t, http.StatusOK, mustPost(t, srv.URL, body, "k-5xx").Status)
		r := mustPost(t, srv.URL, body, "k-5xx")
		assert.Equal(t, "true", r.Header.Get(idempotency.HeaderReplayed))
		assert.EqualValues(t, 2, runs.Load())
	})
}

// A handler's refusal of a request that did not run (invalid input, a
// missing credential, an unsupported body) is not the key's answer: the key
// is released, and the corrected request with the same key runs.
func TestMiddleware_ValidationRefusal_NotStoredCorrectedRequestRuns(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden,
		http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				m, _ := newManager(t, db, nil)
				var runs atomic.Int64
				srv := serve(t, m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					runs.Add(1)
					b, _ := io.ReadAll(r.Body)
					if string(b) != `{"ok":true}` {
						http.Error(w, "refused", status)
						return
					}
					w.WriteHeader(http.StatusCreated)
				})))
				assert.Equal(t, status, mustPost(t, srv.URL, []byte(`{"ok":false}`), "k-refused").Status)
				assert.Zero(t, countKeys(t, db), "the refusal is not stored")
				assert.Equal(t, http.StatusCreated, mustPost(t, srv.URL, []byte(`{"ok":true}`), "k-refused").Status,
					"the corrected request with the same key runs (not 422)")
				r := mustPost(t, srv.URL, []byte(`{"ok":true}`), "k-refused")
				assert.Equal(t, "true", r.Header.Get(idempotency.HeaderReplayed))
				assert.EqualValues(t, 2, runs.Load())
			})
		})
	}
	for status, kept := range map[int]bool{http.StatusOK: true, http.StatusNotFound: true, http.StatusConflict: true,
		http.StatusBadRequest: false, http.StatusUnprocessableEntity: false, http.StatusTooManyRequests: false, http.StatusBadGateway: false} {
		assert.Equal(t, kept, idempotency.DefaultKeepStatus(status), "%d", status)
	}
}

func TestMiddleware_HandlerPanic_500KeyReleasedServerAlive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, nil)
		var runs atomic.Int64
		srv := serve(t, m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if runs.Add(1) == 1 {
				w.Header().Set("X-Half-Done", "yes")
				panic("nil map somewhere")
			}
			_, _ = w.Write([]byte("ok"))
		})))
		body := []byte("{}")
		r := mustPost(t, srv.URL, body, "k-panic")
		assert.Equal(t, http.StatusInternalServerError, r.Status)
		assert.Equal(t, idempotency.CodeInternal, r.errorCode(t))
		assert.Empty(t, r.Header.Get("X-Half-Done"), "headers of the panicked run are dropped")
		assert.Zero(t, countKeys(t, db))

		r = mustPost(t, srv.URL, body, "k-panic")
		assert.Equal(t, http.StatusOK, r.Status)
		assert.EqualValues(t, 2, runs.Load())
	})
}

// TestMiddleware_CompleteTx_AtomicWithBusinessChange proves the key and the
// business change commit together: a committed transaction's stored response
// answers (even over what the handler wrote), a rolled-back one leaves
// neither behind.
func TestMiddleware_CompleteTx_AtomicWithBusinessChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		_, err := db.SQL().Exec("CREATE TABLE test_orders (order_id VARCHAR(64) NOT NULL PRIMARY KEY)")
		require.NoError(t, err)
		m, _ := newManager(t, db, nil)
		var runs atomic.Int64
		failCommit := atomic.Bool{}
		failCommit.Store(true)
		srv := serve(t, m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			runs.Add(1)
			stored := []byte(`{"success":true,"orderId":"o-tx"}`)
			err := db.InTx(r.Context(), func(ctx context.Context, tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO test_orders (order_id) VALUES ('o-tx')"); err != nil {
					return err
				}
				hdr := http.Header{"Content-Type": {"application/json"}}
				if err := idempotency.FromContext(r.Context()).CompleteTx(ctx, tx, http.StatusCreated, hdr, stored); err != nil {
					return err
				}
				if failCommit.Load() {
					return errors.New("order service said no after all")
				}
				return nil
			})
			if err != nil {
				http.Error(w, "failed", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("what the handler wrote"))
		})))
		body := []byte(`{"orderId":"o-tx"}`)

		r := mustPost(t, srv.URL, body, "k-tx")
		assert.Equal(t, http.StatusInternalServerError, r.Status)
		var orders int
		require.NoError(t, db.SQL().QueryRow("SELECT COUNT(*) FROM test_orders").Scan(&orders))
		assert.Zero(t, orders, "rolled back")
		assert.Zero(t, countKeys(t, db), "the key was neither completed nor kept")

		failCommit.Store(false)
		r = mustPost(t, srv.URL, body, "k-tx")
		assert.Equal(t, http.StatusCreated, r.Status, "the committed response is the answer")
		assert.Equal(t, `{"success":true,"orderId":"o-tx"}`, string(r.Body))
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))

		replay := mustPost(t, srv.URL, body, "k-tx")
		assert.Equal(t, r.Body, replay.Body)
		assert.Equal(t, "true", replay.Header.Get(idempotency.HeaderReplayed))
		assert.EqualValues(t, 2, runs.Load())
		require.NoError(t, db.SQL().QueryRow("SELECT COUNT(*) FROM test_orders").Scan(&orders))
		assert.Equal(t, 1, orders)
	})
}

func TestHandle_OutsideAClaim_ErrNoHandle(t *testing.T) {
	t.Parallel()
	h := idempotency.FromContext(context.Background())
	assert.Nil(t, h)
	assert.ErrorIs(t, h.CompleteTx(context.Background(), nil, 200, nil, nil), idempotency.ErrNoHandle)
	assert.ErrorIs(t, h.CompleteResultTx(context.Background(), nil, nil), idempotency.ErrNoHandle)
}

// TestMiddleware_ClientSawErrorAfterCommit_RetryReplays is F25 at the HTTP
// level: the response was stored, but the client gave up before it arrived;
// its retry finds the stored row and the handler does not run again.
func TestMiddleware_ClientSawErrorAfterCommit_RetryReplays(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, _ := newManager(t, db, nil)
		var runs atomic.Int64
		entered := make(chan struct{})
		release, free := gate()
		defer free()
		srv := serve(t, m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if runs.Add(1) == 1 {
				close(entered)
				<-release
			}
			_, _ = w.Write([]byte(`{"status":"APPROVED"}`))
		})))
		body := []byte("{}")
		ctx, cancel := context.WithCancel(context.Background())
		clientErr := make(chan error, 1)
		go func() {
			_, err := post(t, ctx, srv.URL, body, "k-f25")
			clientErr <- err
		}()
		<-entered
		cancel() // the client times out
		require.Error(t, <-clientErr)
		free()
		keys := idemstore.NewKeys(db)
		eventually(t, "the abandoned request's response was stored", func() bool {
			rec, err := keys.Get(context.Background(), "|POST /payments/approve", "k-f25")
			return err == nil && rec.State == idempotency.StateCompleted
		})
		r := mustPost(t, srv.URL, body, "k-f25")
		assert.Equal(t, `{"status":"APPROVED"}`, string(r.Body))
		assert.Equal(t, "true", r.Header.Get(idempotency.HeaderReplayed))
		assert.EqualValues(t, 1, runs.Load())
	})
}

// flakyKeys makes chosen writes land and then report an error, as a
// connection that drops after the commit would (F25).
type flakyKeys struct {
	idempotency.Store
	failInsertAfter, failCompleteAfter atomic.Bool
	failInsertBefore                   atomic.Bool
}

var errConnReset = errors.New("read tcp: connection reset by peer")

func (f *flakyKeys) Insert(ctx context.Context, rec idempotency.Record) error {
	if f.failInsertBefore.Load() {
		return errConnReset
	}
	if err := f.Store.Insert(ctx, rec); err != nil {
		return err
	}
	if f.failInsertAfter.Load() {
		return errConnReset
	}
	return nil
}

func (f *flakyKeys) Get(ctx context.Context, scope, key string) (idempotency.Record, error) {
	if f.failInsertBefore.Load() {
		return idempotency.Record{}, errConnReset
	}
	return f.Store.Get(ctx, scope, key)
}

func (f *flakyKeys) Complete(ctx context.Context, c idempotency.Completion) (bool, error) {
	ok, err := f.Store.Complete(ctx, c)
	if err == nil && f.failCompleteAfter.Load() {
		return false, errConnReset
	}
	return ok, err
}

func TestMiddleware_StoreWriteLandedButErrored_TreatedAsDone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		flaky := &flakyKeys{Store: idemstore.NewKeys(db)}
		flaky.failInsertAfter.Store(true)
		flaky.failCompleteAfter.Store(true)
		m, _ := newManager(t, db, func(c *idempotency.Config) { c.Store = flaky })
		var runs atomic.Int64
		srv := serve(t, m.Require(countingHandler(&runs)))
		body := []byte("{}")

		r := mustPost(t, srv.URL, body, "k-flaky")
		assert.Equal(t, http.StatusCreated, r.Status, "the claim landed: the handler ran")
		assert.Equal(t, approveBody, r.Body)

		flaky.failInsertAfter.Store(false)
		flaky.failCompleteAfter.Store(false)
		replay := mustPost(t, srv.URL, body, "k-flaky")
		assert.Equal(t, "true", replay.Header.Get(idempotency.HeaderReplayed), "the completion landed: the retry replays")
		assert.Equal(t, approveBody, replay.Body)
		assert.EqualValues(t, 1, runs.Load())
	})
}

func TestMiddleware_StoreDown_503HandlerNotRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		flaky := &flakyKeys{Store: idemstore.NewKeys(db)}
		flaky.failInsertBefore.Store(true)
		m, _ := newManager(t, db, func(c *idempotency.Config) { c.Store = flaky })
		var runs atomic.Int64
		srv := serve(t, m.Require(countingHandler(&runs)))
		r := mustPost(t, srv.URL, []byte("{}"), "k-down")
		assert.Equal(t, http.StatusServiceUnavailable, r.Status)
		assert.Equal(t, idempotency.CodeStoreUnavailable, r.errorCode(t))
		assert.Equal(t, "1", r.Header.Get("Retry-After"))
		assert.EqualValues(t, 0, runs.Load())
	})
}

func TestMiddleware_ExpiredKey_IsFreshAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m, clk := newManager(t, db, func(c *idempotency.Config) { c.TTL = time.Hour })
		var runs atomic.Int64
		srv := serve(t, m.Require(countingHandler(&runs)))
		require.Equal(t, http.StatusCreated, mustPost(t, srv.URL, []byte(`{"a":1}`), "k-ttl").Status)
		clk.Advance(59 * time.Minute)
		assert.Equal(t, http.StatusUnprocessableEntity, mustPost(t, srv.URL, []byte(`{"a":2}`), "k-ttl").Status)
		clk.Advance(2 * time.Minute)
		r := mustPost(t, srv.URL, []byte(`{"a":2}`), "k-ttl")
		assert.Equal(t, http.StatusCreated, r.Status, "after the TTL the key starts over")
		assert.Empty(t, r.Header.Get(idempotency.HeaderReplayed))
		assert.EqualValues(t, 2, runs.Load())
	})
}

// TestMiddleware_ClockJumpPastLease_StaleHolderCannotCommit is F26: the clock
// jumps forward past the lease before the running request renews it, so a
// repeat takes the key over and runs. The stale holder's CompleteTx is then
// refused and its business transaction rolls back: one effect, one stored
// answer.
func TestMiddleware_ClockJumpPastLease_StaleHolderCannotCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		_, err := db.SQL().Exec("CREATE TABLE test_effects (run_no INT NOT NULL)")
		require.NoError(t, err)
		m, clk := newManager(t, db, func(c *idempotency.Config) {
			c.Lease = time.Minute
			c.Heartbeat = 50 * time.Second // no renewal happens during the test
		})
		var runs atomic.Int64
		firstEntered := make(chan struct{})
		releaseFirst, free := gate()
		defer free()
		staleErr := make(chan error, 1)
		srv := serve(t, m.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			run := runs.Add(1)
			if run == 1 {
				close(firstEntered)
				<-releaseFirst
			}
			body := fmt.Appendf(nil, `{"run":%d}`, run)
			err := db.InTx(r.Context(), func(ctx context.Context, tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO test_effects (run_no) VALUES (?)", run); err != nil {
					return err
				}
				return idempotency.FromContext(r.Context()).CompleteTx(ctx, tx, http.StatusOK, nil, body)
			})
			if run == 1 {
				staleErr <- err
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusConflict)
				return
			}
			_, _ = w.Write(body)
		})))
		reqBody := []byte(`{"orderId":"o-jump"}`)
		go func() { _, _ = post(t, context.Background(), srv.URL, reqBody, "k-jump") }()
		<-firstEntered

		clk.Advance(2 * time.Minute) // NTP step, VM resume
		second := mustPost(t, srv.URL, reqBody, "k-jump")
		require.Equal(t, http.StatusOK, second.Status, "the abandoned-looking key was taken over")
		assert.Equal(t, `{"run":2}`, string(second.Body))

		free()
		assert.ErrorIs(t, <-staleErr, idempotency.ErrLeaseLost)
		var effects int
		require.NoError(t, db.SQL().QueryRow("SELECT COUNT(*) FROM test_effects").Scan(&effects))
		assert.Equal(t, 1, effects, "the stale holder's business change rolled back")
		replay := mustPost(t, srv.URL, reqBody, "k-jump")
		assert.Equal(t, `{"run":2}`, string(replay.Body))
		assert.Equal(t, "true", replay.Header.Get(idempotency.HeaderReplayed))
	})
}
