package redisstore_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// revocationEqual reports whether two revocations say the same.
func revocationEqual(a, b sessiond.Revocation) bool {
	return a.SessionID == b.SessionID && a.Subject == b.Subject && a.RevokedAt.Equal(b.RevokedAt) &&
		a.ExpiresAt.Equal(b.ExpiresAt) && a.Reason == b.Reason
}

// TestStore_RevocationFeed: a second Store on the same prefix hears the
// revocations made through the first, and after its subscriber connection
// is killed it resyncs and keeps hearing them.
func TestStore_RevocationFeed(t *testing.T) {
	t.Parallel()
	prefix := randomPrefix()
	name := "sdtest-feed-" + randomHex(4)
	a := newStore(t, redisstore.Options{Prefix: prefix})
	b := newStore(t, redisstore.Options{Prefix: prefix, ClientName: name})
	raw := rawClient(t)
	ctx := t.Context()

	got := make(chan sessiond.Revocation, 64)
	resynced := make(chan struct{}, 8)
	if err := b.SubscribeRevocations(ctx, func(r sessiond.Revocation) { got <- r }, func() { resynced <- struct{}{} }); err != nil {
		t.Fatalf("SubscribeRevocations() = %v; want nil", err)
	}
	// want waits up to a second for each of revs, in any order. Delivery is
	// at least once: a message seen before may come again (on a Redis
	// Cluster, after resubscribing on another node).
	seen := map[sessiond.SessionID]bool{}
	want := func(what string, revs ...sessiond.Revocation) {
		t.Helper()
		pending := slices.Clone(revs)
		timeout := time.After(time.Second)
		for len(pending) > 0 {
			select {
			case r := <-got:
				i := slices.IndexFunc(pending, func(w sessiond.Revocation) bool { return revocationEqual(r, w) })
				if i < 0 {
					if !seen[r.SessionID] {
						t.Errorf("%s: feed delivered %+v; want one of %+v", what, r, pending)
					}
					continue
				}
				seen[r.SessionID] = true
				pending = slices.Delete(pending, i, i+1)
			case <-timeout:
				t.Fatalf("%s: %d revocations not delivered within 1s: %+v", what, len(pending), pending)
			}
		}
	}
	revoke := func(s *sessiond.Session, at time.Time) sessiond.Revocation {
		t.Helper()
		if _, err := a.Revoke(ctx, s.ID, at, sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke() = %v", err)
		}
		return sessiond.Revocation{SessionID: s.ID, Subject: s.Subject, RevokedAt: at, ExpiresAt: s.ExpiresAt, Reason: sessiond.ReasonLogout}
	}
	create := func(subject string) *sessiond.Session {
		t.Helper()
		s := newSession(subject, now())
		if err := a.Create(ctx, s); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		return s
	}

	s1 := create("alice")
	want("Revoke", revoke(s1, now()))
	if _, err := a.Revoke(ctx, s1.ID, now(), sessiond.ReasonAdmin); err != nil {
		t.Fatalf("second Revoke() = %v", err)
	}
	create("bob")
	create("bob")
	at := now()
	revs, err := a.RevokeSubject(ctx, "bob", "", at, sessiond.ReasonIncident)
	if err != nil || len(revs) != 2 {
		t.Fatalf("RevokeSubject() = %v, %v; want 2", revs, err)
	}
	want("RevokeSubject", revs...) // and nothing for the idempotent revoke above

	// Kill the subscriber's connection (only it: other tests run too).
	// Every node is searched first, so the test also runs on a Redis
	// Cluster, and then the kill, which the feed answers by resubscribing
	// at once, maybe on another node.
	type target struct {
		node rueidis.Client
		id   int64
	}
	var targets []target
	for _, node := range raw.Nodes() {
		list, err := node.Do(ctx, node.B().ClientList().TypePubsub().Build()).ToString()
		if err != nil {
			t.Fatalf("CLIENT LIST = %v", err)
		}
		list = strings.TrimPrefix(list, "txt:") // RESP3 verbatim string
		for line := range strings.SplitSeq(list, "\n") {
			if !strings.Contains(line, " name="+name+" ") {
				continue
			}
			idField, _, _ := strings.Cut(line, " ")
			id, err := strconv.ParseInt(strings.TrimPrefix(idField, "id="), 10, 64)
			if err != nil {
				t.Fatalf("CLIENT LIST line %q: %v", line, err)
			}
			targets = append(targets, target{node, id})
		}
	}
	if len(targets) != 1 {
		t.Fatalf("found %d pub/sub connections named %s; want 1", len(targets), name)
	}
	if n, err := targets[0].node.Do(ctx, targets[0].node.B().ClientKill().Id(targets[0].id).Build()).AsInt64(); n != 1 || err != nil {
		t.Fatalf("CLIENT KILL ID %d = %d, %v; want 1", targets[0].id, n, err)
	}
	select {
	case <-resynced:
	case <-time.After(5 * time.Second):
		t.Fatal("resync not called within 5s of the subscriber connection being killed")
	}
	s4 := create("alice")
	want("Revoke after reconnect", revoke(s4, now()))

	// Evictions are revocations too.
	s5 := create("carol")
	s6 := newSession("carol", now())
	evicted, err := a.CreateLimited(ctx, s6, 1, true)
	if err != nil || len(evicted) != 1 {
		t.Fatalf("CreateLimited() = %v, %v; want 1 eviction", evicted, err)
	}
	want("CreateLimited eviction", sessiond.Revocation{SessionID: s5.ID, Subject: "carol", RevokedAt: s6.CreatedAt, ExpiresAt: s5.ExpiresAt, Reason: sessiond.ReasonLimit})
	quiet := time.After(50 * time.Millisecond)
	for {
		select {
		case r := <-got:
			if !seen[r.SessionID] {
				t.Errorf("feed delivered an unexpected %+v", r)
			}
		case <-quiet:
			return
		}
	}
}
