package redisstore

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestRegularEventID checks the hand-written decoding against
// sessiond.NewEventID and against the spellings it must refuse.
func TestRegularEventID(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 123456000, time.UTC)
	id := sessiond.NewEventID(t0)
	// last is id with its last digit replaced by d.
	last := func(d string) string { return id[:len(id)-1] + d }
	for _, c := range []struct {
		name string
		id   string
		at   time.Time
		want bool
	}{
		{"NewEventID", id, t0, true},
		{"NewEventIDLater", sessiond.NewEventID(t0.Add(time.Hour)), t0.Add(time.Hour), true},
		{"OtherTime", id, t0.Add(time.Microsecond), false},
		{"UpperCase", "evt_" + strings.ToUpper(id[4:]), t0, false},
		// The last digit of a canonical ID is one of 048cgkos (its 2 low
		// bits fall past the 16 bytes); the next one has a bit set there.
		{"TrailingBits", last(string(id[len(id)-1] + 1)), t0, false},
		{"NotADigit", last("w"), t0, false},
		{"Short", id[:len(id)-1], t0, false},
		{"Long", id + "0", t0, false},
		{"NoPrefix", "evx_" + id[4:], t0, false},
		{"NegativeTime", sessiond.NewEventID(time.UnixMicro(-1)), time.UnixMicro(-1), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := regularEventID(c.id, c.at); got != c.want {
				t.Errorf("regularEventID(%q, %v) = %v; want %v", c.id, c.at, got, c.want)
			}
		})
	}
}

// TestRegularEventID_Random checks it against base32hex decoding on IDs of
// random bytes: regular exactly when the first 8 bytes are the time.
func TestRegularEventID_Random(t *testing.T) {
	for i := range 1000 {
		var b [16]byte
		rand.Read(b[:])
		if i%2 == 0 {
			b[0] = 0 // a time that fits in int64
		}
		id := "evt_" + strings.ToLower(eventIDEncoding.EncodeToString(b[:]))
		us := int64(binary.BigEndian.Uint64(b[:8]))
		want := us >= 0
		if got := regularEventID(id, time.UnixMicro(us)); got != want {
			t.Errorf("regularEventID(%q, %d µs) = %v; want %v", id, us, got, want)
		}
		if got := regularEventID(id, time.UnixMicro(us+1)); got {
			t.Errorf("regularEventID(%q, %d µs) = true; want false (another time)", id, us+1)
		}
	}
}
