package httpsession_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/memstore"
)

// conflictingReplay is a replay guard that, once fail is set, gives up as
// pgstore does on a lock timeout, a deadlock or a lost serialization
// (ErrConflict: nothing recorded, retry), or as a store that is down.
type conflictingReplay struct {
	*memstore.Store
	err  error // what it fails with: ErrConflict, or ErrStoreUnavailable
	fail atomic.Bool
}

func (r *conflictingReplay) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	if r.fail.Load() {
		return false, fmt.Errorf("pgstore: remember once: %w", r.err)
	}
	return r.Store.RememberOnce(ctx, key, now, until)
}

// TestDBSC_StoreConflictIsNoRefusal: a store that gives up on concurrent
// changes (ErrConflict), or is down, while a challenge is recorded is the server's
// failure: 503 store_unavailable for the browser to retry, as for a store
// that is down, and no device_proof_refused event, which tells of a
// proof refused (a stolen cookie, a forged key), not of a busy database.
func TestDBSC_StoreConflictIsNoRefusal(t *testing.T) {
	tests := []struct {
		name string
		// run sends the request that meets the failing store and returns
		// its response.
		run func(t *testing.T, e *env, replay *conflictingReplay) *http.Response
	}{
		{"registration", func(t *testing.T, e *env, replay *conflictingReplay) *http.Response {
			b, d := e.dbscBrowser(t, "ES256")
			login := b.login("alice")
			replay.fail.Store(true)
			resp, err := d.Register(login)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}},
		{"refresh", func(t *testing.T, e *env, replay *conflictingReplay) *http.Response {
			b, d := e.dbscBrowser(t, "ES256")
			register(t, b, d, "alice")
			_, challenge := refreshChallenge(t, b, d)
			proof, err := d.Proof(challenge, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			replay.fail.Store(true)
			resp, err := d.RefreshRequest(proof)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}},
	}
	for _, tt := range tests {
		for _, fail := range []error{sessiond.ErrConflict, sessiond.ErrStoreUnavailable} {
			t.Run(tt.name+"/"+fail.Error(), func(t *testing.T) {
				replay := &conflictingReplay{Store: memstore.New(), err: fail}
				e := newEnv(t, envOptions{opts: httpsession.Options{DBSC: httpsession.DBSCOptions{Policy: httpsession.DBSCOptional, Replay: replay}}})
				refused := e.events.Count(sessiond.EventDeviceProofRefused)
				resp := tt.run(t, e, replay)
				body := readBody(t, resp)
				if resp.StatusCode != http.StatusServiceUnavailable {
					t.Errorf("%s while the store gives up = %d %s; want 503 store_unavailable", tt.name, resp.StatusCode, body)
				}
				if n := e.events.Count(sessiond.EventDeviceProofRefused) - refused; n != 0 {
					t.Errorf("%d %s events for a store that gave up; want none", n, sessiond.EventDeviceProofRefused)
				}
			})
		}
	}
}
