// Package client is the Go client of the sessiond server's HTTP API (the
// routes of internal/httpapi). Its errors match the library's sentinels, so
// code written against a sessiond.Manager reads the same against a server:
// errors.Is(err, sessiond.ErrExpired).
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// DefaultUserAgent is sent when no WithUserAgent option is given.
const DefaultUserAgent = "sessiond-go-client"

// Response size limits: a success body is at most maxBody, an error body
// is read up to maxErrorBody.
const (
	maxBody      = 32 << 20
	maxErrorBody = 64 << 10
)

// Client calls one sessiond server. It is safe for concurrent use.
type Client struct {
	base string // escaped, no trailing slash
	// key is behind a pointer so that printing the Client (%v, %+v, a
	// slog attribute) shows an address, never the API key: fmt cannot
	// call Secret's String on an unexported field.
	key *sessiond.Secret
	hc  *http.Client
	// long is hc for the kill switch, which may run for minutes: its
	// Timeout is at least IncidentTimeout.
	long *http.Client
	ua   string

	prover DPoPProver // WithDPoP
	dpop   dpopState
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends requests with hc (timeouts, TLS, proxies). The
// Client uses a copy that does not follow redirects, so the API key is
// never replayed to another URL. Default: a client with a 30-second timeout.
// RevokeIncident waits at least IncidentTimeout whatever hc's Timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.ua = ua }
}

// New returns a Client for the server at baseURL (http or https, with an
// optional path prefix), authenticating with apiKey.
func New(baseURL string, apiKey sessiond.Secret, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("client: base URL: %w", &sessiond.ArgumentError{Field: "baseURL", Msg: "does not parse"})
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("client: base URL: %w", &sessiond.ArgumentError{Field: "baseURL", Msg: "must be an http or https URL"})
	case u.Host == "":
		return nil, fmt.Errorf("client: base URL: %w", &sessiond.ArgumentError{Field: "baseURL", Msg: "has no host"})
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("client: base URL: %w", &sessiond.ArgumentError{Field: "baseURL", Msg: "must not have user info, a query or a fragment"})
	case apiKey == "":
		return nil, fmt.Errorf("client: %w", &sessiond.ArgumentError{Field: "apiKey", Msg: "is required"})
	}
	c := &Client{base: strings.TrimSuffix(u.String(), "/"), key: &apiKey, hc: &http.Client{Timeout: 30 * time.Second}, ua: DefaultUserAgent}
	for _, o := range opts {
		if o != nil {
			o(c)
		}
	}
	hc := *c.hc
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &hc
	long := hc
	if long.Timeout != 0 && long.Timeout < IncidentTimeout {
		long.Timeout = IncidentTimeout
	}
	c.long = &long
	return c, nil
}

// Session is a session as the API shows it.
type Session = apitype.Session

// TokenResponse is a session and its tokens. The tokens are Secrets, so
// they print as REDACTED; use string(tok) to send one on.
type TokenResponse struct {
	Session              Session
	AccessToken          sessiond.Secret
	AccessTokenExpiresAt time.Time
	// ExpiresIn is the access token's lifetime from the server's answer
	// (expires_in, whole seconds, rounded down; zero from a server before
	// it). Where the clock may be wrong (a phone), count it from when the
	// answer arrived: a time.Now() taken then, plus ExpiresIn, is compared
	// on the monotonic clock, which setting the wall clock does not move.
	ExpiresIn time.Duration
	// RefreshToken is empty and RefreshTokenExpiresAt zero when the
	// strategy has no refresh tokens (database).
	RefreshToken          sessiond.Secret
	RefreshTokenExpiresAt time.Time
	TokenType             string // "Bearer", or "DPoP" for a session bound to a DPoP key (RFC 9449 §5)

	// Set when CreateRequest asked for a handoff (see
	// apitype.HandoffRequest). LoginCode is the single-use code and
	// LoginURL the relative URL that redeems it (the browser is sent
	// there); SetCookie are the Set-Cookie values to relay. Each carries
	// a credential, so each is a Secret: string(v) to send it on.
	LoginCode sessiond.Secret
	LoginURL  sessiond.Secret
	SetCookie []sessiond.Secret
	// DPoPNonce is the server nonce for the next DPoP proof, when the
	// server requires nonces (dpop.require_nonce) and the call carried a
	// proof: relay it to the client that holds the key.
	DPoPNonce string
}

// tokenWire is TokenResponse on the wire: decoding straight into a Secret
// would work, but a Secret is never what the JSON layer should see.
type tokenWire struct {
	Session               Session    `json:"session"`
	AccessToken           string     `json:"access_token"`
	AccessTokenExpiresAt  time.Time  `json:"access_token_expires_at"`
	ExpiresIn             int64      `json:"expires_in"`
	RefreshToken          *string    `json:"refresh_token"`
	RefreshTokenExpiresAt *time.Time `json:"refresh_token_expires_at"`
	TokenType             string     `json:"token_type"`
	apitype.HandoffResponse
}

func (w *tokenWire) response() *TokenResponse {
	out := &TokenResponse{
		Session:              w.Session,
		AccessToken:          sessiond.Secret(w.AccessToken),
		AccessTokenExpiresAt: w.AccessTokenExpiresAt,
		ExpiresIn:            time.Duration(max(0, min(w.ExpiresIn, int64(math.MaxInt64/time.Second)))) * time.Second,
		TokenType:            w.TokenType,
	}
	if w.RefreshToken != nil {
		out.RefreshToken = sessiond.Secret(*w.RefreshToken)
	}
	if w.RefreshTokenExpiresAt != nil {
		out.RefreshTokenExpiresAt = *w.RefreshTokenExpiresAt
	}
	out.LoginCode, out.LoginURL = sessiond.Secret(w.LoginCode), sessiond.Secret(w.LoginURL)
	for _, c := range w.SetCookie {
		out.SetCookie = append(out.SetCookie, sessiond.Secret(c))
	}
	return out
}

// CreateRequest describes a new session. The embedded HandoffRequest
// (login_code, return_to, set_cookie) hands it to a browser through the
// server's gateway; the answer then carries TokenResponse.LoginCode and
// LoginURL, or SetCookie.
type CreateRequest struct {
	Subject    string          `json:"subject"`
	Claims     json.RawMessage `json:"claims,omitempty"` // a JSON object of at most 4 KiB
	Persistent bool            `json:"persistent,omitempty"`
	Client     sessiond.Client `json:"client,omitzero"`
	// DPoP binds the session to the key of this proof, relayed from the end
	// user's client (its proof for the app's login or token request). Nil:
	// not bound, unless the Client was made WithDPoP.
	DPoP *DPoPProof `json:"-"`
	// DPoPJKT binds the session to a key named by its RFC 7638 SHA-256
	// thumbprint (base64url), without a proof.
	DPoPJKT string `json:"dpop_jkt,omitempty"`
	apitype.HandoffRequest
	// IdempotencyKey, sent as the Idempotency-Key header, makes the login
	// one to send again when its answer is lost: the same request with the
	// same key (from the same API key, within a day) replaces the session
	// the lost answer carried instead of adding a second one. Set it once
	// per login, from NewIdempotencyKey or a unique value of your own (at
	// most 255 printable ASCII characters), and keep it for that login's
	// retries; "" sends none. A key sent with another subject or body, or
	// after its login's session was used (refreshed: its answer arrived),
	// is refused with 422 idempotency_key_reused; an attempt that arrives
	// after a later one with its key was stored (it was slow, not lost)
	// with 409 idempotency_key_superseded (sessiond.ErrLoginSuperseded):
	// the later attempt's answer holds the session.
	IdempotencyKey string `json:"-"`
}

// NewIdempotencyKey returns a fresh key for CreateRequest.IdempotencyKey:
// 128 random bits, base64url.
func NewIdempotencyKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// CreateSession starts a session (login) and returns its tokens. It is not
// retried: sent again after a lost answer it makes a second session,
// unless req carries an IdempotencyKey (docs/lifecycle.md, "Clients on
// unreliable networks").
func (c *Client) CreateSession(ctx context.Context, req CreateRequest) (*TokenResponse, error) {
	relayed := req.DPoP
	if relayed == nil && req.DPoPJKT != "" {
		relayed = &DPoPProof{} // bound by thumbprint: no proof of our own
	}
	return c.issue(ctx, "create session", "/v1/sessions", relayed, http.StatusCreated, func(p *DPoPProof) *body {
		b := jsonBody(struct {
			CreateRequest
			*DPoPProof
		}{req, p})
		b.idempotencyKey = req.IdempotencyKey
		return b
	})
}

// issue posts the request that wire makes for each attempt's proof to path
// (sessions are created and refreshed this way) and returns the tokens of
// the `want` answer, with the DPoP-Nonce the server last handed out.
func (c *Client) issue(ctx context.Context, op, path string, relayed *DPoPProof, want int, wire func(*DPoPProof) *body) (*TokenResponse, error) {
	var out tokenWire
	var nonce string
	err := c.proved(path, "", relayed, func(p *DPoPProof, seen *string) error {
		err := c.send(ctx, op, http.MethodPost, path, nil, wire(p), &out, want, seen)
		nonce = *seen
		return err
	})
	if err != nil {
		return nil, err
	}
	r := out.response()
	r.DPoPNonce = nonce
	return r, nil
}

type tokenRequest struct {
	AccessToken  string           `json:"access_token,omitempty"`
	RefreshToken string           `json:"refresh_token,omitempty"`
	Client       *sessiond.Client `json:"client,omitempty"`
	*DPoPProof
}

// Verify checks an access token and returns its session. client, which
// may be nil, is the end user's client the token came with. A token bound
// to a key needs a proof: VerifyBound, or a Client made WithDPoP.
func (c *Client) Verify(ctx context.Context, token sessiond.Secret, client *sessiond.Client) (*Session, error) {
	return c.verify(ctx, token, nil, client)
}

func (c *Client) verify(ctx context.Context, token sessiond.Secret, relayed *DPoPProof, client *sessiond.Client) (*Session, error) {
	var out struct {
		Active  bool    `json:"active"`
		Session Session `json:"session"`
	}
	err := c.proved("/v1/sessions/verify", token, relayed, func(p *DPoPProof, seen *string) error {
		body := jsonBody(tokenRequest{AccessToken: string(token), Client: client, DPoPProof: p})
		return c.send(ctx, "verify", http.MethodPost, "/v1/sessions/verify", nil, body, &out, http.StatusOK, seen)
	})
	if err != nil {
		return nil, err
	}
	if !out.Active {
		return nil, errors.New("client: verify: server answered 200 without active:true")
	}
	return &out.Session, nil
}

// Refresh exchanges a refresh token for new tokens of the same session. A
// session bound to a key needs a proof: RefreshBound, or a Client made
// WithDPoP. It is not retried: after an error without an answer, send
// the same token once more at once, within the server's
// lifetimes.reuse_interval of the lost rotation; later it ends the session
// as reuse (docs/lifecycle.md, "Clients on unreliable networks").
func (c *Client) Refresh(ctx context.Context, token sessiond.Secret, client *sessiond.Client) (*TokenResponse, error) {
	return c.refresh(ctx, token, nil, client)
}

func (c *Client) refresh(ctx context.Context, token sessiond.Secret, relayed *DPoPProof, client *sessiond.Client) (*TokenResponse, error) {
	return c.issue(ctx, "refresh", "/v1/sessions/refresh", relayed, http.StatusOK, func(p *DPoPProof) *body {
		return jsonBody(tokenRequest{RefreshToken: string(token), Client: client, DPoPProof: p})
	})
}

// Rotate replaces session id with a new session (new ID, new tokens); the
// old session's tokens stop verifying.
func (c *Client) Rotate(ctx context.Context, id sessiond.SessionID) (*TokenResponse, error) {
	var out tokenWire
	if err := c.do(ctx, "rotate", http.MethodPost, "/v1/sessions/"+pathSegment(string(id))+"/rotate", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.response(), nil
}

// GetSession returns a live session; an unknown, revoked or expired one
// is an error matching sessiond.ErrNotFound.
func (c *Client) GetSession(ctx context.Context, id sessiond.SessionID) (*Session, error) {
	var out Session
	if err := c.do(ctx, "get session", http.MethodGet, "/v1/sessions/"+pathSegment(string(id)), nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeSession ends a session (logout). Revoking a revoked session is
// not an error; an unknown one matches sessiond.ErrNotFound.
func (c *Client) RevokeSession(ctx context.Context, id sessiond.SessionID) error {
	return c.do(ctx, "revoke session", http.MethodDelete, "/v1/sessions/"+pathSegment(string(id)), nil, nil, nil, http.StatusNoContent)
}

// RevokeSessionAsAdmin ends a session on an operator's decision: the
// event log records it with reason admin, not as the user's logout.
func (c *Client) RevokeSessionAsAdmin(ctx context.Context, id sessiond.SessionID) error {
	return c.do(ctx, "revoke session", http.MethodDelete, "/v1/sessions/"+pathSegment(string(id)),
		url.Values{"reason": {string(sessiond.ReasonAdmin)}}, nil, nil, http.StatusNoContent)
}

// pathSegment escapes s as one opaque path segment: "/" and also "." are
// escaped, so "." and ".." cannot turn into path navigation.
func pathSegment(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ".", "%2E")
}

func subjectPath(subject string) (string, error) {
	if subject == "" {
		return "", &sessiond.ArgumentError{Field: "subject", Msg: "is required"}
	}
	return "/v1/subjects/" + pathSegment(subject) + "/sessions", nil
}

// ListSessions returns the live sessions of subject, oldest first: every
// one at once, however many there are (ListSessionsPage reads a bounded
// page).
func (c *Client) ListSessions(ctx context.Context, subject string) ([]Session, error) {
	path, err := subjectPath(subject)
	if err != nil {
		return nil, fmt.Errorf("client: list sessions: %w", err)
	}
	var out apitype.SessionList
	if err := c.do(ctx, "list sessions", http.MethodGet, path, nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	if out.Sessions == nil {
		out.Sessions = []Session{}
	}
	return out.Sessions, nil
}

// ListSessionsPage returns one page of the live sessions of subject and
// the cursor of the next page, "" on the last: the server reads at most
// limit (1 to 1000) of the subject's sessions for it, and answers the
// live ones among them, so a page may hold fewer, even none, before the
// last. cursor is "" for the first page, then the one the page before
// returned, of the same subject (another is ErrInvalidArgument, a 400).
// The order is the store's page order (by creation, or by expiry on
// Redis), and a walk of the pages is not one snapshot: see the API's
// description of GET /v1/subjects/{subject}/sessions.
func (c *Client) ListSessionsPage(ctx context.Context, subject, cursor string, limit int) ([]Session, string, error) {
	path, err := subjectPath(subject)
	if err != nil {
		return nil, "", fmt.Errorf("client: list sessions page: %w", err)
	}
	if limit < 1 || limit > sessiond.MaxPageLimit {
		return nil, "", fmt.Errorf("client: list sessions page: %w",
			&sessiond.ArgumentError{Field: "limit", Msg: fmt.Sprintf("must be 1 to %d, got %d", sessiond.MaxPageLimit, limit)})
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var out apitype.SessionList
	if err := c.do(ctx, "list sessions page", http.MethodGet, path, q, nil, &out, http.StatusOK); err != nil {
		return nil, "", err
	}
	if out.Sessions == nil {
		out.Sessions = []Session{}
	}
	return out.Sessions, out.NextCursor, nil
}

// RevokeSubject revokes every live session of subject except `except`
// (empty: none kept) and returns how many it revoked. When it fails part
// way, it returns with the *Error how many the server had revoked
// (Error.Revoked); they stay revoked, and calling it again revokes the
// rest.
func (c *Client) RevokeSubject(ctx context.Context, subject string, except sessiond.SessionID) (int, error) {
	path, err := subjectPath(subject)
	if err != nil {
		return 0, fmt.Errorf("client: revoke subject: %w", err)
	}
	var q url.Values
	if except != "" {
		q = url.Values{"except": {string(except)}}
	}
	var out revokedCount
	if err := c.do(ctx, "revoke subject", http.MethodDelete, path, q, nil, &out, http.StatusOK); err != nil {
		return revokedBefore(err), err
	}
	return out.get("revoke subject")
}

// RevokeToken revokes the session of a token of any kind (RFC 7009).
// hint ("access_token", "refresh_token" or empty) is only a hint. An
// unknown or already revoked token is not an error.
func (c *Client) RevokeToken(ctx context.Context, token sessiond.Secret, hint string) error {
	form := url.Values{"token": {string(token)}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return c.do(ctx, "revoke token", http.MethodPost, "/oauth2/revoke", nil, formBody(form), nil, http.StatusOK)
}

// Introspection is an RFC 7662 answer. When Active is false every other
// field is zero.
type Introspection struct {
	Active    bool
	TokenType string // "Bearer", or "DPoP" for a token bound to a DPoP key
	Subject   string
	SessionID sessiond.SessionID
	ExpiresAt time.Time // when the access token stops verifying
	IssuedAt  time.Time
	// KeyThumbprint is the cnf.jkt of a token bound to a DPoP key (RFC
	// 9449 §6.2), "" for an unbound one: the token is good only with a
	// proof from that key.
	KeyThumbprint string
}

// Introspect reports whether an access token is active (RFC 7662). An
// invalid, expired or revoked token is Active false, not an error.
func (c *Client) Introspect(ctx context.Context, token sessiond.Secret) (*Introspection, error) {
	var out struct {
		Active    bool               `json:"active"`
		TokenType string             `json:"token_type"`
		Subject   string             `json:"sub"`
		SessionID sessiond.SessionID `json:"sid"`
		ExpiresAt int64              `json:"exp"`
		IssuedAt  int64              `json:"iat"`
		Cnf       struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	form := url.Values{"token": {string(token)}}
	if err := c.do(ctx, "introspect", http.MethodPost, "/oauth2/introspect", nil, formBody(form), &out, http.StatusOK); err != nil {
		return nil, err
	}
	in := &Introspection{Active: out.Active}
	if out.Active {
		in.TokenType, in.Subject, in.SessionID = out.TokenType, out.Subject, out.SessionID
		in.ExpiresAt, in.IssuedAt = time.Unix(out.ExpiresAt, 0).UTC(), time.Unix(out.IssuedAt, 0).UTC()
		in.KeyThumbprint = out.Cnf.JKT
	}
	return in, nil
}

// JWKS returns the server's public JWKS document. A server whose strategy
// issues no JWTs answers an error matching sessiond.ErrNotFound.
func (c *Client) JWKS(ctx context.Context) ([]byte, error) {
	var out json.RawMessage
	if err := c.do(ctx, "jwks", http.MethodGet, "/.well-known/jwks.json", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out, nil
}

// Health reports whether the server process answers (/healthz).
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, "health", http.MethodGet, "/healthz", nil, nil, nil, http.StatusOK)
}

// Ready reports whether the server can serve (/readyz); when its store
// does not answer the error matches sessiond.ErrStoreUnavailable.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, "ready", http.MethodGet, "/readyz", nil, nil, nil, http.StatusOK)
}

// body is a request body and its content type.
type body struct {
	contentType string
	data        []byte
	err         error
	// idempotencyKey is sent as Idempotency-Key, a Structured Field
	// String (the IETF draft's form), when not "".
	idempotencyKey string
}

func jsonBody(v any) *body {
	b, err := json.Marshal(v)
	return &body{contentType: "application/json", data: b, err: err}
}

func formBody(v url.Values) *body {
	return &body{contentType: "application/x-www-form-urlencoded", data: []byte(v.Encode())}
}

// do sends one request and decodes a `want` answer into out (when not
// nil); any other status is an *Error. op names the call in errors.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, in *body, out any, want int) error {
	return c.send(ctx, op, method, path, query, in, out, want, nil)
}

// send is do that also stores the DPoP-Nonce header of a `want` answer in
// nonce, when nonce is not nil.
func (c *Client) send(ctx context.Context, op, method, path string, query url.Values, in *body, out any, want int, nonce *string) error {
	return c.sendWith(ctx, c.hc, op, method, path, query, in, out, want, nonce)
}

// sendWith is send with hc in place of the Client's own HTTP client.
func (c *Client) sendWith(ctx context.Context, hc *http.Client, op, method, path string, query url.Values, in *body, out any, want int, nonce *string) error {
	target := c.base + path // callers escape path segments
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var rd io.Reader
	if in != nil {
		if in.err != nil {
			return fmt.Errorf("client: %s: encode request: %w", op, in.err)
		}
		rd = bytes.NewReader(in.data)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return fmt.Errorf("client: %s: %w", op, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", in.contentType)
		if in.idempotencyKey != "" {
			req.Header.Set("Idempotency-Key", strconv.Quote(in.idempotencyKey))
		}
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+string(*c.key))
	req.Header.Set("User-Agent", c.ua)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return responseError(resp)
	}
	if nonce != nil {
		*nonce = resp.Header.Get("DPoP-Nonce")
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("client: %s: read response: %w", op, err)
	}
	if len(data) > maxBody {
		return fmt.Errorf("client: %s: response is over %d bytes", op, maxBody)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("client: %s: decode response: %w", op, err)
	}
	return nil
}

// responseError turns an unwanted response into an *Error, from a problem
// document (/v1), an RFC 6749 error (/oauth2) or the bare status.
func responseError(resp *http.Response) *Error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id"), DPoPNonce: resp.Header.Get("DPoP-Nonce")}
	e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch mt {
	case "application/problem+json", "application/json":
		var p struct {
			Title       string `json:"title"`
			Detail      string `json:"detail"`
			Code        string `json:"code"`
			Error       string `json:"error"`
			Description string `json:"error_description"`
			// Read apart: a member of another type must not cost the
			// code, which every caller's errors.Is depends on.
			Revoked      json.RawMessage `json:"revoked"`
			IssuedBefore json.RawMessage `json:"issued_before"`
		}
		if json.Unmarshal(data, &p) == nil {
			e.Code, e.Title, e.Detail = p.Code, p.Title, p.Detail
			var n int
			if json.Unmarshal(p.Revoked, &n) == nil {
				e.Revoked = max(n, 0)
			}
			var t time.Time
			if json.Unmarshal(p.IssuedBefore, &t) == nil {
				e.IssuedBefore = t
			}
			if e.Code == "" && p.Error != "" {
				e.Code, e.Detail = p.Error, p.Description
			}
		}
	}
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	return e
}

// maxRetryAfter caps Error.RetryAfter, as the webhook dispatcher and the
// Shared Signals transmitter cap the Retry-After they read: a year and a
// day is "much later" for any caller, and time.Duration(RetryAfter) *
// time.Second stays far from overflowing.
const maxRetryAfter = 366 * 24 * 3600

// retryAfter reads a Retry-After header, delay-seconds or an HTTP date
// (RFC 9110 §10.2.3), as whole seconds from now, at most maxRetryAfter; 0
// if it is neither (or in the past).
func retryAfter(v string, now time.Time) int {
	if v == "" {
		return 0
	}
	// Past an int, Atoi answers ErrRange with the largest int: still
	// "wait that long", capped, not "no Retry-After".
	if n, err := strconv.Atoi(v); (err == nil || errors.Is(err, strconv.ErrRange)) && n > 0 {
		return min(n, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		// Capped before rounding up: past about 292 years Sub saturates,
		// and adding to the largest Duration wraps it negative.
		d := min(t.Sub(now), maxRetryAfter*time.Second)
		return int((d + time.Second - 1) / time.Second) // rounded up: never sooner than asked
	}
	return 0
}
