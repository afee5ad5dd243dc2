package sessiond_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sessiond/sessiond"
)

// TestManager_CheckRefusalIsNoUnknownToken: a caller's check that refuses
// a valid token (a bound token without its proof or bound cookie) may wrap
// ErrInvalidToken, so the error table and the verify metric read a
// refused token; the token is still one of a known session, so it raises
// no session.unknown_id event, as it raises none at refresh. A token no
// session holds still does.
func TestManager_CheckRefusalIsNoUnknownToken(t *testing.T) {
	errNoProof := fmt.Errorf("%w: bound, and no proof", sessiond.ErrInvalidToken)
	for _, st := range strategies {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, nil)
			ctx := context.Background()
			iss := h.create(t, "bound", sessiond.CreateOptions{})
			client := sessiond.Client{IP: "198.51.100.9"}
			_, err := h.m.InspectChecked(ctx, iss.AccessToken, client, func(*sessiond.Session) error { return errNoProof })
			if !errors.Is(err, errNoProof) {
				t.Fatalf("InspectChecked with a refusing check = %v; want the check's error", err)
			}
			if n := h.events.Count(sessiond.EventUnknownToken); n != 0 {
				t.Errorf("%d %s events for a known session's token a check refused; want 0", n, sessiond.EventUnknownToken)
			}
			forged := iss.AccessToken[:len(iss.AccessToken)-2] + "xx"
			if _, err := h.m.InspectChecked(ctx, forged, client, func(*sessiond.Session) error { return nil }); !errors.Is(err, sessiond.ErrInvalidToken) {
				t.Fatalf("InspectChecked(tampered token) = %v; want ErrInvalidToken", err)
			}
			if n := h.events.Count(sessiond.EventUnknownToken); n != 1 {
				t.Errorf("%d %s events for a tampered token; want 1", n, sessiond.EventUnknownToken)
			}
		})
	}
}
