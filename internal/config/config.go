// Package config is the server's file schema: strict YAML loading on top of
// the defaults, environment overrides, and the validator that tells an
// operator what is unsafe in their settings before sessiond starts.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/webhook"
)

// Environment names.
const (
	EnvProduction  = "production"
	EnvDevelopment = "development"
)

// Config is the whole server configuration. The zero value is not useful;
// start from Default.
type Config struct {
	Environment     string            `yaml:"environment"`
	Strategy        sessiond.Strategy `yaml:"strategy"`
	Preset          string            `yaml:"preset"`
	Server          Server            `yaml:"server"`
	Store           Store             `yaml:"store"`
	Lifetime        LifetimeSettings  `yaml:"lifetimes"`
	Refresh         Refresh           `yaml:"refresh"`
	JWT             JWT               `yaml:"jwt"`
	Signing         Signing           `yaml:"signing"`
	VerifyCacheSize int               `yaml:"verify_cache_size"`
	Cookie          Cookie            `yaml:"cookie"`
	CSRF            CSRF              `yaml:"csrf"`
	Gateway         Gateway           `yaml:"gateway"`
	Limits          Limits            `yaml:"limits"`
	Anomaly         Anomaly           `yaml:"anomaly"`
	Events          Events            `yaml:"events"`
	Console         Console           `yaml:"console"`
	Log             Log               `yaml:"log"`
	Webhooks        []Webhook         `yaml:"webhooks"`
	SSF             SSF               `yaml:"ssf"`
	RateLimit       RateLimit         `yaml:"rate_limit"`
	DPoP            DPoP              `yaml:"dpop"`
}

// RateLimit bounds requests to the API, in memory on each node: a token
// bucket per key refilled at Requests per Per, holding up to Burst. The
// limit on failed refreshes is counted in the store instead, so that every
// node shares it.
type RateLimit struct {
	// AuthFailures: failed API-key authentications per client address.
	AuthFailures RateRule `yaml:"auth_failures"`
	// PerAPIKey: create, verify, refresh and introspect requests per API key.
	PerAPIKey RateRule `yaml:"per_api_key"`
	// PerClientIP: the same requests per client address.
	PerClientIP RateRule `yaml:"per_client_ip"`
	// RefreshFailures: failed refreshes of one subject, counted in the
	// store (every node on PostgreSQL or Redis together).
	RefreshFailures WindowRule `yaml:"refresh_failures"`
	// RevocationStreamsPerAPIKey: revocation streams one API key holds
	// open at once on each node; 0 turns the bound off.
	RevocationStreamsPerAPIKey int `yaml:"revocation_streams_per_api_key"`
}

// WindowRule is a limit counted in fixed windows: at most Requests per
// Per; Requests 0 turns it off.
type WindowRule struct {
	Requests int      `yaml:"requests"`
	Per      Duration `yaml:"per"`
}

// RateRule is one limit; Requests 0 turns it off.
type RateRule struct {
	Requests int      `yaml:"requests"`
	Per      Duration `yaml:"per"`
	Burst    int      `yaml:"burst"`
}

// PerSecond is the sustained rate of r; 0 when it is off or malformed.
func (r RateRule) PerSecond() float64 {
	if r.Requests <= 0 || r.Per <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Per.Std().Seconds()
}

// Server holds the HTTP listener settings.
type Server struct {
	Listen            string   `yaml:"listen"`
	DataDir           string   `yaml:"data_dir"`
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	WriteTimeout      Duration `yaml:"write_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	ShutdownTimeout   Duration `yaml:"shutdown_timeout"`
	// ShutdownDelay is how long a stopping server keeps serving, answering
	// /readyz with 503 and closing each connection after its answer, before
	// its listeners close: the time a load balancer needs to stop sending
	// it requests (docs/operations.md, "Restarts behind a load balancer").
	ShutdownDelay Duration `yaml:"shutdown_delay"`
	MaxBodyBytes  int64    `yaml:"max_body_bytes"`
	// TLSCertFile and TLSKeyFile (PEM) make the API listener serve HTTPS;
	// both or neither. The files are read again when they change, so a
	// renewed certificate is served without a restart.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// AdminListen, when set, is a second listener (host:port) for the
	// operational routes /healthz, /readyz and /metrics; /metrics is then
	// no longer served on Listen.
	AdminListen string `yaml:"admin_listen"`
}

// Store picks the session store backend.
type Store struct {
	Driver string `yaml:"driver"` // memory | sqlite | postgres | redis
	DSN    string `yaml:"dsn"`
	// Namespace separates several sessiond deployments on one server:
	// the PostgreSQL schema (default public) or the Redis key prefix
	// (default sd).
	Namespace string `yaml:"namespace"`
	// ClientCache: redis only, the staleness bound of the client-side
	// cache of database-strategy lookups (RESP3 tracking); 0 disables it.
	ClientCache Duration `yaml:"client_cache"`
	// WriteGroups: postgres only, the group commits in flight at once;
	// 0 picks one per two CPUs, from 1 to 4 (pgstore.Options.WriteGroups).
	WriteGroups int `yaml:"write_groups"`
	// Migrate: sqlite and postgres, whether serve applies the schema
	// migrations of its build at start ("auto") or refuses a schema that
	// lacks one ("manual"), for deployments that migrate as a step of
	// their own (`sessiond migrate`). Empty means auto.
	Migrate string `yaml:"migrate"`
	// RevocationReplicas: redis only, how many replicas must have a
	// revocation before it returns (WAIT): "auto" (or empty) waits for one
	// when Redis reports a connected replica at start, "0" never waits, a
	// number waits for that many (redisstore.Options.RevocationReplicas).
	RevocationReplicas ReplicaCount `yaml:"revocation_replicas"`
	// RevocationWait: redis only, how long a revocation waits for its
	// replicas at most; past it the revocation stands and a warning is
	// logged.
	RevocationWait Duration `yaml:"revocation_wait"`
	// Synchronous: sqlite only, when a commit reaches the disk: "normal"
	// (or empty) at checkpoints, so a power cut can lose the last commits;
	// "full" at every commit (sqlitestore.Options.FullSync).
	Synchronous string `yaml:"synchronous"`
}

// Store.Synchronous values.
const (
	SynchronousNormal = "normal"
	SynchronousFull   = "full"
)

// ReplicaCount is store.revocation_replicas: "auto" or a number, which a
// file may write as a YAML integer (revocation_replicas: 0) as the docs do.
type ReplicaCount string

var replicaCountType = reflect.TypeFor[ReplicaCount]()

// RevocationReplicasAuto is store.revocation_replicas's default.
const RevocationReplicasAuto = "auto"

// RevocationReplicasOption is store.revocation_replicas as
// redisstore.Options.RevocationReplicas takes it: 0 for auto, -1 for "0",
// else the number; ok is false for anything else.
func (s Store) RevocationReplicasOption() (n int, ok bool) {
	switch s.RevocationReplicas {
	case "", RevocationReplicasAuto:
		return 0, true
	}
	n, err := strconv.Atoi(string(s.RevocationReplicas))
	switch {
	case err != nil || n < 0:
		return 0, false
	case n == 0:
		return -1, true
	}
	return n, true
}

// Store.Migrate values.
const (
	MigrateAuto   = "auto"
	MigrateManual = "manual"
)

// LifetimeSettings are the lifetimes as written in the file. Access and
// Refresh are zero when the preset's value applies; Config.Lifetimes
// resolves them.
type LifetimeSettings struct {
	Access        Duration `yaml:"access"`
	Refresh       Duration `yaml:"refresh"`
	Idle          Duration `yaml:"idle"`
	Absolute      Duration `yaml:"absolute"`
	TouchInterval Duration `yaml:"touch_interval"`
	ReuseInterval Duration `yaml:"reuse_interval"`
}

// Refresh controls refresh-token rotation and reuse detection.
type Refresh struct {
	Rotation       bool `yaml:"rotation"`
	ReuseDetection bool `yaml:"reuse_detection"`
	// CacheSize bounds the hybrid grant cache (sessiond.Options.RefreshCacheSize);
	// 0 or negative disables it.
	CacheSize int `yaml:"cache_size"`
}

// JWT configures signed tokens (jwt and hybrid strategies).
type JWT struct {
	// Issuer and Audience are the iss and aud claims. Empty (the default)
	// means values unique to the deployment, derived from a random
	// deployment ID the server keeps in the store.
	Issuer    string `yaml:"issuer"`
	Audience  string `yaml:"audience"`
	Algorithm string `yaml:"algorithm"` // EdDSA | ES256 | HS256
	// HS256SecretFile names the file holding the HS256 key. A secret is
	// never written inline; SESSIOND_JWT_HS256_SECRET is the alternative.
	HS256SecretFile     string   `yaml:"hs256_secret_file"`
	Leeway              Duration `yaml:"leeway"`
	KeyRotationInterval Duration `yaml:"key_rotation_interval"`
	// KeyPublishPeriod is how long a new signing key is published (JWKS)
	// and verifies on every node before any node signs with it.
	KeyPublishPeriod Duration `yaml:"key_publish_period"`
}

// Signing protects the signing key ring stored in the store.
type Signing struct {
	// KEKFile names the file holding the key-encryption key (base64 of 32
	// random bytes) that seals the key ring in the store;
	// SESSIOND_KEK is the alternative. A secret is never written inline.
	KEKFile string `yaml:"kek_file"`
	// OldKEKFiles hold earlier KEKs, used only to open a ring sealed with
	// them while the KEK is rotated.
	OldKEKFiles []string `yaml:"old_kek_files"`
}

// Cookie configures the session and refresh cookies.
type Cookie struct {
	Name        string   `yaml:"name"`
	RefreshName string   `yaml:"refresh_name"`
	RefreshPath string   `yaml:"refresh_path"`
	Secure      bool     `yaml:"secure"`
	HTTPOnly    bool     `yaml:"http_only"`
	SameSite    string   `yaml:"same_site"` // lax | strict | none
	Path        string   `yaml:"path"`
	Domain      string   `yaml:"domain"`
	MaxAge      Duration `yaml:"max_age"` // zero: the session's lifetime
}

// CSRF lists the origins allowed to send state-changing requests.
type CSRF struct {
	TrustedOrigins []string `yaml:"trusted_origins"`
}

// Gateway configures the browser routes (docs/gateway.md): forward-auth
// for a reverse proxy, refresh, logout and the login-code handoff, served
// under Prefix on the server's listener.
type Gateway struct {
	Enabled  bool   `yaml:"enabled"`
	Prefix   string `yaml:"prefix"`
	LoginURL string `yaml:"login_url"`
	// ClientIPHeader names the header in which the proxy reports the
	// browser's address (X-Real-IP); empty: the connection's address.
	ClientIPHeader string `yaml:"client_ip_header"`
	// TrustedProxies are the proxies (IP addresses or CIDR prefixes) whose
	// ClientIPHeader is believed; from any other peer the connection's
	// address counts. Empty: loopback only (see TrustedProxyPrefixes).
	TrustedProxies []string `yaml:"trusted_proxies"`
	// DBSC is the Device Bound Session Credentials policy: off, optional
	// (offered at login; bound sessions need their bound cookie) or
	// required (unbound sessions are refused). See docs/bound-sessions.md.
	DBSC string `yaml:"dbsc"`
	// DBSCCookieLifetime is the bound cookie's Max-Age.
	DBSCCookieLifetime Duration `yaml:"dbsc_cookie_lifetime"`
}

// loopbackProxies are the proxies trusted when gateway.trusted_proxies is
// empty: a proxy on the same host. A proxy elsewhere must be listed, so that
// whoever reaches the listener directly cannot choose the address.
var loopbackProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// TrustedProxyPrefixes returns gateway.trusted_proxies as prefixes (an
// address is a prefix of its full length; IPv4-mapped IPv6 addresses
// become IPv4), or 127.0.0.0/8 and ::1 when the list is empty. The error
// names every entry that is not an address or a CIDR prefix.
func (g Gateway) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	if len(g.TrustedProxies) == 0 {
		return slices.Clone(loopbackProxies), nil
	}
	out := make([]netip.Prefix, 0, len(g.TrustedProxies))
	var errs []error
	for _, s := range g.TrustedProxies {
		p, err := parseProxy(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// mappedFirst is the first IPv4-mapped IPv6 address (::ffff:0.0.0.0).
var mappedFirst = netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff})

// minMappedBits: an IPv6 prefix at least this long that holds IPv4-mapped
// addresses (::/80 and within) holds, beside the IPv4 forms (::/96,
// ::ffff:0:0/96), only ::1 and unassigned addresses; a shorter one holds
// IPv6 peers too.
const minMappedBits = 80

// parseProxy reads one entry of gateway.trusted_proxies.
func parseProxy(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("gateway.trusted_proxies entry %q is not an IP address or CIDR prefix", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Errorf("gateway.trusted_proxies entry %q is not an IP address or CIDR prefix", s)
	case p.Addr().Is4In6() && p.Bits() >= 96:
		// Peers are compared as IPv4, so such a prefix would never match.
		return netip.Prefix{}, fmt.Errorf("gateway.trusted_proxies entry %q is IPv4-mapped: write it as IPv4, %s", s, netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96))
	case p.Bits() >= minMappedBits && p.Bits() < 96 && p.Masked().Contains(mappedFirst):
		// ::ffff:0:0/95, ::/80: nothing but IPv4 forms is there to trust,
		// so the entry is meant for IPv4 peers, which it never matches
		// (peers are compared as IPv4). A wider prefix (::/0, ::/1, ::/8
		// with NAT64's 64:ff9b::/96) is taken for its IPv6 peers.
		return netip.Prefix{}, fmt.Errorf("gateway.trusted_proxies entry %q holds the IPv4-mapped range ::ffff:0:0/96, which matches no peer as peers are compared as IPv4: list IPv4 proxies as IPv4 (10.0.0.0/8, 0.0.0.0/0)", s)
	case p != p.Masked():
		// 10.0.0.1/8: a /32 with a typo, or the whole /8? Trusting more
		// than meant hands the address to every host in it.
		return netip.Prefix{}, fmt.Errorf("gateway.trusted_proxies entry %q has bits set past its length: write %s, or %s for the one address", s, p.Masked(), netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
	}
	return p, nil
}

// The DBSC policies of gateway.dbsc.
const (
	DBSCOff      = "off"
	DBSCOptional = "optional"
	DBSCRequired = "required"
)

// Limits bounds the number of live sessions per subject.
type Limits struct {
	MaxSessions int    `yaml:"max_sessions"` // 0: unlimited
	Policy      string `yaml:"policy"`       // evict_oldest | reject | single
}

// Anomaly configures the session anomaly detector.
type Anomaly struct {
	IPv4Prefix          int          `yaml:"ipv4_prefix"`
	IPv6Prefix          int          `yaml:"ipv6_prefix"`
	DistinctIPWindow    Duration     `yaml:"distinct_ip_window"`
	DistinctIPThreshold int          `yaml:"distinct_ip_threshold"`
	Rules               AnomalyRules `yaml:"rules"`
}

// AnomalyRules holds one rule per detector.
type AnomalyRules struct {
	IPChange            AnomalyRule `yaml:"ip_change"`
	UserAgentChange     AnomalyRule `yaml:"user_agent_change"`
	DistinctIPs         AnomalyRule `yaml:"distinct_ips"`
	RefreshDeviceChange AnomalyRule `yaml:"refresh_device_change"`
}

// AnomalyRule says what happens when a detector fires. A rule written in
// the file replaces the default rule as a whole, so `ip_change: {}` is a
// rule with no action.
type AnomalyRule struct {
	Action string `yaml:"action"` // log | alert | step_up | revoke
}

// Events configures the security event log.
type Events struct {
	Retention Duration `yaml:"retention"`
	// IPv4Prefix and IPv6Prefix: the leading bits of a client's address
	// every event keeps (32 and 128: the whole address).
	IPv4Prefix int `yaml:"ipv4_prefix"`
	IPv6Prefix int `yaml:"ipv6_prefix"`
}

// IPPrefixes are IPv4Prefix and IPv6Prefix as the Manager takes them: a
// whole address is 0, so that the default cuts nothing.
func (e Events) IPPrefixes() sessiond.IPPrefixes {
	p := sessiond.IPPrefixes{V4: e.IPv4Prefix, V6: e.IPv6Prefix}
	if p.V4 == 32 {
		p.V4 = 0
	}
	if p.V6 == 128 {
		p.V6 = 0
	}
	return p
}

// Console configures the operator console at /console (docs/console.md),
// served on server.admin_listen when set, else on server.listen.
type Console struct {
	Enabled bool `yaml:"enabled"`
	// IdleTimeout ends a console session nobody used for this long.
	IdleTimeout Duration `yaml:"idle_timeout"`
}

// ConsoleMaxIdle is the longest console.idle_timeout: a console session
// ends 8 hours after sign-in whatever its activity (console.DefaultAbsolute;
// a test in internal/server keeps them equal), so a longer idle timeout
// would never apply.
const ConsoleMaxIdle = 8 * time.Hour

// MaxDistinctIPThreshold is the largest anomaly.distinct_ip_threshold, the
// number of networks the detector remembers per session
// (anomaly.MaxDistinctIPThreshold; a test in internal/server keeps them
// equal).
const MaxDistinctIPThreshold = 64

// Log configures the server's own log: its level and format, and which
// API requests get a line.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json | text
	// Requests picks the requests that get a log line: all, errors (status
	// 400 and above), or sample (every error, and one success in
	// SampleEvery).
	Requests    string `yaml:"requests"`
	SampleEvery int    `yaml:"sample_every"`
}

// Log levels, formats and request selections accepted in the log section.
var (
	LogLevels   = []string{"debug", "info", "warn", "error"}
	LogFormats  = []string{"json", "text"}
	LogRequests = []string{"all", "errors", "sample"}
)

// Webhook delivers security events to an HTTP endpoint.
type Webhook struct {
	// Name identifies the endpoint in the outbox, logs and metrics; pending
	// deliveries refer to it, so keep it stable. Default: its position and
	// host ("0-hooks.example.com").
	Name        string   `yaml:"name"`
	URL         string   `yaml:"url"`
	Events      []string `yaml:"events"`
	SecretFile  string   `yaml:"secret_file"`
	MaxAttempts int      `yaml:"max_attempts"`
	// MaxPendingAge bounds how long a delivery stays pending while the
	// endpoint cools down: past it, it is dead unsent. 0 means
	// webhook.DefaultMaxPendingAge (168h).
	MaxPendingAge Duration `yaml:"max_pending_age"`
}

// Default returns the built-in configuration that a file is decoded onto.
func Default() Config {
	return Config{
		Environment: EnvProduction,
		Strategy:    sessiond.StrategyHybrid,
		Preset:      sessiond.PresetB2C,
		Server: Server{
			Listen:            "127.0.0.1:8420",
			DataDir:           "./sessiond-data",
			ReadHeaderTimeout: Duration(5 * time.Second),
			ReadTimeout:       Duration(15 * time.Second),
			WriteTimeout:      Duration(15 * time.Second),
			IdleTimeout:       Duration(60 * time.Second),
			ShutdownTimeout:   Duration(20 * time.Second),
			ShutdownDelay:     Duration(5 * time.Second),
			MaxBodyBytes:      65536,
		},
		Store: Store{Driver: "sqlite", Migrate: MigrateAuto, RevocationReplicas: RevocationReplicasAuto, RevocationWait: Duration(time.Second),
			Synchronous: SynchronousNormal},
		Lifetime: LifetimeSettings{
			Idle:          Duration(sessiond.DefaultIdle),
			Absolute:      Duration(sessiond.DefaultAbsolute),
			TouchInterval: Duration(time.Minute),
			ReuseInterval: Duration(5 * time.Second),
		},
		Refresh: Refresh{Rotation: true, ReuseDetection: true, CacheSize: 65536},
		JWT: JWT{
			Issuer:              "", // unique to the deployment: see JWT.Issuer
			Audience:            "",
			Algorithm:           "EdDSA",
			Leeway:              Duration(5 * time.Second),
			KeyRotationInterval: Duration(720 * time.Hour),
			KeyPublishPeriod:    Duration(10 * time.Minute),
		},
		Signing:         Signing{OldKEKFiles: []string{}},
		VerifyCacheSize: 65536,
		Cookie: Cookie{
			Name:        "__Host-sessiond",
			RefreshName: "__Secure-sessiond-refresh",
			RefreshPath: "/sessiond/refresh",
			Secure:      true,
			HTTPOnly:    true,
			SameSite:    "lax",
			Path:        "/",
		},
		CSRF:    CSRF{TrustedOrigins: []string{}},
		Gateway: Gateway{Prefix: "/sessiond", TrustedProxies: []string{}, DBSC: DBSCOff, DBSCCookieLifetime: Duration(10 * time.Minute)},
		Limits:  Limits{Policy: "evict_oldest"},
		Anomaly: Anomaly{
			IPv4Prefix:          24,
			IPv6Prefix:          64,
			DistinctIPWindow:    Duration(10 * time.Minute),
			DistinctIPThreshold: 3,
			Rules: AnomalyRules{
				IPChange:            AnomalyRule{Action: "log"},
				UserAgentChange:     AnomalyRule{Action: "step_up"},
				DistinctIPs:         AnomalyRule{Action: "alert"},
				RefreshDeviceChange: AnomalyRule{Action: "revoke"},
			},
		},
		Events:   Events{Retention: Duration(2160 * time.Hour), IPv4Prefix: 32, IPv6Prefix: 128},
		Console:  Console{Enabled: true, IdleTimeout: Duration(15 * time.Minute)},
		Log:      Log{Level: "info", Format: "json", Requests: "all", SampleEvery: 100},
		Webhooks: []Webhook{},
		SSF:      SSF{Receivers: []SSFReceiver{}},
		RateLimit: RateLimit{
			AuthFailures: RateRule{Requests: 60, Per: Duration(time.Minute), Burst: 20},
			PerAPIKey:    RateRule{Requests: 50000, Per: Duration(time.Second), Burst: 100000},
			PerClientIP:  RateRule{Requests: 50000, Per: Duration(time.Second), Burst: 100000},
			// A client that keeps presenting dead refresh tokens of one
			// user: a hundred a minute is far above any honest retry.
			RefreshFailures: WindowRule{Requests: 100, Per: Duration(time.Minute)},
			// Each verifier instance holds one stream: a thousand of one
			// key on one node is several thousand pods behind a few
			// nodes, or a client leaking streams; it costs the node a
			// few percent of a core (docs/PERFORMANCE.md).
			RevocationStreamsPerAPIKey: 1000,
		},
		DPoP: DPoP{NoncePeriod: Duration(5 * time.Minute)},
	}
}

// The range of webhooks[].max_pending_age (SD-WEBHOOK-007).
const (
	MinWebhookMaxPendingAge = time.Hour
	MaxWebhookMaxPendingAge = 90 * 24 * time.Hour
)

// DefaultWebhook is the value every webhook item in the file is decoded onto.
func DefaultWebhook() Webhook {
	return Webhook{Events: []string{}, MaxAttempts: 8, MaxPendingAge: Duration(webhook.DefaultMaxPendingAge)}
}

// Lifetimes returns the session lifetimes: the preset's access and refresh
// lifetimes unless overridden, with the configured idle and absolute
// timeouts. It fails only for an unknown preset.
func (c Config) Lifetimes() (sessiond.Lifetimes, error) {
	l, err := sessiond.Preset(c.Preset)
	if err != nil {
		return sessiond.Lifetimes{}, fmt.Errorf("config: preset: %w", err)
	}
	if c.Lifetime.Access != 0 {
		l.Access = c.Lifetime.Access.Std()
	}
	if c.Lifetime.Refresh != 0 {
		l.Refresh = c.Lifetime.Refresh.Std()
	}
	l.Idle = c.Lifetime.Idle.Std()
	l.Absolute = c.Lifetime.Absolute.Std()
	return l, nil
}

// Duration is a time.Duration written in YAML and env as a string: Go
// syntax ("15m", "1h30m") or whole days ("30d"). Negative values are
// rejected.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d in Go syntax ("15m0s"), which ParseDuration reads back.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDuration reads a duration the way the config file writes it: Go
// syntax, or an integer count of days with a "d" suffix. The empty string
// is zero.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q (want e.g. 15m, 8h or 30d)", s)
		}
		if n > 100000 {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 15m, 8h or 30d)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	return Duration(v), nil
}

var durationType = reflect.TypeFor[Duration]()

// Keys lists the dotted path of every configurable key, in file order.
// Items of a list of mappings appear as "webhooks[].url".
func Keys() []string {
	var keys []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := yamlName(f)
			if name == "" {
				continue
			}
			path := joinPath(prefix, name)
			ft := f.Type
			switch {
			case ft == durationType:
				keys = append(keys, path)
			case ft.Kind() == reflect.Struct:
				walk(path, ft)
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(path+"[]", ft.Elem())
			default:
				keys = append(keys, path)
			}
		}
	}
	walk("", reflect.TypeFor[Config]())
	return keys
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func joinPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
