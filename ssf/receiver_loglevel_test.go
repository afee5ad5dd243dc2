package ssf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/ssf"
)

// hungUpRevoker fails as a store does when its caller's context ended.
type hungUpRevoker struct{ ssf.Revoker }

func (h hungUpRevoker) RevokeSubject(ctx context.Context, subject string, except sessiond.SessionID, reason sessiond.RevokeReason) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	return h.Revoker.RevokeSubject(ctx, subject, except, reason)
}

// TestReceiver_UnavailableLogLevels: a pushed SET answered 503 pages no
// one for what a transmitter alone causes (it hung up, it named a kid
// not in the set fetched a moment ago), and a JWKS that cannot be
// fetched is one ERROR per fetch, not one per SET answered from the
// failure remembered.
func TestReceiver_UnavailableLogLevels(t *testing.T) {
	const pushes = 5
	for _, tc := range []struct {
		name       string
		jwksStatus int
		kid        string // the kid the SETs name; the JWKS publishes tx-1
		hangUp     bool
		wantErrors int // ERROR lines over all pushes
	}{
		{"transmitter hung up", http.StatusOK, "tx-1", true, 0},
		{"jwks down", http.StatusInternalServerError, "tx-1", false, 1},
		{"kid not in the set fetched", http.StatusOK, "forged", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mgr, err := sessiond.New(ctx, sessiond.Options{Store: memstore.New(), Strategy: sessiond.StrategyDatabase})
			if err != nil {
				t.Fatal(err)
			}
			defer mgr.Close()
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "tx-1", Algorithm: "ES256", Use: "sig"}}})
			jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.jwksStatus)
				_, _ = w.Write(set)
			}))
			defer jwks.Close()
			logs := &testenv.SyncBuffer{}
			rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: jwks.URL,
				Subject: ssf.SubjectRule{Format: ssf.FormatEmail}, Revoker: hungUpRevoker{mgr},
				Logger: slog.New(slog.NewJSONHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if tc.kid != "tx-1" { // the set is fetched once, for a SET of its own key
				c := claims("first", time.Now(), ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("a@example.com")})
				if code := pushTo(t, rc, context.Background(), sign(t, k, jose.ES256, "tx-1", "secevent+jwt", c)); code != http.StatusAccepted {
					t.Fatalf("first push = %d; want 202", code)
				}
			}
			for i := range pushes {
				reqCtx, cancel := context.WithCancel(context.Background())
				if tc.hangUp {
					cancel()
				}
				c := claims(fmt.Sprint("j", i), time.Now(), ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("a@example.com")})
				if code := pushTo(t, rc, reqCtx, sign(t, k, jose.ES256, tc.kid, "secevent+jwt", c)); code != http.StatusServiceUnavailable {
					t.Fatalf("push %d = %d; want 503", i, code)
				}
				cancel()
			}
			var errorLines []string
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if strings.Contains(l, `"level":"ERROR"`) {
					errorLines = append(errorLines, l)
				}
			}
			if len(errorLines) != tc.wantErrors {
				t.Errorf("%d pushes answered 503 logged %d ERROR lines; want %d:\n%s", pushes, len(errorLines), tc.wantErrors, strings.Join(errorLines, "\n"))
			}
		})
	}
}

func pushTo(t *testing.T, rc *ssf.Receiver, ctx context.Context, set string) int {
	t.Helper()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(set))
	req.Header.Set("Content-Type", "application/secevent+jwt")
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	return w.Code
}
