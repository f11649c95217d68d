package natsrelay_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/paygate/paygate/outbox"
	"github.com/paygate/paygate/outbox/natsrelay"
)

func deliveries(n int, typ string) []outbox.Delivery {
	at := time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC)
	ds := make([]outbox.Delivery, n)
	for i := range ds {
		ds[i] = outbox.Delivery{
			Event: outbox.Event{
				ID: fmt.Sprintf("ev-%03d", i), Type: typ, Key: fmt.Sprintf("pay_%d", i%3),
				Payload: fmt.Appendf(nil, `{"eventId":"ev-%03d","amount":1000}`, i), OccurredAt: at.Add(time.Duration(i) * time.Second),
			},
			DeliveryID: int64(i + 1), Subscriber: natsrelay.DefaultName, Attempt: 1,
		}
	}
	return ds
}

// TestPublish_SameDeliveriesTwice_StreamKeepsOneEach: the outbox publishes a
// batch again when it could not record the first publish; JetStream's
// duplicate window drops the second copies by Nats-Msg-Id.
func TestPublish_SameDeliveriesTwice_StreamKeepsOneEach(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		nc := connect(t, tg.url)
		cfg := config(t, tg.url)
		r, err := natsrelay.New(context.Background(), nc, cfg)
		require.NoError(t, err)
		js := jsFor(t, nc)

		ds := deliveries(10, "ORDER_CREATED")
		require.NoError(t, r.Publish(context.Background(), ds))
		require.Equal(t, 10, streamMsgs(t, js, cfg.Stream))
		require.NoError(t, r.Publish(context.Background(), ds), "republishing is no error")
		require.NoError(t, r.Publish(context.Background(), ds[3:7]))
		assert.Equal(t, 10, streamMsgs(t, js, cfg.Stream), "one message per event")

		msgs := readAll(t, js, cfg.Stream)
		require.Len(t, msgs, 10)
		for i, m := range msgs {
			d := ds[i]
			assert.Equal(t, cfg.SubjectPrefix+".ORDER_CREATED", m.subject)
			assert.Equal(t, d.ID, m.header.Get(jetstream.MsgIDHeader))
			assert.Equal(t, "ORDER_CREATED", m.header.Get(natsrelay.HeaderEventType))
			assert.Equal(t, d.Key, m.header.Get(natsrelay.HeaderEventKey))
			at, err := time.Parse(time.RFC3339Nano, m.header.Get(natsrelay.HeaderOccurredAt))
			require.NoError(t, err)
			assert.True(t, d.OccurredAt.Equal(at), "occurredAt %s, want %s", at, d.OccurredAt)
			assert.Equal(t, d.Payload, m.data)
		}
	})
}

func TestPublish_TypesMapToSubjectTokens(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		nc := connect(t, tg.url)
		cfg := config(t, tg.url)
		r, err := natsrelay.New(context.Background(), nc, cfg)
		require.NoError(t, err)
		types := []string{"PAYMENT_APPROVED", "card.refund", "a*b>c", "결제 완료", "x-y"}
		var ds []outbox.Delivery
		for i, typ := range types {
			d := deliveries(1, typ)[0]
			d.ID = fmt.Sprintf("ev-type-%d", i)
			d.Key = ""
			ds = append(ds, d)
		}
		require.NoError(t, r.Publish(context.Background(), ds))
		msgs := readAll(t, jsFor(t, nc), cfg.Stream)
		require.Len(t, msgs, len(types))
		want := []string{"PAYMENT_APPROVED", "card_refund", "a_b_c", "_____", "x-y"}
		for i, m := range msgs {
			assert.Equal(t, cfg.SubjectPrefix+"."+want[i], m.subject)
			assert.Equal(t, r.Subject(types[i]), m.subject)
			assert.Equal(t, types[i], m.header.Get(natsrelay.HeaderEventType), "the header keeps the exact type")
			assert.Empty(t, m.header.Values(natsrelay.HeaderEventKey), "no key header for an event without a key")
		}
	})
}

func TestNew_StreamCreatedOrChecked(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg target) {
		t.Parallel()
		ctx := context.Background()
		nc := connect(t, tg.url)
		js := jsFor(t, nc)

		t.Run("created with the configuration", func(t *testing.T) {
			cfg := config(t, tg.url)
			cfg.Duplicates = 5 * time.Minute
			cfg.Storage = jetstream.MemoryStorage
			cfg.MaxAge = time.Hour
			r, err := natsrelay.New(ctx, nc, cfg)
			require.NoError(t, err)
			assert.Equal(t, cfg.Stream, r.Stream())
			s, err := js.Stream(ctx, cfg.Stream)
			require.NoError(t, err)
			got := s.CachedInfo().Config
			assert.Equal(t, []string{cfg.SubjectPrefix + ".>"}, got.Subjects)
			assert.Equal(t, 5*time.Minute, got.Duplicates)
			assert.Equal(t, jetstream.MemoryStorage, got.Storage)
			assert.Equal(t, time.Hour, got.MaxAge)
			assert.Equal(t, 1, got.Replicas)

			// A second relay (another process) accepts the same stream.
			_, err = natsrelay.New(ctx, nc, cfg)
			require.NoError(t, err)
		})

		t.Run("existing stream with wider subjects and a longer window", func(t *testing.T) {
			cfg := config(t, tg.url)
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{
				Name: cfg.Stream, Subjects: []string{cfg.SubjectPrefix[:len(cfg.SubjectPrefix)-len(".events")] + ".*.>"},
				Duplicates: 10 * time.Minute, Storage: jetstream.MemoryStorage,
			})
			require.NoError(t, err)
			r, err := natsrelay.New(ctx, nc, cfg)
			require.NoError(t, err)
			require.NoError(t, r.Publish(ctx, deliveries(2, "ORDER_CREATED")))
			assert.Equal(t, 2, streamMsgs(t, js, cfg.Stream))
		})

		t.Run("existing stream that does not fit is refused and left alone", func(t *testing.T) {
			for _, tt := range []struct {
				name   string
				stream func(cfg natsrelay.Config) jetstream.StreamConfig
				want   string
			}{
				{"other subjects", func(cfg natsrelay.Config) jetstream.StreamConfig {
					return jetstream.StreamConfig{Name: cfg.Stream, Subjects: []string{cfg.SubjectPrefix + ".ORDER_CREATED"}}
				}, "not the relay's subjects"},
				{"short duplicate window", func(cfg natsrelay.Config) jetstream.StreamConfig {
					return jetstream.StreamConfig{Name: cfg.Stream, Subjects: []string{cfg.SubjectPrefix + ".>"}, Duplicates: 10 * time.Second}
				}, "duplicate window of 10s"},
				{"no acks", func(cfg natsrelay.Config) jetstream.StreamConfig {
					return jetstream.StreamConfig{Name: cfg.Stream, Subjects: []string{cfg.SubjectPrefix + ".>"}, NoAck: true}
				}, "does not acknowledge"},
			} {
				t.Run(tt.name, func(t *testing.T) {
					cfg := config(t, tg.url)
					sc := tt.stream(cfg)
					sc.Storage = jetstream.MemoryStorage
					_, err := js.CreateStream(ctx, sc)
					require.NoError(t, err)
					_, err = natsrelay.New(ctx, nc, cfg)
					require.ErrorContains(t, err, tt.want)
					s, err := js.Stream(ctx, cfg.Stream)
					require.NoError(t, err)
					got := s.CachedInfo().Config
					assert.Equal(t, sc.Subjects, got.Subjects, "the stream is not changed")
					assert.Equal(t, sc.NoAck, got.NoAck)
				})
			}
		})

		t.Run("invalid configuration creates nothing", func(t *testing.T) {
			for _, tt := range []struct {
				name string
				edit func(*natsrelay.Config)
			}{
				{"stream name with a dot", func(c *natsrelay.Config) { c.Stream += ".x" }},
				{"stream name with a space", func(c *natsrelay.Config) { c.Stream += " x" }},
				{"empty prefix token", func(c *natsrelay.Config) { c.SubjectPrefix += "..x" }},
				{"wildcard prefix", func(c *natsrelay.Config) { c.SubjectPrefix += ".*" }},
				{"negative window", func(c *natsrelay.Config) { c.Duplicates = -time.Second }},
				{"max age below the window", func(c *natsrelay.Config) { c.MaxAge = time.Minute }},
				{"negative replicas", func(c *natsrelay.Config) { c.Replicas = -1 }},
				{"unknown storage", func(c *natsrelay.Config) { c.Storage = 7 }},
			} {
				t.Run(tt.name, func(t *testing.T) {
					cfg := config(t, tg.url)
					tt.edit(&cfg)
					_, err := natsrelay.New(ctx, nc, cfg)
					require.Error(t, err)
					assert.Contains(t, err.Error(), "natsrelay: ")
					_, err = js.Stream(ctx, cfg.Stream)
					assert.Error(t, err, "no stream was created")
				})
			}
			_, err := natsrelay.New(ctx, nil, natsrelay.Config{})
			assert.Error(t, err)
		})
	})
}

// TestPublish_StreamDeleted_RecreatedOnNextPublish: a publish that finds no
// stream fails (the outbox retries it) and the next one creates the stream
// again.
func TestPublish_StreamDeleted_RecreatedOnNextPublish(t *testing.T) {
	e := startEmbedded(t)
	nc := connect(t, e.url())
	cfg := config(t, e.url())
	r, err := natsrelay.New(context.Background(), nc, cfg)
	require.NoError(t, err)
	js := jsFor(t, nc)
	require.NoError(t, js.DeleteStream(context.Background(), cfg.Stream))

	ds := deliveries(3, "PAYMENT_APPROVED")
	err = r.Publish(context.Background(), ds)
	require.ErrorIs(t, err, jetstream.ErrNoStreamResponse)
	require.NoError(t, r.Publish(context.Background(), ds))
	assert.Equal(t, 3, streamMsgs(t, js, cfg.Stream))
}

// TestPublish_ServerDown_ErrorNotAck: with the server gone, Publish fails
// at once rather than reporting events as published.
func TestPublish_ServerDown_ErrorNotAck(t *testing.T) {
	e := startEmbedded(t)
	nc := connect(t, e.url())
	r, err := natsrelay.New(context.Background(), nc, config(t, e.url()))
	require.NoError(t, err)
	require.NoError(t, r.Publish(context.Background(), nil), "nothing to publish")
	e.stop()
	waitFor(t, "the connection to notice", func() bool { return !nc.IsConnected() })
	err = r.Publish(context.Background(), deliveries(2, "PAYMENT_APPROVED"))
	require.ErrorContains(t, err, "NATS connection is")

	nc.Close()
	err = r.Publish(context.Background(), deliveries(2, "PAYMENT_APPROVED"))
	require.ErrorContains(t, err, "CLOSED")
}

// TestPublish_NoAckInTime_Error: a server that takes a message but never
// acknowledges it (a stream that does not ack, set up behind the relay's
// back) makes Publish fail after AckTimeout instead of reporting success.
func TestPublish_NoAckInTime_Error(t *testing.T) {
	e := startEmbedded(t)
	nc := connect(t, e.url())
	cfg := config(t, e.url())
	cfg.AckTimeout = 200 * time.Millisecond
	r, err := natsrelay.New(context.Background(), nc, cfg)
	require.NoError(t, err)
	js := jsFor(t, nc)
	s, err := js.Stream(context.Background(), cfg.Stream)
	require.NoError(t, err)
	sc := s.CachedInfo().Config
	sc.NoAck = true
	_, err = js.UpdateStream(context.Background(), sc)
	require.NoError(t, err)

	err = r.Publish(context.Background(), deliveries(2, "PAYMENT_APPROVED"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ev-000")
}

func TestSubscriber_Defaults(t *testing.T) {
	e := startEmbedded(t)
	nc := connect(t, e.url())
	cfg := config(t, e.url())
	r, err := natsrelay.New(context.Background(), nc, cfg)
	require.NoError(t, err)
	sub := r.Subscriber()
	assert.Equal(t, natsrelay.DefaultName, sub.Name)
	assert.Same(t, r, sub.Relay)
	assert.Nil(t, sub.Handle)
	assert.True(t, sub.Ordered)
	assert.Empty(t, sub.Types)
	assert.Equal(t, outbox.Unlimited, sub.Retry.MaxAttempts, "an outage never parks events as dead")

	cfg.Name, cfg.Types, cfg.Unordered = "broker", []string{"ORDER_CREATED"}, true
	cfg.Retry = outbox.Policy{MaxAttempts: 3}
	r, err = natsrelay.New(context.Background(), nc, cfg)
	require.NoError(t, err)
	sub = r.Subscriber()
	assert.Equal(t, "broker", sub.Name)
	assert.Equal(t, []string{"ORDER_CREATED"}, sub.Types)
	assert.False(t, sub.Ordered)
	assert.Equal(t, 3, sub.Retry.MaxAttempts)
}

func TestSubject(t *testing.T) {
	assert.Equal(t, "paygate.events.PAYMENT_APPROVED", natsrelay.Subject(natsrelay.DefaultSubjectPrefix, "PAYMENT_APPROVED"))
	assert.Equal(t, "p.a_b", natsrelay.Subject("p", "a.b"))
	assert.Equal(t, "p._", natsrelay.Subject("p", ""))
}
