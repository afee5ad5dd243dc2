package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessiond/sessiond/internal/config"
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
			"http://<server.listen> of the configuration (a wildcard listen address is asked on loopback), or\n" +
			"https:// when server.tls_cert_file is set: the server must then present that very certificate,\n" +
			"whatever names it covers.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base := url
			if base == "" {
				base = a.getenv("SESSIOND_URL")
			}
			var tlsConf *tls.Config // asking server.listen when it serves TLS
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
				scheme := "http"
				if cfg.Server.TLSCertFile != "" {
					scheme = "https"
					if tlsConf, err = ownCertificate(cfg.Server.TLSCertFile); err != nil {
						return err
					}
				}
				base = scheme + "://" + net.JoinHostPort(host, port)
			}
			if !strings.Contains(base, "://") {
				return usageErr("invalid argument: URL %s has no scheme; did you mean http://%s?", quoted(base), clean(base))
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
			if tlsConf != nil {
				hc.Transport = &http.Transport{TLSClientConfig: tlsConf} // no proxy: it asks the listener itself
			}
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
	// Refused empty (checkFlags): a health check of SESSIOND_URL's server
	// or the configuration's would report another server's health.
	onceVar(cmd.Flags(), &url, "url", "server URL (env SESSIOND_URL; default http(s)://<server.listen>)")
	cmd.Flags().Lookup("url").Value.(*onceValue).absent = "SESSIOND_URL or http(s)://<server.listen>"
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "give up after this long")
	return cmd
}

// ownCertificate is the TLS configuration with which healthcheck asks the
// server's own listener: the server must present the certificate in
// certFile (server.tls_cert_file), byte for byte. The usual verification
// would fail a healthy server: the check asks a loopback or listen
// address, which a certificate issued for the service's public name rarely
// covers, and that certificate's CA may not be in this image's roots.
// Pinning the very certificate the server loads is stricter than either
// (nothing else can answer) and needs no name; the check sends nothing
// secret. A certificate past its expiry still passes: a restart would not
// renew it, so it is not for the health check to fail on.
func ownCertificate(certFile string) (*tls.Config, error) {
	// Bounded and non-blocking, as the secret files: a FIFO there would
	// hang the check past its --timeout (which covers only the request),
	// and a wrong path to a big file would be read whole.
	text, err := config.ReadFileLimit(certFile, config.MaxCertFileSize)
	if err != nil {
		return nil, fmt.Errorf("server.tls_cert_file: %w", err)
	}
	var leaf []byte
	for block, rest := pem.Decode(text); block != nil; block, rest = pem.Decode(rest) {
		if block.Type == "CERTIFICATE" {
			leaf = block.Bytes // the first one: the server's own, before its chain
			break
		}
	}
	if leaf == nil {
		return nil, fmt.Errorf("server.tls_cert_file %s: no PEM certificate in it", certFile)
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Name and chain checks off: VerifyConnection below pins the
		// certificate itself instead.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, leaf) {
				return errors.New("the server's certificate is not the one in server.tls_cert_file")
			}
			return nil
		},
	}, nil
}
