package redisstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/feedwake"
)

var _ sessiond.MetaNotifier = (*Store)(nil)

// Reconnect backoff of the revocation feed.
const (
	feedMinDelay = 50 * time.Millisecond
	feedMaxDelay = 2 * time.Second
)

// metaMessage is a notice on the revocation channel that a MetaStore
// document changed (PublishMeta). It has no id, so a node from before it
// existed drops it as malformed: that node learns of the change at its
// next poll, as before.
type metaMessage struct {
	Meta string `json:"meta"`
}

// PublishMeta publishes a notice that the MetaStore document name changed
// on the store's channel: every SubscribeFeed subscription with the same
// prefix, on every node, calls its MetaChanged with name. See
// sessiond.MetaNotifier.
func (s *Store) PublishMeta(ctx context.Context, name string) error {
	const op = "publish meta"
	if err := ctxErr(ctx, op, sessiond.CheckMetaName(name)); err != nil {
		return err
	}
	b, err := json.Marshal(metaMessage{Meta: name})
	if err != nil {
		return wrap(op, err)
	}
	if err := s.client.Do(ctx, s.client.B().Publish().Channel(s.channel).Message(string(b)).Build()).Error(); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// SubscribeRevocations is SubscribeFeed with only fn and resync.
func (s *Store) SubscribeRevocations(ctx context.Context, fn func(sessiond.Revocation), resync func()) error {
	return s.SubscribeFeed(ctx, sessiond.Feed{Revoked: fn, Resync: resync})
}

// SubscribeFeed calls f.Revoked for every revocation published on the
// store's channel (by any Store with the same prefix, this one included),
// and f.MetaChanged for every PublishMeta, until ctx ends or the store is
// closed; nil callbacks are skipped. It subscribes on a connection of
// its own and returns once Redis has confirmed the subscription; if that
// fails it returns ErrStoreUnavailable and nothing keeps running.
//
// When the connection breaks it reconnects with backoff and, once
// subscribed again, calls resync so the caller can catch up with
// Revocations: messages published while it was away are lost. A message
// can also arrive twice (on a Redis Cluster, through the node the feed
// resubscribed on), so the callbacks must be idempotent, as adding to a
// revoked set is. Revoked and MetaChanged are called from one goroutine, in
// order of publication, and must not block for long (they hold up later
// messages); Resync runs on another goroutine and may overlap with them.
func (s *Store) SubscribeFeed(ctx context.Context, sub sessiond.Feed) error {
	const op = "subscribe revocations"
	if sub.Revoked == nil {
		sub.Revoked = func(sessiond.Revocation) {}
	}
	if sub.Resync == nil {
		sub.Resync = func() {}
	}
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	if s.ctx.Err() != nil { // closed: the feed would end before it began
		return wrap(op, errClosed)
	}
	// The feed ends with ctx or with the store.
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	f := &feed{s: s, fn: sub.Revoked, resync: sub.Resync, meta: sub.MetaChanged}
	conn, err := f.subscribe(ctx)
	if err != nil {
		stop()
		cancel()
		return s.fail(op, err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		defer stop()
		f.run(ctx, conn)
	}()
	return nil
}

type feed struct {
	s      *Store
	fn     func(sessiond.Revocation)
	resync func()
	meta   func(name string) // nil: meta notices are ignored
}

// feedConn is one subscribed dedicated connection.
type feedConn struct {
	closed  <-chan error // receives when the connection breaks
	release func()
}

func (f *feed) subscribe(ctx context.Context) (feedConn, error) {
	dc, release := f.s.client.Dedicate()
	closed := dc.SetPubSubHooks(rueidis.PubSubHooks{
		OnMessage: func(m rueidis.PubSubMessage) { f.deliver(m.Message) },
	})
	if err := dc.Do(ctx, dc.B().Subscribe().Channel(f.s.channel).Build()).Error(); err != nil {
		release()
		return feedConn{}, err
	}
	return feedConn{closed: closed, release: release}, nil
}

func (f *feed) deliver(payload string) {
	var mm metaMessage
	if err := json.Unmarshal([]byte(payload), &mm); err == nil && mm.Meta != "" {
		if f.meta != nil {
			f.meta(mm.Meta)
		}
		return
	}
	var m feedMessage
	if err := json.Unmarshal([]byte(payload), &m); err != nil || m.ID == "" {
		f.s.log.Warn("redisstore: malformed revocation message", "channel", f.s.channel, "len", len(payload))
		return
	}
	r := sessiond.Revocation{
		SessionID: sessiond.SessionID(m.ID),
		Subject:   m.Subject,
		Reason:    sessiond.RevokeReason(m.Reason),
	}
	if m.RevokedAt != 0 {
		r.RevokedAt = time.UnixMicro(m.RevokedAt).UTC()
	}
	if m.ExpiresAt != 0 {
		r.ExpiresAt = time.UnixMicro(m.ExpiresAt).UTC()
	}
	f.fn(r)
}

// run keeps the subscription alive until ctx ends.
func (f *feed) run(ctx context.Context, conn feedConn) {
	for {
		select {
		case <-ctx.Done():
			conn.release()
			return
		case err := <-conn.closed:
			conn.release()
			msg := "closed"
			if err != nil {
				msg = err.Error()
			}
			f.s.log.Warn("redisstore: revocation feed disconnected; resubscribing", "channel", f.s.channel, "err", msg)
		}
		var ok bool
		if conn, ok = f.reconnect(ctx); !ok {
			return
		}
		f.s.log.Info("redisstore: revocation feed resubscribed; resyncing", "channel", f.s.channel)
		f.resync()
	}
}

// reconnect subscribes again, retrying with backoff; false when ctx ends.
// A wait is cut short when a command of the store's client is answered
// (closeGuard): revocations published during the outage are then caught
// up one resubscription after Redis is back, not up to feedMaxDelay later.
func (f *feed) reconnect(ctx context.Context) (feedConn, bool) {
	woken, stop := f.s.wake.Watch()
	defer stop()
	delay := time.Duration(0)
	var tried time.Time
	wake := woken // nil for one wait after a woken attempt failed
	for {
		wasWoken := false
		if delay > 0 {
			var live bool
			if live, wasWoken = feedwake.Wait(ctx, wake, delay, tried.Add(feedMinDelay)); !live {
				return feedConn{}, false
			}
		}
		if ctx.Err() != nil {
			return feedConn{}, false
		}
		tried = time.Now()
		conn, err := f.subscribe(ctx)
		if err == nil {
			return conn, true
		}
		// Woken, and still refused (Redis answers commands but not this
		// subscription: maxclients, a failover of the feed's node): the
		// next wait is whole, or the feed would retry, and log, at the
		// rate of every command answered.
		wake = woken
		if wasWoken {
			wake = nil
		}
		delay = min(max(2*delay, feedMinDelay), feedMaxDelay)
		f.s.log.Warn("redisstore: resubscribe revocation feed", "channel", f.s.channel, "err", err.Error(), "retry_in", delay.String())
	}
}
