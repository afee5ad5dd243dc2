// Package anomaly decides whether the client of a request still looks like
// the one its session was issued to: same network, same browser and OS
// family, not too many networks at once, the same device at refresh. It is
// pure logic with no I/O; the caller acts on the findings (log, alert,
// step-up, revoke). The rules and where each one can run are described in
// docs/anomaly.md.
package anomaly

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"

	"github.com/sessiond/sessiond"
)

// Action is what the caller does when a rule fires: the Manager's own
// vocabulary, so a Finding needs no translation.
type Action = sessiond.AnomalyAction

// Actions, weakest first (documented on sessiond.AnomalyAction).
const (
	ActionLog    = sessiond.AnomalyLog
	ActionAlert  = sessiond.AnomalyAlert
	ActionStepUp = sessiond.AnomalyStepUp
	ActionRevoke = sessiond.AnomalyRevoke
)

func rank(a Action) int {
	switch a {
	case ActionLog:
		return 1
	case ActionAlert:
		return 2
	case ActionStepUp:
		return 3
	case ActionRevoke:
		return 4
	}
	return 0
}

// Rule names a detector.
type Rule = sessiond.AnomalyRule

// The rules, in the order Check reports them.
const (
	RuleIPChange            Rule = "ip_change"
	RuleUserAgentChange     Rule = "user_agent_change"
	RuleDistinctIPs         Rule = "distinct_ips"
	RuleRefreshDeviceChange Rule = "refresh_device_change"
)

const numRules = 4

// index returns the rule's position in Detector.actions, or -1.
func index(r Rule) int {
	switch r {
	case RuleIPChange:
		return 0
	case RuleUserAgentChange:
		return 1
	case RuleDistinctIPs:
		return 2
	case RuleRefreshDeviceChange:
		return 3
	}
	return -1
}

// ValidRule reports whether r is one of the four rules.
func ValidRule(r Rule) bool { return index(r) >= 0 }

// Rules returns every rule, in the order Check reports them.
func Rules() []Rule {
	return []Rule{RuleIPChange, RuleUserAgentChange, RuleDistinctIPs, RuleRefreshDeviceChange}
}

// DefaultActions returns a new map with the default action of every rule:
// ip_change log, user_agent_change step_up, distinct_ips alert,
// refresh_device_change revoke.
func DefaultActions() map[Rule]Action {
	return map[Rule]Action{
		RuleIPChange:            ActionLog,
		RuleUserAgentChange:     ActionStepUp,
		RuleDistinctIPs:         ActionAlert,
		RuleRefreshDeviceChange: ActionRevoke,
	}
}

// Stage is the operation a request performs.
type Stage = sessiond.AnomalyStage

// Stages.
const (
	Verify  = sessiond.StageVerify
	Refresh = sessiond.StageRefresh
)

// Defaults and limits of Options.
const (
	DefaultIPv4Prefix          = 24
	DefaultIPv6Prefix          = 64
	DefaultDistinctIPWindow    = 10 * time.Minute
	DefaultDistinctIPThreshold = 3
	DefaultMaxTracked          = 100_000
	// MaxDistinctIPThreshold caps DistinctIPThreshold, which is also the
	// number of networks remembered per session.
	MaxDistinctIPThreshold = 64
)

// maxUserAgentBytes: only this much of a User-Agent is parsed, as
// sessiond.CleanClient keeps; real ones name their browser and OS well
// before it.
const maxUserAgentBytes = 512

// Options configure a Detector. Zero values take the documented defaults.
type Options struct {
	// IPv4Prefix and IPv6Prefix: two addresses in the same /IPv4Prefix
	// (IPv4) or /IPv6Prefix (IPv6) network are the same network, for every
	// rule. Defaults 24 and 64; they must be in 1–32 and 1–128.
	IPv4Prefix, IPv6Prefix int
	// DistinctIPWindow is the sliding window of distinct_ips. Default 10
	// minutes.
	DistinctIPWindow time.Duration
	// DistinctIPThreshold: distinct_ips fires when one session has been
	// seen from this many distinct networks within the window. Default 3;
	// it must be in 2–MaxDistinctIPThreshold.
	DistinctIPThreshold int
	// Actions gives each enabled rule its action. A rule missing from the
	// map is disabled, so a nil map disables them all; DefaultActions
	// returns the defaults. New copies the map.
	Actions map[Rule]Action
	// MaxTracked bounds the sessions distinct_ips remembers (about 170
	// bytes each at the default threshold); beyond it the least recently
	// seen session is forgotten. Default 100000.
	MaxTracked int
}

// Finding is one rule that fired: a sessiond.Anomaly, which the Manager
// acts on as it is. Detail is for logs and events: it is built only from
// fixed words, browser and OS family names and masked networks, never from
// the raw User-Agent, the session ID or a token.
type Finding = sessiond.Anomaly

// The Manager calls a Detector directly on verify and refresh.
var _ sessiond.AnomalyChecker = (*Detector)(nil)

// Detector evaluates the rules. It is safe for concurrent use. Its only
// state is the per-session memory of distinct_ips, bounded by
// Options.MaxTracked; a Detector without that rule keeps none.
type Detector struct {
	ua        *useragent.Parser
	v4, v6    int
	window    time.Duration
	threshold int
	actions   [numRules]Action // "" = disabled
	ips       *tracker         // nil when distinct_ips is disabled
}

// New validates opts and returns a Detector. Every problem is reported at
// once, each as a *sessiond.ArgumentError (matching
// sessiond.ErrInvalidArgument) naming the option.
func New(opts Options) (*Detector, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &sessiond.ArgumentError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	d := &Detector{
		v4:        cmp.Or(opts.IPv4Prefix, DefaultIPv4Prefix),
		v6:        cmp.Or(opts.IPv6Prefix, DefaultIPv6Prefix),
		window:    cmp.Or(opts.DistinctIPWindow, DefaultDistinctIPWindow),
		threshold: cmp.Or(opts.DistinctIPThreshold, DefaultDistinctIPThreshold),
	}
	maxTracked := cmp.Or(opts.MaxTracked, DefaultMaxTracked)
	if d.v4 < 1 || d.v4 > 32 {
		bad("ipv4_prefix", "must be in 1–32, got %d", d.v4)
	}
	if d.v6 < 1 || d.v6 > 128 {
		bad("ipv6_prefix", "must be in 1–128, got %d", d.v6)
	}
	if d.window < 0 {
		bad("distinct_ip_window", "must be positive, got %s", d.window)
	}
	if d.threshold < 2 || d.threshold > MaxDistinctIPThreshold {
		bad("distinct_ip_threshold", "must be in 2–%d, got %d", MaxDistinctIPThreshold, d.threshold)
	}
	if maxTracked < 0 {
		bad("max_tracked", "must be positive, got %d", maxTracked)
	}
	rules := make([]Rule, 0, len(opts.Actions))
	for r := range opts.Actions {
		rules = append(rules, r)
	}
	slices.Sort(rules) // report in a stable order
	for _, r := range rules {
		a := opts.Actions[r]
		switch {
		case !ValidRule(r):
			bad("actions."+string(r), "unknown rule %q (want ip_change, user_agent_change, distinct_ips or refresh_device_change)", r)
		case !a.Valid():
			bad("actions."+string(r), "unknown action %q (want log, alert, step_up or revoke)", a)
		default:
			d.actions[index(r)] = a
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("anomaly: %w", errors.Join(errs...))
	}
	if d.enabled(RuleDistinctIPs) {
		d.ips = newTracker(maxTracked, d.threshold, d.window)
	}
	if d.enabled(RuleUserAgentChange) || d.enabled(RuleRefreshDeviceChange) {
		// NewParser builds its trie once per process and shares it; it is
		// read-only after that.
		d.ua = useragent.NewParser()
	}
	return d, nil
}

func (d *Detector) enabled(r Rule) bool { return d.actions[index(r)] != "" }

// Action returns the action of rule r, or "" and false when r is disabled.
func (d *Detector) Action(r Rule) (Action, bool) {
	if i := index(r); i >= 0 && d.actions[i] != "" {
		return d.actions[i], true
	}
	return "", false
}

// Tracked returns how many sessions distinct_ips currently remembers.
func (d *Detector) Tracked() int {
	if d.ips == nil {
		return 0
	}
	return d.ips.len()
}

// Check compares the client of a request (current) with the client the
// session was issued to (issued) and returns the enabled rules that fire,
// in the order of Rules, or nil. stage is Verify or Refresh (anything else
// counts as Verify); refresh_device_change runs only at Refresh.
// distinct_ips counts the
// request under sessionID (skipped when it is empty) at now.
//
// Pass an empty issued Client when it is unknown (a stateless verify):
// then only distinct_ips can fire. IPs that do not parse as addresses are
// treated as unknown; pass clients through sessiond.CleanClient.
func (d *Detector) Check(now time.Time, stage Stage, sessionID sessiond.SessionID, issued, current sessiond.Client) []Finding {
	var fs []Finding
	ipOn, uaOn := d.enabled(RuleIPChange), d.enabled(RuleUserAgentChange)
	devOn := stage == Refresh && d.enabled(RuleRefreshDeviceChange)

	var netDiff, uaDiff string
	if ipOn || devOn {
		netDiff = d.networkDiff(issued.IP, current.IP)
	}
	if uaOn || devOn {
		uaDiff = d.userAgentDiff(issued.UserAgent, current.UserAgent)
	}
	if ipOn && netDiff != "" {
		fs = append(fs, d.finding(RuleIPChange, netDiff))
	}
	if uaOn && uaDiff != "" {
		fs = append(fs, d.finding(RuleUserAgentChange, uaDiff))
	}
	if d.ips != nil && sessionID != "" {
		if n, ok := d.network(current.IP); ok {
			if count, crossed := d.ips.observe(string(sessionID), n, now); crossed {
				f := d.finding(RuleDistinctIPs, "reached "+strconv.Itoa(count)+" distinct networks within "+d.window.String())
				f.Once = true // once per crossing: every one is recorded
				fs = append(fs, f)
			}
		}
	}
	if devOn && (netDiff != "" || uaDiff != "") {
		fs = append(fs, d.finding(RuleRefreshDeviceChange, "refresh from another device: "+join(netDiff, uaDiff)))
	}
	return fs
}

func (d *Detector) finding(r Rule, detail string) Finding {
	return Finding{Rule: r, Action: d.actions[index(r)], Detail: detail}
}

// network returns the /IPv4Prefix or /IPv6Prefix network of ip, an
// IPv4-mapped IPv6 address counting as IPv4 and a zone ignored; false if ip
// is empty or not an address.
func (d *Detector) network(ip string) (netip.Prefix, bool) {
	if ip == "" {
		return netip.Prefix{}, false
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	bits := d.v6
	if a.Is4() {
		bits = d.v4
	}
	p, err := a.Prefix(bits) // drops the zone
	return p, err == nil
}

// networkDiff describes how the network changed, or returns "" when it did
// not or either side is unknown.
func (d *Detector) networkDiff(issued, current string) string {
	if issued == current {
		return ""
	}
	from, ok := d.network(issued)
	if !ok {
		return ""
	}
	to, ok := d.network(current)
	if !ok || from == to {
		return ""
	}
	return "network changed from " + from.String() + " to " + to.String()
}

// userAgentDiff describes how the browser or OS family changed, or returns
// "" when neither did. A session issued without a User-Agent has nothing to
// compare with. When the parser recognises neither side, the strings
// themselves are compared.
func (d *Detector) userAgentDiff(issued, current string) string {
	if issued == current || issued == "" {
		return ""
	}
	ib, io := d.families(issued)
	if current == "" {
		return "user agent missing, was " + describe(ib, io)
	}
	cb, co := d.families(current)
	if ib == cb && io == co {
		if ib == "" && io == "" {
			return "unrecognised user agent changed"
		}
		return ""
	}
	var b strings.Builder
	if ib != cb {
		b.WriteString("browser changed from " + name(string(ib)) + " to " + name(string(cb)))
	}
	if io != co {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString("os changed from " + name(string(io)) + " to " + name(string(co)))
	}
	return b.String()
}

func (d *Detector) families(ua string) (agents.Browser, agents.OS) {
	if len(ua) > maxUserAgentBytes {
		ua = ua[:maxUserAgentBytes]
	}
	a := d.ua.Parse(ua)
	return a.Browser(), a.OS()
}

func describe(b agents.Browser, o agents.OS) string {
	return name(string(b)) + " on " + name(string(o))
}

func name(family string) string { return cmp.Or(family, "unknown") }

func join(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// Worst returns the strongest action among fs (revoke > step_up > alert >
// log), and false when fs is empty. Unknown actions rank below log.
func Worst(fs []Finding) (Action, bool) {
	if len(fs) == 0 {
		return "", false
	}
	worst := fs[0].Action
	for _, f := range fs[1:] {
		if rank(f.Action) > rank(worst) {
			worst = f.Action
		}
	}
	return worst, true
}
