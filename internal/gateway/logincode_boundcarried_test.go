package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// TestLoginCodeCarriedBoundSessionNotTouched: a thief holding only the
// long-lived cookie of a device-bound session, logging in as themselves
// with a login code, neither ends that session (revokeCarried's binding
// check) nor keeps it from idling out: LoginIssued only names the carried
// session (SessionIDOf), where a verify recorded its activity (database
// strategy) before the check. check, session and the DBSC registration
// route refuse the same cookie before recording activity too.
func TestLoginCodeCarriedBoundSessionNotTouched(t *testing.T) {
	e := newEnv(t, envOptions{strategy: sessiond.StrategyDatabase, dbsc: httpsession.DBSCOptional})
	victim, id := e.boundBrowser(t, "alice")
	stolen := victim.rootCookie(httpsession.DefaultCookieName)
	before, err := e.m.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)

	// The thief logs in as themselves, carrying the victim's cookie only.
	_, loginURL, err := e.g.NewLoginCode(context.Background(), e.login(t, "mallory"), "/")
	if err != nil {
		t.Fatal(err)
	}
	r := e.browser(t).do(http.MethodGet, loginURL, "", "Sec-Fetch-Site", "same-origin",
		"Cookie", httpsession.DefaultCookieName+"="+stolen)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET %s = %d %s", loginURL, r.StatusCode, r.body)
	}
	after, err := e.m.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("victim's session: %v (the thief's login must not end it either)", err)
	}
	if !after.IdleExpiresAt.Equal(before.IdleExpiresAt) || !after.LastActiveAt.Equal(before.LastActiveAt) {
		t.Errorf("the thief's login moved the victim's bound session: LastActiveAt %v -> %v, IdleExpiresAt %v -> %v; want unchanged",
			before.LastActiveAt, after.LastActiveAt, before.IdleExpiresAt, after.IdleExpiresAt)
	}
}

// thiefRevokes is an anomaly rule that ends any session a request from
// the thief's browser verifies, as ip_change with action revoke would.
type thiefRevokes struct{}

func (thiefRevokes) Check(_ time.Time, _ sessiond.AnomalyStage, _ sessiond.SessionID, _, current sessiond.Client) []sessiond.Anomaly {
	if current.UserAgent == "UA-THIEF" {
		return []sessiond.Anomaly{{Rule: "ip_change", Action: sessiond.AnomalyRevoke, Detail: "probe"}}
	}
	return nil
}

// TestLoginCodeCarriedBoundSessionNoAnomalyRevoke: the login-code
// redemption runs no anomaly rule on a carried bound session with the
// thief's client: with a rule whose action is revoke, the thief's login
// would end the owner's session, the denial of service closed at logout
// (check, session and Login refuse before the rules see the client).
func TestLoginCodeCarriedBoundSessionNoAnomalyRevoke(t *testing.T) {
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: strategy, dbsc: httpsession.DBSCOptional, anomalies: thiefRevokes{}})
			victim, id := e.boundBrowser(t, "alice")
			stolen := victim.rootCookie(httpsession.DefaultCookieName)
			_, loginURL, err := e.g.NewLoginCode(context.Background(), e.login(t, "mallory"), "/")
			if err != nil {
				t.Fatal(err)
			}
			r := e.browser(t).do(http.MethodGet, loginURL, "", "Sec-Fetch-Site", "same-origin", "User-Agent", "UA-THIEF",
				"Cookie", httpsession.DefaultCookieName+"="+stolen)
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("GET %s = %d %s", loginURL, r.StatusCode, r.body)
			}
			if _, err := e.m.Get(context.Background(), id); err != nil {
				t.Errorf("after a thief's login carrying the stolen cookie alone, the owner's bound session: %v; want it live", err)
			}
		})
	}
}
