package apikey

import (
	"context"
	"slices"

	"github.com/sessiond/sessiond"
)

// Actions of a Change, as the server's event log names them
// (api_key.created, api_key.scopes_changed, api_key.revoked).
const (
	ActionCreated = "created"
	ActionScopes  = "scopes_changed"
	ActionRevoked = "revoked"
	// ActionNotReceived is a key revoked because nobody received it (its
	// creation's outcome was unknown): api_key.revoked, reason
	// not_received.
	ActionNotReceived = "not_received"
)

// Change is what one write of the set did to one key.
type Change struct {
	Action string
	Key    Key // its hash left out
}

// Recorder has the events of the set's changes written in the set's own
// write, so that a store that fails (a full disk) keeps neither the change
// nor its event, never one without the other. The server's event log
// implements it.
type Recorder interface {
	// Prepare returns the event of c and the records the store writes
	// with the change (the event as the log keeps it, its webhook
	// deliveries). ok false: they cannot go with the change, and the
	// caller records c after it instead.
	Prepare(ctx context.Context, c Change) (e sessiond.Event, rec sessiond.ChangeRecords, ok bool)
	// Committed tells that the change carrying e, with its records, is
	// committed: what is left (a log line, metrics) is done.
	Committed(ctx context.Context, e sessiond.Event)
}

// prepare returns the events of cs and their records for the set's write,
// and the store to write them with, when r (not nil) and the store can
// write them with the change (sessiond.MetaChangeRecorder); carried false
// otherwise, with nothing prepared kept: all of a write's changes go with
// it, or none does.
func (k *Keys) prepare(ctx context.Context, r Recorder, cs []Change) (events []sessiond.Event, rec sessiond.ChangeRecords,
	mr sessiond.MetaChangeRecorder, carried bool) {
	if r == nil || len(cs) == 0 {
		return nil, rec, nil, false
	}
	mr, ok := k.meta.(sessiond.MetaChangeRecorder)
	if !ok || !mr.WritesChangeEvents() {
		return nil, rec, nil, false
	}
	for _, c := range cs {
		c.Key.Hash = ""
		e, one, ok := r.Prepare(ctx, c)
		if !ok {
			return nil, sessiond.ChangeRecords{}, nil, false
		}
		events = append(events, e)
		rec.Events = append(rec.Events, one.Events...)
		rec.Deliveries = append(rec.Deliveries, one.Deliveries...)
	}
	return events, rec, mr, true
}

// CreateRecorded is Create that, with r, writes the key's creation
// (ActionCreated) with it when the store can, and reports whether it did
// (recorded false: the caller records it, as after Create).
func (k *Keys) CreateRecorded(ctx context.Context, r Recorder, name string, scopes ...Scope) (secret sessiond.Secret, key Key, recorded bool, err error) {
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	scopes, err = cleanScopes(scopes)
	if err != nil {
		return "", Key{}, false, err
	}
	secret, err = NewSecret()
	if err != nil {
		return "", Key{}, false, err
	}
	key, recorded, err = k.addRecorded(ctx, r, name, secret, scopes, nil)
	return secret, key, recorded, err
}

// SetScopesRecorded is SetScopes that, with r, writes the change
// (ActionScopes) with it when the store can, and reports whether it did.
func (k *Keys) SetScopesRecorded(ctx context.Context, r Recorder, id string, scopes []Scope) (Key, bool, error) {
	return k.setScopes(ctx, r, id, scopes)
}

// RevokeOrFenceRecorded is RevokeOrFence that, with r, writes the key's
// revocation (ActionRevoked, only when this call revoked it) with it when
// the store can, and reports whether it did.
func (k *Keys) RevokeOrFenceRecorded(ctx context.Context, r Recorder, id string) (found, changed, recorded bool, err error) {
	return k.revokeOrFence(ctx, r, id)
}

// RevokeUnreceivedRecorded is RevokeUnreceived that, with r, writes with
// the revocation, when the store can, the key's creation (ActionCreated,
// only when key was not found in the set: a creation that landed was
// recorded with it) and its revocation (ActionNotReceived, when this call
// revoked it), and reports whether it did. When key's create carried its
// events in its write and the key is found stored, r is told they are
// committed (their log line and metrics), once.
func (k *Keys) RevokeUnreceivedRecorded(ctx context.Context, r Recorder, key Key) (stored, changed, recorded bool, err error) {
	return k.revokeUnreceived(ctx, r, key)
}

// keyChanges returns the changes of a write: action on key, for each
// action whose condition holds.
func keyChanges(key Key, actions ...actionIf) []Change {
	var out []Change
	for _, a := range actions {
		if a.when {
			out = append(out, Change{Action: a.action, Key: key})
		}
	}
	return slices.Clip(out)
}

type actionIf struct {
	action string
	when   bool
}
