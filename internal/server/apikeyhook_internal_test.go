package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/metrics"
)

// TestAPIKeyChangedHook: each action /v1/api-keys reports is recorded as
// its event, and a key nobody received (httpapi.KeyNotReceived) as
// api_key.revoked with reason not_received, the reason apikey create
// records (docs/operations.md); before, an action the hook did not know
// was recorded with an empty type. A key whose clean-up failed
// (httpapi.KeyRevokeFailed) is api_key.created with revocation failed.
func TestAPIKeyChangedHook(t *testing.T) {
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action string
		want   string // type, details.reason and details.revocation
	}{
		{"created", "api_key.created <nil> <nil>"},
		{"scopes_changed", "api_key.scopes_changed <nil> <nil>"},
		{"revoked", "api_key.revoked <nil> <nil>"},
		{httpapi.KeyNotReceived, "api_key.revoked not_received <nil>"},
		{httpapi.KeyRevokeFailed, "api_key.created <nil> failed"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			st := memstore.New()
			f := &fanout{log: st, metrics: met, slog: slog.New(slog.DiscardHandler)}
			apiKeyChangedHook(f)(context.Background(), tc.action, apikey.Key{ID: "key_x", Name: "victim", Scopes: []apikey.Scope{apikey.ScopeVerify}})
			got, _, err := st.QueryEvents(context.Background(), sessiond.EventQuery{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, e := range got {
				types = append(types, fmt.Sprintf("%s %v %v", e.Type, e.Details["reason"], e.Details["revocation"]))
				if e.Details["key_id"] != "key_x" || e.Details["by"] != "api" {
					t.Errorf("%s: details %v; want key_id key_x, by api", e.Type, e.Details)
				}
			}
			if !slices.Equal(types, []string{tc.want}) {
				t.Errorf("events = %q; want %q", types, tc.want)
			}
		})
	}
}
