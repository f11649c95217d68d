package main

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows how long work advances: a bar on a terminal, and on
// anything else (a log, a pipe) a plain line every few seconds and one at
// the end, so a scheduled job's log stays short.
type progress struct {
	e     *env
	what  string
	unit  string
	total int64
	bar   *progressbar.ProgressBar
	done  int64
	start time.Time
	last  time.Time
}

// plainEvery is how often a line is printed when not on a terminal.
const plainEvery = 2 * time.Second

// newProgress starts the progress of what; total -1 when unknown.
func newProgress(e *env, what string, total int64, unit string) *progress {
	p := &progress{e: e, what: what, unit: unit, total: total, start: time.Now()}
	p.last = p.start
	if e.tty {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(e.errOut),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionShowIts(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		return p
	}
	if total >= 0 {
		fmt.Fprintf(e.errOut, "%s: %d %s to go\n", what, total, unit)
	} else {
		fmt.Fprintf(e.errOut, "%s: started\n", what)
	}
	return p
}

func (p *progress) add(n int64) {
	p.done += n
	if p.bar != nil {
		_ = p.bar.Add64(n)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= plainEvery {
		p.last = now
		p.line()
	}
}

func (p *progress) line() {
	if p.total > 0 {
		fmt.Fprintf(p.e.errOut, "%s: %d/%d %s (%d%%)\n", p.what, p.done, p.total, p.unit, p.done*100/p.total)
		return
	}
	fmt.Fprintf(p.e.errOut, "%s: %d %s\n", p.what, p.done, p.unit)
}

func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		return
	}
	took := time.Since(p.start).Round(time.Millisecond)
	if p.done > 0 || p.total >= 0 {
		fmt.Fprintf(p.e.errOut, "%s: done, %d %s in %s\n", p.what, p.done, p.unit, took)
		return
	}
	fmt.Fprintf(p.e.errOut, "%s: done in %s\n", p.what, took)
}
