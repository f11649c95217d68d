package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/examples/server/app"
	"github.com/paygate/paygate/pg"
	"github.com/paygate/paygate/pg/pgtest"
	"github.com/paygate/paygate/settlement"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/settlementstore"
	"github.com/paygate/paygate/store/storetest"
)

// F11/F12: the example server is SIGKILLed while approvals are at the PG
// (charged there, the answer not yet back) and sagas are between steps;
// restarted on the same database, every payment converges: APPROVED with
// its order shipping and one sale, CANCELED with the order canceled and
// the PG refunded once, or FAILED with nothing charged.
//
// The sandbox PGs run in a process of their own (sandboxd) so their books
// survive the crash; the server reaches them through
// PAYGATE_{TOSS,INICIS,KAKAOPAY}_SANDBOX_URL.
func TestCrash_ServerKilledMidFlight_EveryPaymentConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("the crash test builds and runs processes; skipped under -short")
	}
	bin := buildBinaries(t)
	for _, d := range []store.Dialect{store.MySQL, store.SQLite} {
		t.Run(string(d), func(t *testing.T) { crashDrill(t, bin, d) })
	}
}

type binaries struct{ server, sandboxd string }

func buildBinaries(t *testing.T) binaries {
	t.Helper()
	dir := t.TempDir()
	out := binaries{server: filepath.Join(dir, "server"), sandboxd: filepath.Join(dir, "sandboxd")}
	for bin, pkg := range map[string]string{
		out.server:   "github.com/paygate/paygate/examples/server",
		out.sandboxd: "github.com/paygate/paygate/examples/server/e2e/sandboxd",
	} {
		cmd := exec.Command(goTool(), "build", "-o", bin, pkg)
		cmd.Env = os.Environ()
		msg, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build %s: %s", pkg, msg)
	}
	return out
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// child is a process the test started; its output goes to a file shown
// when the test fails.
type child struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startChild(t *testing.T, name, bin string, env []string, args ...string) (*child, *bufio.Reader) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &child{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.kill(syscall.SIGKILL)
		if t.Failed() {
			tail, _ := os.ReadFile(logPath)
			if len(tail) > 4000 {
				tail = tail[len(tail)-4000:]
			}
			t.Logf("%s log (end):\n%s", name, tail)
		}
	})
	return c, bufio.NewReader(stdout)
}

func (c *child) kill(sig syscall.Signal) {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(sig)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// drill is one run of the crash test.
type drill struct {
	t       *testing.T
	bin     binaries
	dsn     string
	addr    string
	url     string
	pgURL   string
	client  *http.Client
	server  *child
	stopped atomic.Bool
	// env is more of the server's environment (PAYGATE_NATS_URL).
	env []string
	// pick, when set, chooses the server of each request (several
	// instances); otherwise url.
	pick func() string
}

// base is the server the next request goes to.
func (dr *drill) base() string {
	if dr.pick != nil {
		return dr.pick()
	}
	return dr.url
}

// job is one buyer's payment and what it should end as.
type job struct {
	buyer
	fault   string // the PG's scripted answer to the approval
	failure string // the example order service's scripted failure
	want    string // APPROVED, CANCELED or FAILED

	stage string // how far it got before the crash: "", "checkout", "pay", "approve", "done"
	body  map[string]any
	// interrupted: the crash cut its approval short and the buyer sent it
	// again after the restart. Its outcome may then differ from the
	// script, consistently: an approval that never reached the PG is
	// written off as FAILED once the lookup finds nothing (F8), and the
	// PG's key of that attempt (Toss's paymentKey) stays with it; a
	// scripted fault the PG applied to the first approval only lets the
	// resent one through.
	interrupted bool
}

// crashPGs are the PGs sandboxd serves.
var crashPGs = []string{"tosspay", "inicis", "kakaopay"}

func crashJobs() []*job { return drillJobs("crash", 40) }

// drillJobs is n jobs cycling through the crash drill's kinds and PGs.
func drillJobs(tag string, n int) []*job {
	kinds := []struct{ fault, failure, want string }{
		{"", "", "APPROVED"},
		{"", "permanent", "CANCELED"},
		{"", "transient", "APPROVED"},
		{"timeout", "", "APPROVED"},
		{"timeout-unapproved", "", "FAILED"},
		{"decline", "", "FAILED"},
		{"", "", "APPROVED"},
		{"timeout", "permanent", "CANCELED"},
	}
	var out []*job
	for i := range n {
		k := kinds[i%len(kinds)]
		name := crashPGs[i%len(crashPGs)]
		out = append(out, &job{
			buyer: buyer{PG: name, OrderID: newOrderID(fmt.Sprintf("%s%d", tag, i)), Amount: int64(10000 + 100*i)},
			fault: k.fault, failure: k.failure, want: k.want,
		})
	}
	return out
}

func crashDrill(t *testing.T, bin binaries, d store.Dialect) {
	dr := &drill{t: t, bin: bin, dsn: storetest.NewDSN(t, d), client: &http.Client{Timeout: 30 * time.Second}}

	dr.addr = freeAddr(t)
	dr.url = "http://" + dr.addr

	// The PGs, in a process that outlives the server.
	_, out := startChild(t, "sandboxd", bin.sandboxd, nil, "-addr", "127.0.0.1:0", "-hold", "400ms",
		"-toss-webhook", dr.url+"/webhooks/tosspay")
	line, err := out.ReadString('\n')
	require.NoError(t, err)
	dr.pgURL = strings.TrimSpace(strings.TrimPrefix(line, "sandboxd listening on"))
	go func() { _, _ = io.Copy(io.Discard, out) }()
	dr.start()

	jobs := crashJobs()
	queue := make(chan *job, len(jobs))
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	var answered atomic.Int64
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				if dr.stopped.Load() {
					continue // left for after the restart
				}
				if dr.run(j) {
					answered.Add(1)
				}
			}
		}()
	}

	// Kill it once a third of the payments were answered and approvals
	// are held at the PG: charged there, unknown here.
	eventually(t, "approvals to be in flight at the PG", func() bool {
		return answered.Load() >= int64(len(jobs)/3) && dr.held() >= 3
	})
	dr.stopped.Store(true)
	dr.server.kill(syscall.SIGKILL)
	wg.Wait()
	inFlight, midSaga := dr.chargedButUnrecorded(), dr.openSagas()
	t.Logf("killed after %d answers; %d approvals charged at the PG but not recorded, %d sagas between steps", answered.Load(), inFlight, midSaga)
	assert.Positive(t, inFlight, "the crash hit approvals the PG had made (F11)")
	assert.Positive(t, midSaga, "the crash left sagas between steps (F12)")

	// Restart on the same database; the buyers whose requests got no
	// answer send them again, the rest pay now.
	dr.start()
	for _, j := range jobs {
		j.interrupted = j.stage == "approve"
		dr.run(j)
		require.Equal(t, "done", j.stage, "order %s got an answer after the restart", j.OrderID)
	}
	dr.converged(jobs)
}

// start runs the server on the drill's database and waits until it answers.
func (dr *drill) start() {
	t := dr.t
	env := []string{
		"PAYGATE_ADDR=" + dr.addr, "PAYGATE_DB=" + dr.dsn, "PAYGATE_QUICK_RETRIES=1",
		"PAYGATE_ADMIN_TOKEN=" + operatorToken,
		"PAYGATE_TOSS_SANDBOX_URL=" + dr.pgURL + "/tosspay",
		"PAYGATE_INICIS_SANDBOX_URL=" + dr.pgURL + "/inicis",
		"PAYGATE_KAKAOPAY_SANDBOX_URL=" + dr.pgURL + "/kakaopay",
	}
	env = append(env, dr.env...)
	srv, out := startChild(t, "server", dr.bin.server, env)
	go func() { _, _ = io.Copy(io.Discard, out) }()
	dr.server = srv
	dr.stopped.Store(false)
	eventually(t, "the server to answer", func() bool {
		resp, err := dr.client.Get(dr.url + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// post sends a JSON request; ok is false when no answer came (the server
// died).
func (dr *drill) post(url string, body any) (status int, answer map[string]any, ok bool) {
	raw, err := json.Marshal(body)
	require.NoError(dr.t, err)
	resp, err := dr.client.Post(url, "application/json", bytes.NewReader(raw))
	if err != nil {
		return 0, nil, false
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, false
	}
	_ = json.Unmarshal(data, &answer)
	return resp.StatusCode, answer, true
}

// run takes a job as far as it goes: checkout, the buyer at the PG, the
// approval (resent while the payment is being resolved). It reports
// whether the approval got its answer.
func (dr *drill) run(j *job) bool {
	t := dr.t
	if j.stage == "" {
		req := map[string]any{"orderId": j.OrderID, "amount": j.Amount, "pg": j.PG, "orderName": "crash drill"}
		if j.failure != "" {
			req["sandbox"] = map[string]any{"orderFailure": j.failure, "times": 2}
		}
		status, ans, ok := dr.post(dr.base()+"/checkouts", req)
		if !ok {
			return false
		}
		require.Equal(t, http.StatusCreated, status, "checkout %s: %v", j.OrderID, ans)
		j.stage = "checkout"
	}
	if j.stage == "checkout" {
		buyer := dr.pgURL + "/" + j.PG + "/_sandbox/pay"
		status, ans, ok := dr.post(buyer, map[string]any{"orderId": j.OrderID, "amount": j.Amount, "fault": j.fault})
		require.True(t, ok, "the sandbox process answers")
		require.Equal(t, http.StatusOK, status, "pay %s: %v", j.OrderID, ans)
		j.body = map[string]any{"pg": j.PG, "orderId": j.OrderID, "amount": j.Amount}
		if key, ok := ans["paymentKey"]; ok {
			j.body["paymentKey"] = key
		} else {
			j.body["redirect"] = ans["redirect"]
		}
		j.stage = "pay"
	}
	if j.stage == "pay" || j.stage == "approve" {
		j.stage = "approve"
		deadline := time.Now().Add(waitFor)
		for {
			status, ans, ok := dr.post(dr.base()+"/payments/approve", j.body)
			if !ok {
				return false
			}
			switch status {
			case http.StatusOK, http.StatusAccepted, http.StatusPaymentRequired:
				j.stage = "done"
				return true
			case http.StatusConflict:
				// Still being resolved (after the crash): ask again.
				require.True(t, time.Now().Before(deadline), "approve %s: still %v", j.OrderID, ans)
				time.Sleep(100 * time.Millisecond)
			default:
				t.Fatalf("approve %s: %d %v", j.OrderID, status, ans)
			}
		}
	}
	return false
}

// held is how many PG answers sandboxd is holding back.
func (dr *drill) held() int {
	resp, err := dr.client.Get(dr.pgURL + "/held")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	n, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	return n
}

func (dr *drill) ledger(pgName string) []pgtest.LedgerEntry {
	resp, err := dr.client.Get(dr.pgURL + "/" + pgName + "/_sandbox/ledger")
	require.NoError(dr.t, err)
	defer resp.Body.Close()
	var out []pgtest.LedgerEntry
	require.NoError(dr.t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

func (dr *drill) openDB() *store.DB {
	db, err := store.Open(context.Background(), dr.dsn)
	require.NoError(dr.t, err)
	return db
}

// chargedButUnrecorded counts payments the dead server left APPROVING or
// UNKNOWN although the PG captured them.
func (dr *drill) chargedButUnrecorded() int {
	db := dr.openDB()
	defer db.Close()
	n := 0
	for _, name := range crashPGs {
		for _, e := range dr.ledger(name) {
			if e.Approvals == 0 {
				continue
			}
			ps, err := db.PaymentsByOrder(context.Background(), e.OrderID)
			require.NoError(dr.t, err)
			for _, p := range ps {
				if p.Status == pg.StatusApproving || p.Status == pg.StatusUnknown {
					n++
				}
			}
		}
	}
	return n
}

// openSagas counts the sagas the dead server left running or compensating.
func (dr *drill) openSagas() int {
	db := dr.openDB()
	defer db.Close()
	var n int
	require.NoError(dr.t, db.SQL().QueryRowContext(context.Background(),
		`SELECT COUNT(*) FROM saga_instances WHERE state IN ('RUNNING', 'COMPENSATING')`).Scan(&n))
	return n
}

// converged waits for the server to finish its work and checks every job
// ended as it should, on the PG's books, in the payments, the ledger and
// the example orders.
func (dr *drill) converged(jobs []*job) {
	t := dr.t
	db := dr.openDB()
	defer db.Close()
	ctx := context.Background()
	eventually(t, "every saga and event delivery to finish", func() bool {
		var open int
		require.NoError(t, db.SQL().QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM saga_instances WHERE state IN ('RUNNING', 'COMPENSATING', 'NEEDS_ATTENTION')) +
			(SELECT COUNT(*) FROM saga_deliveries WHERE status IN ('PENDING', 'DEAD')) +
			(SELECT COUNT(*) FROM payments WHERE status IN ('APPROVING', 'UNKNOWN'))`).Scan(&open))
		return open == 0
	})

	books := map[string][]pgtest.LedgerEntry{}
	for _, name := range crashPGs {
		books[name] = dr.ledger(name)
	}
	outcomes := map[string]int{}
	for _, j := range jobs {
		t.Run(j.OrderID, func(t *testing.T) {
			side := pgSideOf(books[j.PG], j.OrderID)
			ps, err := db.PaymentsByOrder(ctx, j.OrderID)
			require.NoError(t, err)
			var kept *store.Payment
			var net int64
			sales := 0
			for _, p := range ps {
				if p.ApprovedAmount.IsSet() && p.ApprovedAmount.IsPositive() {
					require.Nil(t, kept, "one payment captured the order")
					kept = p
				}
				records, err := settlement.NewLedger(settlementstore.New(db)).ByPayment(ctx, p.ID)
				require.NoError(t, err)
				for _, r := range records {
					net += r.Gross.Int64() * r.Sign()
					if r.Type == settlement.EntrySale {
						sales++
					}
				}
			}
			order := dr.order(t, j.OrderID)
			require.LessOrEqual(t, side.Approvals, 1, "invariant 1: captured at most once")
			require.Equal(t, side.net(), net, "invariant 3: ledger = PG")
			got := "FAILED"
			if kept != nil {
				got = string(kept.Status)
			}
			outcomes[got]++
			if got != j.want {
				for _, p := range ps {
					t.Logf("payment %s: %s %s %q; PG side %+v", p.ID, p.Status, p.FailureCode, p.FailureMessage, side)
				}
			}
			want := j.want
			if j.interrupted && got != want {
				t.Logf("%s: its approval was cut by the crash and sent again: %s, not %s", j.OrderID, got, want)
				want = got
			}
			require.Equal(t, want, got, "payment of %s (fault %q, order failure %q)", j.OrderID, j.fault, j.failure)
			switch want {
			case "APPROVED":
				assert.Equal(t, 1, side.Approvals)
				assert.Equal(t, j.Amount, side.Approved, "invariant 7")
				assert.Zero(t, side.Cancels)
				assert.Equal(t, 1, sales, "exactly one SALE")
				assert.Equal(t, app.OrderPreparingShipment, order.Status)
				assert.Equal(t, kept.ID, order.PaymentID)
			case "CANCELED":
				assert.Equal(t, 1, side.Approvals)
				assert.Equal(t, 1, side.Cancels, "refunded once")
				assert.Equal(t, side.Approved, side.Canceled, "refunded in full")
				assert.Equal(t, 1, sales)
				assert.Equal(t, app.OrderCanceled, order.Status)
			case "FAILED":
				assert.Zero(t, side.Approvals, "nothing charged")
				assert.Zero(t, sales)
				assert.Equal(t, app.OrderPendingPayment, order.Status)
				for _, p := range ps {
					assert.Equal(t, pg.StatusFailed, p.Status)
				}
			}
		})
	}
	t.Logf("outcomes: %v", outcomes)
}

func (dr *drill) order(t *testing.T, id string) app.Order {
	t.Helper()
	resp, err := dr.client.Get(dr.url + "/orders/" + id)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var o app.Order
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&o))
	return o
}
