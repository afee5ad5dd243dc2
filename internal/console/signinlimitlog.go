package console

import (
	"sync"
	"time"
)

// Bounds on the "console: sign-in rate limited" WARN line: a client that
// keeps posting past the limit would otherwise write a line per request
// and bury the lines an operator must act on. One line per address a
// minute, and at most signInWarnMax a minute over all addresses; the rest
// are logged at debug and counted into the address's next line.
const (
	signInWarnWindow = time.Minute
	signInWarnMax    = 60
)

// foldedWarn decides which of repeated WARN lines to write. It is safe for
// concurrent use.
type foldedWarn struct {
	mu    sync.Mutex
	start time.Time // the current window's
	lines int       // lines written in the current window
	keys  map[string]*foldedKey
}

type foldedKey struct {
	last   time.Time // when its last line was written
	folded int       // refusals not written since
}

// warn reports whether a line for key at now is written, and how many
// were folded since the key's last line.
func (f *foldedWarn) warn(key string, now time.Time) (bool, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.keys == nil || now.Sub(f.start) >= signInWarnWindow || now.Before(f.start) {
		f.start, f.lines = now, 0
		for k, s := range f.keys {
			// A key quiet for two windows is forgotten with what it
			// folded: the map holds at most the keys of two windows.
			if now.Sub(s.last) >= 2*signInWarnWindow || now.Before(s.last) {
				delete(f.keys, k)
			}
		}
		if f.keys == nil {
			f.keys = make(map[string]*foldedKey)
		}
	}
	s := f.keys[key]
	if s != nil && now.Sub(s.last) < signInWarnWindow && !now.Before(s.last) {
		s.folded++
		return false, 0
	}
	if f.lines >= signInWarnMax {
		if s != nil {
			s.folded++
		}
		return false, 0
	}
	f.lines++
	n := 0
	if s != nil {
		n = s.folded
	}
	f.keys[key] = &foldedKey{last: now}
	return true, n
}
