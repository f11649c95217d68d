package e2e_test

import (
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// Three example-server processes share one MariaDB, each with its own
// runners and outbox loop, behind a client that sends each request to the
// next one. While payments with faults flow, an instance is SIGKILLed and
// restarted every few seconds, in turn. Every payment converges with no PG
// charging or refunding twice (the sandboxes' ledgers), and every instance
// ran a share of the saga steps.
func TestFleet_ThreeInstancesKilledInTurn_EveryPaymentConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes; skipped under -short")
	}
	const instances, flows = 3, 240
	bin := buildBinaries(t)
	f := &fleet{drill: &drill{t: t, bin: bin, dsn: storetest.NewDSN(t, store.MySQL), client: &http.Client{Timeout: 30 * time.Second}}}
	for range instances {
		f.addrs = append(f.addrs, freeAddr(t))
	}
	f.servers = make([]*child, instances)
	f.logs = make([][]string, instances)
	_, out := startChild(t, "sandboxd", bin.sandboxd, nil, "-addr", "127.0.0.1:0", "-hold", "200ms",
		"-toss-webhook", "http://"+f.addrs[0]+"/webhooks/tosspay")
	line, err := out.ReadString('\n')
	require.NoError(t, err)
	f.pgURL = strings.TrimSpace(strings.TrimPrefix(line, "sandboxd listening on"))
	go func() { _, _ = io.Copy(io.Discard, out) }()
	for i := range instances {
		f.start(i)
	}
	f.url = "http://" + f.addrs[0] // for converged's order reads, once all are up
	var next atomic.Uint64
	f.pick = func() string { return "http://" + f.addrs[int(next.Add(1)%instances)] }

	// The killer: every 3s the next instance dies and comes back a second
	// later.
	stop := make(chan struct{})
	killed := make(chan int)
	go func() {
		n := 0
		defer func() { killed <- n }()
		tick := time.NewTicker(3 * time.Second)
		defer tick.Stop()
		for i := 0; ; i = (i + 1) % instances {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			f.server(i).kill(syscall.SIGKILL)
			n++
			time.Sleep(time.Second)
			f.start(i)
		}
	}()

	jobs := drillJobs("fleet", flows)
	queue := make(chan *job, len(jobs))
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				for !f.run(j) {
					// No answer: the instance died. The buyer sends the
					// same request again, which the round-robin gives to
					// another instance.
					if j.stage == "approve" {
						j.interrupted = true
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	kills := <-killed
	require.GreaterOrEqual(t, kills, 2, "instances were killed while payments flowed")
	f.converged(jobs)

	// Every instance ran saga steps: its runner logs each saga write
	// (PAYGATE_LOG_LEVEL=debug).
	shares := make([]int, instances)
	for i, logs := range f.logs {
		for _, path := range logs {
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			shares[i] += strings.Count(string(raw), `msg="saga: written"`)
		}
	}
	t.Logf("%d flows, %d kills, saga writes per instance: %v", flows, kills, shares)
	for i, n := range shares {
		assert.Positive(t, n, "instance %d ran saga steps", i)
	}
}

// fleet is several example servers on one database.
type fleet struct {
	*drill
	addrs   []string
	mu      sync.Mutex
	servers []*child
	logs    [][]string // every incarnation's log file, per instance
}

func (f *fleet) server(i int) *child {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.servers[i]
}

// start runs instance i and waits until it answers.
func (f *fleet) start(i int) {
	t := f.t
	env := []string{
		// One public address for the fleet, as behind a load balancer:
		// the return URLs of a checkout are the same whichever instance
		// prepared it, so a checkout resent to another one is the same.
		"PAYGATE_ADDR=" + f.addrs[i], "PAYGATE_PUBLIC_URL=http://" + f.addrs[0], "PAYGATE_DB=" + f.dsn, "PAYGATE_QUICK_RETRIES=1",
		"PAYGATE_ADMIN_TOKEN=" + operatorToken, "PAYGATE_LOG_LEVEL=debug",
		"PAYGATE_TOSS_SANDBOX_URL=" + f.pgURL + "/tosspay",
		"PAYGATE_INICIS_SANDBOX_URL=" + f.pgURL + "/inicis",
		"PAYGATE_KAKAOPAY_SANDBOX_URL=" + f.pgURL + "/kakaopay",
	}
	srv, out := startChild(t, "server", f.bin.server, env)
	go func() { _, _ = io.Copy(io.Discard, out) }()
	f.mu.Lock()
	f.servers[i] = srv
	f.logs[i] = append(f.logs[i], srv.log)
	f.mu.Unlock()
	eventually(t, "the instance to answer", func() bool {
		resp, err := f.client.Get("http://" + f.addrs[i] + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}
