package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessiond/sessiond/client"
)

func (a *app) eventsCmd() *cobra.Command {
	var (
		url, since, until string
		q                 client.EventQuery
		all               bool
		asJSON            bool
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Query the security event log of the running server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.remote(url)
			if err != nil {
				return err
			}
			for _, p := range []struct {
				s   string
				dst *time.Time
			}{{since, &q.Since}, {until, &q.Until}} {
				if p.s == "" {
					continue
				}
				t, err := time.Parse(time.RFC3339, p.s)
				if err != nil {
					return fmt.Errorf("invalid argument: want an RFC 3339 time, got %q", p.s)
				}
				*p.dst = t
			}
			for {
				events, next, err := c.ListEvents(cmd.Context(), q)
				if err != nil {
					return err
				}
				for _, e := range events {
					if asJSON {
						b, _ := json.Marshal(e)
						fmt.Fprintln(a.stdout, string(b))
						continue
					}
					details, _ := json.Marshal(e.Details)
					fmt.Fprintf(a.stdout, "%s  %-34s  subject=%s session=%s ip=%s %s\n", e.Time.UTC().Format(time.RFC3339),
						e.Type, e.Subject, e.SessionID, e.Client.IP, details)
				}
				if !all || next == "" {
					if next != "" {
						fmt.Fprintln(a.stderr, "more: --cursor", next)
					}
					return nil
				}
				q.Cursor = next
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "url", "", "server URL (env SESSIOND_URL; default http://<server.listen>)")
	f.StringVar(&q.Subject, "subject", "", "only this subject")
	f.StringVar((*string)(&q.SessionID), "session-id", "", "only this session")
	f.StringVar((*string)(&q.Type), "type", "", "only this event type, e.g. session.refresh_token_reused")
	f.StringVar(&since, "since", "", "from this time (RFC 3339, inclusive)")
	f.StringVar(&until, "until", "", "up to this time (RFC 3339, exclusive)")
	f.StringVar(&q.Cursor, "cursor", "", "continue after this event ID")
	f.IntVar(&q.Limit, "limit", 100, "page size (1-1000)")
	f.BoolVar(&all, "all", false, "follow every page")
	f.BoolVar(&asJSON, "json", false, "one JSON object per line")
	return cmd
}

func (a *app) incidentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "incident", Short: "The incident kill switch"}
	var (
		url, issuedBefore string
		in                client.Incident
	)
	revoke := &cobra.Command{
		Use:   "revoke --all | --subject S... | --issued-before T --reason R [--rotate-keys] [--notify]",
		Short: "Revoke matching sessions and their refresh tokens on every node",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if issuedBefore != "" {
				t, err := time.Parse(time.RFC3339, issuedBefore)
				if err != nil {
					return fmt.Errorf("invalid argument: --issued-before wants an RFC 3339 time, got %q", issuedBefore)
				}
				in.IssuedBefore = t
			}
			if !in.All && len(in.Subjects) == 0 && in.IssuedBefore.IsZero() {
				return fmt.Errorf("invalid argument: say what to revoke: --all, --subject or --issued-before")
			}
			if strings.TrimSpace(in.Reason) == "" {
				return fmt.Errorf("required flag(s) \"reason\" not set")
			}
			c, err := a.remote(url)
			if err != nil {
				return err
			}
			start := time.Now()
			n, err := c.RevokeIncident(cmd.Context(), in)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "revoked %d sessions in %v\n", n, time.Since(start).Round(time.Millisecond))
			if in.RotateKeys {
				fmt.Fprintln(a.stdout, "every signing key retired: no earlier JWT verifies on any node")
			}
			return nil
		},
	}
	f := revoke.Flags()
	f.StringVar(&url, "url", "", "server URL (env SESSIOND_URL; default http://<server.listen>)")
	f.BoolVar(&in.All, "all", false, "every session")
	f.StringArrayVar(&in.Subjects, "subject", nil, "a subject whose sessions to revoke (repeatable)")
	f.StringVar(&issuedBefore, "issued-before", "", "sessions created before this time (RFC 3339)")
	f.StringVar(&in.Reason, "reason", "", "why (recorded in the event log)")
	f.BoolVar(&in.RotateKeys, "rotate-keys", false, "also retire every signing key")
	f.BoolVar(&in.Notify, "notify", false, "emit one session.revoked_by_incident event per affected subject")
	cmd.AddCommand(revoke)
	return cmd
}
