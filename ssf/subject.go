package ssf

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/subject"
)

// Subject formats a Receiver maps (RFC 9493 §3.2).
const (
	FormatEmail  = "email"
	FormatIssSub = "iss_sub"
	FormatOpaque = "opaque"
)

// DefaultTemplate maps the identifier's value to the subject unchanged.
const DefaultTemplate = "{value}"

// SubjectRule turns a subject identifier into a sessiond subject. Format
// is the identifier format the transmitter sends for users (email,
// iss_sub or opaque); Template builds the subject from "{value}" (the
// email, the sub of iss_sub, the id of opaque) and, for iss_sub, "{iss}".
// A complex identifier's "user" member is mapped by the same rule, and its
// "session" member (format opaque) names a sessiond session ID; a
// "session" member on a simple identifier is no RFC 9493 member and is
// ignored, so the event covers all the user's sessions (more than asked,
// never another user's).
type SubjectRule struct {
	Format   string
	Template string // default DefaultTemplate
	// Issuers are the iss an iss_sub identifier may carry when Template
	// has no {iss}. A sub is unique only within its iss (RFC 9493 §3.2.3),
	// so a subject mapped from the sub alone is another issuer's user's
	// namesake: acting on it would end the wrong user's sessions. New
	// adds Options.Issuer to it; with Template holding {iss},
	// every iss is accepted, the subject naming it. Empty (SubjectRule
	// used alone) accepts no iss_sub unless Template holds {iss}.
	Issuers []string
}

// Validate reports a rule that cannot map anything.
func (r SubjectRule) Validate() error {
	switch r.Format {
	case FormatEmail, FormatIssSub, FormatOpaque:
	default:
		return fmt.Errorf("ssf: subject_format %q: want email, iss_sub or opaque", r.Format)
	}
	if r.Template != "" && !strings.Contains(r.Template, "{value}") {
		return fmt.Errorf("ssf: subject template %q must contain {value}", r.Template)
	}
	return nil
}

// identifier is a subject identifier of any RFC 9493 format.
type identifier struct {
	Format  string          `json:"format"`
	Email   string          `json:"email"`
	Iss     string          `json:"iss"`
	Sub     string          `json:"sub"`
	ID      string          `json:"id"`
	User    json.RawMessage `json:"user"`
	Session json.RawMessage `json:"session"`
}

// Map returns the subject and the session ID (empty unless a complex
// identifier names one) the identifier designates. The subject is in the
// form the HTTP API stores subjects under (Unicode NFC), so a user named
// in another form is still the same user; a subject the API would refuse
// (control or bidirectional formatting characters, over
// sessiond.MaxSubjectBytes) is an ErrSubject, as is an identifier
// holding a member name twice or one of its names in other letters, or
// invalid UTF-8 or a lone surrogate escape (read as U+FFFD, another
// subject).
func (r SubjectRule) Map(raw json.RawMessage) (string, sessiond.SessionID, error) {
	var id identifier
	if len(raw) == 0 || json.Unmarshal(raw, &id) != nil {
		return "", "", fmt.Errorf("%w: not a JSON object", ErrSubject)
	}
	// Member names are case-sensitive and unique (RFC 9493 spells each
	// one; encoding/json takes "EMAIL" for email, and the last of two), as
	// the Receiver reads the claims around it.
	if err := identifierNames(raw); err != nil {
		return "", "", err
	}
	var session sessiond.SessionID
	if id.Format == "complex" {
		if len(id.Session) > 0 {
			var s identifier
			if json.Unmarshal(id.Session, &s) != nil || s.Format != FormatOpaque || s.ID == "" {
				return "", "", fmt.Errorf("%w: complex session must be an opaque identifier", ErrSubject)
			}
			if err := identifierNames(id.Session); err != nil {
				return "", "", err
			}
			session = sessiond.SessionID(s.ID)
		}
		if len(id.User) == 0 {
			return "", "", fmt.Errorf("%w: complex identifier without user", ErrSubject)
		}
		user := id.User
		id = identifier{}
		if json.Unmarshal(user, &id) != nil {
			return "", "", fmt.Errorf("%w: complex user is not an object", ErrSubject)
		}
		if err := identifierNames(user); err != nil {
			return "", "", err
		}
	}
	if id.Format != r.Format {
		return "", "", fmt.Errorf("%w: format %q, want %q", ErrSubject, id.Format, r.Format)
	}
	var value, iss string
	switch id.Format {
	case FormatEmail:
		value = id.Email
		if !strings.Contains(value, "@") {
			return "", "", fmt.Errorf("%w: email without @", ErrSubject)
		}
	case FormatIssSub:
		value, iss = id.Sub, id.Iss
		if iss == "" {
			return "", "", fmt.Errorf("%w: iss_sub without iss", ErrSubject)
		}
		if !strings.Contains(r.Template, "{iss}") && !slices.Contains(r.Issuers, iss) {
			return "", "", fmt.Errorf("%w: iss_sub of an issuer the receiver does not map (its sub may name another user)", ErrSubject)
		}
	case FormatOpaque:
		value = id.ID
	}
	if value == "" {
		return "", "", fmt.Errorf("%w: empty %s identifier", ErrSubject, id.Format)
	}
	tmpl := r.Template
	if tmpl == "" {
		tmpl = DefaultTemplate
	}
	mapped, err := subject.Clean("mapped subject", strings.NewReplacer("{value}", value, "{iss}", iss).Replace(tmpl))
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrSubject, err)
	}
	return mapped, session, nil
}

// identifierNames refuses raw, a subject identifier, when one of its
// objects holds a name twice or a name of identifier in other letters, or
// a string encoding/json would repair (wellFormed).
func identifierNames(raw json.RawMessage) error {
	if !wellFormed(raw) {
		return fmt.Errorf("%w: not valid UTF-8 (an invalid byte sequence or a lone surrogate escape)", ErrSubject)
	}
	if !distinctNames(raw) {
		return fmt.Errorf("%w: a member name appears twice", ErrSubject)
	}
	if name := caseVariant(raw, reflect.TypeFor[identifier]()); name != "" {
		return fmt.Errorf("%w: a member name differs from %s only in letter case (names are case-sensitive)", ErrSubject, name)
	}
	return nil
}
