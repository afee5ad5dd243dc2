package apikey_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/memstore"
)

// recordingMeta is a memstore whose recorded writes of the key set can
// lose their compare-and-swap (conflicts: another node wrote first) or
// land and still fail (landThenFail: the answer lost, its outcome
// unknown to the caller), or fail without landing (failNext).
type recordingMeta struct {
	*memstore.Store
	mu sync.Mutex
	faults
}

type faults struct {
	conflicts    int
	landThenFail bool
	failNext     bool
}

func (m *recordingMeta) PutMetaRecorded(ctx context.Context, name string, value []byte, version int64, rec sessiond.ChangeRecords) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case name != apikey.DocName:
	case m.conflicts > 0:
		m.conflicts--
		return 0, fmt.Errorf("recordingMeta: version moved: %w", sessiond.ErrConflict)
	case m.failNext:
		m.failNext = false
		return 0, fmt.Errorf("recordingMeta: %w", sessiond.ErrStoreUnavailable)
	case m.landThenFail:
		m.landThenFail = false
		if _, err := m.Store.PutMetaRecorded(ctx, name, value, version, rec); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("recordingMeta: answer lost: %w", sessiond.ErrStoreUnavailable)
	}
	return m.Store.PutMetaRecorded(ctx, name, value, version, rec)
}

// countingRecorder prepares an event per change, its action and key in
// its details, and keeps those it is told are committed.
type countingRecorder struct {
	mu        sync.Mutex
	committed []string // action/key ID
}

func (r *countingRecorder) Prepare(_ context.Context, c apikey.Change) (sessiond.Event, sessiond.ChangeRecords, bool) {
	at := time.Now().UTC().Truncate(time.Microsecond)
	e := sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventAPIKeyCreated,
		Details: map[string]any{"action": c.Action, "key_id": c.Key.ID}}
	return e, sessiond.ChangeRecords{Events: []sessiond.Event{e}}, true
}

func (r *countingRecorder) Committed(_ context.Context, e sessiond.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.committed = append(r.committed, fmt.Sprint(e.Details["action"], "/", e.Details["key_id"]))
}

// storedChanges is every change the store's event log holds, as
// action/key ID, sorted.
func storedChanges(t *testing.T, st *memstore.Store) []string {
	t.Helper()
	events, _, err := st.QueryEvents(context.Background(), sessiond.EventQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range events {
		out = append(out, fmt.Sprint(e.Details["action"], "/", e.Details["key_id"]))
	}
	slices.Sort(out)
	return out
}

// TestKeys_RecordedExactlyOnce: a change written with its events stores
// each event once and tells the recorder once (its metrics), whatever
// happened to the writes before it: compare-and-swaps lost (each try
// prepares its own events, which must go nowhere), a create whose write
// landed but whose answer was lost (its event is stored with it; the
// revocation of the key nobody received must not record its creation
// again), or one that did not land (the revocation records both).
func TestKeys_RecordedExactlyOnce(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		meta faults
		run  func(t *testing.T, k *apikey.Keys, r apikey.Recorder, id string) (key string)
		want []string // stored and committed, with K for the key's ID
	}{
		{"CreateAfterConflicts", faults{conflicts: 2},
			func(t *testing.T, k *apikey.Keys, r apikey.Recorder, _ string) string {
				_, key, recorded, err := k.CreateRecorded(ctx, r, "new")
				if err != nil || !recorded {
					t.Fatalf("CreateRecorded = %v, recorded %v; want nil, true", err, recorded)
				}
				return key.ID
			}, []string{"created/K"}},
		{"SetScopesAfterConflicts", faults{conflicts: 2},
			func(t *testing.T, k *apikey.Keys, r apikey.Recorder, id string) string {
				if _, recorded, err := k.SetScopesRecorded(ctx, r, id, []apikey.Scope{apikey.ScopeVerify}); err != nil || !recorded {
					t.Fatalf("SetScopesRecorded = %v, recorded %v; want nil, true", err, recorded)
				}
				return id
			}, []string{"scopes_changed/K"}},
		{"RevokeAfterConflicts", faults{conflicts: 2},
			func(t *testing.T, k *apikey.Keys, r apikey.Recorder, id string) string {
				for i := range 2 { // the second finds it revoked: no event
					found, changed, recorded, err := k.RevokeOrFenceRecorded(ctx, r, id)
					if err != nil || !found || changed != (i == 0) || recorded != (i == 0) {
						t.Fatalf("RevokeOrFenceRecorded #%d = %v, %v, %v, %v; want found, changed and recorded the first time", i+1, found, changed, recorded, err)
					}
				}
				return id
			}, []string{"revoked/K"}},
		{"CreateLandedAnswerLost", faults{landThenFail: true},
			func(t *testing.T, k *apikey.Keys, r apikey.Recorder, _ string) string {
				_, key, _, err := k.CreateRecorded(ctx, r, "lost")
				if err == nil || key.ID == "" {
					t.Fatalf("CreateRecorded = %s, %v; want the key and its unknown outcome", key.ID, err)
				}
				stored, changed, recorded, err := k.RevokeUnreceivedRecorded(ctx, r, key)
				if err != nil || !stored || !changed || !recorded {
					t.Fatalf("RevokeUnreceivedRecorded = %v, %v, %v, %v; want stored, changed, recorded", stored, changed, recorded, err)
				}
				return key.ID
			}, []string{"created/K", "not_received/K"}},
		{"CreateNotLanded", faults{failNext: true},
			func(t *testing.T, k *apikey.Keys, r apikey.Recorder, _ string) string {
				_, key, _, err := k.CreateRecorded(ctx, r, "lost")
				if err == nil || key.ID == "" {
					t.Fatalf("CreateRecorded = %s, %v; want the key and its unknown outcome", key.ID, err)
				}
				stored, changed, recorded, err := k.RevokeUnreceivedRecorded(ctx, r, key)
				if err != nil || stored || !changed || !recorded {
					t.Fatalf("RevokeUnreceivedRecorded = %v, %v, %v, %v; want not stored, changed, recorded", stored, changed, recorded, err)
				}
				return key.ID
			}, []string{"created/K", "not_received/K"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := memstore.New()
			defer st.Close()
			// A key to change, made before any failure is armed.
			_, existing, err := apikey.New(st, nil, 0).Create(ctx, "existing")
			if err != nil {
				t.Fatal(err)
			}
			meta := &recordingMeta{Store: st, faults: tc.meta}
			k := apikey.New(meta, nil, 0)
			defer k.Close()
			r := &countingRecorder{}
			id := tc.run(t, k, r, existing.ID)
			var want []string
			for _, w := range tc.want {
				want = append(want, w[:len(w)-1]+id)
			}
			slices.Sort(want)
			if got := storedChanges(t, st); !slices.Equal(got, want) {
				t.Errorf("events stored = %v; want %v, each once", got, want)
			}
			slices.Sort(r.committed)
			if !slices.Equal(r.committed, want) {
				t.Errorf("Committed told of %v; want %v, each once", r.committed, want)
			}
		})
	}
}
