// Package signing keeps a cluster's JWT signing key ring in the store's
// shared meta document, so every node signs and verifies with the same
// keys: it creates the ring on first start, publishes each new key before
// any node signs with it, rotates it on schedule with a compare-and-swap
// (one node wins, the others adopt its result), prunes retired keys, polls
// for changes made by other nodes or the CLI, reloads at once when a token
// names a key it has not seen, and seals the document with a
// key-encryption key when one is configured.
package signing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
)

// DocName is the meta document holding the private key ring.
const DocName = "signing_keys"

// Defaults of Options.
const (
	// DefaultPublishFor exceeds the JWKS cache lifetime (five minutes)
	// plus a poll, so verifiers with a cached JWKS know a key before it
	// signs.
	DefaultPublishFor  = 10 * time.Minute
	DefaultPollEvery   = 2 * time.Second
	DefaultReloadEvery = time.Second
)

// Options configure Keys.
type Options struct {
	Algorithm        jwttoken.Algorithm
	HMACSecret       []byte        // HS256 only: the configured secret (see Open)
	MaxTokenLifetime time.Duration // the longest token signed (sessiond.Lifetimes.Signed)
	RotateEvery      time.Duration // 0: never rotate on schedule
	// PublishFor is how long a new key (Rotate, scheduled rotation) is
	// published, and verifies, before it signs. 0 means DefaultPublishFor;
	// negative means it signs at once (a single process).
	PublishFor time.Duration
	PollEvery  time.Duration // how often other nodes' changes are picked up; 0 means DefaultPollEvery
	// ReloadEvery is the least time between two reloads caused by a token
	// naming an unknown key (an attacker can send any kid). 0 means
	// DefaultReloadEvery.
	ReloadEvery time.Duration
	// KEK, when set, seals the stored document (envelope encryption);
	// OldKEKs only open it, so the KEK can be rotated or introduced. A
	// document sealed with a KEK not given here cannot be opened
	// (ErrKEKRequired). A document in clear, or sealed with an old KEK, is
	// rewritten sealed with KEK by Open. Without a KEK, OldKEKs seal
	// nothing anew: a ring in clear stays in clear, and a ring sealed with
	// one of them is written back sealed with it, never in clear.
	KEK     *KEK
	OldKEKs []*KEK
	Clock   sessiond.Clock
	Logger  *slog.Logger
	// OnChange is called after the local ring changed; removed reports
	// whether a key was dropped (callers purge verification caches then).
	OnChange func(removed bool)
	// OnRotate is called after this node scheduled a rotation (Maintain),
	// with the new key's ID: the security event log records it.
	OnRotate func(kid string)
	// OnReset is called once each time this node finds the stored ring
	// gone (see Reset), before it writes its keys back: documents whose
	// presence the ring's implies can be put back first, and the security
	// event log records it.
	OnReset func(ctx context.Context, r Reset)
}

// redacted is o with its HMACSecret shown as REDACTED (empty when none),
// for the ways Options are printed. The local type keeps the name
// signing.Options in %#v.
func (o Options) redacted() any {
	type Options struct {
		Algorithm        jwttoken.Algorithm
		HMACSecret       string
		MaxTokenLifetime time.Duration
		RotateEvery      time.Duration
		PublishFor       time.Duration
		PollEvery        time.Duration
		ReloadEvery      time.Duration
		KEK              *KEK
		OldKEKs          []*KEK
		Clock            sessiond.Clock
		Logger           *slog.Logger
		OnChange         func(removed bool)
		OnRotate         func(kid string)
		OnReset          func(ctx context.Context, r Reset)
	}
	out := Options{Algorithm: o.Algorithm, MaxTokenLifetime: o.MaxTokenLifetime, RotateEvery: o.RotateEvery,
		PublishFor: o.PublishFor, PollEvery: o.PollEvery, ReloadEvery: o.ReloadEvery, KEK: o.KEK, OldKEKs: o.OldKEKs,
		Clock: o.Clock, Logger: o.Logger, OnChange: o.OnChange, OnRotate: o.OnRotate, OnReset: o.OnReset}
	if len(o.HMACSecret) > 0 {
		out.HMACSecret = "REDACTED"
	}
	return out
}

// Format prints o with its HMACSecret as REDACTED, whatever the verb.
func (o Options) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), o.redacted())
}

// LogValue implements slog.LogValuer: o without its HMACSecret.
func (o Options) LogValue() slog.Value {
	return slog.AnyValue(o.redacted())
}

// Reset describes a stored ring found gone: the document is missing, or
// it is another ring than the one this node last read at the same or a
// later version (versions only grow, so the store lost its data: a Redis
// without persistence restarted empty, a failover to an empty replica,
// and perhaps another node made a new ring since), or it holds a key this
// node dropped. The node then writes its ring back, or merges its keys
// into the new one, so that every token it signed keeps verifying
// everywhere and it keeps a signer.
//
// When the ring found is an older copy of this node's (the store rolled
// back: a Redis restarted from its last RDB snapshot, a failover to a
// lagging replica), the node writes its own ring back over it, so that no
// key it dropped (the kill switch) comes back. A ring merged never takes
// back a dropped key either (see payload.Dropped).
type Reset struct {
	Was   int64 // the version this node last read or wrote
	Found int64 // the version found; 0 when the document is missing
}

// Keys is the shared ring of one node. Safe for concurrent use.
type Keys struct {
	mu   sync.Mutex // serialises updates and adoptions on this node
	meta sessiond.MetaStore
	// opts is behind a pointer so that printing the Keys (%v, %+v, a slog
	// attribute) shows an address, never the HS256 secret it holds.
	opts    *Options
	ring    *jwttoken.KeyRing
	version int64
	// sum is the SHA-256 of the stored document at version: with version
	// it tells a ring made anew after the store lost its data from the one
	// this node read (see Reset). payload is that document's, without the
	// ring, to write back.
	sum     [32]byte
	payload payload
	// dropped is this node's record of keys dropped on purpose, with the
	// documents' (payload.Dropped): kept even if a node of the previous
	// release rewrote the document without it. The ring has a copy
	// (setDropped).
	dropped map[string]time.Time
	// resetting: OnReset was called for a reset not yet mended;
	// restoreErr is why the last try to mend it failed (Ready).
	resetting  bool
	restoreErr atomic.Pointer[error]
	// unreadable is why this node's last read of the stored ring failed
	// to open or decode it (ErrRingUnreadable), nil once one succeeds.
	unreadable atomic.Pointer[error]
	// oldSeal is the old KEK that opened the last sealed document this
	// node read, which seals its writes when no KEK is configured (see
	// sealer). The caller holds k.mu or is opening.
	oldSeal *KEK

	// Reloads on unknown kids (reloadFor), one at a time, under reloadMu:
	// reading while one runs, scheduled while one waits for its turn;
	// started and done count them; lastRead is when the last one began.
	reloadMu   sync.Mutex
	reloadDone *sync.Cond
	reading    bool
	scheduled  bool
	started    uint64
	done       uint64
	lastRead   time.Time
	// ctx bounds reloads on unknown kids, which run inside Verify (no
	// caller context); Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
}

func (o *Options) ringOptions() jwttoken.RingOptions {
	return jwttoken.RingOptions{Algorithm: o.Algorithm, HMACSecret: o.HMACSecret, MaxTokenLifetime: o.MaxTokenLifetime}
}

func (o *Options) publishFor() time.Duration {
	switch {
	case o.PublishFor < 0:
		return 0
	case o.PublishFor == 0:
		return DefaultPublishFor
	}
	return o.PublishFor
}

// Open loads the ring from meta, creating and saving a new one if there is
// none yet (when two nodes race, the loser adopts the winner's ring).
//
// With HS256, the configured secret is authoritative: if the stored ring
// was seeded from another secret, Open replaces the ring with one seeded
// from the configured secret (tokens signed with any earlier secret stop
// verifying) and records the old secret's fingerprint as superseded; a
// node still configured with a superseded secret refuses to start
// (ErrSecretSuperseded) rather than switch the cluster back.
func Open(ctx context.Context, meta sessiond.MetaStore, opts Options) (*Keys, error) {
	if opts.Clock == nil {
		opts.Clock = sessiond.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollEvery <= 0 {
		opts.PollEvery = DefaultPollEvery
	}
	if opts.ReloadEvery <= 0 {
		opts.ReloadEvery = DefaultReloadEvery
	}
	k := &Keys{meta: meta, opts: &opts}
	k.reloadDone = sync.NewCond(&k.reloadMu)
	k.ctx, k.cancel = context.WithCancel(context.Background())
	if err := k.open(ctx); err != nil {
		k.cancel()
		return nil, err
	}
	k.ring.SetDropped(k.dropped) // open may have saved before it had the ring
	k.ring.OnUnknownKID(k.reloadFor)
	return k, nil
}

// Load reads the stored ring without writing anything, for commands that
// only look (sessiond keys list): it creates no ring, and neither rewrites
// the stored one under the configured KEK nor replaces it for another
// HS256 secret, as Open does. It fails with ErrNotFound when there is no
// ring, ErrKEKRequired when no configured KEK opens it, and
// ErrSecretDiffers or ErrSecretSuperseded when the configured HS256 secret
// is not the one the ring was made from (Open would replace the ring, or
// refuse).
func Load(ctx context.Context, meta sessiond.MetaStore, opts Options) (*jwttoken.KeyRing, error) {
	doc, _, err := meta.GetMeta(ctx, DocName)
	if err != nil {
		return nil, fmt.Errorf("signing: load key ring: %w", err)
	}
	d, ring, err := opts.read(doc)
	if err != nil {
		return nil, err
	}
	if _, replace, err := opts.checkSecret(ring, d.payload); err != nil {
		return nil, err
	} else if replace {
		return nil, fmt.Errorf("%w: it was made from another; a node started with this secret replaces it, and every token signed before stops verifying", ErrSecretDiffers)
	}
	return ring, nil
}

// read opens a stored document and loads its ring.
func (o *Options) read(doc []byte) (decoded, *jwttoken.KeyRing, error) {
	d, err := o.decode(doc)
	if err != nil {
		return decoded{}, nil, err
	}
	ring, err := jwttoken.LoadRing(d.Ring, o.ringOptions())
	if err != nil {
		return decoded{}, nil, fmt.Errorf("signing: stored key ring: %w", err)
	}
	return d, ring, nil
}

func (k *Keys) open(ctx context.Context) error {
	opts := k.opts
	for attempt := 0; attempt < 5; attempt++ {
		doc, version, err := k.meta.GetMeta(ctx, DocName)
		switch {
		case err == nil:
			d, ring, err := opts.read(doc)
			if err != nil {
				return err
			}
			k.keepSealed(d)
			next, replaced, err := opts.checkSecret(ring, d.payload)
			if err != nil {
				return err
			}
			if !replaced && !opts.needsRewrite(d) && next.HS256Secret == d.HS256Secret {
				k.ring, k.version, k.sum, k.payload = ring, version, sha256.Sum256(doc), without(d.payload)
				k.setDropped(k.live(d.Dropped))
				return nil
			}
			if replaced {
				old := ring
				if ring, err = jwttoken.NewRing(opts.Clock.Now(), opts.ringOptions()); err != nil {
					return fmt.Errorf("signing: %w", err)
				}
				k.drop(&next, old, ring)
			}
			nv, sum, err := k.save(ctx, ring, &next, version)
			if errors.Is(err, sessiond.ErrConflict) {
				continue // another node wrote meanwhile: start over from theirs
			} else if err != nil {
				return err
			}
			switch {
			case replaced:
				opts.Logger.Warn("the configured HS256 secret differs from the one the stored key ring was made from: replaced the ring; tokens signed with earlier secrets no longer verify")
			case opts.needsRewrite(d):
				opts.Logger.Info("rewrote the stored signing key ring", "sealed", opts.KEK != nil, "was_sealed_with", d.kek)
			}
			k.ring, k.version, k.sum, k.payload = ring, nv, sum, without(next)
			return nil
		case !errors.Is(err, sessiond.ErrNotFound):
			return fmt.Errorf("signing: load key ring: %w", err)
		}
		ring, err := jwttoken.NewRing(opts.Clock.Now(), opts.ringOptions())
		if err != nil {
			return fmt.Errorf("signing: %w", err)
		}
		var p payload
		if opts.Algorithm == jwttoken.HS256 {
			p.HS256Secret = secretFingerprint(opts.HMACSecret)
		}
		version, sum, err := k.save(ctx, ring, &p, 0)
		if errors.Is(err, sessiond.ErrConflict) {
			continue // another node created it first: load theirs
		} else if err != nil {
			return err
		}
		opts.Logger.Info("created signing key ring", "algorithm", string(opts.ringOptions().Algorithm), "sealed", opts.KEK != nil)
		k.ring, k.version, k.sum, k.payload = ring, version, sum, without(p)
		return nil
	}
	return fmt.Errorf("signing: key ring keeps changing under us: %w", sessiond.ErrConflict)
}

// checkSecret compares the configured HS256 secret with the one the stored
// ring was seeded from. It returns the payload fields to store and whether
// the ring must be replaced by one seeded from the configured secret.
func (o *Options) checkSecret(ring *jwttoken.KeyRing, p payload) (payload, bool, error) {
	if o.Algorithm != jwttoken.HS256 || len(o.HMACSecret) == 0 {
		return p, false, nil
	}
	fp := secretFingerprint(o.HMACSecret)
	switch {
	case p.HS256Secret == fp:
		return p, false, nil
	case p.superseded(fp):
		return p, false, fmt.Errorf("%w: update this node's jwt.hs256_secret_file or SESSIOND_JWT_HS256_SECRET to the secret the other nodes use", ErrSecretSuperseded)
	case p.HS256Secret == "" && ring.HasHMACSecret(o.HMACSecret):
		// A ring stored before fingerprints existed, made from this
		// secret: record it.
		p.HS256Secret = fp
		return p, false, nil
	}
	next := payload{HS256Secret: fp, HS256Superseded: p.HS256Superseded,
		Lineage: p.Lineage, LineageAdopted: p.LineageAdopted, Generation: p.Generation, Dropped: p.Dropped}
	if p.HS256Secret != "" {
		next.HS256Superseded = append(next.HS256Superseded[:len(next.HS256Superseded):len(next.HS256Superseded)], p.HS256Secret)
	}
	return next, true, nil
}

// save writes ring with the payload fields of p over version (0: create)
// and returns the new version and the SHA-256 of the document written. It
// sets p's ring, lineage (see below), generation (one more) and dropped
// keys (p's with this node's, the expired ones left out) to those written,
// and on success keeps the dropped keys as this node's.
//
// When p has no lineage, a node of the previous release wrote the stored
// ring (dropping the field), or there is none: the lineage written is this
// node's (see adopt), else a new one: for a ring made anew (version 0), or
// marked adopted for a stored ring this node never knew the lineage of (it
// started after the previous release's write, or the whole cluster ran
// that release). Unmarked, a lineage made up here would read as a ring
// made anew to every node holding the real one; none at all, and no node
// would ever tell a lost store by its lineage again. A node holding
// another lineage takes an adopted one found at a later version for its
// ring renamed (see replaced).
func (k *Keys) save(ctx context.Context, ring *jwttoken.KeyRing, p *payload, version int64) (int64, [32]byte, error) {
	raw, err := ring.MarshalPrivate()
	if err != nil {
		return 0, [32]byte{}, err
	}
	p.Ring = raw
	switch {
	case p.Lineage != "":
	case k.payload.Lineage != "":
		p.Lineage, p.LineageAdopted = k.payload.Lineage, k.payload.LineageAdopted
		p.Generation = max(p.Generation, k.payload.Generation)
	default:
		p.Lineage, p.LineageAdopted, p.Generation = newLineage(), version > 0, 0
	}
	p.Generation++
	p.Dropped = k.live(p.Dropped, k.dropped)
	doc, err := encode(*p, k.sealer())
	if err != nil {
		return 0, [32]byte{}, err
	}
	nv, err := k.meta.PutMeta(ctx, DocName, doc, version)
	if err != nil && !errors.Is(err, sessiond.ErrConflict) {
		return 0, [32]byte{}, fmt.Errorf("signing: save key ring: %w", err)
	}
	if err == nil {
		k.setDropped(p.Dropped)
	}
	return nv, sha256.Sum256(doc), err
}

// newLineage returns a random ID for a ring made anew.
func newLineage() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// horizon is how long a token a dropped key signed may still verify by
// its expiry: the longest token plus the largest clock-skew allowance.
func (k *Keys) horizon() time.Duration { return k.opts.MaxTokenLifetime + jwttoken.MaxLeeway }

// drop records in p the keys of before that after no longer holds,
// dropped on purpose, until a token they signed has surely expired.
func (k *Keys) drop(p *payload, before, after *jwttoken.KeyRing) {
	kept := make(map[string]bool)
	for _, ki := range after.Keys() {
		kept[ki.ID] = true
	}
	until := k.opts.Clock.Now().Add(k.horizon()).UTC()
	for _, ki := range before.Keys() {
		if kept[ki.ID] {
			continue
		}
		if p.Dropped == nil {
			p.Dropped = make(map[string]time.Time)
		}
		if until.After(p.Dropped[ki.ID]) {
			p.Dropped[ki.ID] = until
		}
	}
}

// live returns the union of sets of dropped keys without those expired
// (nil when none is left); a kid in several keeps its latest time.
func (k *Keys) live(sets ...map[string]time.Time) map[string]time.Time {
	now := k.opts.Clock.Now()
	var out map[string]time.Time
	for _, set := range sets {
		for kid, until := range set {
			if !until.After(now) || !until.After(out[kid]) {
				continue
			}
			if out == nil {
				out = make(map[string]time.Time)
			}
			out[kid] = until
		}
	}
	return out
}

// setDropped keeps dropped as this node's record and gives it to the ring
// (from Open on), so Verify tells a token of a key dropped on purpose from
// a forged one, and makes no store read for it. The caller holds k.mu or
// is opening.
func (k *Keys) setDropped(dropped map[string]time.Time) {
	k.dropped = dropped
	if k.ring != nil {
		k.ring.SetDropped(dropped)
	}
}

// droppedIn returns whether a kid was dropped, by this node's record or
// by also (a document's).
func (k *Keys) droppedIn(also map[string]time.Time) func(kid string) bool {
	now := k.opts.Clock.Now()
	return func(kid string) bool {
		if until, ok := k.dropped[kid]; ok && until.After(now) {
			return true
		}
		until, ok := also[kid]
		return ok && until.After(now)
	}
}

// without is p without its ring: the fields kept to write a ring back.
func without(p payload) payload {
	p.Ring = nil
	return p
}

// Close stops reloads in progress. The ring keeps working.
func (k *Keys) Close() { k.cancel() }

// Ring is the node's ring; codecs built on it follow every change, and
// sign nothing while this node cannot read the stored ring (Ready).
func (k *Keys) Ring() *jwttoken.KeyRing { return k.ring }

// Rotate schedules a new key, everywhere: it is published (JWKS) and
// verifies on every node from their next poll, and signs from PublishFor
// on, so no verifier meets a token from a key it could not have known. If
// a rotation is already scheduled, Rotate leaves it. The new key is first
// in Ring().Keys().
func (k *Keys) Rotate(ctx context.Context) error {
	return k.update(ctx, func(r *jwttoken.KeyRing) (bool, error) {
		now := k.opts.Clock.Now()
		_, changed, err := r.Schedule(now, now.Add(k.opts.publishFor()))
		return changed, err
	})
}

// RetireAll drops every key (the incident kill switch): no token signed
// before verifies again, on any node once it has polled. The new signer
// signs at once: other nodes meeting its tokens reload the ring first.
func (k *Keys) RetireAll(ctx context.Context) error {
	return k.update(ctx, func(r *jwttoken.KeyRing) (bool, error) { return true, r.RetireAll(k.opts.Clock.Now()) })
}

// Maintain records a scheduled key that now signs, prunes keys no token
// can need any more, and schedules a rotation when the signer is older
// than RotateEvery.
func (k *Keys) Maintain(ctx context.Context) error {
	scheduled := ""
	err := k.update(ctx, func(r *jwttoken.KeyRing) (bool, error) {
		scheduled = "" // update may retry fn after losing a race
		now := k.opts.Clock.Now()
		changed := r.Settle(now)
		changed = r.Prune(now) > 0 || changed
		if k.opts.RotateEvery > 0 {
			for _, ki := range r.Keys() {
				if ki.Current && now.Sub(ki.CreatedAt) >= k.opts.RotateEvery {
					kid, added, err := r.Schedule(now, now.Add(k.opts.publishFor()))
					if err != nil {
						return false, err
					}
					if added {
						changed, scheduled = true, kid
					}
				}
			}
		}
		return changed, nil
	})
	if err == nil && scheduled != "" && k.opts.OnRotate != nil {
		k.opts.OnRotate(scheduled)
	}
	return err
}

// update applies fn to the latest stored ring and saves it with a
// compare-and-swap, retrying when another node got there first; then it
// adopts the result locally.
func (k *Keys) update(ctx context.Context, fn func(*jwttoken.KeyRing) (bool, error)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for attempt := 0; attempt < 5; attempt++ {
		doc, version, err := k.meta.GetMeta(ctx, DocName)
		if lost, err := k.lost(ctx, doc, version, err); err != nil {
			return err
		} else if lost {
			continue // written back: apply fn to that
		}
		d, r, err := k.read(doc)
		if err != nil {
			return err
		}
		before, err := jwttoken.LoadRing(d.Ring, k.opts.ringOptions())
		if err != nil {
			return fmt.Errorf("signing: stored key ring: %w", err)
		}
		changed, err := fn(r)
		if err != nil {
			return fmt.Errorf("signing: %w", err)
		}
		if !changed && !k.opts.needsRewrite(d) {
			return k.adopt(d, version, sha256.Sum256(doc))
		}
		k.drop(&d.payload, before, r)
		nv, sum, err := k.save(ctx, r, &d.payload, version)
		if errors.Is(err, sessiond.ErrConflict) {
			continue
		} else if err != nil {
			return err
		}
		raw, err := r.MarshalPrivate()
		if err != nil {
			return err
		}
		d.Ring = raw
		return k.adopt(d, nv, sum)
	}
	return fmt.Errorf("signing: key ring keeps changing under us: %w", sessiond.ErrConflict)
}

// Sync adopts the stored ring if another node changed it. If the store
// lost it (see Reset), Sync writes this node's ring back, or merges this
// node's keys into the ring another node made since.
func (k *Keys) Sync(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	doc, version, err := k.meta.GetMeta(ctx, DocName)
	if lost, err := k.lost(ctx, doc, version, err); err != nil || lost {
		return err
	}
	sum := sha256.Sum256(doc)
	if version == k.version && sum == k.sum {
		return nil
	}
	d, _, err := k.read(doc)
	if err != nil {
		return err
	}
	return k.adopt(d, version, sum)
}

// Ready reports why this node does not share the cluster's ring: it found
// the ring gone from the store (see Reset) and could not write it back
// (the error of its last try), or its last read of the stored ring could
// not open or decode it (an error matching ErrRingUnreadable, and
// ErrKEKRequired when the ring is sealed with a KEK it is not given), until
// a try succeeds or it holds a ring it read (Run reads every PollEvery).
// Nil otherwise; a store that does not answer is not reported here. It
// reads nothing.
func (k *Keys) Ready() error {
	if p := k.restoreErr.Load(); p != nil {
		return *p
	}
	if p := k.unreadable.Load(); p != nil {
		return *p
	}
	return nil
}

// JWKS is the public JWKS of the ring (jwttoken.KeyRing.JWKS), except
// while this node cannot read the stored ring: the keys it holds may then
// include one the kill switch dropped, which no verifier must learn from
// it. It fails with Ready's error (ErrRingUnreadable) meanwhile.
func (k *Keys) JWKS() ([]byte, error) {
	if p := k.unreadable.Load(); p != nil {
		return nil, *p
	}
	return k.ring.JWKS()
}

// Lead is how long every node surely publishes a new key before it signs:
// PublishFor less one PollEvery (a node serving the JWKS learns of the key
// within a poll), zero when keys sign at once. A verifier caching the JWKS
// for no longer knows a key before the first token it signs.
func (k *Keys) Lead() time.Duration {
	return max(k.opts.publishFor()-k.opts.PollEvery, 0)
}

// read opens a stored document, as Options.read does, for a running node:
// it records for Ready when it could not, and for sealer which old KEK
// sealed it. A failure matches ErrRingUnreadable. A success clears that
// record only once this node holds the ring it read (adopt, lost): until
// then the ring it signs with is still the out-of-date one, and a write
// between (update's save) may fail. The caller holds k.mu.
func (k *Keys) read(doc []byte) (decoded, *jwttoken.KeyRing, error) {
	d, ring, err := k.opts.read(doc)
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrRingUnreadable, err)
		k.setUnreadable(err)
		return decoded{}, nil, err
	}
	k.keepSealed(d)
	return d, ring, nil
}

// setUnreadable records why this node cannot read the stored ring (nil
// once it holds one it read: adopt, lost), for Ready and JWKS, and holds
// the ring's signing meanwhile (jwttoken.KeyRing.HoldSigning): a key it
// holds may be one the kill switch dropped, and a token it signed would
// verify here alone. It still verifies with them, so the users it served
// are not logged out; /readyz takes it out of a load balancer. Signing
// fails with err and sessiond.ErrStoreUnavailable: nothing was decided,
// retry (on another node).
func (k *Keys) setUnreadable(err error) {
	if err == nil {
		if k.unreadable.Load() != nil {
			k.unreadable.Store(nil)
			k.ring.HoldSigning(nil)
		}
		return
	}
	k.unreadable.Store(&err)
	k.ring.HoldSigning(fmt.Errorf("%w: %w", sessiond.ErrStoreUnavailable, err))
}

// keepSealed records the old KEK that sealed d, if one did and no KEK is
// configured: a node given a KEK only as an old one (while a KEK is
// introduced, or its current KEK went missing) must not write a sealed
// ring back in clear. The caller holds k.mu or is opening.
func (k *Keys) keepSealed(d decoded) {
	if k.opts.KEK != nil || d.kek == "" {
		return
	}
	for _, old := range k.opts.OldKEKs {
		if old != nil && old.ID == d.kek {
			k.oldSeal = old
			return
		}
	}
}

// sealer is the KEK this node seals its writes with: the configured KEK,
// else the old KEK of the last sealed document it read (a ring once
// sealed stays sealed, even over a copy in clear a store rolled back to),
// else none: with no KEK configured, nothing is sealed anew.
func (k *Keys) sealer() *KEK {
	if k.opts.KEK != nil {
		return k.opts.KEK
	}
	return k.oldSeal
}

// lost takes the result of reading the stored ring and, when it shows the
// store lost the ring this node holds (see Reset), writes that ring back
// and reports true. The caller holds k.mu.
//
// A node that could not read the last stored ring (Ready) writes nothing
// back: its ring may hold a key the kill switch dropped since, which would
// come back, in the store and on every node that adopts it. It takes any
// ring it can read for a later change, and stays not ready while the
// store holds none.
func (k *Keys) lost(ctx context.Context, doc []byte, version int64, err error) (bool, error) {
	stale := k.unreadable.Load()
	switch {
	case errors.Is(err, sessiond.ErrNotFound):
		doc, version = nil, 0
	case err != nil:
		return false, fmt.Errorf("signing: load key ring: %w", err)
	case version == k.version && sha256.Sum256(doc) == k.sum:
		k.setUnreadable(nil)
		return false, nil // the ring this node read
	case stale != nil:
		return false, nil // the caller reads it: adopted if it can
	case version > k.version:
		// A later change of it, unless it brings back a key this node
		// dropped (a store rolled back, then written to until its version
		// passed this node's), or it is another ring (the store lost its
		// data, and a node started since made a ring and changed it
		// before this node polled).
		if replaced, err := k.replaced(doc, version); err != nil || !replaced {
			return false, err
		}
	}
	if stale != nil {
		return false, fmt.Errorf("signing: the store lost the key ring, and this node's copy is out of date: not written back: %w", *stale)
	}
	if err := k.restore(ctx, doc, version); err != nil {
		k.restoreErr.Store(&err)
		return false, err
	}
	k.restoreErr.Store(nil)
	k.setUnreadable(nil) // the store holds a ring this node wrote
	return true, nil
}

// replaced reports whether the stored document, at version, is of another
// lineage than this node's ring (both known; an adopted one at a later
// version is this ring renamed, see save), or holds a key this node, or
// the document itself, records as dropped.
func (k *Keys) replaced(doc []byte, version int64) (bool, error) {
	d, ring, err := k.read(doc)
	if err != nil {
		return false, err
	}
	renamed := d.LineageAdopted && version > k.version
	if d.Lineage != "" && k.payload.Lineage != "" && d.Lineage != k.payload.Lineage && !renamed {
		return true, nil
	}
	dropped := k.droppedIn(d.Dropped)
	for _, ki := range ring.Keys() {
		if dropped(ki.ID) {
			return true, nil
		}
	}
	return false, nil
}

// restore writes this node's ring back to a store that lost it: as it is
// when the document is missing (doc nil) or holds an older copy of it
// (same lineage, lower generation: the store rolled back), else merged,
// as retired keys, into the ring found at version, which this node then
// adopts. Either way every key this node holds verifies on every node
// again, the signer is one every node knows, and no key dropped on
// purpose comes back.
//
// An older copy is overwritten rather than merged: the keys it holds and
// this ring lacks are, but for a key another node made on the copy in the
// moments before a node noticed (whose tokens then stop verifying, the
// price of a rollback), keys dropped since, which must stay dropped even
// once their record (Dropped) expired, as a copy may be older than that.
// Another node that held the same newer ring finds it back at a higher
// generation and adopts it, adding nothing (the merge's no-op). A ring of
// another lineage is a new one (or of a node of the previous release) and
// merged as before, less dropped keys; so is a copy at the same
// generation with other contents (a fork: two nodes wrote to the copy).
// The caller holds k.mu.
func (k *Keys) restore(ctx context.Context, doc []byte, version int64) error {
	r := Reset{Was: k.version, Found: version}
	if !k.resetting && k.opts.OnReset != nil {
		k.opts.OnReset(ctx, r)
	}
	k.resetting = true
	mine, err := k.ring.MarshalPrivate()
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 5; attempt++ {
		ring, p, merged, older := k.ring, k.payload, 0, false
		var d decoded
		if doc != nil {
			var theirs *jwttoken.KeyRing
			if d, theirs, err = k.read(doc); err != nil {
				return err
			}
			older = d.Lineage != "" && d.Lineage == k.payload.Lineage && d.Generation < k.payload.Generation
			if older {
				p.Dropped = k.live(p.Dropped, d.Dropped)
			} else {
				if merged, err = theirs.Merge(mine, k.opts.Clock.Now(), k.droppedIn(d.Dropped)); err != nil {
					return fmt.Errorf("signing: merge this node's keys into the stored ring: %w", err)
				}
				ring, p = theirs, without(d.payload)
			}
		}
		var nv int64
		var sum [32]byte
		if doc != nil && !older && merged == 0 {
			// Another node wrote back a ring holding every key of this
			// one and none dropped: adopt it as it is.
			nv, sum = version, sha256.Sum256(doc)
		} else {
			nv, sum, err = k.save(ctx, ring, &p, version)
		}
		if errors.Is(err, sessiond.ErrConflict) {
			// Another node wrote first: merge into theirs.
			if doc, version, err = k.meta.GetMeta(ctx, DocName); errors.Is(err, sessiond.ErrNotFound) {
				doc, version = nil, 0
			} else if err != nil {
				return fmt.Errorf("signing: load key ring: %w", err)
			}
			continue
		} else if err != nil {
			return err
		}
		what := "wrote this node's key ring back"
		if older {
			what = "wrote this node's key ring back over an older copy of it (the store rolled back)"
		} else if doc != nil {
			raw, err := ring.MarshalPrivate()
			if err != nil {
				return err
			}
			d.Ring = raw
			if err := k.adopt(d, nv, sum); err != nil {
				return err
			}
			what = fmt.Sprintf("merged this node's keys into the ring found (%d keys added or dropped)", merged)
		}
		k.version, k.sum, k.payload, k.resetting = nv, sum, without(p), false
		vanished := "missing"
		if r.Found != 0 {
			vanished = fmt.Sprintf("replaced by another ring at version %d", r.Found)
		}
		kids := make([]string, 0, len(ring.Keys()))
		for _, ki := range ring.Keys() {
			kids = append(kids, ki.ID)
		}
		k.opts.Logger.Error("the shared signing key ring vanished from the store, which lost its data: "+what,
			"document", DocName, "found", vanished, "was_version", r.Was, "version", nv, "kids", kids, "signer", currentKid(ring))
		return nil
	}
	return fmt.Errorf("signing: key ring keeps changing under us: %w", sessiond.ErrConflict)
}

// currentKid is the ID of the key ring signs with now.
func currentKid(ring *jwttoken.KeyRing) string {
	for _, ki := range ring.Keys() {
		if ki.Current {
			return ki.ID
		}
	}
	return ""
}

// adopt makes the document read at version this node's ring, and
// releases signing held while it could not read one (setUnreadable).
func (k *Keys) adopt(d decoded, version int64, sum [32]byte) error {
	if version == k.version && sum == k.sum {
		k.setUnreadable(nil)
		return nil
	}
	had := k.ring.Keys()
	removed, err := k.ring.Replace(d.Ring)
	if err != nil {
		return fmt.Errorf("signing: adopt key ring: %w", err)
	}
	k.setUnreadable(nil) // only now: a Sign meanwhile used the old keys
	p := without(d.payload)
	if p.Lineage == "" && k.payload.Lineage != "" {
		// Written by a node of the previous release, which drops the
		// lineage: still this ring, so a later write by this release
		// does not read as a new ring to the other nodes.
		p.Lineage, p.LineageAdopted, p.Generation = k.payload.Lineage, k.payload.LineageAdopted, k.payload.Generation
	}
	k.version, k.sum, k.payload = version, sum, p
	k.setDropped(k.live(k.dropped, d.Dropped))
	if removed {
		// The writer dropped them on purpose (Prune, RetireAll, a replaced
		// HS256 ring): a ring of another lineage is merged, not adopted.
		// Recorded here too, as a node of the previous release writes no
		// Dropped, so that a store rolling back to a copy holding them
		// cannot bring them back.
		kept := make(map[string]bool)
		for _, ki := range k.ring.Keys() {
			kept[ki.ID] = true
		}
		gone := make(map[string]time.Time)
		until := k.opts.Clock.Now().Add(k.horizon()).UTC()
		for _, ki := range had {
			if !kept[ki.ID] {
				gone[ki.ID] = until
			}
		}
		k.setDropped(k.live(k.dropped, gone))
	}
	k.opts.Logger.Info("signing key ring changed", "generation", k.ring.Generation(), "key_removed", removed)
	if k.opts.OnChange != nil {
		k.opts.OnChange(removed)
	}
	return nil
}

// reloadFor is the ring's unknown-kid hook: a token names a key this node
// does not hold, perhaps one another node just made. It returns once a
// read of the store that began after it was called has ended, so a new key
// is found even while made-up kids (attacker-chosen) keep the reloads
// busy; the reads, shared by every caller waiting meanwhile, begin at most
// once per ReloadEvery, so such a caller waits up to that long.
func (k *Keys) reloadFor(kid string) {
	if !plausibleKid(kid) {
		return
	}
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	want := k.started + 1 // the first read to begin from now on
	for k.done < want && k.ctx.Err() == nil {
		if k.reading || k.scheduled {
			k.reloadDone.Wait()
			continue
		}
		if wait := k.opts.ReloadEvery - time.Since(k.lastRead); !k.lastRead.IsZero() && wait > 0 {
			k.scheduled = true
			k.reloadMu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-k.ctx.Done():
				t.Stop()
			}
			k.reloadMu.Lock()
			k.scheduled = false
			if k.ctx.Err() != nil {
				k.reloadDone.Broadcast()
				return
			}
		}
		k.reading = true
		k.started++
		k.lastRead = time.Now()
		k.reloadMu.Unlock()
		k.readForKid()
	}
}

// readForKid is reloadFor's read of the store, made without reloadMu,
// which it takes back on the way out, a panic included: the caller's
// deferred Unlock must find it held, and the waiters must be woken.
func (k *Keys) readForKid() {
	defer func() {
		k.reloadMu.Lock()
		k.reading = false
		k.done = k.started
		k.reloadDone.Broadcast()
	}()
	ctx, cancel := context.WithTimeout(k.ctx, 2*time.Second)
	defer cancel()
	if err := k.Sync(ctx); err != nil && ctx.Err() == nil {
		k.opts.Logger.Warn("signing key ring reload for an unknown kid", "err", err)
	}
}

// plausibleKid: the kids jwttoken makes are 128 bits in base64url (22
// characters). Anything else cannot be ours; no store read for it.
func plausibleKid(kid string) bool {
	if len(kid) != 22 {
		return false
	}
	for i := 0; i < len(kid); i++ {
		switch c := kid[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// Run polls for changes and maintains the ring until ctx ends. Errors are
// logged: a store outage must not stop the node from verifying with the
// keys it has.
func (k *Keys) Run(ctx context.Context) {
	t := time.NewTicker(k.opts.PollEvery)
	defer t.Stop()
	maintain := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var err error
		if time.Since(maintain) >= time.Minute {
			maintain = time.Now()
			err = k.Maintain(ctx)
		} else {
			err = k.Sync(ctx)
		}
		if err != nil && ctx.Err() == nil {
			msg := "signing key ring sync"
			if errors.Is(err, ErrRingUnreadable) {
				msg = "signing key ring sync: this node cannot read the stored ring and is not ready (Keys.Ready) until it can; give it the key-encryption key the ring is sealed with"
			}
			k.opts.Logger.Warn(msg, "err", err)
		}
	}
}
