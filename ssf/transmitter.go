package ssf

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jsonbody"
)

// Transmitter paths, under Issuer.
const (
	PathConfiguration = "/.well-known/ssf-configuration"
	PathStreams       = "/v1/ssf/streams"
	PathStatus        = "/v1/ssf/status"
	PathVerify        = "/v1/ssf/verify"
	PathAddSubject    = "/v1/ssf/subjects/add"
	PathRemoveSubject = "/v1/ssf/subjects/remove"
	PathPoll          = "/v1/ssf/poll/" // followed by the stream ID
	pathJWKS          = "/.well-known/jwks.json"
)

// Events recorded for the stream management API (TransmitterOptions.Events).
const (
	EventStreamCreated = sessiond.EventSSFStreamCreated
	EventStreamDeleted = sessiond.EventSSFStreamDeleted
	EventStreamUpdated = sessiond.EventSSFStreamUpdated
)

// SpecVersion is the SSF version the configuration document declares.
const SpecVersion = "1_0"

// EndpointPrefix names a stream's entries in the outbox ("ssf:" and the
// stream ID): no webhook may have a name that starts with it, or it
// would take the stream's deliveries.
const EndpointPrefix = "ssf:"

// ErrForbidden: the API key may not manage streams.
var ErrForbidden = errors.New("ssf: api key lacks the ssf scope")

// ErrPaused: Send was not attempted because the push stream is paused;
// the SET is held for when it is enabled again (SSF 1.0 §8.1.2).
var ErrPaused = errors.New("ssf: stream paused")

// MaxText is the most characters (Unicode code points, as JSON Schema's
// maxLength counts) of a stream's description and of a verification
// state, both refused above it, and of a status reason, kept up to it.
const MaxText = 256

// pausedRecheck is how long a paused push stream's SET waits before Send
// reads the stream's status again: how late, at most, the SETs held while
// paused leave once it is enabled, against one store read per held SET
// each time.
const pausedRecheck = time.Minute

// maxPausedHold is how long a paused push stream holds a SET, from the
// first hold of an unbroken run of them (heldError carries its start):
// past it, Send ends the delivery dead (errHeldTooLong) instead of
// holding it again. SSF 1.0
// §8.1.2 lets a transmitter bound what it holds for a paused stream, and
// without a bound whoever holds an ssf key could pause a stream that
// covers every subject and keep every revocation of the deployment as an
// outbox row re-read each minute, forever. Seven days is the receiver
// side's poll window (DefaultPollMaxAge), the longest this package
// otherwise expects a receiver to be away; a poll stream's queue keeps a
// SET as long at most (maxQueuedAge), and MaxQueued of them. An age, not
// a count: it costs nothing per held SET (the hold's write carries its
// start), where counting the SETs a stream holds would take a store
// write per held SET. From the run's start, not the entry's CreatedAt:
// a SET the console's Retry sent again after a pause ended it dead, or
// one a receiver's outage or a node unable to sign kept for days before
// the pause, was otherwise ended at the first look, never held at all.
// A run ends only when a claim finds the stream not paused, and the SET
// is then pushed (delivered, or an attempt spent) or held for a signer
// (bounded alike): pausing and enabling again cannot hold a SET for ever.
const maxPausedHold = 7 * 24 * time.Hour

// errHeldTooLong: Send's answer for a SET a paused push stream has held
// for maxPausedHold. Permanent: the stream is still paused, so trying it
// again within the dispatcher's few minutes of retries could only cost
// attempts and log lines (thousands of SETs, a pause being for everything
// the stream covers).
var errHeldTooLong = errors.New("stream paused: SET held for 7 days (the most a paused stream keeps) and dropped")

// maxSignHold is how long a SET is held for want of a node that can sign
// it (signHeldError), from the first hold of an unbroken run of them:
// past it a node that cannot sign ends it dead (errSignHeldTooLong)
// instead of holding it again. Held without a bound, a deployment whose
// nodes all lost the ring kept every revocation as a pending outbox row,
// rewritten each BaseBackoff, for ever, and no dead-delivery alert said
// so. From the run's start, not the entry's CreatedAt: a SET a paused
// stream held 6.99 days, that a receiver's outage kept, or that the
// console's Retry sent again after it ended dead would otherwise be ended
// by the first node that cannot sign it, not held for a node that can.
// The start rides in the held SET's last error (signHeldError), the one
// thing a Sender's answer keeps. The wait is checked only when signing
// fails, so a node that signs pushes a SET of any age. Seven days, as a
// paused stream holds one.
const maxSignHold = maxPausedHold

// errSignHeldTooLong: Send's answer for a SET held maxSignHold because
// this node, and no other meanwhile, could sign it. Permanent: more tries
// within the dispatcher's few minutes of retries could only fail alike.
var errSignHeldTooLong = errors.New("SET held for 7 days (the most a SET waits for a node that can sign)")

// errStreamChanged: queuing a SET found its stream no longer an enabled or
// paused poll stream (switched to push, disabled or deleted since Send read
// it); Send reads the stream again and follows what it is now.
var errStreamChanged = errors.New("ssf: stream changed while queuing its SET")

// errStreamGone is errStreamChanged for a stream no longer in the list:
// deleted, its ID never used again.
var errStreamGone = fmt.Errorf("%w: stream deleted", errStreamChanged)

// heldError is Send's answer for a paused push stream: not an attempt. Its
// HoldFor method tells the webhook dispatcher, which carries the SETs, to
// put the delivery back unsent, attempts unchanged, due again after the
// delay, as it does for an endpoint cooling down; so a pause never makes a
// SET dead before maxPausedHold. (A method, not a type of that package,
// as its HTTPStatus convention: adapters do not import each other.)
type heldError struct {
	after time.Duration
	since time.Time // the start of the run of pause holds (maxPausedHold)
}

// pausedHeldPrefix and pausedHeldCause frame the start of a pause hold's
// run in its text: "stream paused: SET held since <RFC 3339> until it is
// enabled".
const (
	pausedHeldPrefix = "stream paused: SET held since "
	pausedHeldCause  = " until it is enabled"
)

func (e *heldError) Error() string {
	return pausedHeldPrefix + e.since.UTC().Format(time.RFC3339) + pausedHeldCause
}
func (e *heldError) Unwrap() error          { return ErrPaused }
func (e *heldError) HoldFor() time.Duration { return e.after }

// signHeldError is Send's answer for a SET this node cannot sign now: its
// Signer failed with sessiond.ErrStoreUnavailable, as a key ring does
// while its node cannot read the stored ring (jwttoken.KeyRing.HoldSigning).
// Held as a paused stream's SET is, no attempt spent, due again after hold
// (signHoldFor): another node, or this one once it reads the ring, pushes
// it. Spent as attempts, a node left unable to read the ring ended every
// SET it claimed dead. Held for maxSignHold at most, counted from since,
// which its text carries (heldSince reads it back).
type signHeldError struct {
	err   error
	since time.Time
	hold  time.Duration // HoldFor: 0 is the dispatcher's BaseBackoff
}

// signHoldMax bounds each hold of a SET no node can sign (signHoldFor).
// Each hold is a store write of the SET's outbox row: held every
// BaseBackoff, every pending SET was rewritten every 2 s by every node
// that could not sign, for up to maxSignHold. Held as long again as it
// has waited, the holds double from the dispatcher's BaseBackoff to a
// minute (pausedRecheck, a paused stream's), about 60 writes an hour in
// place of 1,800, and a node that reads the ring again pushes within a
// minute.
const signHoldMax = pausedRecheck

// signHoldFor is how long to hold a SET that has waited for a node that
// can sign since waited ago: as long again, up to signHoldMax. The
// dispatcher holds it BaseBackoff at least (a shorter wait: the first
// hold, or a start another node's clock wrote a moment ahead of this
// one's), and BaseBackoff when that is above signHoldMax.
func signHoldFor(waited time.Duration) time.Duration {
	return min(waited, signHoldMax)
}

// signHeldPrefix and signHeldCause frame the start of the wait in a sign
// hold's text: "SET held since <RFC 3339>: this node cannot sign now: …".
const (
	signHeldPrefix = "SET held since "
	signHeldCause  = ": this node cannot sign now: "
)

func (e *signHeldError) Error() string {
	return signHeldPrefix + e.since.UTC().Format(time.RFC3339) + signHeldCause + e.err.Error()
}
func (e *signHeldError) Unwrap() error          { return e.err }
func (e *signHeldError) HoldFor() time.Duration { return e.hold }

// heldSince is when a run of holds began, for a SET whose last error is
// lastErr, claimed at now: the start a hold of that kind wrote (its text
// is prefix, the start, then cause), or now if its last outcome was
// something else (pushed and failed, held for another reason, retried
// from dead) or the start is unreadable. A start after now (the writer's
// clock ahead of this node's) is now: it would otherwise hold the SET for
// as long as the clocks differ, or for ever.
func heldSince(lastErr, prefix, cause string, now time.Time) time.Time {
	rest, ok := strings.CutPrefix(lastErr, prefix)
	if !ok {
		return now
	}
	at, _, ok := strings.Cut(rest, cause)
	if !ok {
		return now
	}
	since, err := time.Parse(time.RFC3339, at)
	if err != nil || since.After(now) {
		return now
	}
	return since
}

// Signer signs a SET with the deployment's signing key;
// *jwttoken.KeyRing is one. An error matching sessiond.ErrStoreUnavailable
// says it cannot sign for now: a push is then held, not attempted
// (signHeldError).
type Signer interface {
	SignJWS(now time.Time, typ string, payload []byte) (string, error)
}

// TransmitterOptions configure a Transmitter.
type TransmitterOptions struct {
	// Issuer is the iss of every SET and the origin of every endpoint
	// (https://sessiond.example.com), where its JWKS is served.
	Issuer string
	Meta   sessiond.MetaStore // keeps the streams and the poll queues
	Outbox sessiond.Outbox    // takes verification events
	Signer Signer
	// Authenticate checks an API key presented as Bearer to ServeHTTP and
	// returns who owns the streams it creates, and whether it sees every
	// stream (admin). An error wrapping ErrUnauthorized answers 401,
	// ErrForbidden 403, another 503. Nil: ServeHTTP answers 401 to every
	// management request (the server authenticates itself and calls
	// Serve).
	Authenticate func(ctx context.Context, bearer string) (owner string, admin bool, err error)
	// OwnerActive, when set, reports whether the API key that created a
	// stream (Stream.Owner) may still receive its events: a stream whose
	// owner was revoked, or lost the ssf scope, gets no new SET and its
	// queued ones are dropped, since nobody can manage or delete it any
	// more but an admin. An error counts as active: a revocation signal
	// is not withheld from a receiver because the key set could not be
	// read. Nil: every owner is active.
	OwnerActive func(ctx context.Context, owner string) (bool, error)
	// Sealer, when set, seals each push stream's authorization header in
	// the store; nil stores it in clear.
	Sealer Sealer
	// Notifier, when set (a store with a cross-node feed), carries a
	// notice of every change to the stream list, so every node subscribed
	// (Subscribe) drops its cached copy at once.
	Notifier sessiond.MetaNotifier
	// MaxStreamsPerOwner is how many streams one API key (Stream.Owner)
	// may have, of the deployment's MaxStreams; default
	// DefaultMaxStreamsPerOwner. An admin key is not held to it. Without
	// it one receiver's key could take every stream and lock the others
	// out.
	MaxStreamsPerOwner int
	// AllowHTTP lets a push endpoint_url be plain http (development).
	AllowHTTP bool
	// AllowPrivate lets pushes connect to addresses that are not public:
	// loopback, private, link-local (cloud metadata), CGNAT and the other
	// special-purpose ranges (egress.go). False (the default): a stream
	// whose endpoint_url is such a literal address, or localhost, is
	// refused with 400, and every connection is checked against the
	// address it actually dials, so a name resolving to one fails the
	// attempt with ErrPrivateAddress (retried like any failed push), and
	// pushes go through no proxy (the check would see only the proxy's
	// address). True: pushes connect anywhere, through the proxy of the
	// environment (or HTTPClient's).
	AllowPrivate bool
	// HTTPClient pushes; default 10s timeout. Redirects are never followed,
	// and at most 64 KiB of response headers are read (an *http.Transport,
	// or the default one, is cloned to bound them; another RoundTripper,
	// allowed with AllowPrivate, keeps its own bounds).
	// Unless AllowPrivate, its Transport must be nil or an *http.Transport
	// without dial functions of its own: it is cloned to dial through the
	// address check, without its proxy.
	HTTPClient *http.Client
	// CacheFor is how long the delivery path reuses the stream list read
	// from the store; default 1s. A stream created on another node gets
	// events at most this much later; with a Notifier, once the notice
	// arrives (CacheFor stays the bound when one is lost).
	CacheFor time.Duration
	// LongPoll bounds a poll with returnImmediately false; default 10s.
	LongPoll time.Duration
	// Events, when set, records each stream created, changed (PATCH, PUT
	// or its status) or deleted (EventStreamCreated, EventStreamUpdated,
	// EventStreamDeleted) with the caller's address and details
	// stream_id, delivery, owner (the API key the stream belongs to),
	// api_key_id (the one that acted) and, for push, endpoint_host: who
	// subscribed to the deployment's revocations, and where they go. An
	// update adds what changed (recordUpdate). Nil records nothing.
	Events sessiond.EventSink
	Clock  sessiond.Clock
	Logger *slog.Logger
}

// Transmitter is sessiond as an SSF transmitter: the configuration
// document, stream management, the poll endpoint (an http.Handler), and
// the SETs for every revocation (Deliveries, Send), carried by the
// webhook dispatcher's outbox.
type Transmitter struct {
	o       TransmitterOptions
	streams *streams
	queue   pollQueue
}

// NewTransmitter checks o and returns its Transmitter.
func NewTransmitter(o TransmitterOptions) (*Transmitter, error) {
	u, err := url.Parse(o.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || strings.Trim(u.Path, "/") != "" {
		return nil, errors.New("ssf: transmitter issuer must be an absolute http(s) origin without a path")
	}
	o.Issuer = strings.TrimSuffix(o.Issuer, "/")
	if o.Meta == nil || o.Outbox == nil || o.Signer == nil {
		return nil, errors.New("ssf: transmitter needs a meta store, an outbox and a signer")
	}
	o.HTTPClient, err = pushClient(o.HTTPClient, o.AllowPrivate)
	if err != nil {
		return nil, err
	}
	if o.CacheFor <= 0 {
		o.CacheFor = time.Second
	}
	if o.MaxStreamsPerOwner <= 0 {
		o.MaxStreamsPerOwner = DefaultMaxStreamsPerOwner
	}
	if o.LongPoll <= 0 {
		o.LongPoll = 10 * time.Second
	}
	if o.Clock == nil {
		o.Clock = sessiond.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	del, _ := o.Meta.(sessiond.MetaDeleter)
	return &Transmitter{o: o, streams: &streams{meta: o.Meta, clock: o.Clock, cacheFor: o.CacheFor, sealer: o.Sealer,
		notifier: o.Notifier}, queue: pollQueue{meta: o.Meta, del: del, clock: o.Clock, log: o.Logger}}, nil
}

// Subscribe follows the Notifier's notices of stream list changes made
// on other nodes until ctx ends; it returns once the subscription is
// established. Without a Notifier it does nothing.
func (t *Transmitter) Subscribe(ctx context.Context) error { return t.streams.subscribe(ctx) }

// ---- SETs ----

// setClaims are a SET's claims (RFC 8417 §2.2); iat is set when signed.
type setClaims struct {
	Iss    string                    `json:"iss"`
	Iat    int64                     `json:"iat,omitempty"`
	Jti    string                    `json:"jti"`
	Aud    any                       `json:"aud"`
	Txn    string                    `json:"txn,omitempty"`
	SubID  map[string]any            `json:"sub_id"`
	Events map[string]map[string]any `json:"events"`
}

func audClaim(aud []string) any {
	if len(aud) == 1 {
		return aud[0]
	}
	return aud
}

// initiatingEntity maps a revoke reason to CAEP's initiating_entity.
func initiatingEntity(reason string) string {
	switch sessiond.RevokeReason(reason) {
	case sessiond.ReasonLogout:
		return "user"
	case sessiond.ReasonAdmin, sessiond.ReasonIncident:
		return "admin"
	case sessiond.ReasonReuse, sessiond.ReasonAnomaly:
		return "system"
	}
	return "policy"
}

// Deliveries returns the outbox entries e gives rise to, one per stream
// that delivers its event type: CAEP session-revoked for every revoked
// session, RISC sessions-revoked for a subject-wide or incident
// revocation of a subject. Other events give none. The entries hold the
// SET's claims; it is signed when sent or polled.
func (t *Transmitter) Deliveries(ctx context.Context, e sessiond.Event) ([]sessiond.Delivery, error) {
	now := t.o.Clock.Now()
	if e.Time.IsZero() {
		e.Time = now
	}
	reason, _ := e.Details["reason"].(string)
	var typ string
	var sub map[string]any
	user := map[string]any{"format": "iss_sub", "iss": t.o.Issuer, "sub": e.Subject}
	switch {
	case e.Subject == "":
		return nil, nil
	case e.Type == sessiond.EventSessionRevoked && e.SessionID != "":
		typ = CAEPSessionRevoked
		sub = map[string]any{"format": "complex", "user": user, "session": map[string]any{"format": "opaque", "id": string(e.SessionID)}}
	case e.Type == sessiond.EventBulkRevoked, e.Type == sessiond.EventRevokedByIncident:
		typ, sub = RISCSessionsRevoked, user
		if reason == "" {
			reason = string(sessiond.ReasonIncident)
		}
	default:
		return nil, nil
	}
	payload := map[string]any{"event_timestamp": e.Time.Unix()}
	if typ == CAEPSessionRevoked {
		payload["initiating_entity"] = initiatingEntity(reason)
	}
	if reason != "" {
		payload["reason_admin"] = map[string]string{"en": reason}
	}
	list, err := t.streams.list(ctx, false)
	if err != nil {
		return nil, err
	}
	var ds []sessiond.Delivery
	for _, st := range list {
		if st.Status == StatusDisabled || !slices.Contains(st.EventsDelivered, typ) || !st.about(e.Subject, e.SessionID) ||
			!t.ownerActive(ctx, st) {
			continue
		}
		d, err := t.delivery(st, e.ID, typ, sub, payload, now)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	return ds, nil
}

func (t *Transmitter) delivery(st Stream, txn, typ string, sub, payload map[string]any, now time.Time) (sessiond.Delivery, error) {
	h := sha256.Sum256([]byte(txn + "\x00" + st.ID + "\x00" + typ))
	jti := hex.EncodeToString(h[:16])
	b, err := json.Marshal(setClaims{Iss: t.o.Issuer, Jti: jti, Aud: audClaim(st.Aud), Txn: txn, SubID: sub,
		Events: map[string]map[string]any{typ: payload}})
	if err != nil {
		return sessiond.Delivery{}, fmt.Errorf("ssf: encode SET: %w", err)
	}
	return sessiond.Delivery{ID: "ssf_" + jti, Endpoint: EndpointPrefix + st.ID, EventID: txn, Payload: b,
		State: sessiond.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}, nil
}

// sign signs stored claims with iat now.
func (t *Transmitter) sign(claims []byte, now time.Time) (string, error) {
	var c setClaims
	if err := json.Unmarshal(claims, &c); err != nil {
		return "", fmt.Errorf("ssf: stored SET: %w", err)
	}
	c.Iat = now.Unix()
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	return t.o.Signer.SignJWS(now, "secevent+jwt", b)
}

// ownerActive is TransmitterOptions.OwnerActive for st.
func (t *Transmitter) ownerActive(ctx context.Context, st Stream) bool {
	if t.o.OwnerActive == nil || st.Owner == "" {
		return true
	}
	ok, err := t.o.OwnerActive(ctx, st.Owner)
	if err != nil {
		t.o.Logger.WarnContext(ctx, "ssf: stream owner check", "stream_id", st.ID, "err", err)
		return true
	}
	return ok
}

// Owns implements webhook.Sender: the outbox entries of streams.
func (t *Transmitter) Owns(endpoint string) bool { return strings.HasPrefix(endpoint, EndpointPrefix) }

// Send implements webhook.Sender: a push stream's SET is signed and
// POSTed (RFC 8935), a poll stream's is queued for its poll endpoint,
// paused or not (the poll endpoint hands out none while it is paused). A
// deleted or disabled stream, or a receiver answering 400, ends the
// delivery. A paused push stream keeps it: the error wraps ErrPaused and
// is no attempt for the dispatcher (see heldError), until it has held it
// for maxPausedHold, then ends it (errHeldTooLong); so is a SET this node
// cannot sign (signHeldError), for maxSignHold (errSignHeldTooLong). A
// push refused because it would connect to a non-public address
// (ErrPrivateAddress: a name may resolve elsewhere later) is a failed
// attempt, retried.
//
// A poll stream switched to push, disabled or deleted while its SET is
// being queued is read again and the SET follows what the stream is now
// (pushed, or ended): the queue only takes a SET while the stream, read
// within the queue's compare-and-swap, is still an enabled or paused poll
// stream (see pollQueue.addIf, pushQueued).
func (t *Transmitter) Send(ctx context.Context, del sessiond.Delivery) (bool, error) {
	var err error
	for range 3 { // each retry follows a change of the stream: a management request
		var permanent bool
		permanent, err = t.send(ctx, del)
		if !errors.Is(err, errStreamChanged) {
			return permanent, err
		}
	}
	return false, err
}

func (t *Transmitter) send(ctx context.Context, del sessiond.Delivery) (bool, error) {
	st, err := t.streams.get(ctx, strings.TrimPrefix(del.Endpoint, EndpointPrefix))
	switch {
	case errors.Is(err, sessiond.ErrNotFound):
		return true, errors.New("stream deleted")
	case err != nil:
		return false, err
	case st.Status == StatusDisabled:
		return true, errors.New("stream disabled")
	case !t.ownerActive(ctx, st):
		// Before the pause: a SET held for a stream nobody may manage any
		// more would wait for an enable that cannot come.
		return true, errors.New("the stream's owner key is revoked or lost the ssf scope")
	}
	var c struct {
		Jti string `json:"jti"`
	}
	if err := json.Unmarshal(del.Payload, &c); err != nil || c.Jti == "" {
		return true, errors.New("stored SET unreadable")
	}
	if st.Delivery.Method == DeliveryPoll {
		return false, t.queuePoll(ctx, st.ID, queued{JTI: c.Jti, Claims: del.Payload, At: del.CreatedAt})
	}
	now := t.o.Clock.Now()
	if st.Status == StatusPaused {
		since := heldSince(del.LastError, pausedHeldPrefix, pausedHeldCause, now)
		if now.Sub(since) >= maxPausedHold {
			return true, errHeldTooLong
		}
		return false, &heldError{after: pausedRecheck, since: since}
	}
	if st.unsealErr != nil {
		return false, st.unsealErr
	}
	set, err := t.sign(del.Payload, now)
	if errors.Is(err, sessiond.ErrStoreUnavailable) {
		since := heldSince(del.LastError, signHeldPrefix, signHeldCause, now)
		if now.Sub(since) >= maxSignHold {
			// The cause as text: the dispatcher's classes of a receiver's
			// trouble must not see the store's error in a permanent one.
			return true, fmt.Errorf("%w: this node cannot sign now: %v", errSignHeldTooLong, err)
		}
		return false, &signHeldError{err: err, since: since, hold: signHoldFor(now.Sub(since))}
	} else if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.Delivery.EndpointURL, strings.NewReader(set))
	if err != nil {
		return true, errors.New("cannot build request")
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "sessiond-ssf")
	if st.Delivery.AuthorizationHeader != "" {
		req.Header.Set("Authorization", st.Delivery.AuthorizationHeader)
	}
	resp, err := t.o.HTTPClient.Do(req)
	if err != nil {
		return false, fmt.Errorf("push: %w", withoutURL(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusBadRequest: // RFC 8935 §2.3: refused; sending it again cannot help
		var e struct {
			Err string `json:"err"`
		}
		_ = json.Unmarshal(body, &e)
		return true, fmt.Errorf("receiver refused the SET: %q", cut(e.Err, 64))
	}
	e := &pushStatus{code: resp.StatusCode}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		e.retryAfter = retryAfter(resp.Header.Get("Retry-After"), t.o.Clock.Now())
	}
	return false, e
}

// queuePoll queues s for poll stream id while it is still an enabled or
// paused poll stream (errStreamChanged otherwise: see Send).
func (t *Transmitter) queuePoll(ctx context.Context, id string, s queued) error {
	created, seen, err := t.queue.addIf(ctx, id, s, func() (int64, error) { return t.streams.pollOpen(ctx, id) })
	if err != nil || !created {
		return err
	}
	// This SET made the queue's document. A change of the stream made
	// between the check and this write found no document and wrote none
	// (pollQueue.change), so it could not make the write conflict; but it
	// wrote the stream list before reading the queue, and this reads the
	// list after writing the queue: one of the two sees the other. A list
	// changed since the check (this stream or another) takes the SET back
	// out, for Send to follow the stream as it is now; a SET already gone
	// was moved or dropped by that change. The queue this SET made is
	// deleted again if that leaves it empty and the stream is gone.
	v, err := t.streams.storedVersion(ctx)
	if err != nil || v == seen {
		return err
	}
	remove := t.queue.remove
	if _, err := t.streams.pollOpen(ctx, id); errors.Is(err, errStreamGone) {
		remove = t.queue.removeRetired
	}
	removed, err := remove(ctx, id, []string{s.JTI})
	if err != nil || !removed[s.JTI] {
		return err
	}
	return errStreamChanged
}

// pushStatus is a receiver's answer to a push other than 2xx or 400. Its
// HTTPStatus method lets the webhook dispatcher, which carries the SETs,
// cool down a receiver that answers 5xx or 429, as it does a webhook's.
type pushStatus struct {
	code       int
	retryAfter time.Duration
}

// Error names the status with its standard text, not the receiver's reason
// phrase: free text, stored in the outbox on every attempt and logged.
func (e *pushStatus) Error() string {
	return fmt.Sprintf("receiver answered %d %s", e.code, http.StatusText(e.code))
}

func (e *pushStatus) HTTPStatus() (int, time.Duration) { return e.code, e.retryAfter }

// retryAfter reads a Retry-After header, delay-seconds or an HTTP date
// (RFC 9110 §10.2.3), as a delay from now; 0 if it is neither.
func retryAfter(v string, now time.Time) time.Duration {
	// Past an int64, Atoi answers ErrRange with the largest int: still
	// "wait that long", capped, not "no Retry-After".
	if n, err := strconv.Atoi(strings.TrimSpace(v)); (err == nil || errors.Is(err, strconv.ErrRange)) && n > 0 {
		return time.Duration(min(n, 366*24*3600)) * time.Second // the dispatcher caps it lower
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// cut shortens s to its first n characters (runes): a limit stated in
// characters keeps that many whatever their encoded size, and a
// multi-byte character is never split.
func cut(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// tooLong reports whether s has more than n characters (runes).
func tooLong(s string, n int) bool { return utf8.RuneCountInString(s) > n }

// ---- HTTP ----

// RequestError is a management request refused for the caller's fault:
// the HTTP status, the SSF error code ServeHTTP answers with, and a
// detail safe to show (it never quotes a value of the request).
type RequestError struct {
	Status int
	Code   string
	Detail string
}

func (e *RequestError) Error() string { return e.Code + ": " + e.Detail }

func badRequest(detail string) error {
	return &RequestError{http.StatusBadRequest, "invalid_request", detail}
}

var (
	errNoStream         = &RequestError{http.StatusNotFound, "not_found", "no such stream"}
	errNoStreamID       = &RequestError{http.StatusBadRequest, "invalid_request", "stream_id is required"}
	errMethodNotAllowed = &RequestError{http.StatusMethodNotAllowed, "invalid_request", "method not allowed"}
)

// Caller is who makes a management request: the API key that owns the
// streams it creates, and whether it sees every stream (admin).
type Caller struct {
	Owner string
	Admin bool
}

func (c Caller) sees(st Stream) bool { return c.Admin || st.Owner == c.Owner }

// updateSeen changes, with f, the stream id that c sees, and returns it as
// saved; a stream c does not see is errNoStream, like a missing one. When f
// fails nothing is saved.
func (t *Transmitter) updateSeen(ctx context.Context, c Caller, id string, f func(*Stream) error) (Stream, error) {
	var out Stream
	if id == "" {
		return out, errNoStreamID
	}
	err := t.streams.update(ctx, func(l []Stream) ([]Stream, error) {
		i := slices.IndexFunc(l, func(s Stream) bool { return s.ID == id && c.sees(s) })
		if i < 0 {
			return nil, errNoStream
		}
		st := l[i]
		if err := f(&st); err != nil {
			return nil, err
		}
		l[i], out = st, st
		return l, nil
	})
	return out, err
}

// checkAud refuses an aud that names another receiver: the default aud of
// another stream (Issuer/v1/ssf/streams/<id>, an identifier this
// transmitter assigns), or an aud a stream of another API key holds. Every
// SET is signed with the deployment's key, and a receiver checks the aud
// to know a SET was meant for it (RFC 8417 §2.2, RFC 8725 §3.9): were any
// ssf key free to take another's aud, it would get genuine SETs addressed
// to that receiver and could push them to it (SSF 1.0 §8.1.1: a
// transmitter SHOULD know that the receivers of one aud are the same
// entity). Both checks fold case: a receiver that follows RFC 7519 (§2,
// StringOrURI) compares its aud exactly and would refuse a variant, but
// one that compares URIs as RFC 3986 §6.2.2.1 allows (scheme and host
// without regard to case) would take it as its own; refusing a variant
// costs a receiver nothing it needs.
func (t *Transmitter) checkAud(l []Stream, st Stream) error {
	own := t.defaultAud(st.ID)[0]
	prefix := t.o.Issuer + PathStreams + "/"
	for _, a := range st.Aud {
		if a != own && len(a) >= len(prefix) && strings.EqualFold(a[:len(prefix)], prefix) {
			return badRequest("aud names another stream of this transmitter")
		}
		for _, o := range l {
			if o.ID != st.ID && o.Owner != st.Owner && slices.ContainsFunc(o.Aud, func(b string) bool { return strings.EqualFold(a, b) }) {
				return badRequest("aud is held by a stream of another API key")
			}
		}
	}
	return nil
}

// ServeHTTP serves the configuration document and, authenticated with
// TransmitterOptions.Authenticate, the management and poll endpoints, each
// error answered as an SSF {"err","description"} object. The server puts
// the same endpoints behind its API middleware instead (Configuration and
// Serve); ServeHTTP is for a transmitter used on its own.
func (t *Transmitter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == PathConfiguration {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			t.fail(w, r, errMethodNotAllowed)
			return
		}
		writeJSON(w, http.StatusOK, t.Configuration())
		return
	}
	c, err := t.authenticate(r)
	if err != nil {
		t.fail(w, r, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := jsonBody(r); err != nil {
		// Refused when an endpoint reads the body, so that a request
		// none reads one for is answered 404 or 405 whatever its
		// headers, as the API's router answers it.
		r.Body = refusedBody{err}
	}
	if err := t.Serve(w, r, c); err != nil {
		t.fail(w, r, err)
	}
}

// jsonBody refuses, as sessiond's API routes do before they call Serve, a
// body not declared JSON in UTF-8 (JSON between systems is UTF-8, RFC
// 8259 §8.1: one declared otherwise would be read otherwise than it was
// written) and a body sent with a content coding, which the Transmitter
// does not decode (415, which fail answers with Accept-Encoding: identity,
// RFC 9110 §15.5.16): a compressed body would be refused as malformed, and
// one only declared compressed read otherwise by a proxy that decodes it.
func jsonBody(r *http.Request) error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodDelete {
		return nil // no body read
	}
	if jsonbody.Coded(r.Header) {
		return &RequestError{http.StatusUnsupportedMediaType, "invalid_request", "content codings are not supported: send the body without Content-Encoding"}
	}
	if err := jsonbody.CheckType(r.Header.Get("Content-Type")); err != nil {
		return badRequest(err.Error())
	}
	return nil
}

// refusedBody is a request body jsonBody refused: reading it is the
// refusal, which decode answers.
type refusedBody struct{ err error }

func (b refusedBody) Read([]byte) (int, error) { return 0, b.err }
func (refusedBody) Close() error               { return nil }

// Serve answers one request, already authenticated as c, to a management
// endpoint (PathStreams, PathStatus, PathVerify, PathAddSubject,
// PathRemoveSubject) or a poll endpoint (PathPoll followed by the stream
// ID). It returns a *RequestError for the caller's faults (a body over the
// limit of an http.MaxBytesReader is 413), another error when the store
// failed; nil once it has answered.
func (t *Transmitter) Serve(w http.ResponseWriter, r *http.Request, c Caller) error {
	// stream_id is read with url.Values.Get, the first of two, where a
	// proxy or a log in front may take the last: sessiond's API refuses
	// two before it calls Serve, and so does ServeHTTP used alone.
	if len(r.URL.Query()["stream_id"]) > 1 {
		return badRequest("stream_id must be given at most once")
	}
	switch {
	case r.URL.Path == PathStreams:
		return t.serveStreams(w, r, c)
	case r.URL.Path == PathStatus:
		return t.serveStatus(w, r, c)
	case r.URL.Path == PathVerify && r.Method == http.MethodPost:
		return t.serveVerify(w, r, c)
	case r.URL.Path == PathAddSubject && r.Method == http.MethodPost:
		return t.serveSubject(w, r, c, true)
	case r.URL.Path == PathRemoveSubject && r.Method == http.MethodPost:
		return t.serveSubject(w, r, c, false)
	case strings.HasPrefix(r.URL.Path, PathPoll) && r.Method == http.MethodPost:
		return t.servePoll(w, r, c, strings.TrimPrefix(r.URL.Path, PathPoll))
	case r.URL.Path == PathStreams, r.URL.Path == PathStatus, r.URL.Path == PathVerify,
		r.URL.Path == PathAddSubject, r.URL.Path == PathRemoveSubject, strings.HasPrefix(r.URL.Path, PathPoll):
		return errMethodNotAllowed
	}
	return &RequestError{http.StatusNotFound, "not_found", "no such endpoint"}
}

// Configuration is the transmitter configuration metadata (SSF 1.0 §7.1)
// served at PathConfiguration.
func (t *Transmitter) Configuration() map[string]any {
	return map[string]any{
		"spec_version":               SpecVersion,
		"issuer":                     t.o.Issuer,
		"jwks_uri":                   t.o.Issuer + pathJWKS,
		"delivery_methods_supported": []string{DeliveryPush, DeliveryPoll},
		"configuration_endpoint":     t.o.Issuer + PathStreams,
		"status_endpoint":            t.o.Issuer + PathStatus,
		"add_subject_endpoint":       t.o.Issuer + PathAddSubject,
		"remove_subject_endpoint":    t.o.Issuer + PathRemoveSubject,
		"verification_endpoint":      t.o.Issuer + PathVerify,
		"events_supported":           TransmittedEvents(),
		"authorization_schemes":      []map[string]string{{"spec_urn": "urn:ietf:rfc:6750"}},
		"default_subjects":           "ALL",
	}
}

func (t *Transmitter) authenticate(r *http.Request) (Caller, error) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || len(r.Header.Values("Authorization")) != 1 || !strings.EqualFold(scheme, "Bearer") || tok == "" || t.o.Authenticate == nil {
		return Caller{}, &RequestError{http.StatusUnauthorized, "authentication_failed", "an API key with the ssf scope is required as Bearer"}
	}
	owner, admin, err := t.o.Authenticate(r.Context(), tok)
	switch {
	case errors.Is(err, ErrUnauthorized):
		return Caller{}, &RequestError{http.StatusUnauthorized, "authentication_failed", "unknown or revoked API key"}
	case errors.Is(err, ErrForbidden):
		return Caller{}, &RequestError{http.StatusForbidden, "access_denied", "the API key lacks the ssf scope"}
	case err != nil:
		return Caller{}, err
	}
	return Caller{Owner: owner, Admin: admin}, nil
}

func (t *Transmitter) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *RequestError
	if !errors.As(err, &ae) {
		t.o.Logger.ErrorContext(r.Context(), "ssf transmitter", "path", r.URL.Path, "err", err)
		ae = &RequestError{http.StatusServiceUnavailable, "temporarily_unavailable", "try again later"}
	}
	switch ae.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="ssf"`)
	case http.StatusUnsupportedMediaType: // jsonBody's: a content coding
		w.Header().Set("Accept-Encoding", "identity")
	}
	writeJSON(w, ae.Status, map[string]string{"err": ae.Code, "description": ae.Detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// streamConfig is a stream as the management API shows it.
// nonNil is l, or an empty list for nil: SSF's stream configuration has
// arrays there (a stream that requested no event sessiond sends has none
// delivered), never null.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func (t *Transmitter) streamConfig(st Stream) map[string]any {
	d := map[string]any{"method": st.Delivery.Method}
	if st.Delivery.Method == DeliveryPoll {
		d["endpoint_url"] = t.o.Issuer + PathPoll + st.ID
	} else {
		d["endpoint_url"] = st.Delivery.EndpointURL
	}
	out := map[string]any{
		"stream_id": st.ID, "iss": t.o.Issuer, "aud": audClaim(st.Aud),
		"events_supported": TransmittedEvents(), "events_requested": nonNil(st.EventsRequested),
		"events_delivered": nonNil(st.EventsDelivered), "delivery": d,
	}
	if st.Description != "" {
		out["description"] = st.Description
	}
	return out
}

// streamRequest is a create, replace or update body.
type streamRequest struct {
	StreamID string          `json:"stream_id"`
	Aud      json.RawMessage `json:"aud"`
	// Transmitter-supplied members a receiver may send back (an update
	// checks them: checkSupplied); a create ignores them.
	Iss             json.RawMessage `json:"iss"`
	EventsSupported json.RawMessage `json:"events_supported"`
	EventsDelivered json.RawMessage `json:"events_delivered"`
	EventsRequested *[]string       `json:"events_requested"`
	Delivery        *StreamDelivery `json:"delivery"`
	Description     *string         `json:"description"`
}

// parseAud reads a request's aud: a non-empty string or list of them.
func parseAud(raw json.RawMessage) ([]string, error) {
	var one string
	var many []string
	switch {
	case json.Unmarshal(raw, &one) == nil && one != "":
		return []string{one}, nil
	case json.Unmarshal(raw, &many) == nil && len(many) > 0 && !slices.Contains(many, ""):
		return many, nil
	}
	return nil, badRequest("aud must be a non-empty string or list of strings")
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// apply sets the request's members on st and checks the result. A
// create may choose the aud (checkAud then vets it); an update or
// replacement (created false) may only repeat it: aud is
// Transmitter-Supplied and "cannot be updated" (SSF 1.0 §8.1.1), and a
// Transmitter-Supplied property in a PATCH or PUT "MUST match the expected
// value" (§8.1.1.3, §8.1.1.4), else 400.
func (t *Transmitter) apply(st *Stream, req streamRequest, created bool) error {
	if len(req.Aud) > 0 {
		aud, err := parseAud(req.Aud)
		switch {
		case err != nil:
			return err
		case created:
			st.Aud = aud
		case !sameSet(aud, st.Aud):
			return badRequest("aud cannot be updated: it may only repeat the stream's aud")
		}
	}
	if req.EventsRequested != nil {
		st.EventsRequested = *req.EventsRequested
		st.EventsDelivered = delivered(st.EventsRequested)
	}
	if req.Description != nil {
		if tooLong(*req.Description, MaxText) {
			return badRequest("description is longer than " + strconv.Itoa(MaxText) + " characters")
		}
		st.Description = *req.Description
	}
	if req.Delivery != nil {
		st.Delivery = *req.Delivery
		st.AuthorizationSealed, st.unsealErr = nil, nil
	}
	switch st.Delivery.Method {
	case DeliveryPush:
		u, err := url.Parse(st.Delivery.EndpointURL)
		if err != nil || u.Host == "" || u.User != nil || !(u.Scheme == "https" || u.Scheme == "http" && t.o.AllowHTTP) {
			return badRequest("a push stream needs an https endpoint_url without credentials")
		}
		// Names are checked when connecting; this only answers early and
		// clearly for the obvious cases.
		if c := hostClass(u.Hostname()); c != "" && !t.o.AllowPrivate {
			return badRequest("delivery.endpoint_url names a non-public address (" + c + "); push endpoints must be public")
		}
	case DeliveryPoll:
		st.Delivery.EndpointURL, st.Delivery.AuthorizationHeader = "", "" // the transmitter supplies it
	default:
		return badRequest("delivery.method must be " + DeliveryPush + " or " + DeliveryPoll)
	}
	if len(st.Delivery.AuthorizationHeader) > 1024 || strings.ContainsAny(st.Delivery.AuthorizationHeader, "\r\n") {
		return badRequest("delivery.authorization_header is not a valid header value")
	}
	return nil
}

func (t *Transmitter) serveStreams(w http.ResponseWriter, r *http.Request, c Caller) error {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet:
		list, err := t.streams.list(ctx, true)
		if err != nil {
			return err
		}
		id := r.URL.Query().Get("stream_id")
		out := []map[string]any{}
		for _, st := range list {
			if !c.sees(st) {
				continue
			}
			if id == st.ID {
				writeJSON(w, http.StatusOK, t.streamConfig(st))
				return nil
			}
			out = append(out, t.streamConfig(st))
		}
		if id != "" {
			return errNoStream
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	case http.MethodPost:
		var req streamRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		st := Stream{ID: newStreamID(), Owner: c.Owner, Status: StatusEnabled, CreatedAt: t.o.Clock.Now().UTC(),
			EventsDelivered: delivered(nil), EventsRequested: []string{}}
		st.Aud = t.defaultAud(st.ID)
		if req.Delivery == nil {
			// SSF 1.0 §8.1.1.1: without delivery, the transmitter MUST
			// assume poll, and answers with its endpoint_url.
			req.Delivery = &StreamDelivery{Method: DeliveryPoll}
		}
		if err := t.apply(&st, req, true); err != nil {
			return err
		}
		err := t.streams.update(ctx, func(l []Stream) ([]Stream, error) {
			if len(l) >= MaxStreams {
				return nil, &RequestError{http.StatusConflict, "invalid_request", "too many streams"}
			}
			mine := 0
			for _, s := range l {
				if s.Owner == c.Owner {
					mine++
				}
			}
			if !c.Admin && mine >= t.o.MaxStreamsPerOwner {
				return nil, &RequestError{http.StatusConflict, "invalid_request",
					"too many streams for this API key (at most " + strconv.Itoa(t.o.MaxStreamsPerOwner) + ")"}
			}
			if err := t.checkAud(l, st); err != nil {
				return nil, err
			}
			return append(l, st), nil
		})
		if err != nil {
			return err
		}
		t.o.Logger.InfoContext(ctx, "ssf stream created", "stream_id", st.ID, "method", st.Delivery.Method, "owner", st.Owner)
		t.record(r, EventStreamCreated, st, c, nil)
		writeJSON(w, http.StatusCreated, t.streamConfig(st))
		return nil
	case http.MethodPatch, http.MethodPut:
		var req streamRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		if r.Method == http.MethodPut && (req.Delivery == nil || req.EventsRequested == nil) {
			return badRequest("a replacement needs delivery and events_requested")
		}
		var before Stream
		out, err := t.updateSeen(ctx, c, req.StreamID, func(st *Stream) error {
			before = *st
			if r.Method == http.MethodPut {
				// What the receiver supplies returns to its default when
				// a replacement leaves it out; what the transmitter
				// supplies (aud) is kept (SSF 1.0 §8.1.1.4).
				st.Description, st.Delivery = "", StreamDelivery{}
			}
			if err := t.apply(st, req, false); err != nil {
				return err
			}
			// The header is never answered, so a receiver that reads its
			// stream and sends the delivery back with PATCH cannot repeat
			// it: what a PATCH leaves out stays (§8.1.1.3), while the
			// delivery still goes to the same endpoint (never to another
			// host, which would receive the old receiver's secret). A PUT
			// replaces: what it leaves out goes (§8.1.1.4).
			if r.Method == http.MethodPatch && req.Delivery != nil && req.Delivery.AuthorizationHeader == "" &&
				st.Delivery.Method == DeliveryPush && st.Delivery == (StreamDelivery{Method: before.Delivery.Method, EndpointURL: before.Delivery.EndpointURL}) {
				st.Delivery.AuthorizationHeader, st.AuthorizationSealed, st.unsealErr =
					before.Delivery.AuthorizationHeader, before.AuthorizationSealed, before.unsealErr
			}
			return t.checkSupplied(before, *st, req)
		})
		if err != nil {
			return err
		}
		t.o.Logger.InfoContext(ctx, "ssf stream updated", "stream_id", out.ID, "method", out.Delivery.Method, "owner", out.Owner)
		t.recordUpdate(r, before, out, c)
		if out.Delivery.Method == DeliveryPush {
			if err := t.pushQueued(ctx, out.ID); err != nil {
				return err
			}
		}
		writeJSON(w, http.StatusOK, t.streamConfig(out))
		return nil
	case http.MethodDelete:
		id := r.URL.Query().Get("stream_id")
		if id == "" {
			return errNoStreamID
		}
		var gone Stream
		err := t.streams.update(ctx, func(l []Stream) ([]Stream, error) {
			i := slices.IndexFunc(l, func(s Stream) bool { return s.ID == id && c.sees(s) })
			if i < 0 {
				return nil, errNoStream
			}
			gone = l[i]
			return slices.Delete(l, i, i+1), nil
		})
		if err != nil {
			return err
		}
		if err := t.queue.clear(ctx, id, true); err != nil {
			t.o.Logger.WarnContext(ctx, "ssf: clear poll queue of a deleted stream", "stream_id", id, "err", err)
		}
		t.o.Logger.InfoContext(ctx, "ssf stream deleted", "stream_id", id)
		t.record(r, EventStreamDeleted, gone, c, nil)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return errMethodNotAllowed
}

// record adds a stream management event to TransmitterOptions.Events,
// before the request is answered, whether or not the caller is still
// there, with details about st and, when given, more. The change is made
// either way: a failure to record it is logged.
func (t *Transmitter) record(r *http.Request, typ sessiond.EventType, st Stream, c Caller, more map[string]any) {
	if t.o.Events == nil {
		return
	}
	// The change is made: a caller that hangs up now must not take its
	// event with it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	d := map[string]any{"stream_id": st.ID, "delivery": st.Delivery.Method, "owner": st.Owner}
	if c.Owner != "" {
		d["api_key_id"] = c.Owner
	}
	if h := endpointHost(st); h != "" {
		d["endpoint_host"] = h
	}
	maps.Copy(d, more)
	var client sessiond.Client
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		client, _ = sessiond.CleanClient(sessiond.Client{IP: host, UserAgent: r.UserAgent()}) // not an address: none
	}
	now := t.o.Clock.Now().UTC()
	e := sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: typ, Client: client, Details: d}
	if err := t.o.Events.Record(ctx, e); err != nil {
		t.o.Logger.ErrorContext(ctx, "ssf: record event", "type", string(typ), "stream_id", st.ID, "err", err)
	}
}

// endpointHost is the host of a push stream's endpoint_url, "" for poll.
// The host alone goes to the event log: the URL's path or query may carry
// a credential of the receiver's, as the authorization header does.
func endpointHost(st Stream) string {
	if u, err := url.Parse(st.Delivery.EndpointURL); err == nil && st.Delivery.Method == DeliveryPush {
		return u.Hostname()
	}
	return ""
}

// recordUpdate records EventStreamUpdated for a stream changed from
// before to after (PATCH, PUT, a status), naming in details.changed what
// changed: delivery.method, delivery.endpoint_url (with
// details.previous_endpoint_host, never the URL),
// delivery.authorization_header (never its value), events_requested,
// description, status (with details.status and previous_status). Where a
// stream's SETs go is as sensitive as creating it: a new endpoint_url
// redirects every revocation it carries, a disabled stream carries none.
// A request that changed nothing records nothing.
func (t *Transmitter) recordUpdate(r *http.Request, before, after Stream, c Caller) {
	var changed []string
	more := map[string]any{}
	if before.Delivery.Method != after.Delivery.Method {
		changed = append(changed, "delivery.method")
	}
	if before.Delivery.EndpointURL != after.Delivery.EndpointURL {
		changed = append(changed, "delivery.endpoint_url")
		if h := endpointHost(before); h != "" {
			more["previous_endpoint_host"] = h
		}
	}
	if before.Delivery.AuthorizationHeader != after.Delivery.AuthorizationHeader ||
		len(before.AuthorizationSealed) > 0 && len(after.AuthorizationSealed) == 0 {
		changed = append(changed, "delivery.authorization_header")
	}
	if !slices.Equal(before.EventsRequested, after.EventsRequested) {
		changed = append(changed, "events_requested")
	}
	if before.Description != after.Description {
		changed = append(changed, "description")
	}
	if before.Status != after.Status {
		changed = append(changed, "status")
		more["status"], more["previous_status"] = after.Status, before.Status
	}
	if len(changed) == 0 {
		return
	}
	more["changed"] = changed
	t.record(r, EventStreamUpdated, after, c, more)
}

// checkSupplied refuses a PATCH or PUT that repeats a transmitter-supplied
// member (SSF 1.0 §8.1.1.3, §8.1.1.4: it MAY be present, but MUST match
// the expected value; one left out is ignored) with another value than the
// stream's, as apply does for aud: iss (exactly the issuer),
// events_supported (what the transmitter sends) and events_delivered (the
// stream's before the change, or after it when events_requested changes
// it), each list in any order; and a poll stream's delivery.endpoint_url
// (its poll endpoint, which the transmitter supplies). stream_id names the
// stream changed: another is another stream (404).
func (t *Transmitter) checkSupplied(before, after Stream, req streamRequest) error {
	if len(req.Iss) > 0 {
		var iss string
		if json.Unmarshal(req.Iss, &iss) != nil || iss != t.o.Issuer {
			return badRequest("iss cannot be updated: it may only repeat the transmitter's issuer")
		}
	}
	if len(req.EventsSupported) > 0 {
		var l []string
		if json.Unmarshal(req.EventsSupported, &l) != nil || l == nil || !sameSet(l, TransmittedEvents()) {
			return badRequest("events_supported cannot be updated: it may only repeat the events the transmitter supports")
		}
	}
	if req.Delivery != nil && after.Delivery.Method == DeliveryPoll && req.Delivery.EndpointURL != "" &&
		req.Delivery.EndpointURL != t.o.Issuer+PathPoll+after.ID {
		return badRequest("a poll stream's endpoint_url is supplied by the transmitter: it may only repeat the stream's poll endpoint")
	}
	if len(req.EventsDelivered) > 0 {
		var l []string
		if json.Unmarshal(req.EventsDelivered, &l) != nil || l == nil ||
			!sameSet(l, before.EventsDelivered) && !sameSet(l, after.EventsDelivered) {
			return badRequest("events_delivered cannot be updated: it may only repeat the stream's events_delivered")
		}
	}
	return nil
}

// defaultAud is the aud of a stream that sets none.
func (t *Transmitter) defaultAud(id string) []string {
	return []string{t.o.Issuer + PathStreams + "/" + id}
}

// pushQueued hands the SETs still queued for polling to the outbox once
// the stream pushes: nothing reads the queue of a push stream, and their
// outbox entries were finished when they were queued, so they would be
// lost. Each keeps its claims and jti, so a receiver that polled one
// already drops the copy; its outbox ID is new, the first being taken. It
// runs after every change that leaves a push stream, not only the switch
// from poll: a change sent again after a failure here moves what is left.
//
// The queue is emptied by compare-and-swap at the version whose SETs were
// moved, and written even when it held none (if it exists: a stream that
// never queued a SET gets no document; it is not deleted, as the stream
// may turn back to poll under the same queue name: pollQueue.retire). A Send that read the stream as poll before the
// change, and queues its SET now, either queued it before this write (and
// it is moved) or conflicts with it, reads the stream again and pushes;
// or, finding no queue, makes it and then reads the stream again
// (queuePoll).
func (t *Transmitter) pushQueued(ctx context.Context, id string) error {
	now := t.o.Clock.Now()
	suffix := "_" + newStreamID() // unique to this move: an ID taken before (a try that lost its write) is skipped
	moved := 0
	_, err := t.queue.change(ctx, id, func(sets []queued) ([]queued, bool, error) {
		moved = len(sets)
		if len(sets) == 0 {
			return []queued{}, true, nil
		}
		ds := make([]sessiond.Delivery, 0, len(sets))
		for _, q := range sets {
			var c struct {
				Txn string `json:"txn"`
			}
			_ = json.Unmarshal(q.Claims, &c) // Send refuses a SET it cannot read
			ds = append(ds, sessiond.Delivery{ID: "ssf_" + q.JTI + suffix, Endpoint: EndpointPrefix + id, EventID: c.Txn,
				Payload: q.Claims, State: sessiond.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now})
		}
		// In the outbox before they leave the queue: a failure between
		// the two leaves a copy in each, never none.
		if err := t.o.Outbox.EnqueueDeliveries(ctx, ds...); err != nil {
			return nil, false, err
		}
		return []queued{}, true, nil
	})
	if err != nil || moved == 0 {
		return err
	}
	t.o.Logger.InfoContext(ctx, "ssf: SETs queued for polling moved to push delivery", "stream_id", id, "count", moved)
	return nil
}

func (t *Transmitter) serveStatus(w http.ResponseWriter, r *http.Request, c Caller) error {
	ctx := r.Context()
	status := func(st Stream) map[string]any {
		out := map[string]any{"stream_id": st.ID, "status": st.Status}
		if st.Reason != "" {
			out["reason"] = st.Reason
		}
		return out
	}
	switch r.Method {
	case http.MethodGet:
		id := r.URL.Query().Get("stream_id")
		if id == "" {
			return errNoStreamID
		}
		st, err := t.streams.get(ctx, id)
		if errors.Is(err, sessiond.ErrNotFound) || err == nil && !c.sees(st) {
			return errNoStream
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, status(st))
		return nil
	case http.MethodPost:
		var req struct {
			StreamID string `json:"stream_id"`
			Status   string `json:"status"`
			Reason   string `json:"reason"`
		}
		if err := decode(r, &req); err != nil {
			return err
		}
		if !slices.Contains([]string{StatusEnabled, StatusPaused, StatusDisabled}, req.Status) {
			return badRequest("status must be enabled, paused or disabled")
		}
		var before Stream
		out, err := t.updateSeen(ctx, c, req.StreamID, func(st *Stream) error {
			before = *st
			st.Status, st.Reason = req.Status, cut(req.Reason, MaxText)
			return nil
		})
		if err != nil {
			return err
		}
		t.recordUpdate(r, before, out, c)
		if out.Status == StatusDisabled {
			// A disabled stream holds no SETs (SSF 1.0 §8.1.2): those
			// queued for polling go, not to reappear once enabled. An
			// error answers 503 with the status changed; the request,
			// sent again, clears them.
			if err := t.queue.clear(ctx, out.ID, false); err != nil {
				return err
			}
		}
		writeJSON(w, http.StatusOK, status(out))
		return nil
	}
	return errMethodNotAllowed
}

// serveVerify queues a verification event (SSF 1.0 §8.1.4) for the
// stream, delivered like every other SET.
func (t *Transmitter) serveVerify(w http.ResponseWriter, r *http.Request, c Caller) error {
	var req struct {
		StreamID string `json:"stream_id"`
		State    string `json:"state"`
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.StreamID == "" {
		return errNoStreamID
	}
	// Cut, the state would match nothing the receiver sent (SSF 1.0
	// §8.1.4.1), while 204 told it all was well.
	if tooLong(req.State, MaxText) {
		return badRequest("state is longer than " + strconv.Itoa(MaxText) + " characters")
	}
	st, err := t.streams.get(r.Context(), req.StreamID)
	if errors.Is(err, sessiond.ErrNotFound) || err == nil && !c.sees(st) {
		return errNoStream
	}
	if err != nil {
		return err
	}
	now := t.o.Clock.Now()
	payload := map[string]any{}
	if req.State != "" {
		payload["state"] = req.State
	}
	d, err := t.delivery(st, sessiond.NewEventID(now), SSFVerification,
		map[string]any{"format": "opaque", "id": st.ID}, payload, now)
	if err != nil {
		return err
	}
	if err := t.o.Outbox.EnqueueDeliveries(r.Context(), d); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pollRequestBody is an RFC 8936 §2.4 poll request.
type pollRequestBody struct {
	Ack               []string                     `json:"ack"`
	SetErrs           map[string]map[string]string `json:"setErrs"`
	MaxEvents         *int                         `json:"maxEvents"`
	ReturnImmediately *bool                        `json:"returnImmediately"`
}

// servePoll is a poll stream's endpoint (RFC 8936): it forgets the SETs
// acknowledged or reported in setErrs (each one it held logged), then
// returns up to maxEvents queued SETs, signed now, holding the request up
// to LongPoll while none is queued unless returnImmediately. A paused or
// disabled stream hands out none.
func (t *Transmitter) servePoll(w http.ResponseWriter, r *http.Request, c Caller, id string) error {
	ctx := r.Context()
	st, err := t.streams.get(ctx, id)
	if errors.Is(err, sessiond.ErrNotFound) || err == nil && (!c.sees(st) || st.Delivery.Method != DeliveryPoll) {
		return errNoStream
	}
	if err != nil {
		return err
	}
	var req pollRequestBody
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.MaxEvents != nil && *req.MaxEvents < 0 {
		return badRequest("maxEvents must not be negative")
	}
	done := slices.Clone(req.Ack)
	for jti := range req.SetErrs {
		done = append(done, jti)
	}
	removed, err := t.queue.remove(ctx, id, done)
	if err != nil {
		return err
	}
	// Only a refusal of a SET the stream held is logged, each on its own
	// line: the receiver chooses the jtis, and one request could name
	// thousands. The others (a report sent again after a lost answer, or
	// made up) are one line.
	unknown := 0
	for jti, e := range req.SetErrs {
		if !removed[jti] {
			unknown++
			continue
		}
		t.o.Logger.WarnContext(ctx, "ssf: receiver refused a SET", "stream_id", id, "jti", jti,
			"err", cut(e["err"], 64), "description", cut(e["description"], MaxText))
	}
	if unknown > 0 {
		t.o.Logger.InfoContext(ctx, "ssf: setErrs named SETs the stream does not hold", "stream_id", id, "count", unknown)
	}
	limit := 100
	if req.MaxEvents != nil {
		limit = min(*req.MaxEvents, 1000)
	}
	wait := req.ReturnImmediately == nil || !*req.ReturnImmediately
	deadline := time.Now().Add(t.o.LongPoll)
	for {
		sets, _, expired, err := t.queue.read(ctx, id)
		if err != nil {
			return err
		}
		if expired > 0 { // stored without them, and logged
			if err := t.queue.prune(ctx, id); err != nil {
				return err
			}
		}
		if st.Status != StatusEnabled {
			sets = nil
		}
		if len(sets) > 0 || limit == 0 || !wait || !time.Now().Before(deadline) {
			out := map[string]string{}
			now := t.o.Clock.Now()
			for _, q := range sets[:min(limit, len(sets))] {
				s, err := t.sign(q.Claims, now)
				if err != nil {
					return err
				}
				out[q.JTI] = s
			}
			writeJSON(w, http.StatusOK, map[string]any{"sets": out, "moreAvailable": len(sets) > len(out)})
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Record enqueues the deliveries of e (see Deliveries) in the outbox; for
// a store that does not write them with the change that caused e.
func (t *Transmitter) Record(ctx context.Context, e sessiond.Event) error {
	return t.RecordBatch(ctx, []sessiond.Event{e})
}

// RecordBatch is Record for several events, their deliveries enqueued in
// one outbox write; see sessiond.BatchSink. An event whose deliveries
// cannot be made (the stream list unreadable) is left out, as its own
// Record would fail alone, and its error returned with the others'.
func (t *Transmitter) RecordBatch(ctx context.Context, events []sessiond.Event) error {
	var (
		ds   []sessiond.Delivery
		errs []error
	)
	for _, e := range events {
		eds, err := t.Deliveries(ctx, e)
		if err != nil {
			errs = append(errs, fmt.Errorf("ssf: deliveries of event %s: %w", e.ID, err))
			continue
		}
		ds = append(ds, eds...)
	}
	if len(ds) > 0 {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := t.o.Outbox.EnqueueDeliveries(ctx, ds...); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
