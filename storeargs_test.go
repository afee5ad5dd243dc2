package sessiond

import (
	"errors"
	"testing"
	"time"
)

func TestStoreArgumentChecks(t *testing.T) {
	s := &Session{ID: NewSessionID()}
	other := NewSessionID()
	for _, c := range []struct {
		name  string
		err   error
		field string // "" when the argument is valid
	}{
		{"NewSession", CheckNewSession(s, []Token{{SessionID: s.ID}}), ""},
		{"NewSessionNoTokens", CheckNewSession(s, nil), ""},
		{"NewSessionNil", CheckNewSession(nil, nil), "session"},
		{"NewSessionForeignToken", CheckNewSession(s, []Token{{SessionID: s.ID}, {SessionID: other}}), "tokens[1].session_id"},
		{"Max1", CheckMax(1), ""},
		{"Max0", CheckMax(0), "max"},
		{"MaxNegative", CheckMax(-3), "max"},
		{"Limit1", CheckLimit(1), ""},
		{"Limit0", CheckLimit(0), "limit"},
		{"LimitNegative", CheckLimit(-1), "limit"},
		{"Lease", CheckLease(time.Microsecond), ""},
		{"LeaseSubMicrosecond", CheckLease(time.Microsecond - time.Nanosecond), "lease"},
		{"LeaseNanosecond", CheckLease(time.Nanosecond), "lease"},
		{"Lease0", CheckLease(0), "lease"},
		{"LeaseNegative", CheckLease(-time.Second), "lease"},
		{"SwapRefresh", (&RefreshSwap{Next: Token{Kind: KindRefresh}}).Validate(), ""},
		{"SwapAccess", (&RefreshSwap{Next: Token{Kind: KindAccess}}).Validate(), "next.kind"},
		{"SwapZeroKind", (&RefreshSwap{}).Validate(), "next.kind"},
		{"SwapSameSession", (&RefreshSwap{Next: Token{SessionID: s.ID}}).CheckSession(s.ID), ""},
		{"SwapOtherSession", (&RefreshSwap{Next: Token{SessionID: other}}).CheckSession(s.ID), "next.session_id"},
		{"FilterAll", RevokeFilter{All: true}.Validate(), ""},
		{"FilterSubjects", RevokeFilter{Subjects: []string{"a"}}.Validate(), ""},
		{"FilterIssuedBefore", RevokeFilter{IssuedBefore: time.Unix(1, 0)}.Validate(), ""},
		{"FilterEmpty", RevokeFilter{}.Validate(), "filter"},
		{"FilterEmptySubjects", RevokeFilter{Subjects: []string{}}.Validate(), "filter"},
		{"StatePending", DeliveryPending.Validate(), ""},
		{"StateDelivered", DeliveryDelivered.Validate(), ""},
		{"StateDead", DeliveryDead.Validate(), ""},
		{"StateEmpty", DeliveryState("").Validate(), "state"},
		{"StateBogus", DeliveryState("bogus").Validate(), "state"},
		{"Enqueue", CheckEnqueue([]Delivery{{ID: "a"}, {ID: "b", State: DeliveryPending}}), ""},
		{"EnqueueNoID", CheckEnqueue([]Delivery{{ID: "a"}, {}}), "deliveries[1].id"},
		{"EnqueueDelivered", CheckEnqueue([]Delivery{{ID: "a", State: DeliveryDelivered}}), "deliveries[0].state"},
		{"Append", second(EncodeEvents([]Event{{ID: "a"}})), ""},
		{"AppendNoID", second(EncodeEvents([]Event{{ID: "a"}, {ID: "b"}, {}})), "events[2].id"},
		{"AppendBadDetails", second(EncodeEvents([]Event{{ID: "a", Details: map[string]any{"f": func() {}}}})), "events[0].details"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.field == "" {
				if c.err != nil {
					t.Fatalf("check = %v; want nil", c.err)
				}
				return
			}
			var ae *ArgumentError
			if !errors.As(c.err, &ae) || !errors.Is(c.err, ErrInvalidArgument) {
				t.Fatalf("check = %v; want an *ArgumentError matching ErrInvalidArgument", c.err)
			}
			if ae.Field != c.field {
				t.Errorf("check field = %q; want %q", ae.Field, c.field)
			}
		})
	}
}

func TestRefreshSwap_InGrace(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name    string
		grace   time.Duration
		retired time.Time
		want    bool
	}{
		{"ZeroGraceRetiredNow", 0, now, false},
		{"WithinGrace", time.Second, now.Add(-time.Second / 2), true},
		{"AtGraceSince", time.Second, now.Add(-time.Second), true},
		{"BeforeGraceSince", time.Second, now.Add(-time.Second - time.Microsecond), false},
		{"NegativeGrace", -time.Second, now, false},
	} {
		sw := RefreshSwap{Now: now, GraceSince: now.Add(-c.grace)}
		if got := sw.InGrace(c.retired); got != c.want {
			t.Errorf("%s: InGrace(%v) = %t; want %t", c.name, c.retired, got, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestEncodeEvents(t *testing.T) {
	got, err := EncodeEvents([]Event{{ID: "a"}, {ID: "b", Details: map[string]any{"n": 1, "s": "x"}}})
	if err != nil || len(got) != 2 || got[0] != nil || string(got[1]) != `{"n":1,"s":"x"}` {
		t.Errorf("EncodeEvents = %q, %v; want [nil {\"n\":1,\"s\":\"x\"}], nil", got, err)
	}
}
