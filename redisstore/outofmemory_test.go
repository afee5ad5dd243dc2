package redisstore_test

import (
	"errors"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/redisstore"
)

// privateRedis starts a redis-server of the test's own, without
// persistence, with args added (the shared test server's settings are the
// machine's business), and returns its URL and a client on it.
func privateRedis(t *testing.T, args ...string) (string, rueidis.Client) {
	t.Helper()
	redisURL(t) // skip (or fail in CI) as the other Redis tests do
	port := strconv.Itoa(redisclustertest.StartServer(t, args...))
	return "redis://127.0.0.1:" + port + "/0", rawOn(t, port)
}

// privatePair is privateRedis with a replica (redisclustertest.StartPair):
// the store's revocations wait for it, sent with EVAL and WAIT
// (execAcked).
func privatePair(t *testing.T) (string, rueidis.Client) {
	t.Helper()
	redisURL(t)
	pair := redisclustertest.StartPair(t)
	return pair.URL(), rawOn(t, strconv.Itoa(pair.Master))
}

// rawOn is a client on the Redis at port of 127.0.0.1, once it answers.
func rawOn(t *testing.T, port string) rueidis.Client {
	t.Helper()
	// ForceSingleClient: a Cluster node's own, not the Cluster's.
	opt := rueidis.ClientOption{InitAddress: []string{"127.0.0.1:" + port}, DisableCache: true, ForceSingleClient: true}
	raw, err := rueidis.NewClient(opt)
	for deadline := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		raw, err = rueidis.NewClient(opt)
	}
	if err != nil {
		t.Fatalf("private redis-server: %v", err)
	}
	t.Cleanup(raw.Close)
	return raw
}

// outOfMemory sets Redis's maxmemory below the memory it uses: from then
// on, under the default policy (noeviction), it refuses every command that
// may need memory. Redis leaves the replication backlog and the replicas'
// buffers out of that count (mem_not_counted_for_evict).
func outOfMemory(t *testing.T, raw rueidis.Client) {
	t.Helper()
	info, err := raw.Do(t.Context(), raw.B().Info().Section("memory").Build()).ToString()
	if err != nil {
		t.Fatal(err)
	}
	used, err := strconv.ParseInt(infoValue(info, "used_memory"), 10, 64)
	if err != nil {
		t.Fatalf("used_memory: %v", err)
	}
	uncounted, err := strconv.ParseInt(infoValue(info, "mem_not_counted_for_evict"), 10, 64)
	if err != nil {
		t.Fatalf("mem_not_counted_for_evict: %v", err)
	}
	if err := raw.Do(t.Context(), raw.B().ConfigSet().ParameterValue().
		ParameterValue("maxmemory", strconv.FormatInt(used-uncounted-200_000, 10)).Build()).Error(); err != nil {
		t.Fatal(err)
	}
}

func infoValue(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// dumpAll is every key under prefix with its serialized value (DUMP): what
// a call Redis refused must leave exactly as it was.
func dumpAll(t *testing.T, raw rueidis.Client, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range keys(t, raw, prefix) {
		v, err := raw.Do(t.Context(), raw.B().Dump().Key(k).Build()).ToString()
		if err != nil && !rueidis.IsRedisNil(err) {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		out[k] = v
	}
	return out
}

// TestStore_OutOfMemory: on a Redis out of memory under noeviction, the
// calls that read, revoke, or only rewrite what is stored (a touch, a
// delivery claimed and finished) work, on a single Redis and on a
// Cluster's paths; those that add (logins, refreshes, events, one-time
// keys, counters, other documents) fail with ErrStoreUnavailable and
// leave every key as it was; the store says so in one log line, not one
// per call. Before allow-oom, a logout (Revoke), the kill switch and the
// database strategy's touch were refused while RevokeSubject, whose
// script happens to delete before it adds, went through; and a Lookup
// that missed the client-side cache was refused. With a replica the
// revocations go out as EVAL with the script's source, then WAIT
// (execAcked): the source must carry its flags too.
func TestStore_OutOfMemory(t *testing.T) {
	for _, tc := range []struct {
		name             string
		cluster, replica bool
	}{
		{"Single", false, false},
		{"ClusterPaths", true, false},
		{"WaitingForReplica", false, true},
	} {
		cluster := tc.cluster
		t.Run(tc.name, func(t *testing.T) {
			open := privateRedis
			if tc.replica {
				open = func(t *testing.T, _ ...string) (string, rueidis.Client) { return privatePair(t) }
			}
			url, raw := open(t)
			var logs testenv.SyncBuffer
			prefix := randomPrefix()
			// With a replica, each revocation waits for it: until it
			// acknowledges, not the default second, which a replica on a
			// loaded machine overran (the test counts unacknowledged
			// waits). A refused WAIT still answers at once; the minute
			// only keeps a lost replica from hanging the test.
			st, err := redisstore.New(t.Context(), url, redisstore.Options{Prefix: prefix, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				RevocationWait: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if cluster {
				redisstore.BatchBySlot(st)
			}
			if want := map[bool]int{false: 0, true: 1}[tc.replica]; st.RevocationReplicas() != want {
				t.Fatalf("RevocationReplicas() = %d; want %d", st.RevocationReplicas(), want)
			}
			ctx := t.Context()
			t0 := now()
			type login struct {
				s    *sessiond.Session
				a, r sessiond.Token
			}
			logins := map[string][]login{}
			for i := range 12 {
				sub := []string{"alice", "bob", "carol", "dave"}[i%4]
				s := newSession(sub, t0)
				s.LastActiveAt = t0
				l := login{s, newToken(sessiond.KindAccess, s.ID, t0), newToken(sessiond.KindRefresh, s.ID, t0)}
				if err := st.Create(ctx, s, l.a, l.r); err != nil {
					t.Fatal(err)
				}
				logins[sub] = append(logins[sub], l)
			}
			_, wmVer, err := st.GetMeta(ctx, "revocation_watermarks")
			if !errors.Is(err, sessiond.ErrNotFound) {
				t.Fatalf("GetMeta(revocation_watermarks) = %v; want not found", err)
			}
			if _, err := st.PutMeta(ctx, "other", []byte("1"), 0); err != nil {
				t.Fatal(err)
			}
			d := sessiond.Delivery{ID: "d1", Endpoint: "e", EventID: "ev", Payload: []byte("{}"), State: sessiond.DeliveryPending,
				NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}
			if err := st.EnqueueDeliveries(ctx, d); err != nil {
				t.Fatal(err)
			}
			// Another node, with the client-side cache, that has read nothing yet.
			cached, err := redisstore.New(t.Context(), url, redisstore.Options{Prefix: prefix, ClientCache: 30 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer cached.Close()
			outOfMemory(t, raw)
			// Redis has forgotten the scripts (a restart, SCRIPT FLUSH):
			// each goes out again with its source, which must carry its
			// flags as the SHA-1's script did.
			if err := raw.Do(ctx, raw.B().ScriptFlush().Build()).Error(); err != nil {
				t.Fatal(err)
			}

			t1 := t0.Add(time.Minute)
			alice, bob := logins["alice"], logins["bob"]
			revoked := func(id sessiond.SessionID) error {
				s, err := st.Get(ctx, id)
				if err != nil || !s.Revoked() {
					return errors.New("not revoked")
				}
				return nil
			}
			works := []struct {
				name string
				run  func() error
			}{
				{"Ping", func() error { return st.Ping(ctx) }},
				{"Lookup", func() error { _, _, err := st.Lookup(ctx, alice[0].a.Hash); return err }},
				// a cache miss goes out in MULTI, which Redis refuses at OOM
				{"Lookup with ClientCache", func() error {
					for range 2 { // a miss, then from the cache or Redis
						if _, _, err := cached.Lookup(ctx, alice[1].a.Hash); err != nil {
							return err
						}
					}
					return nil
				}},
				{"List", func() error {
					l, err := st.List(ctx, "alice", t0)
					if err == nil && len(l) != 3 {
						return errors.New("List: " + strconv.Itoa(len(l)) + " sessions; want 3")
					}
					return err
				}},
				{"SubjectClients", func() error { _, err := st.SubjectClients(ctx, "alice", t0); return err }},
				{"CountLive", func() error { _, err := st.CountLive(ctx, t0); return err }},
				{"QueryEvents", func() error { _, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Limit: 10}); return err }},
				// the database strategy's verify touches a session once a touch interval
				{"Touch", func() error {
					if err := st.Touch(ctx, alice[1].s.ID, t1, t1.Add(30*time.Minute)); err != nil {
						return err
					}
					if s, err := st.Get(ctx, alice[1].s.ID); err != nil || !s.LastActiveAt.Equal(t1) {
						return errors.New("touch not stored")
					}
					return nil
				}},
				{"Revoke", func() error {
					if _, err := st.Revoke(ctx, alice[0].s.ID, t1, sessiond.ReasonLogout); err != nil {
						return err
					}
					return revoked(alice[0].s.ID)
				}},
				{"RevokeSubject", func() error {
					if _, err := st.RevokeSubject(ctx, "bob", "", t1, sessiond.ReasonAdmin); err != nil {
						return err
					}
					return revoked(bob[2].s.ID)
				}},
				{"RevokeRecorded", func() error {
					_, _, err := st.RevokeRecorded(ctx, alice[2].s.ID, t1, sessiond.ReasonLogout, func(*sessiond.Session) sessiond.ChangeRecords {
						return sessiond.ChangeRecords{Events: []sessiond.Event{{ID: sessiond.NewEventID(t1), Time: t1,
							Type: sessiond.EventSessionRevoked, Subject: "alice", SessionID: alice[2].s.ID}}}
					})
					if err != nil {
						return err
					}
					return revoked(alice[2].s.ID)
				}},
				{"Revocations", func() error {
					revs, err := st.Revocations(ctx, t0)
					if err == nil && len(revs) != 5 {
						return errors.New("Revocations: " + strconv.Itoa(len(revs)) + "; want 5")
					}
					return err
				}},
				// the kill switch writes its watermarks first
				{"PutMeta watermarks", func() error { _, err := st.PutMeta(ctx, "revocation_watermarks", []byte("{}"), wmVer); return err }},
				// an API key revoked through the API, with its event
				{"PutMetaRecorded api_keys", func() error {
					_, err := st.PutMetaRecorded(ctx, "api_keys", []byte("{}"), 0, sessiond.ChangeRecords{Events: []sessiond.Event{
						{ID: sessiond.NewEventID(t1), Time: t1, Type: sessiond.EventAPIKeyRevoked, Subject: "admin"}}})
					if err == nil && !cluster && len(queryAll(t, st, sessiond.EventQuery{Subject: "admin"})) != 1 {
						return errors.New("the key set's change is stored without its event")
					}
					return err
				}},
				{"RevokeMatching subjects", func() error {
					_, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"carol"}}, t1, sessiond.ReasonIncident)
					if err != nil {
						return err
					}
					return revoked(logins["carol"][0].s.ID)
				}},
				{"RevokeMatching all", func() error {
					_, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, t1, sessiond.ReasonIncident)
					if err != nil {
						return err
					}
					return revoked(logins["dave"][0].s.ID)
				}},
				{"ClaimDeliveries", func() error {
					ds, err := st.ClaimDeliveries(ctx, t1, 10, time.Minute)
					if err == nil && len(ds) != 1 {
						return errors.New("claimed " + strconv.Itoa(len(ds)) + "; want 1")
					}
					return err
				}},
				{"FinishDelivery", func() error {
					return st.FinishDelivery(ctx, "d1", sessiond.DeliveryDelivered, 1, time.Time{}, "", t1)
				}},
				{"DeleteExpired", func() error { _, err := st.DeleteExpired(ctx, t0, 100); return err }},
			}
			for _, c := range works {
				if err := c.run(); err != nil {
					t.Errorf("%s at OOM = %v; want it to work", c.name, err)
				}
			}
			if n := st.UnackedRevocations(); n != 0 {
				t.Errorf("UnackedRevocations() = %d after the revocations at OOM; want 0 (WAIT answers at OOM):\n%s", n, logs.String())
			}

			s := newSession("erin", t1)
			refused := []struct {
				name string
				run  func() error
			}{
				{"Create", func() error { return st.Create(ctx, s, newToken(sessiond.KindAccess, s.ID, t1)) }},
				{"SwapRefresh", func() error {
					l := logins["alice"][1]
					return st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: l.r.Hash, Next: newToken(sessiond.KindRefresh, l.s.ID, t1),
						Now: t1, LastActiveAt: t1, IdleExpiresAt: t1.Add(30 * time.Minute)})
				}},
				{"RememberOnce", func() error { _, err := st.RememberOnce(ctx, "proof", t1, t1.Add(time.Minute)); return err }},
				{"RememberOnceAcked", func() error { _, err := st.RememberOnceAcked(ctx, "dbsc", t1, t1.Add(time.Minute)); return err }},
				{"Incr", func() error { _, _, err := st.Incr(ctx, "fails", t1, time.Minute); return err }},
				{"PutMeta other", func() error { _, err := st.PutMeta(ctx, "other", []byte("2"), 1); return err }},
				{"PutMetaRecorded other", func() error {
					_, err := st.PutMetaRecorded(ctx, "other", []byte("2"), 1, sessiond.ChangeRecords{Events: []sessiond.Event{
						{ID: sessiond.NewEventID(t1), Time: t1, Type: sessiond.EventAPIKeyCreated, Subject: "admin"}}})
					return err
				}},
				{"AppendEvents", func() error {
					return st.AppendEvents(ctx, sessiond.Event{ID: sessiond.NewEventID(t1), Time: t1, Type: sessiond.EventSessionCreated, Subject: "erin"})
				}},
				{"EnqueueDeliveries", func() error {
					d2 := d
					d2.ID = "d2"
					return st.EnqueueDeliveries(ctx, d2)
				}},
			}
			for _, c := range refused {
				before := dumpAll(t, raw, prefix)
				n0 := st.OutOfMemoryRefusals()
				err := c.run()
				if n := st.OutOfMemoryRefusals() - n0; n != 1 {
					t.Errorf("%s at OOM: OutOfMemoryRefusals() went up by %d; want 1", c.name, n)
				}
				if !errors.Is(err, sessiond.ErrStoreUnavailable) {
					t.Errorf("%s at OOM = %v; want ErrStoreUnavailable", c.name, err)
				}
				if after := dumpAll(t, raw, prefix); !maps.Equal(before, after) {
					t.Errorf("%s at OOM changed keys; want every key as it was", c.name)
				}
			}
			if cluster {
				// The revocation's events wait in its slot: moving them
				// to the event log adds memory, and a sweep moves them
				// once Redis has room.
				if n, err := redisstore.PendingRecords(ctx, st); err != nil || n != 2 {
					t.Errorf("PendingRecords() = %d, %v; want 2 (RevokeRecorded's, PutMetaRecorded's)", n, err)
				}
			}
			out := logs.String()
			if n := strings.Count(out, "Redis is out of memory"); n != 1 {
				t.Errorf("logged %d lines saying Redis is out of memory; want 1:\n%s", n, out)
			}
		})
	}
}

// TestStore_SubjectPagesOutOfMemory: List and SubjectClients go on past a
// session removed between two of their scripts on a Redis out of memory.
// Their page scripts used to put the removed member back for a moment to
// find its rank, a write Redis refuses then; they now only read.
func TestStore_SubjectPagesOutOfMemory(t *testing.T) {
	url, raw := privateRedis(t)
	prefix := randomPrefix()
	st, err := redisstore.New(t.Context(), url, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	t0 := now()
	want := map[sessiond.SessionID]int{}
	for i := range 9 {
		s := newSession("alice", t0)
		s.ExpiresAt = t0.Add(time.Duration(8+i%3) * time.Hour) // three scores, three members each
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		want[s.ID] = 1
	}
	outOfMemory(t, raw)
	idx, base := idxKey(prefix, "alice"), prefix+":{"+tagOf("alice")+"}:s:"
	for _, page := range []int{1, 2, 4} {
		got, calls := map[sessiond.SessionID]int{}, 0
		err := redisstore.SubjectClientsPaged(ctx, st, "alice", t0, page, func(id sessiond.SessionID, _ sessiond.Client) {
			got[id]++
			if calls++; calls%page == 0 && page > 1 { // the last of a page: gone before the next script
				for _, cmd := range [][]string{{"ZREM", idx, string(id)}, {"DEL", base + string(id)}} {
					if err := raw.Do(ctx, raw.B().Arbitrary(cmd...).Build()).Error(); err != nil {
						t.Fatalf("%v: %v", cmd, err)
					}
				}
			}
		})
		if err != nil {
			t.Fatalf("page %d: SubjectClients at OOM = %v", page, err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("page %d: SubjectClients read %v (times each); want each of %v once", page, got, want)
		}
		for id := range want {
			if n, err := raw.Do(ctx, raw.B().Exists().Key(base+string(id)).Build()).AsInt64(); err == nil && n == 0 {
				delete(want, id)
			}
		}
		list, err := redisstore.ListPaged(ctx, st, "alice", t0, 2)
		if err != nil || len(list) != len(want) {
			t.Errorf("page %d: List at OOM = %d sessions, %v; want %d", page, len(list), err, len(want))
		}
	}
}

// TestStore_DeleteExpiredOutOfMemory: on a Redis out of memory the
// collection of expired sessions goes on past the GC entries of live
// sessions whose activity moved their idle expiry later (entries only
// ever move earlier, so they come first). Moving such an entry to the
// session's real expiry was a plain ZADD, which Redis refuses then: every
// DeleteExpired failed on them and deleted nothing behind them, when
// freeing memory is what Redis needs.
func TestStore_DeleteExpiredOutOfMemory(t *testing.T) {
	url, raw := privateRedis(t)
	prefix := randomPrefix()
	st, err := redisstore.New(t.Context(), url, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	t0 := now().Add(-time.Hour)
	idle := t0.Add(2 * time.Hour)
	var live []sessiond.SessionID
	for i := range 3 {
		s := newSession("alice", t0)
		s.IdleExpiresAt = t0.Add(time.Duration(i+1) * time.Minute) // before the expired one's
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := st.Touch(ctx, s.ID, t0.Add(50*time.Minute), idle); err != nil {
			t.Fatal(err)
		}
		live = append(live, s.ID)
	}
	gone := newSession("bob", t0)
	gone.IdleExpiresAt = t0.Add(10 * time.Minute)
	if err := st.Create(ctx, gone); err != nil {
		t.Fatal(err)
	}
	outOfMemory(t, raw)

	// A limit no larger than the live entries ahead: the first round
	// fetches only those, as a full batch of them does in production.
	n, err := st.DeleteExpired(ctx, t0.Add(55*time.Minute), len(live))
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpired at OOM = %d, %v; want 1, nil", n, err)
	}
	if _, err := st.Get(ctx, gone.ID); !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("Get(expired session) after DeleteExpired at OOM = %v; want ErrNotFound", err)
	}
	for _, id := range live {
		if _, err := st.Get(ctx, id); err != nil {
			t.Errorf("Get(live session %s) after DeleteExpired at OOM = %v; want it kept", id, err)
		}
		score, err := raw.Do(ctx, raw.B().Zscore().Key(prefix+":{"+prefix+"}:gc").Member(ref("alice", id)).Build()).AsFloat64()
		if err != nil || int64(score) != idle.UnixMicro() {
			t.Errorf("GC entry of live session %s = %v, %v; want moved to its idle expiry %d", id, score, err, idle.UnixMicro())
		}
	}
	if n := st.OutOfMemoryRefusals(); n != 0 {
		t.Errorf("OutOfMemoryRefusals() = %d; want 0", n)
	}
}
