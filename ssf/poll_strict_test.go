package ssf_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/ssf"
)

// TestPollRefusesAmbiguousResponse: a poll response encoding/json would
// read one way and another reader another (a jti key twice in "sets", a
// member name in other letters, a lone surrogate) is refused whole: no SET
// in it is acted upon or acknowledged, so the transmitter delivers them
// again and none is lost. Read leniently, the first of two SETs under one
// jti was dropped, and acknowledging the jti removed both from the queue.
func TestPollRefusesAmbiguousResponse(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	es := func(c map[string]any) string { return sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", c) }
	disabled := func(jti, email string) string {
		return es(claims(jti, f.now, ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject(email)}))
	}
	alice, _ := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
	bob, _ := f.mgr.Create(ctx, "user:bob@example.com", sessiond.CreateOptions{})
	setA, setB := disabled("dup", "alice@example.com"), disabled("dup", "bob@example.com")

	for _, tc := range []struct{ name, body string }{
		{"jti twice", fmt.Sprintf(`{"sets":{"dup":%q,"dup":%q},"moreAvailable":false}`, setA, setB)},
		{"jti twice, one escaped", fmt.Sprintf(`{"sets":{"dup":%q,"\u0064up":%q},"moreAvailable":false}`, setA, setB)},
		{"sets twice", fmt.Sprintf(`{"sets":{"dup":%q},"sets":{"dup":%q},"moreAvailable":false}`, setA, setB)},
		{"sets in other letters", fmt.Sprintf(`{"SETS":{"dup":%q},"moreAvailable":false}`, setA)},
		{"lone surrogate in a jti", fmt.Sprintf(`{"sets":{"dup\ud800":%q},"moreAvailable":false}`, setA)},
		{"not an object", `["sets"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var acked []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				if strings.Contains(string(b), `"ack"`) {
					acked = append(acked, string(b))
				}
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			p, err := f.rc.NewPoller(ssf.PollOptions{URL: srv.URL, Authorization: "Bearer poll-secret"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Poll(ctx); err == nil {
				t.Fatal("Poll accepted the response")
			}
			// Another poll must not acknowledge what the first refused.
			_, _ = p.Poll(ctx)
			mu.Lock()
			defer mu.Unlock()
			if len(acked) != 0 {
				t.Errorf("acknowledged %q from a refused response", acked)
			}
			for _, id := range []sessiond.SessionID{alice.Session.ID, bob.Session.ID} {
				if _, err := f.mgr.Get(ctx, id); err != nil {
					t.Errorf("session %s ended by a refused response: %v", id, err)
				}
			}
		})
	}
}
