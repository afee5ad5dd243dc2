// Package stream is the wire format of sessiond's revocation stream, shared
// by the server (internal/httpapi) and the verifiers: the routes, the event
// names and their JSON data, the cursor syntax, and a bounded decoder of
// Server-Sent Events that refuses what it cannot read instead of guessing.
package stream

import (
	"encoding/base32"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Routes of the revocation stream and its snapshot.
const (
	StreamPath   = "/v1/revocations/stream"
	SnapshotPath = "/v1/revocations/snapshot"
)

// MaxLeeway is the largest clock-skew allowance a verifier may take (the
// Go verifier's Options.Leeway, the Node verifier's leewaySeconds): it
// accepts a token that long past its expiry, so the server goes on
// sending a revocation that long past its until (an until is reckoned
// with the server's own leeway), and the verifier keeps it that long.
const MaxLeeway = time.Minute

// Event names (the SSE `event:` field).
const (
	EventRevoked    = "revoked"
	EventWatermark  = "watermark"
	EventKeyRetired = "key_retired"
	// EventReset: the cursor is older than what the server keeps. The
	// client loads the snapshot and reconnects with the snapshot's cursor;
	// the server closes the stream after it.
	EventReset = "reset"
)

// Revoked is the data of a `revoked` event and one entry of a snapshot.
type Revoked struct {
	SessionID string    `json:"session_id"`
	Subject   string    `json:"subject"`
	RevokedAt time.Time `json:"revoked_at"`
	Reason    string    `json:"reason"`
	// Until is when the entry may be dropped: no access token of the
	// session is valid after it.
	Until time.Time `json:"until"`
}

// Watermark is the data of a `watermark` event: every session of Subject
// (or of everyone, with All) created at or before IssuedBefore is revoked.
// Exactly one of Subject and All is set.
type Watermark struct {
	Subject      string    `json:"subject,omitempty"`
	All          bool      `json:"all,omitempty"`
	IssuedBefore time.Time `json:"issued_before"`
}

// KeyRetired is the data of a `key_retired` event: tokens signed with Kid
// no longer verify.
type KeyRetired struct {
	Kid string `json:"kid"`
}

// Reset is the data of a `reset` event.
type Reset struct {
	Reason string `json:"reason"`
}

// Snapshot is the body of GET /v1/revocations/snapshot: every revocation
// whose tokens may still be alive, the current watermarks, and the cursor
// to resume the stream from (as Last-Event-ID). Events after the cursor
// may repeat entries of the snapshot; applying one twice is harmless.
type Snapshot struct {
	Revocations []Revoked   `json:"revocations"`
	Watermarks  []Watermark `json:"watermarks"`
	Cursor      string      `json:"cursor"`
}

// Validate reports whether r can be applied: a session ID and an Until.
func (r Revoked) Validate() error {
	switch {
	case r.SessionID == "" || len(r.SessionID) > 128:
		return errors.New("revoked: session_id is missing or too long")
	case r.Until.IsZero():
		return errors.New("revoked: until is missing")
	}
	return nil
}

// Validate reports whether w can be applied.
func (w Watermark) Validate() error {
	switch {
	case w.All == (w.Subject != ""):
		return errors.New("watermark: want exactly one of subject and all")
	case w.IssuedBefore.IsZero():
		return errors.New("watermark: issued_before is missing")
	}
	return nil
}

// Validate reports whether k can be applied.
func (k KeyRetired) Validate() error {
	if k.Kid == "" || len(k.Kid) > 256 {
		return errors.New("key_retired: kid is missing or too long")
	}
	return nil
}

// Cursors are event IDs of the security event log ("evt_" and 26
// characters of base32hex encoding the event's time in unix µs and 64
// random bits), optionally followed by "." and a decimal index when one log
// entry becomes several stream events. They sort by time.
var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

const idLen = 4 + 26

// CursorAt returns the cursor that sorts before every event at or after t.
func CursorAt(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMicro()))
	return "evt_" + strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// SubID is the cursor of the i-th (from 1) stream event made from the log
// event id; the first is id itself.
func SubID(id string, i int) string {
	if i <= 1 {
		return id
	}
	return id + "." + strconv.Itoa(i)
}

// ErrBadCursor: a Last-Event-ID or cursor that is not one of this stream.
var ErrBadCursor = errors.New("not a revocation stream cursor")

// ParseCursor returns the log event ID and the time a cursor encodes.
func ParseCursor(c string) (id string, t time.Time, err error) {
	id = c
	if i := strings.IndexByte(c, '.'); i >= 0 {
		id = c[:i]
		// Digits only: Atoi alone also takes a sign ("+2"), a second
		// spelling of the same cursor that the Node verifier refuses.
		n, err := strconv.Atoi(c[i+1:])
		if err != nil || n < 2 || n > 1_000_000 || c[i+1] < '1' || c[i+1] > '9' {
			return "", time.Time{}, ErrBadCursor
		}
	}
	if len(id) != idLen || !strings.HasPrefix(id, "evt_") {
		return "", time.Time{}, ErrBadCursor
	}
	for i := 4; i < len(id); i++ {
		if b := id[i]; !(b >= '0' && b <= '9' || b >= 'a' && b <= 'v') {
			return "", time.Time{}, ErrBadCursor
		}
	}
	b, err := idEncoding.DecodeString(strings.ToUpper(id[4:]))
	// The 26 characters carry 130 bits: the 2 past the 16 bytes must be
	// zero, as every event ID has them, or each cursor would have four
	// spellings (the decoder ignores them). The Node verifier's isCursor
	// refuses the same.
	if err != nil || len(b) != 16 || strings.ToLower(idEncoding.EncodeToString(b)) != id[4:] {
		return "", time.Time{}, ErrBadCursor
	}
	us := binary.BigEndian.Uint64(b[:8])
	if us > 1<<62 {
		return "", time.Time{}, ErrBadCursor
	}
	return id, time.UnixMicro(int64(us)).UTC(), nil
}
