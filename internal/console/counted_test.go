package console_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
)

// TestConsole_CountAges: the overview's live sessions and outbox counts,
// and the webhooks page's, come from counts shared with /metrics
// (Options.Live, Options.OutboxDepth): each page says how old a count is
// when it was not counted for the view, and when counting it again
// failed, with the older figure or, before any, none.
func TestConsole_CountAges(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC) // the fixture's clock
	for _, tc := range []struct {
		name    string
		counted console.Counted
		err     error
		// want, on the overview: the live and backlog figures, and the
		// notes (the live tile's and the outbox's), "" for none.
		live, backlog, liveNote, outboxNote string
		// webhooksNote: the webhooks page's note; status its status.
		webhooksNote string
		status       int
	}{
		{name: "counted for the view", counted: console.Counted{At: now},
			live: "7", backlog: "3", status: http.StatusOK},
		{name: "counted 12 s earlier", counted: console.Counted{At: now.Add(-12 * time.Second)},
			live: "7", backlog: "3", status: http.StatusOK,
			liveNote:     "counted 12s earlier, at 2026-12-03 11:59:48Z",
			outboxNote:   "Webhook backlog and dead deliveries: counted 12s earlier, at 2026-12-03 11:59:48Z",
			webhooksNote: "The counts of dead and pending deliveries: counted 12s earlier, at 2026-12-03 11:59:48Z."},
		{name: "counting again failed", counted: console.Counted{At: now.Add(-3 * time.Minute), FailedAt: now.Add(-time.Minute)},
			live: "7", backlog: "3", status: http.StatusOK,
			liveNote:     "counted 3m0s earlier, at 2026-12-03 11:57:00Z; counting again failed at 2026-12-03 11:59:00Z",
			outboxNote:   "Webhook backlog and dead deliveries: counted 3m0s earlier, at 2026-12-03 11:57:00Z; counting again failed at 2026-12-03 11:59:00Z",
			webhooksNote: "The counts of dead and pending deliveries: counted 3m0s earlier, at 2026-12-03 11:57:00Z; counting again failed at 2026-12-03 11:59:00Z."},
		{name: "never counted, failed", counted: console.Counted{FailedAt: now.Add(-time.Minute)}, err: sessiond.ErrStoreUnavailable,
			live: "—", backlog: "—", status: http.StatusServiceUnavailable,
			liveNote:     "counting failed at 2026-12-03 11:59:00Z; see the server log",
			outboxNote:   "Webhook backlog and dead deliveries: counting failed at 2026-12-03 11:59:00Z; see the server log",
			webhooksNote: "The counts of dead and pending deliveries: counting failed at 2026-12-03 11:59:00Z; see the server log."},
		{name: "not counted in time", err: context.DeadlineExceeded,
			live: "—", backlog: "—", status: http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, func(f *fixture, o *console.Options) {
				o.Outbox = f.store
				o.Live = func(context.Context) (int, console.Counted, error) {
					if tc.err != nil {
						return 0, tc.counted, tc.err
					}
					return 7, tc.counted, nil
				}
				o.OutboxDepth = func(context.Context) (int, int, console.Counted, error) {
					if tc.err != nil {
						return 0, 0, tc.counted, tc.err
					}
					return 3, 2, tc.counted, nil
				}
			})
			// The outbox itself holds none: the figures are the shared count's.
			c := f.signedIn()
			resp, body := f.do(c, "GET", "/console/overview", nil, "same-origin")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("overview: %d\n%s", resp.StatusCode, body)
			}
			match := func(page, body, re string) string {
				t.Helper()
				m := regexp.MustCompile(re).FindStringSubmatch(body)
				if m == nil {
					return ""
				}
				return m[1]
			}
			if got := match("overview", body, `<dd id="live">([^<]*)</dd>`); got != tc.live {
				t.Errorf("overview live = %q; want %q", got, tc.live)
			}
			if got := match("overview", body, `<dd id="backlog">([^<]*)</dd>`); got != tc.backlog {
				t.Errorf("overview backlog = %q; want %q", got, tc.backlog)
			}
			if got := match("overview", body, `<dd id="live-age"[^>]*>([^<]*)</dd>`); got != tc.liveNote {
				t.Errorf("overview live note = %q; want %q", got, tc.liveNote)
			}
			if got := match("overview", body, `<p id="outbox-age"[^>]*>([^<]*)</p>`); got != tc.outboxNote {
				t.Errorf("overview outbox note = %q; want %q", got, tc.outboxNote)
			}
			if failed := regexp.MustCompile(`id="(live|outbox)-age" class="age failed"`).FindAllString(body, -1); (len(failed) == 2) != !tc.counted.FailedAt.IsZero() {
				t.Errorf("overview marks %d notes as failed; failed count: %v", len(failed), !tc.counted.FailedAt.IsZero())
			}

			resp, body = f.do(c, "GET", "/console/webhooks", nil, "same-origin")
			if resp.StatusCode != tc.status {
				t.Errorf("webhooks: %d; want %d", resp.StatusCode, tc.status)
			}
			wantDead, wantBacklog := "2", "3"
			if tc.err != nil {
				wantDead, wantBacklog = "—", "—"
			}
			if got := match("webhooks", body, `id="dead-count">([^<]*)<`); got != wantDead {
				t.Errorf("webhooks dead = %q; want %q", got, wantDead)
			}
			if got := match("webhooks", body, `id="backlog-count">([^<]*)<`); got != wantBacklog {
				t.Errorf("webhooks backlog = %q; want %q", got, wantBacklog)
			}
			if got := match("webhooks", body, `<p id="outbox-age"[^>]*>([^<]*)</p>`); got != tc.webhooksNote {
				t.Errorf("webhooks note = %q; want %q", got, tc.webhooksNote)
			}
		})
	}
}

// TestConsole_OutboxCountedWithoutShare: without Options.OutboxDepth the
// console counts the outbox at every view (a library user's console):
// the counts are of the view, so no page says how old they are, and a
// failure shows as "—".
func TestConsole_OutboxCountedWithoutShare(t *testing.T) {
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		o.Outbox = failingCount{f.store}
	})
	c := f.signedIn()
	resp, body := f.do(c, "GET", "/console/overview", nil, "same-origin")
	if resp.StatusCode != http.StatusOK || !regexp.MustCompile(`<dd id="backlog">—</dd>`).MatchString(body) ||
		regexp.MustCompile(`id="outbox-age"`).MatchString(body) {
		t.Errorf("overview with a failing outbox: %d\n%s", resp.StatusCode, body)
	}

	f = newFixtureWith(t, func(f *fixture, o *console.Options) { o.Outbox = f.store })
	f.enqueue("msg_pending")
	c = f.signedIn()
	for _, tc := range []struct{ path, count string }{
		{"/console/overview", `<dd id="backlog">1</dd>`},
		{"/console/webhooks", `id="backlog-count">1<`},
	} {
		resp, body := f.do(c, "GET", tc.path, nil, "same-origin")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.count) || strings.Contains(body, `id="outbox-age"`) {
			t.Errorf("%s counted at the view: %d; want 200 with %s and no note of its age:\n%s", tc.path, resp.StatusCode, tc.count, body)
		}
	}
}

type failingCount struct{ sessiond.Outbox }

func (failingCount) CountDeliveries(context.Context, sessiond.DeliveryState) (int, error) {
	return 0, errors.New("count deliveries: disk I/O error")
}

// TestConsole_CountFailureLoggedOnce: a shared count that failed was
// logged when it failed (serve's count loop); a page that shows its
// failure does not log it again at every view. Without a shared count,
// each view's own failed count is logged once, not once as the count
// and again as the page's read.
func TestConsole_CountFailureLoggedOnce(t *testing.T) {
	failed := errors.New("count deliveries: disk I/O error")
	for _, tc := range []struct {
		name   string
		shared bool
		want   int // log lines naming the failure, over 3 views of each page
	}{
		{"shared count failed earlier", true, 0},
		{"counted at each view", false, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged lockedBuffer
			f := newFixtureWith(t, func(f *fixture, o *console.Options) {
				o.Logger = slog.New(slog.NewTextHandler(&logged, nil))
				o.Outbox = failingCount{f.store}
				if tc.shared {
					o.OutboxDepth = func(context.Context) (int, int, console.Counted, error) {
						return 0, 0, console.Counted{FailedAt: f.clock.Now().Add(-time.Minute)}, failed
					}
				}
			})
			c := f.signedIn()
			for range 3 {
				for _, path := range []string{"/console/overview", "/console/webhooks"} {
					resp, body := f.do(c, "GET", path, nil, "same-origin")
					if !strings.Contains(body, "Webhook") || resp.StatusCode == http.StatusOK && path == "/console/webhooks" {
						t.Fatalf("%s with the count failed: %d; want the page, 503 for the webhooks page\n%s", path, resp.StatusCode, body)
					}
				}
			}
			got := 0
			for line := range strings.Lines(logged.String()) {
				if strings.Contains(line, "disk I/O error") {
					got++
				}
			}
			if got != tc.want {
				t.Errorf("the failure logged %d times over 3 views of each page; want %d:\n%s", got, tc.want, logged.String())
			}
		})
	}
}
