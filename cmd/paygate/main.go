// Command paygate is the operators' command line of a paygate database:
// migrations, the attention queue and what acts on it, reconciliation,
// settlement exports, webhook replays and pruning — without writing code.
//
//	paygate --db sqlite:./data/paygate.db migrate up
//	PAYGATE_DB='mysql:app:secret@tcp(db:3306)/paygate' paygate attention --json
//
// The database comes from --db or PAYGATE_DB, in the form store.Open
// accepts (sqlite:PATH or mysql:DSN), as for the example server. Commands
// that call a PG (reconcile) take its settings from the example server's
// environment variables (PAYGATE_TOSS_SECRET_KEY, …). Output is an aligned
// table, or JSON with --json. Exit status: 0 done, 1 failed, 2 usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kong"
	"golang.org/x/term"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	programName = "paygate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// usageError is a mistake in how the command was called: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exited is how kong's help and version flags end a run (kong.Exit).
type exited struct{ code int }

// run is the whole command on its arguments and streams, returning the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) (code int) {
	var c cli
	parser, err := kong.New(&c,
		kong.Name(programName),
		kong.Description("Operate a paygate database: migrations, the attention queue, reconciliation, exports, webhook replays and pruning."),
		kong.UsageOnError(),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { panic(exited{code}) }),
		kong.Vars{"formats": "csv,xlsx"},
	)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		return exitFailed
	}
	defer func() {
		if v := recover(); v != nil {
			e, ok := v.(exited)
			if !ok {
				panic(v)
			}
			code = e.code
			if code != exitOK {
				code = exitUsage
			}
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		fmt.Fprintf(stderr, "Run %q for usage.\n", programName+" --help")
		return exitUsage
	}
	e := &env{ctx: ctx, cli: &c, out: stdout, errOut: stderr, getenv: getenv, tty: isTerminal(stderr)}
	defer e.close()
	if err := kctx.Run(e); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", programName, err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailed
	}
	return exitOK
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
