// Package setup wires a sessiond.Manager for library users with nothing but
// a store: the hybrid strategy on the b2c lifetimes, opaque refresh tokens,
// JWT access tokens signed by a key ring that persists in the store and is
// shared by every Manager on it (package jwttoken/signing, the server's own
// key ring, rotated every DefaultRotateEvery), and anomaly detection
// (package anomaly) on its default rules. Every part can be overridden
// through Options. Open returns the Manager in a Node, with the ring's
// JWKS and readiness for an app that publishes its keys.
//
// It is a wiring package, like the server: it imports several adapters, so
// the root package and each adapter stay independent of one another.
package setup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/anomaly"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// Default claims of the signed tokens. A key ring belongs to one store, so
// another deployment's tokens never verify here whatever their claims;
// set Issuer and Audience when other programs read the tokens.
const (
	DefaultIssuer   = "urn:sessiond:library"
	DefaultAudience = "urn:sessiond:library:app"
)

// DefaultRotateEvery is how often the key ring introduces a new signing
// key when Options.Keys.RotateEvery is zero: the server's default
// (jwt.key_rotation_interval). A rotation bounds what an undetected leak
// of a key is worth; verifiers see no break, as a new key is published for
// Keys.PublishFor before it signs and the old one verifies until its
// tokens have expired (a verifier must cache the JWKS for less than
// PublishFor, or fetch it again on an unknown kid). With HS256 the new key
// is random, not Keys.HMACSecret: a service checking tokens with that
// secret refuses them from then on. A negative RotateEvery never rotates.
const DefaultRotateEvery = 30 * 24 * time.Hour

// Options adjust what New wires. The zero value is the documented default
// of every field.
type Options struct {
	// Manager is the base sessiond.Options: every field set here is kept
	// (Strategy, Lifetimes, Clock, Logger, Events…). Its Store is replaced
	// by New's store. A Signed set here replaces the shared key ring, an
	// Anomalies set here replaces the default detector.
	Manager sessiond.Options
	// Issuer and Audience of the signed tokens; defaults DefaultIssuer and
	// DefaultAudience. Every Manager sharing a store must use the same.
	Issuer, Audience string
	// Leeway is the clock-skew allowance on JWT times; default none.
	Leeway time.Duration
	// Keys configures the shared key ring (algorithm, scheduled rotation,
	// KEK sealing…). MaxTokenLifetime defaults to the longest token the
	// strategy signs (Lifetimes.Signed: the access lifetime in hybrid),
	// RotateEvery to DefaultRotateEvery (negative: never), Clock and
	// Logger to the Manager's; OnChange is set by New (it purges the
	// Manager's verify cache when a key is removed) and must be nil.
	Keys signing.Options
	// Anomaly configures the default detector. A nil Actions map means
	// anomaly.DefaultActions().
	Anomaly anomaly.Options
	// NoAnomalies turns anomaly detection off (weaker: a stolen token used
	// from another device is not noticed).
	NoAnomalies bool
}

// ErrOnChangeSet: Options.Keys.OnChange is New's to set.
var ErrOnChangeSet = errors.New("setup: Keys.OnChange is set by New")

// New returns a Manager on store with the defaults described in the
// package documentation and opts applied. Close the Manager to stop the
// key ring's poll loop with the Manager's own; New does not close store.
//
// If store is not a sessiond.MetaStore, the key ring lives in this process
// only: tokens stop verifying when it restarts and other processes cannot
// verify them. New logs a warning then.
//
// New is Open without the Node: an app that publishes its JWKS, reports
// readiness or rotates keys calls Open.
func New(ctx context.Context, store sessiond.Store, opts Options) (*sessiond.Manager, error) {
	n, err := Open(ctx, store, opts)
	if err != nil {
		return nil, err
	}
	return n.Manager, nil
}

// Open is New returning the Manager in a Node, with the key ring it wired:
// the JWKS to publish, readiness as the server reports it, rotation and
// the kill switch (Node.Keys). Close the Node (or its Manager) when done.
//
// Open (and New) reads or writes the shared key ring before it checks the
// Manager's options, so a failed call may have left the write behind: a
// ring created, or the stored one resealed with Keys.KEK or, with HS256,
// replaced for a new Keys.HMACSecret. It is the write a successful call
// with the same Keys makes, which the next call with them reads back (a
// call without that KEK fails with signing.ErrKEKRequired, as after any
// start with it); other processes on the store follow it from their next
// poll. A changed KEK or secret is thus rolled out by the first call that
// reaches the store, failed or not.
func Open(ctx context.Context, store sessiond.Store, opts Options) (*Node, error) {
	if store == nil {
		return nil, fmt.Errorf("setup: store is required: %w", sessiond.ErrInvalidArgument)
	}
	if opts.Keys.OnChange != nil {
		return nil, fmt.Errorf("%w: %w", ErrOnChangeSet, sessiond.ErrInvalidArgument)
	}
	mo := opts.Manager
	mo.Store = store
	if mo.Strategy == "" {
		mo.Strategy = sessiond.StrategyHybrid
	}
	if mo.Lifetimes == (sessiond.Lifetimes{}) {
		mo.Lifetimes, _ = sessiond.Preset(sessiond.PresetB2C)
	}
	if mo.Clock == nil {
		mo.Clock = sessiond.SystemClock{}
	}
	log := mo.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if mo.Anomalies == nil && !opts.NoAnomalies {
		ao := opts.Anomaly
		if ao.Actions == nil {
			ao.Actions = anomaly.DefaultActions()
		}
		d, err := anomaly.New(ao)
		if err != nil {
			return nil, fmt.Errorf("setup: %w", err)
		}
		mo.Anomalies = d
	}

	n := &Node{store: store}
	var mgr atomic.Pointer[sessiond.Manager] // set once sessiond.New returns; the key ring's loop may read it before
	if mo.Signed == nil && mo.Strategy != sessiond.StrategyDatabase {
		ring, keys, err := openRing(ctx, store, opts, mo, log, func(removed bool) {
			if m := mgr.Load(); removed && m != nil {
				m.PurgeVerifyCache()
			}
		})
		if err != nil {
			return nil, err
		}
		codec, err := jwttoken.New(ring, jwttoken.Options{
			Issuer:   cmp.Or(opts.Issuer, DefaultIssuer),
			Audience: cmp.Or(opts.Audience, DefaultAudience),
			Leeway:   opts.Leeway,
		})
		if err != nil {
			closeKeys(keys)
			return nil, fmt.Errorf("setup: %w", err)
		}
		mo.Signed = codec
		n.ring, n.Keys = ring, keys
		if keys != nil {
			mo.Background = append(append([]func(context.Context){}, mo.Background...), func(ctx context.Context) {
				keys.Run(ctx)
				keys.Close()
			})
		}
	}
	m, err := sessiond.New(ctx, mo)
	if err != nil {
		closeKeys(n.Keys)
		return nil, err
	}
	mgr.Store(m)
	n.Manager = m
	return n, nil
}

// openRing opens the key ring shared through store, or, when store cannot
// share one, makes one for this process (keys is then nil).
func openRing(ctx context.Context, store sessiond.Store, opts Options, mo sessiond.Options, log *slog.Logger, onChange func(bool)) (*jwttoken.KeyRing, *signing.Keys, error) {
	ko := opts.Keys
	if ko.MaxTokenLifetime == 0 {
		ko.MaxTokenLifetime = mo.Lifetimes.Signed(mo.Strategy)
	}
	if ko.RotateEvery == 0 {
		ko.RotateEvery = DefaultRotateEvery
	}
	meta, ok := store.(sessiond.MetaStore)
	if !ok {
		log.Warn("setup: the store cannot share signing keys (it is not a sessiond.MetaStore): keys live in this process only, so its tokens stop verifying when it restarts and other processes reject them")
		ring, err := jwttoken.NewRing(mo.Clock.Now(), jwttoken.RingOptions{
			Algorithm: ko.Algorithm, HMACSecret: ko.HMACSecret, MaxTokenLifetime: ko.MaxTokenLifetime,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("setup: %w", err)
		}
		return ring, nil, nil
	}
	if ko.Clock == nil {
		ko.Clock = mo.Clock
	}
	if ko.Logger == nil {
		ko.Logger = log
	}
	ko.OnChange = onChange
	keys, err := signing.Open(ctx, meta, ko)
	if err != nil {
		return nil, nil, fmt.Errorf("setup: signing keys: %w", err)
	}
	return keys.Ring(), keys, nil
}

func closeKeys(k *signing.Keys) {
	if k != nil {
		k.Close()
	}
}
