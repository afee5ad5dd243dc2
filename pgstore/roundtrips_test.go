package pgstore_test

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/delayproxy"
	"github.com/sessiond/sessiond/pgstore"
)

// tripCounter counts the sequential round trips crossing a delayproxy,
// leaving out the pool's liveness pings.
type tripCounter struct {
	p     *delayproxy.Proxy
	pings atomic.Int64
}

// pingQuery is the simple-protocol query pgconn sends to ping ('Q', its
// length, "-- ping"), which pgxpool does on acquiring a connection idle
// for over a second: on a loaded machine, the setup between two counted
// calls can leave it that long.
var pingQuery = append([]byte{'Q', 0, 0, 0, 12}, "-- ping\x00"...)

func (c *tripCounter) trace(_ string, b []byte) {
	if bytes.HasPrefix(b, pingQuery) {
		c.pings.Add(1)
	}
}

// Reset sets the count to zero.
func (c *tripCounter) Reset() {
	c.p.Reset()
	c.pings.Store(0)
}

// Count is the round trips since Reset, pings left out.
func (c *tripCounter) Count() int64 { return c.p.Stats().Turnarounds - c.pings.Load() }

// countedStore returns a Store on a fresh schema whose connections cross a
// delayproxy (no delay: it counts round trips), its counter, and a second
// Store on the same schema connected directly, to set up data without
// counting it. The proxied store never writes through a group commit in
// these tests, so its plan check (plans.go) stays idle and adds no round
// trip.
func countedStore(t *testing.T) (st *pgstore.Store, c *tripCounter, direct *pgstore.Store, schema string) {
	t.Helper()
	dsn := testDSN(t)
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Skipf("SESSIOND_TEST_POSTGRES_URL is not a URL with a host: %v", err)
	}
	host := u.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "5432")
	}
	c = &tripCounter{}
	c.p, err = delayproxy.Start("127.0.0.1:0", host, delayproxy.Options{Trace: c.trace})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.p.Close() })
	direct, schema = newStore(t, pgstore.Options{})
	u.Host = c.p.Addr()
	st, _ = newStoreOpts(t, u.String(), pgstore.Options{Schema: schema})
	return st, c, direct, schema
}

// A revocation with its records is a transaction of four round trips at
// most whatever it records: BEGIN, the UPDATE that returns the session, one
// batch of the notification and the records, COMMIT. Sent one by one, the
// notification and each record insert were a round trip each, 5 ms apiece
// to a store in another zone (docs/PERFORMANCE.md, "A store across the
// network").
func TestRoundTrips_Revoke(t *testing.T) {
	st, p, direct, _ := countedStore(t)
	ctx := context.Background()
	records := func(s *sessiond.Session) sessiond.ChangeRecords {
		e := sessiond.Event{ID: sessiond.NewEventID(t0), Time: t0, Type: sessiond.EventSessionRevoked,
			Subject: s.Subject, SessionID: s.ID}
		return sessiond.ChangeRecords{Events: []sessiond.Event{e}, Deliveries: []sessiond.Delivery{{
			ID: "d_" + e.ID, Endpoint: "siem", EventID: e.ID, Payload: []byte(`{}`),
			State: sessiond.DeliveryPending, NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}}}
	}
	for _, tc := range []struct {
		name    string
		records func(*sessiond.Session) sessiond.ChangeRecords
		want    int64
	}{
		{"no records", nil, 4},
		{"event and delivery", records, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The first call prepares the statements (a round trip each);
			// the second is the steady state counted.
			var got int64
			for range 2 {
				s := newSession("rt-revoke", t0)
				if err := direct.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t0)); err != nil {
					t.Fatal(err)
				}
				p.Reset()
				_, recorded, err := st.RevokeRecorded(ctx, s.ID, t0.Add(time.Second), sessiond.ReasonLogout, tc.records)
				if err != nil || !recorded {
					t.Fatalf("RevokeRecorded = %v, %v; want recorded", recorded, err)
				}
				got = p.Count()
			}
			if got != tc.want {
				t.Errorf("RevokeRecorded round trips = %d; want %d", got, tc.want)
			}
		})
	}
}

// The same for a subject's revocation: BEGIN, the UPDATE, one batch of
// the notifications and the records, COMMIT.
func TestRoundTrips_RevokeSubject(t *testing.T) {
	st, p, direct, schema := countedStore(t)
	ctx := context.Background()
	records := func(revs []sessiond.Revocation) sessiond.ChangeRecords {
		var rec sessiond.ChangeRecords
		for _, r := range revs {
			rec.Events = append(rec.Events, sessiond.Event{ID: sessiond.NewEventID(t0), Time: t0,
				Type: sessiond.EventSessionRevoked, Subject: r.Subject, SessionID: r.SessionID})
		}
		return rec
	}
	var got int64
	for i := range 2 {
		subject := "rt-subject-" + string(rune('a'+i))
		for range 3 {
			s := newSession(subject, t0)
			if err := direct.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t0)); err != nil {
				t.Fatal(err)
			}
		}
		p.Reset()
		revs, err := st.RevokeSubjectRecorded(ctx, subject, "", t0.Add(time.Second), sessiond.ReasonLogout, records)
		if err != nil || len(revs) != 3 {
			t.Fatalf("RevokeSubjectRecorded = %d revocations, %v; want 3", len(revs), err)
		}
		got = p.Count()
	}
	if got != 4 {
		t.Errorf("RevokeSubjectRecorded round trips = %d; want 4", got)
	}
	if n := queryInt(t, testDSN(t), "SELECT count(*) FROM "+pgx.Identifier{schema, "events"}.Sanitize()+" WHERE type = 'session.revoked'"); n != 6 {
		t.Errorf("events recorded = %d; want 6", n)
	}
}

// A login under a session limit is a transaction of four round trips
// (BEGIN, the advisory lock and the read of the subject's sessions as one
// batch, the insert and its records as one batch, COMMIT), five when it
// evicts (the evictions' UPDATE, then their notifications go in the
// insert's batch). It was six and eight.
func TestRoundTrips_CreateLimited(t *testing.T) {
	st, p, direct, _ := countedStore(t)
	ctx := context.Background()
	created := func(s *sessiond.Session) sessiond.ChangeRecords {
		return sessiond.ChangeRecords{Events: []sessiond.Event{{ID: sessiond.NewEventID(s.CreatedAt), Time: s.CreatedAt,
			Type: sessiond.EventSessionCreated, Subject: s.Subject, SessionID: s.ID}}}
	}
	evicted := func(r sessiond.Revocation) sessiond.ChangeRecords {
		return sessiond.ChangeRecords{Events: []sessiond.Event{{ID: sessiond.NewEventID(r.RevokedAt), Time: r.RevokedAt,
			Type: sessiond.EventSessionRevoked, Subject: r.Subject, SessionID: r.SessionID}}}
	}
	for _, tc := range []struct {
		name      string
		existing  int // live sessions of the subject before the login
		max       int
		want      int64
		wantEvict int
	}{
		{"under the limit", 1, 3, 4, 0},
		{"evicts", 3, 3, 5, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got int64
			for i := range 2 { // the first prepares the statements
				subject := tc.name + string(rune('a'+i))
				for j := range tc.existing {
					s := newSession(subject, t0.Add(time.Duration(j)*time.Second))
					if err := direct.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, s.CreatedAt)); err != nil {
						t.Fatal(err)
					}
				}
				s := newSession(subject, t0.Add(time.Minute))
				p.Reset()
				out, err := st.CreateRecorded(ctx, s, tc.max, true, created(s), evicted, newToken(sessiond.KindAccess, s.ID, s.CreatedAt))
				if err != nil || len(out) != tc.wantEvict {
					t.Fatalf("CreateRecorded = %d evictions, %v; want %d", len(out), err, tc.wantEvict)
				}
				got = p.Count()
				if _, err := direct.Get(ctx, s.ID); err != nil {
					t.Fatalf("Get(new session) = %v; want it stored", err)
				}
			}
			if got != tc.want {
				t.Errorf("CreateRecorded round trips = %d; want %d", got, tc.want)
			}
		})
	}
}

// A connection idle for over a second is pinged by the pool when it is
// acquired (pgxpool's default ShouldPing): a round trip that is not the
// operation's. On a loaded machine the setup between two counted calls can
// take that long, so the count must leave the ping out.
func TestRoundTrips_IdleConnection(t *testing.T) {
	st, p, direct, _ := countedStore(t)
	ctx := context.Background()
	var got int64
	for i := range 2 { // the first prepares the statements
		s := newSession("rt-idle", t0)
		if err := direct.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t0)); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			time.Sleep(1100 * time.Millisecond) // idle past the pool's ping threshold, not a timing assertion
		}
		p.Reset()
		if _, recorded, err := st.RevokeRecorded(ctx, s.ID, t0.Add(time.Second), sessiond.ReasonLogout, nil); err != nil || !recorded {
			t.Fatalf("RevokeRecorded = %v, %v; want recorded", recorded, err)
		}
		got = p.Count()
	}
	if got != 4 {
		t.Errorf("RevokeRecorded round trips after an idle second = %d; want 4", got)
	}
}
