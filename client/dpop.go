package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// DPoP (RFC 9449; docs/bound-sessions.md) in two ways:
//
//   - relaying: the app's end user's client holds the key and sends the app
//     proofs, which the app passes on with CreateRequest.DPoP, VerifyBound
//     and RefreshBound; a use_dpop_nonce answer (ErrUseDPoPNonce) carries
//     the nonce for that client in Error.DPoPNonce.
//   - holding the key: a Client made WithDPoP signs a proof for each of its
//     own create, verify and refresh requests to sessiond, so the sessions
//     it creates are bound to its key; it learns the server nonce from
//     DPoP-Nonce and retries once after use_dpop_nonce.

// DPoPProof is a proof relayed from the end user's client, with the method
// and absolute URL of the request it was made for.
type DPoPProof = apitype.DPoPProof

// DPoPProver makes DPoP proofs with a private key the Client holds; a
// *dpop.Prover (dpop.NewProver) is one. accessToken, when not empty, goes
// into ath; nonce, when not empty, is the server's DPoP-Nonce.
type DPoPProver interface {
	Proof(method, url string, accessToken sessiond.Secret, nonce string) (string, error)
}

// ErrInvalidDPoPProof matches an *Error for a DPoP proof the server
// refused or required (401 `invalid_dpop_proof`).
var ErrInvalidDPoPProof = errors.New("client: DPoP proof refused")

// ErrUseDPoPNonce matches an *Error for a proof without the server's
// current nonce (401 `use_dpop_nonce`); Error.DPoPNonce holds the nonce.
var ErrUseDPoPNonce = errors.New("client: DPoP proof needs the server nonce")

// WithDPoP makes the Client prove possession of p's key on every create,
// verify and refresh request: sessions it creates are bound to the key.
func WithDPoP(p DPoPProver) Option {
	return func(c *Client) { c.prover = p }
}

// dpopState is the server nonce last seen, shared by the Client's calls.
type dpopState struct {
	mu    sync.Mutex
	nonce string
}

func (s *dpopState) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nonce
}

func (s *dpopState) set(n string) {
	if n == "" {
		return
	}
	s.mu.Lock()
	s.nonce = n
	s.mu.Unlock()
}

// proved runs send with a proof for POST path (access, when set, in ath)
// when the Client holds a key and the call brings no relayed proof;
// otherwise it runs send(relayed). A use_dpop_nonce answer is retried once
// with the nonce it carried.
func (c *Client) proved(path string, access sessiond.Secret, relayed *DPoPProof, send func(*DPoPProof, *string) error) error {
	var seen string
	if c.prover == nil || relayed != nil {
		return send(relayed, &seen)
	}
	htu := c.base + path
	for attempt := 0; ; attempt++ {
		proof, err := c.prover.Proof(http.MethodPost, htu, access, c.dpop.get())
		if err != nil {
			return fmt.Errorf("client: DPoP proof: %w", err)
		}
		err = send(&DPoPProof{Proof: proof, HTM: http.MethodPost, HTU: htu}, &seen)
		c.dpop.set(seen)
		var e *Error
		if attempt == 0 && errors.As(err, &e) && e.Code == apitype.CodeUseDPoPNonce && e.DPoPNonce != "" {
			c.dpop.set(e.DPoPNonce)
			continue
		}
		return err
	}
}

// VerifyBound checks an access token bound to a key, with the proof the
// end user's client sent along with it. See Verify.
func (c *Client) VerifyBound(ctx context.Context, token sessiond.Secret, proof DPoPProof, client *sessiond.Client) (*Session, error) {
	return c.verify(ctx, token, &proof, client)
}

// RefreshBound refreshes a session bound to a key, with a proof by that key
// the end user's client made for its refresh request. See Refresh.
func (c *Client) RefreshBound(ctx context.Context, token sessiond.Secret, proof DPoPProof, client *sessiond.Client) (*TokenResponse, error) {
	return c.refresh(ctx, token, &proof, client)
}
