package console

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
)

// Endpoint is a configured webhook receiver as the console shows it: no
// secret.
type Endpoint struct {
	Name        string
	URL         string
	Events      []string // empty: every event
	MaxAttempts int
}

// Deliveries shown per state on the webhooks page; a retry looks for its
// delivery among the newest maxRetryScan dead ones.
const (
	shownDeliveries = 50
	maxRetryScan    = 1000
)

// deliveryIDShape is the form of every delivery ID (webhook.DeliveryID):
// "msg_" and 32 lower-case base32 characters.
var deliveryIDShape = regexp.MustCompile(`^msg_[a-z2-7]{32}$`)

type deliveryRow struct {
	ID, Endpoint, EventID, State, LastError string
	Attempts                                int
	Created, Updated, Next                  string
	updated                                 int64
}

func toDeliveryRow(d sessiond.Delivery) deliveryRow {
	row := deliveryRow{ID: printable(d.ID), Endpoint: printable(d.Endpoint), EventID: printable(d.EventID),
		State: string(d.State), LastError: printable(d.LastError), Attempts: d.Attempts,
		Created: when(d.CreatedAt), Updated: when(d.UpdatedAt), updated: d.UpdatedAt.UnixNano()}
	if d.State == sessiond.DeliveryPending {
		row.Next = when(d.NextAttemptAt)
	}
	return row
}

type webhooksView struct {
	Enabled   bool // the store keeps an outbox
	Endpoints []Endpoint
	Counts    outboxCounts // the backlog (pending) and dead deliveries
	DeadRows  []deliveryRow
	Recent    []deliveryRow // pending and delivered, newest first
}

func (c *Console) webhooksPage(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	d := pageData{Title: "Webhooks", Nav: "webhooks", Operator: operatorName(key)}
	// retried names the delivery a retry just queued (retryDelivery's
	// redirect). The banner speaks in the console's voice, so it names
	// only an ID of the outbox's shape that the page found in the outbox,
	// never free text from a link someone sent the operator.
	retried := r.URL.Query().Get("retried")
	if !deliveryIDShape.MatchString(retried) {
		retried = ""
	}
	if r.URL.Query().Has("retried") {
		d.ReplaceURL = replaceNoticeURL(w, r, "retried")
	}
	status := http.StatusOK
	v := webhooksView{Enabled: c.o.Outbox != nil}
	for _, ep := range c.o.Webhooks {
		ep.URL = shownURL(ep.URL)
		v.Endpoints = append(v.Endpoints, ep)
	}
	d.Data = &v
	if c.o.Outbox == nil {
		c.pages.render(w, r, status, "webhooks", d)
		return
	}
	ctx := r.Context()
	var errs []error
	read := func(state sessiond.DeliveryState) []deliveryRow {
		ds, err := c.o.Outbox.ListDeliveries(ctx, state, shownDeliveries)
		errs = append(errs, err)
		rows := make([]deliveryRow, 0, len(ds))
		for _, del := range ds {
			rows = append(rows, toDeliveryRow(del))
		}
		return rows
	}
	// Shared with the overview and /metrics (Options.OutboxDepth): a
	// page refreshed often does not scan the outbox each time. A count
	// whose latest try failed is shown with its age and that failure.
	// outboxDepth logged its error, or the shared count did when it
	// failed: it only makes the page a 503 here.
	var countErr error
	v.Counts, countErr = c.outboxDepth(ctx, c.o.Clock.Now())
	v.DeadRows = read(sessiond.DeliveryDead)
	v.Recent = append(read(sessiond.DeliveryPending), read(sessiond.DeliveryDelivered)...)
	slices.SortStableFunc(v.Recent, func(a, b deliveryRow) int { return cmp.Compare(b.updated, a.updated) })
	if len(v.Recent) > shownDeliveries {
		v.Recent = v.Recent[:shownDeliveries]
	}
	err := errors.Join(errs...)
	if err != nil {
		c.logReadFailure(ctx, "console: read webhook outbox", err)
	}
	if err != nil || countErr != nil {
		d.Error, status = "Reading the webhook outbox failed; see the server log.", http.StatusServiceUnavailable
	}
	known := func(row deliveryRow) bool { return row.ID == retried }
	if retried != "" && (slices.ContainsFunc(v.Recent, known) || slices.ContainsFunc(v.DeadRows, known)) {
		d.Notice = "Delivery " + retried + " is queued for a new series of attempts."
	}
	c.pages.render(w, r, status, "webhooks", d)
}

// retryDelivery puts a dead delivery back in the outbox as pending, due
// now, with its attempts reset: the dispatcher gives it a new series of
// attempts (and declares it dead again if they all fail). Only dead
// deliveries are retried, and the store checks that as it moves it, so
// neither a stale page nor two operators at once send one twice.
func (c *Console) retryDelivery(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	refuse := func(status int, msg string) {
		// Under the form's action a reload or Back would show 405 (htmx
		// pushes a boosted form's answer under it).
		w.Header().Set("HX-Push-Url", Prefix+"/webhooks")
		c.pages.render(w, r, status, "webhooks", pageData{Title: "Webhooks", Nav: "webhooks", Operator: operatorName(key),
			Error: msg, Data: &webhooksView{Enabled: c.o.Outbox != nil}})
	}
	if c.o.Outbox == nil {
		refuse(http.StatusNotImplemented, "This store keeps no webhook outbox.")
		return
	}
	if err := r.ParseForm(); err != nil {
		refuse(http.StatusBadRequest, "The form could not be read.")
		return
	}
	id := r.PostForm.Get("id")
	if id == "" || len(id) > 128 {
		refuse(http.StatusBadRequest, "The form was incomplete or malformed.")
		return
	}
	ctx := r.Context()
	dead, err := c.o.Outbox.ListDeliveries(ctx, sessiond.DeliveryDead, maxRetryScan)
	if err != nil {
		c.logReadFailure(ctx, "console: list dead deliveries", err)
		refuse(http.StatusServiceUnavailable, "Reading the webhook outbox failed; see the server log.")
		return
	}
	i := slices.IndexFunc(dead, func(d sessiond.Delivery) bool { return d.ID == id })
	gone := func() {
		refuse(http.StatusNotFound, "There is no dead delivery "+printable(id)+" (it may have been retried already).")
	}
	if i < 0 {
		gone()
		return
	}
	// The store moves it only if it is still dead, so a second operator's
	// click (or a stale page) cannot reset a delivery already under way.
	if err := c.o.Outbox.RetryDelivery(ctx, id, c.o.Clock.Now()); errors.Is(err, sessiond.ErrNotFound) {
		gone()
		return
	} else if err != nil {
		c.logWriteFailure(ctx, "console: retry delivery", err, "key_id", key.ID, "webhook_id", id)
		refuse(http.StatusServiceUnavailable, "Retrying failed; see the server log.")
		return
	}
	c.log.InfoContext(ctx, "console: dead webhook delivery retried", "key_id", key.ID, "webhook_id", id,
		"endpoint", dead[i].Endpoint, "event_id", dead[i].EventID)
	http.Redirect(w, r, Prefix+"/webhooks?"+url.Values{"retried": {id}}.Encode(), http.StatusSeeOther)
}

// shownURL is an endpoint's URL without its query or fragment, which may
// carry a token, and without user information.
func shownURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	queryHidden := u.RawQuery != "" || u.Fragment != "" || u.User != nil
	u.RawQuery, u.Fragment, u.User, u.ForceQuery = "", "", nil, false
	// Slack- and Discord-style URLs carry their secret in the path: only
	// the first segment is shown.
	pathHidden := false
	if first, rest, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/"); ok && rest != "" {
		u.Path, u.RawPath, pathHidden = "/"+first, "", true
	}
	s := u.String()
	if pathHidden {
		s += "/…"
	}
	switch {
	case pathHidden && queryHidden:
		s += " (path and query hidden)"
	case pathHidden:
		s += " (path hidden)"
	case queryHidden:
		s += " (query hidden)"
	}
	return printable(strings.TrimSpace(s))
}
