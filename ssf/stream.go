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

// TransmittedEvents are the event types the Transmitter sends.
var TransmittedEvents = []string{CAEPSessionRevoked, RISCSessionsRevoked}

// MaxStreams is how many streams one deployment keeps.
const MaxStreams = 100

// streamsDoc is the MetaStore document holding every stream.
const streamsDoc = "ssf.streams"

// StreamDelivery is a stream's delivery member.
type StreamDelivery struct {
	Method      string `json:"method"`
	EndpointURL string `json:"endpoint_url,omitempty"`
	// AuthorizationHeader is sent with each push; stored, never returned.
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
}

type streamList struct {
	Streams []Stream `json:"streams"`
}

// streams keeps the stream list in a MetaStore document, updated by
// compare-and-swap so two nodes editing at once cannot lose a change, and
// cached for cacheFor on the delivery path.
type streams struct {
	meta     sessiond.MetaStore
	clock    sessiond.Clock
	cacheFor time.Duration

	mu      sync.Mutex
	cached  []Stream
	readAt  time.Time
	version int64
}

func (s *streams) load(ctx context.Context) ([]Stream, int64, error) {
	b, v, err := s.meta.GetMeta(ctx, streamsDoc)
	if errors.Is(err, sessiond.ErrNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("ssf: read streams: %w", err)
	}
	var l streamList
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, 0, fmt.Errorf("ssf: read streams: %w", err)
	}
	return l.Streams, v, nil
}

// list returns every stream, from the cache when it is fresh enough.
func (s *streams) list(ctx context.Context, fresh bool) ([]Stream, error) {
	now := s.clock.Now()
	s.mu.Lock()
	if !fresh && !s.readAt.IsZero() && now.Sub(s.readAt) < s.cacheFor {
		defer s.mu.Unlock()
		return s.cached, nil
	}
	s.mu.Unlock()
	l, v, err := s.load(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cached, s.readAt, s.version = l, now, v
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
		b, err := json.Marshal(streamList{Streams: next})
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
		s.mu.Unlock()
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
		return slices.Clone(TransmittedEvents)
	}
	var out []string
	for _, e := range TransmittedEvents {
		if slices.Contains(requested, e) {
			out = append(out, e)
		}
	}
	return out
}
