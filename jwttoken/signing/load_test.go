package signing_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestLoad: Load shows the stored ring and writes nothing, whatever the
// configuration it is given; where Open would create, rewrite or replace
// the ring, Load says so instead.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	kek := newKEK(t)
	hs := func(secret []byte) signing.Options {
		return signing.Options{Algorithm: jwttoken.HS256, HMACSecret: secret, MaxTokenLifetime: 24 * time.Hour}
	}
	eddsa := signing.Options{MaxTokenLifetime: 24 * time.Hour}
	sealed := eddsa
	sealed.KEK = kek
	cases := []struct {
		name  string
		setup []signing.Options // Open with each in turn
		load  signing.Options
		want  error // nil: the ring Open left
	}{
		{"no ring", nil, eddsa, sessiond.ErrNotFound},
		{"ring", []signing.Options{eddsa}, eddsa, nil},
		{"HS256, same secret", []signing.Options{hs(secretA)}, hs(secretA), nil},
		{"HS256, another secret", []signing.Options{hs(secretA)}, hs(secretB), signing.ErrSecretDiffers},
		{"HS256, a replaced secret", []signing.Options{hs(secretA), hs(secretB)}, hs(secretA), signing.ErrSecretSuperseded},
		{"sealed, no KEK", []signing.Options{sealed}, eddsa, signing.ErrKEKRequired},
		{"sealed, its KEK", []signing.Options{sealed}, sealed, nil},
		{"in clear, a KEK given", []signing.Options{eddsa}, sealed, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			meta := memstore.New()
			clock := sessiondtest.NewClock(t0)
			var last *signing.Keys
			for _, o := range tc.setup {
				o.Clock = clock
				k, err := signing.Open(ctx, meta, o)
				if err != nil {
					t.Fatal(err)
				}
				last = k
			}
			before, version, beforeErr := meta.GetMeta(ctx, signing.DocName)

			ring, err := signing.Load(ctx, meta, tc.load)

			after, afterVersion, afterErr := meta.GetMeta(ctx, signing.DocName)
			if !bytes.Equal(before, after) || version != afterVersion || errors.Is(beforeErr, sessiond.ErrNotFound) != errors.Is(afterErr, sessiond.ErrNotFound) {
				t.Errorf("Load wrote the stored ring: version %d to %d, %v to %v", version, afterVersion, beforeErr, afterErr)
			}
			if tc.want != nil {
				if !errors.Is(err, tc.want) || ring != nil {
					t.Fatalf("Load = %v, %v; want %v and no ring", ring, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got, want := ring.Keys(), last.Ring().Keys()
			if len(got) != len(want) || len(got) == 0 || got[0].ID != want[0].ID || !got[0].Current {
				t.Errorf("Load's keys %+v; want Open's %+v", got, want)
			}
		})
	}
}
