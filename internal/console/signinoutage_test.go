package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
)

// outageSink is an event sink whose store can go down: while down it
// stores nothing and says so, as the server's sink does with PostgreSQL
// stopped.
type outageSink struct {
	down atomic.Bool
	recorded
}

func (s *outageSink) record(ctx context.Context, e sessiond.Event) error {
	if s.down.Load() {
		return fmt.Errorf("event log: append events: %w", sessiond.ErrStoreUnavailable)
	}
	return s.recorded.record(ctx, e)
}

// TestConsole_SignInUndoneWithoutItsEvent: a sign-in whose
// console.signed_in event cannot be stored does not happen (ASVS 16.3.1):
// 503 with the sign-in page saying why, the console session just created
// ended on the server, the browser left without a console cookie, and a
// sign-in once the store is back works and is recorded.
func TestConsole_SignInUndoneWithoutItsEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		// signedInBefore: the browser already holds a console session
		// when the store goes down (Login replaces it).
		signedInBefore bool
	}{
		{"fresh browser", false},
		{"browser already signed in", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sink outageSink
			f := newFixtureWith(t, func(_ *fixture, o *console.Options) { o.Record = sink.record })
			c := f.browser()
			if tc.signedInBefore {
				f.signIn(c)
			}
			sink.take()
			sink.down.Store(true)

			resp, body := f.do(c, "POST", "/console/signin", url.Values{"api_key": {string(f.admin)}}, "same-origin")
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Location") != "" {
				t.Fatalf("sign-in with the store down: %d Location %q; want 503 and no redirect", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !strings.Contains(body, "the store is unavailable; try again") || !strings.Contains(body, `name="api_key"`) {
				t.Errorf("body does not say the store is unavailable on the sign-in page:\n%s", body)
			}
			f.wantConsoleCookieGone(c, resp)
			if n, err := f.con.LiveSessionsOf(t.Context(), f.adminK.ID); err != nil || n != 0 {
				t.Errorf("live console sessions = %d, %v; want 0 (the unrecorded one ended)", n, err)
			}
			if resp, _ := f.do(c, "GET", "/console/overview", nil, "same-origin"); resp.StatusCode != http.StatusSeeOther ||
				resp.Header.Get("Location") != "/console/signin" {
				t.Errorf("overview after the refused sign-in: %d %s; want 303 to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
			}
			for _, e := range sink.take() {
				if e.Type == sessiond.EventConsoleSignedIn {
					t.Errorf("recorded %s while the store was down", e.Type)
				}
			}

			sink.down.Store(false)
			f.signIn(c)
			if evs := sink.take(); len(evs) != 1 || evs[0].Type != sessiond.EventConsoleSignedIn {
				t.Errorf("recorded %+v after the store came back; want one %s", evs, sessiond.EventConsoleSignedIn)
			}
			if n, err := f.con.LiveSessionsOf(t.Context(), f.adminK.ID); err != nil || n != 1 {
				t.Errorf("live console sessions = %d, %v; want 1", n, err)
			}
		})
	}
}
