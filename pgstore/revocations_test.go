package pgstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// TestStore_RevocationsLogged checks that Revocations finds what each
// revocation path revoked, when no bulk revocation makes it read the
// whole table: every path must add its sessions to revocation_log.
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, _ := newStore(t, pgstore.Options{})
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
		})
	}
}
