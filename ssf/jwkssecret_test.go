package ssf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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

// A receiver's jwks_url may carry a credential in its query (the
// validator accepts it, as for poll_url): a failed JWKS fetch must not
// quote the URL in the log nor in the ssf.set_received event's reason.
func TestReceiver_JWKSURLCredentialNotInLogOrEvents(t *testing.T) {
	const secret = "jwksCredential0123456789abcdef"
	ctx := context.Background()
	st := memstore.New()
	mgr, err := sessiond.New(ctx, sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Close() })
	// A JWKS endpoint that is down: the connection is refused.
	down := httptest.NewServer(http.NotFoundHandler())
	jwksURL := down.URL + "/jwks?api_key=" + secret
	down.Close()

	var logBuf testenv.SyncBuffer
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: jwksURL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail}, Revoker: mgr, Replay: st, Events: eventLog{st},
		Logger: slog.New(slog.NewJSONHandler(&logBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)

	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := sign(t, k, jose.ES256, "tx-1", "secevent+jwt", map[string]any{
		"iss": testIss, "aud": testAud, "iat": time.Now().Unix(), "jti": "probe-1",
		"events": map[string]any{ssf.CAEPSessionRevoked: map[string]any{}},
	})
	resp, err := http.Post(srv.URL, "application/secevent+jwt", strings.NewReader(set))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("push with the JWKS down = %d; want 503", resp.StatusCode)
	}

	if s := logBuf.String(); strings.Contains(s, secret) {
		t.Errorf("the jwks_url credential is in the log:\n%s", s)
	}
	evs, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Type: ssf.EventSETReceived})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if d := fmt.Sprint(e.Details); strings.Contains(d, secret) {
			t.Errorf("the jwks_url credential is in the durable event log: %s details %s", e.Type, d)
		}
	}
}
