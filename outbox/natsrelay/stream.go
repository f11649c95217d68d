package natsrelay

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// ensureStream creates the stream, or checks an existing one, and marks the
// relay ready.
func (r *Relay) ensureStream(ctx context.Context) error {
	want := r.cfg.SubjectPrefix + ".>"
	s, err := r.js.Stream(ctx, r.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = r.js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        r.cfg.Stream,
			Description: "paygate outbox events",
			Subjects:    []string{want},
			Duplicates:  r.cfg.Duplicates,
			Storage:     r.cfg.Storage,
			Replicas:    r.cfg.Replicas,
			MaxAge:      r.cfg.MaxAge,
		})
		if err == nil {
			r.log.Info("natsrelay: created stream", "subjects", want, "duplicates", r.cfg.Duplicates, "storage", r.cfg.Storage.String())
		}
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			// Another process created it meanwhile; check its config.
			s, err = r.js.Stream(ctx, r.cfg.Stream)
		}
	}
	if err != nil {
		return fmt.Errorf("natsrelay: stream %s: %w", r.cfg.Stream, err)
	}
	if err := r.check(s.CachedInfo().Config); err != nil {
		return err
	}
	r.ready.Store(true)
	return nil
}

// check tells whether an existing stream can take the relay's messages.
func (r *Relay) check(c jetstream.StreamConfig) error {
	want := r.cfg.SubjectPrefix + ".>"
	captured := false
	for _, s := range c.Subjects {
		if covers(s, want) {
			captured = true
			break
		}
	}
	switch {
	case !captured:
		return fmt.Errorf("natsrelay: stream %s captures %q, not the relay's subjects %q", c.Name, c.Subjects, want)
	case c.Duplicates < r.cfg.Duplicates:
		return fmt.Errorf("natsrelay: stream %s has a duplicate window of %s, shorter than the %s configured", c.Name, c.Duplicates, r.cfg.Duplicates)
	case c.NoAck:
		return fmt.Errorf("natsrelay: stream %s does not acknowledge publishes (no_ack)", c.Name)
	case c.Sealed:
		return fmt.Errorf("natsrelay: stream %s is sealed", c.Name)
	}
	return nil
}

// covers reports whether the subject filter matches every subject that sub
// matches (sub may use wildcards too).
func covers(filter, sub string) bool {
	f, s := strings.Split(filter, "."), strings.Split(sub, ".")
	for i, ft := range f {
		if ft == ">" {
			return i < len(s)
		}
		if i >= len(s) || s[i] == ">" {
			return false
		}
		if ft != "*" && ft != s[i] {
			return false
		}
	}
	return len(f) == len(s)
}
