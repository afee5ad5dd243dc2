package ssf

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
)

// Delivery method URNs (SSF 1.0 §6.1.1).
const (
	DeliveryPush = "urn:ietf:rfc:8935"
	DeliveryPoll = "urn:ietf:rfc:8936"
)

// SSFVerification is the verification event type (SSF 1.0 §8.1.4.1).
const SSFVerification = "https://schemas.openid.net/secevent/ssf/event-type/verification"

// Stream statuses (SSF 1.0 §8.1.2).
const (
	StatusEnabled  = "enabled"
	StatusPaused   = "paused"
	StatusDisabled = "disabled"
)

// TransmittedEvents returns the event types the Transmitter sends, a new
// slice on each call.
func TransmittedEvents() []string { return []string{CAEPSessionRevoked, RISCSessionsRevoked} }

// MaxStreams is how many streams one deployment keeps.
const MaxStreams = 100

// DefaultMaxStreamsPerOwner is how many of them one API key may have
// (TransmitterOptions.MaxStreamsPerOwner): a tenth, so one key cannot take
// more than that share, and more than a receiver needs (one stream per
// delivery it wants; a stream's subjects, not more streams, narrow what it
// gets). Ten keys at their limit fill MaxStreams: an admin key is not
// held to it.
const DefaultMaxStreamsPerOwner = 10

// streamsDoc is the MetaStore document holding every stream.
const streamsDoc = "ssf.streams"

// StreamDelivery is a stream's delivery member.
type StreamDelivery struct {
	Method      string `json:"method"`
	EndpointURL string `json:"endpoint_url,omitempty"`
	// AuthorizationHeader is sent with each push; never returned, and
	// stored sealed when the Transmitter has a Sealer.
	AuthorizationHeader string `json:"authorization_header,omitempty"`
}

// Stream is one receiver's subscription, as stored: the SSF stream
// configuration plus its owner (the API key that created it) and status.
type Stream struct {
	ID              string         `json:"stream_id"`
	Aud             []string       `json:"aud"`
	EventsRequested []string       `json:"events_requested"`
	EventsDelivered []string       `json:"events_delivered"`
	Delivery        StreamDelivery `json:"delivery"`
	Description     string         `json:"description,omitempty"`
	Owner           string         `json:"owner"`
	Status          string         `json:"status"`
	Reason          string         `json:"reason,omitempty"`
	CreatedAt       time.Time      `json:"created_at"`
	// Subjects are the subjects added to the stream (SSF 1.0 §8.1.3).
	// Until the first is added (Filtered false) the stream gets events
	// about every subject; from then on only about these, even once all
	// are removed again.
	Subjects []StreamSubject `json:"subjects,omitempty"`
	Filtered bool            `json:"filtered,omitempty"`
	// AuthorizationSealed is Delivery.AuthorizationHeader as stored when
	// sealed; empty in memory.
	AuthorizationSealed json.RawMessage `json:"authorization_sealed,omitempty"`
	// unsealErr: the stored header could not be opened (the KEK that
	// sealed it is gone); pushes fail until the stream is updated.
	unsealErr error
}

// Sealer seals a secret the Transmitter keeps in the store, bound to a
// name, and opens it again; the server's is its signing KEK. Seal may
// return nil and no error: the secret is then stored in clear (a server
// given KEKs only as old ones opens with them and seals nothing anew
// until it has read a secret sealed with one).
type Sealer interface {
	Seal(name string, secret []byte) ([]byte, error)
	Open(name string, sealed []byte) ([]byte, error)
}

func sealName(streamID string) string { return streamsDoc + "/" + streamID + "/authorization_header" }

type streamList struct {
	Streams []Stream `json:"streams"`
}

// streams keeps the stream list in a MetaStore document, updated by
// compare-and-swap so two nodes editing at once cannot lose a change, and
// cached on the delivery path until a notice of the store's feed says
// another node changed it, or for cacheFor at most.
type streams struct {
	meta     sessiond.MetaStore
	clock    sessiond.Clock
	cacheFor time.Duration
	sealer   Sealer                // nil: authorization headers in clear
	notifier sessiond.MetaNotifier // nil: no notices, the cache expires

	mu      sync.Mutex
	cached  []Stream
	readAt  time.Time
	version int64
	gen     uint64 // counts invalidations, so a read begun before one is not cached
}

// invalidate drops the cached list: the next delivery reads the store.
func (s *streams) invalidate() {
	s.mu.Lock()
	s.readAt, s.cached = time.Time{}, nil
	s.gen++
	s.mu.Unlock()
}

// subscribe has the store's feed invalidate the cache when another node
// changes the stream list, and after a reconnect (a notice may be lost).
func (s *streams) subscribe(ctx context.Context) error {
	if s.notifier == nil {
		return nil
	}
	err := s.notifier.SubscribeFeed(ctx, sessiond.Feed{Resync: s.invalidate, MetaChanged: func(name string) {
		if name == streamsDoc {
			s.invalidate()
		}
	}})
	if err != nil {
		return fmt.Errorf("ssf: subscribe to stream changes: %w", err)
	}
	return nil
}

func (s *streams) load(ctx context.Context) ([]Stream, int64, error) {
	var l streamList
	v, err := readDoc(ctx, s.meta, streamsDoc, "streams", &l)
	if err != nil {
		return nil, 0, err
	}
	for i := range l.Streams {
		st := &l.Streams[i]
		if len(st.AuthorizationSealed) == 0 {
			continue
		}
		// A header that cannot be opened stays sealed as it is, so a
		// KEK missing from one node's configuration loses nothing.
		if s.sealer == nil {
			st.unsealErr = errors.New("authorization header is sealed and no KEK is configured")
		} else if h, err := s.sealer.Open(sealName(st.ID), st.AuthorizationSealed); err != nil {
			st.unsealErr = fmt.Errorf("authorization header cannot be opened: %w", err)
		} else {
			st.Delivery.AuthorizationHeader, st.AuthorizationSealed = string(h), nil
		}
	}
	return l.Streams, v, nil
}

// stored is the list as written: each authorization header sealed when
// there is a Sealer.
func (s *streams) stored(l []Stream) ([]byte, error) {
	out := slices.Clone(l)
	for i := range out {
		st := &out[i]
		if st.unsealErr != nil && st.Delivery.AuthorizationHeader == "" {
			continue // kept sealed as read
		}
		st.AuthorizationSealed = nil
		if s.sealer == nil || st.Delivery.AuthorizationHeader == "" {
			continue
		}
		sealed, err := s.sealer.Seal(sealName(st.ID), []byte(st.Delivery.AuthorizationHeader))
		if err != nil {
			return nil, fmt.Errorf("ssf: seal authorization header: %w", err)
		}
		if sealed == nil {
			continue // the Sealer seals nothing anew: kept in clear
		}
		st.AuthorizationSealed, st.Delivery.AuthorizationHeader = sealed, ""
	}
	return json.Marshal(streamList{Streams: out})
}

// list returns every stream, from the cache when it is fresh enough.
func (s *streams) list(ctx context.Context, fresh bool) ([]Stream, error) {
	now := s.clock.Now()
	s.mu.Lock()
	if !fresh && !s.readAt.IsZero() && now.Sub(s.readAt) < s.cacheFor {
		defer s.mu.Unlock()
		return s.cached, nil
	}
	gen := s.gen
	s.mu.Unlock()
	l, v, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if gen == s.gen { // no notice came while reading: what was read is current
		s.cached, s.readAt, s.version = l, now, v
	}
	s.mu.Unlock()
	return l, nil
}

func (s *streams) get(ctx context.Context, id string) (Stream, error) {
	l, err := s.list(ctx, true)
	if err != nil {
		return Stream{}, err
	}
	for _, st := range l {
		if st.ID == id {
			return st, nil
		}
	}
	return Stream{}, fmt.Errorf("ssf: stream %q: %w", id, sessiond.ErrNotFound)
}

// pollOpen reports, from the store, whether stream id is still an enabled
// or paused poll stream, one whose queue takes SETs: errStreamChanged if
// it is not, errStreamGone (which matches it) if it is gone; else it returns the version of the stream list
// it read. It decodes only what it needs, opening no sealed header: it
// runs for every SET queued.
func (s *streams) pollOpen(ctx context.Context, id string) (int64, error) {
	var l struct {
		Streams []struct {
			ID       string `json:"stream_id"`
			Status   string `json:"status"`
			Delivery struct {
				Method string `json:"method"`
			} `json:"delivery"`
		} `json:"streams"`
	}
	v, err := readDoc(ctx, s.meta, streamsDoc, "streams", &l)
	if err != nil {
		return 0, err
	}
	for _, st := range l.Streams {
		if st.ID == id {
			if st.Delivery.Method == DeliveryPoll && (st.Status == StatusEnabled || st.Status == StatusPaused) {
				return v, nil
			}
			return 0, errStreamChanged
		}
	}
	return 0, errStreamGone
}

// storedVersion returns the version of the stream list in the store (0:
// none), without decoding it.
func (s *streams) storedVersion(ctx context.Context) (int64, error) {
	_, v, err := s.meta.GetMeta(ctx, streamsDoc)
	if errors.Is(err, sessiond.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ssf: read streams: %w", err)
	}
	return v, nil
}

// update applies fn to the list and stores the result, retrying when
// another writer came first.
func (s *streams) update(ctx context.Context, fn func([]Stream) ([]Stream, error)) error {
	for range 8 {
		l, v, err := s.load(ctx)
		if err != nil {
			return err
		}
		next, err := fn(slices.Clone(l))
		if err != nil {
			return err
		}
		b, err := s.stored(next)
		if err != nil {
			return err
		}
		nv, err := s.meta.PutMeta(ctx, streamsDoc, b, v)
		if errors.Is(err, sessiond.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("ssf: write streams: %w", err)
		}
		s.mu.Lock()
		s.cached, s.readAt, s.version = next, s.clock.Now(), nv
		s.gen++
		s.mu.Unlock()
		if s.notifier != nil {
			// A lost notice delays other nodes by cacheFor at most.
			_ = s.notifier.PublishMeta(context.WithoutCancel(ctx), streamsDoc)
		}
		return nil
	}
	return fmt.Errorf("ssf: write streams: %w", sessiond.ErrConflict)
}

func newStreamID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// delivered is the intersection of requested and what the transmitter
// sends; nothing requested means everything.
func delivered(requested []string) []string {
	if len(requested) == 0 {
		return TransmittedEvents()
	}
	var out []string
	for _, e := range TransmittedEvents() {
		if slices.Contains(requested, e) {
			out = append(out, e)
		}
	}
	return out
}

// SealStreamsInClear seals with sealer the authorization headers stored
// in clear (kept so while no KEK was configured), so that a KEK introduced
// since protects them too: the server runs it at start with a KEK and no
// old one (docs/operations.md, signing keys at rest). It writes nothing,
// and reports false, when no header is in clear.
func SealStreamsInClear(ctx context.Context, meta sessiond.MetaStore, sealer Sealer) (bool, error) {
	if sealer == nil {
		return false, nil
	}
	var l streamList
	if _, err := readDoc(ctx, meta, streamsDoc, "streams", &l); err != nil {
		return false, err
	}
	if !slices.ContainsFunc(l.Streams, func(st Stream) bool { return st.Delivery.AuthorizationHeader != "" }) {
		return false, nil
	}
	return true, ResealStreams(ctx, meta, sealer)
}

// ResealStreams seals every stream's stored authorization header again
// with sealer's current key (and seals one stored in clear), so that the
// key-encryption key that sealed it before can be destroyed: the server
// runs it at start while old KEKs are configured (docs/operations.md,
// rotating the KEK). A header no key opens stays as it is. It writes
// nothing when no stream has a header.
func ResealStreams(ctx context.Context, meta sessiond.MetaStore, sealer Sealer) error {
	if sealer == nil {
		return nil
	}
	s := &streams{meta: meta, clock: sessiond.SystemClock{}, sealer: sealer}
	l, _, err := s.load(ctx)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(l, func(st Stream) bool { return st.unsealErr == nil && st.Delivery.AuthorizationHeader != "" }) {
		return nil
	}
	return s.update(ctx, func(l []Stream) ([]Stream, error) { return l, nil })
}
