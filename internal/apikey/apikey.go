// Package apikey keeps the API keys backends use to call sessiond serve.
// Keys live hashed (SHA-256) in the store's shared meta document, so every
// node of a cluster accepts the same keys; each node caches the set and
// re-reads it at most once per RefreshEvery. While the store is
// unavailable a node keeps authenticating with the last set it read; when
// the store lost the set (OnReset), the node can seed it again, and when it
// came back as an older copy (a rollback) the node writes back what it
// knows, revocations first.
package apikey

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/opaquetoken"
)

// DocName is the meta document holding the key set.
const DocName = "api_keys"

// MinKeyLen is the shortest key accepted from an operator (SESSIOND_API_KEY).
const MinKeyLen = 32

// MaxKeyLen is the longest key Authenticate accepts: a longer
// SESSIOND_API_KEY could never be used, so it is refused too.
const MaxKeyLen = 512

// ErrUnauthorized: the key is missing, unknown or revoked.
var ErrUnauthorized = errors.New("unauthorized")

// ErrKeyRevoked: an operator-chosen key (SESSIOND_API_KEY) was revoked
// and cannot be added again; the revocation is kept by its hash.
var ErrKeyRevoked = errors.New("the API key was revoked")

// Key is one API key, without its secret.
type Key struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Hash      string    `json:"hash"` // hex SHA-256 of the key
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// Scopes are what the key may do. Keys stored before scopes existed
	// have none recorded and are read as admin, which they were in
	// effect; narrow them with SetScopes.
	Scopes []Scope `json:"scopes,omitempty"`
}

// Allows reports whether the key grants scope: it holds it, or admin.
func (k Key) Allows(scope Scope) bool {
	for _, s := range k.Scopes {
		if s == scope || s == ScopeAdmin {
			return true
		}
	}
	return false
}

type doc struct {
	// Lineage names the set from the write that made it: a set seeded
	// anew after the store lost its data has another, an older copy of
	// the same set (the store rolled back) the same. Absent from a set
	// written by a release before it existed, or by a node of one: the
	// next write adds one. Nodes of that release ignore it (the document
	// is decoded leniently).
	Lineage string `json:"lineage,omitempty"`
	// LineageAdopted marks a lineage made up by a node that wrote over a
	// stored set without one and held none (see lineage): the set existed
	// before it, so a node holding another lineage of a lower version
	// takes it for this set under a new name, not for a set made anew.
	LineageAdopted bool  `json:"lineage_adopted,omitempty"`
	Keys           []Key `json:"keys"`
}

// Keys manages the key set. Safe for concurrent use.
type Keys struct {
	meta         sessiond.MetaStore
	clock        sessiond.Clock
	refreshEvery time.Duration
	reloadWait   time.Duration // BoundReloadWait; 0: the request's whole deadline

	// snap is read on every API request without a lock; reloads swap it
	// under mu, one at a time.
	snap atomic.Pointer[snapshot]
	mu   sync.Mutex

	// onReset re-creates a lost set (OnReset); lost is the loss it has
	// yet to mend, with why its last try failed; healing is held by the
	// one request trying.
	onReset func(ctx context.Context, r Reset) error
	lost    atomic.Pointer[lostSet]
	healing sync.Mutex

	// unsure holds, by key ID, the events a create wrote with a write
	// whose outcome was unknown: RevokeUnreceivedRecorded, finding the
	// key stored, tells the recorder of them (log line, metrics), once.
	unsureMu sync.Mutex
	unsure   map[string][]sessiond.Event

	// detached counts the reloads running apart from their request
	// (BoundReloadWait); closing cancels them and Close waits for them.
	detached sync.WaitGroup
	closing  context.Context
	// detachMu orders a detached reload's start (the closing check and
	// detached.Add) before Shutdown's cancel: without it a reload could
	// pass the check, Shutdown find no reload and return, and the reload
	// start after it. Not k.mu, which a reload holds during its store call.
	detachMu sync.Mutex
	shut     context.CancelFunc
}

type snapshot struct {
	byHash map[sessiond.TokenHash]Key
	// set is the whole set, revoked keys included: what this node writes
	// back if the store rolls back.
	set     doc
	version int64
	sum     [32]byte // SHA-256 of the stored document at version
	loaded  time.Time
}

// Reset describes a stored key set found gone: the document is missing
// where this node had read one, it is another set than the one this node
// read at the same or a later version, or a set of another lineage at any
// version (but for an adopted one at a later version: see lineage).
// Versions only grow, so the store lost its data (a Redis without
// persistence restarted empty, a failover to an empty replica), and perhaps
// another node seeded a new set since and changed it. The keys created
// through the API or the CLI are gone with it; the revocations this node
// knows of are written back first (as the rollback's union, below), so
// that no node seeds a revoked key again.
//
// When the set found is an older copy of the one this node holds (same
// lineage: the store rolled back, as a Redis restarted from its last RDB
// snapshot or a failover to a lagging replica does), RolledBack is set and
// the node first writes back the union of both (see union): a key revoked
// in either stays revoked, and keys made since the copy are kept.
type Reset struct {
	Was        int64 // the version this node last read or wrote
	Found      int64 // the version found; 0 when the document is missing
	RolledBack bool  // the set found is an older copy of this node's
}

type lostSet struct {
	reset Reset
	// held is the set this node held when it found a rollback, or only its
	// revoked keys when it found a loss (nil when it knew of none):
	// written back, joined with the stored one, before OnReset.
	held *doc
	err  error // of the last try to re-create the set; nil before one
}

// New returns a key set on meta. refreshEvery bounds how stale a node's
// view can be (a key revoked on another node stops working within it);
// default 1s.
func New(meta sessiond.MetaStore, clock sessiond.Clock, refreshEvery time.Duration) *Keys {
	if clock == nil {
		clock = sessiond.SystemClock{}
	}
	if refreshEvery <= 0 {
		refreshEvery = time.Second
	}
	k := &Keys{meta: meta, clock: clock, refreshEvery: refreshEvery}
	k.closing, k.shut = context.WithCancel(context.Background())
	return k
}

// Close stops a reload still running apart from the request that started
// it (BoundReloadWait) and waits for it: once Close returns, the key set
// makes no more store calls of its own, so the store may close. Requests
// after Close still authenticate against the set held.
func (k *Keys) Close() { _ = k.Shutdown(context.Background()) }

// Shutdown is Close waiting for the reload still running at most until
// ctx ends: a store call that ignores its context must not hold the
// server's shutdown, whose last step (closing the store) may free it.
// It then returns an error, and the reload ends in the background.
func (k *Keys) Shutdown(ctx context.Context) error {
	k.detachMu.Lock()
	k.shut()
	k.detachMu.Unlock()
	joined := make(chan struct{})
	go func() {
		k.detached.Wait()
		close(joined)
	}()
	select {
	case <-joined:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("apikey: shutdown: a reload of the key set is still in a store call: %w", ctx.Err())
	}
}

// OnReset sets fn to be called when a reload (Authenticate, Active,
// Ready, at most once per refreshEvery) finds the stored set gone (see
// Reset): fn re-creates what a fresh start would (Ensure the operator's
// key), and the set is read again before the reload's caller is answered.
// Until fn succeeds the node serves the set it found, fn is tried again at
// each reload and Ready fails. One call at a time; concurrent requests
// meanwhile are served the set found. fn must not be called for a store
// that merely did not answer. Set it before the first request.
func (k *Keys) OnReset(fn func(ctx context.Context, r Reset) error) { k.onReset = fn }

func (k *Keys) load(ctx context.Context) (doc, int64, error) {
	d, version, _, err := k.loadSum(ctx)
	return d, version, err
}

// loadSum is load with the SHA-256 of the stored document.
func (k *Keys) loadSum(ctx context.Context) (doc, int64, [32]byte, error) {
	raw, version, err := k.meta.GetMeta(ctx, DocName)
	if errors.Is(err, sessiond.ErrNotFound) {
		return doc{}, 0, [32]byte{}, nil
	} else if errors.Is(err, sessiond.ErrConflict) {
		// A read has no compare-and-swap to lose: the store gave up on it
		// (PostgreSQL's lock_timeout or a deadlock, a migration holding
		// the table). Nothing was decided, as in an outage: the last set
		// keeps answering, and a key is never refused as unknown for it.
		return doc{}, 0, [32]byte{}, fmt.Errorf("apikey: load: %w: %w", sessiond.ErrStoreUnavailable, err)
	} else if err != nil {
		return doc{}, 0, [32]byte{}, fmt.Errorf("apikey: load: %w", err)
	}
	var d doc
	if err := json.Unmarshal(raw, &d); err != nil {
		return doc{}, 0, [32]byte{}, fmt.Errorf("apikey: stored key set is corrupt: %w", err)
	}
	for i := range d.Keys {
		if d.Keys[i].Scopes == nil {
			d.Keys[i].Scopes = []Scope{ScopeAdmin} // stored before scopes existed
		}
	}
	return d, version, sha256.Sum256(raw), nil
}

// errUnchanged, from an update's fn, leaves the stored set as it is.
var errUnchanged = errors.New("unchanged")

// update applies fn to the stored set with a compare-and-swap, retrying
// when another node changed it meanwhile. When fn returns errUnchanged
// nothing is written and update returns nil.
func (k *Keys) update(ctx context.Context, fn func(*doc) error) error {
	_, _, err := k.updateRecorded(ctx, nil, fn, nil)
	return err
}

// updateRecorded is update that, with r (not nil), writes the events of
// what fn changed (changes, asked after each fn that succeeded) with the
// set, when the store and r can: it then reports recorded true, and r has
// been told they are committed. Otherwise it writes the set alone, and the
// caller records the changes after it, as before. unsure: the events a
// write whose outcome is unknown (saveError) carried, of which r has not
// been told: they are stored if, and only if, the write landed.
func (k *Keys) updateRecorded(ctx context.Context, r Recorder, fn func(*doc) error, changes func() []Change) (recorded bool, unsure []sessiond.Event, err error) {
	for attempt := 0; attempt < 5; attempt++ {
		d, version, sum, err := k.loadSum(ctx)
		if err != nil {
			return false, nil, err
		}
		if err := fn(&d); errors.Is(err, errUnchanged) {
			k.keep(d, version, sum)
			return false, nil, nil
		} else if err != nil {
			return false, nil, err
		}
		if d.Lineage == "" {
			d.Lineage, d.LineageAdopted = k.lineage(version)
		}
		raw, err := json.Marshal(d)
		if err != nil {
			return false, nil, err
		}
		var cs []Change
		if changes != nil {
			cs = changes()
		}
		events, rec, mr, carried := k.prepare(ctx, r, cs)
		var saved int64
		if carried {
			saved, err = mr.PutMetaRecorded(ctx, DocName, raw, version, rec)
		} else {
			saved, err = k.meta.PutMeta(ctx, DocName, raw, version)
		}
		if errors.Is(err, sessiond.ErrConflict) {
			continue
		}
		if err != nil {
			return false, events, &saveError{err: err}
		}
		k.keep(d, saved, sha256.Sum256(raw))
		for _, e := range events {
			r.Committed(ctx, e)
		}
		return carried, nil, nil
	}
	return false, nil, fmt.Errorf("apikey: key set keeps changing: %w", sessiond.ErrConflict)
}

// saveError is update's error when the store's write failed other than by
// losing its compare-and-swap: its outcome is unknown (a timeout, a lost
// answer), the write may be stored or land later. Every other error of
// update (a read failing, every compare-and-swap lost) wrote nothing.
type saveError struct{ err error }

func (e *saveError) Error() string { return "apikey: save: " + e.err.Error() }
func (e *saveError) Unwrap() error { return e.err }

// outcomeUnknown reports whether update's err leaves its last write
// possibly stored (saveError).
func outcomeUnknown(err error) bool {
	var se *saveError
	return errors.As(err, &se)
}

// lineage is the one to give a stored set that has none, found at version
// (0: none stored), and whether it is adopted: the set this node holds,
// when a node of the previous release rewrote it (dropping the field), so
// that other nodes do not take the next write for a new set; a new one for
// a set made anew (after a loss the node holds none). A stored set this
// node never read a lineage of (it started after the previous release's
// rewrite, or the whole cluster ran that release) gets a new one marked
// adopted: unmarked it would be another set, a lost store, to every node
// holding the real one, and without one no node would ever tell a lost
// store by its lineage again. A node holding another lineage takes an
// adopted one found at a later version for its set renamed (see reload).
func (k *Keys) lineage(version int64) (string, bool) {
	if s := k.snap.Load(); s != nil && s.set.Lineage != "" {
		return s.set.Lineage, s.set.LineageAdopted
	}
	return newLineage(), version > 0
}

// newLineage returns a random ID for a set made anew.
func newLineage() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "key_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func hashHex(s sessiond.Secret) string {
	h := sessiond.HashToken(s)
	return hex.EncodeToString(h[:])
}

// Create makes a new random key (256 bits, prefix sdak_) named name with
// scopes (none given: DefaultScopes, least privilege) and returns it; only
// its hash is stored, so this is the one time it is seen. With an error the
// key is returned (its ID set) only when the write's outcome is unknown
// (a timeout, a lost answer): it may be stored or land later, and the
// caller revokes it (RevokeUnreceived); a write that cannot have landed
// (refused, every compare-and-swap lost, a read failing) returns no key.
func (k *Keys) Create(ctx context.Context, name string, scopes ...Scope) (sessiond.Secret, Key, error) {
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	scopes, err := cleanScopes(scopes)
	if err != nil {
		return "", Key{}, err
	}
	secret, err := NewSecret()
	if err != nil {
		return "", Key{}, err
	}
	key, err := k.add(ctx, name, secret, scopes)
	return secret, key, err
}

// Seed is Create for a set without a live key: the first key of a
// deployment. The check and the write are one compare-and-swap, so nodes
// starting together on an empty store make one key between them, not one
// each. When the set holds a live key (before, or written by another node
// or an operator meanwhile) Seed makes none and returns the oldest live
// key, its hash left out, with an error matching ErrHasLiveKey. Its other
// errors are Create's.
func (k *Keys) Seed(ctx context.Context, name string, scopes ...Scope) (sessiond.Secret, Key, error) {
	secret, err := NewSecret()
	if err != nil {
		return "", Key{}, err
	}
	key, err := k.SeedSecret(ctx, name, secret, scopes...)
	if errors.Is(err, ErrHasLiveKey) {
		return "", key, err
	}
	return secret, key, err
}

// NewSecret returns a new random key (256 bits, prefix sdak_), as Create
// makes: for SeedSecret, whose caller keeps it before the store does.
func NewSecret() (sessiond.Secret, error) {
	secret, _, err := opaquetoken.Codec{}.New(sessiond.KindAPIKey)
	return secret, err
}

// SeedSecret is Seed with secret (from NewSecret) as the key, and is
// idempotent: when secret's key is live in the set already (a SeedSecret
// whose answer was lost landed), it returns that key and no error, and
// writes nothing. So a caller that keeps secret first (a file) and whose
// write's outcome is unknown calls it again: the key lands once, or
// another live key is found, and the lost write, a compare-and-swap on an
// older version, can no longer land after it.
func (k *Keys) SeedSecret(ctx context.Context, name string, secret sessiond.Secret, scopes ...Scope) (Key, error) {
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	scopes, err := cleanScopes(scopes)
	if err != nil {
		return Key{}, err
	}
	h := hashHex(secret)
	var live, own *Key
	key, err := k.addIf(ctx, name, secret, scopes, func(d *doc) error {
		live, own = nil, nil // update may run this again after a conflict
		if i := slices.IndexFunc(d.Keys, func(x Key) bool { return x.Hash == h && x.RevokedAt.IsZero() }); i >= 0 {
			// This secret's, landed: nothing to write (a rewrite would
			// only move the version on, and every node reload the set).
			own = &d.Keys[i]
			return errUnchanged
		}
		for _, x := range d.Keys {
			if x.RevokedAt.IsZero() {
				x.Hash = ""
				live = &x
				return errUnchanged
			}
		}
		return nil
	})
	switch {
	case err == nil && own != nil:
		return *own, nil
	case err == nil && live != nil:
		return *live, fmt.Errorf("apikey: seed: key %s (%q) is live: %w", live.ID, live.Name, ErrHasLiveKey)
	}
	return key, err
}

// ErrHasLiveKey: Seed found a live key in the set and made none.
var ErrHasLiveKey = errors.New("the key set holds a live key")

// Ensure adds secret (an operator-chosen key, e.g. SESSIOND_API_KEY) under
// name with the admin scope, unless a live key with that secret exists.
// Keys shorter than MinKeyLen are refused, and so is a key that was
// revoked (ErrKeyRevoked): a revocation outlives restarts.
func (k *Keys) Ensure(ctx context.Context, name string, secret sessiond.Secret) (Key, error) {
	if err := CheckOperatorKey(secret); err != nil {
		return Key{}, err
	}
	return k.add(ctx, name, secret, []Scope{ScopeAdmin})
}

// CheckOperatorKey returns the error Ensure refuses secret with for its
// length alone (shorter than MinKeyLen, or longer than MaxKeyLen, which
// Authenticate would never accept), nil when it has none: serve checks
// SESSIOND_API_KEY with it before it opens the store.
func CheckOperatorKey(secret sessiond.Secret) error {
	msg := ""
	switch {
	case len(secret) < MinKeyLen:
		msg = fmt.Sprintf("must be at least %d characters", MinKeyLen)
	case len(secret) > MaxKeyLen:
		msg = fmt.Sprintf("must be at most %d characters", MaxKeyLen)
	default:
		return nil
	}
	return fmt.Errorf("apikey: %w", &sessiond.ArgumentError{Field: "SESSIOND_API_KEY", Msg: msg})
}

func (k *Keys) add(ctx context.Context, name string, secret sessiond.Secret, scopes []Scope) (Key, error) {
	return k.addIf(ctx, name, secret, scopes, nil)
}

// CheckName returns a *sessiond.ArgumentError (Field "name") when name
// cannot name a key: every way of making one (the CLI, the API, the
// console) refuses the same names. A name goes into events, the event log
// and webhook payloads, which other programs print: printable text only,
// as for subjects (no control, format or bidi characters, no line
// separators).
func CheckName(name string) error {
	if name == "" || sessiond.CleanText(name, 64) != name || strings.ContainsAny(name, "\u2028\u2029") {
		return &sessiond.ArgumentError{Field: "name",
			Msg: "must be 1 to 64 bytes of printable UTF-8 text (no control, format or line-separator characters)"}
	}
	return nil
}

// addIf is add, whose compare-and-swap first asks cond (when not nil)
// about the stored set: errUnchanged from it leaves the set as it is and
// addIf returns no key and no error; any other error is returned.
func (k *Keys) addIf(ctx context.Context, name string, secret sessiond.Secret, scopes []Scope, cond func(*doc) error) (Key, error) {
	key, _, err := k.addRecorded(ctx, nil, name, secret, scopes, cond)
	return key, err
}

// addRecorded is addIf that, with r, writes the key's creation with it
// when the store can (not when the key was in the set already), and
// reports whether it did.
func (k *Keys) addRecorded(ctx context.Context, r Recorder, name string, secret sessiond.Secret, scopes []Scope,
	cond func(*doc) error) (Key, bool, error) {
	if err := CheckName(name); err != nil {
		return Key{}, false, fmt.Errorf("apikey: %w", err)
	}
	h := hashHex(secret)
	if s := k.snap.Load(); s != nil {
		// This node's record of a revocation counts even if the stored set
		// lost it (the store lost its data): never add a revoked key again.
		for _, held := range s.set.Keys {
			if held.Hash == h && !held.RevokedAt.IsZero() {
				return Key{}, false, fmt.Errorf("apikey: key %s was revoked on %s; choose a new one: %w",
					held.ID, held.RevokedAt.Format(time.RFC3339), ErrKeyRevoked)
			}
		}
	}
	var (
		out   Key
		added bool
	)
	recorded, unsure, err := k.updateRecorded(ctx, r, func(d *doc) error {
		out, added = Key{}, false // update may run this again after a conflict
		if cond != nil {
			if err := cond(d); err != nil {
				return err
			}
		}
		for _, existing := range d.Keys {
			if existing.Hash != h {
				continue
			}
			if !existing.RevokedAt.IsZero() {
				return fmt.Errorf("apikey: key %s was revoked on %s; choose a new one: %w",
					existing.ID, existing.RevokedAt.Format(time.RFC3339), ErrKeyRevoked)
			}
			out = existing
			return nil
		}
		out = Key{ID: newID(), Name: name, Hash: h, CreatedAt: k.clock.Now().UTC().Truncate(time.Second), Scopes: scopes}
		d.Keys = append(d.Keys, out)
		added = true
		return nil
	}, func() []Change { return keyChanges(out, actionIf{ActionCreated, added}) })
	if err != nil && !outcomeUnknown(err) {
		// Nothing was stored, nor can land later: out is the key of a try
		// that lost its compare-and-swap, or none. Returned, it would be
		// recorded revoked (RevokeUnreceived), a key that never existed.
		return Key{}, false, err
	}
	if len(unsure) > 0 && out.ID != "" {
		k.unsureMu.Lock()
		if k.unsure == nil {
			k.unsure = map[string][]sessiond.Event{}
		}
		k.unsure[out.ID] = unsure
		k.unsureMu.Unlock()
	}
	return out, recorded, err
}

// SetScopes replaces the scopes of key id and returns the key. ErrNotFound
// if there is none; a revoked key cannot be changed.
func (k *Keys) SetScopes(ctx context.Context, id string, scopes []Scope) (Key, error) {
	key, _, err := k.setScopes(ctx, nil, id, scopes)
	return key, err
}

func (k *Keys) setScopes(ctx context.Context, r Recorder, id string, scopes []Scope) (Key, bool, error) {
	scopes, err := cleanScopes(scopes)
	if err != nil {
		return Key{}, false, err
	}
	var out Key
	recorded, _, err := k.updateRecorded(ctx, r, func(d *doc) error {
		i := slices.IndexFunc(d.Keys, func(x Key) bool { return x.ID == id })
		if i < 0 {
			return fmt.Errorf("apikey: set scopes of %q: %w", id, sessiond.ErrNotFound)
		}
		if !d.Keys[i].RevokedAt.IsZero() {
			return fmt.Errorf("apikey: set scopes of %q: %w", id, ErrKeyRevoked)
		}
		d.Keys[i].Scopes = scopes
		out = d.Keys[i]
		return nil
	}, func() []Change { return keyChanges(out, actionIf{ActionScopes, true}) })
	return out, recorded, err
}

// List returns every key, revoked ones included, oldest first.
func (k *Keys) List(ctx context.Context) ([]Key, error) {
	d, version, sum, err := k.loadSum(ctx)
	if err != nil {
		return nil, err
	}
	k.keep(d, version, sum)
	return d.Keys, nil
}

// Get returns key id, revoked or not. ErrNotFound if there is none.
func (k *Keys) Get(ctx context.Context, id string) (Key, error) {
	d, _, err := k.load(ctx)
	if err != nil {
		return Key{}, err
	}
	i := slices.IndexFunc(d.Keys, func(x Key) bool { return x.ID == id })
	if i < 0 {
		return Key{}, fmt.Errorf("apikey: get %q: %w", id, sessiond.ErrNotFound)
	}
	return d.Keys[i], nil
}

// Revoke revokes key id. ErrNotFound if there is none. The key's hash
// stays in the set, so the same secret can never be added again.
// Revoking a revoked key changes nothing and succeeds.
func (k *Keys) Revoke(ctx context.Context, id string) error {
	_, err := k.RevokeChanged(ctx, id)
	return err
}

// RevokeChanged is Revoke, and reports whether this call revoked the key
// (false: it was revoked already), so a caller records the revocation
// once however often it is asked.
func (k *Keys) RevokeChanged(ctx context.Context, id string) (changed bool, err error) {
	err = k.update(ctx, func(d *doc) error {
		changed = false // update may run f again after a conflict
		i := slices.IndexFunc(d.Keys, func(x Key) bool { return x.ID == id })
		if i < 0 {
			return fmt.Errorf("apikey: revoke %q: %w", id, sessiond.ErrNotFound)
		}
		if !d.Keys[i].RevokedAt.IsZero() {
			return errUnchanged // revoked already, here or by another node
		}
		d.Keys[i].RevokedAt = k.clock.Now().UTC().Truncate(time.Second)
		changed = true
		return nil
	})
	return changed && err == nil, err
}

// RevokeOrFence is RevokeChanged, except that when no key has id it
// writes the set all the same, unchanged but for its version, and reports
// found false: a Create of that ID whose write gave up may still land (see
// RevokeUnreceived), and moving the version on is what stops it, while a
// mistyped ID adds nothing to the set. Should that write land first, the
// retry finds the key and revokes it. A store with no key set yet gets an
// empty one. What apikey revoke and DELETE /v1/api-keys/{id} run, the
// advice of a create whose clean-up failed.
func (k *Keys) RevokeOrFence(ctx context.Context, id string) (found, changed bool, err error) {
	found, changed, _, err = k.revokeOrFence(ctx, nil, id)
	return found, changed, err
}

func (k *Keys) revokeOrFence(ctx context.Context, r Recorder, id string) (found, changed, recorded bool, err error) {
	var key Key
	recorded, _, err = k.updateRecorded(ctx, r, func(d *doc) error {
		found, changed = false, false // update may run f again after a conflict
		i := slices.IndexFunc(d.Keys, func(x Key) bool { return x.ID == id })
		if i < 0 {
			// Written as it is, the version moving on, even when the set
			// is empty or not stored yet (then stored empty, which the
			// server's first start seeds as it would none): the first
			// Create ever made can linger too, on version 0.
			return nil
		}
		found = true
		if !d.Keys[i].RevokedAt.IsZero() {
			return errUnchanged // revoked already, here or by another node
		}
		d.Keys[i].RevokedAt = k.clock.Now().UTC().Truncate(time.Second)
		key = d.Keys[i]
		changed = true
		return nil
	}, func() []Change { return keyChanges(key, actionIf{ActionRevoked, changed}) })
	if err != nil {
		return false, false, false, err
	}
	return found, changed, recorded, nil
}

// Fence is RevokeOrFence's fence alone: when no key has id it writes the
// set unchanged but for its version (stored empty when there is none) and
// reports found false, so that a Create of id whose write gave up cannot
// land after the answer; when a key has id (one landed since the caller
// read the set) it writes nothing and reports found true, the key left as
// it is. For an answer "no such key" given without a confirmation that
// would let a found key be revoked (the console's confirmation step).
func (k *Keys) Fence(ctx context.Context, id string) (found bool, err error) {
	err = k.update(ctx, func(d *doc) error {
		found = slices.ContainsFunc(d.Keys, func(x Key) bool { return x.ID == id })
		if found {
			return errUnchanged
		}
		return nil // written as it is, the version moving on
	})
	if err != nil {
		return false, err
	}
	return found, nil
}

// RevokeUnreceived revokes key, made by Create, which failed with an
// outcome unknown (a timeout, a lost answer), or whose secret nobody
// received. Unlike Revoke it writes the set even when key is not in it,
// adding key revoked: the write whose outcome was unknown may still land
// (PostgreSQL runs a statement on past a client that gave up, e.g. one
// waiting for a row lock), and a write moving the set's version on is what
// stops it, a compare-and-swap on the version it read; should it land
// first, the retry finds key and revokes it. stored reports whether key
// was found in the set; changed whether this call revoked it (false: it
// was revoked already).
func (k *Keys) RevokeUnreceived(ctx context.Context, key Key) (stored, changed bool, err error) {
	stored, changed, _, err = k.revokeUnreceived(ctx, nil, key)
	return stored, changed, err
}

func (k *Keys) revokeUnreceived(ctx context.Context, r Recorder, key Key) (stored, changed, recorded bool, err error) {
	if key.ID == "" || key.Hash == "" {
		return false, false, false, fmt.Errorf("apikey: revoke unreceived: %w", &sessiond.ArgumentError{Field: "key", Msg: "must be a key Create returned"})
	}
	// The events of key's create, if it wrote them: told of below if it
	// landed; forgotten either way, this being the create's one answer.
	k.unsureMu.Lock()
	created := k.unsure[key.ID]
	delete(k.unsure, key.ID)
	k.unsureMu.Unlock()
	recorded, _, err = k.updateRecorded(ctx, r, func(d *doc) error {
		stored, changed = false, false // update may run f again after a conflict
		now := k.clock.Now().UTC().Truncate(time.Second)
		i := slices.IndexFunc(d.Keys, func(x Key) bool { return x.ID == key.ID })
		if i < 0 {
			revoked := key
			revoked.RevokedAt = now
			d.Keys = append(d.Keys, revoked)
			changed = true
			return nil
		}
		stored = true
		if !d.Keys[i].RevokedAt.IsZero() {
			return errUnchanged
		}
		d.Keys[i].RevokedAt = now
		changed = true
		return nil
	}, func() []Change {
		// A creation that landed was recorded with it; one that did not
		// is recorded here, before its revocation: never a key revoked
		// that the log never showed created.
		return keyChanges(key, actionIf{ActionCreated, !stored}, actionIf{ActionNotReceived, changed})
	})
	if err != nil {
		return false, false, false, err
	}
	if stored && r != nil {
		// The create landed, and its events with it.
		for _, e := range created {
			r.Committed(ctx, e)
		}
	}
	return stored, changed, recorded, nil
}

// Authenticate returns the live key secret is (ID and scopes, the hash
// left out), or an error matching ErrUnauthorized. The set is re-read
// from the store when older than refreshEvery. When the store is
// unavailable (sessiond.ErrStoreUnavailable; a read it gave up on, its
// ErrConflict, counts as such) the last set this node read
// or wrote keeps answering, and the store is tried again once per
// refreshEvery; so a key revoked through another node that still reaches
// the store keeps working here until this node reaches it again. Any
// other store error, and an outage before any set was read, is returned
// as is (fail closed).
func (k *Keys) Authenticate(ctx context.Context, secret sessiond.Secret) (Key, error) {
	if len(secret) < MinKeyLen || len(secret) > MaxKeyLen {
		return Key{}, ErrUnauthorized
	}
	h := sessiond.HashToken(secret)
	snap, err := k.current(ctx)
	if err != nil {
		return Key{}, err
	}
	key, ok := snap.byHash[h]
	if !ok {
		return Key{}, ErrUnauthorized
	}
	key.Hash = ""
	return key, nil
}

// Known returns key id as the node knows it, from the set API requests are
// authenticated against (read again at most once per refresh period;
// during a store outage, the last set read): ErrNotFound if the set has
// no such key.
func (k *Keys) Known(ctx context.Context, id string) (Key, error) {
	snap, err := k.current(ctx)
	if err != nil {
		return Key{}, err
	}
	for _, key := range snap.byHash {
		if key.ID == id {
			key.Hash = ""
			return key, nil
		}
	}
	return Key{}, fmt.Errorf("apikey: %q: %w", id, sessiond.ErrNotFound)
}

// Active reports whether key id is live and allows scope, from the same
// cached set Authenticate reads (no store read within refreshEvery): for
// what a key set up and that outlives its requests, such as a Shared
// Signals stream it created.
func (k *Keys) Active(ctx context.Context, id string, scope Scope) (bool, error) {
	snap, err := k.current(ctx)
	if err != nil {
		return false, err
	}
	for _, key := range snap.byHash {
		if key.ID == id {
			return key.Allows(scope), nil
		}
	}
	return false, nil
}

// Ready reads the set as Authenticate does (at most once per
// refreshEvery, re-creating it if the store lost it: OnReset) and reports
// an error while a lost set is not re-created, or the set cannot be read.
func (k *Keys) Ready(ctx context.Context) error {
	if _, err := k.current(ctx); err != nil {
		return err
	}
	if l := k.lost.Load(); l != nil {
		err := l.err
		if err == nil {
			err = errors.New("being re-created")
		}
		return fmt.Errorf("apikey: the stored key set vanished (version %d, found %d) and is not re-created: %w",
			l.reset.Was, l.reset.Found, err)
	}
	return nil
}

// current returns a snapshot no older than refreshEvery or, while the
// store is unavailable, the last one read. The request that reloads the
// set also re-creates it if the store lost it (OnReset).
func (k *Keys) current(ctx context.Context) (*snapshot, error) {
	s, reloaded, err := k.refresh(ctx, false)
	if err != nil || !reloaded || k.lost.Load() == nil {
		return s, err
	}
	return k.heal(ctx, s)
}

// refresh is current without the re-creation: it reports whether it read
// the store. force reads it whatever the snapshot's age.
func (k *Keys) refresh(ctx context.Context, force bool) (*snapshot, bool, error) {
	now := k.clock.Now()
	prev := k.snap.Load()
	if !force && prev != nil && now.Sub(prev.loaded) < k.refreshEvery {
		return prev, false, nil
	}
	if !k.mu.TryLock() {
		if prev != nil {
			return prev, false, nil // another request is reloading; don't queue behind a slow store
		}
		k.mu.Lock()
	}
	prev = k.snap.Load()
	if !force && prev != nil && now.Sub(prev.loaded) < k.refreshEvery {
		k.mu.Unlock()
		return prev, false, nil // another request reloaded it meanwhile
	}
	if force || prev == nil || k.reloadWait <= 0 {
		defer k.mu.Unlock()
		return k.reloadAt(ctx, prev, now)
	}
	// With a set to fall back on, the read runs apart from the request and
	// the request waits for it at most reloadWait (BoundReloadWait). The
	// read keeps k.mu until it ends, so the others meanwhile are served the
	// last set at once, as during an outage.
	type result struct {
		s   *snapshot
		err error
	}
	k.detachMu.Lock()
	if k.closing.Err() != nil {
		k.detachMu.Unlock()
		k.mu.Unlock()
		return prev, false, nil // closed: no new store calls
	}
	k.detached.Add(1)
	k.detachMu.Unlock()
	done := make(chan result, 1)
	go func() {
		defer k.detached.Done()
		defer k.mu.Unlock()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reloadTimeout)
		defer cancel()
		defer context.AfterFunc(k.closing, cancel)()
		s, _, err := k.reloadAt(rctx, prev, now)
		done <- result{s, err}
	}()
	wait := time.NewTimer(k.reloadWait)
	defer wait.Stop()
	select {
	case r := <-done:
		return r.s, r.err == nil, r.err
	case <-wait.C:
	case <-ctx.Done():
	}
	return prev, false, nil
}

// reloadTimeout bounds a reload a request stopped waiting for
// (BoundReloadWait), which goes on without it.
const reloadTimeout = 10 * time.Second

// BoundReloadWait makes a request wait at most d for a reload of the set
// when a set to fall back on is held, then be served that set while the
// reload goes on: a store that hangs (frozen, black-holed) rather than
// refusing then holds up one request for d, not for its whole deadline.
// Without it a request waits for the reload until its context ends. Call
// it before the first request.
func (k *Keys) BoundReloadWait(d time.Duration) { k.reloadWait = d }

// reloadAt reads the set as of now and keeps it as the node's snapshot, or,
// when the store is unavailable, keeps prev (if any) as read at now. The
// caller holds k.mu.
func (k *Keys) reloadAt(ctx context.Context, prev *snapshot, now time.Time) (*snapshot, bool, error) {
	s, err := k.reload(ctx, prev)
	if err != nil {
		if prev == nil || !errors.Is(err, sessiond.ErrStoreUnavailable) {
			return nil, false, err
		}
		// Keep the last known set and try the store again after
		// refreshEvery, so an outage costs one slow request per period
		// instead of every request.
		s = &snapshot{byHash: prev.byHash, set: prev.set, version: prev.version, sum: prev.sum}
	}
	s.loaded = now
	k.snap.Store(s)
	return s, true, nil
}

// heal calls OnReset for the loss found and, once it succeeded, reads the
// set again; s is the set found, served meanwhile and if it fails.
func (k *Keys) heal(ctx context.Context, s *snapshot) (*snapshot, error) {
	if !k.healing.TryLock() {
		return s, nil // another request is at it
	}
	defer k.healing.Unlock()
	l := k.lost.Load()
	if l == nil {
		return s, nil
	}
	if l.held != nil {
		// Put back what the rollback undid before anything else writes:
		// the revocations above all.
		held := *l.held
		if err := k.update(ctx, func(d *doc) error {
			u := union(*d, held)
			if equal(u, *d) {
				return errUnchanged // written back already, by this node or another
			}
			*d = u
			return nil
		}); err != nil {
			k.lost.Store(&lostSet{reset: l.reset, held: l.held, err: err})
			return s, nil
		}
	}
	if err := k.onReset(ctx, l.reset); err != nil {
		k.lost.Store(&lostSet{reset: l.reset, held: l.held, err: err})
		return s, nil
	}
	k.lost.CompareAndSwap(l, nil)
	healed, _, err := k.refresh(ctx, true)
	if err != nil {
		return s, nil
	}
	return healed, nil
}

// keep makes d, just read or written at version, the node's snapshot
// unless a newer one is already held.
func (k *Keys) keep(d doc, version int64, sum [32]byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if prev := k.snap.Load(); prev != nil && prev.version > version {
		return
	}
	// Loaded at the zero time: the next request still re-reads the set
	// (a key made by another process works at once); this one is the
	// fallback should the store be unavailable by then.
	s := index(d, version)
	s.sum = sum
	k.snap.Store(s)
}

// reload reads the set. The caller holds k.mu.
func (k *Keys) reload(ctx context.Context, prev *snapshot) (*snapshot, error) {
	d, version, sum, err := k.loadSum(ctx)
	if err != nil {
		return nil, err
	}
	if prev != nil && version == prev.version && sum == prev.sum {
		return &snapshot{byHash: prev.byHash, set: prev.set, version: version, sum: sum}, nil
	}
	if d.Lineage == "" && prev != nil && version > prev.version {
		// Rewritten by a node of the previous release, which drops the
		// lineage: still this set (see lineage).
		d.Lineage, d.LineageAdopted = prev.set.Lineage, prev.set.LineageAdopted
	}
	// Versions only grow: a lower one means the store lost the set this
	// node read; so does another lineage at any version (a node started
	// on the emptied store seeded a new set and wrote it past this node's
	// version before this node reloaded), unless it is adopted and later:
	// a node that never read this set's lineage named it (see lineage).
	otherSet := d.Lineage != "" && prev != nil && prev.set.Lineage != "" && d.Lineage != prev.set.Lineage &&
		!(d.LineageAdopted && version > prev.version)
	if prev != nil && prev.version > 0 && (version <= prev.version || otherSet) && k.onReset != nil {
		l := &lostSet{reset: Reset{Was: prev.version, Found: version}}
		held := prev.set
		if version > 0 && d.Lineage != "" && d.Lineage == prev.set.Lineage {
			// An older copy of this very set: the store rolled back.
			l.reset.RolledBack = true
		} else {
			// A set lost: the keys made since the start are gone with it,
			// but not the revocations this node knows of, written back as
			// tombstones so that no node seeds a revoked key again (its
			// SESSIOND_API_KEY, say).
			held = doc{Keys: revoked(prev.set.Keys)}
		}
		if len(held.Keys) > 0 {
			// Serve the union from now on, so that a key revoked since
			// the copy (or before the loss) stays refused here even
			// before (or if never) it is written back.
			l.held = &held
			d = union(d, held)
		}
		k.lost.Store(l)
	}
	s := index(d, version)
	s.sum = sum
	return s, nil
}

// union joins found, the set read from a store that rolled back (an older
// copy) or lost its data (then held is only this node's revoked keys), with
// held, the set this node read before: a key revoked in either is revoked
// (at the earlier time), keys only one knows are kept (made since the copy,
// here or on a node that wrote to the copy), and for a key both know with
// other scopes the narrower wins (narrower). Keys are matched by hash, the
// secret's identity, so a key seeded again on the copy (SESSIOND_API_KEY)
// is not listed twice; found's ID, name and order are kept, held's keys
// are added after, so that union(union(f, h), h) is union(f, h) and a set
// already written back is not written again. The lineage is found's
// (adopted or not).
func union(found, held doc) doc {
	out := doc{Lineage: found.Lineage, LineageAdopted: found.LineageAdopted, Keys: make([]Key, 0, len(held.Keys)+len(found.Keys))}
	byHash := make(map[string]Key, len(held.Keys))
	for _, key := range held.Keys {
		if _, ok := byHash[key.Hash]; !ok {
			byHash[key.Hash] = key
		}
	}
	seen := make(map[string]bool, len(found.Keys)+len(held.Keys))
	for _, key := range found.Keys {
		if seen[key.Hash] {
			continue
		}
		seen[key.Hash] = true
		if h, ok := byHash[key.Hash]; ok {
			if !h.RevokedAt.IsZero() && (key.RevokedAt.IsZero() || h.RevokedAt.Before(key.RevokedAt)) {
				key.RevokedAt = h.RevokedAt
			}
			key.Scopes = narrower(key.Scopes, h.Scopes)
		}
		out.Keys = append(out.Keys, key)
	}
	for _, key := range held.Keys {
		if !seen[key.Hash] {
			seen[key.Hash] = true
			out.Keys = append(out.Keys, key)
		}
	}
	return out
}

// narrower returns the narrower of a key's scopes in two copies of the set,
// admin standing for every scope: a if it is within b, b if within a, else
// what both grant. Keys carry no time of change, so a store that rolled
// back cannot be told from a node holding a stale set but by content: the
// node that mended the rollback and a node that had not reloaded yet both
// take the other's copy for the older one. Narrowing is the safe direction,
// as revoking is: a scope wrongly kept is a privilege an operator took away
// coming back, one wrongly dropped is an operator's SetScopes away. When
// the two grant nothing in common (a key moved from one scope to another),
// the one granting fewer scopes wins, the less powerful on a tie.
func narrower(a, b []Scope) []Scope {
	if slices.Equal(a, b) {
		return a
	}
	sa, sb := scopeSet(a), scopeSet(b)
	within := func(x, y map[Scope]bool) bool {
		for s := range x {
			if !y[s] {
				return false
			}
		}
		return true
	}
	switch {
	case within(sa, sb):
		return a
	case within(sb, sa):
		return b
	}
	var both []Scope
	for _, s := range Scopes {
		if sa[s] && sb[s] && s != ScopeAdmin {
			both = append(both, s)
		}
	}
	if len(both) > 0 {
		return both
	}
	// Never empty: a key stored without scopes reads as admin.
	if len(sb) < len(sa) || len(sb) == len(sa) && slices.Compare(rank(b), rank(a)) < 0 {
		return b
	}
	return a
}

// scopeSet is scopes as a set, admin expanded to every scope.
func scopeSet(scopes []Scope) map[Scope]bool {
	out := make(map[Scope]bool, len(Scopes))
	for _, s := range scopes {
		if s == ScopeAdmin {
			for _, all := range Scopes {
				out[all] = true
			}
		}
		out[s] = true
	}
	return out
}

// rank is scopes as their positions in Scopes, least powerful first.
func rank(scopes []Scope) []int {
	out := make([]int, 0, len(scopes))
	for _, s := range scopes {
		out = append(out, slices.Index(Scopes, s))
	}
	slices.Sort(out)
	return out
}

// revoked returns the revoked keys of keys.
func revoked(keys []Key) []Key {
	var out []Key
	for _, key := range keys {
		if !key.RevokedAt.IsZero() {
			out = append(out, key)
		}
	}
	return out
}

// equal reports whether two sets hold the same keys in the same order.
func equal(a, b doc) bool {
	return a.Lineage == b.Lineage && a.LineageAdopted == b.LineageAdopted && slices.EqualFunc(a.Keys, b.Keys, func(x, y Key) bool {
		return x.ID == y.ID && x.Name == y.Name && x.Hash == y.Hash && x.CreatedAt.Equal(y.CreatedAt) &&
			x.RevokedAt.Equal(y.RevokedAt) && slices.Equal(x.Scopes, y.Scopes)
	})
}

// index builds the lookup of live keys by hash.
func index(d doc, version int64) *snapshot {
	m := make(map[sessiond.TokenHash]Key, len(d.Keys))
	for _, key := range d.Keys {
		var h sessiond.TokenHash
		if b, err := hex.DecodeString(key.Hash); err != nil || len(b) != len(h) || !key.RevokedAt.IsZero() {
			continue
		} else {
			copy(h[:], b)
		}
		m[h] = key
	}
	return &snapshot{byHash: m, set: d, version: version}
}
