package sessiond

import (
	"context"
	"time"
)

// EventCSRFRejected reports a state-changing browser request refused as
// cross-origin by a CSRF check (httpsession's, which the gateway's routes
// share): someone tried to make a signed-in browser act for another site.
// Details "method", "path", "origin" and "sec_fetch_site", as the browser
// sent them (cut to 256 bytes, control and format characters replaced),
// with the client. No session or subject: the refused request is not read
// further. The OWASP Session Management Cheat Sheet and ASVS 16.3.3 ask
// for defensive actions in the security log.
const EventCSRFRejected EventType = "request.csrf_rejected"

// Bounds on EventCSRFRejected, per node: a page that keeps posting from
// another site is one event a minute per client address, and at most
// csrfRejectedMax a minute in all (every refusal is still answered 403 and
// logged at info).
const (
	csrfRejectedWindow = time.Minute
	csrfRejectedPerIP  = 1
	csrfRejectedMax    = 60
	maxCSRFDetailBytes = 256
)

// ReportCSRFRejected records EventCSRFRejected for a request the caller's
// CSRF check refused: its method, path, and the Origin and Sec-Fetch-Site
// headers the browser sent, within the bounds above.
func (m *Manager) ReportCSRFRejected(ctx context.Context, client Client, method, path, origin, fetchSite string) {
	client, err := CleanClient(client)
	if err != nil {
		client = Client{}
	}
	if !m.csrf.allow("", addrKey(client.IP), m.clock.Now()) {
		return
	}
	m.emit(ctx, Event{Type: EventCSRFRejected, Client: client, Details: map[string]any{
		"method":         CleanText(method, maxCSRFDetailBytes),
		"path":           CleanText(path, maxCSRFDetailBytes),
		"origin":         CleanText(origin, maxCSRFDetailBytes),
		"sec_fetch_site": CleanText(fetchSite, maxCSRFDetailBytes),
	}})
}
