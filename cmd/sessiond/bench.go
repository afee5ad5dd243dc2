package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/loadgen"
)

func (a *app) benchCmd() *cobra.Command {
	var (
		o       loadgen.Options
		apiKey  string
		asJSON  bool
		bareAdr string
	)
	cmd := &cobra.Command{
		Use:   "bench verify|refresh|create|mixed [--url URL] [--concurrency N] [--duration D] [--sessions N] [--rate R] [--client] [--json]",
		Short: "Load a running server and report requests/s, latency percentiles and errors (exit 1 on any error)",
		Long: `Load a running server over HTTP with N keep-alive connections, each with one
request in flight, for a fixed time, and report requests per second, latency
percentiles (p50, p90, p99, max; exact, from every request) and errors.

  verify   verify the access tokens of --sessions sessions created beforehand
  refresh  each connection refreshes its own rotating chain
  create   log in (POST /v1/sessions) as new subjects
  mixed    per 100 requests: 1 create, 10 refresh, 89 verify

Setup requests (creating sessions, verifying each once) are not measured.
The sessions it creates stay until they expire (subjects bench-<run>-…).
The API key comes from --api-key, SESSIOND_API_KEY or <data>/api-key.
Exit status: 0 no error, 1 a setup failure or any failed request, 2 usage.

--bare-server ADDR serves, instead, the baseline handler the server is
compared with (a plain net/http handler answering a fixed verify-sized JSON
body) on a loopback address until interrupted.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if bareAdr != "" {
				return cobra.NoArgs(cmd, args)
			}
			if err := cobra.ExactArgs(1)(cmd, args); err != nil {
				return err
			}
			for _, s := range loadgen.Scenarios {
				if args[0] == string(s) {
					return nil
				}
			}
			return fmt.Errorf("invalid argument %q: want verify, refresh, create or mixed", args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if bareAdr != "" {
				return a.serveBare(cmd.Context(), bareAdr)
			}
			// Given empty (a script's unset variable), it would be read as
			// left out, and SESSIOND_API_KEY or <data>/api-key, another
			// deployment's key perhaps, sent to the server --url names.
			if err := checkSelectors(cmd, "api-key"); err != nil {
				return err
			}
			if o.Concurrency < 1 || o.Duration <= 0 || o.Sessions < 1 || o.Timeout <= 0 || !(o.Rate >= 0) {
				return usageErr("invalid argument: --concurrency, --duration, --sessions and --timeout must be positive, --rate at least 0")
			}
			o.Scenario = loadgen.Scenario(args[0])
			base, key, err := a.benchTarget(o.URL, apiKey)
			if err != nil {
				return err
			}
			o.URL, o.APIKey = base, key
			res, err := loadgen.Run(cmd.Context(), o)
			if errors.Is(err, loadgen.ErrInvalidOptions) {
				return usageErr("invalid argument: %w", err) // refused before any request: exit 2
			}
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				err = enc.Encode(res)
			} else {
				err = res.WriteText(a.stdout)
			}
			if err != nil {
				return err
			}
			if res.Errors > 0 {
				fmt.Fprintf(a.stderr, "sessiond bench: %d of %d requests failed\n", res.Errors, res.Requests)
				return exitError{1}
			}
			return nil
		},
	}
	f := cmd.Flags()
	urlVar(f, &o.URL)
	onceVar(f, &apiKey, "api-key", "API key (prefer env SESSIOND_API_KEY: flags show in the process list)")
	f.Lookup("api-key").Value.(*onceValue).absent = "SESSIOND_API_KEY or <data>/api-key"
	f.IntVar(&o.Concurrency, "concurrency", 32, "connections, each with one request in flight")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "how long the measured load runs")
	f.IntVar(&o.Sessions, "sessions", 200, "sessions to create and cycle through (verify, mixed)")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Second, "limit for each request")
	f.Float64Var(&o.Rate, "rate", 0, "cap on requests per second over all connections (0: no cap; for soaks)")
	f.BoolVar(&o.Client, "client", false, "send every request with a browser's client (IP and User-Agent), as real traffic has")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.StringVar(&bareAdr, "bare-server", "", "serve the baseline handler on this loopback address instead of loading a server")
	return cmd
}

// benchTarget resolves the server URL and API key the way the other
// client commands do, with --api-key first.
func (a *app) benchTarget(urlFlag, keyFlag string) (string, string, error) {
	cfg, _, err := a.loadConfig()
	if err != nil {
		return "", "", err
	}
	base := urlFlag
	if base == "" {
		base = a.getenv("SESSIOND_URL")
	}
	if base == "" {
		base = "http://" + cfg.Server.Listen
	}
	key := keyFlag
	if key == "" {
		key = a.getenv("SESSIOND_API_KEY")
	}
	if key == "" {
		file, err := a.apiKeyFile(cfg)
		if err != nil {
			return "", "", err
		}
		b, err := config.ReadSecretFile(file)
		if err != nil {
			// The reason names the file, never its content (remote).
			return "", "", fmt.Errorf("no API key: %w (pass --api-key, set SESSIOND_API_KEY, or run where that file is readable)", err)
		}
		key = strings.TrimSpace(string(b))
	}
	return base, key, nil
}

// serveBare serves loadgen.BareHandler on a loopback address until ctx
// ends. It prints the bound address, so ":0" can be used.
func (a *app) serveBare(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		return usageErr("invalid argument: --bare-server wants a loopback host:port, got %q", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: loadgen.BareHandler(), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(a.stdout, "bare handler on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
