package pgstore_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// TestStore_RevocationsLogged checks that Revocations finds what each
// revocation path revoked, when no bulk revocation makes it read the
// whole table: every path must add its sessions to revocation_log, with
// the session's columns a page of the snapshot reads copied in (migration
// 0011; logCopyMismatches).
func TestStore_RevocationsLogged(t *testing.T) {
	testDSN(t)
	t.Parallel()
	at := t0.Add(10 * time.Minute)
	for _, tc := range []struct {
		name   string
		revoke func(t *testing.T, st *pgstore.Store, a, b *sessiond.Session) []sessiond.SessionID
	}{
		{"Revoke", func(t *testing.T, st *pgstore.Store, a, _ *sessiond.Session) []sessiond.SessionID {
			if _, err := st.Revoke(t.Context(), a.ID, at, sessiond.ReasonLogout); err != nil {
				t.Fatal(err)
			}
			return []sessiond.SessionID{a.ID}
		}},
		{"RevokeRecorded", func(t *testing.T, st *pgstore.Store, a, _ *sessiond.Session) []sessiond.SessionID {
			if _, _, err := st.RevokeRecorded(t.Context(), a.ID, at, sessiond.ReasonLogout, nil); err != nil {
				t.Fatal(err)
			}
			return []sessiond.SessionID{a.ID}
		}},
		{"RevokeSubject", func(t *testing.T, st *pgstore.Store, a, b *sessiond.Session) []sessiond.SessionID {
			if _, err := st.RevokeSubject(t.Context(), "alice", "", at, sessiond.ReasonAdmin); err != nil {
				t.Fatal(err)
			}
			return []sessiond.SessionID{a.ID, b.ID}
		}},
		{"RevokeSubjectRecorded", func(t *testing.T, st *pgstore.Store, a, b *sessiond.Session) []sessiond.SessionID {
			if _, err := st.RevokeSubjectRecorded(t.Context(), "alice", a.ID, at, sessiond.ReasonAdmin, nil); err != nil {
				t.Fatal(err)
			}
			return []sessiond.SessionID{b.ID} // all but a
		}},
		{"CreateLimited", func(t *testing.T, st *pgstore.Store, a, _ *sessiond.Session) []sessiond.SessionID {
			s := newSession("alice", at)
			if _, err := st.CreateLimited(t.Context(), s, 2, true); err != nil {
				t.Fatal(err)
			}
			return []sessiond.SessionID{a.ID} // the least recently active
		}},
		{"CreateRevoked", func(t *testing.T, st *pgstore.Store, _, _ *sessiond.Session) []sessiond.SessionID {
			s := newSession("carol", t0)
			s.RevokedAt, s.RevokeReason = at, sessiond.ReasonAdmin
			if err := st.Create(t.Context(), s); err != nil {
				t.Fatal(err)
			}
			return []sessiond.SessionID{s.ID}
		}},
		{"CreateRevokedGrouped", func(t *testing.T, st *pgstore.Store, _, _ *sessiond.Session) []sessiond.SessionID {
			// Creates in one group commit: one createSet statement.
			s, live := newSession("carol", t0), newSession("dave", t0)
			s.RevokedAt, s.RevokeReason = at, sessiond.ReasonAdmin
			for i, err := range grouped(t, st, func() error { return st.Create(t.Context(), s) },
				func() error { return st.Create(t.Context(), live) }) {
				if err != nil {
					t.Fatalf("Create %d in a group = %v", i, err)
				}
			}
			if got := pgstore.GroupedWrites(st); got != 2 {
				t.Fatalf("GroupedWrites = %d; want 2 (one group)", got)
			}
			return []sessiond.SessionID{s.ID}
		}},
		{"RevokedAgain", func(t *testing.T, st *pgstore.Store, a, _ *sessiond.Session) []sessiond.SessionID {
			// Revoked, undone by hand, revoked again for another reason:
			// the log's row is the latest revocation's.
			if _, err := st.Revoke(t.Context(), a.ID, at.Add(-time.Second), sessiond.ReasonLogout); err != nil {
				t.Fatal(err)
			}
			if err := exec(t.Context(), testDSN(t), "UPDATE "+pgstore.SchemaOf(st)+".sessions SET revoked_at = NULL, revoke_reason = '' WHERE id = $1",
				string(a.ID)); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Revoke(t.Context(), a.ID, at, sessiond.ReasonAdmin); err != nil {
				t.Fatal(err)
			}
			return []sessiond.SessionID{a.ID}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, schema := newStore(t, pgstore.Options{})
			a, b := newSession("alice", t0), newSession("alice", t0.Add(time.Minute))
			for _, s := range []*sessiond.Session{a, b, newSession("bob", t0)} {
				if err := st.Create(t.Context(), s); err != nil {
					t.Fatal(err)
				}
			}
			// An incident before since: Revocations still reads the log.
			if _, _, err := st.RevokeMatching(t.Context(), sessiond.RevokeFilter{Subjects: []string{"bob"}}, at.Add(-time.Minute), sessiond.ReasonIncident); err != nil {
				t.Fatal(err)
			}
			want := tc.revoke(t, st, a, b)
			revs, err := st.Revocations(t.Context(), at)
			var got []sessiond.SessionID
			for _, r := range revs {
				got = append(got, r.SessionID)
			}
			slices.Sort(got)
			slices.Sort(want)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("Revocations(%v) after %s = %v, %v; want %v", at, tc.name, got, err, want)
			}
			if bad := logCopyMismatches(t, schema); len(bad) > 0 {
				t.Errorf("after %s, revocation_log rows not copies of their sessions: %v", tc.name, bad)
			}
		})
	}
}

// logCopyMismatches returns the sessions whose revocation_log row does not
// hold the session's revocation, subject, expiry, reason and creation
// (migration 0011), or is missing while the session is revoked (outside
// a bulk revocation's instant, whose sessions are not logged).
func logCopyMismatches(t *testing.T, schema string) []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT s.id FROM `+schema+`.sessions s LEFT JOIN `+schema+`.revocation_log l ON l.session_id = s.id
		LEFT JOIN `+schema+`.bulk_revocations b ON b.at = s.revoked_at
		WHERE s.revoked_at IS NOT NULL AND CASE WHEN l.session_id IS NULL THEN b.at IS NULL -- a bulk revocation's is not logged
			ELSE (l.revoked_at, l.subject, l.expires_at, l.revoke_reason, l.created_at)
				IS DISTINCT FROM (s.revoked_at, s.subject, s.expires_at, s.revoke_reason, s.created_at) END
		ORDER BY s.id`)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return bad
}
