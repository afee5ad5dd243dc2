package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// IncidentRequest is the body of POST /v1/revocations, the kill switch.
type IncidentRequest = apitype.Incident

// incidentWriteTime is how long the kill switch's answer may take to
// write, in place of server.write_timeout: revoking a million sessions
// takes seconds on every store, and the answer carries the count.
const incidentWriteTime = 10 * time.Minute

// POST /v1/revocations
func (s *server) incident(w http.ResponseWriter, r *http.Request) error {
	if s.incidentFn == nil {
		return notFound("the kill switch is not configured")
	}
	var req IncidentRequest
	bp := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(bp)
	body, err := s.readJSON(w, r, bp)
	if err != nil {
		return err
	}
	if err := s.decodeStrict(body, &req); err != nil {
		return err
	}
	// The zero time decodes as no issued_before at all, which would widen
	// the subjects given to every session of theirs: refused as the times
	// before the epoch are (CheckIncident). null is refused already.
	if req.IssuedBefore.IsZero() && hasMember(body, "issued_before") {
		return errIssuedBeforeEpoch
	}
	if err := CheckIncident(&req, s.clock.Now()); err != nil {
		return err
	}
	n, err := s.incidentFn(IncidentContext(w, r), req)
	if err != nil {
		return failedAfter(n, err)
	}
	writeJSON(w, http.StatusOK, "application/json", apitype.RevokedCount{Revoked: n})
	return nil
}

// errIssuedBeforeEpoch refuses an issued_before before the Unix epoch.
var errIssuedBeforeEpoch = &sessiond.ArgumentError{Field: "issued_before",
	Msg: "is before 1970-01-01T00:00:00Z, which no session is; check the year"}

// CheckIncident checks a kill switch request, for this API, the console and
// the CLI alike, and puts its subjects in the form sessions are stored
// under (NFC: a subject pasted in another Unicode form would match no
// session and revoke nothing). An issued_before more than a minute past
// now is refused: the Manager bounds it by its clock, so it would quietly
// mean every session (say all for that). One before the Unix epoch is
// refused too: no session is that old, so it is a typo, and one before Go's
// zero time reached the store as the zero time, no bound at all.
// The reason, optional here (the console and the CLI require one), is at
// most 256 bytes of text that prints as it reads: events carry it to
// terminals, pages and other programs.
func CheckIncident(req *IncidentRequest, now time.Time) error {
	if !req.All && len(req.Subjects) == 0 && req.IssuedBefore.IsZero() {
		return &sessiond.ArgumentError{Field: "all", Msg: "set all, subjects or issued_before"}
	}
	if len(req.Subjects) > 10000 {
		return &sessiond.ArgumentError{Field: "subjects", Msg: "at most 10000 per request"}
	}
	for i, subject := range req.Subjects {
		clean, err := cleanSubject(fmt.Sprintf("subjects[%d]", i), subject)
		if err != nil {
			return err
		}
		req.Subjects[i] = clean
	}
	if !req.IssuedBefore.IsZero() && req.IssuedBefore.Before(time.Unix(0, 0)) {
		return errIssuedBeforeEpoch
	}
	if req.IssuedBefore.Sub(now) > time.Minute {
		return &sessiond.ArgumentError{Field: "issued_before", Msg: "is in the future, which means every session; set all for that"}
	}
	if len(req.Reason) > 256 {
		return &sessiond.ArgumentError{Field: "reason", Msg: "at most 256 bytes"}
	}
	// The reason goes into the event log and webhook payloads, which other
	// programs print: text, with line breaks and tabs (a ticket's note),
	// but no other control character (a terminal escape, NUL), no format
	// character (a bidirectional override, a zero-width space) and no
	// Unicode line separator.
	if !utf8.ValidString(req.Reason) || strings.ContainsFunc(req.Reason, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\t' || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
	}) {
		return &sessiond.ArgumentError{Field: "reason",
			Msg: "must be UTF-8 text without control characters (but line breaks and tabs), format or line-separator characters"}
	}
	return nil
}

// IncidentContext is the context to run the kill switch of request r in,
// for this API and the console. A kill switch stopped half way is worse
// than one that ends late: it runs to its end even when the client goes
// away (the watermark has already stopped every token; the store's record
// is what remains), and w's write deadline moves incidentWriteTime ahead
// so that server.write_timeout does not cut off the answer.
func IncidentContext(w http.ResponseWriter, r *http.Request) context.Context {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(incidentWriteTime))
	return context.WithoutCancel(r.Context())
}

// hasMember reports whether body, a JSON object decodeStrict accepted (no
// duplicate or case-variant keys), has the member name.
func hasMember(body []byte, name string) bool {
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil {
		return false
	}
	_, ok := members[name]
	return ok
}
