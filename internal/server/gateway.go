package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/gateway"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// addGateway mounts the browser gateway (gateway.enabled) on the API
// handler's options: its routes under gateway.prefix and the login
// handoff of POST /v1/sessions. The cookies follow cookie.*, the CSRF
// checks csrf.trusted_origins.
func addGateway(cfg config.Config, mgr *sessiond.Manager, store sessiond.Store, meta sessiond.MetaStore, getenv func(string) string, secrets *sharedSecrets, log *slog.Logger, hopts *httpapi.Options) error {
	if !cfg.Gateway.Enabled {
		return nil
	}
	c := cfg.Cookie
	if !c.HTTPOnly {
		return fmt.Errorf("gateway: cookie.http_only: false is not supported: %w", ErrInvalidConfig)
	}
	proxies, err := cfg.Gateway.TrustedProxyPrefixes()
	if err != nil {
		return fmt.Errorf("gateway: %w: %w", err, ErrInvalidConfig)
	}
	sameSite := map[string]http.SameSite{"lax": http.SameSiteLaxMode, "strict": http.SameSiteStrictMode, "none": http.SameSiteNoneMode}[strings.ToLower(c.SameSite)]
	sopts := httpsession.Options{
		Manager:            mgr,
		CookieName:         c.Name,
		RefreshCookieName:  c.RefreshName,
		RefreshPath:        cfg.Gateway.Prefix + "/refresh",
		CookiePath:         c.Path,
		Domain:             c.Domain,
		MaxAge:             c.MaxAge.Std(),
		SameSite:           sameSite,
		InsecureDevCookies: !c.Secure,
		TrustedOrigins:     cfg.CSRF.TrustedOrigins,
		ClientIP:           clientIP(cfg.Gateway.ClientIPHeader, proxies, cfg.Events.IPPrefixes(), log),
		Logger:             log,
	}
	if cfg.Gateway.DBSC != "" && cfg.Gateway.DBSC != config.DBSCOff {
		d, err := dbscOptions(cfg, store, meta, getenv, secrets)
		if err != nil {
			return err
		}
		sopts.DBSC = d
	}
	if p := c.RefreshPath; covers(p, sopts.RefreshPath) {
		// A parent path of the refresh route (SD-GATEWAY-003 allows it)
		// still reaches it.
		sopts.RefreshPath = p
	}
	s, err := httpsession.New(sopts)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	g, err := gateway.New(gateway.Options{Sessions: s, Meta: meta, Prefix: cfg.Gateway.Prefix, LoginURL: cfg.Gateway.LoginURL, Logger: log})
	if err != nil {
		return err
	}
	hopts.Browser, hopts.BrowserPrefix = g, g.Prefix()
	hopts.BrowserClientIP = sopts.ClientIP
	hopts.Handoff = handoff{g}
	log.Info("browser gateway enabled", "prefix", g.Prefix(), "login_url", cfg.Gateway.LoginURL, "cookie", s.CookieName(), "dbsc", string(s.DBSCPolicy()))
	return nil
}

// covers reports whether a cookie with Path cookiePath is sent to path
// (the path-match of RFC 6265bis §5.1.4).
func covers(cookiePath, path string) bool {
	if cookiePath == "" || !strings.HasPrefix(path, cookiePath) {
		return false
	}
	return len(path) == len(cookiePath) || strings.HasSuffix(cookiePath, "/") || path[len(cookiePath)] == '/'
}

// clientIP reads the browser's address from the header the proxy sets
// (gateway.client_ip_header) on a connection from a trusted proxy
// (gateway.trusted_proxies), else from the connection. Anyone who reaches
// the listener directly could otherwise set the header and choose the
// address the anomaly rules, the event log and the per-address limits see.
// A nil log discards.
func clientIP(header string, trusted []netip.Prefix, cut sessiond.IPPrefixes, log *slog.Logger) func(r *http.Request) string {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(r *http.Request) string {
		if header != "" {
			if values := r.Header.Values(header); len(values) > 0 {
				if trustedPeer(r.RemoteAddr, trusted) {
					if ip, ok := headerIP(values); ok {
						return ip
					}
				} else {
					// Debug only, since any client past the proxy causes it;
					// tells an operator with an unlisted proxy why.
					peer := r.RemoteAddr
					if cut != (sessiond.IPPrefixes{}) {
						// Cut as events cut it, and the port dropped, as
						// the request log's remote_addr is.
						host, _, _ := net.SplitHostPort(peer)
						peer = cut.Mask(host)
					}
					log.DebugContext(r.Context(), "gateway: client IP header ignored from a peer not in gateway.trusted_proxies",
						"header", header, "peer", peer)
				}
			}
		}
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return r.RemoteAddr
		}
		return host
	}
}

// trustedPeer reports whether the connection's address (host:port) lies in
// one of the trusted prefixes. IPv4-mapped peers (a dual-stack listener's
// IPv4 clients) are compared as IPv4; an unreadable address is untrusted.
func trustedPeer(remoteAddr string, trusted []netip.Prefix) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().WithZone("").Unmap()
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// headerIP is the address in the proxy's header: of a list (proxies append
// to X-Forwarded-For, over as many lines as they like) only the last entry,
// the one the nearest proxy wrote, since the client chose every other. A
// value that is not an address is not used, so a client cannot key the
// per-address limits by text of its own.
func headerIP(values []string) (string, bool) {
	if len(values) == 0 {
		return "", false
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	v = strings.TrimSpace(v)
	a, err := netip.ParseAddr(v)
	if err != nil {
		// Some proxies write the peer's port too.
		ap, perr := netip.ParseAddrPort(v)
		if perr != nil {
			return "", false
		}
		a = ap.Addr()
	}
	return a.WithZone("").Unmap().String(), true
}

// handoff adapts the gateway to httpapi.Handoff.
type handoff struct{ g *gateway.Gateway }

func (h handoff) CheckReturnTo(s string) error {
	_, err := h.g.ReturnTo(s)
	return err
}

func (h handoff) NewLoginCode(ctx context.Context, iss *sessiond.Issued, returnTo string) (sessiond.Secret, string, error) {
	code, u, err := h.g.NewLoginCode(ctx, iss, returnTo)
	if errors.Is(err, gateway.ErrTooManyCodes) {
		err = fmt.Errorf("%w: %w", httpapi.ErrTooManyLoginCodes, err)
	}
	return code, u, err
}

func (h handoff) SetCookieValues(iss *sessiond.Issued) ([]string, error) {
	return h.g.SetCookieValues(iss)
}

// DBSCKeyDoc is the MetaStore document holding the key every node MACs
// DBSC challenges and bound cookies with, sealed like NonceSecretDoc.
const DBSCKeyDoc = "gateway.dbsc_key"

// dbscOptions configures DBSC (gateway.dbsc): its routes under the
// gateway's prefix, a key shared by every node through the store (sealed
// with the signing KEK when one is configured), and used challenges
// remembered in the store when it implements sessiond.ReplayGuard, so
// every node refuses a replay; otherwise in this node's memory.
func dbscOptions(cfg config.Config, store sessiond.Store, meta sessiond.MetaStore, getenv func(string) string, secrets *sharedSecrets) (httpsession.DBSCOptions, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if getenv == nil {
		getenv = os.Getenv
	}
	kek, old, err := SigningKEKs(cfg, getenv)
	if err != nil {
		return httpsession.DBSCOptions{}, err
	}
	// Releases before the key was sealed stored its bare bytes: read them.
	key, err := newSharedSecret(ctx, meta, DBSCKeyDoc, true, kek, old)
	if err != nil {
		return httpsession.DBSCOptions{}, fmt.Errorf("gateway: DBSC key: %w", err)
	}
	secrets.add(key) // written back, or adopted, if the store loses it
	o := httpsession.DBSCOptions{
		Policy:           httpsession.DBSCPolicy(cfg.Gateway.DBSC),
		Key:              key.current(),
		CurrentKey:       key.current,
		CookieLifetime:   cfg.Gateway.DBSCCookieLifetime.Std(),
		RegistrationPath: cfg.Gateway.Prefix + gateway.DBSCRegistrationRoute,
		RefreshPath:      cfg.Gateway.Prefix + gateway.DBSCRefreshRoute,
	}
	o.Replay = replayGuard(store)
	return o, nil
}

// replayGuard returns the store's replay memory, shared by every node on
// it, when the store implements sessiond.ReplayGuard (every store sessiond
// ships), else nil: each node then remembers in its own memory.
func replayGuard(store sessiond.Store) sessiond.ReplayGuard {
	if g, ok := store.(sessiond.ReplayGuard); ok {
		return g
	}
	return nil
}
