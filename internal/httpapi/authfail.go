package httpapi

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
)

// A request without a valid API key costs its sender nothing, so what the
// server writes about it must not grow with the number of requests (issue
// 14, defect 2: 2,000 requests once added 60 MB to the event log). Failures
// are reported per client address at most once per interval, with a count
// of those folded in, and all addresses together at most
// maxAuthReportsPerInterval times; every stored field is bounded.

// AuthFailure is one report of failed API-key authentications.
type AuthFailure struct {
	// ClientIP is the peer address the requests came from.
	ClientIP string
	// UserAgent and Path are those of the request that triggered the
	// report, cut to MaxAuthFailureText bytes, with control and format
	// characters (bidi overrides included) replaced by U+FFFD.
	UserAgent string
	Path      string
	// HadCredentials: the request sent an Authorization header.
	HadCredentials bool
	// Count is how many failures from ClientIP this report stands for,
	// at least 1: the triggering one and those since the last report.
	Count int
	// Unreported counts failures from other addresses that could not be
	// reported on their own (too many addresses at once) since the last
	// report of any address.
	Unreported int
}

// MaxAuthFailureText bounds AuthFailure.Path and UserAgent, in bytes.
const MaxAuthFailureText = 256

const (
	// DefaultAuthFailureInterval is the reporting interval when
	// Options.AuthFailureInterval is zero.
	DefaultAuthFailureInterval = time.Minute
	// maxAuthReportsPerInterval bounds the reports of all addresses in
	// one interval.
	maxAuthReportsPerInterval = 100
	// maxAuthTracked bounds the addresses remembered between reports.
	maxAuthTracked = 10000
)

type authTrack struct {
	reported time.Time // last report for this address
	pending  int       // failures since, not yet reported
}

// authFailures aggregates failures. Safe for concurrent use.
type authFailures struct {
	interval time.Duration
	report   func(context.Context, AuthFailure) // nil: only counted

	mu          sync.Mutex
	byIP        map[string]*authTrack
	windowStart time.Time // of the global budget
	reports     int       // in the current window
	unreported  int       // failures of untracked or over-budget addresses
}

// note counts one failure and returns the report to make, if any. It runs
// under the lock; the report itself is made outside it.
func (a *authFailures) note(now time.Time, ip string) (count, unreported int, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.windowStart) >= a.interval {
		a.windowStart, a.reports = now, 0
	}
	t := a.byIP[ip]
	if t == nil {
		if len(a.byIP) >= maxAuthTracked {
			a.prune(now)
		}
		if len(a.byIP) >= maxAuthTracked {
			a.unreported++
			return 0, 0, false
		}
		t = &authTrack{}
		a.byIP[ip] = t
	}
	if !t.reported.IsZero() && now.Sub(t.reported) < a.interval || a.reports >= maxAuthReportsPerInterval {
		t.pending++
		return 0, 0, false
	}
	count, unreported = t.pending+1, a.unreported
	t.reported, t.pending = now, 0
	a.reports++
	a.unreported = 0
	return count, unreported, true
}

// prune forgets addresses quiet for an interval; their unreported
// failures move to the shared count so none is lost. When that leaves the
// map more than three quarters full it forgets every address, so a map
// full of recent addresses is scanned once per maxAuthTracked/4 new ones,
// not on each (a client with many addresses, IPv6, would make every one
// of its failures a scan of the whole map under the lock). A forgotten
// address is reported again at its next failure, within the global budget.
func (a *authFailures) prune(now time.Time) {
	for ip, t := range a.byIP {
		if now.Sub(t.reported) >= a.interval {
			a.unreported += t.pending
			delete(a.byIP, ip)
		}
	}
	if len(a.byIP) > maxAuthTracked*3/4 {
		for _, t := range a.byIP {
			a.unreported += t.pending
		}
		clear(a.byIP)
	}
}

// authFailed notes a request refused for a missing or wrong API key and,
// when one is due, reports it.
func (s *server) authFailed(ctx context.Context, r *http.Request) {
	ip := peerIP(r)
	count, unreported, ok := s.authFails.note(s.clock.Now(), ip)
	if !ok || s.authFails.report == nil {
		return
	}
	s.authFails.report(ctx, AuthFailure{
		ClientIP:       ip,
		UserAgent:      boundText(r.UserAgent()),
		Path:           boundText(r.URL.EscapedPath()),
		HadCredentials: r.Header.Get("Authorization") != "",
		Count:          count,
		Unreported:     unreported,
	})
}

// peerIP is the address of the connection's peer, without the port.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return boundText(r.RemoteAddr)
	}
	return host
}

// boundText cuts s to MaxAuthFailureText bytes and defuses it
// (sessiond.CleanText), so what an unauthenticated client sent is stored
// and logged harmlessly.
func boundText(s string) string { return sessiond.CleanText(s, MaxAuthFailureText) }
