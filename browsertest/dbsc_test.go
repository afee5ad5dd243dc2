package browsertest

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"

	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/internal/testenv"
)

// boundCookieLifetime is short so the run watches Chromium refresh the
// bound cookie with a proof of its key within seconds.
const boundCookieLifetime = 3 * time.Second

// TestBrowserDBSC runs real Chromium against httpsession with DBSC
// (dbsc.test.mjs). Chromium 156 on Linux binds sessions only with its
// testing switches (docs/bound-sessions.md): DeviceBoundSessions with the
// origin-trial requirement off, software keys instead of a TPM, and a
// certificate it trusts (DBSC needs a secure origin without certificate
// errors; --ignore-certificate-errors is not enough, the certificate's
// SPKI must be allowed).
func TestBrowserDBSC(t *testing.T) {
	node, chromium := requirements(t)
	ctx, cancel := testenv.BeforeDeadline(t) // a hang is cut, and logged, before the binary's own deadline
	defer cancel()

	events := &sessiondtest.Events{}
	codec, _ := jwttest.Codec(t, time.Now(), 24*time.Hour)
	m, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: memstore.New(),
		Signed: codec, Opaque: opaquetoken.Codec{}, Events: events, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var logs testenv.SyncBuffer
	s, err := httpsession.New(httpsession.Options{Manager: m, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		DBSC: httpsession.DBSCOptions{Policy: httpsession.DBSCOptional, CookieLifetime: boundCookieLifetime}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.Login(w, r, "alice", sessiond.CreateOptions{}); err != nil {
			http.Error(w, "login failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>signed in</title><p>signed in")
	})
	mux.Handle("GET /me", s.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, _ := sessiond.FromContext(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"subject": sess.Subject, "device_bound": sess.DeviceBound()})
	})))
	mux.HandleFunc("GET /test/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int{
			"bound":     events.Count(sessiond.EventDeviceBound),
			"refreshed": events.Count(sessiond.EventDeviceRefreshed),
			"refused":   events.Count(sessiond.EventDeviceProofRefused),
		})
	})
	mux.Handle("/auth/dbsc/", s.DBSCHandler())

	cert, spki := localhostCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	defer srv.Close()
	base := fmt.Sprintf("https://localhost:%d", ln.Addr().(*net.TCPAddr).Port)

	err = testenv.NodeTest(t, ctx, node, "dbsc.test.mjs",
		"SESSIOND_DBSC_URL="+base,
		"SESSIOND_CHROMIUM="+chromium,
		"SESSIOND_DBSC_SPKI="+spki,
		"SESSIOND_TEST_RESULTS="+testenv.ResultsDir(),
		fmt.Sprintf("SESSIOND_BOUND_COOKIE_SECONDS=%d", int(boundCookieLifetime/time.Second)),
	)
	if err != nil {
		t.Errorf("DBSC browser test failed: %v\nserver log:\n%s", err, logs.String())
	}
}

// localhostCert makes a self-signed certificate for localhost and returns
// it with the base64 SHA-256 of its public key, for Chromium's
// --ignore-certificate-errors-spki-list.
func localhostCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	c := testenv.SelfSigned(t, 1, "localhost", "127.0.0.1")
	sum := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
	return c, base64.StdEncoding.EncodeToString(sum[:])
}
