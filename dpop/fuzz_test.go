package dpop_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sessiond/sessiond/dpop"
)

// FuzzVerify: no input panics, and anything refused is refused with one of
// the two documented sentinels.
func FuzzVerify(f *testing.F) {
	for _, s := range []string{"", "a.b.c", "e30.e30.e30", "eyJhbGciOiJub25lIiwidHlwIjoiZHBvcCtqd3QifQ.e30.",
		"eyJhbGciOiJFUzI1NiIsInR5cCI6ImRwb3Arand0IiwiandrIjp7Imt0eSI6IkVDIn19.e30.AAAA"} {
		f.Add(s, "GET", "https://api.example.com/x")
	}
	v, err := dpop.New(dpop.Options{Clock: &fakeClock{t: t0}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, proof, htm, htu string) {
		_, err := v.Verify(context.Background(), proof, dpop.Request{Method: htm, URL: htu, AccessToken: "tok"})
		if err != nil && !errors.Is(err, dpop.ErrInvalidProof) && !errors.Is(err, dpop.ErrUseNonce) {
			t.Fatalf("undocumented error %v", err)
		}
	})
}
