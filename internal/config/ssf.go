package config

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// SSF configures sessiond as an OpenID Shared Signals receiver and
// transmitter.
type SSF struct {
	// Receivers: one per transmitter (identity provider).
	Receivers []SSFReceiver `yaml:"receivers"`
	// Transmitter: sessiond telling other systems when sessions end.
	Transmitter SSFTransmitter `yaml:"transmitter"`
}

// SSFTransmitter turns on /.well-known/ssf-configuration, the stream
// management API and SET delivery.
type SSFTransmitter struct {
	Enabled bool `yaml:"enabled"`
	// Issuer is the iss of every SET and the public origin of sessiond
	// (https://sessiond.example.com), where receivers reach it.
	Issuer string `yaml:"issuer"`
	// AllowPrivateEndpoints lets push streams deliver to loopback, private,
	// link-local and other non-public addresses, through the environment's
	// proxy. Off (the default outside development), such pushes are
	// refused: the receiver chooses endpoint_url, and sessiond connects
	// from inside the network. Development always allows them, as it
	// allows http.
	AllowPrivateEndpoints bool `yaml:"allow_private_endpoints"`
}

// SSFReceiver is one transmitter whose SETs end sessions.
type SSFReceiver struct {
	Name            string `yaml:"name"`
	Issuer          string `yaml:"issuer"`
	JWKSURL         string `yaml:"jwks_url"`
	Audience        string `yaml:"audience"`
	SubjectFormat   string `yaml:"subject_format"`
	SubjectTemplate string `yaml:"subject_template"`
	// SubjectIssuers are the iss an iss_sub subject may carry, besides
	// Issuer, when SubjectTemplate has no {iss}.
	SubjectIssuers []string `yaml:"subject_issuers"`
	// Delivery is push (the transmitter POSTs to Path, RFC 8935; the
	// default) or poll (sessiond polls PollURL, RFC 8936).
	Delivery        string `yaml:"delivery"`
	Path            string `yaml:"path"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	PollURL         string `yaml:"poll_url"`
	// PollInterval between polls once the transmitter has nothing more;
	// 0 means 30s.
	PollInterval Duration `yaml:"poll_interval"`
	// PollMaxAge is the oldest SET a poll accepts (by its iat); 0 means
	// ssf.DefaultPollMaxAge (7 days).
	PollMaxAge Duration `yaml:"poll_max_age"`
	// PollAuthorizationFile holds the Authorization header value sent with
	// every poll ("Bearer …"); SESSIOND_SSF_<NAME>_POLL_AUTHORIZATION
	// overrides it.
	PollAuthorizationFile string `yaml:"poll_authorization_file"`
}

// DefaultSSFPollMaxAge is the poll_max_age of a receiver that sets none
// (ssf.DefaultPollMaxAge; a test in internal/server keeps them equal).
const DefaultSSFPollMaxAge = 7 * 24 * time.Hour

// SSFDeliveryPush and SSFDeliveryPoll are the values of delivery.
const (
	SSFDeliveryPush = "push"
	SSFDeliveryPoll = "poll"
)

// httpsURL: an absolute https URL without credentials (http too in
// development).
func httpsURL(raw string, env string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Host != "" && u.User == nil &&
		(strings.EqualFold(u.Scheme, "https") || strings.EqualFold(u.Scheme, "http") && env == EnvDevelopment)
}

// ssfReceiverRule checks every ssf.receivers[] item the way serve needs it.
var ssfReceiverRule = Rule{
	ID: "SD-SSF-001", Severity: SeverityError,
	Title:     "Shared Signals receiver incomplete or invalid",
	Rationale: "A receiver acts on a SET only when it can verify who sent it and for whom: the issuer and audience it must carry, an https JWKS URL to verify its signature, a subject format to map its subject, and a push path of its own. A bearer token, when used, must be long enough not to be guessed.",
	Fix:       "give each ssf.receivers item a unique name, issuer, audience, an https jwks_url, subject_format email, iss_sub or opaque (subject_template containing {value}), and either delivery push with a unique path (starting with /, outside the server's own /v1, /oauth2, /console, /.well-known, /sdk, /healthz, /readyz, /metrics, /openapi.json and the gateway's prefix, such as /ssf/push/<name>) and optionally bearer_token_file holding 32 characters or more, or delivery poll with an https poll_url, a poll_interval shorter than poll_max_age and a poll_max_age (when set) between 5m and 720h",
	Check: func(in Input) []Issue {
		var out []Issue
		names, paths := map[string]bool{}, map[string]bool{}
		for i, r := range in.Config.SSF.Receivers {
			p := func(k string) string { return fmt.Sprintf("ssf.receivers.%d.%s", i, k) }
			if r.Name == "" || names[r.Name] {
				out = append(out, issue(p("name"), "ssf receiver %d needs a unique name", i))
			}
			names[r.Name] = true
			switch r.Delivery {
			case "", SSFDeliveryPush:
				first, taken := serverPath(r.Path)
				gw := in.Config.Gateway
				if gw.Enabled && (r.Path == gw.Prefix || strings.HasPrefix(r.Path, gw.Prefix+"/")) {
					first, taken = strings.TrimPrefix(gw.Prefix, "/"), true
				}
				switch {
				case !strings.HasPrefix(r.Path, "/") || paths[r.Path]:
					out = append(out, issue(p("path"), "ssf receiver %d path %q must start with / and be unique", i, r.Path))
				case taken:
					// Receivers are routed ahead of every other route: this
					// one would replace the server's own.
					out = append(out, issue(p("path"), "ssf receiver %d path %q lies under the server's own /%s", i, r.Path, first))
				}
				paths[r.Path] = true
			case SSFDeliveryPoll:
				if !httpsURL(r.PollURL, in.Env) {
					out = append(out, issue(p("poll_url"), "ssf receiver %d poll_url is not an absolute https URL without credentials", i))
				}
				maxAge := r.PollMaxAge.Std()
				if maxAge == 0 {
					maxAge = DefaultSSFPollMaxAge
				}
				switch {
				case r.PollInterval < 0:
					out = append(out, issue(p("poll_interval"), "ssf receiver %d poll_interval is negative", i))
				case r.PollInterval.Std() >= maxAge:
					// A SET issued just after a poll waits a whole interval
					// for the next one, and is then refused as too old.
					out = append(out, issue(p("poll_interval"), "ssf receiver %d poll_interval %s is not shorter than its poll_max_age %s: SETs issued between polls would be refused as too old", i, human(r.PollInterval.Std()), human(maxAge)))
				}
				// Under 5 minutes loses what an outage queued; over 30 days
				// keeps every SET's replay record that long.
				if r.PollMaxAge != 0 && (r.PollMaxAge < Duration(5*time.Minute) || r.PollMaxAge > Duration(30*24*time.Hour)) {
					out = append(out, issue(p("poll_max_age"), "ssf receiver %d poll_max_age must be between 5m and 720h", i))
				}
			default:
				out = append(out, issue(p("delivery"), "ssf receiver %d delivery %q is not push or poll", i, r.Delivery))
			}
			if r.Issuer == "" {
				out = append(out, issue(p("issuer"), "ssf receiver %d has no issuer", i))
			}
			if slices.Contains(r.SubjectIssuers, "") || len(r.SubjectIssuers) > 0 && r.SubjectFormat != "iss_sub" {
				out = append(out, issue(p("subject_issuers"), "ssf receiver %d subject_issuers holds an empty issuer, or subject_format is not iss_sub", i))
			}
			if r.Audience == "" {
				out = append(out, issue(p("audience"), "ssf receiver %d has no audience", i))
			}
			if !httpsURL(r.JWKSURL, in.Env) {
				out = append(out, issue(p("jwks_url"), "ssf receiver %d jwks_url is not an absolute https URL without credentials", i))
			}
			switch r.SubjectFormat {
			case "email", "iss_sub", "opaque":
			default:
				out = append(out, issue(p("subject_format"), "ssf receiver %d subject_format %q is not email, iss_sub or opaque", i, r.SubjectFormat))
			}
			if r.SubjectTemplate != "" && !strings.Contains(r.SubjectTemplate, "{value}") {
				out = append(out, issue(p("subject_template"), "ssf receiver %d subject_template has no {value}", i))
			}
			if r.BearerTokenFile != "" {
				// Trimmed of all white space, as the server trims the token
				// it compares (internal/server/ssf.go): measured as used.
				if b, ok := readSecret(r.BearerTokenFile); !ok || len(bytes.TrimSpace(b)) < 32 {
					out = append(out, issue(p("bearer_token_file"), "ssf receiver %d bearer_token_file is unreadable or holds fewer than 32 characters", i))
				}
			}
		}
		return out
	},
}

// ssfTransmitterRule checks ssf.transmitter.
var ssfTransmitterRule = Rule{
	ID: "SD-SSF-002", Severity: SeverityError,
	Title:     "Shared Signals transmitter cannot sign verifiable SETs",
	Rationale: "Receivers find the transmitter and its keys from its issuer, so it must be the public https origin of sessiond; and they verify each SET with the published JWKS, which never holds an HS256 secret.",
	Fix:       "set ssf.transmitter.issuer to sessiond's public https origin (no path) and use jwt.algorithm EdDSA or ES256",
	Check: func(in Input) []Issue {
		t := in.Config.SSF.Transmitter
		if !t.Enabled {
			return nil
		}
		var out []Issue
		u, err := url.Parse(t.Issuer)
		if !httpsURL(t.Issuer, in.Env) || err != nil || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
			out = append(out, issue("ssf.transmitter.issuer", "ssf.transmitter.issuer %q is not an https origin without a path", t.Issuer))
		}
		if strings.EqualFold(in.Config.JWT.Algorithm, "HS256") {
			out = append(out, issue("jwt.algorithm", "the ssf transmitter cannot sign SETs with HS256: its secret is never published"))
		}
		return out
	},
}

// ssfPrivateEndpointsRule warns of ssf.transmitter.allow_private_endpoints
// outside development.
var ssfPrivateEndpointsRule = Rule{
	ID: "SD-SSF-003", Severity: SeverityWarning,
	Title:     "Shared Signals push streams may reach internal addresses",
	Rationale: "A push stream's endpoint_url is chosen by whoever holds an API key with the ssf scope, often another organisation, and sessiond connects to it from inside the network: allowed to reach loopback, private and link-local addresses, a stream makes sessiond send requests to internal services and to the cloud metadata endpoint (server-side request forgery: CWE-918, OWASP Server-Side Request Forgery Prevention Cheat Sheet).",
	Fix:       "remove ssf.transmitter.allow_private_endpoints; keep it only when every receiver is internal and trusted, or an egress proxy or firewall limits where sessiond connects",
	Check: func(in Input) []Issue {
		if in.production() && in.Config.SSF.Transmitter.AllowPrivateEndpoints {
			return []Issue{issue("ssf.transmitter.allow_private_endpoints",
				"ssf.transmitter.allow_private_endpoints is true outside development: push streams may deliver to loopback, private and link-local addresses, cloud metadata included")}
		}
		return nil
	},
}

// ssfGuessableRule is SD-SSF-004: a receiver's push token or poll
// credential that looks typed rather than random.
var ssfGuessableRule = Rule{
	ID: "SD-SSF-004", Severity: SeverityWarning,
	Title:     "Shared Signals credential looks typed, not random",
	Rationale: "A push token that can be guessed lets anyone reach the receiver's endpoint with SETs, and a poll credential that can be guessed lets anyone read the transmitter's queue and acknowledge SETs, which then never end the sessions they were sent for; a word, a phrase or a pattern repeated to length falls to guessing however long it is (RFC 6750 §5.2: bearer tokens unguessable). A warning: the SETs themselves are still verified with the transmitter's keys, and a poll credential is the transmitter's to issue.",
	Fix:       "set a random push token (openssl rand -base64 32) in bearer_token_file and at the transmitter; ask the transmitter for a random poll credential",
	Check: func(in Input) []Issue {
		var out []Issue
		for i, r := range in.Config.SSF.Receivers {
			// Trimmed as serve trims them (internal/server/ssf.go); a
			// token SD-SSF-001 finds short is reported there alone.
			if b, ok := readSecret(r.BearerTokenFile); r.BearerTokenFile != "" && ok {
				if tok := bytes.TrimSpace(b); len(tok) >= 32 && GuessableKey(tok) {
					out = append(out, issue(fmt.Sprintf("ssf.receivers.%d.bearer_token_file", i), "ssf receiver %d bearer_token_file %s looks like a word, a phrase or a repeated pattern, not random", i, r.BearerTokenFile))
				}
			}
			if r.Delivery != SSFDeliveryPoll || r.PollAuthorizationFile == "" {
				continue
			}
			if b, ok := readSecret(r.PollAuthorizationFile); ok && GuessableKey(credential(string(b))) {
				out = append(out, issue(fmt.Sprintf("ssf.receivers.%d.poll_authorization_file", i), "ssf receiver %d poll_authorization_file %s holds a credential that looks like a word, a phrase or a repeated pattern, not random", i, r.PollAuthorizationFile))
			}
		}
		return out
	},
}
