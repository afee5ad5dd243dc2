package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// healthcheckCmd asks a running server's /readyz, for container health
// checks in an image without a shell or curl.
func (a *app) healthcheckCmd() *cobra.Command {
	var (
		url     string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the server at --url (default: server.listen) answers /readyz with 200",
		Long: "Exit 0 when the running server answers GET /readyz with 200 (it serves and its store answers), 1 otherwise.\n" +
			"For HEALTHCHECK in the container image, which has no shell. Reads --url or SESSIOND_URL, else\n" +
			"http://<server.listen> of the configuration (a wildcard listen address is asked on loopback).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base := url
			if base == "" {
				base = a.getenv("SESSIOND_URL")
			}
			if base == "" {
				cfg, _, err := a.loadConfig()
				if err != nil {
					return err
				}
				host, port, err := net.SplitHostPort(cfg.Server.Listen)
				if err != nil {
					return fmt.Errorf("server.listen %q: %w", cfg.Server.Listen, err)
				}
				if host == "" || host == "0.0.0.0" || host == "::" {
					host = "127.0.0.1"
				}
				base = "http://" + net.JoinHostPort(host, port)
			}
			if !strings.Contains(base, "://") {
				return fmt.Errorf("invalid argument: URL %q has no scheme; did you mean http://%s?", clean(base), clean(base))
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/readyz", nil)
			if err != nil {
				return err
			}
			// A redirect is an answer other than 200, whatever it points at
			// (a proxy's login page, another service).
			hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := hc.Do(req)
			if err != nil {
				return fmt.Errorf("not ready: %w", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("not ready: /readyz answered %d", resp.StatusCode)
			}
			fmt.Fprintln(a.stdout, "ready")
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "", "server URL (env SESSIOND_URL; default http://<server.listen>)")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}
