package dpop

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
)

// Defaults for Options' zero values.
const (
	DefaultMaxAge       = 5 * time.Minute
	DefaultLeeway       = 30 * time.Second
	DefaultMaxProofSize = 8 << 10
	maxJTILen           = 256
)

// DefaultAlgorithms are the asymmetric algorithms accepted when
// Options.Algorithms is empty. none and HS* can never be configured.
var defaultAlgorithms = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512,
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.EdDSA,
}

// Options configures a Verifier. Every zero value has a safe default.
type Options struct {
	// Clock gives the time; nil means sessiond.SystemClock.
	Clock sessiond.Clock
	// Algorithms is the allow-list of proof algorithms; empty means ES256,
	// ES384, ES512, RS256…RS512, PS256…PS512 and EdDSA. Symmetric algorithms
	// and none are refused by New.
	Algorithms []jose.SignatureAlgorithm
	// MaxAge is how old a proof's iat may be; zero means DefaultMaxAge.
	MaxAge time.Duration
	// Leeway is how far in the future iat may be (clock skew); zero means
	// DefaultLeeway.
	Leeway time.Duration
	// MaxProofSize bounds the proof before it is parsed; zero means
	// DefaultMaxProofSize bytes.
	MaxProofSize int
	// Replay remembers jti values for the proof lifetime; nil means a cache in
	// this process's memory (enough for one node; give a shared one for many).
	Replay ReplayCache
	// Nonces, when set, makes a server nonce mandatory in every proof.
	Nonces NonceSource
}

// Request describes the HTTP request the proof must be bound to.
type Request struct {
	Method string // the request method, e.g. POST
	URL    string // the absolute request URL; query and fragment are ignored
	// AccessToken, when the request presents one, must hash to the proof's ath.
	AccessToken sessiond.Secret
	// JKT, when set, is the thumbprint the proof key must have (the token's cnf.jkt).
	JKT string
	// NotAfter, when set, is when the token the proof comes with is no
	// longer accepted (an access token's exp, the end of a refresh
	// token's session): a proof by the JKT key refused for an iat ahead
	// of the clock is remembered until then at most (Verifier.Verify).
	NotAfter time.Time
}

// Proof is what a verified proof tells about its key.
type Proof struct {
	JKT      string    // RFC 7638 SHA-256 thumbprint of the key, base64url
	JTI      string    // the proof's unique identifier
	IssuedAt time.Time // the proof's iat
}

// Verifier checks DPoP proofs. It is safe for concurrent use.
type Verifier struct {
	clock   sessiond.Clock
	algs    []jose.SignatureAlgorithm
	maxAge  time.Duration
	leeway  time.Duration
	maxSize int
	replay  ReplayCache
	nonces  NonceSource
}

// New returns a Verifier, or an error when Options ask for a symmetric or
// unknown algorithm.
func New(opts Options) (*Verifier, error) {
	v := &Verifier{
		clock: opts.Clock, algs: opts.Algorithms, maxAge: opts.MaxAge, leeway: opts.Leeway,
		maxSize: opts.MaxProofSize, replay: opts.Replay, nonces: opts.Nonces,
	}
	if v.clock == nil {
		v.clock = sessiond.SystemClock{}
	}
	if len(v.algs) == 0 {
		v.algs = defaultAlgorithms
	}
	for _, a := range v.algs {
		if !containsAlg(defaultAlgorithms, a) {
			return nil, fmt.Errorf("dpop: algorithm %q is not an asymmetric signature algorithm", a)
		}
	}
	if v.maxAge <= 0 {
		v.maxAge = DefaultMaxAge
	}
	if v.leeway <= 0 {
		v.leeway = DefaultLeeway
	}
	if v.maxSize <= 0 {
		v.maxSize = DefaultMaxProofSize
	}
	if v.replay == nil {
		v.replay = NewMemoryReplay()
	}
	return v, nil
}

// Nonce returns the nonce to send in a DPoP-Nonce header, or "" when nonces
// are not required.
func (v *Verifier) Nonce(ctx context.Context) (string, error) {
	if v.nonces == nil {
		return "", nil
	}
	return v.nonces.Current(ctx)
}

type claims struct {
	JTI   string          `json:"jti"`
	HTM   string          `json:"htm"`
	HTU   string          `json:"htu"`
	IAT   json.RawMessage `json:"iat"` // a JSON number (a NumericDate), never a string
	ATH   *string         `json:"ath"`
	Nonce *string         `json:"nonce"`
}

func invalid(reason error, detail string) error {
	if detail == "" {
		return fmt.Errorf("%w: %w", ErrInvalidProof, reason)
	}
	return fmt.Errorf("%w: %w: %s", ErrInvalidProof, reason, detail)
}

// Verify checks proof against req and, when it is valid, records its jti so
// that the same proof is refused next time. A proof by the req.JKT key
// refused for an iat ahead of the clock (the device's clock runs fast) is
// recorded too, until it could pass no more (or req.NotAfter): it would
// pass once the clock reaches its iat, and a request captured with it
// (the proof and its token) could then be replayed. That costs one write
// of the replay cache per such refusal, which only the key's holder,
// with a live token, can cause; a failed write is returned as the
// cache's failure.
func (v *Verifier) Verify(ctx context.Context, proof string, req Request) (*Proof, error) {
	p, err := v.check(ctx, proof, req)
	if err != nil {
		if p != nil {
			if rerr := v.rememberAhead(ctx, p, req); rerr != nil {
				return nil, rerr
			}
		}
		return nil, err
	}
	// Replay last, so that an invalid proof cannot burn a jti. Not
	// sessiond.RememberAcked: every bound request checks a proof, and a
	// wait for a replica on each would cost every request (and, while a
	// replica is down, RevocationWait each); a failover may forget the
	// last proofs, each then taken once more until its iat window ends.
	key := replayKey(p.JKT, p.JTI)
	fresh, err := v.replay.RememberOnce(ctx, key, v.clock.Now(), p.IssuedAt.Add(v.maxAge+v.leeway))
	if err != nil {
		return nil, fmt.Errorf("dpop: replay cache: %w", err)
	}
	if !fresh {
		return nil, invalid(ErrReplayed, "")
	}
	return p, nil
}

// rememberAhead records p, refused for its iat ahead of the clock, until
// it could pass no more: as a valid proof is, but from its iat, capped
// at req.NotAfter. A proof that could only pass once req.NotAfter is past
// is not recorded: its token is refused by then.
func (v *Verifier) rememberAhead(ctx context.Context, p *Proof, req Request) error {
	until := p.IssuedAt.Add(v.maxAge + v.leeway)
	if !req.NotAfter.IsZero() {
		if !p.IssuedAt.Add(-v.leeway).Before(req.NotAfter) {
			return nil
		}
		if req.NotAfter.Before(until) {
			until = req.NotAfter
		}
	}
	if _, err := v.replay.RememberOnce(ctx, replayKey(p.JKT, p.JTI), v.clock.Now(), until); err != nil {
		return fmt.Errorf("dpop: replay cache: %w", err)
	}
	return nil
}

// check verifies proof against req, all but its jti's replay. A proof by
// the req.JKT key refused for an iat ahead of the clock alone is returned
// with its error, for Verify to record (rememberAhead).
func (v *Verifier) check(ctx context.Context, proof string, req Request) (*Proof, error) {
	if proof == "" || len(proof) > v.maxSize {
		return nil, invalid(ErrMalformed, "empty or oversized")
	}
	jws, err := jose.ParseSignedCompact(proof, v.algs)
	if err != nil {
		return nil, invalid(ErrMalformed, "not a compact JWS with an accepted algorithm")
	}
	if len(jws.Signatures) != 1 {
		return nil, invalid(ErrMalformed, "one signature expected")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "dpop+jwt") {
		return nil, invalid(ErrMalformed, "typ is not dpop+jwt")
	}
	if h.JSONWebKey == nil || !h.JSONWebKey.IsPublic() || !h.JSONWebKey.Valid() {
		return nil, invalid(ErrSignature, "header jwk missing or not a public key")
	}
	// As the prover and DBSC require: no RSA key under 2048 bits (NIST SP
	// 800-131A), and none so large that checking it is the cost.
	if k, ok := h.JSONWebKey.Key.(*rsa.PublicKey); ok && (k.N.BitLen() < 2048 || k.N.BitLen() > 8192) {
		return nil, invalid(ErrSignature, "RSA key not between 2048 and 8192 bits")
	}
	payload, err := jws.Verify(h.JSONWebKey.Key)
	if err != nil {
		return nil, invalid(ErrSignature, "")
	}
	tp, err := h.JSONWebKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, invalid(ErrSignature, "no thumbprint")
	}
	jkt := base64.RawURLEncoding.EncodeToString(tp)
	// The key before any claim, as a JWS is checked before what it says:
	// a proof by another key than the bound one learns nothing of its
	// claims (its iat above all: see ErrClockSkew below).
	if req.JKT != "" && subtle.ConstantTimeCompare([]byte(req.JKT), []byte(jkt)) != 1 {
		return nil, invalid(ErrKeyMismatch, "")
	}

	var c claims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return nil, invalid(ErrMalformed, "claims are not one JSON object")
	}
	if c.JTI == "" || len(c.JTI) > maxJTILen {
		return nil, invalid(ErrMalformed, "jti missing or too long")
	}
	if c.HTM == "" || c.HTM != req.Method {
		return nil, invalid(ErrMethod, "")
	}
	if !SameURL(c.HTU, req.URL) {
		return nil, invalid(ErrURL, "")
	}
	// json.Number would take a quoted number too; a NumericDate is a
	// JSON number (RFC 7519 §2).
	var iatf float64
	if len(c.IAT) > 0 && c.IAT[0] != '"' {
		iatf, err = json.Number(c.IAT).Float64()
	} else {
		err = errors.New("not a number")
	}
	if err != nil || math.IsNaN(iatf) || iatf < 0 || iatf > 1<<40 {
		return nil, invalid(ErrMalformed, "iat missing or not a number")
	}
	if req.AccessToken != "" {
		sum := sha256.Sum256([]byte(req.AccessToken))
		want := base64.RawURLEncoding.EncodeToString(sum[:])
		if c.ATH == nil || subtle.ConstantTimeCompare([]byte(*c.ATH), []byte(want)) != 1 {
			return nil, invalid(ErrAccessTokenHash, "")
		}
	}
	// The time last of the proof's own checks: refused here, a proof by
	// the bound key is right in everything but its time, the holder's
	// clock (sessiond.ErrClockSkew: no failed refresh). Without a bound
	// key to check, anyone's key could have made it: ErrIssuedAt alone.
	iat := time.Unix(int64(iatf), 0)
	now := v.clock.Now()
	if iat.Before(now.Add(-v.maxAge)) || iat.After(now.Add(v.leeway)) {
		if req.JKT == "" {
			// Not recorded when ahead either: anyone could fill the
			// replay cache with such proofs of keys of their own.
			return nil, invalid(ErrIssuedAt, "")
		}
		err := fmt.Errorf("%w: %w: %w", ErrInvalidProof, ErrIssuedAt, sessiond.ErrClockSkew)
		if iat.After(now) {
			return &Proof{JKT: jkt, JTI: c.JTI, IssuedAt: iat}, err
		}
		return nil, err
	}
	if v.nonces != nil {
		if c.Nonce == nil || *c.Nonce == "" {
			return nil, fmt.Errorf("%w: nonce missing", ErrUseNonce)
		}
		ok, err := v.nonces.Valid(ctx, *c.Nonce)
		if err != nil {
			return nil, fmt.Errorf("dpop: nonce source: %w", err)
		}
		if !ok {
			return nil, fmt.Errorf("%w: nonce unknown or expired", ErrUseNonce)
		}
	}
	return &Proof{JKT: jkt, JTI: c.JTI, IssuedAt: iat}, nil
}

// SameURL reports whether htu names the same resource as the request URL under
// RFC 9449 section 4.3: both absolute http(s) URLs, compared on scheme, host
// (case-insensitively, default port dropped) and path, ignoring query and
// fragment.
func SameURL(htu, requestURL string) bool {
	a, ok := normalURL(htu)
	if !ok {
		return false
	}
	b, ok := normalURL(requestURL)
	return ok && a == b
}

func normalURL(s string) (string, bool) {
	if len(s) > 4096 {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.Opaque != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", false
	}
	port := u.Port()
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	switch {
	case port != "":
		host = net.JoinHostPort(host, port) // brackets an IPv6 literal
	case strings.Contains(host, ":"):
		host = "[" + host + "]"
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, true
}

// ATH returns the ath claim value for an access token: base64url(SHA-256).
func ATH(accessToken sessiond.Secret) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func replayKey(jkt, jti string) string {
	sum := sha256.Sum256([]byte(jkt + "\x00" + jti))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func containsAlg(list []jose.SignatureAlgorithm, a jose.SignatureAlgorithm) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}
