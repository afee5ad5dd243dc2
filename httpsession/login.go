package httpsession

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/sessiond/sessiond"
)

const (
	// maxCookieAge: browsers cap cookie lifetimes at 400 days (RFC 6265bis §5.5).
	maxCookieAge = 400 * 24 * time.Hour
	// maxCookieBytes: a longer name+value makes the browser ignore the
	// cookie (RFC 6265bis §5.6, checklist 18).
	maxCookieBytes = 4096
)

// Login starts a brand-new session for subject, sets its cookies and
// returns it. Any session the request already carried is revoked first
// (session fixation, checklist 24): whatever cookie arrived, the one that
// leaves is new. opts.Client defaults to the request's client. The caller
// has authenticated the user and writes the response body (for example a
// 303 redirect); Login sets Cache-Control: no-store.
func (s *Sessions) Login(w http.ResponseWriter, r *http.Request, subject string, opts sessiond.CreateOptions) (*sessiond.Issued, error) {
	if err := s.revokeCarried(r.Context(), r, sessiond.ReasonRotated); err != nil {
		return nil, err
	}
	if opts.Client == (sessiond.Client{}) {
		opts.Client = s.Client(r)
	}
	iss, err := s.m.Create(r.Context(), subject, opts)
	if err != nil {
		return nil, err
	}
	if err := s.SetCookies(w, iss); err != nil {
		s.abandon(r.Context(), iss)
		return nil, err
	}
	s.offerDBSC(w, iss.Session.ID)
	return iss, nil
}

// LoginIssued is Login for a session created elsewhere (by the server's
// API, for a login handed over with a one-time code): it revokes the
// session the request carried, if it is another one, and sets the cookies
// of iss. If they cannot be set, iss is revoked, as in Login.
func (s *Sessions) LoginIssued(w http.ResponseWriter, r *http.Request, iss *sessiond.Issued) error {
	if tok, err := s.credential(r); err == nil {
		// Which session the cookie names, without verifying it: a verify
		// would record the carried session's activity and run the anomaly
		// rules with this request's client before the binding check
		// (revokeCarried) decides whether the request may touch it, so a
		// copied bound cookie alone kept the owner's session alive, or
		// had it revoked as an anomaly.
		if cur, err := s.m.SessionIDOf(r.Context(), tok); err != nil || cur != iss.Session.ID {
			if err := s.revokeCarried(r.Context(), r, sessiond.ReasonRotated); err != nil {
				return err
			}
		}
	}
	if err := s.SetCookies(w, iss); err != nil {
		s.abandon(r.Context(), iss)
		return err
	}
	if !iss.Session.DeviceBound() {
		s.offerDBSC(w, iss.Session.ID)
	}
	return nil
}

// Rotate replaces the request's session with a new one (new ID and tokens,
// same subject, claims and absolute expiry), revokes the old one and sets
// the new cookies: call it on every privilege change (checklist 25).
// ErrNoCredentials without a session; sessiond.ErrUnsupported in the jwt
// strategy.
func (s *Sessions) Rotate(w http.ResponseWriter, r *http.Request) (*sessiond.Issued, error) {
	cur, err := s.Inspect(r)
	if err != nil {
		return nil, err
	}
	// From the request's client and with its token's step-up, so that the
	// rotation keeps a step-up (rotating is not signing in again).
	iss, err := s.m.RotateFrom(r.Context(), cur.Session.ID, s.Client(r), cur.StepUp)
	if err != nil {
		return nil, err
	}
	if err := s.SetCookies(w, iss); err != nil {
		s.abandon(r.Context(), iss)
		return nil, err
	}
	return iss, nil
}

// Refresh exchanges the refresh cookie for new tokens and sets the new
// cookies. When the refresh token is refused for good (invalid, expired,
// revoked, reused) the cookies are expired too, since the session cannot
// be resumed. ErrNoCredentials without a refresh cookie;
// sessiond.ErrUnsupported in the database strategy, which has no refresh
// token.
//
// The refresh cookie must belong to the session the access cookie names
// (an expired access JWT still names it). The refresh cookie's name is
// __Secure-, not __Host-, so a sibling subdomain can plant one with a
// Domain attribute, which the browser sends first and login cannot
// overwrite: taken blindly, it would swap the browser into the planter's
// session. Of several refresh cookies the one of this session is used
// (of the first maxRefreshCookies, 4, only); several and no access cookie
// to choose by are refused.
func (s *Sessions) Refresh(w http.ResponseWriter, r *http.Request) (*sessiond.Issued, error) {
	if s.m.Strategy() == sessiond.StrategyDatabase {
		return nil, fmt.Errorf("httpsession: refresh: %w", sessiond.ErrUnsupported)
	}
	rts := refreshValues(r, s.refresh.name)
	if len(rts) == 0 {
		return nil, ErrNoCredentials
	}
	var own sessiond.SessionID
	if at, err := cookieValue(r, s.access.name); err == nil {
		own, _ = s.m.SessionIDOf(r.Context(), at)
	}
	var iss *sessiond.Issued
	var err error
	if own == "" && len(rts) > 1 {
		err = fmt.Errorf("httpsession: refresh: %w: %d refresh cookies and no session to choose by", sessiond.ErrInvalidToken, len(rts))
	} else {
		check := s.refreshCheck(r)
		mine := func(sess *sessiond.Session) error {
			if own != "" && sess.ID != own {
				return errOtherSession
			}
			if check != nil {
				return check(sess)
			}
			// A check is passed, so the Manager's own refusal of a
			// key-bound session without one does not apply: refuse here.
			if sess.KeyThumbprint() != "" {
				return fmt.Errorf("httpsession: refresh: %w", ErrKeyProofRequired)
			}
			return nil
		}
		var limited error
		for _, rt := range rts {
			iss, err = s.m.RefreshChecked(r.Context(), rt, s.Client(r), mine)
			// Another cookie of the name may be this session's: a planted
			// one (another session's, or garbage) must not log it out. Nor
			// may its subject's refresh-failure limit, which a planted
			// cookie of the planter's own (ended) session reaches: the limit
			// refuses failures only, so the next cookie is still tried, and
			// the 429 is the answer only if none refreshes.
			if err == nil || StoreFailure(err) || errors.Is(err, ErrDeviceProof) {
				break
			}
			if errors.Is(err, sessiond.ErrRateLimited) && limited == nil {
				limited = err
			}
		}
		if err != nil && limited != nil && !StoreFailure(err) && !errors.Is(err, ErrDeviceProof) {
			err = limited
		}
	}
	if err != nil {
		// Without its bound cookie a device-bound session may still be the
		// browser's own (its DBSC refresh comes first): keep the cookies.
		if !StoreFailure(err) && !errors.Is(err, ErrDeviceProof) {
			s.expireCookies(w)
		}
		return nil, err
	}
	if err := s.SetCookies(w, iss); err != nil {
		s.abandon(r.Context(), iss)
		return nil, err
	}
	return iss, nil
}

// Logout revokes the request's session server-side (even when its access
// token has expired), expires every sessiond cookie with Max-Age=0 and
// sends Clear-Site-Data: "cookies", "storage". It returns nil when the
// request carried no session. When the store could not be reached
// (sessiond.ErrStoreUnavailable) it changes nothing in the browser and
// returns the error: with the cookies gone the session would stay alive
// with nothing left to end it, and the user would believe it ended; kept,
// a retry can revoke it.
//
// A bound session is revoked only on a request that proves what a
// protected route asks (logoutCheck): a device-bound session's bound
// cookie; a session bound to a DPoP key never, as httpsession checks no
// proofs. A copied token alone logs out only the browser that sent it:
// its cookies are expired and nil is returned, as for a request that
// carried no session, while the owner's session lives on.
func (s *Sessions) Logout(w http.ResponseWriter, r *http.Request) error {
	var errs []error
	check, client := s.logoutCheck(r), s.Client(r)
	revoke := func(tok sessiond.Secret) {
		err := s.m.RevokeTokenChecked(r.Context(), tok, client, check)
		if !errors.Is(err, errNotProven) {
			errs = append(errs, err)
		}
	}
	if tok, err := s.credential(r); err == nil {
		revoke(tok)
	}
	// Logout mounted under the refresh path also sees the refresh cookie.
	if rt, err := cookieValue(r, s.refresh.name); err == nil {
		revoke(rt)
	}
	err := errors.Join(errs...)
	if StoreFailure(err) {
		return err
	}
	s.expireCookies(w)
	w.Header().Set("Clear-Site-Data", `"cookies", "storage"`)
	return err
}

// errNotProven: a logout's credential belongs to a bound session and the
// request lacks what the binding asks; nothing is revoked.
var errNotProven = errors.New("httpsession: logout: the bound session's proof is missing")

// logoutCheck is bindingCheck for a logout: a session bound to a DPoP key,
// or a device-bound one without its bound cookie (recorded as
// session.device_proof_refused, stage request, as at any route), is not
// the request's to end: errNotProven. A session the DBSC policy refuses
// only for being unbound is ended: whoever holds its cookie is its owner
// as much as anyone, and a browser that cannot bind must still sign out.
// One check serves one request: a session met twice (the access and the
// refresh cookie) is judged, and its refusal recorded, once.
func (s *Sessions) logoutCheck(r *http.Request) func(*sessiond.Session) error {
	var last sessiond.SessionID
	var verdict error
	return func(sess *sessiond.Session) error {
		if sess.ID == last {
			return verdict
		}
		last, verdict = sess.ID, nil
		// Wrapped, the refusal still counts as a refused token (metrics).
		if err := checkKeyBinding(sess); err != nil {
			verdict = fmt.Errorf("%w: %w", errNotProven, err)
		} else if err := s.checkDevice(r, sess); err != nil && !errors.Is(err, ErrDeviceBindingRequired) {
			verdict = fmt.Errorf("%w: %w", errNotProven, err)
		}
		return verdict
	}
}

// revokeCarried revokes the session of the credential the request carries,
// if any: a live one with reason, an expired one through RevokeToken
// (which accepts an expired access JWT whose signature is good). A bound
// session is left alone unless the request proves it as Logout asks
// (logoutCheck): a copied cookie alone must not end its owner's session.
func (s *Sessions) revokeCarried(ctx context.Context, r *http.Request, reason sessiond.RevokeReason) error {
	tok, err := s.credential(r)
	if err != nil {
		return nil // nothing (usable) carried: nothing to revoke
	}
	check, client := s.logoutCheck(r), s.Client(r)
	if v, err := s.m.InspectChecked(ctx, tok, client, check); err == nil {
		err = s.m.Revoke(ctx, v.Session.ID, reason)
		switch {
		case err == nil, errors.Is(err, sessiond.ErrNotFound), errors.Is(err, sessiond.ErrUnsupported):
			return nil
		default:
			return fmt.Errorf("httpsession: revoke the previous session: %w", err)
		}
	} else if errors.Is(err, errNotProven) {
		return nil
	} else if StoreFailure(err) {
		return fmt.Errorf("httpsession: check the previous session: %w", err)
	}
	if err := s.m.RevokeTokenChecked(ctx, tok, client, check); err != nil && !errors.Is(err, errNotProven) {
		return fmt.Errorf("httpsession: revoke the previous session: %w", err)
	}
	return nil
}

// abandon revokes a session whose cookies could not be set, so no live
// session is left that nobody holds.
func (s *Sessions) abandon(ctx context.Context, iss *sessiond.Issued) {
	if err := s.m.Revoke(ctx, iss.Session.ID, sessiond.ReasonRotated); err != nil && !errors.Is(err, sessiond.ErrUnsupported) {
		s.log.WarnContext(ctx, "httpsession: revoke a session whose cookies were not set", "session_id", iss.Session.ID, "err", err)
	}
}

// SetCookies writes the cookies of iss, with Cache-Control: no-store.
// ErrCookieTooLarge when a token does not fit in a cookie.
//
// Max-Age is counted from the moment the Manager issued the tokens
// (iss.Session.LastActiveAt, on the Manager's clock) so it never outlives
// what it carries:
//   - database: the access cookie lives until the session's absolute
//     expiry (the idle expiry moves on every request, a cookie cannot).
//   - jwt, hybrid: both cookies live until the refresh token's expiry (the
//     idle expiry, docs/lifecycle.md). The access cookie outlives its JWT on
//     purpose: a request with an expired JWT still tells the server which
//     session it is, so the app answers 401 (the client refreshes and
//     retries) rather than treating the user as a stranger, and Login and
//     Logout can revoke that session even though its JWT has expired.
//
// Every lifetime is also capped at 400 days and at Options.MaxAge.
func (s *Sessions) SetCookies(w http.ResponseWriter, iss *sessiond.Issued) error {
	cookies, err := s.Cookies(iss)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	for _, c := range cookies {
		w.Header().Add("Set-Cookie", c.String())
	}
	return nil
}

// Cookies returns the cookies SetCookies would write for iss, for a
// backend that relays them itself.
func (s *Sessions) Cookies(iss *sessiond.Issued) ([]*http.Cookie, error) {
	now := iss.Session.LastActiveAt
	accessUntil := iss.Session.ExpiresAt
	withRefresh := iss.RefreshToken != "" && s.m.Strategy() != sessiond.StrategyDatabase
	if withRefresh {
		accessUntil = iss.RefreshExpiresAt
	}
	cookies := []*http.Cookie{s.cookie(s.access, string(iss.AccessToken), s.maxAgeOf(now, accessUntil))}
	if withRefresh {
		cookies = append(cookies, s.cookie(s.refresh, string(iss.RefreshToken), s.maxAgeOf(now, iss.RefreshExpiresAt)))
	}
	for _, c := range cookies {
		if len(c.Name)+len(c.Value) > maxCookieBytes {
			return nil, fmt.Errorf("%w: %s is %d bytes", ErrCookieTooLarge, c.Name, len(c.Name)+len(c.Value))
		}
		if err := c.Valid(); err != nil {
			return nil, fmt.Errorf("httpsession: cookie %s: %w", c.Name, err)
		}
	}
	return cookies, nil
}

// expireCookies deletes every sessiond cookie: the same name, path and
// attributes with Max-Age=0 (checklist 19).
func (s *Sessions) expireCookies(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	specs := []cookieSpec{s.access, s.refresh}
	if s.dbsc != nil {
		specs = append(specs, s.dbsc.cookie)
	}
	for _, spec := range specs {
		w.Header().Add("Set-Cookie", s.cookie(spec, "", -1).String())
	}
}

// cookie builds a cookie with the hardened attributes; maxAge < 0 writes
// Max-Age=0. There is no Domain unless Options.Domain asks for one: the
// cookie stays on this host.
func (s *Sessions) cookie(spec cookieSpec, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     spec.name,
		Value:    value,
		Path:     spec.path,
		Domain:   s.domain,
		MaxAge:   maxAge,
		Secure:   s.secure,
		HttpOnly: true,
		SameSite: s.sameSite,
	}
}

// maxAgeOf is maxAge capped at Options.MaxAge.
func (s *Sessions) maxAgeOf(now, until time.Time) int {
	if s.maxAge > 0 && until.Sub(now) > s.maxAge {
		until = now.Add(s.maxAge)
	}
	return maxAge(now, until)
}

// maxAge is the whole seconds from now until until, at least 1 (0 would
// make a browser-session cookie) and at most 400 days. Rounding down keeps
// the cookie from outliving the session.
func maxAge(now, until time.Time) int {
	d := min(until.Sub(now), maxCookieAge)
	return max(int(d/time.Second), 1)
}

// errOtherSession: a refresh cookie of another session than the access
// cookie's.
var errOtherSession = fmt.Errorf("httpsession: refresh: %w: the refresh cookie belongs to another session than the access cookie", sessiond.ErrInvalidToken)

// maxRefreshCookies is how many refresh cookies one refresh tries, each a
// store read: without a cap, a request carrying hundreds of them makes
// hundreds of reads. The planted-cookie defence (Refresh) needs to look
// past the few a sibling subdomain can put ahead of ours: a browser sends
// the cookies with the longest Path first, then the oldest, so only a
// cookie at our own RefreshPath can precede ours, and a sibling can set
// one there per parent domain (Domain=example.com, Domain=eu.example.com…),
// a cookie of the same name, domain and path replacing the last. Four
// covers our own and three parent domains; a browser that sends more has
// been stuffed, and what follows is not tried (as if not sent).
const maxRefreshCookies = 4

// refreshValues are the first maxRefreshCookies distinct non-empty values
// of the cookies named name, in the order the browser sent them (one
// value is tried once).
func refreshValues(r *http.Request, name string) []sessiond.Secret {
	var out []sessiond.Secret
	for _, c := range r.CookiesNamed(name) {
		if v := sessiond.Secret(c.Value); v != "" && !slices.Contains(out, v) {
			if len(out) == maxRefreshCookies {
				break
			}
			out = append(out, v)
		}
	}
	return out
}
