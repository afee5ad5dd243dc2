package console

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/newestfirst"
	"github.com/sessiond/sessiond/internal/subject"
)

// maxSubject is the API's bound of a subject, held by subject.Clean after
// NFC; the event filter and the kill switch bound the raw text only
// loosely (4×) before cleaning it.
const maxSubject = sessiond.MaxSubjectBytes

// sessionRow is one live session on the sessions page (Manager.ListPage
// returns live sessions only; State still says why one has just ended).
type sessionRow struct {
	sessiond.Session
	Device    string // from the User-Agent
	State     string // live, revoked (reason), expired, idle
	Anomalies []string
	Bound     bool // bound to a device key (DBSC)
}

// The sessions page reads a subject's sessions newest first, a page of
// sessionsPageRead at a time, until it has sessionsPageRows rows to show
// (the filters may leave some out) or it has read sessionsPageBudget
// sessions, whichever comes first: a request's cost is bounded however many
// sessions the subject has (100,000 of them read at once allocated about
// 910 MB). Older sessions are on the next page (?cursor=).
const (
	sessionsPageRows   = 100
	sessionsPageRead   = 100
	sessionsPageBudget = 1000
)

type sessionsView struct {
	Subject    string
	IP, Device string // the filters, as typed
	Cursor     string // where this page starts; "" for the newest
	Searched   bool
	Filtered   bool         // IP or device narrowed the subject's sessions
	Rows       []sessionRow // the ones matching the filters
	// Read: the subject's live sessions this page read. When Whole, they
	// are every one of them and Read is the subject's total.
	Read  int
	Whole bool
	Live  int // of Rows
	// Hidden: the subject's sessions the filters leave out (when Whole).
	// Revoke others and revoke all end them too, and their buttons say
	// so (OthersLabel), as they end the sessions of other pages.
	Hidden int
	// Older is the query of the page of older sessions, Newest of the
	// first page ("" when there is none: this is the last, or the first).
	Older, Newest template.URL
}

// OthersLabel is the text of a row's "revoke others" button: when the page
// does not show every other session of the subject (filters hide some,
// or they are on other pages) it says that it ends those too, which
// "Revoke others" beside the rows shown did not.
func (v sessionsView) OthersLabel() string {
	switch {
	case !v.Whole:
		return "Revoke all others (including those not shown)"
	case v.Hidden == 0:
		return "Revoke others"
	}
	return fmt.Sprintf("Revoke all others (%d, including %d not shown)", v.Read-1, v.Hidden)
}

// Budget and RowsWanted are the page's bounds, for its text.
func (sessionsView) Budget() int     { return sessionsPageBudget }
func (sessionsView) RowsWanted() int { return sessionsPageRows }

// sessionFilter narrows a subject's sessions on the sessions page to an
// address or a network, and to a device. The store keeps no index of
// sessions by address or device, and reading every session on each
// request would not do on a large deployment: it filters the sessions of
// one subject, which the page reads anyway.
type sessionFilter struct {
	network netip.Prefix // valid when set
	device  string       // lower case; "" matches every device
}

// Bounds of the sessions page's filters.
const (
	maxIPFilter     = 64
	maxDeviceFilter = 256
)

// parseSessionFilter reads the IP filter (an address, or a network in
// CIDR notation; an IPv4 address is the same as its IPv4-mapped IPv6 form,
// so an IPv6 network of /80 or longer holding that form matches it; a
// wider one, ::/0 say, means IPv6 addresses, as gateway.trusted_proxies
// takes it)
// and the device filter (a word of the device shown or the User-Agent,
// in any case).
func parseSessionFilter(ip, dev string) (sessionFilter, error) {
	var f sessionFilter
	if ip = strings.TrimSpace(ip); ip != "" {
		bad := fmt.Errorf("%.*q is not an IP address or network (198.51.100.7, 198.51.100.0/24, 2001:db8::/32)", maxIPFilter, ip)
		if len(ip) > maxIPFilter {
			return f, bad
		}
		if strings.Contains(ip, "/") {
			p, err := netip.ParsePrefix(ip)
			if err != nil {
				return f, bad
			}
			if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
			}
			f.network = p.Masked()
		} else {
			a, err := netip.ParseAddr(ip)
			if err != nil || a.Zone() != "" {
				return f, bad
			}
			a = a.Unmap()
			f.network = netip.PrefixFrom(a, a.BitLen())
		}
	}
	dev = strings.TrimSpace(dev)
	switch {
	case len(dev) > maxDeviceFilter:
		return f, fmt.Errorf("the device filter is at most %d bytes", maxDeviceFilter)
	case strings.ContainsFunc(dev, func(r rune) bool { return unicode.IsControl(r) || unicode.In(r, unicode.Cf) }):
		return f, errors.New("the device filter holds control or formatting characters")
	}
	f.device = strings.ToLower(dev)
	return f, nil
}

func (f sessionFilter) set() bool { return f.network.IsValid() || f.device != "" }

// matches reports whether the session from ip, on the device shown as
// device with the User-Agent ua, passes f.
func (f sessionFilter) matches(ip, device, ua string) bool {
	if f.network.IsValid() {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return false
		}
		// An IPv6 network of /80 to /95 (::ffff:0:0/95, ::/80) may hold
		// IPv4-mapped addresses, and nothing else a session comes from.
		if a = a.Unmap(); !f.network.Contains(a) && !(a.Is4() && f.network.Bits() >= 80 && f.network.Contains(netip.AddrFrom16(a.As16()))) {
			return false
		}
	}
	return f.device == "" || strings.Contains(strings.ToLower(device), f.device) || strings.Contains(strings.ToLower(ua), f.device)
}

func (c *Console) sessionsPage(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	d := pageData{Title: "Sessions", Nav: "sessions", Operator: operatorName(key)}
	// A subject is exact (" alice" is not "alice") and takes the form the
	// API stores it under, whatever form it was pasted in. Quoted, it is
	// written as the console shows it (searchValue).
	raw := r.URL.Query().Get("subject")
	asked, qerr := searchValue(raw)
	if r.URL.Query().Has("revoked") {
		if n, err := strconv.Atoi(r.URL.Query().Get("revoked")); err == nil && n >= 0 {
			d.Notice = "Revoked " + strconv.Itoa(n) + " session(s)."
		}
		d.ReplaceURL = replaceNoticeURL(w, r, "revoked")
	}
	v := sessionsView{Subject: raw, IP: r.URL.Query().Get("ip"), Device: r.URL.Query().Get("device")}
	status := http.StatusOK
	clean, err := subject.Clean("subject", asked)
	var arg *sessiond.ArgumentError
	filter, ferr := parseSessionFilter(v.IP, v.Device)
	switch {
	case qerr != nil:
		d.Error, status = "Bad search: "+searchQuoted+".", http.StatusBadRequest
	case ferr != nil:
		d.Error, status = "Bad filter: "+ferr.Error()+".", http.StatusBadRequest
	case raw == "" && filter.set():
		d.Error, status = "The IP address and the device narrow a subject's sessions: enter the subject too. "+
			"The Events page shows each event's address.", http.StatusBadRequest
	case raw == "":
	case errors.As(err, &arg):
		d.Error, status = "That is not a valid subject: it "+arg.Msg+".", http.StatusBadRequest
	default:
		v.Subject, v.Searched, v.Filtered = clean, true, filter.set()
		v.Cursor = r.URL.Query().Get("cursor")
		now := c.o.Clock.Now()
		var anomalies map[sessiond.SessionID][]string
		read, next, err := c.readSessions(r, clean, v.Cursor, func(s sessiond.Session) bool {
			if anomalies == nil { // once there is a session to show them on
				anomalies = c.anomalies(r, clean)
			}
			row := sessionRow{Session: s, Device: c.device.describe(s.Client.UserAgent), State: "live", Anomalies: anomalies[s.ID], Bound: s.DeviceBound()}
			if !filter.matches(s.Client.IP, row.Device, s.Client.UserAgent) {
				return false
			}
			switch err := s.Check(now); {
			case errors.Is(err, sessiond.ErrRevoked):
				row.State = "revoked (" + string(s.RevokeReason) + ")"
			case errors.Is(err, sessiond.ErrIdleTimeout):
				row.State = "idle timeout"
			case err != nil:
				row.State = "expired"
			default:
				v.Live++
			}
			v.Rows = append(v.Rows, row)
			return true
		})
		if err != nil {
			v.Rows, v.Live = nil, 0
			d.Error, status = "Listing sessions failed; see the server log.", http.StatusServiceUnavailable
			switch {
			case errors.Is(err, sessiond.ErrUnsupported):
				d.Error, status = "This strategy keeps no sessions to list.", http.StatusNotImplemented
			case errors.Is(err, sessiond.ErrInvalidArgument):
				// The cursor: the subject has passed subject.Clean.
				d.Error, status = "That page of sessions does not exist: the link was not made by this page for this subject. "+
					"Start again from the newest sessions.", http.StatusBadRequest
				v.Searched = false
			default:
				c.logReadFailure(r.Context(), "console: list sessions", err)
			}
			break
		}
		v.Read, v.Whole = read, v.Cursor == "" && next == ""
		v.Hidden = v.Read - len(v.Rows)
		link := func(cursor string) template.URL {
			q := url.Values{"subject": {searchText(clean)}}
			for k, val := range map[string]string{"ip": v.IP, "device": v.Device, "cursor": cursor} {
				if val != "" {
					q.Set(k, val)
				}
			}
			return template.URL(q.Encode())
		}
		if next != "" {
			v.Older = link(next)
		}
		if v.Cursor != "" {
			v.Newest = link("")
		}
	}
	d.Data = v
	c.pages.render(w, r, status, "sessions", d)
}

// readSessions reads the page of subject's live sessions that starts at
// cursor ("" for the newest), newest first, as the constants above bound
// it, giving each to add, which reports whether it is a row to show. It
// returns how many it read and the cursor of the next page ("" when none
// is left).
func (c *Console) readSessions(r *http.Request, subject, cursor string, add func(sessiond.Session) bool) (n int, next string, err error) {
	rows, read := 0, 0
	req := sessiond.PageRequest{After: cursor, Newest: true}
	for {
		req.Limit = min(sessionsPageRead, sessionsPageBudget-read)
		page, err := c.o.Manager.ListPage(r.Context(), subject, req)
		if err != nil {
			return 0, "", err
		}
		read += req.Limit
		n += len(page.Sessions)
		for _, s := range page.Sessions {
			if add(s) {
				rows++
			}
		}
		if page.Next == "" || rows >= sessionsPageRows || read >= sessionsPageBudget {
			return n, page.Next, nil
		}
		req.After = page.Next
	}
}

// anomalyRead bounds the anomaly events the sessions page reads, the
// subject's newest: a subject long under attack can have many more.
const anomalyRead = sessiond.MaxEventLimit

// anomalies returns the anomaly rules that fired per session of subject,
// newest first, each once, from the subject's newest anomalyRead anomaly
// events when there is an event log. The log pages oldest first: the
// oldest events' rules would be stale, and hide the recent ones.
func (c *Console) anomalies(r *http.Request, subject string) map[sessiond.SessionID][]string {
	out := map[sessiond.SessionID][]string{}
	if c.o.Events == nil {
		return out
	}
	page := func(ctx context.Context, since, until time.Time, cursor string, limit int) ([]sessiond.Event, string, error) {
		return c.o.Events.QueryEvents(ctx, sessiond.EventQuery{Subject: subject, Type: sessiond.EventAnomaly,
			Since: since, Until: until, Cursor: cursor, Limit: limit})
	}
	// Other nodes' clocks may run ahead, as on the events page.
	evs, err := newestfirst.Read(r.Context(), page, time.Time{}, c.o.Clock.Now().Add(time.Minute), anomalyRead)
	if err != nil {
		c.log.WarnContext(r.Context(), "console: query anomalies", "err", err)
		return out
	}
	for _, e := range evs {
		rule, _ := e.Details["rule"].(string)
		if rule == "" {
			rule = "anomaly"
		}
		if !slices.Contains(out[e.SessionID], rule) {
			out[e.SessionID] = append(out[e.SessionID], rule)
		}
	}
	return out
}

// revokeForm reads and checks the subject and session ID of a revoke form.
// The subject is cleaned as the sessions page and the API clean it.
func revokeForm(r *http.Request, needID bool) (string, sessiond.SessionID, bool) {
	if err := r.ParseForm(); err != nil {
		return "", "", false
	}
	clean, err := subject.Clean("subject", r.PostForm.Get("subject"))
	id := sessiond.SessionID(r.PostForm.Get("id"))
	if err != nil || (needID && (id == "" || len(id) > 128)) {
		return "", "", false
	}
	return clean, id, true
}

// back answers a revoke form with the subject's sessions page, under the
// form's filters and on its page, saying how many sessions were revoked.
func (c *Console) back(w http.ResponseWriter, r *http.Request, subject string, n int) {
	q := url.Values{"subject": {searchText(subject)}, "revoked": {strconv.Itoa(n)}}
	for _, k := range []string{"ip", "device", "cursor"} {
		if v := r.PostForm.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	http.Redirect(w, r, Prefix+"/sessions?"+q.Encode(), http.StatusSeeOther)
}

func (c *Console) badForm(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	c.refuseRevoke(w, r, key, http.StatusBadRequest, "The form was incomplete or malformed.", "")
}

// refuseRevoke answers a revoke form with the sessions page saying msg.
// htmx puts a boosted form's answer in the history under the form's
// action, which answers GET with 405: a reload or Back (once the store is
// back) showed "Method Not Allowed". Under the subject's sessions page
// they list its sessions again.
func (c *Console) refuseRevoke(w http.ResponseWriter, r *http.Request, key apikey.Key, status int, msg, subject string) {
	to := Prefix + "/sessions"
	if subject != "" {
		to += "?" + url.Values{"subject": {searchText(subject)}}.Encode()
	}
	w.Header().Set("HX-Push-Url", to)
	c.pages.render(w, r, status, "sessions", pageData{Title: "Sessions", Nav: "sessions",
		Operator: operatorName(key), Error: msg, Data: sessionsView{Subject: subject}})
}

func (c *Console) revokeSession(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	subject, id, ok := revokeForm(r, true)
	if !ok {
		c.badForm(w, r, key)
		return
	}
	// The session must belong to the subject shown, so a stale page cannot
	// revoke someone else's session by ID.
	refused := func() {
		c.refuseRevoke(w, r, key, http.StatusServiceUnavailable, "Revoking failed; see the server log.", subject)
	}
	s, err := c.o.Manager.Get(r.Context(), id)
	switch {
	case errors.Is(err, sessiond.ErrNotFound) || (err == nil && s.Subject != subject):
		c.back(w, r, subject, 0) // ended already, or not this subject's
		return
	case err != nil:
		// A store that did not answer decided nothing: "Revoked 0" would
		// read as a session already ended. Only read: a browser that left
		// here left nothing done.
		c.logReadFailure(r.Context(), "console: revoke", err)
		refused()
		return
	}
	n := 1
	if err := c.o.Manager.Revoke(r.Context(), id, sessiond.ReasonAdmin); err != nil {
		if !errors.Is(err, sessiond.ErrRevoked) && !errors.Is(err, sessiond.ErrNotFound) {
			c.logWriteFailure(r.Context(), "console: revoke", err, "key_id", key.ID, "session_id", id)
			refused()
			return
		}
		n = 0
	}
	c.log.InfoContext(r.Context(), "console: revoked session", "key_id", key.ID, "session_id", id)
	c.back(w, r, subject, n)
}

// revokeOthers revokes every session of the subject except the one given.
func (c *Console) revokeOthers(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	c.revokeSubject(w, r, key, true)
}

// revokeAll revokes every session of the subject.
func (c *Console) revokeAll(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	c.revokeSubject(w, r, key, false)
}

func (c *Console) revokeSubject(w http.ResponseWriter, r *http.Request, key apikey.Key, keepOne bool) {
	subject, id, ok := revokeForm(r, keepOne)
	if !ok {
		c.badForm(w, r, key)
		return
	}
	if !keepOne {
		id = ""
	}
	// One click signed the subject out on every device: the sessions
	// page's buttons lead to the confirmation, whose form sends this again
	// with confirm.
	if r.PostForm.Get("confirm") != confirmed {
		c.confirmRevokeSubject(w, r, key, subject, id)
		return
	}
	n, err := c.o.Manager.RevokeSubject(r.Context(), subject, id, sessiond.ReasonAdmin)
	if err != nil {
		c.logWriteFailure(r.Context(), "console: revoke subject", err, "key_id", key.ID, "subject", subject, "revoked", n)
		msg := "Revoking failed; see the server log."
		if n > 0 {
			// A store that revokes in batches (Redis) failed after some:
			// those stay revoked, as the kill switch's page says of its own.
			msg = "Revoking failed after " + strconv.Itoa(n) + " session(s) were revoked (they stay revoked; revoking again ends the rest); see the server log."
		}
		c.refuseRevoke(w, r, key, http.StatusServiceUnavailable, msg, subject)
		return
	}
	c.log.InfoContext(r.Context(), "console: revoked sessions of a subject", "key_id", key.ID, "count", n, "kept", id)
	c.back(w, r, subject, n)
}

// confirmRevokeSubject asks to confirm revoking the subject's sessions,
// all of them or all but keep, saying how many it will end, read as the
// sessions page reads them (at most sessionsPageBudget, without the
// page's filters, which revoking does not apply).
func (c *Console) confirmRevokeSubject(w http.ResponseWriter, r *http.Request, key apikey.Key, subject string, keep sessiond.SessionID) {
	var kept *sessiond.Session
	read, next, err := c.readSessions(r, subject, "", func(s sessiond.Session) bool {
		if s.ID == keep {
			kept = &s
		}
		return false // a row to show: none, so that it reads up to the budget
	})
	who := inline(subject)
	back := url.Values{"subject": {searchText(subject)}}
	hidden := []field{{"subject", subject}}
	if keep != "" {
		hidden = append(hidden, field{"id", string(keep)})
	}
	for _, k := range []string{"ip", "device", "cursor"} {
		if v := r.PostForm.Get(k); v != "" {
			back.Set(k, v)
			hidden = append(hidden, field{k, v})
		}
	}
	d := pageData{Title: "Sessions", Nav: "sessions", Operator: operatorName(key)}
	v := confirmView{Action: r.URL.Path, Hidden: hidden, Cancel: Prefix + "/sessions?" + back.Encode()}
	everywhere := "The subject is signed out on every device, including the sessions that the sessions page's filters or other pages hide."
	count := read
	if kept != nil {
		count--
	}
	switch {
	case err != nil:
		c.logReadFailure(r.Context(), "console: count sessions to revoke", err)
		d.Error = "The subject's sessions could not be counted; see the server log."
		if keep == "" {
			v.Heading, v.Button = "Revoke every session of "+who+"?", "Revoke every session"
			v.Lines = []string{"This ends every live session of " + who + ".", everywhere}
		} else {
			v.Heading, v.Button = "Revoke every other session of "+who+"?", "Revoke all others"
			v.Lines = []string{"This ends every live session of " + who + " but session " + printable(string(keep)) + "."}
		}
	case count == 0 && next == "":
		v.Heading, v.Action = who+" has no other live session", ""
		if keep == "" {
			v.Heading = who + " has no live session"
		}
		v.Lines = []string{"There is nothing to revoke."}
	case keep == "":
		v.Heading = "Revoke every session of " + who + "?"
		if next == "" {
			v.Button = fmt.Sprintf("Revoke %d session(s)", count)
			v.Lines = []string{fmt.Sprintf("This ends all %d live session(s) of %s.", count, who), everywhere}
		} else {
			v.Button = "Revoke every session"
			v.Lines = []string{fmt.Sprintf("This ends every live session of %s: %s.", who, partCount(count)), everywhere}
		}
	default:
		v.Heading = "Revoke every other session of " + who + "?"
		but := " but session " + printable(string(keep))
		if kept != nil {
			but += " (" + inline(c.device.describe(kept.Client.UserAgent)) + ")"
		}
		switch {
		case next == "" && kept == nil:
			// Ended meanwhile, or not this subject's: "others" is all.
			v.Button = fmt.Sprintf("Revoke %d session(s)", count)
			v.Lines = []string{fmt.Sprintf("Session %s is no longer one of %s's live sessions: this ends all %d live session(s) of %s.",
				printable(string(keep)), who, count, who), everywhere}
		case next == "":
			v.Button = fmt.Sprintf("Revoke %d other session(s)", count)
			v.Lines = []string{fmt.Sprintf("This ends %d live session(s) of %s, every one%s.", count, who, but),
				"The subject is signed out on every other device, including the sessions that the sessions page's filters or other pages hide."}
		default:
			v.Button = "Revoke all others"
			v.Lines = []string{fmt.Sprintf("This ends every live session of %s%s: %s.", who, but, partCount(count))}
		}
	}
	c.renderConfirm(w, r, http.StatusOK, d, v)
}

// partCount says how many sessions a revocation ends when the
// confirmation read only the subject's newest sessionsPageBudget: those
// are read live or not (ListPage), so the live ones among them are all it
// knows, not "more than" the budget.
func partCount(live int) string {
	return fmt.Sprintf("%d among its newest %d sessions (ended ones included: this page reads no further), and any older ones", live, sessionsPageBudget)
}

func operatorName(k apikey.Key) string {
	if k.Name == "" {
		return k.ID
	}
	return k.Name + " (" + k.ID + ")"
}
