package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/redisstore"
)

// revokingMeta are the meta documents whose writes revoke: the Manager's
// incident watermarks, the API key set (a revoked key) and the signing
// key ring (the keys the kill switch dropped).
var revokingMeta = []string{"revocation_watermarks", "api_keys", "signing_keys"}

// otherMeta are documents whose writes revoke nothing: they never wait.
var otherMeta = []string{"gateway.login_codes.3", "ssf.streams", "ssf.poll.x", "dpop_nonce", "gateway.dbsc_key", "deployment"}

// TestStore_RevokingMetaSurvivesFailover: PutMeta returned as soon as the
// master had the document, so a failover to a replica that had not
// received it yet undid a kill switch's watermark, an API key's
// revocation or the key ring without the keys the kill switch dropped;
// a node started after it (before a running node wrote them back, if any
// does) accepted what they had revoked. The writes of those documents,
// and PutRevokingMeta of any (a login code spent), now wait for a replica
// as revocations do. The replica is stopped and
// the master's replication buffer filled, so the write sits in the
// master's memory only; then either the call returns (the defect: the
// master is killed at once and the replica promoted) or the master shows
// it blocked waiting, and the replica is resumed first.
func TestStore_RevokingMetaSurvivesFailover(t *testing.T) {
	// write returns the revoking change to make on the master's store (run
	// in another goroutine); lost reports on the promoted replica's store
	// whether it was lost.
	type change struct {
		name  string
		write func(ctx context.Context, t *testing.T, st *redisstore.Store) func() error
		lost  func(ctx context.Context, t *testing.T, st *redisstore.Store) string
	}
	var changes []change
	for _, doc := range revokingMeta {
		changes = append(changes, change{"PutMeta/" + doc,
			func(ctx context.Context, t *testing.T, st *redisstore.Store) func() error {
				return func() error {
					_, err := st.PutMeta(ctx, doc, []byte("revoked"), 0)
					return err
				}
			},
			func(ctx context.Context, t *testing.T, st *redisstore.Store) string {
				val, ver, err := st.GetMeta(ctx, doc)
				if err != nil || string(val) != "revoked" || ver != 1 {
					return "GetMeta() = " + string(val) + ", " + strings.TrimSpace(errString(err)) + "; want the write acknowledged before the failover"
				}
				return ""
			}})
	}
	// A login code spent (gateway), in a document whose other writes (the
	// codes issued) do not wait.
	changes = append(changes, change{"PutRevokingMeta/gateway.login_codes.3",
		func(ctx context.Context, t *testing.T, st *redisstore.Store) func() error {
			if _, err := st.PutMeta(ctx, "gateway.login_codes.3", []byte("issued"), 0); err != nil {
				t.Fatalf("PutMeta() = %v", err)
			}
			return func() error {
				_, err := st.PutRevokingMeta(ctx, "gateway.login_codes.3", []byte("spent"), 1)
				return err
			}
		},
		func(ctx context.Context, t *testing.T, st *redisstore.Store) string {
			val, ver, err := st.GetMeta(ctx, "gateway.login_codes.3")
			if err != nil || string(val) != "spent" || ver != 2 {
				return "GetMeta() = " + string(val) + ", " + errString(err) + "; want the spend acknowledged before the failover"
			}
			return ""
		}})
	// The kill switch of a jwt Manager (which keeps no sessions: the
	// watermark is all it writes), and a Manager started after the
	// failover verifying a token issued before it.
	codec, _ := jwttest.Codec(t, time.Now(), 90*24*time.Hour)
	jwtManager := func(t *testing.T, st *redisstore.Store) *sessiond.Manager {
		m, err := sessiond.New(context.Background(), sessiond.Options{Strategy: sessiond.StrategyJWT, Store: st, Signed: codec, GCInterval: -1})
		if err != nil {
			t.Fatalf("sessiond.New() = %v", err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	var issued *sessiond.Issued
	changes = append(changes, change{"KillSwitch/jwt",
		func(ctx context.Context, t *testing.T, st *redisstore.Store) func() error {
			m := jwtManager(t, st)
			return func() error {
				_, err := m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false)
				return err
			}
		},
		func(ctx context.Context, t *testing.T, st *redisstore.Store) string {
			if _, err := jwtManager(t, st).Verify(ctx, issued.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				return "a Manager started after the failover: Verify(token issued before the kill switch) = " + errString(err) + "; want ErrRevoked"
			}
			return ""
		}})

	for _, c := range changes {
		t.Run(c.name, func(t *testing.T) {
			pair := redisclustertest.StartPair(t)
			ctx := context.Background()
			st, err := redisstore.New(ctx, pair.URL(), redisstore.Options{Prefix: "ackmeta", RevocationWait: 10 * time.Minute})
			if err != nil {
				t.Fatalf("redisstore.New() = %v", err)
			}
			defer st.Close()
			// A login the kill switch is to revoke.
			if issued, err = jwtManager(t, st).Create(ctx, "alice", sessiond.CreateOptions{}); err != nil {
				t.Fatalf("Create() = %v", err)
			}
			writeThenFailover(t, pair, st, "the write", c.write(ctx, t, st))

			promoted, err := redisstore.New(ctx, pair.ReplicaURL(), redisstore.Options{Prefix: "ackmeta"})
			if err != nil {
				t.Fatalf("redisstore.New(promoted replica) = %v", err)
			}
			defer promoted.Close()
			if msg := c.lost(ctx, t, promoted); msg != "" {
				t.Errorf("after the failover: %s", msg)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestStore_MetaWait: with the replica stopped and a short wait, a write
// of a revoking document, or any write through PutRevokingMeta, still
// succeeds (it holds on the master), is logged as a warning and counted
// like an unacknowledged revocation; a PutMeta of any other document
// (login codes, Shared Signals queues, secrets) does not wait, so it is
// neither.
func TestStore_MetaWait(t *testing.T) {
	pair := redisclustertest.StartPair(t)
	ctx := context.Background()
	st, logs := waitingStore(t, pair, "ackmetawait")
	pair.Stop()
	defer pair.Continue()
	for _, doc := range otherMeta {
		if _, err := st.PutMeta(ctx, doc, []byte("v"), 0); err != nil {
			t.Fatalf("PutMeta(%q) = %v", doc, err)
		}
	}
	if n := st.UnackedRevocations(); n != 0 {
		t.Errorf("after writing documents that revoke nothing: UnackedRevocations() = %d; want 0 (they do not wait)", n)
	}
	for i, doc := range revokingMeta {
		if v, err := st.PutMeta(ctx, doc, []byte("v"), 0); err != nil || v != 1 {
			t.Fatalf("PutMeta(%q) = %d, %v; want 1, nil: the write holds on the master", doc, v, err)
		}
		if n := st.UnackedRevocations(); n != uint64(i+1) {
			t.Errorf("after PutMeta(%q): UnackedRevocations() = %d; want %d", doc, n, i+1)
		}
		// A conflict writes nothing and still answers ErrConflict.
		if _, err := st.PutMeta(ctx, doc, []byte("v"), 0); !errors.Is(err, sessiond.ErrConflict) {
			t.Errorf("PutMeta(%q) at a moved version = %v; want ErrConflict", doc, err)
		}
	}
	// PutRevokingMeta waits whatever the document.
	if v, err := st.PutRevokingMeta(ctx, otherMeta[0], []byte("v"), 1); err != nil || v != 2 {
		t.Fatalf("PutRevokingMeta(%q) = %d, %v; want 2, nil: the write holds on the master", otherMeta[0], v, err)
	}
	if n := st.UnackedRevocations(); n != uint64(len(revokingMeta)+1) {
		t.Errorf("after PutRevokingMeta(%q): UnackedRevocations() = %d; want %d", otherMeta[0], n, len(revokingMeta)+1)
	}
	if _, err := st.PutRevokingMeta(ctx, otherMeta[0], []byte("v"), 1); !errors.Is(err, sessiond.ErrConflict) {
		t.Errorf("PutRevokingMeta(%q) at a moved version = %v; want ErrConflict", otherMeta[0], err)
	}
	// PutMetaRecorded (an API key changed through the API, with its
	// event) waits as PutMeta does: for the key set, not for the others.
	rec := func() sessiond.ChangeRecords {
		at := time.Now()
		return sessiond.ChangeRecords{Events: []sessiond.Event{{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventAPIKeyRevoked}}}
	}
	want := uint64(len(revokingMeta) + 1)
	for _, w := range []struct {
		doc  string
		wait bool
	}{{"api_keys", true}, {otherMeta[1], false}} {
		if w.wait {
			want++
		}
		if _, err := st.PutMetaRecorded(ctx, w.doc, []byte("w"), 1, rec()); err != nil {
			t.Fatalf("PutMetaRecorded(%q) = %v", w.doc, err)
		}
		if n := st.UnackedRevocations(); n != want {
			t.Errorf("after PutMetaRecorded(%q): UnackedRevocations() = %d; want %d", w.doc, n, want)
		}
	}
	if log := logs(); strings.Count(log, "not on enough replicas") != int(want) {
		t.Errorf("%d warnings; want %d, one per revoking write:\n%s", strings.Count(log, "not on enough replicas"), want, log)
	}
}

// TestStore_MetaWaitOutlivesCancel: a caller whose context ends while a
// revoking document's write waits for a replica gets the new version: the
// master has the write, and an error would make the caller retry a
// compare-and-swap that already happened (ErrConflict).
func TestStore_MetaWaitOutlivesCancel(t *testing.T) {
	pair := redisclustertest.StartPair(t)
	st, err := redisstore.New(context.Background(), pair.URL(), redisstore.Options{Prefix: "ackmetacancel", RevocationWait: 10 * time.Minute})
	if err != nil {
		t.Fatalf("redisstore.New() = %v", err)
	}
	defer st.Close()
	pair.Stop()
	defer pair.Continue()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type answer struct {
		v   int64
		err error
	}
	done := make(chan answer, 1)
	go func() {
		v, err := st.PutMeta(ctx, "revocation_watermarks", []byte("v"), 0)
		done <- answer{v, err}
	}()
	var a answer
	for waited := false; !waited; {
		select {
		case a = <-done:
			t.Fatalf("PutMeta() = %d, %v before a replica had it; want it to wait", a.v, a.err)
		default:
		}
		waited = pair.Blocked()
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	pair.Continue()
	if a = <-done; a.err != nil || a.v != 1 {
		t.Errorf("PutMeta() with its context ended during the wait = %d, %v; want 1, nil: the master has it", a.v, a.err)
	}
}

// TestStore_MetaWaitCluster: on a Redis Cluster the WAIT after a
// revoking document's write runs on the master of the document's slot:
// with every replica running the write is acknowledged, and with that
// master's replica stopped it waits there (a client of that master
// blocks) until the replica is resumed. Seen by the master's blocked
// client rather than by a wait timing out, which a running replica on a
// loaded machine could overrun as well.
func TestStore_MetaWaitCluster(t *testing.T) {
	cluster := redisclustertest.Start(t)
	ctx := context.Background()
	// Each wait lasts until the replica acknowledges: the minute only
	// keeps a lost replica from hanging the test.
	st, err := redisstore.New(ctx, cluster.URL(), redisstore.Options{Prefix: "ackmetac", RevocationWait: time.Minute})
	if err != nil {
		t.Fatalf("redisstore.New(cluster) = %v", err)
	}
	defer st.Close()
	// Each document's master and replica, read before any replica stops:
	// a node that has not heard from a resumed replica yet reports it
	// failing, without its master.
	type nodes struct{ master, replica int }
	owners := map[string]nodes{}
	for _, doc := range revokingMeta {
		master, replica := cluster.SlotOwner("ackmetac:meta:" + doc)
		if replica == 0 {
			t.Fatalf("%s: master without a replica", doc)
		}
		owners[doc] = nodes{master, replica}
	}
	for _, doc := range revokingMeta {
		t.Run(doc, func(t *testing.T) {
			o := owners[doc]
			before := st.UnackedRevocations()
			if _, err := st.PutMeta(ctx, doc, []byte("v"), 0); err != nil {
				t.Fatalf("PutMeta() = %v", err)
			}
			if n := st.UnackedRevocations() - before; n != 0 {
				t.Errorf("with every replica running: %d unacknowledged; want 0", n)
			}
			cluster.Stop(o.replica)
			defer cluster.Continue(o.replica)
			blocked, err := blocksOn(t, cluster, o.master, func() error {
				_, err := st.PutMeta(ctx, doc, []byte("v"), 1)
				return err
			}, func() { cluster.Continue(o.replica) })
			if err != nil {
				t.Fatalf("PutMeta() = %v", err)
			}
			if !blocked {
				t.Error("with the replica of the document's master stopped, PutMeta returned without waiting on that master")
			}
			if n := st.UnackedRevocations() - before; n != 0 {
				t.Errorf("with the replica resumed during the wait: %d unacknowledged; want 0", n)
			}
		})
	}
}
