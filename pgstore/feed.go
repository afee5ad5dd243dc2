package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/feedwake"
)

var _ sessiond.MetaNotifier = (*Store)(nil)

// notice is the JSON payload of one revocation on the store's channel.
type notice struct {
	ID        sessiond.SessionID    `json:"id,omitempty"`
	Subject   string                `json:"subject,omitempty"`
	RevokedAt time.Time             `json:"revoked_at,omitzero"`
	ExpiresAt time.Time             `json:"expires_at,omitzero"`
	Reason    sessiond.RevokeReason `json:"reason,omitempty"`
	// Resync asks listeners to reload from Store.Revocations: sent in
	// place of a revocation too large for a NOTIFY payload.
	Resync bool `json:"resync,omitempty"`
	// Meta names a MetaStore document that changed (PublishMeta); such a
	// notice carries nothing else. A node from before Meta existed reads
	// it as a notice without an ID, and resyncs: harmless.
	Meta string `json:"meta,omitempty"`
}

// maxPayload: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const maxPayload = 7999

// payload encodes r for NOTIFY. Subjects are informational, so an
// oversized one is dropped; if the ID alone is too long, listeners are told
// to resync instead.
func payload(r sessiond.Revocation) string {
	n := notice{ID: r.SessionID, Subject: r.Subject, RevokedAt: r.RevokedAt, ExpiresAt: r.ExpiresAt, Reason: r.Reason}
	for range 2 {
		b, err := json.Marshal(n)
		if err == nil && len(b) <= maxPayload {
			return string(b)
		}
		n.Subject = ""
	}
	return `{"resync":true}`
}

// queueNotify queues on b one notification per revocation of revs
// (nothing for none) on the store's channel: sent in a transaction,
// PostgreSQL delivers them when, and only if, it commits. Queued, they go
// out with the change's other statements in one round trip.
func (s *Store) queueNotify(b *pgx.Batch, revs []sessiond.Revocation) {
	if len(revs) == 0 {
		return
	}
	payloads := make([]string, len(revs))
	for i, r := range revs {
		payloads[i] = payload(r)
	}
	b.Queue(s.q.notify, s.channel, payloads)
}

// Listener timing.
const (
	// listenPingInterval: with no notification for this long, the
	// listener pings its connection, so a silently dead one is noticed.
	listenPingInterval = 30 * time.Second
	listenPingTimeout  = 5 * time.Second
	// Reconnect backoff: the first retry is immediate, then it doubles
	// from listenBackoffMin up to listenBackoffMax, with jitter.
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 10 * time.Second
)

// PublishMeta sends a notice that the MetaStore document name changed on
// the store's channel: every SubscribeFeed subscription on this schema, on
// every node, calls its MetaChanged with name. See sessiond.MetaNotifier.
func (s *Store) PublishMeta(ctx context.Context, name string) error {
	const op = "publish meta"
	if s.closed.Load() {
		return errClosed
	}
	if err := sessiond.CheckMetaName(name); err != nil {
		return wrap(op, err)
	}
	b, err := json.Marshal(notice{Meta: name})
	if err != nil {
		return wrap(op, err)
	}
	_, err = s.pool.Exec(ctx, s.q.notify, s.channel, []string{string(b)})
	return s.translate(op, err)
}

// SubscribeRevocations is SubscribeFeed with only fn and resync.
func (s *Store) SubscribeRevocations(ctx context.Context, fn func(sessiond.Revocation), resync func()) error {
	if fn == nil {
		return fmt.Errorf("pgstore: subscribe revocations: %w", &sessiond.ArgumentError{Field: "fn", Msg: "must not be nil"})
	}
	return s.SubscribeFeed(ctx, sessiond.Feed{Revoked: fn, Resync: resync})
}

// SubscribeFeed calls f.Revoked for every revocation made through any
// Store on this schema (this one included), and f.MetaChanged for every
// PublishMeta, until ctx ends or the Store is closed. It holds a dedicated connection (application_name
// "sessiond-listener <schema>") running LISTEN; when that connection is
// lost it reconnects with backoff, listens again, and then calls f.Resync,
// so the caller can catch up with Store.Revocations (and reload its meta
// documents) on what it missed. It returns once the first LISTEN is
// established, or an error matching ErrStoreUnavailable if it cannot be.
// The callbacks (nil ones are skipped) are called from one goroutine, one
// at a time; they should return promptly.
func (s *Store) SubscribeFeed(ctx context.Context, f sessiond.Feed) error {
	const op = "subscribe revocations"
	if f.Revoked == nil {
		f.Revoked = func(sessiond.Revocation) {}
	}
	if f.Resync == nil {
		f.Resync = func() {}
	}
	if s.closed.Load() {
		return errClosed
	}
	conn, err := s.listenConn(ctx)
	if err != nil {
		return s.translate(op, err)
	}
	lctx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(s.bg, cancel)

	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		stopOnClose()
		cancel()
		closeConn(conn)
		return errClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer stopOnClose()
		defer cancel()
		s.listenLoop(lctx, conn, f)
	}()
	return nil
}

// listenConn opens a connection outside the pool and runs LISTEN on it.
func (s *Store) listenConn(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.listen)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx) // the connection is being dropped either way
}

// listenLoop delivers notifications until ctx ends, replacing the
// connection whenever it breaks.
func (s *Store) listenLoop(ctx context.Context, conn *pgx.Conn, f sessiond.Feed) {
	for {
		err := s.wait(ctx, conn, f)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("pgstore: revocation listener lost its connection; reconnecting", "schema", s.schema, "err", err)
		if conn = s.reconnect(ctx); conn == nil {
			return
		}
		s.log.Info("pgstore: revocation listener reconnected; resyncing", "schema", s.schema)
		f.Resync()
	}
}

// wait delivers notifications from conn until it breaks or ctx ends.
func (s *Store) wait(ctx context.Context, conn *pgx.Conn, f sessiond.Feed) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, s.pingEvery)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if n != nil {
			s.deliver(n.Payload, f)
		}
		switch {
		case err == nil:
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case pgconn.Timeout(err) && !conn.IsClosed():
			// Quiet for a while: make sure the server is still there.
			pctx, cancel := context.WithTimeout(ctx, listenPingTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
		}
		return err
	}
}

// reconnect returns a listening connection, retrying with backoff, or nil
// once ctx ends. A wait is cut short when the pool sees the server answer
// again (s.wake): revocations made during the outage are then caught up
// one reconnect after it ends, not up to listenBackoffMax later.
func (s *Store) reconnect(ctx context.Context) *pgx.Conn {
	woken, stop := s.wake.Watch()
	defer stop()
	delay := time.Duration(0)
	var tried time.Time
	wake := woken // nil for one wait after a woken attempt failed
	for {
		wasWoken := false
		if delay > 0 {
			var live bool
			if live, wasWoken = feedwake.Wait(ctx, wake, delay/2+rand.N(delay/2+1), tried.Add(listenBackoffMin)); !live {
				return nil
			}
		}
		tried = time.Now()
		conn, err := s.listenConn(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		// Woken, and still refused (the server answers the pool but not
		// a new listener: max_connections, say): the next wait is whole,
		// or the listener would retry, and log, at the rate of the pool's
		// new connections.
		wake = woken
		if wasWoken {
			wake = nil
		}
		delay = min(max(2*delay, listenBackoffMin), listenBackoffMax)
		s.log.Warn("pgstore: revocation listener cannot reconnect", "schema", s.schema, "retry_in", delay.String(), "err", err)
	}
}

// deliver decodes one payload and hands it on. Anything it cannot read is
// a revocation it might have missed, so it asks for a resync.
func (s *Store) deliver(p string, f sessiond.Feed) {
	var n notice
	err := json.Unmarshal([]byte(p), &n)
	if err == nil && n.Meta != "" && !n.Resync && n.ID == "" {
		if f.MetaChanged != nil {
			f.MetaChanged(n.Meta)
		}
		return
	}
	if err != nil || n.Resync || n.ID == "" {
		if err != nil {
			s.log.Warn("pgstore: unreadable revocation notice; resyncing", "schema", s.schema, "err", err)
		}
		f.Resync()
		return
	}
	f.Revoked(sessiond.Revocation{
		SessionID: n.ID,
		Subject:   n.Subject,
		RevokedAt: n.RevokedAt.UTC(),
		ExpiresAt: n.ExpiresAt.UTC(),
		Reason:    n.Reason,
	})
}
