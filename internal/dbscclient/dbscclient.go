// Package dbscclient is a DBSC browser for tests, written from the W3C
// Device Bound Session Credentials draft and sharing no code with the
// server side (httpsession): it reads Secure-Session-Registration, makes a
// key, registers with a dbsc+jwt, and refreshes by answering
// Secure-Session-Challenge. Tests use it to drive sessiond as a browser
// would, and to play the thief.
package dbscclient

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

// Registration is one entry of a Secure-Session-Registration header.
type Registration struct {
	Algorithms    []string
	Path          string
	Challenge     string
	Authorization string
}

// Instructions is the JSON the registration and refresh endpoints answer.
type Instructions struct {
	SessionIdentifier string `json:"session_identifier"`
	RefreshURL        string `json:"refresh_url"`
	Scope             struct {
		Origin      string `json:"origin"`
		IncludeSite bool   `json:"include_site"`
	} `json:"scope"`
	Credentials []struct {
		Type       string `json:"type"`
		Name       string `json:"name"`
		Attributes string `json:"attributes"`
	} `json:"credentials"`
	Continue *bool `json:"continue"`
}

// Browser is one browser profile: an HTTP client (with its cookie jar),
// and the DBSC session it registered, with its key.
type Browser struct {
	HTTP *http.Client
	Base string // https://host:port
	Alg  string // ES256 or RS256

	Key          crypto.Signer
	Instructions *Instructions
	refreshURL   string
}

// New returns a browser signing with alg (ES256 or RS256) and a new key.
func New(c *http.Client, base, alg string) (*Browser, error) {
	b := &Browser{HTTP: c, Base: strings.TrimSuffix(base, "/"), Alg: alg}
	var err error
	switch alg {
	case "ES256":
		b.Key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		b.Key, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("dbscclient: unsupported algorithm %q", alg)
	}
	return b, err
}

// ParseRegistration reads the Secure-Session-Registration headers of
// resp: an RFC 9651 list of inner lists of tokens with string parameters.
func ParseRegistration(h http.Header) ([]Registration, error) {
	var out []Registration
	err := eachMember(h.Values("Secure-Session-Registration"), func(p *sfParser) error {
		algs, err := p.innerList()
		if err != nil {
			return err
		}
		params, err := p.params()
		if err != nil {
			return err
		}
		out = append(out, Registration{Algorithms: algs, Path: params["path"], Challenge: params["challenge"], Authorization: params["authorization"]})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ParseChallenges reads Secure-Session-Challenge: strings with an id
// parameter; it returns challenge by session identifier.
func ParseChallenges(h http.Header) (map[string]string, error) {
	out := map[string]string{}
	err := eachMember(h.Values("Secure-Session-Challenge"), func(p *sfParser) error {
		c, err := p.str()
		if err != nil {
			return err
		}
		params, err := p.params()
		if err != nil {
			return err
		}
		out[params["id"]] = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachMember calls member for each member of the RFC 9651 lists in lines,
// with the parser at its start; member reads the member and its parameters.
func eachMember(lines []string, member func(*sfParser) error) error {
	for _, line := range lines {
		p := &sfParser{s: line}
		for {
			p.ws()
			if p.eof() {
				break
			}
			if err := member(p); err != nil {
				return err
			}
			p.ws()
			if p.eof() {
				break
			}
			if p.s[p.i] != ',' {
				return fmt.Errorf("dbscclient: expected ',' at %d in %q", p.i, line)
			}
			p.i++
		}
	}
	return nil
}

// Proof signs a dbsc+jwt over jti with the browser's key; withKey puts the
// public key in the header (registration).
func (b *Browser) Proof(jti string, withKey bool, extra map[string]any) (string, error) {
	return Sign(b.Key, b.Alg, jti, withKey, extra)
}

// Sign makes a dbsc+jwt with key.
func Sign(key crypto.Signer, alg, jti string, withKey bool, extra map[string]any) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("dbsc+jwt")
	if withKey {
		opts.EmbedJWK = true
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key}, opts)
	if err != nil {
		return "", err
	}
	claims := map[string]any{"jti": jti}
	for k, v := range extra {
		claims[k] = v
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// ErrNoRegistration: the response offered no registration this browser can use.
var ErrNoRegistration = errors.New("dbscclient: no usable Secure-Session-Registration")

// Register answers the registration offered in resp (the login response)
// as a browser does: POST to its path with a proof over its challenge.
// It returns the registration response; on 200 the instructions are kept.
func (b *Browser) Register(resp *http.Response) (*http.Response, error) {
	regs, err := ParseRegistration(resp.Header)
	if err != nil {
		return nil, err
	}
	for _, r := range regs {
		if !slices.Contains(r.Algorithms, b.Alg) {
			continue
		}
		proof, err := b.Proof(r.Challenge, true, nil)
		if err != nil {
			return nil, err
		}
		return b.PostRegistration(r.Path, proof)
	}
	return nil, ErrNoRegistration
}

// PostRegistration posts proof to the registration path.
func (b *Browser) PostRegistration(path, proof string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, b.resolve(path), nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Secure-Session-Response", proof)
	out, err := b.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if out.StatusCode == http.StatusOK {
		if err := b.keep(out); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (b *Browser) keep(resp *http.Response) error {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return err
	}
	var in Instructions
	if err := json.Unmarshal(body, &in); err != nil {
		return fmt.Errorf("dbscclient: instructions: %w", err)
	}
	if in.Continue != nil && !*in.Continue {
		b.Instructions = &in
		return nil
	}
	if in.SessionIdentifier == "" || len(in.Credentials) == 0 {
		return fmt.Errorf("dbscclient: instructions without session_identifier or credentials: %s", body)
	}
	base := resp.Request.URL
	if in.RefreshURL != "" {
		u, err := base.Parse(in.RefreshURL)
		if err != nil {
			return err
		}
		b.refreshURL = u.String()
	} else {
		b.refreshURL = base.String()
	}
	b.Instructions = &in
	return nil
}

func (b *Browser) resolve(path string) string {
	u, err := url.Parse(b.Base + "/")
	if err != nil {
		return b.Base + path
	}
	r, err := u.Parse(path)
	if err != nil {
		return b.Base + path
	}
	return r.String()
}

// RefreshRequest posts to the refresh URL with Sec-Secure-Session-Id and,
// if proof is not empty, Secure-Session-Response.
func (b *Browser) RefreshRequest(proof string) (*http.Response, error) {
	if b.Instructions == nil {
		return nil, errors.New("dbscclient: not registered")
	}
	req, _ := http.NewRequest(http.MethodPost, b.refreshURL, nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Sec-Secure-Session-Id", `"`+b.Instructions.SessionIdentifier+`"`)
	if proof != "" {
		req.Header.Set("Secure-Session-Response", proof)
	}
	return b.HTTP.Do(req)
}

// Refresh runs the whole refresh: a request without proof, and on 403
// with a challenge for this session, a second with the proof. It returns
// the last response and the challenge it answered ("" when none).
func (b *Browser) Refresh() (*http.Response, string, error) {
	resp, err := b.RefreshRequest("")
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusForbidden {
		return resp, "", b.keepIfOK(resp)
	}
	chs, err := ParseChallenges(resp.Header)
	resp.Body.Close()
	if err != nil {
		return nil, "", err
	}
	c, ok := chs[b.Instructions.SessionIdentifier]
	if !ok {
		return resp, "", fmt.Errorf("dbscclient: 403 without a challenge for session %q", b.Instructions.SessionIdentifier)
	}
	proof, err := b.Proof(c, false, nil)
	if err != nil {
		return nil, "", err
	}
	resp, err = b.RefreshRequest(proof)
	if err != nil {
		return nil, c, err
	}
	return resp, c, b.keepIfOK(resp)
}

func (b *Browser) keepIfOK(resp *http.Response) error {
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	return b.keep(resp)
}

// sfParser reads the parts of RFC 9651 these headers use.
type sfParser struct {
	s string
	i int
}

func (p *sfParser) eof() bool { return p.i >= len(p.s) }

func (p *sfParser) ws() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) innerList() ([]string, error) {
	if p.eof() || p.s[p.i] != '(' {
		return nil, fmt.Errorf("dbscclient: expected '(' at %d in %q", p.i, p.s)
	}
	p.i++
	var out []string
	for {
		for !p.eof() && p.s[p.i] == ' ' {
			p.i++
		}
		if p.eof() {
			return nil, errors.New("dbscclient: unterminated inner list")
		}
		if p.s[p.i] == ')' {
			p.i++
			return out, nil
		}
		tok, err := p.token()
		if err != nil {
			return nil, err
		}
		out = append(out, tok)
	}
}

func (p *sfParser) token() (string, error) {
	start := p.i
	for !p.eof() && (isAlnum(p.s[p.i]) || strings.IndexByte("!#$%&'*+-.^_`|~:/", p.s[p.i]) >= 0) {
		p.i++
	}
	if start == p.i {
		return "", fmt.Errorf("dbscclient: expected a token at %d in %q", p.i, p.s)
	}
	return p.s[start:p.i], nil
}

func (p *sfParser) key() (string, error) {
	start := p.i
	for !p.eof() && (p.s[p.i] >= 'a' && p.s[p.i] <= 'z' || p.s[p.i] >= '0' && p.s[p.i] <= '9' || strings.IndexByte("_-.*", p.s[p.i]) >= 0) {
		p.i++
	}
	if start == p.i {
		return "", fmt.Errorf("dbscclient: expected a key at %d in %q", p.i, p.s)
	}
	return p.s[start:p.i], nil
}

func (p *sfParser) str() (string, error) {
	if p.eof() || p.s[p.i] != '"' {
		return "", fmt.Errorf("dbscclient: expected a string at %d in %q", p.i, p.s)
	}
	p.i++
	var sb strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\':
			if p.eof() || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
				return "", errors.New("dbscclient: bad escape in string")
			}
			sb.WriteByte(p.s[p.i])
			p.i++
		case c == '"':
			return sb.String(), nil
		case c < 0x20 || c > 0x7e:
			return "", errors.New("dbscclient: bad character in string")
		default:
			sb.WriteByte(c)
		}
	}
	return "", errors.New("dbscclient: unterminated string")
}

// params reads ;key=value parameters (string or token values; a bare key
// is true).
func (p *sfParser) params() (map[string]string, error) {
	out := map[string]string{}
	for !p.eof() && p.s[p.i] == ';' {
		p.i++
		p.ws()
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		if p.eof() || p.s[p.i] != '=' {
			out[k] = "?1"
			continue
		}
		p.i++
		var v string
		if !p.eof() && p.s[p.i] == '"' {
			v, err = p.str()
		} else {
			v, err = p.token()
		}
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
