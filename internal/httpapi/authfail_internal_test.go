package httpapi

import (
	"fmt"
	"testing"
	"time"
)

// TestAuthFailures_FullMapScannedRarely: when the addresses remembered
// between reports fill the map and only a few have gone quiet, making room
// forgets them all rather than leaving the map nearly full, so the next new
// address does not scan it again; the failures still waiting to be
// reported move to the shared count, none lost.
func TestAuthFailures_FullMapScannedRarely(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	a := &authFailures{interval: time.Minute, byIP: map[string]*authTrack{}}
	for i := range maxAuthTracked {
		at := t0.Add(30 * time.Second)
		if i < 10 {
			at = t0 // these ten go quiet first
		}
		a.byIP[fmt.Sprintf("2001:db8::%x", i)] = &authTrack{reported: at, pending: 2}
	}
	count, unreported, _ := a.note(t0.Add(time.Minute+time.Second), "2001:db8:1::1")
	if n := len(a.byIP); n > maxAuthTracked*3/4 {
		t.Errorf("after making room the map holds %d addresses; want at most %d, so the next new address does not scan it again", n, maxAuthTracked*3/4)
	}
	pending := 0
	for _, t := range a.byIP {
		pending += t.pending
	}
	// The new address's failure is reported, with the shared count.
	if got, want := count+unreported+a.unreported+pending, 2*maxAuthTracked+1; got != want {
		t.Errorf("reported %d + %d, unreported %d, pending %d: %d failures; want %d (none lost)", count, unreported, a.unreported, pending, got, want)
	}
}
