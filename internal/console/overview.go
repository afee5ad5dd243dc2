package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
)

// maxCounted bounds the events of one type the overview reads from the
// event log per page view, where it reads them (a weighed metric, or a
// store without sessiond.EventCounter); beyond it the chart says "at
// least".
const maxCounted = 20_000

// metric is one line of the overview's charts: the events of one type.
type metric struct {
	Name string
	Type sessiond.EventType
	// weigh returns how many occurrences an event stands for (a kill
	// switch's bulk revocation stands for its count); nil means 1.
	weigh func(sessiond.Event) int
	// noSubject: only the events without a subject can weigh anything,
	// so only those are read (EventQuery.NoSubject, from an index).
	noSubject bool
}

// activity are the overview's series, in chart order. Revocations count
// as the metrics package does: one per session.revoked, plus the count of
// a kill switch's session.bulk_revoked (no subject), whose sessions have
// no event each. A mass logout leaves tens of thousands of the
// subjects' bulk revocations, which count 0: the overview reads only the
// kill switches' (noSubject), a handful, whatever the logouts.
var activity = []metric{
	{Name: "Logins", Type: sessiond.EventSessionCreated},
	{Name: "Refreshes", Type: sessiond.EventSessionRefreshed},
	{Name: "Revocations", Type: sessiond.EventSessionRevoked},
	{Name: "Revocations", Type: sessiond.EventBulkRevoked, weigh: killSwitchCount, noSubject: true},
	{Name: "Reuse detections", Type: sessiond.EventRefreshReused},
	{Name: "Anomalies", Type: sessiond.EventAnomaly},
	// Throttled at the source (one per client IP a minute, 60 a minute a
	// node): a rising line is someone guessing or forging tokens.
	{Name: "Unknown tokens", Type: sessiond.EventUnknownToken},
}

func killSwitchCount(e sessiond.Event) int {
	if e.Subject != "" {
		// A subject's bulk revocation: its sessions have events already.
		// (The query asks for none of these; an EventLog of another
		// make may not know NoSubject.)
		return 0
	}
	switch n := e.Details["count"].(type) {
	case int:
		return max(n, 0)
	case int64:
		return int(max(n, 0))
	case float64: // decoded from a store's JSON
		return int(max(n, 0))
	case json.Number:
		v, _ := n.Int64()
		return int(max(v, 0))
	}
	return 0
}

// Window is one chart: counts per Step from Start over the window.
type Window struct {
	Label  string   `json:"label"`
	Start  int64    `json:"start"` // Unix seconds of the first bucket
	Step   int64    `json:"step"`  // seconds per bucket
	Series []Series `json:"series"`
}

// Series is one metric's counts in a Window.
type Series struct {
	Name   string `json:"name"`
	Total  int    `json:"total"`
	Counts []int  `json:"counts"`
	// AtLeast: the event log held more events than the overview reads,
	// so Total and Counts are lower bounds.
	AtLeast bool `json:"at_least"`
}

// Overview is the overview page's data; its charts are drawn from the
// same JSON, embedded in the page as <script type="application/json">.
type Overview struct {
	Live        int              `json:"live"`
	LiveCount   Figure           `json:"-"` // whether Live is known, and how fresh
	Outbox      outboxCounts     `json:"-"`
	OutboxShown bool             `json:"-"` // the store keeps an outbox
	EventsKnown bool             `json:"events_known"`
	Hour        Window           `json:"hour"`
	Day         Window           `json:"day"`
	AsOf        time.Time        `json:"as_of"`
	Findings    []config.Finding `json:"-"`
	Errors      []string         `json:"-"`
}

func (c *Console) overviewPage(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	v := c.overview(r.Context())
	d := pageData{Title: "Overview", Nav: "overview", Operator: operatorName(key), Data: v}
	if len(v.Errors) > 0 {
		d.Error = "Some figures could not be read; see the server log."
	}
	c.pages.render(w, r, http.StatusOK, "overview", d)
}

// overview reads the figures; a part that fails is left out and named in
// Errors, so the rest still shows during an incident.
func (c *Console) overview(ctx context.Context) *Overview {
	now := c.o.Clock.Now().UTC()
	v := &Overview{AsOf: now, Findings: c.o.Findings}
	v.LiveCount.AsOf = now
	if c.o.Live != nil {
		n, counted, err := c.o.Live(ctx)
		v.LiveCount.Counted = counted
		if err != nil {
			// A failed shared count was logged once, when it failed.
			if counted.FailedAt.IsZero() {
				c.log.WarnContext(ctx, "console: count live sessions", "err", err)
			}
			v.Errors = append(v.Errors, "live sessions")
		} else {
			v.Live, v.LiveCount.Known = n, true
		}
	}
	if v.OutboxShown = c.outboxEnabled(); v.OutboxShown {
		var err error
		if v.Outbox, err = c.outboxDepth(ctx, now); err != nil {
			v.Errors = append(v.Errors, "webhook deliveries")
		}
	}
	// Buckets end at now: the hour in 5-minute steps, the day in hours.
	v.Hour = newWindow("Last hour", now.Add(-time.Hour), 5*time.Minute, 12)
	v.Day = newWindow("Last day", now.Add(-24*time.Hour), time.Hour, 24)
	if c.o.Events == nil {
		return v
	}
	v.EventsKnown = true
	counter, _ := c.o.Events.(sessiond.EventCounter)
	for _, m := range activity {
		var err error
		if counter != nil && m.weigh == nil {
			err = countInStore(ctx, counter, m, v)
		} else {
			err = c.count(ctx, m, v)
		}
		if err != nil {
			c.log.WarnContext(ctx, "console: count events", "type", string(m.Type), "err", err)
			v.Errors = append(v.Errors, string(m.Type))
			v.EventsKnown = false
		}
	}
	return v
}

func newWindow(label string, start time.Time, step time.Duration, n int) Window {
	w := Window{Label: label, Start: start.Unix(), Step: int64(step / time.Second)}
	seen := map[string]bool{}
	for _, m := range activity {
		if !seen[m.Name] {
			seen[m.Name] = true
			w.Series = append(w.Series, Series{Name: m.Name, Counts: make([]int, n)})
		}
	}
	return w
}

// countInStore has the store count m's events per bucket of each window
// (sessiond.EventCounter): exact, and its cost does not grow with the
// events, which an incident multiplies just when operators look.
func countInStore(ctx context.Context, counter sessiond.EventCounter, m metric, v *Overview) error {
	for _, w := range []*Window{&v.Day, &v.Hour} {
		i := w.series(m.Name)
		counts, err := counter.CountEvents(ctx, sessiond.EventCountQuery{Type: m.Type,
			Since: time.Unix(w.Start, 0), Step: time.Duration(w.Step) * time.Second, Buckets: len(w.Series[i].Counts)})
		if err != nil {
			return err
		}
		for b, n := range counts {
			w.Series[i].Counts[b] += n
			w.Series[i].Total += n
		}
	}
	return nil
}

// count reads the day's events of m's type, page by page up to
// maxCounted, into both windows: for a weighed metric (one event may stand
// for many revocations), or a store that cannot count.
func (c *Console) count(ctx context.Context, m metric, v *Overview) error {
	q := sessiond.EventQuery{Type: m.Type, NoSubject: m.noSubject, Since: time.Unix(v.Day.Start, 0), Limit: sessiond.MaxEventLimit}
	read := 0
	for {
		evs, next, err := c.o.Events.QueryEvents(ctx, q)
		if err != nil {
			return err
		}
		for _, e := range evs {
			n := 1
			if m.weigh != nil {
				n = m.weigh(e)
			}
			v.Day.add(m.Name, e.Time, n)
			v.Hour.add(m.Name, e.Time, n)
		}
		read += len(evs)
		if next == "" {
			return nil
		}
		if read >= maxCounted {
			v.Day.atLeast(m.Name)
			v.Hour.atLeast(m.Name)
			return nil
		}
		q.Cursor = next
	}
}

// add counts n at t if t falls in the window; an event stamped a moment
// after the window's end (another node's clock) counts in its last bucket.
func (w *Window) add(name string, t time.Time, n int) {
	if n == 0 {
		return
	}
	sec := t.Unix()
	if sec < w.Start {
		return
	}
	for i := range w.Series {
		s := &w.Series[i]
		if s.Name != name {
			continue
		}
		b := min(int((sec-w.Start)/w.Step), len(s.Counts)-1)
		s.Counts[b] += n
		s.Total += n
	}
}

// series is the index of the named series in w.
func (w *Window) series(name string) int {
	return slices.IndexFunc(w.Series, func(s Series) bool { return s.Name == name })
}

func (w *Window) atLeast(name string) {
	for i := range w.Series {
		if w.Series[i].Name == name {
			w.Series[i].AtLeast = true
		}
	}
}

// Total of the named series; for templates.
func (w Window) Total(name string) string {
	for _, s := range w.Series {
		if s.Name == name {
			if s.AtLeast {
				return fmt.Sprintf("≥ %d", s.Total)
			}
			return fmt.Sprint(s.Total)
		}
	}
	return "—"
}

// ChartsJSON is the data of both charts as JSON. The page carries it in a
// data attribute (html/template escapes it there), which console.js reads:
// no inline script, and htmx's boosted swaps, which drop <script>
// elements, keep it.
func (v *Overview) ChartsJSON() (string, error) {
	b, err := json.Marshal(struct {
		Hour Window `json:"hour"`
		Day  Window `json:"day"`
	}{v.Hour, v.Day})
	return string(b), err
}

// SeriesNames lists the chart series in order, for the totals table.
func (v *Overview) SeriesNames() []string {
	var out []string
	for _, s := range v.Hour.Series {
		out = append(out, s.Name)
	}
	return out
}
