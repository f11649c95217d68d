// Command consumer is a downstream service that follows paygate's events on
// NATS JetStream: it books a parcel for every order paygate created, once,
// however often the event reaches it.
//
// paygate publishes its outbox events to the stream with outbox/natsrelay
// (the example server does so when PAYGATE_NATS_URL is set). This program
// reads them with a durable consumer, so it resumes where it stopped, and
// deduplicates by event id in its own database (see Shipping for why the
// stream's duplicate window is not enough):
//
//	go run ./examples/consumer
//
// Environment:
//
//	PAYGATE_NATS_URL       NATS server (default nats://127.0.0.1:4222)
//	PAYGATE_NATS_STREAM    stream the relay publishes to (default PAYGATE_EVENTS)
//	PAYGATE_NATS_PREFIX    the relay's subject prefix (default paygate.events)
//	CONSUMER_DB            SQLite file of processed event ids and shipments
//	                       (default ./data/consumer.db)
//	CONSUMER_DURABLE       durable consumer name (default shipping)
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/paygate/paygate"
	"github.com/paygate/paygate/outbox/natsrelay"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("consumer stopped", "err", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	path := env("CONSUMER_DB", "./data/consumer.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	shipping, err := OpenShipping(ctx, path, log)
	if err != nil {
		return err
	}
	defer shipping.Close()

	// The URL may carry credentials: it is not logged.
	nc, err := nats.Connect(env("PAYGATE_NATS_URL", nats.DefaultURL), nats.Name("paygate-example-consumer"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	prefix := env("PAYGATE_NATS_PREFIX", natsrelay.DefaultSubjectPrefix)
	cfg := ConsumerConfig{
		Stream:   env("PAYGATE_NATS_STREAM", natsrelay.DefaultStream),
		Durable:  env("CONSUMER_DURABLE", "shipping"),
		Subjects: []string{natsrelay.Subject(prefix, paygate.EventOrderCreated)},
	}
	log.Info("consumer: reading", "stream", cfg.Stream, "durable", cfg.Durable, "subjects", cfg.Subjects, "db", path)
	return shipping.Run(ctx, js, cfg)
}
