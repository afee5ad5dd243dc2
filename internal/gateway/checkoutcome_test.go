package gateway_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/metrics"
)

// TestCheck_BindingRequiredOutcome: under gateway.dbsc "required", check
// refuses a valid session not bound to a device (any browser without
// DBSC), and sessiond_verify_total counts it as binding_required: not
// error, which tells operators of a server fault, nor token_invalid, which
// the token-guessing alert watches. Other refusals keep their outcomes.
func TestCheck_BindingRequiredOutcome(t *testing.T) {
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			outcomes := &testenv.VerifyOutcomes{}
			e := newEnv(t, envOptions{strategy: strategy, dbsc: httpsession.DBSCRequired, verifyObserver: outcomes.Observe})
			plain := e.login(t, "alice")
			for _, c := range []struct {
				name string
				hdr  []string
				want string
			}{
				{"unbound cookie", []string{"Cookie", httpsession.DefaultCookieName + "=" + string(plain.AccessToken)}, metrics.VerifyBindingRequired},
				{"unbound Bearer", []string{"Authorization", "Bearer " + string(plain.AccessToken)}, metrics.VerifyBindingRequired},
				{"forged cookie", []string{"Cookie", httpsession.DefaultCookieName + "=" + string(plain.AccessToken) + "x"}, metrics.VerifyTokenInvalid},
			} {
				t.Run(c.name, func(t *testing.T) {
					outcomes.Take()
					r := e.browser(t).do(http.MethodGet, "/sessiond/check", "", c.hdr...)
					if r.StatusCode != http.StatusUnauthorized {
						t.Fatalf("GET /sessiond/check = %d %s; want 401", r.StatusCode, r.body)
					}
					if got, want := outcomes.Take(), []string{c.want}; !slices.Equal(got, want) {
						t.Errorf("verify outcomes = %q; want %q", got, want)
					}
				})
			}
		})
	}
}
