package ssf_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/ssf"
)

// TestPushNullSubjectMember: a sub_id, or an event's subject, given as
// JSON null is one not given: the subject is read from the other member,
// as the documentation says, rather than the SET refused as naming two
// different subjects. Both null is still no subject.
func TestPushNullSubjectMember(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tests := []struct {
		name        string
		subID, inEv any // nil: the member is null
		want        int
	}{
		{"sub_id null, subject in the event", nil, emailSubject("alice@example.com"), http.StatusAccepted},
		{"event subject null, sub_id given", emailSubject("alice@example.com"), nil, http.StatusAccepted},
		{"both null", nil, nil, http.StatusBadRequest},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c := claims("null-"+string(rune('a'+i)), f.now, ssf.RISCAccountDisabled, map[string]any{"subject": tc.inEv})
			c["sub_id"] = tc.subID
			code, e := f.push(t, sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", c))
			if code != tc.want {
				t.Fatalf("push = %d %s; want %d", code, e, tc.want)
			}
			_, err = f.mgr.Get(ctx, a.Session.ID)
			if ended := err != nil; ended != (tc.want == http.StatusAccepted) {
				t.Errorf("session ended: %v; want %v", ended, tc.want == http.StatusAccepted)
			}
		})
	}
}
