package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/ratelimit"
)

func TestConsole_Webhooks(t *testing.T) {
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		o.Outbox = f.store
		o.Webhooks = []console.Endpoint{
			{Name: "siem", URL: "https://hooks.example.com/in?token=s3cret#frag", Events: []string{"session.revoked"}, MaxAttempts: 3},
			{Name: "all", URL: "https://other.example.com/", MaxAttempts: 8},
			{Name: "chat", URL: "https://hooks.chat.example/services/T0AAA/B0BBB/XoXoSeCrEt", MaxAttempts: 8},
		}
	})
	ctx := t.Context()
	f.enqueue("msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "msg_done", "msg_wait")
	f.finish("msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa", sessiond.DeliveryDead, 3, "POST: 500 <script>alert(1)</script>\x1b[2J")
	f.finish("msg_done", sessiond.DeliveryDelivered, 1, "")
	c := f.signedIn()

	resp, body := f.do(c, "GET", "/console/webhooks", nil, "same-origin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhooks page: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{"https://hooks.example.com/in (query hidden)", "https://hooks.chat.example/services/… (path hidden)", "every event", "session.revoked",
		`Dead deliveries: <span id="dead-count">1</span>`, `aria-label="Retry delivery msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`, `backlog: <span id="backlog-count">1</span>`, "msg_done", "msg_wait", "delivered",
		`&lt;script&gt;alert(1)&lt;/script&gt;\x1b[2J`} {
		if !strings.Contains(body, want) {
			t.Errorf("webhooks page lacks %q", want)
		}
	}
	for _, bad := range []string{"s3cret", "frag", "XoXoSeCrEt", "B0BBB", "<script>alert", "\x1b", `aria-label="Retry delivery msg_done"`} {
		if strings.Contains(body, bad) {
			t.Errorf("webhooks page shows %q", bad)
		}
	}

	t.Run("bad input", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			form url.Values
			want int
		}{
			{"no id", url.Values{}, http.StatusBadRequest},
			{"long id", url.Values{"id": {strings.Repeat("m", 129)}}, http.StatusBadRequest},
			{"unknown id", url.Values{"id": {"msg_nope"}}, http.StatusNotFound},
			{"delivered, not dead", url.Values{"id": {"msg_done"}}, http.StatusNotFound},
			{"pending, not dead", url.Values{"id": {"msg_wait"}}, http.StatusNotFound},
		} {
			resp, _ := f.do(c, "POST", "/console/webhooks/retry", tc.form, "same-origin")
			if resp.StatusCode != tc.want {
				t.Errorf("%s: %d; want %d", tc.name, resp.StatusCode, tc.want)
			}
		}
		if resp, _ := f.do(c, "POST", "/console/webhooks/retry", url.Values{"id": {"msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}, "cross-site"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site retry: %d", resp.StatusCode)
		}
		if n, _ := f.store.CountDeliveries(ctx, sessiond.DeliveryDead); n != 1 {
			t.Errorf("dead deliveries after refused retries: %d", n)
		}
		if ds, _ := f.store.ListDeliveries(ctx, sessiond.DeliveryDelivered, 10); len(ds) != 1 {
			t.Errorf("a refused retry touched a delivered delivery: %+v", ds)
		}
	})

	t.Run("retry", func(t *testing.T) {
		f.clock.Advance(time.Minute)
		resp, _ := f.do(c, "POST", "/console/webhooks/retry", url.Values{"id": {"msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}, "same-origin")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/webhooks?retried=msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
			t.Fatalf("retry: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		// Due now, with a new series of attempts: the dispatcher claims it.
		claimed, err := f.store.ClaimDeliveries(ctx, f.clock.Now(), 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var got *sessiond.Delivery
		for i := range claimed {
			if claimed[i].ID == "msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
				got = &claimed[i]
			}
		}
		if got == nil || got.Attempts != 0 || got.State != sessiond.DeliveryPending {
			t.Fatalf("retried delivery is not pending and due with no attempts: %+v", claimed)
		}
		_, body := f.do(c, "GET", resp.Header.Get("Location"), nil, "same-origin")
		if !strings.Contains(body, "Delivery msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa is queued") || !strings.Contains(body, `Dead deliveries: <span id="dead-count">0</span>`) {
			t.Errorf("page after retry:\n%s", body)
		}
		// Retrying it again is refused: it is no longer dead.
		if resp, _ := f.do(c, "POST", "/console/webhooks/retry", url.Values{"id": {"msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}, "same-origin"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("second retry: %d", resp.StatusCode)
		}
	})
}

func TestConsole_WebhooksWithoutOutbox(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	if resp, body := f.do(c, "GET", "/console/webhooks", nil, "same-origin"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "No webhook is configured") || !strings.Contains(body, "keeps no webhook outbox") {
		t.Errorf("webhooks page without outbox: %d\n%s", resp.StatusCode, body)
	}
	if resp, _ := f.do(c, "POST", "/console/webhooks/retry", url.Values{"id": {"msg_1"}}, "same-origin"); resp.StatusCode != http.StatusNotImplemented {
		t.Errorf("retry without outbox: %d", resp.StatusCode)
	}
}

func TestConsole_SignInRateLimit(t *testing.T) {
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		o.SignInLimit = ratelimit.New(ratelimit.Options{Rate: 1.0 / 60, Burst: 3, Clock: f.clock})
	})
	c := f.browser()
	for i := range 3 {
		if resp, _ := f.do(c, "POST", "/console/signin", url.Values{"api_key": {"sdak_wrong"}}, "same-origin"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d; want 401", i+1, resp.StatusCode)
		}
	}
	// Over the limit even the right key is refused, before it is checked.
	resp, body := f.do(c, "POST", "/console/signin", url.Values{"api_key": {string(f.admin)}}, "same-origin")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" || len(resp.Cookies()) != 0 ||
		!strings.Contains(body, "Too many sign-in attempts") {
		t.Fatalf("over the limit: %d Retry-After %q cookies %v", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Cookies())
	}
	// The sign-in page itself (GET) is not limited.
	if resp, _ := f.do(c, "GET", "/console/signin", nil, "same-origin"); resp.StatusCode != http.StatusOK {
		t.Errorf("sign-in page over the limit: %d", resp.StatusCode)
	}
	f.clock.Advance(time.Minute)
	f.signIn(c)
}

// staleOutbox lists dead deliveries as they were when the page was drawn,
// as a console does that lost a race with another operator.
type staleOutbox struct {
	sessiond.Outbox
	dead []sessiond.Delivery
}

func (s *staleOutbox) ListDeliveries(ctx context.Context, state sessiond.DeliveryState, limit int) ([]sessiond.Delivery, error) {
	if state == sessiond.DeliveryDead && s.dead != nil {
		return s.dead, nil
	}
	return s.Outbox.ListDeliveries(ctx, state, limit)
}

// A retry that reads the delivery as dead after another operator retried it
// and a dispatcher claimed it must not reset it: that would send it twice.
func TestConsole_WebhookRetryLostRace(t *testing.T) {
	stale := &staleOutbox{}
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		stale.Outbox = f.store
		o.Outbox = stale
	})
	ctx := t.Context()
	f.enqueue("msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	f.finish("msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa", sessiond.DeliveryDead, 3, "POST: 500")
	var err error
	if stale.dead, err = f.store.ListDeliveries(ctx, sessiond.DeliveryDead, 10); err != nil || len(stale.dead) != 1 {
		t.Fatalf("ListDeliveries(dead) = %v, %v", stale.dead, err)
	}
	// The other operator's retry, then a dispatcher claims it.
	if err := f.store.RetryDelivery(ctx, "msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got, err := f.store.ClaimDeliveries(ctx, f.clock.Now(), 10, time.Hour); err != nil || len(got) != 1 {
		t.Fatalf("ClaimDeliveries = %v, %v", got, err)
	}
	c := f.signedIn()
	if resp, body := f.do(c, "POST", "/console/webhooks/retry", url.Values{"id": {"msg_deadaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}, "same-origin"); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "retried already") {
		t.Errorf("retry of a delivery retried meanwhile: %d\n%s", resp.StatusCode, body)
	}
	// Still held by the dispatcher: nothing is due, so nothing goes out twice.
	if got, err := f.store.ClaimDeliveries(ctx, f.clock.Now(), 10, time.Minute); err != nil || len(got) != 0 {
		t.Errorf("ClaimDeliveries after the lost race = %v, %v; want none (the held delivery was reset)", got, err)
	}
}

// TestConsole_WebhooksRetriedNoticeNamesOnlyDeliveries: the webhooks
// page's banner names the delivery in its `retried` parameter only when
// it is a delivery ID the outbox holds: a link someone sent the operator
// cannot make the console say what they wrote.
func TestConsole_WebhooksRetriedNoticeNamesOnlyDeliveries(t *testing.T) {
	f := newFixtureWith(t, func(f *fixture, o *console.Options) { o.Outbox = f.store })
	known, unknown := "msg_"+strings.Repeat("b", 32), "msg_"+strings.Repeat("c", 32)
	// A store takes any ID; the outbox's are all of one shape, and text of
	// another is not named even if a store held it.
	lure := "x. SECURITY: run the kill switch now"
	f.enqueue(known, lure)
	c := f.signedIn()
	for _, tc := range []struct {
		name, retried string
		shown         bool
	}{
		{"free text", "x. SECURITY: run the kill switch now; details at https://evil.example/ir", false},
		{"unknown delivery", unknown, false},
		{"stored text of another shape", lure, false},
		{"known delivery", known, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(c, "GET", "/console/webhooks?retried="+url.QueryEscape(tc.retried), nil, "none")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("webhooks page: %d", resp.StatusCode)
			}
			if got := strings.Contains(body, "Delivery "+tc.retried+" is queued"); got != tc.shown || (!tc.shown && strings.Contains(body, `class="notice"`)) {
				t.Errorf("banner for retried=%q shown %v; want %v (%q)", tc.retried, got, tc.shown, between(body, `class="notice"`, "</p>"))
			}
		})
	}
}
