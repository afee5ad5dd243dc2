package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/newestfirst"
)

// eventTypes is every type the event log can hold, for --type. A test
// (TestEventTypes_Complete) fails when the module declares an EventType
// this list lacks.
var eventTypes = sessiond.EventTypes()

// parseSince reads an RFC 3339 time or a duration back from now (1h, 30m, 7d).
// The zero time is refused, as the server refuses it: it is sent as no
// bound at all, so --until would list every event rather than none.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if t.IsZero() {
			return time.Time{}, usageErr("invalid argument: the zero time 0001-01-01T00:00:00Z is no bound; leave the flag out for none")
		}
		return t, nil
	}
	if d, err := config.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-time.Duration(d)), nil
	}
	return time.Time{}, usageErr("invalid argument: want an RFC 3339 time (2026-11-01T00:00:00Z) or a duration back from now (90m, 1h, 7d), got %q", s)
}

func (a *app) eventsCmd() *cobra.Command {
	var (
		url, since, until, typ string
		q                      client.EventQuery
		all, oldestFirst       bool
		asJSON                 bool
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Query the security event log of the running server, newest first",
		Long: "Query the security event log of the running server. By default the newest --limit events\n" +
			"matching the filters are shown, newest first; --oldest-first, --cursor and --all page from\n" +
			"the oldest instead.\n\nEvent types: " + strings.Join(typeNames(), ", ") + "\n" + remoteHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			if q.Limit < 1 || q.Limit > sessiond.MaxEventLimit {
				return usageErr("invalid argument: --limit must be from 1 to %d, got %d", sessiond.MaxEventLimit, q.Limit)
			}
			// A filter given empty would be sent as none, every subject's
			// events: refused, as the server refuses ?subject= (an empty
			// --cursor stays the first page).
			if err := checkSelectors(cmd, "subject", "session-id", "type", "since", "until"); err != nil {
				return err
			}
			if typ != "" {
				if !slices.Contains(eventTypes, sessiond.EventType(typ)) {
					return usageErr("invalid argument: unknown event type %s; known: %s", quoted(typ), strings.Join(typeNames(), ", "))
				}
				q.Type = sessiond.EventType(typ)
			}
			for _, p := range []struct {
				s   string
				dst *time.Time
			}{{since, &q.Since}, {until, &q.Until}} {
				if p.s == "" {
					continue
				}
				t, err := parseSince(p.s, now)
				if err != nil {
					return err
				}
				*p.dst = t
			}
			// Checked as sessions and incident check them, before anything
			// is sent: these travel in the URL's query, which proxies log,
			// and a token pasted as --session-id must not land there.
			if q.Subject != "" {
				if err := checkSubject("--subject", q.Subject); err != nil {
					return err
				}
			}
			if q.SessionID != "" {
				if err := checkSessionID("--session-id", string(q.SessionID)); err != nil {
					return err
				}
			}
			if q.Cursor != "" && !httpapi.ValidEventCursor(q.Cursor) {
				return usageErr("invalid argument: --cursor is not a cursor (cursors are event IDs, evt_ and 26 characters, " +
					"as printed after \"more: --cursor\"; the argument is not printed in case it is a token)")
			}
			c, err := a.remote(url)
			if err != nil {
				return err
			}
			print := func(e client.Event) error {
				if asJSON {
					return writeJSON(a.stdout, e)
				}
				_, err := io.WriteString(a.stdout, eventLine(e))
				return err
			}
			if !oldestFirst && !all && q.Cursor == "" {
				events, err := newestEvents(cmd.Context(), c, q, now)
				if err != nil {
					return err
				}
				for _, e := range events {
					if err := print(e); err != nil {
						return err
					}
				}
				return nil
			}
			seen := followed{q.Cursor: {}}
			for {
				events, next, err := c.ListEvents(cmd.Context(), q)
				if err != nil {
					return err
				}
				for _, e := range events {
					if err := print(e); err != nil {
						return err
					}
				}
				if !all || next == "" {
					if next != "" {
						fmt.Fprintln(a.stderr, "more: --cursor", cell(next))
					}
					return nil
				}
				if err := seen.follow(next); err != nil {
					return err
				}
				q.Cursor = next
			}
		},
	}
	f := cmd.Flags()
	urlVar(f, &url)
	f.StringVar(&q.Subject, "subject", "", "only this subject")
	f.StringVar((*string)(&q.SessionID), "session-id", "", "only this session")
	f.StringVar(&typ, "type", "", "only this event type, e.g. session.refresh_token_reused")
	f.StringVar(&since, "since", "", "from this time (RFC 3339, inclusive) or this long ago (1h, 30m, 7d)")
	f.StringVar(&until, "until", "", "up to this time (RFC 3339, exclusive) or this long ago")
	f.StringVar(&q.Cursor, "cursor", "", "continue after this event ID (oldest first)")
	f.IntVar(&q.Limit, "limit", sessiond.DefaultEventLimit, fmt.Sprintf("how many events (1-%d; a page with --all)", sessiond.MaxEventLimit))
	f.BoolVar(&all, "all", false, "every matching event, oldest first, following every page")
	f.BoolVar(&oldestFirst, "oldest-first", false, "the oldest --limit events first")
	f.BoolVar(&asJSON, "json", false, "one JSON object per line")
	return cmd
}

func typeNames() []string {
	names := make([]string, len(eventTypes))
	for i, t := range eventTypes {
		names[i] = string(t)
	}
	return names
}

// newestEvents returns the newest q.Limit events matching q, newest first,
// reading windows back from q.Until or now (newestfirst.Read), never the
// whole log.
func newestEvents(ctx context.Context, c *client.Client, q client.EventQuery, now time.Time) ([]client.Event, error) {
	until := q.Until
	if until.IsZero() {
		until = now.Add(time.Minute) // clocks of other nodes may run ahead
	}
	page := func(ctx context.Context, since, until time.Time, cursor string, limit int) ([]client.Event, string, error) {
		wq := q
		wq.Since, wq.Until, wq.Cursor, wq.Limit = since, until, cursor, limit
		return c.ListEvents(ctx, wq)
	}
	return newestfirst.Read(ctx, page, q.Since, until, q.Limit)
}

// eventLine is an event as one line of `events` text output: its fields
// as fieldValue writes them, then its details as JSON (jsonEscaped: JSON
// escapes their backslashes and quotes, so an escape is told from the
// same characters typed).
func eventLine(e client.Event) string {
	details, _ := json.Marshal(e.Details)
	return fmt.Sprintf("%s  %-34s  subject=%s session=%s ip=%s %s\n", e.Time.UTC().Format(time.RFC3339),
		fieldValue(string(e.Type)), fieldValue(e.Subject), fieldValue(string(e.SessionID)), fieldValue(e.Client.IP), jsonEscaped(details))
}

// fieldValue is cell(s) for one key=value field of a text line, quoted
// also when it holds a space, '=' or '"': a subject is whoever registered
// it, and "mallory session=sess_x subject=alice" must not read as other
// fields. Its escapes are written once (quoted), not quoted again.
func fieldValue(s string) string {
	if strings.ContainsAny(s, ` ="`) {
		return quoted(s)
	}
	return cell(s)
}
