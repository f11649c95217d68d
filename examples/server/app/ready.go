package app

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// readyCheck is one check of /readyz.
type readyCheck struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	// Error says why the check failed.
	Error string `json:"error,omitempty"`
	// Pending lists the migrations not applied (check "migrations").
	Pending []string `json:"pending,omitempty"`
	// LastLoop is when the loop last went round (checks "saga_runner" and
	// "outbox").
	LastLoop *time.Time `json:"lastLoop,omitempty"`
}

type readyAnswer struct {
	Ready  bool         `json:"ready"`
	Failed []string     `json:"failed"`
	Checks []readyCheck `json:"checks"`
}

// ready is /readyz: 200 when the database answers, its schema has every
// migration this binary knows, and the saga runner's and the outbox's loops
// went round within StaleAfter; 503 otherwise, naming the failed checks.
// /healthz stays a liveness check.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var checks []readyCheck

	db := readyCheck{Name: "database", OK: true}
	if err := a.db.SQL().PingContext(ctx); err != nil {
		db.OK, db.Error = false, "the database does not answer"
	}
	checks = append(checks, db)

	mig := readyCheck{Name: "migrations", OK: true}
	switch pending, err := a.db.PendingMigrations(ctx, Migrations()); {
	case err != nil:
		mig.OK, mig.Error = false, "the applied migrations could not be read"
		a.log.Warn("readyz: read migrations", "err", err)
	case len(pending) > 0:
		mig.OK, mig.Pending = false, pending
		mig.Error = fmt.Sprintf("%d migration(s) not applied", len(pending))
	}
	checks = append(checks, mig)

	now := time.Now()
	for _, loop := range []struct {
		name string
		last time.Time
	}{
		{"saga_runner", a.pay.Runner().LastLoop()},
		{"outbox", a.pay.Outbox().LastLoop()},
	} {
		c := readyCheck{Name: loop.name, OK: true}
		switch age := now.Sub(loop.last); {
		case loop.last.IsZero():
			c.OK, c.Error = false, "not running"
		case age > a.cfg.StaleAfter:
			c.OK, c.Error = false, fmt.Sprintf("its loop last went round %s ago", age.Round(time.Millisecond))
		}
		if !loop.last.IsZero() {
			at := loop.last.UTC()
			c.LastLoop = &at
		}
		checks = append(checks, c)
	}

	ans := readyAnswer{Ready: true, Failed: []string{}, Checks: checks}
	for _, c := range checks {
		if !c.OK {
			ans.Ready = false
			ans.Failed = append(ans.Failed, c.Name)
		}
	}
	status := http.StatusOK
	if !ans.Ready {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, ans)
}
