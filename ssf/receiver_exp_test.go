package ssf_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/ssf"
)

// TestPushExpNbf: SSF 1.0 (§4, the "exp" Claim) says a SET carries no exp,
// but a JWT whose exp has passed, or whose nbf has not come, "MUST NOT be
// accepted for processing" (RFC 7519 §4.1.4, §4.1.5): a transmitter that
// sets one is obeyed, within the minute of clock skew allowed for iat. An
// exp still ahead, or an nbf passed, changes nothing.
func TestPushExpNbf(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	tests := []struct {
		name        string
		claim       string
		value       any
		code        int
		err, reason string
	}{
		{"exp passed", "exp", f.now.Add(-10 * time.Minute).Unix(), http.StatusBadRequest, ssf.CodeInvalidRequest, "exp has passed"},
		{"exp passed beyond the skew", "exp", f.now.Add(-2 * time.Minute).Unix(), http.StatusBadRequest, ssf.CodeInvalidRequest, "exp has passed"},
		{"exp within the skew", "exp", f.now.Add(-20 * time.Second).Unix(), http.StatusAccepted, "", ""},
		{"exp ahead", "exp", f.now.Add(time.Hour).Unix(), http.StatusAccepted, "", ""},
		{"nbf ahead", "nbf", f.now.Add(10 * time.Minute).Unix(), http.StatusBadRequest, ssf.CodeInvalidRequest, "nbf is in the future"},
		{"nbf within the skew", "nbf", f.now.Add(20 * time.Second).Unix(), http.StatusAccepted, "", ""},
		{"nbf passed", "nbf", f.now.Add(-time.Minute).Unix(), http.StatusAccepted, "", ""},
		{"exp a string", "exp", "soon", http.StatusBadRequest, ssf.CodeInvalidRequest, "claim exp is not of its type"},
		{"nbf a fraction", "nbf", float64(f.now.Unix()) + 0.5, http.StatusBadRequest, ssf.CodeInvalidRequest, "claim nbf is not of its type"},
		// At the top of int64, past the year 292 billion time.Time can
		// hold, time.Unix wraps to the far past: such an nbf or iat read
		// as passed, such an exp as expired.
		{"nbf the largest int64", "nbf", int64(math.MaxInt64), http.StatusBadRequest, ssf.CodeInvalidRequest, "nbf is in the future"},
		{"nbf past the years a time holds", "nbf", int64(math.MaxInt64 - 62135596800 + 1), http.StatusBadRequest, ssf.CodeInvalidRequest, "nbf is in the future"},
		{"nbf the year 9999", "nbf", int64(253402300799), http.StatusBadRequest, ssf.CodeInvalidRequest, "nbf is in the future"},
		{"nbf the smallest int64", "nbf", int64(math.MinInt64), http.StatusAccepted, "", ""},
		{"exp the largest int64", "exp", int64(math.MaxInt64), http.StatusAccepted, "", ""},
		{"exp the smallest int64", "exp", int64(math.MinInt64), http.StatusBadRequest, ssf.CodeInvalidRequest, "exp has passed"},
		{"exp above int64", "exp", json.Number("9223372036854775808"), http.StatusBadRequest, ssf.CodeInvalidRequest, "claim exp is not of its type"},
		{"exp in exponent form", "exp", json.Number("1e300"), http.StatusBadRequest, ssf.CodeInvalidRequest, "claim exp is not of its type"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			subject := "user:u" + string(rune('a'+i)) + "@example.com"
			s, err := f.mgr.Create(ctx, subject, sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c := claims("expnbf-"+tc.name, f.now, ssf.RISCAccountDisabled,
				map[string]any{"subject": emailSubject(strings.TrimPrefix(subject, "user:"))})
			c[tc.claim] = tc.value
			code, e, desc := f.pushDescribed(t, sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", c))
			if code != tc.code || e != tc.err || desc != tc.reason {
				t.Errorf("push = %d %q %q; want %d %q %q", code, e, desc, tc.code, tc.err, tc.reason)
			}
			_, err = f.mgr.Get(ctx, s.Session.ID)
			if ended := err != nil; ended != (tc.code == http.StatusAccepted) {
				t.Errorf("session ended = %v (%v); want %v", ended, err, tc.code == http.StatusAccepted)
			}
		})
	}
}
