package verifier

import (
	"sync"
	"time"

	"github.com/sessiond/sessiond/verifier/stream"
)

// state is the revocation state the stream keeps current: revoked
// sessions (until their tokens expire), watermarks, retired key IDs.
type state struct {
	mu       sync.RWMutex
	sessions map[string]time.Time // session ID → when the entry may go
	all      time.Time            // global watermark
	subjects map[string]time.Time // subject watermarks
	retired  map[string]time.Time // kid → when retired (local clock)
}

func newState() *state {
	return &state{sessions: map[string]time.Time{}, subjects: map[string]time.Time{}, retired: map[string]time.Time{}}
}

// revoked reports whether a token of session sid, of subject sub, whose
// session was created at authTime, is revoked. Watermarks compare "not
// after": auth_time is in whole seconds, rounded down.
func (s *state) revoked(sid, sub string, authTime time.Time) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.sessions[sid]; ok {
		return true
	}
	if !s.all.IsZero() && !authTime.After(s.all) {
		return true
	}
	t, ok := s.subjects[sub]
	return ok && !authTime.After(t)
}

func (s *state) addRevoked(r stream.Revoked) {
	s.mu.Lock()
	if old, ok := s.sessions[r.SessionID]; !ok || r.Until.After(old) {
		s.sessions[r.SessionID] = r.Until
	}
	s.mu.Unlock()
}

// raise applies a watermark; watermarks never go down.
func (s *state) raise(w stream.Watermark) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.All {
		if w.IssuedBefore.After(s.all) {
			s.all = w.IssuedBefore
		}
		return
	}
	if w.IssuedBefore.After(s.subjects[w.Subject]) {
		s.subjects[w.Subject] = w.IssuedBefore
	}
}

func (s *state) retire(kid string, now time.Time) {
	s.mu.Lock()
	s.retired[kid] = now
	s.mu.Unlock()
}

func (s *state) keyRetired(kid string) bool {
	s.mu.RLock()
	_, ok := s.retired[kid]
	s.mu.RUnlock()
	return ok
}

// load replaces the revoked sessions with a snapshot's and raises the
// watermarks to its own (a watermark never goes down).
func (s *state) load(snap snapshotState) {
	s.mu.Lock()
	s.sessions = snap.sessions
	s.mu.Unlock()
	for _, w := range snap.marks {
		s.raise(w)
	}
}

// prune drops revoked sessions whose tokens have all expired and retired
// kids after a day. Watermarks stay: the verifier does not know how long
// sessions live, and one per subject of an incident is small.
func (s *state) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, until := range s.sessions {
		if until.Before(now) {
			delete(s.sessions, id)
		}
	}
	for kid, at := range s.retired {
		if at.Before(now.Add(-24 * time.Hour)) {
			delete(s.retired, kid)
		}
	}
}

func (s *state) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions)
}
