// Command chaos runs payment flows against several example-server processes
// on one MariaDB and the sandbox PGs' process (sandboxd) while it injects
// faults, waits for everything to converge and checks DESIGN.md's
// invariants 1–7 against the database, the example order service and the
// sandboxes' own ledgers:
//
//	go run ./examples/chaos -flows 2000 -instances 3
//
// Faults, each at a rate per flow (flags): PG declines, answers lost after
// the PG applied the approval and before it did, slow PG answers (sandboxd
// holds answers back), order-service failures (transient and permanent),
// duplicate concurrent approves sent to two instances, concurrent partial
// refunds sent to two instances; PG notifications sent from outside by the
// sandboxes (POST /{pg}/_sandbox/webhooks) — the same one at once to two
// instances, late, out of order, and forged for each PG's verification;
// MariaDB faults from outside — a flow's rows locked past the servers'
// innodb_lock_wait_timeout (-lock-wait), lock cycles that make InnoDB roll
// a server's transaction back, KILL QUERY and KILL CONNECTION of the
// servers' connections; and a SIGKILL of an instance (in turn, restarted a
// second later) every -kill-every.
//
// At the end it prints a table: flows, faults injected by kind, webhook
// deliveries by outcome, database faults and the servers' transaction
// retries by cause (from their logs), 5xx answers, violations by invariant,
// flows converged and the p99 and max time to converge after the load
// ended. It exits with status 1 on any violation (a forged notification
// accepted or a genuine one refused among them) or any flow not converged
// within -converge (default 60s) of the end.
package main

import (
	"bufio"
	"bytes"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/schollz/progressbar/v3"
)

const operatorToken = "chaos-operator-token-0123456789"

type options struct {
	flows, instances, workers int
	seed                      uint64
	mysql                     string
	killEvery, hold, converge time.Duration
	lockWait                  time.Duration
	rates                     map[string]*float64
	server, sandboxd          string
	keep                      bool
}

// faultKinds are the faults injected per flow, in the table's order.
var faultKinds = []string{"decline", "lost-after", "lost-before", "order-transient", "order-permanent", "dup-approve", "partial-refunds",
	"webhook-dup", "webhook-late", "webhook-reorder", "webhook-forged", "db-lock", "db-deadlock", "db-kill"}

// faultHelp says what each fault does to a flow.
var faultHelp = map[string]string{
	"decline":         "the PG declines the approval",
	"lost-after":      "the approval's answer is lost after the PG applied it",
	"lost-before":     "the approval's answer is lost and the PG did nothing",
	"order-transient": "the order service fails twice, then works",
	"order-permanent": "the order service refuses the order (the payment is refunded)",
	"dup-approve":     "the approve is sent twice at once, to two instances",
	"partial-refunds": "two partial refunds are sent at once, to two instances",
	"webhook-dup":     "Toss: the latest notification is sent again, at once to two instances",
	"webhook-late":    "Toss: the payment's first notification is sent again once it has settled (a DONE after a refund)",
	"webhook-reorder": "Toss: all the payment's notifications are sent again newest first (cancel before approval)",
	"webhook-forged":  "forged notifications: Toss wrong secret / unknown payment, Inicis foreign source / tampered / unknown tid / other merchant, KakaoPay (sends none)",
	"db-lock":         "a transaction locks a row the flow is about to touch past the servers' lock wait timeout",
	"db-deadlock":     "a transaction locks the flow's rows in the order opposite to the servers'",
	"db-kill":         "KILL QUERY or KILL CONNECTION of a server's database connection during the approval",
}

func main() {
	var o options
	flag.IntVar(&o.flows, "flows", 2000, "payment flows to run")
	flag.IntVar(&o.instances, "instances", 3, "example-server processes on the database")
	flag.IntVar(&o.workers, "workers", 8, "flows run at once")
	flag.Uint64Var(&o.seed, "seed", uint64(time.Now().UnixNano()), "seed of the fault choices (printed; rerun a failure with it)")
	flag.StringVar(&o.mysql, "mysql", "root@tcp(127.0.0.1:3306)/", "MariaDB/MySQL server DSN (without database); a fresh database is created on it")
	flag.DurationVar(&o.killEvery, "kill-every", 3*time.Second, "SIGKILL an instance (in turn) this often; 0 never")
	flag.DurationVar(&o.hold, "hold", 200*time.Millisecond, "slow PG answers: sandboxd holds approval and refund answers back this long")
	flag.DurationVar(&o.converge, "converge", 60*time.Second, "how long after the load every flow must have converged")
	flag.DurationVar(&o.lockWait, "lock-wait", 2*time.Second, "the servers' innodb_lock_wait_timeout (whole seconds); db-lock holds rows 0.5s longer")
	flag.StringVar(&o.server, "server", "", "example server binary (default: built from this module)")
	flag.StringVar(&o.sandboxd, "sandboxd", "", "sandboxd binary (default: built from this module)")
	flag.BoolVar(&o.keep, "keep", false, "keep the database afterwards")
	o.rates = map[string]*float64{}
	for _, k := range faultKinds {
		o.rates[k] = flag.Float64(k, 0.05, "rate of flows with fault "+k+": "+faultHelp[k])
	}
	flag.Parse()
	ok, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// flow is one buyer's payment.
type flow struct {
	i        int
	pg       string
	orderID  string
	amount   int64
	faults   []string
	fault    string // the PG's scripted answer to the approval
	failure  string // the order service's scripted failure
	body     map[string]any
	payID    string
	stage    string
	cut      bool // a request of it got no answer (an instance died)
	doneAt   time.Time
	violated []string
	// dbWork: the flow's database faults, running.
	dbWork    sync.WaitGroup
	dbStarted bool
	// stuck is the stage the buyer gave up at after two minutes of
	// requests without an answer that moved it on.
	stuck string
}

func (f *flow) has(k string) bool { return slices.Contains(f.faults, k) }

type harness struct {
	o       options
	dsn     string // PAYGATE_DB of the servers
	db      *sql.DB
	pgURL   string
	addrs   []string
	mu      sync.Mutex
	procs   []*exec.Cmd
	dir     string
	client  *http.Client
	next    atomic.Uint64
	kills   atomic.Int64
	retries atomic.Int64
	// serverErrors counts 5xx answers: resent like a lost answer (the
	// request is idempotent), reported, and the servers' logs kept.
	serverErrors atomic.Int64
	// busy counts the 5xx that were 503 DATABASE_BUSY (with Retry-After).
	busy   atomic.Int64
	dbName string
	dbf    *dbFaults
	whf    *webhookFaults
}

var pgs = []string{"tosspay", "inicis", "kakaopay"}

func run(o options) (ok bool, err error) {
	dir, err := os.MkdirTemp("", "paygate-chaos-")
	if err != nil {
		return false, err
	}
	h := &harness{o: o, dir: dir, client: &http.Client{Timeout: 30 * time.Second}}
	defer func() {
		if h.serverErrors.Load() > 0 || !ok {
			fmt.Fprintln(os.Stderr, "chaos: servers answered 5xx or the run failed; the servers' logs are kept in", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	if err := h.build(); err != nil {
		return false, err
	}
	name := fmt.Sprintf("paygate_chaos_%d", time.Now().UnixNano())
	admin, err := sql.Open("mysql", o.mysql)
	if err != nil {
		return false, err
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		return false, fmt.Errorf("create database: %w", err)
	}
	if !o.keep {
		defer func() { _, _ = admin.Exec("DROP DATABASE " + name) }()
	}
	base := strings.TrimSuffix(o.mysql, "/") + "/" + name + "?parseTime=true"
	if i := strings.Index(o.mysql, "/"); i >= 0 {
		base = o.mysql[:i] + "/" + name + "?parseTime=true"
	}
	lockWait := max(1, int(o.lockWait.Round(time.Second)/time.Second))
	h.dsn = fmt.Sprintf("mysql:%s&innodb_lock_wait_timeout=%d", base, lockWait)
	h.dbName = name
	if h.db, err = sql.Open("mysql", base); err != nil {
		return false, err
	}
	defer h.db.Close()
	faultDB, err := sql.Open("mysql", base)
	if err != nil {
		return false, err
	}
	defer faultDB.Close()
	h.dbf = &dbFaults{h: h, db: faultDB, admin: admin}
	h.whf = &webhookFaults{h: h}
	// The deadlock maker's ballast: rows that make its transaction heavier
	// than a server's, so InnoDB rolls back the server's.
	if _, err := h.db.Exec("CREATE TABLE chaos_ballast (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, order_id VARCHAR(64) NOT NULL, n INT NOT NULL) ENGINE=InnoDB"); err != nil {
		return false, fmt.Errorf("create chaos_ballast: %w", err)
	}

	for range o.instances {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return false, err
		}
		h.addrs = append(h.addrs, ln.Addr().String())
		_ = ln.Close()
	}
	h.procs = make([]*exec.Cmd, o.instances)
	defer h.stopAll()
	// Interrupted, the processes it started go with it.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			h.stopAll()
			os.Exit(130)
		}
	}()
	if err := h.startSandboxd(); err != nil {
		return false, err
	}
	for i := range o.instances {
		if err := h.start(i); err != nil {
			return false, err
		}
	}

	rng := rand.New(rand.NewPCG(o.seed, 0x70617967))
	flows := make([]*flow, o.flows)
	injected := map[string]int{}
	for i := range flows {
		f := &flow{i: i, pg: pgs[i%len(pgs)], orderID: fmt.Sprintf("chaos-%d-%d", o.seed%1e6, i), amount: int64(1000 + 10*rng.IntN(10000))}
		for _, k := range faultKinds {
			if rng.Float64() < *o.rates[k] {
				f.faults = append(f.faults, k)
			}
		}
		// One PG script and one order-service failure per flow.
		for _, k := range []string{"decline", "lost-after", "lost-before"} {
			if f.has(k) && f.fault == "" {
				f.fault = map[string]string{"decline": "decline", "lost-after": "timeout", "lost-before": "timeout-unapproved"}[k]
			} else if f.has(k) {
				f.faults = slices.DeleteFunc(f.faults, func(s string) bool { return s == k })
			}
		}
		if f.pg != "tosspay" {
			// Toss notifies card payments; Inicis notifies virtual-account
			// deposits only and KakaoPay nothing, so there is nothing of
			// theirs to send again (forgeries are another matter).
			f.faults = slices.DeleteFunc(f.faults, func(s string) bool {
				return s == "webhook-dup" || s == "webhook-late" || s == "webhook-reorder"
			})
		}
		if f.has("order-transient") && f.has("order-permanent") {
			f.faults = slices.DeleteFunc(f.faults, func(s string) bool { return s == "order-transient" })
		}
		switch {
		case f.has("order-permanent"):
			f.failure = "permanent"
		case f.has("order-transient"):
			f.failure = "transient"
		}
		for _, k := range f.faults {
			injected[k]++
		}
		flows[i] = f
	}
	fmt.Printf("chaos: %d flows, %d instances, seed %d\n", o.flows, o.instances, o.seed)

	bar := progressbar.NewOptions(len(flows), progressbar.OptionSetDescription("flows"),
		progressbar.OptionShowCount(), progressbar.OptionSetWriter(os.Stderr), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetVisibility(onTerminal(os.Stderr)))
	stop := make(chan struct{})
	killerDone := make(chan struct{})
	go h.killer(stop, killerDone)
	start := time.Now()
	var doneFlows atomic.Int64
	if !onTerminal(os.Stderr) {
		// No bar in a log: a line every 30 s instead.
		go func() {
			t := time.NewTicker(30 * time.Second)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					n := doneFlows.Load()
					el := time.Since(start)
					fmt.Fprintf(os.Stderr, "chaos: %d / %d flows after %s (%.1f flows/s)\n", n, len(flows), el.Round(time.Second), float64(n)/el.Seconds())
				}
			}
		}()
	}
	queue := make(chan *flow)
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range queue {
				if err := h.runFlow(f); err != nil {
					failed.CompareAndSwap(nil, &err)
				}
				_ = bar.Add(1)
				doneFlows.Add(1)
			}
		}()
	}
	for _, f := range flows {
		queue <- f
	}
	close(queue)
	wg.Wait()
	close(stop)
	<-killerDone
	_ = bar.Finish()
	fmt.Fprintln(os.Stderr)
	if p := failed.Load(); p != nil {
		return false, *p
	}
	end := time.Now()
	loadTime := end.Sub(start)

	// Convergence: every flow's payments terminal, its order settled, and
	// nothing of paygate's left running.
	deadline := end.Add(o.converge)
	pending := slices.Clone(flows)
	for len(pending) > 0 && time.Now().Before(deadline) {
		books, err := h.ledgers()
		if err != nil {
			return false, err
		}
		open, err := h.openWork()
		if err != nil {
			return false, err
		}
		now := time.Now()
		pending = slices.DeleteFunc(pending, func(f *flow) bool {
			if h.settled(f, books) && open == 0 {
				f.doneAt = now
				return true
			}
			return false
		})
		if len(pending) > 0 {
			time.Sleep(250 * time.Millisecond)
		}
	}
	books, err := h.ledgers()
	if err != nil {
		return false, err
	}
	violations := map[int]int{}
	var lines []string
	for _, f := range flows {
		for _, v := range h.check(f, books) {
			violations[v.inv]++
			lines = append(lines, fmt.Sprintf("  invariant %d: order %s (%s, faults %v): %s", v.inv, f.orderID, f.pg, f.faults, v.what))
		}
	}

	var times []time.Duration
	for _, f := range flows {
		if !f.doneAt.IsZero() {
			times = append(times, f.doneAt.Sub(end))
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	var p99, maxT time.Duration
	if len(times) > 0 {
		p99, maxT = times[(len(times)*99+99)/100-1], times[len(times)-1]
	}

	fmt.Printf("\n| | |\n|---|---|\n")
	fmt.Printf("| flows | %d |\n| instances | %d |\n| seed | %d |\n", len(flows), o.instances, o.seed)
	for _, k := range faultKinds {
		fmt.Printf("| fault %s | %d |\n", k, injected[k])
	}
	fmt.Printf("| fault slow PG answers (held %s) | %d |\n", o.hold, len(flows))
	for _, k := range []string{"webhook-dup", "webhook-late", "webhook-reorder", "webhook-forged"} {
		fmt.Printf("| %s: deliveries sent / acknowledged / refused / 5xx / no answer / nothing to send | %d / %d / %d / %d / %d / %d |\n", k,
			h.whf.count(k+" deliveries"), h.whf.count(k+" acknowledged")+h.whf.count(k+" acknowledged after the PG's lookup"), h.whf.count(k+" refused"),
			h.whf.count(k+" answered 5xx"), h.whf.count(k+" not answered"), h.whf.count(k+" none to send"))
	}
	fmt.Printf("| webhook-forged: Toss forgeries naming the real payment, acknowledged with only Toss's looked-up state kept | %d |\n", h.whf.count("webhook-forged acknowledged after the PG's lookup"))
	fmt.Printf("| genuine webhooks refused | %d |\n| forged webhooks accepted | %d |\n", h.whf.refusedGenuine.Load(), h.whf.acceptedForged.Load())
	for _, t := range targets {
		fmt.Printf("| db-lock: %s row held past the %ds lock wait timeout | %d |\n", t.name, lockWait, h.dbf.count("lock "+t.name))
	}
	fmt.Printf("| db-deadlock: lock cycles attempted / the harness's side chosen as victim | %d / %d |\n",
		h.dbf.count("deadlock attempted"), h.dbf.count("deadlock, the harness's transaction chosen"))
	fmt.Printf("| db-kill: KILL QUERY / KILL CONNECTION of a running statement / KILL of an idle connection | %d / %d / %d |\n",
		h.dbf.count("kill query of a running statement"), h.dbf.count("kill connection of a running statement"), h.dbf.count("kill connection of an idle connection"))
	retries := serverRetries(h.dir)
	causes := slices.Sorted(maps.Keys(retries))
	for _, c := range causes {
		fmt.Printf("| servers' transactions retried: %s | %d |\n", c, retries[c])
	}
	if len(causes) == 0 {
		fmt.Printf("| servers' transactions retried | 0 |\n")
	}
	fmt.Printf("| fault SIGKILL of an instance | %d |\n", h.kills.Load())
	fmt.Printf("| requests resent after no answer | %d |\n", h.retries.Load())
	fmt.Printf("| 5xx answers (resent; servers' logs kept): 503 DATABASE_BUSY or IDEMPOTENCY_UNAVAILABLE with Retry-After / other | %d / %d |\n", h.busy.Load(), h.serverErrors.Load()-h.busy.Load())
	total := 0
	for inv := 1; inv <= 7; inv++ {
		fmt.Printf("| violations of invariant %d | %d |\n", inv, violations[inv])
		total += violations[inv]
	}
	fmt.Printf("| converged | %d / %d |\n| time to converge after the load, p99 | %s |\n| max | %s |\n",
		len(times), len(flows), p99.Round(time.Millisecond), maxT.Round(time.Millisecond))
	nStuck := 0
	for _, f := range flows {
		if f.stuck != "" {
			nStuck++
		}
	}
	fmt.Printf("| flows stuck (no answer moved them on within 2 minutes) | %d |\n", nStuck)
	fmt.Printf("| load time | %s (%.1f flows/s) |\n", loadTime.Round(time.Second), float64(len(flows))/loadTime.Seconds())
	for _, l := range lines {
		fmt.Println(l)
	}
	for _, l := range h.whf.lines {
		fmt.Println(l)
	}
	total += int(h.whf.refusedGenuine.Load() + h.whf.acceptedForged.Load())
	for _, f := range pending {
		fmt.Printf("  not converged: order %s (%s, faults %v)\n", f.orderID, f.pg, f.faults)
	}
	stuck := 0
	for _, f := range flows {
		if f.stuck != "" {
			stuck++
			fmt.Printf("  stuck: order %s (%s, faults %v): no answer moved it past %q within 2 minutes\n", f.orderID, f.pg, f.faults, f.stuck)
		}
	}
	total += stuck
	return total == 0 && len(pending) == 0, nil
}

func (h *harness) build() error {
	for _, b := range []struct {
		path *string
		pkg  string
	}{{&h.o.server, "github.com/paygate/paygate/examples/server"}, {&h.o.sandboxd, "github.com/paygate/paygate/examples/server/e2e/sandboxd"}} {
		if *b.path != "" {
			continue
		}
		*b.path = filepath.Join(h.dir, filepath.Base(b.pkg))
		cmd := exec.Command("go", "build", "-o", *b.path, b.pkg)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v: %s", b.pkg, err, out)
		}
	}
	return nil
}

func (h *harness) startSandboxd() error {
	cmd := exec.Command(h.o.sandboxd, "-addr", "127.0.0.1:0", "-hold", h.o.hold.String(),
		"-toss-webhook", "http://"+h.addrs[0]+"/webhooks/tosspay")
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	h.mu.Lock()
	h.procs = append(h.procs, cmd)
	h.mu.Unlock()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return fmt.Errorf("sandboxd: %w", err)
	}
	h.pgURL = strings.TrimSpace(strings.TrimPrefix(line, "sandboxd listening on"))
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return nil
}

// start runs instance i and waits until it answers.
func (h *harness) start(i int) error {
	cmd := exec.Command(h.o.server)
	cmd.Env = append(os.Environ(),
		// One public address for all, as behind a load balancer (a
		// checkout's return URLs are built from it).
		"PAYGATE_ADDR="+h.addrs[i], "PAYGATE_PUBLIC_URL=http://"+h.addrs[0], "PAYGATE_DB="+h.dsn, "PAYGATE_QUICK_RETRIES=1",
		"PAYGATE_ADMIN_TOKEN="+operatorToken, "PAYGATE_DATA_DIR="+h.dir,
		// Inicis notifications are trusted from 127.0.0.1 only, so the
		// sandbox's forgery from another loopback address is foreign.
		"PAYGATE_INICIS_NOTI_SOURCES=127.0.0.1/32,::1/128",
		"PAYGATE_TOSS_SANDBOX_URL="+h.pgURL+"/tosspay",
		"PAYGATE_INICIS_SANDBOX_URL="+h.pgURL+"/inicis",
		"PAYGATE_KAKAOPAY_SANDBOX_URL="+h.pgURL+"/kakaopay")
	logFile, err := os.OpenFile(filepath.Join(h.dir, fmt.Sprintf("server%d.log", i)), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = io.Discard, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return err
	}
	go func() { _ = cmd.Wait(); _ = logFile.Close() }()
	h.mu.Lock()
	h.procs[i] = cmd
	h.mu.Unlock()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := h.client.Get("http://" + h.addrs[i] + "/healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("instance %d did not answer within 2 minutes (the first start migrates the database)", i)
}

func (h *harness) stopAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.procs {
		if c != nil && c.Process != nil {
			_ = c.Process.Signal(syscall.SIGKILL)
		}
	}
}

// killer SIGKILLs the instances in turn, each restarted a second later.
func (h *harness) killer(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	if h.o.killEvery <= 0 {
		return
	}
	tick := time.NewTicker(h.o.killEvery)
	defer tick.Stop()
	for i := 0; ; i = (i + 1) % len(h.addrs) {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		h.mu.Lock()
		c := h.procs[i]
		h.mu.Unlock()
		_ = c.Process.Signal(syscall.SIGKILL)
		h.kills.Add(1)
		time.Sleep(time.Second)
		if err := h.start(i); err != nil {
			fmt.Fprintln(os.Stderr, "chaos: restart:", err)
		}
	}
}

// fiveXX counts a 5xx answer: the 503s that say nothing was done and to
// retry (DATABASE_BUSY, IDEMPOTENCY_UNAVAILABLE) apart from the others.
func (h *harness) fiveXX(status int, ans map[string]any) {
	h.serverErrors.Add(1)
	if e, _ := ans["error"].(map[string]any); status == http.StatusServiceUnavailable &&
		(e["code"] == "DATABASE_BUSY" || e["code"] == "IDEMPOTENCY_UNAVAILABLE") {
		h.busy.Add(1)
	}
}

func (h *harness) pick() string {
	return "http://" + h.addrs[int(h.next.Add(1)%uint64(len(h.addrs)))]
}

// post sends a JSON request; ok is false when no answer came.
func (h *harness) post(url string, body any, headers ...string) (int, map[string]any, bool) {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, false
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, false
	}
	var ans map[string]any
	_ = json.Unmarshal(data, &ans)
	return resp.StatusCode, ans, true
}

// runFlow takes a flow through checkout, the buyer at the PG and the
// approval, resending a request that got no answer to the next instance as
// a buyer's browser would; then its partial refunds.
func (h *harness) runFlow(f *flow) error {
	deadline := time.Now().Add(2 * time.Minute)
	for f.stage != "done" {
		if time.Now().After(deadline) {
			// Reported and failed at the end with the table, which
			// still checks the flow's order like any other.
			f.stuck = f.stage
			f.dbWork.Wait()
			return nil
		}
		ok, err := h.step(f)
		if err != nil {
			return err
		}
		if !ok {
			f.cut = true
			h.retries.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
	}
	if f.has("partial-refunds") && f.payID != "" {
		h.refunds(f)
	}
	f.dbWork.Wait()
	h.whf.after(f)
	return nil
}

// dbFaultsAt starts the flow's database faults as its approve is sent; a
// lock of the checkout or the order is in place before.
func (h *harness) dbFaultsAt(f *flow) {
	if f.dbStarted {
		return
	}
	f.dbStarted = true
	rng := rand.New(rand.NewPCG(h.o.seed, uint64(f.i)))
	if f.has("db-lock") {
		locked := make(chan struct{})
		f.dbWork.Go(func() { h.dbf.hold(f, rng, locked) })
		select {
		case <-locked:
		case <-time.After(3 * time.Second):
		}
	}
	if f.has("db-deadlock") {
		r := rand.New(rand.NewPCG(h.o.seed, uint64(f.i)+1<<40))
		f.dbWork.Go(func() { h.dbf.deadlock(f, r) })
	}
	if f.has("db-kill") {
		r := rand.New(rand.NewPCG(h.o.seed, uint64(f.i)+2<<40))
		f.dbWork.Go(func() { h.dbf.kill(r) })
	}
}

// waitSettled waits, up to limit, until the flow's payments are settled:
// none open, and money held only by a payment whose order was created.
func (h *harness) waitSettled(f *flow, limit time.Duration) {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		v, err := h.view(f)
		if err == nil && v.open == 0 && (len(v.captured) == 0 || v.order == "PREPARING_SHIPMENT") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (h *harness) step(f *flow) (bool, error) {
	switch f.stage {
	case "":
		req := map[string]any{"orderId": f.orderID, "amount": f.amount, "pg": f.pg, "orderName": "chaos"}
		if f.failure != "" {
			req["sandbox"] = map[string]any{"orderFailure": f.failure, "times": 2}
		}
		status, ans, ok := h.post(h.pick()+"/checkouts", req)
		if !ok {
			return false, nil
		}
		if status >= 500 {
			h.fiveXX(status, ans)
			return false, nil // asked again, like a lost answer
		}
		if e, _ := ans["error"].(map[string]any); status == http.StatusConflict && e["code"] == "IN_PROGRESS" {
			// An earlier send of this checkout, given up on by the
			// client's timeout, is still being prepared: ask again.
			return false, nil
		}
		if status != http.StatusCreated {
			return false, fmt.Errorf("checkout %s: %d %v", f.orderID, status, ans)
		}
		f.stage = "checkout"
	case "checkout":
		status, ans, ok := h.post(h.pgURL+"/"+f.pg+"/_sandbox/pay", map[string]any{"orderId": f.orderID, "amount": f.amount, "fault": f.fault})
		if !ok || status != http.StatusOK {
			return false, fmt.Errorf("sandbox pay %s: %d %v", f.orderID, status, ans)
		}
		f.body = map[string]any{"pg": f.pg, "orderId": f.orderID, "amount": f.amount}
		if key, ok := ans["paymentKey"]; ok {
			f.body["paymentKey"] = key
		} else {
			f.body["redirect"] = ans["redirect"]
		}
		f.stage = "approve"
	case "approve":
		h.dbFaultsAt(f)
		n := 1
		if f.has("dup-approve") {
			n = 2
		}
		type answer struct {
			status int
			ans    map[string]any
			ok     bool
		}
		answers := make([]answer, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, a, ok := h.post(h.pick()+"/payments/approve", f.body)
				answers[i] = answer{s, a, ok}
			}()
		}
		wg.Wait()
		anyOK := false
		for _, a := range answers {
			if !a.ok {
				continue
			}
			anyOK = true
			switch a.status {
			case http.StatusOK, http.StatusAccepted, http.StatusPaymentRequired:
				if id, _ := a.ans["paymentId"].(string); id != "" && a.ans["status"] == "APPROVED" {
					f.payID = id
				}
				f.stage = "done"
			case http.StatusConflict:
				// In progress elsewhere (the duplicate, or a crash's
				// leftover being resolved): ask again.
			default:
				if a.status >= 500 {
					// A server error says nothing about the payment:
					// ask again, as a client would; the invariants are
					// checked at the end whatever happened.
					h.fiveXX(a.status, a.ans)
					continue
				}
				return false, fmt.Errorf("approve %s: %d %v", f.orderID, a.status, a.ans)
			}
		}
		if !anyOK {
			return false, nil
		}
		if f.stage != "done" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	return true, nil
}

// refunds sends two partial refunds of a quarter each at once, to two
// instances, each retried with its Idempotency-Key until it has an answer.
func (h *harness) refunds(f *flow) {
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("%s-refund-%d", f.orderID, i)
			for range 50 {
				status, ans, ok := h.post(h.pick()+"/payments/"+f.payID+"/cancel",
					map[string]any{"amount": f.amount / 4, "reason": "chaos partial refund"},
					"Authorization", "Bearer "+operatorToken, "Idempotency-Key", key)
				if ok && status != http.StatusConflict && status < 500 {
					return
				}
				if ok && status >= 500 {
					h.fiveXX(status, ans)
				}
				h.retries.Add(1)
				time.Sleep(200 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

// side is an order on the PG's books.
type side struct{ approvals, cancels, approved, canceled int64 }

func (h *harness) ledgers() (map[string]side, error) {
	out := map[string]side{}
	for _, name := range pgs {
		resp, err := h.client.Get(h.pgURL + "/" + name + "/_sandbox/ledger")
		if err != nil {
			return nil, err
		}
		var entries []struct {
			OrderID            string
			Approved, Canceled json.Number
			Approvals, Cancels int64
		}
		dec := json.NewDecoder(resp.Body)
		dec.UseNumber()
		err = dec.Decode(&entries)
		_ = resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("ledger of %s: %w", name, err)
		}
		for _, e := range entries {
			s := out[e.OrderID]
			s.approvals += e.Approvals
			s.cancels += e.Cancels
			a, _ := e.Approved.Int64()
			c, _ := e.Canceled.Int64()
			s.approved += a
			s.canceled += c
			out[e.OrderID] = s
		}
	}
	return out, nil
}

// openWork counts what paygate has not finished: running sagas, pending
// deliveries, payments being resolved.
func (h *harness) openWork() (int, error) {
	var n int
	err := h.db.QueryRow(`SELECT
		(SELECT COUNT(*) FROM saga_instances WHERE state IN ('RUNNING', 'COMPENSATING', 'NEEDS_ATTENTION')) +
		(SELECT COUNT(*) FROM saga_deliveries WHERE status IN ('PENDING', 'DEAD')) +
		(SELECT COUNT(*) FROM payments WHERE status IN ('APPROVING', 'UNKNOWN'))`).Scan(&n)
	return n, err
}

// view is an order as the database shows it.
type view struct {
	order               string
	captured            []string // payments with money captured and not fully refunded
	sales, refunds      int64    // settlement ledger, won
	saleEntries         int
	open                int
	approvedNotOrderAmt bool
}

func (h *harness) view(f *flow) (view, error) {
	var v view
	if err := h.db.QueryRow(`SELECT status FROM example_orders WHERE order_id = ?`, f.orderID).Scan(&v.order); err != nil {
		return v, err
	}
	rows, err := h.db.Query(`SELECT id, status, approved_amount, canceled_amount FROM payments WHERE order_id = ?`, f.orderID)
	if err != nil {
		return v, err
	}
	var ids []string
	for rows.Next() {
		var id, status string
		var approved, canceled int64
		if err := rows.Scan(&id, &status, &approved, &canceled); err != nil {
			_ = rows.Close()
			return v, err
		}
		ids = append(ids, id)
		switch status {
		case "APPROVING", "UNKNOWN":
			v.open++
		}
		if approved > 0 && canceled < approved {
			v.captured = append(v.captured, id)
		}
		if approved > 0 && approved != f.amount {
			v.approvedNotOrderAmt = true
		}
	}
	_ = rows.Close()
	for _, id := range ids {
		var sales, refunds, n int64
		if err := h.db.QueryRow(`SELECT
			COALESCE(SUM(CASE WHEN entry_type = 'SALE' THEN gross ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN entry_type = 'REFUND' THEN gross ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN entry_type = 'SALE' THEN 1 ELSE 0 END), 0)
			FROM settlement_entries WHERE payment_id = ?`, id).Scan(&sales, &refunds, &n); err != nil {
			return v, err
		}
		v.sales += sales
		v.refunds += refunds
		v.saleEntries += int(n)
	}
	return v, nil
}

// settled: the flow's payments are terminal and its order and books agree
// with the PG's.
func (h *harness) settled(f *flow, books map[string]side) bool {
	v, err := h.view(f)
	if err != nil || v.open > 0 {
		return false
	}
	s := books[f.orderID]
	net := s.approved - s.canceled
	if v.sales-v.refunds != net {
		return false
	}
	if net > 0 {
		return v.order == "PREPARING_SHIPMENT"
	}
	return v.order == "PENDING_PAYMENT" || v.order == "CANCELED"
}

type violation struct {
	inv  int
	what string
}

func (h *harness) check(f *flow, books map[string]side) []violation {
	v, err := h.view(f)
	if err != nil {
		return []violation{{5, "cannot read it: " + err.Error()}}
	}
	s := books[f.orderID]
	var out []violation
	add := func(inv int, format string, args ...any) {
		out = append(out, violation{inv, fmt.Sprintf(format, args...)})
	}
	if s.approvals > 1 || len(v.captured) > 1 {
		add(1, "captured %d times at the PG, %d payments hold money", s.approvals, len(v.captured))
	}
	net := s.approved - s.canceled
	switch {
	case net > 0 && (v.order != "PREPARING_SHIPMENT" || v.sales != s.approved):
		add(2, "the PG holds %d but the order is %s with sales %d", net, v.order, v.sales)
	case net == 0 && s.approved > 0 && v.order != "CANCELED" && v.order != "PENDING_PAYMENT":
		add(2, "refunded in full but the order is %s", v.order)
	}
	if v.sales-v.refunds != net {
		add(3, "ledger net %d, PG net %d", v.sales-v.refunds, net)
	}
	if v.saleEntries > 1 || (s.approvals <= 1 && s.cancels > 3) {
		add(4, "%d SALE entries, %d cancels at the PG", v.saleEntries, s.cancels)
	}
	if v.open > 0 {
		add(5, "%d payments still open", v.open)
	}
	if s.canceled > s.approved || v.refunds > v.sales {
		add(6, "refunded %d of %d at the PG, %d of %d in the ledger", s.canceled, s.approved, v.refunds, v.sales)
	}
	if v.approvedNotOrderAmt || (s.approvals > 0 && s.approved != f.amount*s.approvals) {
		add(7, "approved %d at the PG for an order of %d", s.approved, f.amount)
	}
	return out
}

// onTerminal reports whether f is a terminal: the progress bar is drawn
// only there, not into CI logs.
func onTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
