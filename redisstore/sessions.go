package redisstore

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// Preallocated errors keep the not-found paths of the read methods, which
// garbage input reaches, free of allocations.
var (
	errLookupNotFound = fmt.Errorf("redisstore: lookup token: %w", sessiond.ErrNotFound)
	errGetNotFound    = fmt.Errorf("redisstore: get session: %w", sessiond.ErrNotFound)
)

// route returns the value of an index key (token hash or session ID →
// where the session lives), from the route memo unless fresh. remembered
// reports that it came from the memo: a caller that then finds no session
// asks again with fresh, in case the memo outlived the session and the ID
// or hash was reused since.
func (s *Store) route(ctx context.Context, key string, fresh bool) (v string, remembered bool, err error) {
	if fresh {
		s.routes.forget(key)
	} else if v, ok := s.routes.get(key); ok {
		return v, true, nil
	}
	v, err = s.client.Do(ctx, s.client.B().Get().Key(key).Build()).ToString()
	if err == nil {
		s.routes.put(key, v)
	}
	return v, false, err
}

// lookupCmd reads a session and, if tokenField is not empty, one token.
func (s *Store) lookupCmd(key, tokenField string) rueidis.Cacheable {
	if tokenField == "" {
		return s.client.B().Hmget().Key(key).Field(sessionFields[:]...).Cache()
	}
	var f [nSessionFields + 1]string
	copy(f[:], sessionFields[:])
	f[nSessionFields] = tokenField
	return s.client.B().Hmget().Key(key).Field(f[:]...).Cache()
}

// Create stores s and its tokens, all or nothing. ErrConflict if the
// session ID or a token hash exists (or repeats within tokens),
// ErrInvalidArgument if a token names another session or s has no
// absolute expiry (every key needs a TTL). When the reply is lost
// (ErrStoreUnavailable) the session may or may not exist.
func (s *Store) Create(ctx context.Context, sess *sessiond.Session, tokens ...sessiond.Token) error {
	_, err := s.create(ctx, "create session", sess, 0, false, tokens, nil)
	return err
}

// create stores sess (see Create and CreateLimited), with the records of
// rec when it is not nil (see CreateRecorded).
func (s *Store) create(ctx context.Context, op string, sess *sessiond.Session, max int, evict bool, tokens []sessiond.Token, rec *createRecords) ([]sessiond.Revocation, error) {
	if err := ctxErr(ctx, op, sessiond.CheckNewSession(sess, tokens)); err != nil {
		return nil, err
	}
	if sess.ExpiresAt.IsZero() {
		return nil, wrap(op, &sessiond.ArgumentError{Field: "expires_at", Msg: "must be set"})
	}
	for i, t := range tokens {
		for _, u := range tokens[:i] {
			if u.Hash == t.Hash {
				return nil, fmt.Errorf("redisstore: %s: token hash repeated: %w", op, sessiond.ErrConflict)
			}
		}
	}

	tag := tagOf(sess.Subject)
	expMS := expiryMS(sess.ExpiresAt)
	sk := s.sessKey(tag, sess.ID)

	// The route keys: the session ID's and every token hash's (each in
	// its own slot).
	reserve := make([]string, 0, 1+len(tokens))
	reserve = append(reserve, s.sidKey(sess.ID))
	for _, t := range tokens {
		reserve = append(reserve, s.tokKey(hexHash(t.Hash)))
	}
	tokVal := tokIndex(tag, expMS, sess.ID)
	args := make([]string, 0, 9+2*nSessionFields+2*len(tokens))
	args = append(args, string(sess.ID), sess.Subject, s.sessBase(tag), encTime(sess.CreatedAt),
		encTime(sess.ExpiresAt), itoa(expMS), itoa(int64(max)), boolArg(evict), "")
	args = sessionArgs(sess, args)
	for _, t := range tokens {
		args = append(args, tokenFieldPrefix+hexHash(t.Hash), encToken(t))
	}
	args[8] = itoa(int64(len(args) - 9))
	earliest := minTime(sess.IdleExpiresAt, sess.ExpiresAt)

	var (
		reply    []rueidis.RedisMessage
		err      error
		reserved []string  // route keys to release if the session is not stored
		ierr     error     // from the global indexes
		pend     []pending // on a Cluster, records to move
	)
	if s.crossSlot {
		// Outside a Cluster one script does it all: the reservations, the
		// session, its records and its index entries (createRecordedScript).
		if rec == nil {
			rec = &createRecords{mainArgs: []string{"0", "0"}}
		}
		sweep := s.sweepDue(1 + records(rec.mainArgs))
		keys := append(append(append([]string{sk, s.idxKey(tag)}, s.recordKeys()...), s.gcKey, s.expKey, s.revKey, s.stratKey), reserve...)
		fixed := []string{tag, tokVal, s.liveBase, ref(tag, sess.ID), encTime(earliest), string(sess.Strategy), boolArg(!sess.Revoked()), boolArg(sweep), s.channel}
		reply, err = s.createExec(ctx, keys, args, fixed, sweep, sess, rec)
	} else {
		// Step 1, one round trip: reserve the session ID and every token
		// hash (SET NX).
		cmds := make(rueidis.Commands, 0, len(reserve))
		cmds = append(cmds, s.client.B().Set().Key(reserve[0]).Value(tag).Nx().PxatMillisecondsTimestamp(expMS).Build())
		for _, k := range reserve[1:] {
			cmds = append(cmds, s.client.B().Set().Key(k).Value(tokVal).Nx().PxatMillisecondsTimestamp(expMS).Build())
		}
		res := s.client.DoMulti(ctx, cmds...)
		var conflict bool
		var failed error
		for i, k := range reserve {
			switch err := res[i].Error(); {
			case err == nil:
				reserved = append(reserved, k)
			case rueidis.IsRedisNil(err):
				conflict = true
			default:
				failed = err
			}
		}
		if conflict || failed != nil {
			s.release(ctx, reserved)
			if failed != nil {
				return nil, s.fail(op, failed)
			}
			return nil, fmt.Errorf("redisstore: %s: session ID or token hash exists: %w", op, sessiond.ErrConflict)
		}

		// Step 2: the script (evictions and the session itself,
		// atomically), and at the same time (pipelined) the global
		// indexes. An index entry whose session never comes to exist is
		// dropped by DeleteExpired or swept at its expiry.
		indexed := make(chan error, 1)
		go func() {
			indexed <- s.index(ctx, tag, sess.ID, earliest, sess.ExpiresAt, sess.Strategy, !sess.Revoked())
		}()
		keys := []string{sk, s.idxKey(tag)}
		if rec == nil {
			reply, err = createScript.Exec(ctx, s.client, keys, args).ToArray()
		} else {
			// The records of the login and of its evictions are kept
			// pending in the subject's slot by the same script, then
			// moved (settle).
			reply, pend, err = s.createPending(ctx, tag, keys, args, sess, rec)
		}
		ierr = <-indexed
	}
	if bad := (errBadRecords{}); errors.As(err, &bad) {
		// A record of an eviction was refused before anything changed.
		s.release(ctx, reserved)
		return nil, wrap(op, bad.err)
	} else if errors.Is(err, sessiond.ErrConflict) {
		s.release(ctx, reserved)
		return nil, wrap(op, err)
	}
	if err != nil {
		// The script may have run; the reservations stay (they expire
		// with the session, or point at nothing).
		return nil, s.fail(op, err)
	}
	s.wrote(sk)
	status, _ := field(&reply[0])
	switch status {
	case "ok":
		if len(reply) > 1 || sess.Revoked() {
			if err := s.killedAfterRevoke(); err != nil {
				return nil, err
			}
		}
		for _, p := range pend {
			s.settle(ctx, op, p)
		}
		if ierr != nil {
			// The session exists without its GC entry (Redis still
			// expires it at its absolute expiry); report the failure as
			// a lost reply would be.
			return nil, s.fail(op+": gc index", ierr)
		}
	case "conflict":
		s.release(ctx, reserved)
		return nil, fmt.Errorf("redisstore: %s: session ID or token hash exists: %w", op, sessiond.ErrConflict)
	case "limit":
		s.release(ctx, reserved)
		return nil, fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrLimitReached)
	default:
		return nil, s.fail(op, errCorrupt)
	}

	s.routes.put(reserve[0], tag)
	for _, k := range reserve[1:] {
		s.routes.put(k, tokVal)
	}

	evicted := make([]sessiond.Revocation, 0, (len(reply)-1)/2)
	for i := 1; i+1 < len(reply); i += 2 {
		id, _ := field(&reply[i])
		e, _ := field(&reply[i+1])
		exp, err := decTime(e)
		if err != nil {
			return nil, s.fail(op, errCorrupt)
		}
		evicted = append(evicted, sessiond.Revocation{
			SessionID: sessiond.SessionID(id), Subject: sess.Subject,
			RevokedAt: sess.CreatedAt, ExpiresAt: exp, Reason: sessiond.ReasonLimit,
		})
		s.wrote(s.sessKey(tag, sessiond.SessionID(id)))
	}
	if s.crossSlot {
		// createRecordedScript recorded them.
		return evicted, nil
	}
	toRecord := evicted
	if sess.Revoked() {
		toRecord = append(slices.Clip(evicted), sessiond.Revocation{
			SessionID: sess.ID, Subject: sess.Subject, RevokedAt: sess.RevokedAt,
			ExpiresAt: sess.ExpiresAt, Reason: sess.RevokeReason,
		})
	}
	if err := s.record(ctx, toRecord, true); err != nil {
		return nil, s.fail(op+": record evictions", err)
	}
	return evicted, nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// index enters a session in the global indexes, and in the live index of
// strategy if live; see indexScript.
func (s *Store) index(ctx context.Context, tag string, id sessiond.SessionID, earliest, expires time.Time, strategy sessiond.Strategy, live bool) error {
	return indexScript.Exec(ctx, s.client, []string{s.gcKey, s.expKey, s.revKey, s.stratKey}, []string{
		s.liveBase, ref(tag, id), encTime(earliest), encTime(expires), itoa(expiryMS(expires)), string(strategy), boolArg(live),
		boolArg(s.sweepDue(1)),
	}).Error()
}

// release deletes index keys this store reserved for a change that did
// not happen.
func (s *Store) release(ctx context.Context, keys []string) {
	if len(keys) == 0 {
		return
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = s.client.B().Del().Key(k).Build()
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			// They expire with the session they were reserved for, and
			// point at nothing meanwhile.
			s.log.Warn("redisstore: release reserved keys", "err", err.Error())
			return
		}
	}
}

// releaseUnless releases key, reserved for a swap that failed, unless the
// swap's script released it already.
func (s *Store) releaseUnless(ctx context.Context, released bool, key string) {
	if !released {
		s.release(ctx, []string{key})
	}
}

// Get returns the session with ID id, revoked and expired ones included,
// or ErrNotFound. A session Redis has expired (past its absolute expiry) is
// not found. Get always reads Redis, never the client-side cache.
func (s *Store) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	const op = "get session"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	sess, remembered, err := s.get(ctx, op, id, false)
	if err == errGetNotFound && remembered {
		sess, _, err = s.get(ctx, op, id, true)
	}
	return sess, err
}

func (s *Store) get(ctx context.Context, op string, id sessiond.SessionID, fresh bool) (*sessiond.Session, bool, error) {
	tag, remembered, err := s.route(ctx, s.sidKey(id), fresh)
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return nil, false, errGetNotFound
		}
		return nil, false, s.fail(op, err)
	}
	f, err := s.client.Do(ctx, rueidis.Completed(s.lookupCmd(s.sessKey(tag, id), ""))).ToArray()
	if err != nil {
		return nil, false, s.fail(op, err)
	}
	sess, ok, err := decSession(id, f)
	switch {
	case err != nil:
		return nil, false, s.fail(op, err)
	case !ok:
		return nil, remembered, errGetNotFound
	}
	return sess, false, nil
}

// Lookup returns the token with hash h and its session, or ErrNotFound. It
// reads the token's index key (remembered after the first time, see
// routes), then the session hash: one round trip for a token seen before.
// With Options.ClientCache the session comes from the client-side cache,
// which Redis invalidates when the session changes.
func (s *Store) Lookup(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	const op = "lookup token"
	if err := ctxErr(ctx, op); err != nil {
		return sessiond.Token{}, nil, err
	}
	var gen0 uint64
	if s.dec != nil {
		now := time.Now()
		if tok, sess, ok := s.dec.get(h, now); ok {
			return tok, sess, nil
		}
		gen0 = s.dec.gen.Load()
	}
	var hx [2 * len(h)]byte
	hex.Encode(hx[:], h[:])
	// Built from the stack copy: one allocation each.
	tokKey := s.prefix + ":tok:" + string(hx[:])
	tokField := tokenFieldPrefix + string(hx[:])
	var cachedUntil time.Time
	tok, sess, key, remembered, err := s.lookup(ctx, op, h, tokKey, tokField, false, &cachedUntil)
	if err == errLookupNotFound && remembered {
		tok, sess, key, _, err = s.lookup(ctx, op, h, tokKey, tokField, true, &cachedUntil)
	}
	if err == nil && s.dec != nil && key != "" {
		s.dec.put(gen0, h, key, tok, sess, time.Now(), cachedUntil)
	}
	return tok, sess, err
}

// lookup sets *cachedUntil to when the client-side cache entry the session
// was read from expires (zero when it came from Redis itself).
func (s *Store) lookup(ctx context.Context, op string, h sessiond.TokenHash, tokKey, tokField string, fresh bool, cachedUntil *time.Time) (sessiond.Token, *sessiond.Session, string, bool, error) {
	v, remembered, err := s.route(ctx, tokKey, fresh)
	if err != nil {
		if rueidis.IsRedisNil(err) {
			return sessiond.Token{}, nil, "", false, errLookupNotFound
		}
		return sessiond.Token{}, nil, "", false, s.fail(op, err)
	}
	tag, _, id, ok := parseTokIndex(v)
	if !ok {
		return sessiond.Token{}, nil, "", false, s.fail(op, errCorrupt)
	}
	key := s.sessKey(tag, id)
	// Only a read through the client-side cache leaves Redis tracking the
	// key for this client; the decoded cache may keep only such reads (the
	// key is returned for them alone), or it would miss the invalidation of
	// a later change.
	res, tracked := s.read(ctx, key, func() rueidis.Cacheable { return s.lookupCmd(key, tokField) })
	f, err := res.ToArray()
	if err != nil {
		return sessiond.Token{}, nil, "", false, s.fail(op, err)
	}
	*cachedUntil = time.Time{}
	if pxat := res.CachePXAT(); pxat > 0 {
		*cachedUntil = time.UnixMilli(pxat)
	}
	if len(f) != nSessionFields+1 {
		return sessiond.Token{}, nil, "", false, s.fail(op, errCorrupt)
	}
	tv, present := field(&f[nSessionFields])
	if !present {
		return sessiond.Token{}, nil, "", remembered, errLookupNotFound
	}
	sess, ok, err := decSession(id, f[:nSessionFields])
	switch {
	case err != nil:
		return sessiond.Token{}, nil, "", false, s.fail(op, err)
	case !ok:
		return sessiond.Token{}, nil, "", remembered, errLookupNotFound
	}
	tok, err := decToken(tv, h, id)
	if err != nil {
		return sessiond.Token{}, nil, "", false, s.fail(op, err)
	}
	if !tracked {
		key = ""
	}
	return tok, sess, key, false, nil
}

// Touch records activity on session id. ErrNotFound if the session does
// not exist, ErrRevoked if it is revoked (decided in the script; nothing
// changes).
func (s *Store) Touch(ctx context.Context, id sessiond.SessionID, lastActive, idleExpires time.Time) error {
	return s.touch(ctx, id, lastActive, idleExpires, nil)
}

// touch is Touch and, when block (a records block) is not nil,
// TouchRecorded: outside a Cluster one touchRecordedScript then writes the
// activity, block and the index entries together; on a Cluster the touch
// keeps block pending in the session's slot, then moves it (settle).
func (s *Store) touch(ctx context.Context, id sessiond.SessionID, lastActive, idleExpires time.Time, block []string) error {
	const op = "touch session"
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	if block != nil && records(block) == 0 {
		block = nil
	}
	// Counted once, not per try.
	sweep := block != nil && s.sweepDue(1+records(block))
	for fresh := false; ; fresh = true {
		tag, remembered, err := s.route(ctx, s.sidKey(id), fresh)
		if err != nil {
			return s.fail(op, err)
		}
		key := s.sessKey(tag, id)
		ak, aa := s.activityArgs(tag, id, idleExpires)
		args := []string{encTime(lastActive), encTime(idleExpires)}
		var (
			reply []rueidis.RedisMessage
			ierr  error   // from the global indexes, when a script of their own
			pend  pending // on a Cluster, with block
		)
		switch {
		case block == nil:
			tr, ar := s.execPair(ctx, touchScript, []string{key}, args, activityScript, ak, aa)
			reply, err = tr.ToArray()
			ierr = ar.Error()
		case !s.crossSlot:
			if pend, err = s.pendFor(tag, block); err != nil {
				return wrap(op, err)
			}
			tr, ar := s.execPair(ctx, touchPendingScript, []string{key, pend.key}, append(args, pend.field, pend.payload), activityScript, ak, aa)
			reply, err = tr.ToArray()
			ierr = ar.Error()
		default:
			keys := append(append([]string{key}, s.recordKeys()...), ak...)
			args = append(s.recordsHeader(args, sweep), aa[0], aa[1])
			reply, err = touchRecordedScript.Exec(ctx, s.client, keys, append(args, block...)).ToArray()
		}
		if err != nil {
			return s.fail(op, err)
		}
		s.wrote(key)
		switch status, _ := field(&reply[0]); status {
		case "ok":
			if pend.key != "" {
				s.settle(ctx, op, pend)
			}
			if ierr != nil {
				return s.fail(op+": indexes", ierr)
			}
			return nil
		case "revoked":
			return fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrRevoked)
		case "notfound":
			if remembered {
				continue
			}
			return fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrNotFound)
		default:
			return s.fail(op, errCorrupt)
		}
	}
}

// activityArgs are the keys and arguments of activityScript, which moves
// a session's entries in the GC and live indexes to its new idle expiry.
// It is sent in the same round trip as the write of that expiry, whatever
// the write finds (revoked, gone): it can only change entries the session
// still has.
func (s *Store) activityArgs(tag string, id sessiond.SessionID, idle time.Time) (keys, args []string) {
	return []string{s.gcKey, s.expKey, s.stratKey}, []string{s.liveBase, ref(tag, id), encTime(idle)}
}

// SwapRefresh retires sw.Old and stores sw.Next in one script, and writes
// the session's activity. ErrNotFound if Old is not a stored refresh
// token, ErrInvalidArgument if Next is not a refresh token of Old's
// session, ErrRevoked if that session is revoked (decided in the script,
// so a revocation between the caller's check and the swap still wins),
// ErrRefreshReused if Old was retired outside the grace window (the first
// that applies, in this order); ErrConflict if Next's hash exists, found
// before ErrRevoked and ErrRefreshReused (Next's route key is reserved
// first). In each case nothing changes.
func (s *Store) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	const op = "swap refresh token"
	if err := ctxErr(ctx, op, sw.Validate()); err != nil {
		return err
	}
	remembered, err := s.swap(ctx, op, sw, false)
	if remembered && errors.Is(err, sessiond.ErrNotFound) {
		_, err = s.swap(ctx, op, sw, true)
	}
	return err
}

func (s *Store) swap(ctx context.Context, op string, sw sessiond.RefreshSwap, fresh bool) (remembered bool, err error) {
	oldHex := hexHash(sw.Old)
	v, remembered, err := s.route(ctx, s.tokKey(oldHex), fresh)
	if err != nil {
		return false, s.fail(op, err)
	}
	tag, expMS, id, ok := parseTokIndex(v)
	if !ok {
		return false, s.fail(op, errCorrupt)
	}
	if err := sw.CheckSession(id); err != nil {
		return false, wrap(op, err)
	}
	nextKey := s.tokKey(hexHash(sw.Next.Hash))
	key := s.sessKey(tag, id)
	ak, aa := s.activityArgs(tag, id, sw.IdleExpiresAt)
	script, keys := swapScript, []string{key}
	args := []string{
		tokenFieldPrefix + oldHex, tokenFieldPrefix + hexHash(sw.Next.Hash), encToken(sw.Next),
		encTime(sw.Now), encTime(sw.GraceSince), encTime(sw.LastActiveAt), encTime(sw.IdleExpiresAt),
	}
	carried := len(sw.Events) > 0 || len(sw.Deliveries) > 0
	// reserved: outside a Cluster the script reserves the next token's
	// route key itself (and deletes it when the swap fails), and writes
	// the records and the activity's index entries with the swap.
	reserved := s.crossSlot
	var (
		sr, ar rueidis.RedisResult
		pend   pending // on a Cluster, when carried
	)
	if reserved {
		keys = append(append(append(keys, s.recordKeys()...), nextKey), ak...)
		args = append(s.recordsHeader(args, s.sweepDue(1+len(sw.Events)+len(sw.Deliveries))), v, itoa(expMS), aa[0], aa[1])
		if args, err = appendBlock(args, sessiond.ChangeRecords{Events: sw.Events, Deliveries: sw.Deliveries}); err != nil {
			return false, wrap(op, err)
		}
		sr = swapReservedScript.Exec(ctx, s.client, keys, args)
	} else {
		if carried {
			// The records are kept pending in the session's slot by the
			// swap's own script, then moved (settle).
			block, err := appendBlock(nil, sessiond.ChangeRecords{Events: sw.Events, Deliveries: sw.Deliveries})
			if err != nil {
				return false, wrap(op, err)
			}
			if pend, err = s.pendFor(tag, block); err != nil {
				return false, wrap(op, err)
			}
			script, keys, args = swapPendingScript, append(keys, pend.key), append(args, pend.field, pend.payload)
		}
		if err := s.client.Do(ctx, s.client.B().Set().Key(nextKey).Value(v).Nx().PxatMillisecondsTimestamp(expMS).Build()).Error(); err != nil {
			if rueidis.IsRedisNil(err) {
				return false, fmt.Errorf("redisstore: %s: next token hash exists: %w", op, sessiond.ErrConflict)
			}
			return false, s.fail(op, err)
		}
		sr, ar = s.execPair(ctx, script, keys, args, activityScript, ak, aa)
	}
	reply, err := sr.ToArray()
	var ierr error
	if !reserved {
		ierr = ar.Error()
	}
	if err != nil {
		// The script may have run: the reservation stays.
		return false, s.fail(op, err)
	}
	s.wrote(key)
	switch status, _ := field(&reply[0]); status {
	case "ok":
		s.routes.put(nextKey, v)
		if carried && !s.crossSlot {
			s.settle(ctx, op, pend)
		}
		if ierr != nil {
			return false, s.fail(op+": indexes", ierr)
		}
		return false, nil
	case "notfound":
		s.releaseUnless(ctx, reserved, nextKey)
		return remembered, fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrNotFound)
	case "revoked":
		s.releaseUnless(ctx, reserved, nextKey)
		return false, fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrRevoked)
	case "reused":
		s.releaseUnless(ctx, reserved, nextKey)
		return false, fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrRefreshReused)
	case "conflict":
		s.releaseUnless(ctx, reserved, nextKey)
		return false, fmt.Errorf("redisstore: %s: next token hash exists: %w", op, sessiond.ErrConflict)
	case "taken":
		return false, fmt.Errorf("redisstore: %s: next token hash exists: %w", op, sessiond.ErrConflict)
	}
	return false, s.fail(op, errCorrupt)
}

// List returns subject's sessions live at now, oldest first; an empty,
// non-nil slice when there are none. It reads them listPage a script
// (subjectPages), so that a subject with very many sessions does not hold
// Redis for one long script.
func (s *Store) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	return s.list(ctx, subject, now, listPage)
}

func (s *Store) list(ctx context.Context, subject string, now time.Time, page int) ([]*sessiond.Session, error) {
	const op = "list sessions"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	out := []*sessiond.Session{}
	const stride = 1 + nSessionFields
	err := s.subjectPages(ctx, listScript, subject, now, page, func(rows []rueidis.RedisMessage) error {
		for i := 0; i+stride <= len(rows); i += stride {
			id, _ := field(&rows[i])
			sess, ok, err := decSession(sessiond.SessionID(id), rows[i+1:i+stride])
			if err != nil {
				return err
			}
			if ok && sess.Subject == subject && sess.Live(now) {
				out = append(out, sess)
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(op, err)
	}
	slices.SortFunc(out, func(a, b *sessiond.Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Page sizes of the walks through a subject's index: sessions read by one
// script. A List page holds whole sessions (claims of up to
// sessiond.MaxClaimsBytes each), a SubjectClients page their IDs and
// clients only. Either is about 1.1–1.5 ms of Redis's CPU (21–24 and
// 9–11 µs a session with 4 KB of claims), well inside the 10 ms a script
// may hold Redis (docs/PERFORMANCE.md, "Revoking a huge subject's
// sessions").
const (
	listPage    = 64
	clientsPage = 128
)

// subjectPages walks subject's index with script (subject_page), count
// members a call, from the first member whose absolute expiry is after
// now, and hands fn what each call returns after the position, until the
// index is walked or fn fails. Each step goes on from the last member the
// one before read (next_page), so a session present for the whole walk is
// read once; one added or removed meanwhile may or may not be.
func (s *Store) subjectPages(ctx context.Context, script *rueidis.Lua, subject string, now time.Time, count int,
	fn func(rows []rueidis.RedisMessage) error) error {
	tag := tagOf(subject)
	keys := []string{s.idxKey(tag)}
	args := []string{s.sessBase(tag), subject, encTime(now), "", "", strconv.Itoa(count)}
	for {
		reply, err := script.Exec(ctx, s.client, keys, args).ToArray()
		if err != nil {
			return err
		}
		if len(reply) < 3 {
			return errCorrupt
		}
		read, err := reply[0].AsInt64()
		if err != nil {
			return errCorrupt
		}
		if err := fn(reply[3:]); err != nil {
			return err
		}
		if read < int64(count) {
			return nil
		}
		args[3], _ = field(&reply[1])
		args[4], _ = field(&reply[2])
	}
}
