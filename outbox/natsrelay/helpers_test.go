package natsrelay_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/outbox/natsrelay"
)

// EnvNATSURL names the environment variable holding the NATS server (with
// JetStream) that tests use besides their embedded ones.
const EnvNATSURL = "PAYGATE_TEST_NATS_URL"

// DefaultNATSURL is used when EnvNATSURL is unset.
const DefaultNATSURL = "nats://127.0.0.1:4222"

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// embedded is a NATS server with JetStream running in the test process.
type embedded struct {
	t    testing.TB
	dir  string
	port int
	srv  *server.Server
}

// startEmbedded starts a JetStream server on a free loopback port with its
// store under t.TempDir(); it is shut down when the test ends.
func startEmbedded(t testing.TB) *embedded {
	t.Helper()
	e := &embedded{t: t, dir: t.TempDir(), port: -1}
	e.start()
	e.port = e.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(e.stop)
	return e
}

func (e *embedded) start() {
	e.t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: e.port, JetStream: true, StoreDir: e.dir,
		JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 256 << 20,
		NoLog: true, NoSigs: true,
	})
	require.NoError(e.t, err)
	srv.Start()
	require.True(e.t, srv.ReadyForConnections(30*time.Second), "embedded NATS server did not start")
	e.srv = srv
}

// stop shuts the server down; restart brings it back on the same port with
// the same store, as a restarted server process would.
func (e *embedded) stop() {
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
		e.srv = nil
	}
}

func (e *embedded) restart() {
	e.t.Helper()
	e.stop()
	e.start()
}

func (e *embedded) url() string { return "nats://127.0.0.1:" + strconv.Itoa(e.port) }

// target is a server the relay tests publish to.
type target struct {
	name string
	url  string
}

// targets returns an embedded server, always, and the machine's NATS
// server when it answers with JetStream. When that one does not answer the
// test says so and runs on the embedded one only; under CI=true it fails
// instead.
func targets(t *testing.T) []target {
	t.Helper()
	ts := []target{{name: "embedded", url: startEmbedded(t).url()}}
	url := os.Getenv(EnvNATSURL)
	if url == "" {
		url = DefaultNATSURL
	}
	if err := probe(url); err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("NATS at %s: %v (CI=true: set %s to a JetStream server)", redactURL(url), err, EnvNATSURL)
		}
		t.Logf("NATS at %s: %v; running on the embedded server only (set %s)", redactURL(url), err, EnvNATSURL)
		return ts
	}
	return append(ts, target{name: "server", url: url})
}

// eachTarget runs fn as a subtest per target.
func eachTarget(t *testing.T, fn func(t *testing.T, tg target)) {
	t.Helper()
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) { fn(t, tg) })
	}
}

func probe(url string) error {
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second), nats.MaxReconnects(0))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// redactURL drops user information from a server URL before it is shown.
func redactURL(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	if _, host, ok := strings.Cut(rest, "@"); ok {
		return scheme + "://***@" + host
	}
	return url
}

// connect opens a connection that reconnects for as long as the test runs.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.Name("natsrelay-test"))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// config returns a relay configuration with a stream and subjects no other
// test uses, and deletes the stream when the test ends (the machine's
// server outlives the test).
func config(t testing.TB, url string) natsrelay.Config {
	t.Helper()
	var b [5]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	cfg := natsrelay.Config{
		Stream:        "PAYGATE_T_" + id,
		SubjectPrefix: "paygate.t_" + id + ".events",
		Logger:        quietLogger(),
	}
	t.Cleanup(func() {
		nc, err := nats.Connect(url, nats.MaxReconnects(0))
		if err != nil {
			return // an embedded server is gone already, with its streams
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, cfg.Stream)
	})
	return cfg
}

func jsFor(t testing.TB, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

// streamMsgs returns how many messages the stream holds.
func streamMsgs(t testing.TB, js jetstream.JetStream, name string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	return int(info.State.Msgs)
}

// stored is a message read back from the stream.
type stored struct {
	seq     uint64
	subject string
	header  nats.Header
	data    []byte
}

// readAll reads every message of the stream in order.
func readAll(t testing.TB, js jetstream.JetStream, name string) []stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var out []stored
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		out = append(out, stored{seq: m.Sequence, subject: m.Subject, header: m.Header, data: m.Data})
	}
	return out
}

// waitFor polls until cond holds, failing the test after a generous
// deadline: it waits for a state, it does not time anything.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runFor runs an outbox in the background until the test ends.
func runFor(t testing.TB, r interface{ Run(context.Context) error }) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return stop
}
