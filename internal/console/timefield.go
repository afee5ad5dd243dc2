package console

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// timeLayout is how the console writes a time an operator types (the
// events page's since, the kill switch's issued before), and how it is
// typed: UTC on a 24-hour clock, to the minute, in a text field. A
// datetime-local field labelled UTC showed the browser locale's clock
// (03:00 PM) and sent the time without its zone.
const timeLayout = "2006-01-02T15:04Z"

// parseTime reads the time field name: timeLayout, the same without the
// Z (what the datetime-local fields sent, in older links), RFC 3339, or a
// time as the console's tables show it (2026-12-06 15:04:05Z, copied). It
// refuses a time before 1970 (the log and the sessions hold none) or more
// than a minute ahead of now (other nodes' clocks may run that far ahead):
// a local time typed for UTC east of Greenwich would list no events, or
// end every session.
func parseTime(name, s string, now time.Time) (time.Time, error) {
	var t time.Time
	var err error
	for _, layout := range []string{timeLayout, "2006-01-02T15:04", time.RFC3339, shownLayout, "2006-01-02 15:04Z"} {
		if t, err = time.ParseInLocation(layout, s, time.UTC); err == nil {
			break
		}
		if pe := (*time.ParseError)(nil); errors.As(err, &pe) && strings.HasSuffix(pe.Message, "out of range") {
			// The form is right, a field is not (2026-13-01): say which.
			return t, fmt.Errorf("%s is no date and time (%s); write it as 2026-12-06T15:04Z, in UTC on a 24-hour clock",
				name, strings.TrimPrefix(pe.Message, ": "))
		}
	}
	// In UTC: 1970-01-01T00:30+01:00 is before 1970.
	t = t.UTC()
	switch {
	case err != nil:
		return t, fmt.Errorf("%s is no date and time; write it as 2026-12-06T15:04Z, in UTC on a 24-hour clock", name)
	case t.Year() < 1970:
		return t, fmt.Errorf("%s is before 1970", name)
	case t.After(now.Add(time.Minute)):
		return t, fmt.Errorf("%s is ahead of now, %s (times are in UTC)", name, now.UTC().Format(timeLayout))
	}
	return t, nil
}

// showTime writes t as the console's time fields show it: timeLayout, or
// RFC 3339 when it has seconds, with their fraction if any (a since typed
// so: shown without it, the field sent back another time).
func showTime(t time.Time) string {
	if t.Truncate(time.Minute).Equal(t) {
		return t.UTC().Format(timeLayout)
	}
	return t.UTC().Format(time.RFC3339Nano)
}
