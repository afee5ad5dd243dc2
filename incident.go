package sessiond

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"
)

// watermarkDoc is the MetaStore document holding incident watermarks.
const watermarkDoc = "revocation_watermarks"

// watermarks are the incident kill switch's "not before" times: a session
// created before the global time, or before its subject's time, is revoked.
// They make an incident revocation take effect at once for every token
// (stateless JWTs and cached verifications included) at a constant cost per
// verify, however many sessions it ends; the store's per-session revocation
// is the durable record.
//
// They are compared in whole seconds, because a signed token carries its
// session's creation time (auth_time) in whole seconds while the store keeps
// microseconds: both views of one session must get the same answer. A
// session created in a watermark's second or earlier is revoked, so no
// session older than the incident survives it; a login after the incident,
// still in its second, gets the next second as its creation time
// (creationTime), so it is never caught. See docs/lifecycle.md.
type watermarks struct {
	meta  MetaStore     // where nodes share them; nil: this node only
	keep  time.Duration // a subject's watermark is dropped once no live session can be older
	fails storeFailures // the Manager's

	mu       sync.RWMutex
	all      time.Time
	subjects map[string]time.Time
	version  int64
	// sum is the hash of the document version was read or written as: a
	// lost document written again starts over at version 1, which a node
	// must not take for the one it holds.
	sum [sha256.Size]byte
}

type watermarkJSON struct {
	All      time.Time            `json:"all,omitzero"`
	Subjects map[string]time.Time `json:"subjects,omitempty"`
}

// revoked reports whether a session of subject created at created is
// behind a watermark: created in the watermark's second or before.
func (w *watermarks) revoked(subject string, created time.Time) bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	mark := w.markLocked(subject)
	return !mark.IsZero() && !created.Truncate(time.Second).After(mark.Truncate(time.Second))
}

// storeBound is the IssuedBefore to give the store for a revocation of f
// whose watermarks are raised: the end of the second of the lowest
// watermark that now applies to f's scope. The watermark ends every
// session created in its second or earlier, so the store must end the same
// ones; a session created later in that second would otherwise keep a
// live record (listed, counted against its subject's limit) whose tokens
// are refused. The lowest mark of the scope, so that the store never ends
// a session whose tokens still verify.
func (w *watermarks) storeBound(f RevokeFilter) time.Time {
	w.mu.RLock()
	defer w.mu.RUnlock()
	mark := w.all
	for i, s := range f.Subjects {
		if m := w.markLocked(s); i == 0 || m.Before(mark) {
			mark = m
		}
	}
	if mark.IsZero() {
		return mark // pruned at once (an issued_before older than any live session)
	}
	return mark.Truncate(time.Second).Add(time.Second)
}

// mark is the watermark that applies to subject (zero: none).
func (w *watermarks) mark(subject string) time.Time {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.markLocked(subject)
}

// markLocked is the watermark that applies to subject (zero: none).
func (w *watermarks) markLocked(subject string) time.Time {
	mark := w.all
	if t, ok := w.subjects[subject]; ok && t.After(mark) {
		mark = t
	}
	return mark
}

// creationTime is the creation time of a session of subject logging in at
// now: now, unless a watermark that applies to subject is in now's second
// (or later, on a clock behind the node that raised it); then the first
// instant after the watermark's second, so that the session, whose tokens
// say when it was created in whole seconds, is on the live side.
func (w *watermarks) creationTime(subject string, now time.Time) time.Time {
	w.mu.RLock()
	mark := w.markLocked(subject)
	w.mu.RUnlock()
	if mark.IsZero() || now.Truncate(time.Second).After(mark.Truncate(time.Second)) {
		return now
	}
	return mark.Truncate(time.Second).Add(time.Second)
}

func (w *watermarks) set(doc watermarkJSON, version int64, raw []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all, w.subjects, w.version, w.sum = doc.All, doc.Subjects, version, sha256.Sum256(raw)
}

// raiseDoc merges f (applied at now) into doc; it never lowers a watermark.
func raiseDoc(doc *watermarkJSON, f RevokeFilter, now time.Time) {
	t := now
	if !f.IssuedBefore.IsZero() && f.IssuedBefore.Before(now) {
		t = f.IssuedBefore
	}
	if len(f.Subjects) == 0 {
		// Logins after a subject's watermark in t's second were dated to
		// the next second too: the new watermark must reach them.
		old := doc.All
		for _, st := range doc.Subjects {
			if st.After(old) && st.Before(t) && st.Truncate(time.Second).Equal(t.Truncate(time.Second)) {
				old = st
			}
		}
		nt := coverLogins(t, old)
		nt = maxTime(nt, pushedPast(t, doc.All))
		for _, st := range doc.Subjects {
			nt = maxTime(nt, pushedPast(t, st))
		}
		if nt.After(doc.All) {
			doc.All = nt
		}
		return
	}
	if doc.Subjects == nil {
		doc.Subjects = make(map[string]time.Time)
	}
	for _, s := range f.Subjects {
		old := doc.Subjects[s]
		base := maxTime(old, doc.All)
		if nt := maxTime(coverLogins(t, base), pushedPast(t, base)); nt.After(old) {
			doc.Subjects[s] = nt
		}
	}
}

// coverLogins is the watermark t as raised over old, the watermark that
// applied until now. Logins made after old in old's second were dated to the
// next second (creationTime); a new incident later in that same second
// must reach them too, so its watermark moves to that next second.
func coverLogins(t, old time.Time) time.Time {
	sec := t.Truncate(time.Second)
	if !old.IsZero() && t.After(old) && sec.Equal(old.Truncate(time.Second)) {
		return sec.Add(time.Second)
	}
	return t
}

// pushedPast is the watermark an incident with issued_before t needs over
// mark when mark's second is t's or later. An incident in a mark's second
// dates its watermark to the next second, and every login since then was
// dated past that (creationTime): later than t although made before it,
// which coverLogins, looking only at marks in t's second, misses. Such
// logins can only be told from the ones made after t once the clock has
// passed the mark, so all of them are ended: at most the seconds the mark
// ran ahead of t of logins made after t, still before the incident.
// Zero when mark's second is before t's: then nothing was dated past t.
// Zero too when t is mark, one an incident raised at its own time (not
// pushed to a whole second): then no mark was in its second before it, so
// every login dated past it came after t. That is a re-run with the bound
// a failed kill switch names (RevokeMatchingError), which must not end
// the logins of the next second.
func pushedPast(t, mark time.Time) time.Time {
	if mark.IsZero() || t.Truncate(time.Second).After(mark.Truncate(time.Second)) ||
		t.Equal(mark) && !mark.Equal(mark.Truncate(time.Second)) {
		return time.Time{}
	}
	return mark.Truncate(time.Second).Add(time.Second)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// prune drops subject watermarks no live session can be older than.
func (doc *watermarkJSON) prune(oldest time.Time) {
	for s, t := range doc.Subjects {
		if t.Before(oldest) {
			delete(doc.Subjects, s)
		}
	}
}

// sync reads the shared watermarks, if the store keeps them, unless this
// node already has their current version.
func (w *watermarks) sync(ctx context.Context) error {
	_, err := w.syncAt(ctx, time.Time{})
	return err
}

// watermarkLoss says that the store lost the watermarks document this
// node had read or written (a Redis without persistence restarted empty,
// a failover to an empty replica): it is missing (found 0), or another
// document than the one this node had at the same or a later version
// (versions only grow), written since by another node.
type watermarkLoss struct {
	was, found int64
	// restored: this node wrote the watermarks it holds back; false when
	// the document found already held them (another node put them back).
	restored bool
}

// syncAt is sync which, when now is not zero, also puts back a document
// the store lost: this node's watermarks, merged into whatever the store
// holds now by compare-and-swap (restore). Otherwise a node started on the
// empty store would accept every token an incident revoked, and so would
// the revocation stream's verifiers.
func (w *watermarks) syncAt(ctx context.Context, now time.Time) (*watermarkLoss, error) {
	if w.meta == nil {
		return nil, nil
	}
	w.mu.RLock()
	had, hadSum := w.version, w.sum
	w.mu.RUnlock()
	raw, version, err := w.meta.GetMeta(ctx, watermarkDoc)
	missing := errors.Is(err, ErrNotFound)
	if err != nil && !missing {
		return nil, fmt.Errorf("sessiond: load watermarks: %w", w.fails.check("get_meta", err))
	}
	sum := sha256.Sum256(raw)
	if !now.IsZero() && had > 0 && (missing || version < had || version == had && sum != hadSum) {
		return w.restore(ctx, had, version, now)
	}
	if missing {
		return nil, nil
	}
	w.mu.RLock()
	same := version == had && sum == w.sum
	w.mu.RUnlock()
	if same {
		return nil, nil
	}
	return nil, w.merge(raw, version, had, sum)
}

// merge takes the stored document raw (at version) into this node's
// watermarks, and its version unless this node's changed from had since.
func (w *watermarks) merge(raw []byte, version, had int64, sum [sha256.Size]byte) error {
	var doc watermarkJSON
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("sessiond: stored watermarks are corrupt: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	// Merged, never lowered: a raise on this node while the document was
	// read may have installed a newer one, and a document the store lost
	// and an incident wrote again holds only that incident.
	w.all = maxTime(w.all, doc.All)
	merged := maps.Clone(w.subjects)
	if merged == nil {
		merged = make(map[string]time.Time, len(doc.Subjects))
	}
	for s, t := range doc.Subjects {
		if t.After(merged[s]) {
			merged[s] = t
		}
	}
	w.subjects = merged
	if w.version == had {
		w.version, w.sum = version, sum
	}
	return nil
}

// restore writes the watermarks this node holds (those still in force at
// now) back into the document the store lost, merged with what it holds
// now. A node holding none only forgets the version it had.
func (w *watermarks) restore(ctx context.Context, was, found int64, now time.Time) (*watermarkLoss, error) {
	w.mu.RLock()
	held := watermarkJSON{All: w.all, Subjects: maps.Clone(w.subjects)}
	w.mu.RUnlock()
	held.prune(now.Add(-w.keep))
	if held.All.IsZero() && len(held.Subjects) == 0 {
		w.mu.Lock()
		if w.version == was {
			w.version, w.sum = 0, [sha256.Size]byte{}
		}
		w.mu.Unlock()
		return nil, w.sync(ctx)
	}
	for attempt := 0; attempt < 10; attempt++ {
		var doc watermarkJSON
		raw, version, err := w.meta.GetMeta(ctx, watermarkDoc)
		switch {
		case errors.Is(err, ErrNotFound):
			version = 0
		case err != nil:
			return nil, fmt.Errorf("sessiond: load watermarks: %w", w.fails.check("get_meta", err))
		default:
			if err := json.Unmarshal(raw, &doc); err != nil {
				return nil, fmt.Errorf("sessiond: stored watermarks are corrupt: %w", err)
			}
		}
		changed := version == 0
		if held.All.After(doc.All) {
			doc.All, changed = held.All, true
		}
		for s, t := range held.Subjects {
			if t.After(doc.Subjects[s]) {
				if doc.Subjects == nil {
					doc.Subjects = make(map[string]time.Time, len(held.Subjects))
				}
				doc.Subjects[s], changed = t, true
			}
		}
		if !changed {
			// Another node put back all this node holds.
			return &watermarkLoss{was: was, found: found}, w.merge(raw, version, was, sha256.Sum256(raw))
		}
		next, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		nv, err := w.meta.PutMeta(ctx, watermarkDoc, next, version)
		if errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("sessiond: save watermarks: %w", w.fails.check("put_meta", err))
		}
		return &watermarkLoss{was: was, found: found, restored: true}, w.merge(next, nv, was, sha256.Sum256(next))
	}
	// Every try lost to other nodes' writes: the call fails as a store
	// that gave up on a conflict does, and is reported as one.
	return nil, fmt.Errorf("sessiond: save watermarks: %w", w.fails.check("put_meta", errWatermarksChanging))
}

// raise applies f to the shared document (compare-and-swap), then to this
// node; without a MetaStore, to this node only.
func (w *watermarks) raise(ctx context.Context, f RevokeFilter, now time.Time) error {
	if w.meta == nil {
		w.mu.Lock()
		defer w.mu.Unlock()
		doc := watermarkJSON{All: w.all, Subjects: w.subjects}
		raiseDoc(&doc, f, now)
		w.all, w.subjects, w.version = doc.All, doc.Subjects, 0
		return nil
	}
	for attempt := 0; attempt < 10; attempt++ {
		var doc watermarkJSON
		raw, version, err := w.meta.GetMeta(ctx, watermarkDoc)
		switch {
		case errors.Is(err, ErrNotFound):
			// New, or lost by the store: start from what this node holds,
			// so that the document written now lowers nothing.
			version = 0
			w.mu.RLock()
			doc.All, doc.Subjects = w.all, maps.Clone(w.subjects)
			w.mu.RUnlock()
		case err != nil:
			return fmt.Errorf("sessiond: load watermarks: %w", w.fails.check("get_meta", err))
		default:
			if err := json.Unmarshal(raw, &doc); err != nil {
				return fmt.Errorf("sessiond: stored watermarks are corrupt: %w", err)
			}
		}
		raiseDoc(&doc, f, now)
		doc.prune(now.Add(-w.keep))
		next, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		nv, err := w.meta.PutMeta(ctx, watermarkDoc, next, version)
		if errors.Is(err, ErrConflict) {
			continue
		} else if err != nil {
			return fmt.Errorf("sessiond: save watermarks: %w", w.fails.check("put_meta", err))
		}
		w.set(doc, nv, next)
		return nil
	}
	return fmt.Errorf("sessiond: save watermarks: %w", w.fails.check("put_meta", errWatermarksChanging))
}

// errWatermarksChanging: every compare-and-swap of the shared watermarks
// lost to another node's write.
var errWatermarksChanging = fmt.Errorf("watermarks changed on every try: %w", ErrConflict)

// watermarkReloadGap is the least time between two reloads of the
// watermarks: notices arriving meanwhile merge into one reload, so a burst
// of kill switches costs each node a bounded number of reads.
const watermarkReloadGap = 50 * time.Millisecond

// catchUpRetry is how soon a failed catch-up is tried again when no
// watermark poll runs (the poll retries it otherwise).
const catchUpRetry = time.Second

// defaultWatermarkCallTimeout bounds the watermark loop's read of the
// shared watermarks (a catch-up six times longer).
const defaultWatermarkCallTimeout = 10 * time.Second

// watchWatermarks reads the watermarks other nodes raised: at once when the
// store's feed says they changed (reloadWatermarks), and every interval
// (when positive) as the fallback for a lost notice, until ctx ends.
func (m *Manager) watchWatermarks(ctx context.Context, every, callTimeout time.Duration) {
	defer m.wg.Done()
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	gap := time.NewTimer(0)
	defer gap.Stop()
	// Without a poll, a failed catch-up (resyncDue) is retried on a timer
	// of its own, not only when another kick comes.
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		case <-m.kick:
		case <-retry:
		}
		// Each pass is bounded: a store call lost in a black-holed network
		// (a partition, a half-open connection) would otherwise hold the
		// loop until TCP gave up, minutes after the store is back, and
		// with it every kill switch another node raised meanwhile.
		pass, cancel := context.WithTimeout(ctx, callTimeout)
		loss, err := m.marks.syncAt(pass, m.now())
		if err != nil && ctx.Err() == nil {
			m.log.Warn("incident watermark sync", "err", err)
		}
		if loss != nil {
			m.watermarksLost(pass, *loss)
		}
		cancel()
		if m.resyncDue.Load() {
			// The catch-up reads every revocation of the last access
			// lifetime, which can be many: bounded more loosely.
			pass, cancel := context.WithTimeout(ctx, 6*callTimeout)
			m.catchUp(pass)
			cancel()
		}
		retry = nil
		if tick == nil && m.resyncDue.Load() {
			retry = time.After(catchUpRetry)
		}
		gap.Reset(watermarkReloadGap)
		select {
		case <-ctx.Done():
			return
		case <-gap.C:
		}
	}
}

// EventStoreReset is emitted when a node finds a document it shares with
// the others through the store gone, the store having lost its data, and
// puts it back (details: document, was_version, found_version,
// recreated). The server records it for its own documents too.
const EventStoreReset EventType = "store.reset_detected"

// watermarksLost says, once per loss, that the store lost the incident
// watermarks and what this node did about it; the others hear of a
// document written back at once.
func (m *Manager) watermarksLost(ctx context.Context, l watermarkLoss) {
	recreated := "the watermarks this node holds"
	if !l.restored {
		recreated = "nothing: another node put them back"
	} else {
		m.publishWatermarks(ctx)
	}
	m.log.ErrorContext(ctx, "the shared incident watermarks vanished from the store, which lost its data: put back those this node holds, so that tokens an incident revoked stay refused on every node",
		"document", watermarkDoc, "was_version", l.was, "found_version", l.found, "recreated", recreated)
	m.emit(ctx, Event{Type: EventStoreReset, Details: map[string]any{
		"document": watermarkDoc, "was_version": l.was, "found_version": l.found, "recreated": recreated}})
}

// EventRevokedByIncident is emitted once per affected subject when an
// incident revocation asks to notify.
const EventRevokedByIncident EventType = "session.revoked_by_incident"

// RevokeMatching is the incident kill switch: it ends every session f
// selects, refresh tokens included, in every strategy (jwt too: tokens of
// sessions created before the watermark stop verifying). It returns how many
// stored sessions it revoked (always 0 in the jwt strategy, which stores
// none). With notify it emits one EventRevokedByIncident per affected
// subject. Running it twice is harmless. In the database and hybrid
// strategies on a store that is no BulkRevoker it fails with
// ErrUnsupported and changes nothing. When the store fails half way
// (ErrStoreUnavailable), the watermark already refuses every matching
// token; it returns how many sessions the store ended before failing,
// with the error, and records those (events, notifications) now, as a
// re-run, which completes the durable record, does not report them again.
// A failure once it has begun is a *RevokeMatchingError naming the bound
// to re-run with: without IssuedBefore, a re-run is a new incident at its
// own time.
//
// Precision: watermarks are compared in whole seconds, as JWTs carry their
// session's creation time; a session created before the incident is always
// revoked, and a login after it always works, also in the same second (it
// is dated to the next second). With IssuedBefore, sessions created in
// IssuedBefore's second just after it are revoked too. An IssuedBefore
// before 1970 is refused with ErrInvalidArgument.
func (m *Manager) RevokeMatching(ctx context.Context, f RevokeFilter, reason RevokeReason, notify bool) (int, error) {
	if !f.All && len(f.Subjects) == 0 && f.IssuedBefore.IsZero() {
		return 0, argError("scope", "set all, subjects or issued_before")
	}
	// No session is older than the epoch, so such a time is a mistake; one
	// before Go's zero time would reach the store as the zero time, which
	// it reads as no bound at all.
	if !f.IssuedBefore.IsZero() && f.IssuedBefore.Before(time.Unix(0, 0)) {
		return 0, argError("issued_before", "is before 1970-01-01T00:00:00Z, which no session is")
	}
	for i, s := range f.Subjects {
		if err := checkSubject(s); err != nil {
			return 0, argError(fmt.Sprintf("subjects[%d]", i), "%v", err)
		}
	}
	// Refused before anything is raised: a kill switch that reports
	// ErrUnsupported must have done nothing (store.go, BulkRevoker).
	if _, ok := m.store.(BulkRevoker); m.flow.keepsSessions() && !ok {
		return 0, fmt.Errorf("sessiond: the store cannot revoke in bulk: %w", ErrUnsupported)
	}
	now := m.now()
	// A login made while a large revocation runs must not be caught by
	// it: the store only ends sessions created before the incident, as the
	// watermark does (storeBound; a login on this node after the watermark
	// is dated past its second).
	if f.IssuedBefore.IsZero() || f.IssuedBefore.After(now) {
		f.IssuedBefore = now.Add(time.Microsecond)
	}
	// The bound a re-run must give to mean what this call means, for the
	// error: without one, a re-run takes its own time.
	bound := now
	if f.IssuedBefore.Before(now) {
		bound = f.IssuedBefore
	}
	if err := m.marks.raise(ctx, f, now); err != nil {
		// The document may have been written (a reply lost): the re-run
		// should raise the same watermark.
		return 0, &RevokeMatchingError{IssuedBefore: bound, Err: err}
	}
	m.publishWatermarks(ctx)
	m.PurgeVerifyCache()
	var n int
	var subjects []string
	if m.flow.keepsSessions() {
		br := m.store.(BulkRevoker) // checked before the watermarks were raised
		var err error
		sf := f
		if b := m.marks.storeBound(f); b.After(sf.IssuedBefore) {
			sf.IssuedBefore = b
		}
		sf.NoSubjects = !notify // only the per-subject events need them
		n, subjects, err = br.RevokeMatching(ctx, sf, now, reason)
		if err != nil {
			// What the store ended before it failed stays ended, and a
			// re-run does not report it again: record it now.
			err = fmt.Errorf("sessiond: revoke matching: %w", m.storeErr.check("revoke_matching", err))
			if n > 0 {
				m.recordBulk(ctx, f, reason, notify, n, subjects, err)
			}
			return n, &RevokeMatchingError{IssuedBefore: bound, Err: err}
		}
	} else {
		subjects = f.Subjects
	}
	m.recordBulk(ctx, f, reason, notify, n, subjects, nil)
	return n, nil
}

// RevokeMatchingError is the error of a Manager.RevokeMatching that
// failed once it had begun: raising the watermarks (their document may or
// may not have been written) or revoking in the store (what it revoked
// stays revoked). IssuedBefore is the bound it applied, the filter's
// IssuedBefore or else the time it ran: the same call again with that
// IssuedBefore finishes what this one meant and ends no session created
// since, where a re-run without it takes its own time as the bound and
// ends every login made in between. It matches what Err matches.
type RevokeMatchingError struct {
	IssuedBefore time.Time
	Err          error
}

func (e *RevokeMatchingError) Error() string { return e.Err.Error() }
func (e *RevokeMatchingError) Unwrap() error { return e.Err }

// behindRead is how many stored sessions of a subject, beyond its
// session limit, endBehindMarks reads at most to find one behind a
// watermark.
const behindRead = 1024

// endBehindMarks ends the stored sessions of subject that a watermark
// already refuses, and reports how many it ended. The kill switch's store
// pass cannot catch a login another node stored just after it, before that
// node read the watermark: dated in the watermark's second, its tokens are
// refused and it is not listed, but its record stays live and counts
// against the subject's session limit, so under LimitReject every later
// login of that user would be refused until it expired. Create calls this
// when the limit refuses a login, then tries once more.
func (m *Manager) endBehindMarks(ctx context.Context, subject string) int {
	mark := m.marks.mark(subject)
	br, ok := m.store.(BulkRevoker)
	if mark.IsZero() || !ok {
		return 0
	}
	// Only when there is one: an "all" watermark stays, and a store pass
	// costs more than this read (pgstore records every pass it makes).
	// A failure of either call refuses the login as the limit does, and is
	// reported as any store call's. The limit bounds the subject's live
	// sessions, not its revoked ones (each logout leaves one until it
	// expires), nor those stored before the limit was set or lowered: so
	// the read is bounded too, newest first, where such a session is
	// (dated in the watermark's second, older than the logins since).
	behind := false
	if _, err := m.walkSubject(ctx, subject, m.now(), behindRead+m.limit.max, func(s *Session) bool {
		behind = m.marks.revoked(subject, s.CreatedAt)
		return !behind
	}); err != nil || !behind {
		return 0
	}
	f := RevokeFilter{Subjects: []string{subject}, IssuedBefore: mark.Truncate(time.Second).Add(time.Second), NoSubjects: true}
	n, _, err := br.RevokeMatching(ctx, f, m.now(), ReasonIncident)
	if err != nil {
		m.log.WarnContext(ctx, "sessions behind the incident watermark not ended", "subject", subject, "err", m.storeErr.check("revoke_matching", err))
		return 0
	}
	if n > 0 {
		m.recordBulk(ctx, f, ReasonIncident, false, n, nil, nil)
	}
	return n
}

// recordBulk emits session.bulk_revoked for n sessions of an incident (with
// the error of one that stopped half way) and, when notify, one
// session.revoked_by_incident per subject.
func (m *Manager) recordBulk(ctx context.Context, f RevokeFilter, reason RevokeReason, notify bool, n int, subjects []string, failed error) {
	details := map[string]any{"reason": string(reason), "count": n, "all": f.All}
	if len(f.Subjects) > 0 {
		details["subjects"] = len(f.Subjects)
	}
	if !f.IssuedBefore.IsZero() {
		details["issued_before"] = f.IssuedBefore.UTC().Format(time.RFC3339)
	}
	if failed != nil {
		details["error"] = failed.Error()
	}
	m.emit(ctx, Event{Type: EventBulkRevoked, Details: details})
	if notify {
		for _, s := range subjects {
			m.emit(ctx, Event{Type: EventRevokedByIncident, Subject: s, Details: map[string]any{"reason": string(reason)}})
		}
	}
}
