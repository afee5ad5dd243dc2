package sessiond

import (
	"testing"
	"time"
)

func TestEventQuery_Matches(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	e := Event{ID: "evt_5", Time: t0, Type: EventSessionCreated, Subject: "alice", SessionID: "s1"}
	for _, c := range []struct {
		name string
		q    EventQuery
		want bool
	}{
		{"Empty", EventQuery{}, true},
		{"Subject", EventQuery{Subject: "alice"}, true},
		{"OtherSubject", EventQuery{Subject: "bob"}, false},
		{"SessionID", EventQuery{SessionID: "s1"}, true},
		{"OtherSessionID", EventQuery{SessionID: "s2"}, false},
		{"Type", EventQuery{Type: EventSessionCreated}, true},
		{"OtherType", EventQuery{Type: EventSessionRevoked}, false},
		{"SinceInclusive", EventQuery{Since: t0}, true},
		{"SinceAfter", EventQuery{Since: t0.Add(time.Microsecond)}, false},
		{"UntilExclusive", EventQuery{Until: t0}, false},
		{"UntilAfter", EventQuery{Until: t0.Add(time.Microsecond)}, true},
		{"CursorBefore", EventQuery{Cursor: "evt_4"}, true},
		{"CursorAt", EventQuery{Cursor: "evt_5"}, false},
		{"LimitIgnored", EventQuery{Limit: 1}, true},
	} {
		if got := c.q.Matches(&e); got != c.want {
			t.Errorf("%s: %+v.Matches(%+v) = %t; want %t", c.name, c.q, e, got, c.want)
		}
	}
}
