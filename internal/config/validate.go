package config

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/webhook"
)

// Severity of a finding.
type Severity string

// Severities, from most to least serious. Only errors stop the server and
// fail `sessiond config validate`.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Finding is one problem the validator reports, located in the file.
type Finding struct {
	RuleID   string   `json:"rule_id"`
	Severity Severity `json:"severity"`
	Path     string   `json:"path"`
	Line     int      `json:"line"`
	Column   int      `json:"column"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix"`
}

// Rule is one check of the validator. Rules are data: the table in
// rules.go is the single list the validator, the SARIF output and
// docs/config-rules.md are built from.
type Rule struct {
	ID        string   // stable, e.g. SD-COOKIE-001; never reused
	Severity  Severity // default severity; an Issue may raise or lower it
	Title     string   // one line
	Rationale string   // why it matters, with the standard it comes from
	Fix       string   // how to fix it
	Check     func(in Input) []Issue
}

// Input is what a rule checks: the configuration, the environment it is
// checked for (development or production) and the resolved lifetimes.
type Input struct {
	Config Config
	Env    string             // EnvProduction or EnvDevelopment
	Life   sessiond.Lifetimes // Config.Lifetimes(), with b2c as the fallback for an unknown preset
	Doc    *Document          // may be nil
}

// Issue is what a Check returns: the key it is about and the message.
// Zero Severity and empty Fix mean the rule's own. Line and Column, when
// set, override the position looked up from Path.
type Issue struct {
	Path     string
	Message  string
	Severity Severity
	Fix      string
	Line     int
	Column   int
}

func (in Input) production() bool { return in.Env != EnvDevelopment }

func (in Input) tokens() bool { return in.Config.Strategy != sessiond.StrategyDatabase }

// signs: serve keeps a signing key ring, for the strategy's tokens or the
// Shared Signals transmitter's SETs, and builds a JWT codec with the jwt
// section.
func (in Input) signs() bool { return in.tokens() || in.Config.SSF.Transmitter.Enabled }

// Validate checks cfg against every rule and returns the findings sorted by
// position. doc, when not nil, supplies positions, and its field errors are
// reported as SD-SCHEMA-001 (unknown key) and SD-SCHEMA-002 (wrong type or
// bad value). env is "development" or "production"; "" takes
// cfg.Environment, and anything but "development" is checked as production.
//
// Validate does no I/O except reading the secret files the configuration
// names, only to judge the keys they hold (length, whether they look
// random), and looking up the mode of each (SecretFiles). It is safe for
// concurrent use.
func Validate(cfg Config, doc *Document, env string) []Finding {
	if env == "" {
		env = cfg.Environment
	}
	if env != EnvDevelopment {
		env = EnvProduction
	}
	life, err := cfg.Lifetimes()
	if err != nil {
		fallback := cfg
		fallback.Preset = sessiond.PresetB2C
		life, _ = fallback.Lifetimes()
	}
	in := Input{Config: cfg, Env: env, Life: life, Doc: doc}
	var out []Finding
	for _, r := range rules {
		schema := r.ID == "SD-SCHEMA-001" || r.ID == "SD-SCHEMA-002"
		for _, is := range r.Check(in) {
			if !schema && doc.Refused(is.Path) {
				// SD-SCHEMA-002 reports the value once; the rule would
				// only judge the default standing in for it.
				continue
			}
			f := Finding{
				RuleID: r.ID, Severity: r.Severity, Path: is.Path,
				Line: is.Line, Column: is.Column, Message: is.Message, Fix: r.Fix,
			}
			if is.Severity != "" {
				f.Severity = is.Severity
			}
			if is.Fix != "" {
				f.Fix = is.Fix
			}
			if f.Line == 0 {
				f.Line, f.Column = positionOf(doc, is.Path)
			}
			out = append(out, f)
		}
	}
	SortFindings(out)
	return out
}

// positionOf locates path, falling back to `preset` for lifetimes that
// come from it.
func positionOf(doc *Document, path string) (int, int) {
	if !doc.Has(path) && (path == "lifetimes.access" || path == "lifetimes.refresh") && doc.Has("preset") {
		return doc.Position("preset")
	}
	return doc.Position(path)
}

// SortFindings orders findings by line, column, rule ID and path, the order
// every output format uses.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		if a.RuleID != b.RuleID {
			return a.RuleID < b.RuleID
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Message < b.Message
	})
}

// Rules returns the rule table, ordered by ID.
func Rules() []Rule {
	return append([]Rule(nil), rules...)
}

// Count returns the number of findings of each severity.
func Count(fs []Finding) (errs, warns, infos int) {
	for _, f := range fs {
		switch f.Severity {
		case SeverityError:
			errs++
		case SeverityWarning:
			warns++
		default:
			infos++
		}
	}
	return errs, warns, infos
}

// HS256SecretProblem says what SD-JWT-003 finds wrong with the HS256 key
// b ("is 12 bytes; at least 32 are required"), or "" when nothing: for
// serve to hold a key from SESSIOND_JWT_HS256_SECRET, which the validator
// never reads, to the rule a key file is held to.
func HS256SecretProblem(b []byte) string {
	switch {
	case len(b) < minHS256SecretBytes:
		return fmt.Sprintf("is %d bytes; at least %d are required", len(b), minHS256SecretBytes)
	case guessable(b):
		return notRandom
	}
	return ""
}

// notRandom is the finding's words for a key guessable takes for typed
// rather than random.
const notRandom = "repeats too few characters to be random (a word, a phrase or a pattern)"

// GuessableKey reports whether an API key an operator chose
// (SESSIOND_API_KEY), or a bearer token sessiond is given (a Shared
// Signals receiver's), looks like a word, a short phrase or a repeated
// pattern rather than random bytes: its bytes that repeat nothing before
// them (drawn), counted by how often each occurs, carry under 80 bits, or
// under 128 with a run of eight characters that comes back later. The
// HS256 secret's measure (guessable, under 128 bits alone) reads short
// random keys low: it flagged every 128-bit key in hex (about 96 to 125
// bits by this count) and one UUID in ten.
func GuessableKey(b []byte) bool {
	bits := entropyBits(drawn(b))
	return bits < 80 || bits < 128 && repeatsRun(b, 8)
}

// repeatsRun reports whether some n bytes of b occur again later in b,
// not overlapping.
func repeatsRun(b []byte, n int) bool {
	for i := 0; i+2*n <= len(b); i++ {
		if bytes.Contains(b[i+n:], b[i:i+n]) {
			return true
		}
	}
	return false
}

// guessable: the bytes of b that repeat nothing before them (drawn),
// counted by how often each occurs, carry under 128 bits (Shannon entropy
// per byte times their number), so b is a word, a phrase or a pattern
// rather than random bytes. By this measure 32 random bytes carry about
// 150 bits raw and over 200 in base64 or hex; "passwordpassword…" of the
// same length about 90, and a phrase repeated to length what the phrase
// carries once.
func guessable(b []byte) bool { return entropyBits(drawn(b)) < 128 }

// minRepeat is the shortest run of bytes drawn takes for a copy of an
// earlier one: random keys in the usual spellings repeat one with odds
// under one in a million (64 hex digits: about 2^-21), and then lose only
// those few bytes of their count.
const minRepeat = 8

// drawn returns the bytes of b less every run of minRepeat or more bytes
// that copies bytes before it (the copy may overlap its source, as in
// "abcabcabcabc"), as a compressor would encode them: a phrase typed
// again and again counts once. For a random key it is b.
func drawn(b []byte) []byte {
	if len(b) <= minRepeat {
		return b
	}
	// The first place each run of minRepeat bytes starts at.
	first := make(map[[minRepeat]byte]int, len(b))
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		if i+minRepeat > len(b) {
			out = append(out, b[i:]...)
			break
		}
		j, seen := first[[minRepeat]byte(b[i:i+minRepeat])]
		if !seen {
			first[[minRepeat]byte(b[i:i+minRepeat])] = i
			out = append(out, b[i])
			i++
			continue
		}
		n := minRepeat
		for i+n < len(b) && b[j+n] == b[i+n] {
			n++
		}
		// A later copy may take its source in this one.
		for k := i; k < i+n && k+minRepeat <= len(b); k++ {
			if _, ok := first[[minRepeat]byte(b[k:k+minRepeat])]; !ok {
				first[[minRepeat]byte(b[k:k+minRepeat])] = k
			}
		}
		i += n
	}
	return out
}

// entropyBits is the Shannon entropy of b's bytes, counted by how often
// each occurs, times its length.
func entropyBits(b []byte) float64 {
	var count [256]int
	for _, c := range b {
		count[c]++
	}
	bits := 0.0
	for _, n := range count {
		if n > 0 {
			p := float64(n) / float64(len(b))
			bits -= float64(n) * math.Log2(p)
		}
	}
	return bits
}

// webhookKey is the key of a webhook secret file, which must hold a
// Standard Webhooks secret (whsec_ and base64). valid is false when the
// file is readable but holds no such secret.
func webhookKey(file string) (key []byte, valid, ok bool) {
	b, ok := readSecret(file)
	if !ok {
		return nil, false, false
	}
	key, err := webhook.ParseSecret(string(b)) // which trims white space, as the server's call does
	if err != nil {
		// ParseSecret also refuses keys under 24 bytes: tell those apart.
		return nil, false, true
	}
	return key, true, true
}

// kekKey is the key of a KEK file as signing.ParseKEK reads it (base64,
// standard or URL alphabet, padded or not, of exactly 32 bytes, white
// space around it ignored); ok is false when the file is unreadable or
// holds no such key (serve refuses it, naming the file).
func kekKey(file string) ([]byte, bool) {
	b, ok := readSecret(file)
	if !ok {
		return nil, false
	}
	return kekDecode(string(b))
}

// kekDecode is kekKey of a KEK given as text.
func kekDecode(text string) ([]byte, bool) {
	s := strings.TrimSpace(text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			return k, len(k) == kekBytes
		}
	}
	return nil, false
}

// GuessableKEK reports whether a KEK given as text (SESSIOND_KEK, the
// base64 of 32 bytes) decodes to a key that looks typed, by SD-JWT-012's
// measure; false for text that is not such a key (serve refuses it).
func GuessableKEK(text string) bool {
	k, ok := kekDecode(text)
	return ok && guessable(k)
}

// GuessableCredential reports whether the secret of an Authorization
// header value (SESSIOND_SSF_<NAME>_POLL_AUTHORIZATION) looks typed, by
// SD-SSF-004's measure.
func GuessableCredential(header string) bool { return GuessableKey(credential(header)) }

// kekBytes is signing.KEKSize (a test keeps them equal).
const kekBytes = 32

// credential is the secret of an Authorization header value, as a
// Shared Signals receiver sends it when it polls: what follows the scheme
// ("Bearer …"), and of Basic credentials the password.
func credential(header string) []byte {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok {
		return []byte(scheme) // no scheme: the value is the credential
	}
	rest = strings.TrimSpace(rest)
	if strings.EqualFold(scheme, "Basic") {
		if b, err := base64.StdEncoding.DecodeString(rest); err == nil {
			if _, pass, ok := strings.Cut(string(b), ":"); ok {
				return []byte(pass)
			}
		}
	}
	return []byte(rest)
}

// readSecret returns the content of a secret file less its final line
// breaks (TrimLineEnds: the HS256 key exactly as serve uses it), or false
// when ReadSecretFile refuses it (missing, not a regular file, too large).
func readSecret(file string) ([]byte, bool) {
	b, err := ReadSecretFile(file)
	if err != nil {
		return nil, false
	}
	return TrimLineEnds(b), true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
