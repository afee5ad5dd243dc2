package main

import (
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestRun_FurtherSignalStopsAnyCommand: a command still running after
// the first SIGTERM or SIGINT ended its context (a store or server that
// does not answer) is not waited for at a further signal: the CLI stops
// at once with errStoppedNow (exit 1), as serve does. A command that took
// the further signals (serve, takeAgain) gets them instead and ends when
// it returns. Before, a further signal was ignored by every command but
// serve.
func TestRun_FurtherSignalStopsAnyCommand(t *testing.T) {
	errServe := errors.New("serve's own stop")
	for _, tc := range []struct {
		name      string
		takeAgain bool
		want      error
	}{
		{"a command that does not stop", false, errStoppedNow},
		{"a command that took the further signals", true, errServe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &app{}
			release := make(chan struct{})
			defer close(release)
			ctxEnded := make(chan struct{})
			root := &cobra.Command{Use: "x", SilenceErrors: true, SilenceUsage: true,
				RunE: func(cmd *cobra.Command, _ []string) error {
					var again <-chan struct{}
					if tc.takeAgain {
						again = a.takeAgain()
					}
					<-cmd.Context().Done()
					close(ctxEnded)
					// Stuck: only a further signal can end the CLI.
					select {
					case <-again:
						return errServe
					case <-release:
						return nil
					}
				}}
			root.SetArgs(nil)
			sigs := make(chan os.Signal, 1)
			ctx, stopNow, stop := a.watchSignals(sigs)
			defer stop()
			errc := make(chan error, 1)
			go func() { errc <- executeUntil(ctx, root, stopNow) }()

			sigs <- syscall.SIGTERM
			select {
			case <-ctxEnded:
			case <-time.After(30 * time.Second):
				t.Fatal("the first signal did not end the command's context")
			}
			select {
			case err := <-errc:
				t.Fatalf("executeUntil returned %v after the first signal; want it waiting for the command", err)
			default:
			}
			sigs <- syscall.SIGINT
			select {
			case err := <-errc:
				if !errors.Is(err, tc.want) {
					t.Errorf("executeUntil after a further signal = %v; want %v", err, tc.want)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("still running 30s after a further signal, with a command that does not stop")
			}
		})
	}
}
