package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// subjectRevocations decodes the {id, expiry, created, ...} answer of a
// subject revocation script: the revocations, oldest session first.
func subjectRevocations(reply []rueidis.RedisMessage, subject string, at time.Time, reason sessiond.RevokeReason) ([]sessiond.Revocation, error) {
	rs := make([]revoked, 0, len(reply)/3)
	for i := 0; i+2 < len(reply); i += 3 {
		id, _ := field(&reply[i])
		e, _ := field(&reply[i+1])
		c, _ := field(&reply[i+2])
		exp, err1 := decTime(e)
		created, err2 := decTime(c)
		if err1 != nil || err2 != nil {
			return nil, errCorrupt
		}
		rs = append(rs, revoked{created: created, r: sessiond.Revocation{
			SessionID: sessiond.SessionID(id), Subject: subject, RevokedAt: at, ExpiresAt: exp, Reason: reason,
		}})
	}
	return oldestFirst(rs), nil
}

// Revoke marks session id revoked at at for reason and returns it. A
// session already revoked is returned unchanged. ErrNotFound. Every
// revocation is recorded for Revocations and published on the revocation
// channel before Revoke returns: outside a Redis Cluster by the script that
// revokes it, on a Cluster by a second one (record); if that fails Revoke
// returns ErrStoreUnavailable, and calling it again records and publishes
// what the first call could not (a revocation already recorded is not
// published again).
func (s *Store) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) (*sessiond.Session, error) {
	const op = "revoke session"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	if at.IsZero() {
		return nil, fmt.Errorf("redisstore: %s: %w", op, &sessiond.ArgumentError{Field: "at", Msg: "must be set"})
	}
	for fresh := false; ; fresh = true {
		tag, remembered, err := s.route(ctx, s.sidKey(id), fresh)
		if err != nil {
			return nil, s.fail(op, err)
		}
		key := s.sessKey(tag, id)
		var f []rueidis.RedisMessage
		if s.crossSlot {
			// One script: the revocation (or the one found), its index
			// entries and its feed message.
			f, err = s.revokeRecorded(ctx, key, tag, id, at, reason, noRecords, false)
		} else {
			f, err = s.execAcked(ctx, op, revokeScript, rueidis.LuaExec{Keys: []string{key}, Args: []string{encTime(at), string(reason)}})[0].ToArray()
		}
		if err != nil {
			if rueidis.IsRedisNil(err) && remembered {
				continue
			}
			return nil, s.fail(op, err)
		}
		s.wrote(key)
		sess, ok, err := decSession(id, f)
		switch {
		case err != nil:
			return nil, s.fail(op, err)
		case !ok:
			return nil, fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrNotFound)
		}
		if err := s.killedAfterRevoke(); err != nil {
			return nil, err
		}
		if !s.crossSlot {
			if err := s.recordAcked(ctx, op, []sessiond.Revocation{revocationOf(sess)}, true); err != nil {
				return nil, s.fail(op+": record", err)
			}
		}
		return sess, nil
	}
}

func revocationOf(s *sessiond.Session) sessiond.Revocation {
	return sessiond.Revocation{SessionID: s.ID, Subject: s.Subject, RevokedAt: s.RevokedAt, ExpiresAt: s.ExpiresAt, Reason: s.RevokeReason}
}

// RevokeSubject revokes every session of subject live at at (not
// revoked, before both expiries) except the one with ID except, and
// returns what it revoked, oldest session first (non-nil). It walks the
// subject a batch of at most 128 sessions a script (revokeSubjectBatch),
// so that no script holds Redis for long: a session live for the whole
// call is revoked, one created or revoked during it may or may not be.
// It records and publishes them as Revoke does: outside a Cluster in each
// batch's script. Each batch waits for replicas until a wait falls short;
// the rest of the walk does not. On an error part way, the batches before
// it stay revoked.
func (s *Store) RevokeSubject(ctx context.Context, subject string, except sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) ([]sessiond.Revocation, error) {
	const op = "revoke subject"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	if at.IsZero() {
		return nil, fmt.Errorf("redisstore: %s: %w", op, &sessiond.ArgumentError{Field: "at", Msg: "must be set"})
	}
	tag := tagOf(subject)
	var (
		rs     []revoked
		gaveUp atomic.Bool // a wait for replicas fell short: the rest of the walk does not wait
	)
	for cur := (batchCursor{}); ; {
		b, err := s.revokeSubjectBatch(ctx, op, tag, subject, except, at, reason, cur, subjectBatch, &gaveUp, nil)
		if err != nil {
			return nil, err
		}
		for i, r := range b.revs {
			rs = append(rs, revoked{r: r, created: b.created[i]})
		}
		if !b.more {
			break
		}
		cur = b.pos
	}
	return oldestFirst(rs), nil
}

// feedMessage is the JSON payload published on <prefix>:revocations. Times
// are unix microseconds.
type feedMessage struct {
	ID        string `json:"id"`
	Subject   string `json:"subject"`
	RevokedAt int64  `json:"revoked_at"`
	ExpiresAt int64  `json:"expires_at"`
	Reason    string `json:"reason"`
}

// recordBatch bounds the revocations of one record script call, and
// quietBatch those of one that publishes nothing (Lua's unpack bounds it).
const (
	recordBatch = 256
	quietBatch  = 500
)

// noRecords is an empty records block: a change that writes no event.
var noRecords = []string{"0", "0"}

// recordIndexKeys are the global indexes a revocation is recorded in, in
// the order recordScript and recordFn's rec_open take them: revocation,
// GC, expiry, strategies.
func (s *Store) recordIndexKeys() []string { return []string{s.revKey, s.gcKey, s.expKey, s.stratKey} }

// record enters revocations in the revocation index, takes them out of
// the live indexes and, with publish, publishes each new one, with a
// context that outlives the caller's: the revocations already happened.
// Chunks after the first are pipelined. Outside a Cluster only bulk
// revocations need it: the scripts that revoke otherwise record in the
// same step. It does not wait for replicas: a login's evictions use it.
func (s *Store) record(ctx context.Context, revs []sessiond.Revocation, publish bool) error {
	return s.recordExec(ctx, "", nil, revs, publish)
}

// recordAcked is record for revocation op, waiting for replicas
// (execAcked): a node that rebuilds its revoked set after a failover
// reads the revocation index.
func (s *Store) recordAcked(ctx context.Context, op string, revs []sessiond.Revocation, publish bool) error {
	return s.recordExec(ctx, op, nil, revs, publish)
}

// recordExec is record; a non-empty op waits for replicas, unless gaveUp
// (execAckedUnless).
func (s *Store) recordExec(ctx context.Context, op string, gaveUp *atomic.Bool, revs []sessiond.Revocation, publish bool) error {
	if len(revs) == 0 {
		return nil
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	channel, batch := "", quietBatch
	if publish {
		channel, batch = s.channel, recordBatch
	}
	keys := s.recordIndexKeys()
	var execs []rueidis.LuaExec
	for chunk := range slices.Chunk(revs, batch) {
		args := make([]string, 0, 2+5*len(chunk))
		args = append(args, channel, s.liveBase)
		for _, r := range chunk {
			var payload []byte
			if publish {
				var err error
				payload, err = json.Marshal(feedMessage{
					ID: string(r.SessionID), Subject: r.Subject, Reason: string(r.Reason),
					RevokedAt: micros(r.RevokedAt), ExpiresAt: micros(r.ExpiresAt),
				})
				if err != nil {
					return err
				}
			}
			args = append(args, encTime(r.RevokedAt), ref(tagOf(r.Subject), r.SessionID), string(payload),
				encTime(r.ExpiresAt), itoa(expiryMS(r.ExpiresAt)))
		}
		execs = append(execs, rueidis.LuaExec{Keys: keys, Args: args})
	}
	var res []rueidis.RedisResult
	switch {
	case op != "":
		res = s.execAckedUnless(ctx, op, gaveUp, recordScript, execs...)
	case len(execs) == 1:
		return recordScript.Exec(ctx, s.client, execs[0].Keys, execs[0].Args).Error()
	default:
		res = recordScript.ExecMulti(ctx, s.client, execs...)
	}
	for _, r := range res {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

// revocationsBatch bounds the reads of one round trip of Revocations.
const revocationsBatch = 512

// Revocations returns the sessions revoked at or after since whose absolute
// expiry is after since, in order of revocation (sessiond.CompareRevocations).
// It reads the revocation index, then what each session needs of its hash
// (readRevoked: the session hash is the truth); entries whose session is
// gone are dropped from the index on the way.
func (s *Store) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	const op = "list revocations"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	members, err := s.revokedSince(ctx, since)
	if err != nil {
		return nil, s.fail(op, err)
	}
	revs, gone, err := s.readRevoked(ctx, members)
	if err != nil {
		return nil, s.fail(op, err)
	}
	out := slices.DeleteFunc(revs, func(r sessiond.Revocation) bool { return r.RevokedAt.Before(since) || !r.ExpiresAt.After(since) })
	if len(gone) > 0 {
		dctx, cancel := detached(ctx)
		if err := s.drop(dctx, gone); err != nil {
			s.log.Warn("redisstore: trim revocation index", "err", err.Error())
		}
		cancel()
	}
	slices.SortFunc(out, sessiond.CompareRevocations)
	return out, nil
}

// revoked is a revocation with its session's creation, its order.
type revoked struct {
	r       sessiond.Revocation
	created time.Time
}

// oldestFirst is the revocations of rs, oldest session first (by
// creation, then ID).
func oldestFirst(rs []revoked) []sessiond.Revocation {
	slices.SortFunc(rs, func(a, b revoked) int {
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return cmp.Compare(a.r.SessionID, b.r.SessionID)
	})
	out := make([]sessiond.Revocation, len(rs))
	for i, r := range rs {
		out[i] = r.r
	}
	return out
}
