package jwttoken_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
)

// kidOf reads the kid from a token's header.
func kidOf(t *testing.T, tok sessiond.Secret) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(string(tok), ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(h, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

// TestKeyRing_Schedule: a scheduled key is published and verifies at once
// but signs only from its activation time; Settle then retires the old
// signer as of that time, and the schedule survives MarshalPrivate.
func TestKeyRing_Schedule(t *testing.T) {
	eachAlg(t, func(t *testing.T, alg jwttoken.Algorithm, ring *jwttoken.KeyRing, c *jwttoken.Codec) {
		old := currentKid(t, ring)
		activate := at(10 * time.Minute)
		kid, changed, err := ring.Schedule(t0, activate)
		if err != nil || !changed || kid == "" || kid == old {
			t.Fatalf("Schedule = %q, %v, %v; want a new kid", kid, changed, err)
		}
		if again, changed, err := ring.Schedule(t0, at(time.Hour)); err != nil || changed || again != kid {
			t.Errorf("second Schedule = %q, %v, %v; want the pending %q unchanged", again, changed, err, kid)
		}
		keys := ring.Keys()
		if keys[0].ID != kid || keys[0].Current || !keys[0].ActivatesAt.Equal(activate) || !keys[1].Current {
			t.Fatalf("Keys = %+v; want the next key first with its activation, then the signer", keys)
		}
		if alg != jwttoken.HS256 {
			if _, ok := publicKeys(t, ring)[kid]; !ok {
				t.Error("the next key is not in the JWKS before it signs")
			}
		}
		before := sign(t, c, sessiond.KindAccess, tokenClaims(at(time.Minute)))
		if got := kidOf(t, before); got != old {
			t.Errorf("token issued before activation signed by %s; want the current %s", got, old)
		}
		tc := tokenClaims(activate.Add(time.Minute))
		tc.IssuedAt = activate
		after := sign(t, c, sessiond.KindAccess, tc)
		if got := kidOf(t, after); got != kid {
			t.Errorf("token issued at activation signed by %s; want the next %s", got, kid)
		}
		if _, err := c.Verify(sessiond.KindAccess, after, activate.Add(time.Minute)); err != nil {
			t.Errorf("Verify(next key's token) = %v", err)
		}

		doc, err := ring.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := jwttoken.LoadRing(doc, jwttoken.RingOptions{Algorithm: alg, MaxTokenLifetime: maxLifetime})
		if err != nil {
			t.Fatalf("LoadRing(scheduled ring) = %v", err)
		}
		if got := loaded.Keys(); got[0].ID != kid || !got[0].ActivatesAt.Equal(activate) {
			t.Errorf("loaded Keys = %+v; want the schedule kept", got)
		}

		if ring.Settle(activate.Add(-time.Second)) {
			t.Error("Settle before activation changed the ring")
		}
		if !ring.Settle(activate.Add(time.Hour)) {
			t.Fatal("Settle after activation changed nothing")
		}
		keys = ring.Keys()
		if keys[0].ID != kid || !keys[0].Current || keys[1].ID != old || !keys[1].RetiredAt.Equal(activate) {
			t.Errorf("after Settle Keys = %+v; want %s current, %s retired at activation", keys, kid, old)
		}
		if _, err := c.Verify(sessiond.KindAccess, before, at(2*time.Minute)); err != nil {
			t.Errorf("old signer's token after Settle: %v", err)
		}
	})
}

// TestKeyRing_ScheduleThenRotate: Rotate promotes a scheduled key instead
// of making another; RetireAll drops it.
func TestKeyRing_ScheduleThenRotate(t *testing.T) {
	ring := newRing(t, jwttoken.EdDSA)
	kid, _, err := ring.Schedule(t0, at(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := ring.Rotate(t0); err != nil {
		t.Fatal(err)
	}
	if got := currentKid(t, ring); got != kid {
		t.Errorf("after Rotate the signer is %s; want the scheduled %s", got, kid)
	}
	if _, _, err := ring.Schedule(t0, at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := ring.RetireAll(t0); err != nil {
		t.Fatal(err)
	}
	if n := len(ring.Keys()); n != 1 {
		t.Errorf("after RetireAll %d keys; want only the new signer", n)
	}
	if _, _, err := ring.Schedule(t0, at(-time.Second)); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("Schedule in the past = %v; want ErrInvalidArgument", err)
	}
}

// TestLoadRing_RejectsBadSchedules: two next keys, or an activation on a
// retired key, are refused.
func TestLoadRing_RejectsBadSchedules(t *testing.T) {
	ring := newRing(t, jwttoken.EdDSA)
	if _, _, err := ring.Schedule(t0, at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := ring.Rotate(t0); err != nil { // one retired key now
		t.Fatal(err)
	}
	if _, _, err := ring.Schedule(t0, at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	doc, err := ring.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	keys := raw["keys"].([]any)
	for name, mutate := range map[string]func(ks []any){
		"two next keys": func(ks []any) {
			for _, k := range ks {
				if _, ok := k.(map[string]any)["retired_at"]; ok {
					m := k.(map[string]any)
					delete(m, "retired_at")
					m["activates_at"] = at(2 * time.Hour).Format(time.RFC3339)
				}
			}
		},
		"activation on a retired key": func(ks []any) {
			for _, k := range ks {
				if _, ok := k.(map[string]any)["retired_at"]; ok {
					k.(map[string]any)["activates_at"] = at(2 * time.Hour).Format(time.RFC3339)
				}
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			var copied []any
			b, _ := json.Marshal(keys)
			_ = json.Unmarshal(b, &copied)
			mutate(copied)
			raw["keys"] = copied
			bad, _ := json.Marshal(raw)
			if _, err := jwttoken.LoadRing(bad, jwttoken.RingOptions{MaxTokenLifetime: maxLifetime}); !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("LoadRing = %v; want ErrInvalidArgument", err)
			}
		})
	}
}

// TestKeyRing_OnUnknownKID: Verify calls the hook for a kid the ring lacks,
// and accepts the token if the hook brought the key in; without the hook,
// or if it finds nothing, the token is rejected as before.
func TestKeyRing_OnUnknownKID(t *testing.T) {
	signerRing := newRing(t, jwttoken.EdDSA)
	doc, err := signerRing.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	verifierRing, err := jwttoken.LoadRing(doc, jwttoken.RingOptions{MaxTokenLifetime: maxLifetime})
	if err != nil {
		t.Fatal(err)
	}
	if err := signerRing.Rotate(t0); err != nil {
		t.Fatal(err)
	}
	tok := sign(t, newCodec(t, signerRing, 0), sessiond.KindAccess, tokenClaims(t0))
	verifier := newCodec(t, verifierRing, 0)
	if _, err := verifier.Verify(sessiond.KindAccess, tok, t0); !errors.Is(err, jwttoken.ReasonUnknownKid) {
		t.Fatalf("without a hook Verify = %v; want the unknown-kid reason", err)
	}
	var calls atomic.Int32
	verifierRing.OnUnknownKID(func(kid string) { calls.Add(1) }) // finds nothing
	if _, err := verifier.Verify(sessiond.KindAccess, tok, t0); !errors.Is(err, jwttoken.ReasonUnknownKid) || calls.Load() != 1 {
		t.Fatalf("hook that finds nothing: Verify = %v after %d calls; want unknown kid after 1", err, calls.Load())
	}
	verifierRing.OnUnknownKID(func(kid string) {
		calls.Add(1)
		latest, err := signerRing.MarshalPrivate()
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := verifierRing.Replace(latest); err != nil {
			t.Error(err)
		}
	})
	if _, err := verifier.Verify(sessiond.KindAccess, tok, t0); err != nil {
		t.Fatalf("hook that reloads: Verify = %v", err)
	}
	calls.Store(0)
	if _, err := verifier.Verify(sessiond.KindAccess, tok, t0); err != nil || calls.Load() != 0 {
		t.Errorf("known kid: Verify = %v with %d hook calls; want no call", err, calls.Load())
	}
}
