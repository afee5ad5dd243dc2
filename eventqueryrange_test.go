package sessiond_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestEventQuery_PageSizeTimeRange: a Since or Until beyond what whole
// microseconds in an int64 hold is refused before a store reads it: the
// stores bound times in microseconds, where it wrapped around (a Since
// in the year 294,247 read as before 1970 and matched every event).
func TestEventQuery_PageSizeTimeRange(t *testing.T) {
	far := time.UnixMicro(math.MaxInt64)
	for _, tc := range []struct {
		name  string
		q     sessiond.EventQuery
		field string // "" when accepted
	}{
		{"since at the last microsecond", sessiond.EventQuery{Since: far}, "since"},
		{"since a nanosecond before it, rounded up to it", sessiond.EventQuery{Since: far.Add(-time.Nanosecond)}, ""},
		{"until past it", sessiond.EventQuery{Until: far.Add(time.Hour)}, "until"},
		{"since before the first microsecond", sessiond.EventQuery{Since: time.UnixMicro(math.MinInt64).Add(-time.Nanosecond)}, "since"},
		{"since at the first microsecond", sessiond.EventQuery{Since: time.UnixMicro(math.MinInt64)}, ""},
		{"ordinary bounds", sessiond.EventQuery{Since: time.Unix(0, 0), Until: time.Now()}, ""},
	} {
		_, err := tc.q.PageSize()
		var ae *sessiond.ArgumentError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: PageSize = %v; want nil", tc.name, err)
		case tc.field != "" && (!errors.As(err, &ae) || ae.Field != tc.field || !errors.Is(err, sessiond.ErrInvalidArgument)):
			t.Errorf("%s: PageSize = %v; want an ArgumentError on %s", tc.name, err, tc.field)
		}
	}
}
