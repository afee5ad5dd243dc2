package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/subject"
)

// Confirmation is what the operator types to run the kill switch.
const Confirmation = "REVOKE"

// maxIncidentSubjects bounds the subjects of one console kill switch.
const maxIncidentSubjects = 1000

type incidentView struct {
	Scope, Subjects, IssuedBefore, Reason string
	RotateKeys, Notify                    bool
	Confirmation                          string
	Enabled                               bool
	Reauth                                reauthView
}

// reauthView says on the kill switch form until when the operator's
// sign-in is recent enough to run it (recentOperator): a form submitted
// later is sent to the sign-in page first and what was typed is lost, so
// the operator is told before typing rather than after.
type reauthView struct {
	Shown  bool
	By     string // the last moment, UTC to the second
	In     int    // seconds left when the page was made, for console.js
	Due    bool   // the sign-in is already too old
	Window string // Options.RecentAuth in words
}

// reauth is the reauthView of r's console session.
func (c *Console) reauth(r *http.Request) reauthView {
	sess, ok := sessiond.FromContext(r.Context())
	if !ok {
		return reauthView{}
	}
	// As httpsession.RequireRecentAuth decides: too old once more than
	// RecentAuth has passed since the session was created.
	by := sess.CreatedAt.Add(c.o.RecentAuth)
	left := by.Sub(c.o.Clock.Now())
	return reauthView{Shown: true, By: when(by), In: max(0, int(left/time.Second)), Due: left < 0, Window: minutes(c.o.RecentAuth)}
}

func (c *Console) incidentPage(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	c.pages.render(w, r, http.StatusOK, "incident", pageData{Title: "Incident kill switch", Nav: "incident",
		Operator: operatorName(key), Data: incidentView{Scope: "subjects", Notify: true, Confirmation: Confirmation,
			Enabled: c.o.Incident != nil, Reauth: c.reauth(r)}})
}

// errTooLarge: the kill switch form's body is over maxIncidentFormBytes.
var errTooLarge = errors.New("the form is larger than " + strconv.Itoa(maxIncidentFormBytes>>10) +
	" KiB; send at most " + strconv.Itoa(maxIncidentSubjects) + " subjects")

// incidentQuoted follows "subject N" when that line of the kill switch
// begins with a double quote but is not a quoted subject (searchValue).
const incidentQuoted = `begins with a double quote but is not a subject quoted as the console shows one ("alice\u{200b}"); ` +
	`a subject that itself begins with " is given as shown, quoted, its quotes and backslashes escaped ("\"alice\"")`

// incidentBeforeQuote follows "subject N" when that line of the kill
// switch has white space or a format character before a double quote.
const incidentBeforeQuote = `has white space or an invisible character before its opening double quote; ` +
	`remove it, or give the whole subject quoted as the console shows it ("\u{20}\"alice\"")`

// incidentBOM follows "subject N" when that line begins with U+FEFF.
const incidentBOM = `begins with a byte order mark (U+FEFF), as a pasted file may; ` +
	`remove it, or give the subject quoted if it is part of it ("\u{feff}alice")`

// blankOrFormat: white space, or a character that shows as nothing.
func blankOrFormat(r rune) bool { return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) }

// incidentForm reads and checks the kill switch form.
func incidentForm(r *http.Request, v *incidentView, now time.Time) (httpapi.IncidentRequest, error) {
	var req httpapi.IncidentRequest
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return req, errTooLarge
		}
		return req, errors.New("the form could not be read")
	}
	f := r.PostForm
	v.Scope, v.Subjects, v.IssuedBefore, v.Reason = f.Get("scope"), f.Get("subjects"), f.Get("issued_before"), strings.TrimSpace(f.Get("reason"))
	v.RotateKeys, v.Notify = f.Get("rotate_keys") == "on", f.Get("notify") == "on"
	req.Reason, req.RotateKeys, req.Notify = v.Reason, v.RotateKeys, v.Notify
	switch v.Scope {
	case "all":
		req.All = true
	case "subjects":
		seen := make(map[string]struct{})
		for line := range strings.Lines(v.Subjects) {
			// Each line is a subject exactly as the API takes it: only the
			// line ending goes ("mallory " is not "mallory").
			s := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			if strings.TrimSpace(s) == "" {
				continue // a blank line, not the subject " "
			}
			n := strconv.Itoa(len(req.Subjects) + 1)
			// A line beginning with " is a subject as the console shows
			// it, read as a search reads it: pasted from a table cell,
			// `"alice\u{200b}"` must end alice's look-alike, not a subject
			// spelled with those quotes and backslashes, which anyone may
			// have signed up as.
			if len(s) > maxSearchText {
				return req, errors.New("subject " + n + " is longer than 256 bytes")
			}
			// What comes before a quote (a cell's indent, a pasted file's
			// byte order mark) would make the line a subject that merely
			// looks quoted; a leading BOM, one that merely looks plain.
			// Either is refused, not revoked as spelled.
			if !strings.HasPrefix(s, `"`) && strings.HasPrefix(strings.TrimLeftFunc(s, blankOrFormat), `"`) {
				return req, errors.New("subject " + n + " " + incidentBeforeQuote)
			}
			if strings.HasPrefix(s, "\ufeff") {
				return req, errors.New("subject " + n + " " + incidentBOM)
			}
			s, err := searchValue(s)
			if err != nil {
				return req, errors.New("subject " + n + " " + incidentQuoted)
			}
			// A loose bound before NFC, which can shrink a subject (one
			// pasted decomposed, from macOS): Clean holds the exact limit
			// to the form the API stores.
			if len(s) > 4*maxSubject {
				return req, errors.New("subject " + n + " is longer than 256 bytes")
			}
			clean, err := subject.Clean("subject", s)
			if err != nil {
				var ae *sessiond.ArgumentError
				if errors.As(err, &ae) {
					return req, errors.New("subject " + n + " " + ae.Msg)
				}
				return req, errors.New("subject " + n + " is not valid")
			}
			// Lines that read as one subject ("alice" and alice) are one:
			// the incident's record counts subjects, not lines.
			if _, ok := seen[clean]; ok {
				continue
			}
			seen[clean] = struct{}{}
			req.Subjects = append(req.Subjects, clean)
			if len(req.Subjects) > maxIncidentSubjects {
				return req, errors.New("give between 1 and 1000 subjects, one per line")
			}
		}
		if len(req.Subjects) == 0 {
			return req, errors.New("give between 1 and 1000 subjects, one per line")
		}
	case "issued_before":
		t, err := parseTime("issued before", strings.TrimSpace(v.IssuedBefore), now)
		if err != nil {
			return req, err
		}
		req.IssuedBefore = t
	default:
		return req, errors.New("choose what to revoke")
	}
	switch {
	case req.Reason == "":
		return req, errors.New("give a reason; it is recorded in the event log")
	case len(req.Reason) > 256 || strings.ContainsFunc(req.Reason, unicode.IsControl):
		return req, errors.New("the reason has at most 256 bytes and no control characters")
	case f.Get("confirm") != Confirmation:
		return req, errors.New("type " + Confirmation + " to confirm")
	}
	return req, nil
}

// incident runs the kill switch (the one behind POST /v1/revocations) and
// shows how many sessions it revoked.
func (c *Console) incident(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	v := incidentView{Confirmation: Confirmation, Enabled: c.o.Incident != nil, Reauth: c.reauth(r)}
	d := pageData{Title: "Incident kill switch", Nav: "incident", Operator: operatorName(key), Data: &v}
	if c.o.Incident == nil {
		d.Error = "The kill switch is not configured."
		c.pages.render(w, r, http.StatusNotImplemented, "incident", d)
		return
	}
	now := c.o.Clock.Now()
	req, err := incidentForm(r, &v, now)
	if err == nil {
		err = httpapi.CheckIncident(&req, now)
		var ae *sessiond.ArgumentError
		if errors.As(err, &ae) {
			err = errors.New(ae.Field + " " + ae.Msg)
		}
	}
	if err != nil {
		// The form comes back as typed, for the operator to correct and
		// send again; a field holding what no subject or reason may hold
		// (a terminal escape, a bidi override) comes back empty instead.
		v.Subjects, v.Reason = redisplay(v.Subjects, true), redisplay(v.Reason, false)
		d.Error = "Nothing was revoked: " + err.Error() + "."
		status := http.StatusBadRequest
		if errors.Is(err, errTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		c.pages.render(w, r, status, "incident", d)
		return
	}
	req.Reason = "console (" + key.ID + "): " + req.Reason
	n, err := c.o.Incident(httpapi.IncidentContext(w, r), req)
	if err != nil {
		c.log.ErrorContext(r.Context(), "console: kill switch", "key_id", key.ID, "revoked", n, "err", err)
		status := http.StatusServiceUnavailable
		if errors.Is(err, sessiond.ErrInvalidArgument) {
			status = http.StatusBadRequest
		}
		d.Error = "The kill switch failed after revoking " + strconv.Itoa(n) + " session(s); see the server log."
		if re, ok := errors.AsType[*sessiond.RevokeMatchingError](err); ok {
			// Sent again without a bound, it would be a new incident that
			// also revokes every session created since this one.
			d.Error += " To finish it, run it again with issued before " + re.IssuedBefore.UTC().Format(time.RFC3339Nano) +
				" (sessiond incident revoke … --issued-before); without that bound it would also revoke every session created since."
		}
		c.pages.render(w, r, status, "incident", d)
		return
	}
	c.log.WarnContext(r.Context(), "console: kill switch", "key_id", key.ID, "revoked", n, "all", req.All,
		"subjects", len(req.Subjects), "rotate_keys", req.RotateKeys)
	d.Notice = "Revoked " + strconv.Itoa(n) + " session(s)."
	if req.RotateKeys {
		d.Notice += " Signing keys retired and replaced."
	}
	v.Subjects, v.Reason, v.IssuedBefore = "", "", ""
	c.pages.render(w, r, http.StatusOK, "incident", d)
}

// redisplay is s to show again in a form field, or "" if s holds invalid
// UTF-8, a control character (but line breaks when lines is set) or a
// bidirectional formatting character: the field is sent back as shown, so
// it is shown whole or not at all, never altered.
func redisplay(s string, lines bool) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
		return (unicode.IsControl(r) && !(lines && (r == '\n' || r == '\r'))) || unicode.Is(unicode.Bidi_Control, r)
	}) {
		return ""
	}
	return s
}
