package e2e_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/outbox/natsrelay"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/store/storetest"
)

// With PAYGATE_NATS_URL the example server publishes its outbox's events to
// NATS JetStream. The NATS server goes down mid-run and the example server
// is SIGKILLed while it is down; both come back, and a consumer that
// deduplicates by event id (Nats-Msg-Id) sees every event the database
// holds exactly once, and nothing else.
func TestNATS_RelayAcrossBrokerRestartAndServerKill_EveryEventOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes; skipped under -short")
	}
	bin := buildBinaries(t)
	broker := startBroker(t)
	dr := &drill{t: t, bin: bin, dsn: storetest.NewDSN(t, store.MySQL), client: &http.Client{Timeout: 30 * time.Second}}
	dr.env = []string{"PAYGATE_NATS_URL=" + broker.url()}
	dr.addr = freeAddr(t)
	dr.url = "http://" + dr.addr
	_, out := startChild(t, "sandboxd", bin.sandboxd, nil, "-addr", "127.0.0.1:0", "-hold", "200ms",
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
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				if dr.stopped.Load() {
					continue
				}
				if dr.run(j) {
					answered.Add(1)
				}
			}
		}()
	}
	db := dr.openDB()
	defer db.Close()
	relayed := func(status string) int {
		var n int
		require.NoError(t, db.SQL().QueryRowContext(context.Background(),
			`SELECT COUNT(*) FROM saga_deliveries WHERE subscriber = ? AND status = ?`, natsrelay.DefaultName, status).Scan(&n))
		return n
	}

	eventually(t, "a third of the payments and some events at NATS", func() bool {
		return answered.Load() >= int64(len(jobs)/3) && relayed("DONE") > 0
	})
	broker.stop()
	eventually(t, "events to wait for NATS while payments go on", func() bool {
		return answered.Load() >= int64(2*len(jobs)/3) && relayed("PENDING") > 0
	})
	dr.stopped.Store(true)
	dr.server.kill(syscall.SIGKILL)
	wg.Wait()
	t.Logf("killed after %d answers with %d events waiting for NATS", answered.Load(), relayed("PENDING"))

	broker.start()
	dr.start()
	for _, j := range jobs {
		j.interrupted = j.stage == "approve"
		dr.run(j)
		require.Equal(t, "done", j.stage, "order %s got an answer after the restart", j.OrderID)
	}
	dr.converged(jobs) // also waits for every delivery, the relay's included

	want := map[string]string{}
	rows, err := db.SQL().QueryContext(context.Background(), `SELECT id, type FROM saga_events`)
	require.NoError(t, err)
	for rows.Next() {
		var id, typ string
		require.NoError(t, rows.Scan(&id, &typ))
		want[id] = typ
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())
	require.NotEmpty(t, want)
	assert.Equal(t, len(want), relayed("DONE"), "every event's relay delivery is done")

	seen, stored := broker.consumeDeduplicated(t, len(want))
	assert.Equal(t, len(want), len(seen), "the consumer saw as many distinct events as the database holds")
	for id, typ := range want {
		if assert.Contains(t, seen, id, "event %s (%s) reached the consumer", id, typ) {
			assert.Equal(t, typ, seen[id], "event %s's type", id)
		}
	}
	// The test runs well inside the stream's duplicate window, so the
	// stream itself holds one message per event, republishes dropped.
	assert.Equal(t, len(want), stored, "messages the stream stored")
	t.Logf("%d events, %d stored messages", len(want), stored)
}

// broker is a NATS server with JetStream in the test process, on a fixed
// port and store so a restart brings back the same server.
type broker struct {
	t    *testing.T
	dir  string
	port int
	srv  *natsserver.Server
}

func startBroker(t *testing.T) *broker {
	b := &broker{t: t, dir: t.TempDir(), port: -1}
	b.start()
	b.port = b.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(b.stop)
	return b
}

func (b *broker) start() {
	srv, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: b.port, JetStream: true, StoreDir: b.dir,
		JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 256 << 20, NoLog: true, NoSigs: true,
	})
	require.NoError(b.t, err)
	srv.Start()
	require.True(b.t, srv.ReadyForConnections(30*time.Second), "NATS server did not start")
	b.srv = srv
}

func (b *broker) stop() {
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
		b.srv = nil
	}
}

func (b *broker) url() string { return "nats://127.0.0.1:" + strconv.Itoa(b.port) }

// consumeDeduplicated reads the whole stream as a downstream service would,
// skipping a message whose event id it processed already; it returns the
// events it processed (id → type) and how many messages the stream holds.
func (b *broker) consumeDeduplicated(t *testing.T, atLeast int) (map[string]string, int) {
	nc, err := nats.Connect(b.url())
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream, err := js.Stream(ctx, natsrelay.DefaultStream)
	require.NoError(t, err)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	total := int(info.State.Msgs)
	require.GreaterOrEqual(t, total, atLeast, "the stream holds at least one message per event")
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(t, err)
	seen := map[string]string{}
	for read := 0; read < total; {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(5*time.Second))
		require.NoError(t, err)
		for msg := range batch.Messages() {
			read++
			id := msg.Headers().Get(jetstream.MsgIDHeader)
			require.NotEmpty(t, id, "message %s has an event id", msg.Subject())
			if _, dup := seen[id]; dup {
				continue
			}
			seen[id] = msg.Headers().Get(natsrelay.HeaderEventType)
		}
		require.NoError(t, batch.Error())
	}
	return seen, total
}
