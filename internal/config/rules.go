package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/webhook"
)

const (
	day = 24 * time.Hour

	minHS256SecretBytes = 32
	// minKeyPublishPeriod: the JWKS max-age plus the key ring's poll.
	minKeyPublishPeriod = 5*time.Minute + 2*time.Second
	maxCookieAge        = 400 * day // RFC 6265bis §5.5: user agents cap cookie lifetimes here
	// maxCookieNameBytes: browsers refuse a name and value over 4096 bytes
	// together (RFC 6265bis §5.6); a longer name is a mistake that leaves
	// the token too little room, and is sent with every request.
	maxCookieNameBytes = 256
	maxBodyWarn        = 1 << 20
	// stopDeadline is how long Kubernetes (terminationGracePeriodSeconds)
	// and systemd (TimeoutStopSec, in deploy/systemd) wait by default after
	// SIGTERM before SIGKILL.
	stopDeadline = 30 * time.Second
)

// rules is the validator's table. Keep the IDs stable: CI baselines and
// suppressions refer to them. A new check gets a new ID; a retired ID is
// never reused. Every rule is documented in docs/config-rules.md (a test
// checks that).
var rules = sortedByID([]Rule{
	// Schema.
	{
		ID: "SD-SCHEMA-001", Severity: SeverityError,
		Title:     "unknown key",
		Rationale: "The file is decoded strictly: a key sessiond does not know is almost always a typo, and a typo in a security setting (secur: true) silently leaves the default in force.",
		Fix:       "correct the key name (the message suggests the closest valid key) or remove it",
		Check: func(in Input) []Issue {
			return fieldIssues(in.Doc, true)
		},
	},
	{
		ID: "SD-SCHEMA-002", Severity: SeverityError,
		Title:     "wrong type or unparsable value",
		Rationale: "A value of the wrong type (a string where a boolean is expected, a duration without a unit) cannot be applied; the key keeps its default, which is not what the file says.",
		Fix:       "write the value in the documented type: true/false unquoted, integers unquoted, durations as strings with a unit (15m, 8h, 30d)",
		Check: func(in Input) []Issue {
			return fieldIssues(in.Doc, false)
		},
	},
	{
		ID: "SD-SCHEMA-003", Severity: SeverityError,
		Title:     "unknown environment, strategy or preset",
		Rationale: "These three values select whole families of behaviour and defaults; an unknown value cannot be started.",
		Fix:       "use environment production|development, strategy database|jwt|hybrid, preset b2b|b2c|internal",
		Check: func(in Input) []Issue {
			c := in.Config
			var out []Issue
			if c.Environment != EnvProduction && c.Environment != EnvDevelopment {
				out = append(out, issue("environment", "environment %q is not production or development; it is checked as production", c.Environment))
			}
			if !c.Strategy.Valid() {
				out = append(out, issue("strategy", "strategy %q is not database, jwt or hybrid", string(c.Strategy)))
			}
			if _, err := sessiond.Preset(c.Preset); err != nil {
				out = append(out, issue("preset", "preset %q is not b2b, b2c or internal; lifetimes are checked against b2c", c.Preset))
			}
			return out
		},
	},

	// Cookies.
	{
		ID: "SD-COOKIE-001", Severity: SeverityError,
		Title:     "session cookies must be HttpOnly",
		Rationale: "Without HttpOnly any script on the page, including injected script, can read the session and refresh tokens (ASVS 3.3.4).",
		Fix:       "set cookie.http_only: true",
		Check: func(in Input) []Issue {
			if !in.Config.Cookie.HTTPOnly {
				return []Issue{issue("cookie.http_only", "cookie.http_only is false: scripts can read the session cookie")}
			}
			return nil
		},
	},
	{
		ID: "SD-COOKIE-002", Severity: SeverityError,
		Title:     "session cookies must be Secure in production",
		Rationale: "A cookie without Secure is sent over plain HTTP, where anyone on the path can copy it (ASVS 3.3.1; NIST SP 800-63B-4 §5.1: no fallback to insecure transport). In development on plain-HTTP localhost it is a warning.",
		Fix:       "set cookie.secure: true and serve sessiond (or the app in front of it) over HTTPS",
		Check: func(in Input) []Issue {
			if in.Config.Cookie.Secure {
				return nil
			}
			if in.production() {
				return []Issue{issue("cookie.secure", "cookie.secure is false in production: cookies would travel over plain HTTP")}
			}
			return []Issue{{Path: "cookie.secure", Severity: SeverityWarning,
				Message: "cookie.secure is false: acceptable only for plain-HTTP development on localhost"}}
		},
	},
	{
		ID: "SD-COOKIE-003", Severity: SeverityError,
		Title:     "same_site must be lax, strict or none",
		Rationale: "SameSite must be explicit rather than left to browser defaults, which differ (ASVS 3.3.2; RFC 6265bis §4.1.2.7 treats unknown values as Lax in some browsers and as absent in others).",
		Fix:       "set cookie.same_site to lax (default) or strict",
		Check: func(in Input) []Issue {
			switch strings.ToLower(in.Config.Cookie.SameSite) {
			case "lax", "strict", "none":
				return nil
			}
			return []Issue{issue("cookie.same_site", "cookie.same_site %q is not lax, strict or none", in.Config.Cookie.SameSite)}
		},
	},
	{
		ID: "SD-COOKIE-004", Severity: SeverityError,
		Title:     "SameSite=None requires Secure",
		Rationale: "Browsers reject a SameSite=None cookie that is not Secure (RFC 6265bis §5.6.7), so sessions would silently not work; and an insecure cross-site cookie is the worst of both (ASVS 3.3.2).",
		Fix:       "use same_site: lax or strict; if cross-site use is truly needed, also set secure: true",
		Check: func(in Input) []Issue {
			c := in.Config.Cookie
			if strings.EqualFold(c.SameSite, "none") && !c.Secure {
				return []Issue{issue("cookie.same_site", "cookie.same_site is none while cookie.secure is false: browsers reject such cookies")}
			}
			return nil
		},
	},
	{
		ID: "SD-COOKIE-005", Severity: SeverityWarning,
		Title:     "SameSite=None sends the session on cross-site requests",
		Rationale: "With SameSite=None the browser attaches the session cookie to requests started by any site, so every state-changing endpoint relies on CSRF tokens and Origin checks alone (ASVS 3.3.2, 3.5.1; OWASP CSRF cheat sheet).",
		Fix:       "use same_site: lax (or strict) unless the app is embedded cross-site by design, and list the embedding origins in csrf.trusted_origins",
		Check: func(in Input) []Issue {
			c := in.Config.Cookie
			if strings.EqualFold(c.SameSite, "none") && c.Secure {
				return []Issue{issue("cookie.same_site", "cookie.same_site is none: the session cookie goes with cross-site requests")}
			}
			return nil
		},
	},
	{
		ID: "SD-COOKIE-006", Severity: SeverityInfo,
		Title:     "cookie names should carry a __Host- or __Secure- prefix",
		Rationale: "A prefixed name makes the browser enforce Secure (and for __Host-, Path=/ and no Domain), so a sibling subdomain or a plain-HTTP response cannot plant or overwrite the cookie (ASVS 3.3.1, 3.3.3). The session cookie can use __Host-; the refresh cookie, scoped to the refresh path, can use __Secure-.",
		Fix:       "name the session cookie __Host-<name> and the refresh cookie __Secure-<name>",
		Check: func(in Input) []Issue {
			c := in.Config.Cookie
			var out []Issue
			if c.Name != "" && !hasPrefixFold(c.Name, "__Host-") {
				out = append(out, issue("cookie.name", "cookie.name %q has no __Host- prefix", c.Name))
			}
			if in.tokens() && c.RefreshName != "" && !hasPrefixFold(c.RefreshName, "__Host-") && !hasPrefixFold(c.RefreshName, "__Secure-") {
				out = append(out, issue("cookie.refresh_name", "cookie.refresh_name %q has neither a __Secure- nor a __Host- prefix", c.RefreshName))
			}
			return out
		},
	},
	{
		ID: "SD-COOKIE-007", Severity: SeverityError,
		Title:     "__Host- cookies need Secure, Path=/ and no Domain",
		Rationale: "A browser drops a __Host- cookie that is not Secure, has a Path other than / or has a Domain (RFC 6265bis §4.1.3.2; the prefix matches case-insensitively, §5.7), so sessions would silently fail.",
		Fix:       "with a __Host- name keep secure: true, path: / (refresh_path: / for the refresh cookie) and domain empty; or drop the prefix for a cookie that must be scoped (prefer __Secure-)",
		Check: func(in Input) []Issue {
			c := in.Config.Cookie
			var out []Issue
			check := func(nameKey, name, pathKey, path string) {
				if !hasPrefixFold(name, "__Host-") {
					return
				}
				if !c.Secure {
					out = append(out, issue("cookie.secure", "%s %q has the __Host- prefix but cookie.secure is false", nameKey, name))
				}
				if path != "/" {
					out = append(out, issue(pathKey, "%s %q has the __Host- prefix but %s is %q, not /", nameKey, name, pathKey, path))
				}
				if c.Domain != "" {
					out = append(out, issue("cookie.domain", "%s %q has the __Host- prefix but cookie.domain is set", nameKey, name))
				}
			}
			check("cookie.name", c.Name, "cookie.path", c.Path)
			if in.tokens() {
				check("cookie.refresh_name", c.RefreshName, "cookie.refresh_path", c.RefreshPath)
			}
			return out
		},
	},
	{
		ID: "SD-COOKIE-008", Severity: SeverityError,
		Title:     "__Secure- cookies need Secure",
		Rationale: "A browser drops a __Secure- cookie that is not Secure (RFC 6265bis §4.1.3.1).",
		Fix:       "set cookie.secure: true, or rename the cookie",
		Check: func(in Input) []Issue {
			c := in.Config.Cookie
			if c.Secure {
				return nil
			}
			var out []Issue
			if hasPrefixFold(c.Name, "__Secure-") {
				out = append(out, issue("cookie.secure", "cookie.name %q has the __Secure- prefix but cookie.secure is false", c.Name))
			}
			if in.tokens() && hasPrefixFold(c.RefreshName, "__Secure-") {
				out = append(out, issue("cookie.secure", "cookie.refresh_name %q has the __Secure- prefix but cookie.secure is false", c.RefreshName))
			}
			return out
		},
	},
	{
		ID: "SD-COOKIE-009", Severity: SeverityWarning,
		Title:     "cookie.domain widens the cookie to subdomains",
		Rationale: "With a Domain attribute the cookie is sent to every subdomain, so any of them (a forgotten staging host, user content) can read or set it; without it the cookie stays on the exact host (OWASP Session Management cheat sheet, Domain and Path; NIST SP 800-63B-4 §5.1.1).",
		Fix:       "leave cookie.domain empty unless the session really must be shared across hosts",
		Check: func(in Input) []Issue {
			if d := in.Config.Cookie.Domain; d != "" {
				return []Issue{issue("cookie.domain", "cookie.domain %q sends the cookies to every subdomain", d)}
			}
			return nil
		},
	},
	{
		ID: "SD-COOKIE-010", Severity: SeverityInfo,
		Title:     "refresh cookie should be scoped to the refresh endpoint",
		Rationale: "The refresh token is only ever needed by the refresh endpoint; with refresh_path / it rides along on every request and is exposed to every handler and log on the host (OWASP Session Management cheat sheet, narrowest Path).",
		Fix:       "set cookie.refresh_path to the refresh endpoint, the gateway's /sessiond/refresh by default",
		Check: func(in Input) []Issue {
			if !in.tokens() {
				return nil
			}
			if p := in.Config.Cookie.RefreshPath; p == "/" || p == "" {
				return []Issue{issue("cookie.refresh_path", "cookie.refresh_path %q sends the refresh token with every request", p)}
			}
			return nil
		},
	},
	{
		ID: "SD-COOKIE-011", Severity: SeverityError,
		Title:     "cookie.max_age longer than any session",
		Rationale: "Cookie expiry may track the session but never enforces it (NIST SP 800-63B-4 §5.1); a Max-Age longer than the longest session (the refresh lifetime, which bounds persistent sessions) keeps a dead token on disk and invites the belief that the cookie is the limit.",
		Fix:       "leave cookie.max_age empty (the cookie then follows the session's lifetime) or set it no longer than the refresh lifetime",
		Check: func(in Input) []Issue {
			if ma := in.Config.Cookie.MaxAge.Std(); ma > 0 && ma > in.Life.Refresh {
				return []Issue{issue("cookie.max_age", "cookie.max_age %s exceeds the longest session lifetime (refresh %s)", human(ma), human(in.Life.Refresh))}
			}
			return nil
		},
	},
	{
		ID: "SD-COOKIE-012", Severity: SeverityError,
		Title:     "cookie.max_age over 400 days",
		Rationale: "Browsers cap cookie lifetimes at 400 days (RFC 6265bis §5.5, §5.6.2); a longer Max-Age is silently shortened, so the configured value is not what happens.",
		Fix:       "set cookie.max_age to at most 400d (34560000 s), and no longer than the refresh lifetime",
		Check: func(in Input) []Issue {
			if ma := in.Config.Cookie.MaxAge.Std(); ma > maxCookieAge {
				return []Issue{issue("cookie.max_age", "cookie.max_age %s exceeds the 400-day browser limit (34560000 s)", human(ma))}
			}
			return nil
		},
	},
	{
		ID: "SD-COOKIE-013", Severity: SeverityError,
		Title:     "cookie names must be valid and distinct",
		Rationale: "An empty name or one with characters outside the RFC 9110 token set (RFC 6265 §4.1.1) is rejected or mangled by browsers, a name over 256 bytes leaves the token too little of the 4096 bytes browsers allow a cookie (RFC 6265bis §5.6), and a refresh cookie with the session cookie's name overwrites it.",
		Fix:       "use distinct names of at most 256 bytes made of letters, digits and - _ . (e.g. __Host-sessiond and __Secure-sessiond-refresh)",
		Check: func(in Input) []Issue {
			c := in.Config.Cookie
			var out []Issue
			names := [][2]string{{"cookie.name", c.Name}}
			if in.tokens() {
				names = append(names, [2]string{"cookie.refresh_name", c.RefreshName})
			}
			for _, n := range names {
				switch {
				case len(n[1]) > maxCookieNameBytes:
					out = append(out, issue(n[0], "%s is %d bytes long; at most %d are allowed", n[0], len(n[1]), maxCookieNameBytes))
				case !validToken(n[1]):
					out = append(out, issue(n[0], "%s %q is not a valid cookie name", n[0], n[1]))
				}
			}
			if in.tokens() && c.Name != "" && strings.EqualFold(c.Name, c.RefreshName) {
				out = append(out, issue("cookie.refresh_name", "cookie.refresh_name is the same as cookie.name"))
			}
			return out
		},
	},

	// Lifetimes.
	{
		ID: "SD-LIFE-001", Severity: SeverityWarning,
		Title:     "access-token lifetime outside 15m–1h",
		Rationale: "An access token cannot be revoked in the jwt strategy and is revoked only on nodes that heard about it in hybrid, so its lifetime is the window a stolen token stays useful; 15 minutes to an hour balances that against refresh traffic (OWASP JWT cheat sheet; RFC 9700 §4.14). The internal preset deliberately uses 8h, so there it is only informational.",
		Fix:       "set lifetimes.access between 15m and 1h, or pick the preset that matches the deployment",
		Check: func(in Input) []Issue {
			a := in.Life.Access
			if !in.tokens() || a >= 15*time.Minute && a <= time.Hour {
				return nil
			}
			is := issue("lifetimes.access", "access-token lifetime %s is outside the recommended 15m–1h", human(a))
			if in.Config.Preset == sessiond.PresetInternal {
				is.Severity = SeverityInfo
			}
			return []Issue{is}
		},
	},
	{
		ID: "SD-LIFE-002", Severity: SeverityError,
		Title:     "access-token lifetime over 24h",
		Rationale: "A bearer token valid for more than a day outlives any reasonable reaction to theft; NIST SP 800-63B-4 §2.2.3 puts even the whole AAL2 session at 24 hours. Only the internal preset may go there.",
		Fix:       "shorten lifetimes.access (15m–1h) and rely on refresh for long sessions",
		Check: func(in Input) []Issue {
			if in.tokens() && in.Life.Access > day && in.Config.Preset != sessiond.PresetInternal {
				return []Issue{issue("lifetimes.access", "access-token lifetime %s exceeds 24h", human(in.Life.Access))}
			}
			return nil
		},
	},
	{
		ID: "SD-LIFE-003", Severity: SeverityError,
		Title:     "refresh lifetime over 90 days",
		Rationale: "The refresh lifetime bounds every session, persistent ones included. NIST SP 800-63B-4 §2.1.3 asks for an overall timeout of at most 30 days even at AAL1; 90 days is sessiond's hard ceiling (ASVS 10.4.8: refresh tokens need an absolute expiry).",
		Fix:       "set lifetimes.refresh to 90d or less (the b2c preset uses 30d)",
		Check: func(in Input) []Issue {
			if in.Life.Refresh > 90*day {
				return []Issue{issue("lifetimes.refresh", "refresh lifetime %s exceeds 90 days", human(in.Life.Refresh))}
			}
			return nil
		},
	},
	{
		ID: "SD-LIFE-004", Severity: SeverityError,
		Title:     "refresh lifetime not longer than access lifetime",
		Rationale: "Every access token is capped at the session's end, which is at most the refresh lifetime; with refresh ≤ access the refresh token is useless and the configured access lifetime is never reached.",
		Fix:       "make lifetimes.refresh longer than lifetimes.access",
		Check: func(in Input) []Issue {
			if in.tokens() && in.Life.Refresh <= in.Life.Access {
				return []Issue{issue("lifetimes.refresh", "refresh lifetime %s is not longer than the access lifetime %s", human(in.Life.Refresh), human(in.Life.Access))}
			}
			return nil
		},
	},
	{
		ID: "SD-LIFE-005", Severity: SeverityInfo,
		Title:     "idle timeout not longer than the access-token lifetime",
		Rationale: "In the jwt and hybrid strategies verify is stateless, so activity is only seen at refresh. sessiond therefore starts the idle window when the last access token expires (docs/lifecycle.md): a session really ends after between idle and access+idle of inactivity. With idle ≤ access the access lifetime, not the idle setting, dominates how long an unattended session survives. It still ends, and the preset defaults (b2c: 1h access, 30m idle) are built this way, which is why this is information, not a warning.",
		Fix:       "make lifetimes.idle longer than the access lifetime, or shorten lifetimes.access (e.g. access 15m with idle 30m)",
		Check: func(in Input) []Issue {
			if !in.tokens() || in.Life.Idle == 0 || in.Life.Idle > in.Life.Access {
				return nil
			}
			// The absolute timeout caps every session (docs/lifecycle.md).
			survives := in.Life.Access + in.Life.Idle
			if in.Life.Absolute > 0 && survives > in.Life.Absolute {
				survives = in.Life.Absolute
			}
			return []Issue{issue("lifetimes.idle", "idle timeout %s is not longer than the access lifetime %s: an unattended session survives up to %s",
				human(in.Life.Idle), human(in.Life.Access), human(survives))}
		},
	},
	{
		ID: "SD-LIFE-006", Severity: SeverityInfo,
		Title:     "idle or absolute timeout differs from the 30m / 8h defaults",
		Rationale: "ASVS 7.1.1 asks that idle and absolute timeouts be documented with the reason for any deviation; 30 minutes idle and 8 hours absolute are sessiond's defaults for non-persistent sessions, within NIST SP 800-63B-4 AAL2 (≤1h idle, ≤24h overall).",
		Fix:       "nothing to fix if the values are intended; record why in your security documentation",
		Check: func(in Input) []Issue {
			var out []Issue
			if in.Life.Idle != sessiond.DefaultIdle {
				is := issue("lifetimes.idle", "idle timeout %s differs from the default 30m", human(in.Life.Idle))
				// NIST SP 800-63B-4 (AAL2) allows at most 1h of inactivity;
				// OWASP's session cheat sheet suggests 15–30 minutes.
				if in.Life.Idle > time.Hour && in.Config.Preset != sessiond.PresetB2B {
					is.Severity = SeverityWarning
					is.Message = fmt.Sprintf("idle timeout %s is longer than the 1h of inactivity NIST SP 800-63B-4 allows at AAL2 (OWASP suggests 15–30m)", human(in.Life.Idle))
				}
				out = append(out, is)
			}
			if in.Life.Absolute != sessiond.DefaultAbsolute {
				out = append(out, issue("lifetimes.absolute", "absolute timeout %s differs from the default 8h", human(in.Life.Absolute)))
			}
			return out
		},
	},
	{
		ID: "SD-LIFE-007", Severity: SeverityWarning,
		Title:     "b2b sessions longer than 30m idle / 8h absolute",
		Rationale: "The b2b preset is for business users with access to shared data: one working day absolute and half an hour idle are the expected ceilings (OWASP Session Management cheat sheet: 15–30 minutes idle for high-value applications).",
		Fix:       "keep lifetimes.idle ≤ 30m and lifetimes.absolute ≤ 8h with preset b2b, or choose another preset",
		Check: func(in Input) []Issue {
			if in.Config.Preset != sessiond.PresetB2B {
				return nil
			}
			var out []Issue
			if in.Life.Idle > sessiond.DefaultIdle {
				out = append(out, issue("lifetimes.idle", "idle timeout %s exceeds 30m for preset b2b", human(in.Life.Idle)))
			}
			if in.Life.Absolute > sessiond.DefaultAbsolute {
				out = append(out, issue("lifetimes.absolute", "absolute timeout %s exceeds 8h for preset b2b", human(in.Life.Absolute)))
			}
			return out
		},
	},
	{
		ID: "SD-LIFE-008", Severity: SeverityWarning,
		Title:     "absolute timeout over 12h",
		Rationale: "NIST SP 800-63B-4 §2.3.3 caps AAL3 sessions at 12 hours (SHALL) and suggests 24 hours for AAL2 (§2.2.3); beyond 12 hours a session outlives a working day and a device left unattended.",
		Fix:       "set lifetimes.absolute to 12h or less; use persistent (remember-me) sessions for long-lived logins",
		Check: func(in Input) []Issue {
			if in.Life.Absolute > 12*time.Hour {
				return []Issue{issue("lifetimes.absolute", "absolute timeout %s exceeds 12h (the NIST AAL3 ceiling; AAL2 suggests 24h)", human(in.Life.Absolute))}
			}
			return nil
		},
	},
	{
		ID: "SD-LIFE-009", Severity: SeverityError,
		Title:     "idle timeout longer than absolute timeout",
		Rationale: "The absolute timeout always ends the session first, so the idle setting is dead configuration and likely a mistake (ASVS 7.3.1, 7.3.2).",
		Fix:       "make lifetimes.idle shorter than lifetimes.absolute",
		Check: func(in Input) []Issue {
			if in.Life.Idle > in.Life.Absolute {
				return []Issue{issue("lifetimes.idle", "idle timeout %s is longer than the absolute timeout %s", human(in.Life.Idle), human(in.Life.Absolute))}
			}
			return nil
		},
	},
	{
		ID: "SD-LIFE-010", Severity: SeverityError,
		Title:     "touch interval not smaller than the idle timeout",
		Rationale: "In the database strategy activity is written back at most every touch_interval, so a busy client sees an idle timeout between idle − touch_interval and idle (docs/lifecycle.md); with touch_interval ≥ idle an active session can time out.",
		Fix:       "keep lifetimes.touch_interval well below lifetimes.idle (default 1m)",
		Check: func(in Input) []Issue {
			t := in.Config.Lifetime.TouchInterval.Std()
			if in.Config.Strategy == sessiond.StrategyDatabase && in.Life.Idle > 0 && t >= in.Life.Idle {
				return []Issue{issue("lifetimes.touch_interval", "touch interval %s is not smaller than the idle timeout %s", human(t), human(in.Life.Idle))}
			}
			return nil
		},
	},
	{
		ID: "SD-LIFE-011", Severity: SeverityError,
		Title:     "refresh reuse interval over 30s",
		Rationale: "Within reuse_interval a retired refresh token still works, to let two tabs refresh at once. RFC 9700 §4.14.2 defines no grace window at all; a long one lets a thief replay a stolen token without tripping reuse detection.",
		Fix:       "set lifetimes.reuse_interval to a few seconds (default 5s), at most 30s",
		Check: func(in Input) []Issue {
			r := in.Config.Lifetime.ReuseInterval.Std()
			if in.Config.Strategy == sessiond.StrategyHybrid && r > 30*time.Second {
				return []Issue{issue("lifetimes.reuse_interval", "reuse interval %s exceeds 30s", human(r))}
			}
			return nil
		},
	},
	{
		ID: "SD-LIFE-012", Severity: SeverityWarning,
		Title:     "refresh reuse interval over 10s",
		Rationale: "Concurrent refreshes from one browser land within a second or two; a grace window over 10 seconds mostly widens the replay window (RFC 9700 §4.14.2).",
		Fix:       "set lifetimes.reuse_interval to 10s or less (default 5s)",
		Check: func(in Input) []Issue {
			r := in.Config.Lifetime.ReuseInterval.Std()
			if in.Config.Strategy == sessiond.StrategyHybrid && r > 10*time.Second && r <= 30*time.Second {
				return []Issue{issue("lifetimes.reuse_interval", "reuse interval %s exceeds 10s", human(r))}
			}
			return nil
		},
	},
	{
		ID: "SD-LIFE-013", Severity: SeverityError,
		Title:     "idle or absolute timeout missing",
		Rationale: "Every session needs a server-side inactivity timeout and an absolute timeout (ASVS 7.3.1, 7.3.2; NIST SP 800-63B-4 §5.2); zero disables nothing in sessiond, it refuses to start.",
		Fix:       "set lifetimes.idle and lifetimes.absolute to positive durations (defaults 30m and 8h)",
		Check: func(in Input) []Issue {
			var out []Issue
			if in.Life.Idle <= 0 {
				out = append(out, issue("lifetimes.idle", "idle timeout is zero"))
			}
			if in.Life.Absolute <= 0 {
				out = append(out, issue("lifetimes.absolute", "absolute timeout is zero"))
			}
			return out
		},
	},

	{
		ID: "SD-LIFE-014", Severity: SeverityError,
		Title:     "access-token lifetime over 100 years",
		Rationale: "sessiond refuses to start with an access lifetime over 100 years (sessiond.MaxLifetime), in every strategy and preset: it is added to other durations, and near the 292 years a duration holds the sum overflows and a revoked token would verify again (docs/lifecycle.md). The refresh lifetime is held to 90 days by SD-LIFE-003.",
		Fix:       "set lifetimes.access to a realistic value (15m–1h; the internal preset uses 8h), or remove it to take the preset's",
		Check: func(in Input) []Issue {
			if a := in.Life.Access; a > sessiond.MaxLifetime {
				return []Issue{issue("lifetimes.access", "access-token lifetime %s exceeds 100 years (%s); sessiond serve refuses it", human(a), human(sessiond.MaxLifetime))}
			}
			return nil
		},
	},
	{
		ID: "SD-LIFE-015", Severity: SeverityWarning,
		Title:     "refresh reuse interval within the clock skew between nodes",
		Rationale: "The reuse interval is judged by the clock of the node that serves a retired token's second use, against the time another node's clock stamped on it: a concurrent retry served by a node whose clock runs ahead of the retiring node's by more than the interval is taken for theft and ends the session, and one behind lengthens the interval by its lag. Nodes sharing a PostgreSQL or Redis store must keep their clocks closer than the interval; docs/operations.md alerts at a 1s offset from true time, so two nodes may be 2s apart before anyone is paged.",
		Fix:       "set lifetimes.reuse_interval above twice the largest clock offset a node may reach (over 2s; default 5s), or to 0s for no grace at all (every second use is reuse, whatever the clocks)",
		Check: func(in Input) []Issue {
			c := in.Config
			r := c.Lifetime.ReuseInterval.Std()
			shared := c.Store.Driver == "postgres" || c.Store.Driver == "redis"
			if c.Strategy == sessiond.StrategyHybrid && c.Refresh.Rotation && c.Refresh.ReuseDetection && shared &&
				r > 0 && r <= 2*time.Second {
				return []Issue{issue("lifetimes.reuse_interval", "reuse interval %s: a retry served by a node whose clock runs more than %s ahead of the retiring node's is taken for theft and ends the session", human(r), human(r))}
			}
			return nil
		},
	},

	// Strategy and refresh tokens.
	{
		ID: "SD-STRAT-001", Severity: SeverityWarning,
		Title:     "the jwt strategy cannot revoke a single session",
		Rationale: "With strategy jwt nothing is stored: logout, an admin kill or a detected theft cannot end one session before its tokens expire; only rotating the signing key ends them, for everyone (ASVS 7.4.1; docs/lifecycle.md).",
		Fix:       "use strategy hybrid (short JWT access tokens plus stored, revocable refresh tokens) unless you accept this",
		Check: func(in Input) []Issue {
			if in.Config.Strategy == sessiond.StrategyJWT {
				return []Issue{issue("strategy", "strategy jwt: a single session cannot be revoked before its tokens expire")}
			}
			return nil
		},
	},
	{
		ID: "SD-REFRESH-001", Severity: SeverityWarning,
		Title:     "refresh rotation and reuse detection must stay on",
		Rationale: "Rotation issues a new refresh token on every use, and reuse detection revokes the whole session when a retired one comes back: together they turn refresh-token theft into a detected, contained event (RFC 9700 §4.14.2; ASVS 10.4.5). Error with preset b2b, warning otherwise.",
		Fix:       "set refresh.rotation: true and refresh.reuse_detection: true",
		Check: func(in Input) []Issue {
			if in.Config.Strategy != sessiond.StrategyHybrid {
				return nil
			}
			sev := SeverityWarning
			if in.Config.Preset == sessiond.PresetB2B {
				sev = SeverityError
			}
			var out []Issue
			if !in.Config.Refresh.Rotation {
				out = append(out, Issue{Path: "refresh.rotation", Severity: sev, Message: "refresh.rotation is off: a stolen refresh token stays valid until it expires"})
			}
			if !in.Config.Refresh.ReuseDetection {
				out = append(out, Issue{Path: "refresh.reuse_detection", Severity: sev, Message: "refresh.reuse_detection is off: replay of a retired refresh token goes unnoticed"})
			}
			return out
		},
	},
	{
		ID: "SD-REFRESH-002", Severity: SeverityWarning,
		Title:     "refresh.cache_size changed where nothing reads it",
		Rationale: "The grant cache serves hybrid refreshes that rotate their token; in another strategy, or with rotation off, the key does nothing, which an operator sizing memory or tuning refreshes should know.",
		Fix:       "remove refresh.cache_size, or use strategy hybrid with refresh.rotation: true",
		Check: func(in Input) []Issue {
			c := in.Config
			if n := c.Refresh.CacheSize; n <= 0 || n == Default().Refresh.CacheSize {
				return nil
			}
			switch {
			case c.Strategy != sessiond.StrategyHybrid:
				return []Issue{issue("refresh.cache_size", "refresh.cache_size is %d but strategy is %s; only hybrid refreshes read it", c.Refresh.CacheSize, c.Strategy)}
			case !c.Refresh.Rotation:
				return []Issue{issue("refresh.cache_size", "refresh.cache_size is %d but refresh.rotation is off; the cache serves rotated refresh tokens only", c.Refresh.CacheSize)}
			}
			return nil
		},
	},

	// JWT.
	{
		ID: "SD-JWT-001", Severity: SeverityWarning,
		Title:     "HS256 is a shared-secret algorithm",
		Rationale: "With HS256 every party that can verify a token can also mint one, and the secret must be distributed and kept; asymmetric algorithms are recommended (RFC 9068 §2.1; RFC 8725 §3.5). It is supported as an explicit opt-in.",
		Fix:       "use jwt.algorithm: EdDSA (default) or ES256 unless a verifier can only do HS256",
		Check: func(in Input) []Issue {
			if in.tokens() && in.Config.JWT.Algorithm == "HS256" {
				return []Issue{issue("jwt.algorithm", "jwt.algorithm HS256: anyone who can verify tokens can also forge them")}
			}
			return nil
		},
	},
	{
		ID: "SD-JWT-002", Severity: SeverityWarning,
		Title:     "HS256 without hs256_secret_file",
		Rationale: "An HS256 key must be at least 256 bits from a CSPRNG (RFC 8725 §3.5). The validator can only check a key it can read: it does not read secrets from the environment, so a key given only as SESSIOND_JWT_HS256_SECRET cannot be checked here (sessiond serve still refuses to start without one, and holds it to SD-JWT-003 itself).",
		Fix:       "put the key (32 or more random bytes, e.g. `openssl rand -base64 48`) in a file readable only by sessiond and set jwt.hs256_secret_file",
		Check: func(in Input) []Issue {
			j := in.Config.JWT
			if in.tokens() && j.Algorithm == "HS256" && j.HS256SecretFile == "" {
				return []Issue{issue("jwt.hs256_secret_file", "jwt.algorithm is HS256 but jwt.hs256_secret_file is not set; the validator cannot read SESSIOND_JWT_HS256_SECRET, so the key's strength cannot be checked")}
			}
			return nil
		},
	},
	{
		ID: "SD-JWT-003", Severity: SeverityError,
		Title:     "HS256 secret shorter than 32 bytes or not random",
		Rationale: "HMAC keys must be at least as long as the hash output, 256 bits for HS256 (RFC 8725 §3.5; OWASP JWT cheat sheet); a short or password-like key falls to offline guessing from one captured token.",
		Fix:       "generate a new key of 32 or more random bytes into a new file, then move it over the old one (`(umask 077; openssl rand -base64 48 > hs256.key.new) && mv hs256.key.new hs256.key`: a file written over keeps its mode, a new one is 0600)",
		Check: func(in Input) []Issue {
			j := in.Config.JWT
			if !in.tokens() || j.Algorithm != "HS256" || j.HS256SecretFile == "" {
				return nil
			}
			b, ok := readSecret(j.HS256SecretFile)
			if !ok {
				return nil
			}
			if p := HS256SecretProblem(b); p != "" {
				return []Issue{issue("jwt.hs256_secret_file", "the HS256 secret in %s %s", j.HS256SecretFile, p)}
			}
			return nil
		},
	},
	{
		ID: "SD-JWT-004", Severity: SeverityWarning,
		Title:     "signing-key rotation interval unset or unusual",
		Rationale: "Rotating the signing key bounds the damage of an undetected key leak and is the only way to end jwt-strategy sessions early; rotating more than hourly churns the key set clients cache, and beyond 90 days a leaked key stays useful for a long time.",
		Fix:       "set jwt.key_rotation_interval between 1h and 2160h (default 720h, 30 days)",
		Check: func(in Input) []Issue {
			if !in.signs() {
				return nil
			}
			k := in.Config.JWT.KeyRotationInterval.Std()
			switch {
			case k == 0:
				return []Issue{issue("jwt.key_rotation_interval", "jwt.key_rotation_interval is zero: signing keys are never rotated")}
			case k < time.Hour:
				return []Issue{issue("jwt.key_rotation_interval", "jwt.key_rotation_interval %s is shorter than 1h: keys rotate too often", human(k))}
			case k > 90*day:
				return []Issue{issue("jwt.key_rotation_interval", "jwt.key_rotation_interval %s is longer than 90 days", human(k))}
			}
			return nil
		},
	},
	{
		ID: "SD-JWT-005", Severity: SeverityError,
		Title:     "JWT algorithm not in the allowlist",
		Rationale: "Only allowlisted algorithms are accepted, never none (RFC 8725 §3.1–3.2; ASVS 9.1.2); sessiond signs with EdDSA, ES256 or HS256 and nothing else.",
		Fix:       "set jwt.algorithm to EdDSA, ES256 or HS256 (spelled exactly so)",
		Check: func(in Input) []Issue {
			if !in.signs() {
				return nil
			}
			switch a := in.Config.JWT.Algorithm; a {
			case "EdDSA", "ES256", "HS256":
				return nil
			default:
				return []Issue{issue("jwt.algorithm", "jwt.algorithm %q is not EdDSA, ES256 or HS256", a)}
			}
		},
	},
	{
		ID: "SD-JWT-006", Severity: SeverityError,
		Title:     "JWT leeway over 60s",
		Rationale: "exp and nbf are enforced with only a small leeway for clock skew (ASVS 9.2.1); a larger leeway silently extends every token and every revocation window.",
		Fix:       "set jwt.leeway to a few seconds (default 5s), at most 60s; fix clock skew with NTP instead",
		Check: func(in Input) []Issue {
			if l := in.Config.JWT.Leeway.Std(); in.signs() && l > time.Minute {
				return []Issue{issue("jwt.leeway", "jwt.leeway %s exceeds 60s", human(l))}
			}
			return nil
		},
	},
	{
		ID: "SD-JWT-007", Severity: SeverityError,
		Title:     "JWT issuer or audience written but blank",
		Rationale: "Verifiers check iss and aud exactly (RFC 8725 §3.8–3.9; RFC 9068 §2.2; ASVS 9.2.3); a blank value written in the file is almost always a mistake. Left out, each defaults to a value unique to the deployment.",
		Fix:       "remove jwt.issuer and jwt.audience to get values unique to this deployment, or set them to names unique to it (e.g. https://auth.example.com)",
		Check: func(in Input) []Issue {
			if !in.tokens() {
				return nil
			}
			var out []Issue
			for _, f := range []struct{ path, v string }{{"jwt.issuer", in.Config.JWT.Issuer}, {"jwt.audience", in.Config.JWT.Audience}} {
				if strings.TrimSpace(f.v) == "" && (f.v != "" || in.Doc.Has(f.path)) {
					out = append(out, issue(f.path, "%s is empty", f.path))
				}
			}
			return out
		},
	},
	{
		ID: "SD-JWT-008", Severity: SeverityWarning,
		Title:     "JWT issuer or audience is the shared name sessiond",
		Rationale: "\"sessiond\" was the default issuer and audience of every deployment: two deployments that share a key (an HS256 secret, a verifier trusting both JWKS) then accept each other's tokens (RFC 8725 §3.8–3.9).",
		Fix:       "remove jwt.issuer and jwt.audience to get values unique to this deployment, or set names unique to it",
		Check: func(in Input) []Issue {
			if !in.tokens() {
				return nil
			}
			var out []Issue
			for _, f := range []struct{ path, v string }{{"jwt.issuer", in.Config.JWT.Issuer}, {"jwt.audience", in.Config.JWT.Audience}} {
				if strings.EqualFold(strings.TrimSpace(f.v), "sessiond") {
					out = append(out, issue(f.path, "%s is \"sessiond\", which other deployments use too", f.path))
				}
			}
			return out
		},
	},
	{
		ID: "SD-JWT-009", Severity: SeverityInfo,
		Title:     "signing keys stored in clear unless a KEK is given",
		Rationale: "The signing key ring lives in the store; without a key-encryption key it is stored in clear, so anyone who can read the database, a replica or a backup can mint access tokens for any user (NIST SP 800-57 Part 1 §6: keys protected at rest, apart from what they protect). The validator does not read SESSIOND_KEK, so a KEK given only there cannot be seen here (sessiond serve logs a warning when it has none).",
		Fix:       "create a KEK (`(umask 077; openssl rand -base64 32 > /etc/sessiond/kek)`: mode 0600 from the start) and set signing.kek_file, or give it as SESSIOND_KEK",
		Check: func(in Input) []Issue {
			if in.production() && (in.tokens() || in.Config.SSF.Transmitter.Enabled) && in.Config.Signing.KEKFile == "" {
				return []Issue{issue("signing.kek_file", "signing.kek_file is not set: unless SESSIOND_KEK is, the signing keys are stored in clear in the store")}
			}
			return nil
		},
	},
	{
		ID: "SD-JWT-010", Severity: SeverityWarning,
		Title:     "new signing keys sign before verifiers can know them",
		Rationale: "A new key (scheduled rotation, keys rotate) is published for jwt.key_publish_period before it signs, so that verifiers holding the JWKS (cached up to five minutes, max-age=300) and the other nodes (polling every 2 s) know it first; shorter, the tokens it signs are refused by them until their cache expires.",
		Fix:       "leave jwt.key_publish_period at its default (10m, or 0s for the default), or set it above 5m02s",
		Check: func(in Input) []Issue {
			p := in.Config.JWT.KeyPublishPeriod.Std()
			if (in.tokens() || in.Config.SSF.Transmitter.Enabled) && p != 0 && p < minKeyPublishPeriod {
				return []Issue{issue("jwt.key_publish_period", "jwt.key_publish_period %s is shorter than the JWKS cache (5m) plus the nodes' poll (2s)", p)}
			}
			return nil
		},
	},

	{
		ID: "SD-JWT-011", Severity: SeverityWarning,
		Title:     "new signing keys wait over a day, or over the rotation interval, to sign",
		Rationale: "A new key signs only once jwt.key_publish_period has passed, and while one waits no other rotation is scheduled, `sessiond keys rotate` included: a longer period silently stretches every rotation by that much, and one over the rotation interval makes the interval meaningless. Verifiers need the period to cover the JWKS cache (5m) and the nodes' poll, nothing more.",
		Fix:       "set jwt.key_publish_period to 10m (the default), or at most 24h and below jwt.key_rotation_interval",
		Check: func(in Input) []Issue {
			if !in.signs() {
				return nil
			}
			p, k := in.Config.JWT.KeyPublishPeriod.Std(), in.Config.JWT.KeyRotationInterval.Std()
			switch {
			case p > day:
				return []Issue{issue("jwt.key_publish_period", "jwt.key_publish_period %s is over 24h: rotations, `sessiond keys rotate` included, take effect that late", human(p))}
			case k > 0 && p > k:
				return []Issue{issue("jwt.key_publish_period", "jwt.key_publish_period %s is longer than jwt.key_rotation_interval %s: each new key waits longer to sign than the interval it should rotate at", human(p), human(k))}
			}
			return nil
		},
	},

	{
		ID: "SD-JWT-012", Severity: SeverityWarning,
		Title:     "signing KEK not random",
		Rationale: "The KEK is all that keeps the signing keys sealed in the store, and it is used as the AES-256 key as it is, without a key derivation: a KEK typed by hand (the base64 of a phrase or a pattern) falls to offline guessing from a copy of the store (a backup, a replica), and its finder can mint tokens for any user (NIST SP 800-57 Part 1 §6; RFC 8725 §3.5 for keys from a CSPRNG). A warning: changing it is a KEK rotation (docs/operations.md).",
		Fix:       "rotate to a new KEK (`openssl rand -base64 32`, mode 0600): put it in signing.kek_file and the old one in signing.old_kek_files until every node runs with it",
		Check: func(in Input) []Issue {
			var out []Issue
			check := func(path, file string) {
				if key, ok := kekKey(file); ok && guessable(key) {
					out = append(out, issue(path, "the KEK in %s %s", file, notRandom))
				}
			}
			if f := in.Config.Signing.KEKFile; f != "" {
				check("signing.kek_file", f)
			}
			for i, f := range in.Config.Signing.OldKEKFiles {
				check(fmt.Sprintf("signing.old_kek_files.%d", i), f)
			}
			return out
		},
	},

	// Security operations.
	{
		ID: "SD-ANOMALY-001", Severity: SeverityError,
		Title:     "anomaly rule without a valid action",
		Rationale: "A detector that fires with no action (or an unknown one) does nothing: the signal of a stolen session is lost (OWASP Session Management cheat sheet, binding the session; NIST SP 800-63B-4 §5.3).",
		Fix:       "give every rule under anomaly.rules an action: log, alert, step_up or revoke",
		Check: func(in Input) []Issue {
			var out []Issue
			r := in.Config.Anomaly.Rules
			for _, x := range []struct {
				key    string
				action string
			}{
				{"ip_change", r.IPChange.Action},
				{"user_agent_change", r.UserAgentChange.Action},
				{"distinct_ips", r.DistinctIPs.Action},
				{"refresh_device_change", r.RefreshDeviceChange.Action},
			} {
				p := "anomaly.rules." + x.key + ".action"
				switch x.action {
				case "log", "alert", "step_up", "revoke":
				case "":
					out = append(out, issue(p, "anomaly rule %s has no action", x.key))
				default:
					out = append(out, issue(p, "anomaly rule %s has unknown action %q", x.key, x.action))
				}
			}
			return out
		},
	},
	{
		ID: "SD-ANOMALY-002", Severity: SeverityError,
		Title:     "anomaly detector parameters out of range",
		Rationale: "With an impossible prefix length or a threshold below 2, the IP detectors either never fire or fire on every session.",
		Fix:       "keep anomaly.ipv4_prefix in 1–32, anomaly.ipv6_prefix in 1–128, anomaly.distinct_ip_threshold in 2–64 and anomaly.distinct_ip_window positive",
		Check: func(in Input) []Issue {
			a := in.Config.Anomaly
			var out []Issue
			if a.IPv4Prefix < 1 || a.IPv4Prefix > 32 {
				out = append(out, issue("anomaly.ipv4_prefix", "anomaly.ipv4_prefix %d is not in 1–32", a.IPv4Prefix))
			}
			if a.IPv6Prefix < 1 || a.IPv6Prefix > 128 {
				out = append(out, issue("anomaly.ipv6_prefix", "anomaly.ipv6_prefix %d is not in 1–128", a.IPv6Prefix))
			}
			switch {
			case a.DistinctIPThreshold < 2:
				out = append(out, issue("anomaly.distinct_ip_threshold", "anomaly.distinct_ip_threshold %d is below 2", a.DistinctIPThreshold))
			case a.DistinctIPThreshold > MaxDistinctIPThreshold:
				out = append(out, issue("anomaly.distinct_ip_threshold", "anomaly.distinct_ip_threshold %d is over %d, the networks remembered per session", a.DistinctIPThreshold, MaxDistinctIPThreshold))
			}
			if a.DistinctIPWindow <= 0 {
				out = append(out, issue("anomaly.distinct_ip_window", "anomaly.distinct_ip_window is zero"))
			}
			return out
		},
	},
	{
		ID: "SD-WEBHOOK-001", Severity: SeverityError,
		Title:     "webhook over plain HTTP",
		Rationale: "Security events carry user and session identifiers; over http they can be read and forged in transit. Error in production, warning in development.",
		Fix:       "use an https:// webhook URL",
		Check: func(in Input) []Issue {
			var out []Issue
			for i, w := range in.Config.Webhooks {
				if u, err := url.Parse(w.URL); err == nil && strings.EqualFold(u.Scheme, "http") {
					is := issue(fmt.Sprintf("webhooks.%d.url", i), "webhook %s uses plain http", redactURL(u))
					if !in.production() {
						is.Severity = SeverityWarning
					}
					out = append(out, is)
				}
			}
			return out
		},
	},
	{
		ID: "SD-WEBHOOK-002", Severity: SeverityError,
		Title:     "webhook without a signing secret of 32 bytes",
		Rationale: "Without a signature the receiver cannot tell sessiond's events from forged ones, and a forged \"revoke\" or a suppressed alert is an attack in itself; the HMAC key needs at least 256 bits (RFC 8725 §3.5 applies to every HMAC key).",
		Fix:       "set secret_file on every webhook to a file holding a Standard Webhooks secret: whsec_ followed by the base64 of 32 to 64 random bytes (e.g. echo whsec_$(openssl rand -base64 32))",
		Check: func(in Input) []Issue {
			var out []Issue
			for i, w := range in.Config.Webhooks {
				p := fmt.Sprintf("webhooks.%d.secret_file", i)
				if w.SecretFile == "" {
					out = append(out, issue(p, "webhook %d has no secret_file", i))
					continue
				}
				key, valid, ok := webhookKey(w.SecretFile)
				switch {
				case !ok: // unreadable here; sessiond serve will say so
				case !valid:
					out = append(out, issue(p, "webhook %d: %s does not hold a whsec_ secret of %d to %d bytes", i, w.SecretFile, minHS256SecretBytes, webhook.MaxSecretBytes))
				case len(key) < minHS256SecretBytes:
					out = append(out, issue(p, "webhook %d key in %s is %d bytes; at least %d are required", i, w.SecretFile, len(key), minHS256SecretBytes))
				}
			}
			return out
		},
	},
	{
		ID: "SD-WEBHOOK-003", Severity: SeverityError,
		Title:     "webhook URL, name or retry count invalid",
		Rationale: "A webhook needs an absolute http(s) URL without embedded credentials (they would end up in logs), between 1 and 1000 delivery attempts, and a name no other webhook has: pending deliveries refer to the endpoint by name, so sessiond serve refuses duplicates, and names starting with ssf:, which the outbox gives Shared Signals streams. Retries are at most 10 minutes apart, so 1000 attempts are about a week; a pending delivery is never deleted, so with more a receiver that is gone for good keeps its deliveries pending (the outbox grows, none shows as dead) for years.",
		Fix:       "write the URL as https://host/path without user:password (sign with secret_file instead), keep max_attempts between 1 and 1000 and give each webhook its own name, not starting with ssf:",
		Check: func(in Input) []Issue {
			var out []Issue
			seen := map[string]int{}
			for i, w := range in.Config.Webhooks {
				// The same default name serve gives an unnamed webhook.
				name := w.Name
				if name == "" {
					if u, err := url.Parse(w.URL); err == nil {
						name = fmt.Sprintf("%d-%s", i, u.Host)
					}
				}
				if j, dup := seen[name]; dup && name != "" {
					out = append(out, issue(fmt.Sprintf("webhooks.%d.name", i), "webhook %d has the name %q of webhook %d; sessiond serve refuses duplicates", i, name, j))
				} else {
					seen[name] = i
				}
				if strings.HasPrefix(name, ssfEndpointPrefix) {
					out = append(out, issue(fmt.Sprintf("webhooks.%d.name", i), "webhook %d name %q starts with %q, which names Shared Signals streams' deliveries; sessiond serve refuses it", i, name, ssfEndpointPrefix))
				}
				p := fmt.Sprintf("webhooks.%d.url", i)
				u, err := url.Parse(w.URL)
				switch {
				case w.URL == "":
					out = append(out, issue(p, "webhook %d has no url", i))
				case err != nil || u.Host == "" || !strings.EqualFold(u.Scheme, "https") && !strings.EqualFold(u.Scheme, "http"):
					out = append(out, issue(p, "webhook %d url is not an absolute https URL", i))
				case u.User != nil:
					out = append(out, issue(p, "webhook %d url embeds credentials", i))
				}
				switch {
				case w.MaxAttempts < 1:
					out = append(out, issue(fmt.Sprintf("webhooks.%d.max_attempts", i), "webhook %d max_attempts %d is below 1", i, w.MaxAttempts))
				case w.MaxAttempts > webhook.MaxAttemptsLimit:
					out = append(out, issue(fmt.Sprintf("webhooks.%d.max_attempts", i), "webhook %d max_attempts %d is over %d: a delivery to a receiver that is gone would stay pending for years instead of ending dead", i, w.MaxAttempts, webhook.MaxAttemptsLimit))
				}
			}
			return out
		},
	},
	{
		ID: "SD-WEBHOOK-004", Severity: SeverityError,
		Title:     "webhook event type unknown",
		Rationale: "An endpoint receives only the event types it lists, matched exactly: a misspelt type (session.revokd) matches no event, so the receiver silently never gets what it was set up for.",
		Fix:       "write each type as sessiond names it (the message suggests the closest; `sessiond events --help` lists them all), or leave events empty to receive every event",
		Check: func(in Input) []Issue {
			var out []Issue
			known := sessiond.EventTypes()
			names := make([]string, len(known))
			for i, t := range known {
				names[i] = string(t)
			}
			for i, w := range in.Config.Webhooks {
				for j, t := range w.Events {
					if slices.Contains(names, t) {
						continue
					}
					p := fmt.Sprintf("webhooks.%d.events.%d", i, j)
					switch {
					case t == "":
						out = append(out, issue(p, "webhook %d lists an empty event type", i))
					case t == "*" || strings.EqualFold(t, "all"):
						// Not a pattern here: an empty list is what means all.
						out = append(out, issue(p, "webhook %d event type %q is not a wildcard: leave events empty to receive every event", i, t))
					default:
						if s := suggest(t, names); s != "" {
							out = append(out, issue(p, "webhook %d event type %q is unknown (did you mean %q?)", i, t, s))
						} else {
							out = append(out, issue(p, "webhook %d event type %q is unknown; known types: %s", i, t, strings.Join(names, ", ")))
						}
					}
				}
			}
			return out
		},
	},
	{
		ID: "SD-WEBHOOK-005", Severity: SeverityWarning,
		Title:     "two webhooks deliver the same events to one URL",
		Rationale: "Each webhook is its own endpoint in the outbox (an unnamed one is named after its position), so two at the same URL whose event types overlap send each such event there twice, under two webhook-ids the receiver cannot tell for the same event.",
		Fix:       "keep one webhook per URL (list every type it needs in its events), or give the two disjoint events",
		Check: func(in Input) []Issue {
			var out []Issue
			hooks := in.Config.Webhooks
			for i, w := range hooks {
				for j := range i {
					if !sameWebhookURL(w.URL, hooks[j].URL) {
						continue
					}
					if shared, ok := sharedEvents(w.Events, hooks[j].Events); ok {
						out = append(out, issue(fmt.Sprintf("webhooks.%d.url", i), "webhook %d sends to the url of webhook %d, and %s: the receiver gets each such event twice", i, j, shared))
						break
					}
				}
			}
			return out
		},
	},
	{
		ID: "SD-WEBHOOK-006", Severity: SeverityError,
		Title:     "webhook signing key not random",
		Rationale: "The receiver trusts an event because its HMAC verifies, so the key is all that stands between it and forged events (a forged session.revoked, a suppressed alert); a key typed by hand (a word, a phrase, a pattern repeated to length) falls to offline guessing from one captured delivery. HMAC keys come from a CSPRNG (RFC 8725 §3.5); the HS256 key is held to the same measure (SD-JWT-003).",
		Fix:       "generate a new key into a new file and move it over the old one (`(umask 077; echo whsec_$(openssl rand -base64 32) > hook.secret.new) && mv hook.secret.new hook.secret`: a file written over keeps its mode, a new one is 0600), and give it to the receiver",
		Check: func(in Input) []Issue {
			var out []Issue
			for i, w := range in.Config.Webhooks {
				// A key SD-WEBHOOK-002 refuses is reported there alone.
				if key, valid, ok := webhookKey(w.SecretFile); ok && valid && len(key) >= minHS256SecretBytes && guessable(key) {
					out = append(out, issue(fmt.Sprintf("webhooks.%d.secret_file", i), "webhook %d key in %s %s", i, w.SecretFile, notRandom))
				}
			}
			return out
		},
	},
	{
		ID: "SD-WEBHOOK-007", Severity: SeverityError,
		Title:     "webhook max_pending_age out of range",
		Rationale: "While an endpoint cools down its deliveries go back to the outbox unsent, which is no attempt, so max_attempts never ends them: max_pending_age is what makes a receiver gone for good (decommissioned, its DNS name gone, always 503) end its deliveries dead, where operators see them, instead of pending and re-read forever. Under an hour would end deliveries over an ordinary outage or deployment; over 90 days keeps a gone receiver's backlog (and every event's personal data in it) for months.",
		Fix:       "set webhooks[].max_pending_age between 1h and 2160h (90 days), or leave it unset for 168h (7 days, longer than any attempt schedule max_attempts allows)",
		Check: func(in Input) []Issue {
			var out []Issue
			for i, w := range in.Config.Webhooks {
				// 0 (unset in a struct built in Go) is the default.
				if a := w.MaxPendingAge; a != 0 && (a < Duration(MinWebhookMaxPendingAge) || a > Duration(MaxWebhookMaxPendingAge)) {
					out = append(out, issue(fmt.Sprintf("webhooks.%d.max_pending_age", i), "webhook %d max_pending_age %s is not between %s and %s", i, human(a.Std()), human(MinWebhookMaxPendingAge), human(MaxWebhookMaxPendingAge)))
				}
			}
			return out
		},
	},
	{
		ID: "SD-LIMITS-001", Severity: SeverityInfo,
		Title:     "no concurrent-session limit with preset b2b",
		Rationale: "ASVS 7.1.2 asks for a documented per-account session limit and what happens at it; for business accounts a limit also makes shared logins visible.",
		Fix:       "set limits.max_sessions (e.g. 5) and limits.policy",
		Check: func(in Input) []Issue {
			if in.Config.Preset == sessiond.PresetB2B && in.Config.Limits.MaxSessions == 0 {
				return []Issue{issue("limits.max_sessions", "limits.max_sessions is 0 (unlimited) with preset b2b")}
			}
			return nil
		},
	},
	{
		ID: "SD-LIMITS-002", Severity: SeverityError,
		Title:     "unknown session-limit policy",
		Rationale: "What happens at the limit must be defined (ASVS 7.1.2): evict the oldest session, reject the new login, or keep a single session.",
		Fix:       "set limits.policy to evict_oldest, reject or single, and limits.max_sessions to 0 or more",
		Check: func(in Input) []Issue {
			l := in.Config.Limits
			var out []Issue
			switch l.Policy {
			case "evict_oldest", "reject", "single":
			default:
				out = append(out, issue("limits.policy", "limits.policy %q is not evict_oldest, reject or single", l.Policy))
			}
			if l.MaxSessions < 0 {
				out = append(out, issue("limits.max_sessions", "limits.max_sessions %d is negative", l.MaxSessions))
			}
			return out
		},
	},
	{
		ID: "SD-RATE-001", Severity: SeverityError,
		Title:     "malformed rate limit",
		Rationale: "A limit must say how many requests per how long and how many at once (OWASP API4:2023, unrestricted resource consumption); a negative or zero period cannot be enforced, and one near the 292 years a duration holds overflows the wait a refused client is told (it read 1 s).",
		Fix:       "give each rate_limit.* rule requests ≥ 0 (0 turns it off), a positive per duration of at most 100 years and a burst ≥ 1",
		Check: func(in Input) []Issue {
			var out []Issue
			for name, r := range map[string]RateRule{"auth_failures": in.Config.RateLimit.AuthFailures,
				"per_api_key": in.Config.RateLimit.PerAPIKey, "per_client_ip": in.Config.RateLimit.PerClientIP} {
				p := "rate_limit." + name
				switch {
				case r.Requests < 0:
					out = append(out, issue(p+".requests", "%s.requests %d is negative", p, r.Requests))
				case r.Requests > 0 && r.Per <= 0:
					out = append(out, issue(p+".per", "%s.per must be a positive duration", p))
				case r.Requests > 0 && r.Per.Std() > sessiond.MaxLifetime:
					out = append(out, issue(p+".per", "%s.per %s exceeds 100 years (%s)", p, human(r.Per.Std()), human(sessiond.MaxLifetime)))
				case r.Requests > 0 && r.Burst < 1:
					out = append(out, issue(p+".burst", "%s.burst %d must be at least 1", p, r.Burst))
				}
			}
			if n := in.Config.RateLimit.RevocationStreamsPerAPIKey; n < 0 {
				out = append(out, issue("rate_limit.revocation_streams_per_api_key", "rate_limit.revocation_streams_per_api_key %d is negative", n))
			}
			if r := in.Config.RateLimit.RefreshFailures; r.Requests < 0 {
				out = append(out, issue("rate_limit.refresh_failures.requests", "rate_limit.refresh_failures.requests %d is negative", r.Requests))
			} else if r.Requests > 0 && r.Per <= 0 {
				out = append(out, issue("rate_limit.refresh_failures.per", "rate_limit.refresh_failures.per must be a positive duration"))
			} else if r.Requests > 0 && r.Per.Std() > sessiond.MaxLifetime {
				out = append(out, issue("rate_limit.refresh_failures.per", "rate_limit.refresh_failures.per %s exceeds 100 years (%s)", human(r.Per.Std()), human(sessiond.MaxLifetime)))
			}
			sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
			return out
		},
	},
	{
		ID: "SD-CSRF-001", Severity: SeverityError,
		Title:     "trusted origin is not an origin",
		Rationale: "Origin checks compare scheme://host[:port] exactly (OWASP CSRF cheat sheet, verifying origin; ASVS 3.5.1); an entry with a path, no scheme or a wildcard never matches or matches everyone.",
		Fix:       "list origins as https://app.example.com (no path, no trailing slash, no wildcard)",
		Check: func(in Input) []Issue {
			var out []Issue
			for i, o := range in.Config.CSRF.TrustedOrigins {
				if !validOrigin(o) {
					out = append(out, issue(fmt.Sprintf("csrf.trusted_origins.%d", i), "csrf.trusted_origins entry %q is not an origin (scheme://host[:port])", o))
				}
			}
			return out
		},
	},

	// The browser gateway.
	{
		ID: "SD-GATEWAY-001", Severity: SeverityError,
		Title:     "gateway.login_url must be a path or an HTTPS URL",
		Rationale: "The gateway sends browsers without a session to the login page; an empty value leaves them nowhere to go, and a network-path (//host), script or plain-HTTP URL would send them off the origin or over an insecure channel (ASVS 3.4.1; OWASP Unvalidated Redirects cheat sheet).",
		Fix:       "set gateway.login_url to the app's login page, e.g. /login (or https://id.example.com/login)",
		Check: func(in Input) []Issue {
			g := in.Config.Gateway
			if !g.Enabled {
				return nil
			}
			u, err := url.Parse(g.LoginURL)
			switch {
			case g.LoginURL == "":
				return []Issue{issue("gateway.login_url", "gateway.enabled is true but gateway.login_url is empty")}
			// Browsers read a backslash in a path as a slash: /\host is
			// //host, another origin.
			case err != nil || strings.HasPrefix(g.LoginURL, "//") || strings.HasPrefix(g.LoginURL, "/\\") || u.Fragment != "" ||
				(u.Scheme == "" && !strings.HasPrefix(u.Path, "/")) ||
				(u.Scheme != "" && u.Scheme != "https" && !(u.Scheme == "http" && !in.production())):
				return []Issue{issue("gateway.login_url", "gateway.login_url %q is neither a path such as /login nor an https URL", g.LoginURL)}
			}
			return nil
		},
	},
	{
		ID: "SD-GATEWAY-002", Severity: SeverityError,
		Title:     "gateway.prefix must be a plain path",
		Rationale: "The prefix is matched by the proxy and the server alike and scopes the refresh cookie; a trailing slash, dots, empty segments or characters that need escaping make them disagree about which requests are the gateway's, and a prefix under the server's own paths (/v1, /oauth2, /sdk, /console, /.well-known…) would take them over or be hidden by them.",
		Fix:       "use a path such as /sessiond (letters, digits, - _ ~ and /, no trailing slash)",
		Check: func(in Input) []Issue {
			p := in.Config.Gateway.Prefix
			if !gatewayPrefix.MatchString(p) {
				return []Issue{issue("gateway.prefix", "gateway.prefix %q is not a plain path such as /sessiond", p)}
			}
			if first, ok := serverPath(p); ok {
				return []Issue{issue("gateway.prefix", "gateway.prefix %q lies under the server's own /%s", p, first)}
			}
			return nil
		},
	},
	{
		ID: "SD-GATEWAY-003", Severity: SeverityError,
		Title:     "the cookies must reach the gateway routes",
		Rationale: "A browser sends a cookie only to paths under its Path (RFC 6265bis §5.1.4): the session cookie must cover the gateway's check, session and logout routes, and the refresh cookie its refresh route, or sessions never verify or never refresh.",
		Fix:       "keep cookie.path: / and set cookie.refresh_path to <gateway.prefix>/refresh (/sessiond/refresh by default)",
		Check: func(in Input) []Issue {
			g, c := in.Config.Gateway, in.Config.Cookie
			if !g.Enabled {
				return nil
			}
			var out []Issue
			if !pathMatches(g.Prefix+"/check", c.Path) {
				out = append(out, issue("cookie.path", "cookie.path %q does not cover the gateway routes under %s", c.Path, g.Prefix))
			}
			if in.tokens() && !pathMatches(g.Prefix+"/refresh", c.RefreshPath) {
				out = append(out, issue("cookie.refresh_path", "cookie.refresh_path %q does not cover the gateway's refresh route %s/refresh", c.RefreshPath, g.Prefix))
			}
			if !c.HTTPOnly {
				out = append(out, issue("cookie.http_only", "the gateway sets HttpOnly cookies only; cookie.http_only: false is not supported"))
			}
			return out
		},
	},
	{
		ID: "SD-GATEWAY-004", Severity: SeverityError,
		Title:     "gateway.client_ip_header must be a header name",
		Rationale: "The header must be one the proxy sets itself (and overwrites), such as X-Real-IP; anything else lets a client choose the address anomaly rules see (ASVS 7.5.3).",
		Fix:       "set gateway.client_ip_header to X-Real-IP (and have the proxy set it), or leave it empty",
		Check: func(in Input) []Issue {
			h := in.Config.Gateway.ClientIPHeader
			if h == "" {
				return nil
			}
			if !headerName.MatchString(h) || strings.EqualFold(h, "Cookie") || strings.EqualFold(h, "Authorization") {
				return []Issue{issue("gateway.client_ip_header", "gateway.client_ip_header %q is not a usable header name", h)}
			}
			return nil
		},
	},
	{
		ID: "SD-GATEWAY-005", Severity: SeverityError,
		Title:     "gateway.dbsc must be off, optional or required, on stored sessions, with a bound cookie of 1 to 60 minutes",
		Rationale: "Device Bound Session Credentials keep the device key's binding with the stored session, which the jwt strategy does not keep; the bound cookie is what a thief can still use, so it must be short-lived (W3C DBSC server considerations), yet long enough that the browser does not sign a proof on every few requests.",
		Fix:       "set gateway.dbsc to off, optional or required, use the database or hybrid strategy with it, and gateway.dbsc_cookie_lifetime between 1m and 60m (10m by default)",
		Check: func(in Input) []Issue {
			g := in.Config.Gateway
			var out []Issue
			switch g.DBSC {
			case DBSCOff, DBSCOptional, DBSCRequired:
			default:
				return []Issue{issue("gateway.dbsc", "gateway.dbsc %q is not off, optional or required", g.DBSC)}
			}
			if g.DBSC == DBSCOff {
				return nil
			}
			if in.Config.Strategy == sessiond.StrategyJWT {
				out = append(out, issue("gateway.dbsc", "gateway.dbsc is %s but the jwt strategy keeps no sessions to bind", g.DBSC))
			}
			if l := g.DBSCCookieLifetime.Std(); l < time.Minute || l > time.Hour {
				out = append(out, issue("gateway.dbsc_cookie_lifetime", "gateway.dbsc_cookie_lifetime %s is not between 1m and 60m", l))
			}
			return out
		},
	},
	{
		ID: "SD-GATEWAY-006", Severity: SeverityWarning,
		Title:     "gateway.dbsc: required refuses every browser without DBSC",
		Rationale: "Only Chrome on Windows binds sessions to a device key today; under required, Firefox, Safari and Chrome elsewhere can log in but every request is refused. Roll out with optional first and watch how many sessions get bound.",
		Fix:       "use gateway.dbsc: optional until the session list shows your users' sessions bound, then required",
		Check: func(in Input) []Issue {
			if in.Config.Gateway.DBSC == DBSCRequired {
				return []Issue{issue("gateway.dbsc", "gateway.dbsc is required: browsers without DBSC support cannot use their sessions")}
			}
			return nil
		},
	},
	{
		ID: "SD-GATEWAY-007", Severity: SeverityError,
		Title:     "gateway.trusted_proxies must be IP addresses or CIDR prefixes",
		Rationale: "The gateway believes gateway.client_ip_header only from these peers; an entry it cannot read as an address or prefix matches no proxy, and a prefix with bits set past its length (10.0.0.1/8) may trust far more hosts than meant, each of which could then choose the address the anomaly rules and the event log see.",
		Fix:       "list the proxies as addresses (10.0.0.5, 2001:db8::5) or prefixes (10.0.0.0/24), host bits zero; names are not resolved",
		Check: func(in Input) []Issue {
			var out []Issue
			for i, s := range in.Config.Gateway.TrustedProxies {
				if _, err := parseProxy(s); err != nil {
					out = append(out, issue(fmt.Sprintf("gateway.trusted_proxies.%d", i), "%v", err))
				}
			}
			return out
		},
	},
	{
		ID: "SD-GATEWAY-008", Severity: SeverityWarning,
		Title:     "gateway.client_ip_header is believed from loopback only",
		Rationale: "With gateway.trusted_proxies empty the gateway reads gateway.client_ip_header only on connections from loopback, since anyone reaching the listener directly could otherwise set it and choose the address the anomaly rules (ip_change, distinct_ips), the event log and the per-address limits see (ASVS 7.5.3). server.listen takes connections from other hosts: a proxy there has its own address recorded for every browser.",
		Fix:       "list the proxy's address in gateway.trusted_proxies (e.g. [10.0.0.5] or [10.0.0.0/24]), or keep server.listen on 127.0.0.1 with the proxy on the same host",
		Check: func(in Input) []Issue {
			g, listen := in.Config.Gateway, in.Config.Server.Listen
			if !g.Enabled || g.ClientIPHeader == "" || len(g.TrustedProxies) > 0 {
				return nil
			}
			if host, _, err := net.SplitHostPort(listen); err != nil || isLoopback(host) {
				return nil
			}
			return []Issue{issue("gateway.client_ip_header", "gateway.client_ip_header is set, gateway.trusted_proxies is empty and server.listen %q is not loopback: the header is read only from loopback peers", listen)}
		},
	},
	{
		ID: "SD-GATEWAY-009", Severity: SeverityInfo,
		Title:     "gateway without gateway.client_ip_header",
		Rationale: "Behind NGINX or Caddy every browser request reaches the gateway from the proxy, so without the header the proxy's address is every browser's: the per-address limits (rate_limit.per_client_ip, and rate_limit.auth_failures on refused browser credentials) then hold all browsers together, so one client guessing cookies or codes gets every refused credential answered 429, the anomaly rules (ip_change, distinct_ips) see no change, and the event log records the proxy. Without a proxy (browsers reaching sessiond directly) the connection's peer is right and this does not apply.",
		Fix:       "set gateway.client_ip_header to the header the proxy sets (X-Real-IP in the shipped NGINX and Caddy examples) and list the proxy in gateway.trusted_proxies unless it connects from loopback",
		Check: func(in Input) []Issue {
			if g := in.Config.Gateway; !g.Enabled || g.ClientIPHeader != "" || !in.production() {
				return nil
			}
			return []Issue{issue("gateway.client_ip_header", "the gateway is enabled without gateway.client_ip_header: behind a proxy every browser has the proxy's address for the per-address limits, the anomaly rules and the event log")}
		},
	},

	// The operator console.
	{
		ID: "SD-CONSOLE-001", Severity: SeverityError,
		Title:     "console idle timeout zero or over 8h",
		Rationale: "A console session signs an operator in with admin rights, so it needs an inactivity timeout (ASVS 7.3.1): 0 does not turn it off (it would silently be 15m), and serve refuses one over 100 years (sessiond.MaxLifetime). One longer than the 8 hours a console session lasts at most never applies: a warning, since serve runs with it as it always did.",
		Fix:       "set console.idle_timeout to a positive duration of at most 8h (default 15m), or remove it",
		Check: func(in Input) []Issue {
			c := in.Config.Console
			if !c.Enabled {
				return nil
			}
			switch d := c.IdleTimeout.Std(); {
			case d <= 0:
				return []Issue{issue("console.idle_timeout", "console.idle_timeout is zero: a console session needs an idle timeout")}
			case d > sessiond.MaxLifetime:
				return []Issue{issue("console.idle_timeout", "console.idle_timeout %s exceeds 100 years (%s); sessiond serve refuses it", human(d), human(sessiond.MaxLifetime))}
			case d > ConsoleMaxIdle:
				return []Issue{{Path: "console.idle_timeout", Severity: SeverityWarning,
					Message: fmt.Sprintf("console.idle_timeout %s is longer than the %s a console session lasts at most: it never applies", human(d), human(ConsoleMaxIdle))}}
			}
			return nil
		},
	},

	// Logging.
	{
		ID: "SD-LOG-001", Severity: SeverityError,
		Title:     "unknown log level, format or request selection",
		Rationale: "The server must know how and what to log before it starts; an unknown value would otherwise silently fall back to a default the operator did not choose; request lines are where an investigation starts.",
		Fix:       "set log.level to debug, info, warn or error; log.format to json or text; log.requests to all, errors or sample",
		Check: func(in Input) []Issue {
			l := in.Config.Log
			var out []Issue
			for _, k := range []struct {
				path, value string
				allowed     []string
			}{
				{"log.level", l.Level, LogLevels},
				{"log.format", l.Format, LogFormats},
				{"log.requests", l.Requests, LogRequests},
			} {
				if !slices.Contains(k.allowed, k.value) {
					out = append(out, issue(k.path, "%s %q is not %s", k.path, k.value, orList(k.allowed)))
				}
			}
			return out
		},
	},
	{
		ID: "SD-LOG-002", Severity: SeverityError,
		Title:     "request sampling rate below one",
		Rationale: "log.sample_every is the number of successful requests per logged one; zero or a negative number has no meaning.",
		Fix:       "set log.sample_every to 1 or more (100 logs one successful request in a hundred)",
		Check: func(in Input) []Issue {
			if n := in.Config.Log.SampleEvery; n < 1 {
				return []Issue{issue("log.sample_every", "log.sample_every %d is below 1", n)}
			}
			return nil
		},
	},

	// Server and store.
	{
		ID: "SD-SERVER-001", Severity: SeverityInfo,
		Title:     "development server listening beyond loopback",
		Rationale: "A development configuration (often with Secure off) exposed on the network lets others on the LAN reach it.",
		Fix:       "listen on 127.0.0.1 or [::1] in development",
		Check: func(in Input) []Issue {
			if in.production() {
				return nil
			}
			host, _, err := net.SplitHostPort(in.Config.Server.Listen)
			if err != nil || isLoopback(host) {
				return nil
			}
			return []Issue{issue("server.listen", "server.listen %q is reachable from other hosts", in.Config.Server.Listen)}
		},
	},
	{
		ID: "SD-SERVER-002", Severity: SeverityWarning,
		Title:     "request body limit over 1 MiB, or below 1",
		Rationale: "sessiond's API bodies are small JSON documents; a large limit lets a client make the server buffer megabytes per request. The limit cannot be turned off: a negative value stops serve and 0 would silently mean 65536, so both are errors.",
		Fix:       "keep server.max_body_bytes between 1 and 1048576 (default 65536)",
		Check: func(in Input) []Issue {
			switch b := in.Config.Server.MaxBodyBytes; {
			case b > maxBodyWarn:
				return []Issue{issue("server.max_body_bytes", "server.max_body_bytes %d is outside 1–1048576", b)}
			case b <= 0:
				return []Issue{{Path: "server.max_body_bytes", Severity: SeverityError,
					Message: fmt.Sprintf("server.max_body_bytes %d is below 1: the limit cannot be turned off", b)}}
			}
			return nil
		},
	},
	{
		ID: "SD-SERVER-003", Severity: SeverityWarning,
		Title:     "HTTP server timeout disabled",
		Rationale: "A zero read-header, read, write or idle timeout lets slow clients hold connections open forever (Slowloris).",
		Fix:       "set server.read_header_timeout, read_timeout, write_timeout and idle_timeout to positive durations (defaults 5s, 15s, 15s, 60s)",
		Check: func(in Input) []Issue {
			s := in.Config.Server
			var out []Issue
			for _, x := range []struct {
				key string
				d   Duration
			}{
				{"read_header_timeout", s.ReadHeaderTimeout},
				{"read_timeout", s.ReadTimeout},
				{"write_timeout", s.WriteTimeout},
				{"idle_timeout", s.IdleTimeout},
			} {
				if x.d == 0 {
					out = append(out, issue("server."+x.key, "server.%s is zero: the timeout is disabled", x.key))
				}
			}
			return out
		},
	},
	{
		ID: "SD-SERVER-004", Severity: SeverityError,
		Title:     "listen address is not host:port",
		Rationale: "The server cannot start on an address it cannot parse.",
		Fix:       "write server.listen as host:port, e.g. 127.0.0.1:8420 or [::1]:8420",
		Check: func(in Input) []Issue {
			l := in.Config.Server.Listen
			if _, port, err := net.SplitHostPort(l); err == nil {
				if n, perr := strconv.Atoi(port); perr == nil && n >= 0 && n <= 65535 {
					return nil
				}
			}
			return []Issue{issue("server.listen", "server.listen %q is not host:port", l)}
		},
	},
	{
		ID: "SD-SERVER-005", Severity: SeverityWarning,
		Title:     "production listener beyond loopback without TLS",
		Rationale: "Session tokens, refresh tokens and API keys cross this listener; on a network interface without TLS anyone on the path can read them (ASVS 12.1.1, 12.3.1). Behind a TLS-terminating proxy on the same host, keep the listener on loopback. The admin listener is always plain HTTP, and the operator console on it signs in with an admin API key.",
		Fix:       "set server.tls_cert_file and server.tls_key_file, or listen on 127.0.0.1 behind a TLS-terminating proxy; keep server.admin_listen on loopback (or behind such a proxy), or set console.enabled: false where only /metrics must be reachable",
		Check: func(in Input) []Issue {
			s := in.Config.Server
			if !in.production() {
				return nil
			}
			var out []Issue
			if host, _, err := net.SplitHostPort(s.Listen); err == nil && !isLoopback(host) && (s.TLSCertFile == "" || s.TLSKeyFile == "") {
				out = append(out, issue("server.listen", "server.listen %q is reachable from other hosts and serves plain HTTP", s.Listen))
			}
			if host, _, err := net.SplitHostPort(s.AdminListen); err == nil && !isLoopback(host) {
				what := "/metrics"
				if in.Config.Console.Enabled {
					what = "/metrics and the operator console (admin API key sign-in)"
				}
				out = append(out, issue("server.admin_listen", "server.admin_listen %q is reachable from other hosts and serves %s over plain HTTP", s.AdminListen, what))
			}
			return out
		},
	},
	{
		ID: "SD-SERVER-006", Severity: SeverityError,
		Title:     "TLS certificate without key, or key without certificate",
		Rationale: "HTTPS needs both the certificate chain and its private key; with only one the server cannot start TLS.",
		Fix:       "set both server.tls_cert_file and server.tls_key_file (PEM), or neither",
		Check: func(in Input) []Issue {
			s := in.Config.Server
			switch {
			case s.TLSCertFile != "" && s.TLSKeyFile == "":
				return []Issue{issue("server.tls_key_file", "server.tls_cert_file is set but server.tls_key_file is not")}
			case s.TLSCertFile == "" && s.TLSKeyFile != "":
				return []Issue{issue("server.tls_cert_file", "server.tls_key_file is set but server.tls_cert_file is not")}
			}
			return nil
		},
	},
	{
		ID: "SD-SERVER-007", Severity: SeverityError,
		Title:     "admin listen address is not host:port, or takes the API's port",
		Rationale: "The admin listener keeps /metrics off the API port; it cannot start on an address it cannot parse, nor bind the port the API listener holds: the same port on an overlapping host (the same address however spelt, localhost and 127.0.0.1, or a wildcard such as 0.0.0.0, :: or an empty host, which overlaps every host).",
		Fix:       "write server.admin_listen as host:port on its own port, e.g. 127.0.0.1:8421, or leave it empty",
		Check: func(in Input) []Issue {
			s := in.Config.Server
			if s.AdminListen == "" {
				return nil
			}
			_, port, err := net.SplitHostPort(s.AdminListen)
			n, perr := strconv.Atoi(port)
			switch {
			case err != nil || perr != nil || n < 0 || n > 65535:
				return []Issue{issue("server.admin_listen", "server.admin_listen %q is not host:port", s.AdminListen)}
			case n != 0 && listenersOverlap(s.Listen, s.AdminListen):
				return []Issue{issue("server.admin_listen", "server.admin_listen %q would bind port %d where server.listen %q already listens (address already in use)", s.AdminListen, n, s.Listen)}
			}
			return nil
		},
	},
	{
		ID: "SD-SERVER-008", Severity: SeverityWarning,
		Title:     "a stop longer than orchestrators wait",
		Rationale: "A stopping server first answers /readyz with 503 for server.shutdown_delay while it still serves, so that load balancers move off it, then stops within server.shutdown_timeout, a store that does not answer included: requests in flight, then its background loops and the store's close. Kubernetes (terminationGracePeriodSeconds) and the systemd unit (TimeoutStopSec) kill the process 30 s after the signal by default: past that, requests in flight are cut and background loops are not joined. server.shutdown_timeout 0 bounds nothing: the requests in flight are cut at once, then the stop waits for the loops and the store's close without limit, so a store that does not answer holds it until the orchestrator kills the process in the middle of the close.",
		Fix:       "keep server.shutdown_delay and server.shutdown_timeout together at most 30s (defaults 5s and 20s), or raise the orchestrator's deadline above their sum",
		Check: func(in Input) []Issue {
			s := in.Config.Server
			var out []Issue
			if s.ShutdownTimeout == 0 {
				// The sum below would count it as no time at all.
				is := issue("server.shutdown_timeout", "server.shutdown_timeout 0 sets no bound on the stop: once the requests in flight are cut, it waits for the background loops and the store's close without limit, and an orchestrator may kill the process (SIGKILL) in the middle of the close")
				is.Fix = "set server.shutdown_timeout to a bound that fits the orchestrator's deadline with server.shutdown_delay (default 20s)"
				out = append(out, is)
			}
			// Each first: the sum of two durations near the largest
			// wraps around to a negative one.
			if s.ShutdownDelay <= Duration(stopDeadline) && s.ShutdownTimeout <= Duration(stopDeadline) &&
				s.ShutdownDelay+s.ShutdownTimeout <= Duration(stopDeadline) {
				return out
			}
			// Point at a key the file sets: shutdown_timeout alone can
			// make the sum too long with the default delay.
			path := "server.shutdown_delay"
			if !in.Doc.Has(path) && in.Doc.Has("server.shutdown_timeout") {
				path = "server.shutdown_timeout"
			}
			return append(out, issue(path, "server.shutdown_delay %s and server.shutdown_timeout %s together exceed the 30s most orchestrators wait before killing the process",
				s.ShutdownDelay.Std(), s.ShutdownTimeout.Std()))
		},
	},
	{
		ID: "SD-SERVER-009", Severity: SeverityError,
		Title:     "empty data directory",
		Rationale: "An empty server.data_dir is the process's working directory: serve starts there on a new, empty SQLite store and writes a new API key beside it, and migrate, keys and apikey act on that store, not the deployment's. It is how a variable left unset reads (SESSIOND_DATA=\"$DIR\"), so it is refused rather than taken for a place.",
		Fix:       "set server.data_dir to the deployment's data directory (default ./sessiond-data; write . for the working directory), or unset SESSIOND_DATA and SESSIOND_SERVER_DATA_DIR",
		Check: func(in Input) []Issue {
			if in.Config.Server.DataDir != "" {
				return nil
			}
			return []Issue{issue("server.data_dir", "server.data_dir is empty: the data directory would be the working directory")}
		},
	},
	{
		ID: "SD-STORE-001", Severity: SeverityError,
		Title:     "unknown store driver",
		Rationale: "sessiond ships four stores; any other name cannot start.",
		Fix:       "set store.driver to memory, sqlite, postgres or redis",
		Check: func(in Input) []Issue {
			switch d := in.Config.Store.Driver; d {
			case "memory", "sqlite", "postgres", "redis":
				return nil
			default:
				return []Issue{issue("store.driver", "store.driver %q is not memory, sqlite, postgres or redis", d)}
			}
		},
	},
	{
		ID: "SD-STORE-002", Severity: SeverityError,
		Title:     "postgres or redis store without a DSN",
		Rationale: "These stores need to know where the server is; there is no safe default.",
		Fix:       "set store.dsn (postgres://… or redis://…), preferably through SESSIOND_STORE_DSN so the password stays out of the file",
		Check: func(in Input) []Issue {
			s := in.Config.Store
			if (s.Driver == "postgres" || s.Driver == "redis") && strings.TrimSpace(s.DSN) == "" {
				return []Issue{issue("store.dsn", "store.driver %s needs store.dsn", s.Driver)}
			}
			return nil
		},
	},
	{
		ID: "SD-STORE-003", Severity: SeverityWarning,
		Title:     "memory store in production",
		Rationale: "The memory store loses every session and revocation on restart and is not shared between nodes: a revoked session can come back on another node.",
		Fix:       "use sqlite for one node, postgres or redis for several",
		Check: func(in Input) []Issue {
			if in.production() && in.Config.Store.Driver == "memory" && in.Config.Strategy != sessiond.StrategyJWT {
				return []Issue{issue("store.driver", "store.driver memory in production: sessions and revocations are lost on restart")}
			}
			return nil
		},
	},
	{
		ID: "SD-STORE-004", Severity: SeverityWarning,
		Title:     "password written in store.dsn",
		Rationale: "Secrets come from a file or the environment, never inline: config files end up in repositories, tickets and backups.",
		Fix:       "remove the password from the file and pass the DSN as SESSIOND_STORE_DSN (or use the driver's password file, e.g. PGPASSFILE)",
		Check: func(in Input) []Issue {
			// Only a DSN written in the file counts; one from the
			// environment is where it belongs.
			if !in.Doc.Has("store.dsn") {
				return nil
			}
			dsn := in.Config.Store.DSN
			if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
				if _, ok := u.User.Password(); u.User != nil && ok {
					return []Issue{issue("store.dsn", "store.dsn contains a password (user:password@)")}
				}
				for k := range u.Query() {
					// password, and libpq's sslpassword (the client key's).
					if strings.HasSuffix(strings.ToLower(k), "password") {
						return []Issue{issue("store.dsn", "store.dsn contains a password (the %s query parameter)", k)}
					}
				}
				return nil
			}
			// A URL that url.Parse refuses because its password holds '#',
			// '/' or '?' still works: pgx ends the user info at the last '@'.
			if dsnURLPassword.MatchString(dsn) {
				return []Issue{issue("store.dsn", "store.dsn contains a password (user:password@)")}
			}
			// PostgreSQL keyword/value form: host=db user=app password=…
			if dsnKeywordPassword.MatchString(dsn) {
				return []Issue{issue("store.dsn", "store.dsn contains a password (password=…)")}
			}
			return nil
		},
	},
	{
		ID: "SD-STORE-006", Severity: SeverityError,
		Title:     "negative store.write_groups",
		Rationale: "The PostgreSQL store cannot keep a negative number of group commits in flight, and refuses to open.",
		Fix:       "leave store.write_groups at 0 (one per two CPUs, from 1 to 4) or set a positive number",
		Check: func(in Input) []Issue {
			if n := in.Config.Store.WriteGroups; n < 0 {
				return []Issue{issue("store.write_groups", "store.write_groups is %d; it must be 0 or more", n)}
			}
			return nil
		},
	},
	{
		ID: "SD-STORE-007", Severity: SeverityWarning,
		Title:     "store.write_groups set for a store that is not postgres",
		Rationale: "Only the PostgreSQL store groups its commits this way; for another driver the key does nothing, which an operator tuning writes should know.",
		Fix:       "remove store.write_groups, or set store.driver to postgres",
		Check: func(in Input) []Issue {
			if s := in.Config.Store; s.WriteGroups != 0 && s.Driver != "postgres" {
				return []Issue{issue("store.write_groups", "store.write_groups is set but store.driver is %s; only postgres reads it", s.Driver)}
			}
			return nil
		},
	},
	{
		ID: "SD-STORE-008", Severity: SeverityError,
		Title:     "unknown store.migrate",
		Rationale: "serve must know whether to migrate the schema at start or to refuse one that lacks a migration; any other value is a typo that would leave it guessing.",
		Fix:       "set store.migrate to auto (the default: serve migrates at start) or manual (run sessiond migrate as a deployment step)",
		Check: func(in Input) []Issue {
			if m := in.Config.Store.Migrate; m != "" && m != MigrateAuto && m != MigrateManual {
				return []Issue{issue("store.migrate", "store.migrate is %q; want auto or manual", m)}
			}
			return nil
		},
	},
	{
		ID: "SD-STORE-009", Severity: SeverityWarning,
		Title:     "store.migrate manual for a store without migrations",
		Rationale: "Only the SQLite and PostgreSQL stores have a schema to migrate; for memory and redis the key does nothing, though the operator who set it expects a migration step.",
		Fix:       "remove store.migrate, or use the sqlite or postgres driver",
		Check: func(in Input) []Issue {
			if s := in.Config.Store; s.Migrate == MigrateManual && (s.Driver == "memory" || s.Driver == "redis") {
				return []Issue{issue("store.migrate", "store.migrate is manual but store.driver is %s, which has no schema migrations", s.Driver)}
			}
			return nil
		},
	},
	{
		ID: "SD-STORE-010", Severity: SeverityError,
		Title:     "store.namespace the store cannot use",
		Rationale: "The namespace is the PostgreSQL schema, a name of at most 63 bytes without NUL, or the Redis key prefix, which goes inside {…} hash tags and so cannot hold a brace; the store refuses any other at start.",
		Fix:       "use a short name of letters, digits and _ (e.g. sessiond_eu), or leave store.namespace empty for public (postgres) or sd (redis)",
		Check: func(in Input) []Issue {
			s := in.Config.Store
			switch {
			case s.Driver == "postgres" && (len(s.Namespace) > 63 || strings.ContainsRune(s.Namespace, 0) || !utf8.ValidString(s.Namespace)):
				return []Issue{issue("store.namespace", "store.namespace is not a PostgreSQL schema name: at most 63 bytes of UTF-8 without NUL")}
			case s.Driver == "redis" && strings.ContainsAny(s.Namespace, "{}"):
				return []Issue{issue("store.namespace", "store.namespace %q holds a brace, which the Redis store refuses in its key prefix", s.Namespace)}
			}
			return nil
		},
	},
	{
		ID: "SD-STORE-011", Severity: SeverityWarning,
		Title:     "store.namespace or store.client_cache set for a store that does not read it",
		Rationale: "Only the PostgreSQL and Redis stores have a namespace, and only the Redis store a client-side cache; for another driver the key does nothing, though the operator who set it expects deployments kept apart or lookups cached.",
		Fix:       "remove the key, or use the driver that reads it (namespace: postgres or redis; client_cache: redis)",
		Check: func(in Input) []Issue {
			s := in.Config.Store
			var out []Issue
			if s.Namespace != "" && s.Driver != "postgres" && s.Driver != "redis" {
				out = append(out, issue("store.namespace", "store.namespace is set but store.driver is %s; only postgres and redis read it", s.Driver))
			}
			if s.ClientCache != 0 && s.Driver != "redis" {
				out = append(out, issue("store.client_cache", "store.client_cache is set but store.driver is %s; only redis reads it", s.Driver))
			}
			return out
		},
	},
	{
		ID: "SD-STORE-012", Severity: SeverityError,
		Title:     "invalid store.revocation_replicas or store.revocation_wait",
		Rationale: "The Redis store waits after each revocation until that many replicas have it, at most revocation_wait, so a failover cannot bring a revoked session back; a value it cannot read, or a wait that is not positive, leaves that wait undefined.",
		Fix:       "set store.revocation_replicas to auto (the default), 0 (never wait) or a number of replicas, and store.revocation_wait to a positive duration (default 1s)",
		Check: func(in Input) []Issue {
			if in.Config.Store.Driver != "redis" {
				return nil // only the Redis store reads them
			}
			var out []Issue
			if _, ok := in.Config.Store.RevocationReplicasOption(); !ok {
				out = append(out, issue("store.revocation_replicas", "store.revocation_replicas is %q; want auto, 0 or a positive number", in.Config.Store.RevocationReplicas))
			}
			if w := in.Config.Store.RevocationWait; w <= 0 {
				out = append(out, issue("store.revocation_wait", "store.revocation_wait is %s; it must be positive (to never wait, set store.revocation_replicas to 0)", w.Std()))
			}
			return out
		},
	},
	{
		ID: "SD-STORE-013", Severity: SeverityError,
		Title:     "unknown store.synchronous",
		Rationale: "The SQLite store either syncs its log to disk at checkpoints (normal) or at every commit (full); any other value is a typo, and off, which would let a crash of the machine corrupt the file, is not offered.",
		Fix:       "set store.synchronous to normal (the default: a power cut can lose the last commits) or full (every commit waits for the disk)",
		Check: func(in Input) []Issue {
			if v := in.Config.Store.Synchronous; v != "" && v != SynchronousNormal && v != SynchronousFull {
				return []Issue{issue("store.synchronous", "store.synchronous is %q; want normal or full", v)}
			}
			return nil
		},
	},
	{
		ID: "SD-STORE-014", Severity: SeverityWarning,
		Title:     "store.synchronous full for a store that is not sqlite",
		Rationale: "Only the SQLite store reads store.synchronous; for another driver the key does nothing, though the operator who set it expects every commit on disk: that durability is the database server's setting.",
		Fix:       "remove store.synchronous; on PostgreSQL keep synchronous_commit on (its default), on Redis set appendfsync always (docs/redisstore.md)",
		Check: func(in Input) []Issue {
			if s := in.Config.Store; s.Synchronous == SynchronousFull && s.Driver != "sqlite" {
				return []Issue{issue("store.synchronous", "store.synchronous is full but store.driver is %s; only sqlite reads it", s.Driver)}
			}
			return nil
		},
	},
	{
		ID: "SD-STORE-005", Severity: SeverityInfo,
		Title:     "the security event log held in Redis memory for weeks",
		Rationale: "On Redis every event lives in memory for events.retention: about 1.8 KB for each refresh and 3.9 KB for each login from a browser (docs/redisstore.md, Memory), so a busy deployment's event log, not its sessions, sets how much memory Redis needs; a Redis that runs out refuses writes or evicts keys.",
		Fix:       "size Redis for the events of the whole retention, or lower events.retention (e.g. 336h) and keep the long record elsewhere, fed by webhooks or GET /v1/events",
		Check: func(in Input) []Issue {
			r := in.Config.Events.Retention.Std()
			switch {
			case in.Config.Store.Driver != "redis":
			case r == 0:
				// Retention off: only the Redis store's own safety net
				// (redisstore's MaxEventAge) deletes events.
				return []Issue{issue("events.retention", "events.retention is 0s (off) on the redis store: events are kept up to 400 days, about 1.8 KB of Redis memory per refresh")}
			case r > redisRetentionNotice:
				return []Issue{issue("events.retention", "events.retention %s on the redis store: about 1.8 KB of Redis memory per refresh, kept that long", human(r))}
			}
			return nil
		},
	},
	{
		ID: "SD-EVENTS-001", Severity: SeverityError,
		Title:     "event address prefixes out of range, or finer in anomaly details",
		Rationale: "events.ipv4_prefix and events.ipv6_prefix say how much of a client's address the security events keep for events.retention (GDPR Art. 5(1)(c), data minimisation); a length the address does not have is refused at start. The anomaly events' details name the networks the anomaly rules compare (anomaly.ipv4_prefix, anomaly.ipv6_prefix), so a longer anomaly prefix keeps more of the address there than the events' own field.",
		Fix:       "keep events.ipv4_prefix in 1–32 and events.ipv6_prefix in 1–128 (the whole address: 32, 128), and the anomaly prefixes no longer than them",
		Check: func(in Input) []Issue {
			e, a := in.Config.Events, in.Config.Anomaly
			var out []Issue
			if e.IPv4Prefix < 1 || e.IPv4Prefix > 32 {
				out = append(out, issue("events.ipv4_prefix", "events.ipv4_prefix %d is not in 1–32", e.IPv4Prefix))
			} else if a.IPv4Prefix > e.IPv4Prefix && a.IPv4Prefix <= 32 {
				out = append(out, Issue{Path: "events.ipv4_prefix", Severity: SeverityWarning, Message: fmt.Sprintf(
					"events keep /%d of an IPv4 address, but anomaly events name /%d networks in their details", e.IPv4Prefix, a.IPv4Prefix)})
			}
			if e.IPv6Prefix < 1 || e.IPv6Prefix > 128 {
				out = append(out, issue("events.ipv6_prefix", "events.ipv6_prefix %d is not in 1–128", e.IPv6Prefix))
			} else if a.IPv6Prefix > e.IPv6Prefix && a.IPv6Prefix <= 128 {
				out = append(out, Issue{Path: "events.ipv6_prefix", Severity: SeverityWarning, Message: fmt.Sprintf(
					"events keep /%d of an IPv6 address, but anomaly events name /%d networks in their details", e.IPv6Prefix, a.IPv6Prefix)})
			}
			return out
		},
	},
	ssfReceiverRule, // internal/config/ssf.go
	ssfTransmitterRule,
	ssfPrivateEndpointsRule,
	ssfGuessableRule,
	dpopRule,       // internal/config/dpop.go
	secretModeRule, // internal/config/secretmode.go
})

// redisRetentionNotice: SD-STORE-005 speaks up above two weeks of events.
const redisRetentionNotice = 14 * 24 * time.Hour

// dsnKeywordPassword finds password=… in a keyword/value DSN.
var dsnKeywordPassword = regexp.MustCompile(`(?i)(^|\s)(ssl)?password\s*=`)

// dsnURLPassword finds user:password@ in a URL DSN that url.Parse refuses.
var dsnURLPassword = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:[^@]*@`)

// sortedByID orders the rule table by ID, the order every report lists
// rules in, so entries can be written next to the keys they check.
func sortedByID(rs []Rule) []Rule {
	sort.Slice(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	return rs
}

func issue(path, format string, args ...any) Issue {
	return Issue{Path: path, Message: fmt.Sprintf(format, args...)}
}

func fieldIssues(doc *Document, unknown bool) []Issue {
	var out []Issue
	for _, e := range doc.Errors() {
		if e.unknown == unknown {
			out = append(out, Issue{Path: e.Path, Message: e.Msg, Line: e.Line, Column: e.Column})
		}
	}
	return out
}

// orList writes "a, b or c".
func orList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// human formats a duration without trailing zero units: 720h, 1h30m, 15m.
func human(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// validToken reports whether s is a non-empty RFC 9110 token, the syntax of
// a cookie name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

var (
	gatewayPrefix = regexp.MustCompile(`^(/[A-Za-z0-9_~-]+)+$`)
	headerName    = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
)

// pathMatches is the cookie path-match of RFC 6265bis §5.1.4: a cookie
// with Path cookiePath is sent with a request for reqPath.
func pathMatches(reqPath, cookiePath string) bool {
	if reqPath == cookiePath {
		return true
	}
	return strings.HasPrefix(reqPath, cookiePath) && (strings.HasSuffix(cookiePath, "/") || reqPath[len(cookiePath)] == '/')
}

func validOrigin(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" {
		return false
	}
	if !strings.EqualFold(u.Scheme, "https") && !strings.EqualFold(u.Scheme, "http") {
		return false
	}
	if strings.Contains(u.Host, "*") {
		return false
	}
	return u.Path == "" && u.RawQuery == "" && u.Fragment == "" && !u.ForceQuery && !strings.HasSuffix(s, "#")
}

// listenersOverlap reports whether listeners on the host:port addresses a
// and b would bind the same port on a shared address, so the second fails
// with "address already in use": the same port, and hosts that overlap.
// A wildcard host ("", 0.0.0.0, ::) overlaps every host (Go listens on
// both families for either); localhost is 127.0.0.1, the one address Go
// binds for it (a name's first IPv4 address), so localhost and ::1 can
// share a port; other names are compared as spelt, since the validator
// resolves nothing.
func listenersOverlap(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	na, errNA := strconv.Atoi(pa)
	nb, errNB := strconv.Atoi(pb)
	if errA != nil || errB != nil || errNA != nil || errNB != nil || na != nb {
		return false
	}
	xa, xb := listenHosts(ha), listenHosts(hb)
	if xa == nil || xb == nil {
		return true
	}
	return slices.ContainsFunc(xa, func(h string) bool { return slices.Contains(xb, h) })
}

// listenHosts returns the addresses a listen host binds, in one spelling
// each; nil for a wildcard.
func listenHosts(host string) []string {
	if host == "" {
		return nil
	}
	if strings.EqualFold(host, "localhost") {
		return []string{"127.0.0.1"}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip = ip.Unmap(); ip.IsUnspecified() {
			return nil
		}
		return []string{ip.String()}
	}
	return []string{strings.ToLower(host)}
}

// sameWebhookURL: a and b are the same URL, scheme and host in any case.
func sameWebhookURL(a, b string) bool {
	ua, errA := url.Parse(a)
	ub, errB := url.Parse(b)
	if errA != nil || errB != nil {
		return a == b
	}
	ua.Scheme, ua.Host = strings.ToLower(ua.Scheme), strings.ToLower(ua.Host)
	ub.Scheme, ub.Host = strings.ToLower(ub.Scheme), strings.ToLower(ub.Host)
	return ua.String() == ub.String()
}

// sharedEvents says which event types two webhooks' lists both deliver
// (an empty list is every type), for a message; ok is false when none.
func sharedEvents(a, b []string) (string, bool) {
	switch {
	case len(a) == 0 && len(b) == 0:
		return "both receive every event", true
	case len(a) == 0:
		a, b = b, a
	}
	for _, t := range a {
		if len(b) == 0 || slices.Contains(b, t) {
			return fmt.Sprintf("both receive %s", t), true
		}
	}
	return "", false
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"))
	return err == nil && ip.IsLoopback()
}

// redactURL prints u without credentials, query or more than its first
// path segment, which may hold tokens (Slack- and Discord-style webhook
// URLs keep the secret in the path), as the console does.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.Fragment = ""
	c.RawPath = ""
	if first, rest, ok := strings.Cut(strings.TrimPrefix(c.Path, "/"), "/"); ok && rest != "" {
		c.Path = "/" + first
		return c.String() + "/…"
	}
	return c.String()
}

// ssfEndpointPrefix is ssf.EndpointPrefix (a test in internal/server
// keeps them equal): the outbox's name for a Shared Signals stream's
// deliveries, which no webhook name may start with.
const ssfEndpointPrefix = "ssf:"

// serverPaths are the first path segments of the server's own routes (the
// API, the OAuth routes, health, metrics, the JS client, the OpenAPI
// document, the console, the well-known documents): a gateway prefix or a
// Shared Signals receiver path under one of them takes its routes over or
// is hidden by them.
var serverPaths = []string{"v1", "oauth2", "healthz", "readyz", "metrics", "sdk", "openapi.json", "console", ".well-known"}

// serverPath returns the first segment of path when it is one of the
// server's own.
func serverPath(path string) (string, bool) {
	first, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return first, slices.Contains(serverPaths, first)
}
