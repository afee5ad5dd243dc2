package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/httpapi"
)

func (a *app) incidentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "The incident kill switch",
		Long:  "The incident kill switch: revoke sessions and refresh tokens on every node at once.\n" + remoteHelp,
	}
	var (
		url, issuedBefore string
		in                client.Incident
	)
	revoke := &cobra.Command{
		Use:   "revoke --all | --subject S... | --issued-before T --reason R [--rotate-keys] [--notify]",
		Short: "Revoke matching sessions and their refresh tokens on every node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// --issued-before "" would travel as no bound, every session of
			// the subjects (of every subject with --all). (--url "" is
			// refused with the deployment flags: checkFlags.)
			if err := checkSelectors(cmd, "issued-before"); err != nil {
				return err
			}
			if issuedBefore != "" {
				t, err := time.Parse(time.RFC3339, issuedBefore)
				if err != nil || t.IsZero() {
					// The zero time would travel as no time at all (an
					// omitted issued_before), widening --subject to every
					// session of the subject.
					return usageErr("invalid argument: --issued-before wants an RFC 3339 time, got %s", quoted(issuedBefore))
				}
				// The server bounds it by its clock: a time ahead (a typo in
				// the year) would quietly revoke every session. A minute
				// covers the skew between this host and the server.
				if time.Until(t) > time.Minute {
					return usageErr("invalid argument: --issued-before %s is in the future, which means every session; say --all if that is meant", t.UTC().Format(time.RFC3339))
				}
				in.IssuedBefore = t
			}
			// Checked here as the server checks them, so that a mistake is
			// a usage error before anything is sent.
			for _, s := range in.Subjects {
				if err := checkSubject("--subject", s); err != nil {
					return err
				}
			}
			if !in.All && len(in.Subjects) == 0 && in.IssuedBefore.IsZero() {
				return usageErr("invalid argument: say what to revoke: --all, --subject or --issued-before")
			}
			if strings.TrimSpace(in.Reason) == "" {
				return usageErr("required flag(s) \"reason\" not set")
			}
			// The rest of what the server would refuse (a --reason over its
			// limit, too many subjects), refused here as a usage error.
			if err := httpapi.CheckIncident(&in, time.Now()); err != nil {
				return usageErr("invalid argument: %w", err)
			}
			for _, s := range in.Subjects {
				noteSpaces(a.stderr, "--subject", s)
				noteEscapes(a.stderr, "--subject", s)
			}
			c, where, err := a.remoteFrom(url)
			if err != nil {
				return err
			}
			a.announce(where)
			start := time.Now()
			n, err := c.RevokeIncident(cmd.Context(), in)
			if ae := (*client.Error)(nil); err != nil && !errors.As(err, &ae) {
				// No answer (a timeout, Ctrl-C, a dropped connection): the
				// server runs a revocation it has started to its end.
				return fmt.Errorf("%w (a revocation the server started goes on without this command; the same command again is harmless and reports what was left)", err)
			} else if err != nil {
				if !ae.IssuedBefore.IsZero() {
					return incidentFailed(n, err, rerunCommand(in, ae.IssuedBefore, url))
				}
				return revokedBefore(n, err)
			}
			fmt.Fprintf(a.stdout, "revoked %s in %v (reason: %s)\n", plural(n, "session"),
				time.Since(start).Round(time.Millisecond), cell(in.Reason))
			if in.RotateKeys {
				fmt.Fprintln(a.stdout, "every signing key retired: no earlier JWT verifies on any node")
			}
			return nil
		},
	}
	f := revoke.Flags()
	urlVar(f, &url)
	f.BoolVar(&in.All, "all", false, "every session")
	f.StringArrayVar(&in.Subjects, "subject", nil, "a subject whose sessions to revoke (repeatable)")
	onceVar(f, &issuedBefore, "issued-before", "sessions created before this time (RFC 3339)")
	onceVar(f, &in.Reason, "reason", "why (required; sent to the server for its event log)")
	f.BoolVar(&in.RotateKeys, "rotate-keys", false, "also retire every signing key")
	f.BoolVar(&in.Notify, "notify", false, "emit one session.revoked_by_incident event per affected subject")
	// Scopes combine with AND, so --all with --subject means the subjects
	// only: an operator who typed both may have meant everyone. Refused
	// rather than guessed, in the middle of an incident.
	revoke.MarkFlagsMutuallyExclusive("all", "subject")
	cmd.AddCommand(revoke)
	return cmd
}
