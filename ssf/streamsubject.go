package ssf

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/subject"
)

// MaxStreamSubjects is how many subjects one stream holds.
const MaxStreamSubjects = 1000

// maxSubjectValue bounds a subject or session identifier a receiver adds.
const maxSubjectValue = 512

// StreamSubject is one subject added to a stream, as sessiond knows it: a
// sessiond subject, a session ID, or both (a complex identifier naming a
// user and one of their sessions).
type StreamSubject struct {
	Subject string `json:"subject,omitempty"`
	Session string `json:"session,omitempty"`
}

// matches reports whether an event about subject (and session, empty for
// a subject-wide event) is about ss. A session alone matches that
// session's session-revoked only; with a user it also matches the user's
// subject-wide events.
func (ss StreamSubject) matches(subject string, session sessiond.SessionID) bool {
	switch {
	case ss.Session != "" && session != "":
		return ss.Session == string(session) && (ss.Subject == "" || ss.Subject == subject)
	case ss.Session != "":
		return ss.Subject != "" && ss.Subject == subject
	}
	return ss.Subject == subject
}

// about reports whether the stream gets an event about subject and
// session: always until a subject is added, then only about those added.
func (st Stream) about(subject string, session sessiond.SessionID) bool {
	if !st.Filtered {
		return true
	}
	return slices.ContainsFunc(st.Subjects, func(ss StreamSubject) bool { return ss.matches(subject, session) })
}

// streamSubject reads a subject identifier (RFC 9493) a receiver adds or
// removes: iss_sub with this transmitter's issuer (sub is the sessiond
// subject), opaque (id is the sessiond subject), or complex with a user of
// either format and/or a session (opaque: the session ID). The formats
// sessiond cannot resolve (email, phone_number, …) are refused.
func (t *Transmitter) streamSubject(raw json.RawMessage) (StreamSubject, error) {
	var id identifier
	if len(raw) == 0 || json.Unmarshal(raw, &id) != nil {
		return StreamSubject{}, badRequest("subject must be a subject identifier object")
	}
	// Member names are matched exactly, as in decode.
	if err := exactNames(raw, reflect.TypeFor[identifier]()); err != nil {
		return StreamSubject{}, err
	}
	user := func(id identifier) (string, error) {
		var v string
		switch id.Format {
		case FormatIssSub:
			if id.Iss != t.o.Issuer {
				return "", badRequest("an iss_sub subject must name this transmitter's issuer")
			}
			v = id.Sub
		case FormatOpaque:
			v = id.ID
		default:
			return "", badRequest("subject format must be iss_sub, opaque or complex")
		}
		if v == "" || len(v) > maxSubjectValue {
			return "", badRequest("subject identifier is empty or too long")
		}
		// Events carry subjects as the API stores them (NFC): a subject
		// added in another form would match none of them.
		v, err := subject.Normalize("subject", v)
		if err != nil {
			return "", badRequest("subject identifier: " + err.Error())
		}
		return v, nil
	}
	if id.Format != "complex" {
		s, err := user(id)
		return StreamSubject{Subject: s}, err
	}
	var out StreamSubject
	if len(id.User) > 0 {
		var u identifier
		if json.Unmarshal(id.User, &u) != nil {
			return StreamSubject{}, badRequest("complex subject's user must be a subject identifier object")
		}
		if err := exactNames(id.User, reflect.TypeFor[identifier]()); err != nil {
			return StreamSubject{}, err
		}
		var err error
		if out.Subject, err = user(u); err != nil {
			return StreamSubject{}, err
		}
	}
	if len(id.Session) > 0 {
		var s identifier
		if err := exactNames(id.Session, reflect.TypeFor[identifier]()); err != nil {
			return StreamSubject{}, err
		}
		if json.Unmarshal(id.Session, &s) != nil || s.Format != FormatOpaque || s.ID == "" || len(s.ID) > maxSubjectValue {
			return StreamSubject{}, badRequest("complex subject's session must be an opaque identifier")
		}
		out.Session = s.ID
	}
	if out == (StreamSubject{}) {
		return StreamSubject{}, badRequest("complex subject must name a user or a session")
	}
	return out, nil
}

// serveSubject adds a subject to a stream or removes one (SSF 1.0
// §8.1.3.2, §8.1.3.3): 200 once added (adding one already there changes
// nothing), 204 once removed, 404 when the stream or, on removal, the
// subject is not there.
func (t *Transmitter) serveSubject(w http.ResponseWriter, r *http.Request, c Caller, add bool) error {
	var req struct {
		StreamID string          `json:"stream_id"`
		Subject  json.RawMessage `json:"subject"`
		Verified *bool           `json:"verified"` // accepted; sessiond does not act on it
	}
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.StreamID == "" {
		return errNoStreamID
	}
	ss, err := t.streamSubject(req.Subject)
	if err != nil {
		return err
	}
	err = t.streams.update(r.Context(), func(l []Stream) ([]Stream, error) {
		i := slices.IndexFunc(l, func(s Stream) bool { return s.ID == req.StreamID && c.sees(s) })
		if i < 0 {
			return nil, errNoStream
		}
		st := &l[i]
		has := slices.Contains(st.Subjects, ss)
		switch {
		case add && has:
		case add && len(st.Subjects) >= MaxStreamSubjects:
			return nil, &RequestError{http.StatusConflict, "invalid_request", "the stream holds the most subjects allowed"}
		case add:
			st.Subjects = append(slices.Clone(st.Subjects), ss)
		case !has:
			return nil, &RequestError{http.StatusNotFound, "not_found", "the subject is not in the stream"}
		default:
			st.Subjects = slices.DeleteFunc(slices.Clone(st.Subjects), func(x StreamSubject) bool { return x == ss })
		}
		st.Filtered = true
		return l, nil
	})
	if err != nil {
		return err
	}
	if add {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
