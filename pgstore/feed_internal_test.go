package pgstore

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

func TestPayload(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 678901000, time.UTC)
	r := sessiond.Revocation{SessionID: sessiond.NewSessionID(), Subject: "alice", RevokedAt: at, ExpiresAt: at.Add(time.Hour), Reason: sessiond.ReasonAdmin}
	cases := []struct {
		name   string
		r      sessiond.Revocation
		want   sessiond.Revocation
		resync bool
	}{
		{"Plain", r, r, false},
		{"OversizedSubject", func() sessiond.Revocation { c := r; c.Subject = strings.Repeat("s", 9000); return c }(),
			func() sessiond.Revocation { c := r; c.Subject = ""; return c }(), false},
		{"OversizedID", func() sessiond.Revocation {
			c := r
			c.SessionID = sessiond.SessionID(strings.Repeat("i", 9000))
			return c
		}(),
			sessiond.Revocation{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := payload(c.r)
			if len(p) > maxPayload {
				t.Fatalf("payload is %d bytes; want at most %d", len(p), maxPayload)
			}
			var n notice
			if err := json.Unmarshal([]byte(p), &n); err != nil {
				t.Fatalf("payload %q does not decode: %v", p, err)
			}
			if n.Resync != c.resync {
				t.Errorf("payload resync = %t; want %t", n.Resync, c.resync)
			}
			got := sessiond.Revocation{SessionID: n.ID, Subject: n.Subject, RevokedAt: n.RevokedAt, ExpiresAt: n.ExpiresAt, Reason: n.Reason}
			if got.SessionID != c.want.SessionID || got.Subject != c.want.Subject || got.Reason != c.want.Reason ||
				!got.RevokedAt.Equal(c.want.RevokedAt) || !got.ExpiresAt.Equal(c.want.ExpiresAt) {
				t.Errorf("payload decodes to %+v; want %+v", got, c.want)
			}
		})
	}
}

// TestSubscribeRevocations_QuietPings checks that the listener's periodic
// ping (WaitForNotification timing out, then Ping) keeps the connection
// usable and loses nothing: notifications sent around many pings arrive.
func TestSubscribeRevocations_QuietPings(t *testing.T) {
	t.Parallel()
	st := newSchemaStore(t, Options{})
	st.pingEvery = 5 * time.Millisecond

	got := make(chan sessiond.Revocation, 100)
	resyncs := make(chan struct{}, 100)
	if err := st.SubscribeRevocations(t.Context(), func(r sessiond.Revocation) { got <- r }, func() { resyncs <- struct{}{} }); err != nil {
		t.Fatalf("SubscribeRevocations() = %v; want nil", err)
	}
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 20 {
		time.Sleep(time.Duration(i%4) * 7 * time.Millisecond) // straddle the pings
		s := &sessiond.Session{ID: sessiond.NewSessionID(), Subject: "alice", CreatedAt: at, ExpiresAt: at.Add(time.Hour), IdleExpiresAt: at.Add(time.Hour)}
		if err := st.Create(t.Context(), s); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Revoke(t.Context(), s.ID, at, sessiond.ReasonLogout); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-got:
			if r.SessionID != s.ID {
				t.Fatalf("notification #%d for %s; want %s", i, r.SessionID, s.ID)
			}
		case <-time.After(time.Second):
			t.Fatalf("notification #%d not delivered within a second", i)
		}
	}
	if len(resyncs) != 0 {
		t.Errorf("resync called %d times with the connection never lost; want 0", len(resyncs))
	}
}
