package sessiondtest

import (
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

func TestFieldDiffs(t *testing.T) {
	s := NewSession("alice", t0)
	same := clone(s)
	same.CreatedAt = s.CreatedAt.In(time.FixedZone("X", 3600)) // the same instant
	if d := fieldDiffs("Get", *same, *s); len(d) != 0 {
		t.Errorf("fieldDiffs(equal sessions) = %q; want none", d)
	}
	emptyClaims := clone(s)
	s.Claims, emptyClaims.Claims = nil, []byte{}
	if d := fieldDiffs("Get", *emptyClaims, *s); len(d) != 0 {
		t.Errorf("fieldDiffs(nil and empty Claims) = %q; want none", d)
	}
	other := clone(s)
	other.Subject, other.ExpiresAt, other.Claims = "bob", s.ExpiresAt.Add(time.Microsecond), []byte(`{}`)
	want := []string{
		"Get.Subject = bob; want alice",
		"Get.ExpiresAt = " + other.ExpiresAt.String() + "; want " + s.ExpiresAt.String(),
		"Get.Claims = {}; want ",
	}
	if d := fieldDiffs("Get", *other, *s); !slices.Equal(d, want) {
		t.Errorf("fieldDiffs = %q; want %q", d, want)
	}
	a, b := NewToken(sessiond.KindRefresh, s.ID, t0), NewToken(sessiond.KindRefresh, s.ID, t0)
	if d := fieldDiffs("Lookup", a, b); len(d) != 1 || d[0] != "Lookup.Hash = "+shown(a.Hash).(string)+"; want "+shown(b.Hash).(string) {
		t.Errorf("fieldDiffs(tokens with other hashes) = %q; want one Hash line", d)
	}
}
