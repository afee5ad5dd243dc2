package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

// Event types, written out here from the CAEP, RISC and SSF specifications
// rather than taken from the ssf package: this file is a receiver written
// from the specifications.
const (
	specSessionRevoked  = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	specSessionsRevoked = "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked"
	specVerification    = "https://schemas.openid.net/secevent/ssf/event-type/verification"
	specPush            = "urn:ietf:rfc:8935"
	specPoll            = "urn:ietf:rfc:8936"
	receiverToken       = "Bearer receiver-push-token-0123456789abcdef"
)

var errJWKSUnavailable = errors.New("jwks unavailable")

// specSET is a verified SET's claims (RFC 8417 §2.2).
type specSET struct {
	Raw    string                    `json:"-"`
	Iss    string                    `json:"iss"`
	Aud    any                       `json:"aud"`
	Iat    int64                     `json:"iat"`
	Jti    string                    `json:"jti"`
	Txn    string                    `json:"txn"`
	SubID  map[string]any            `json:"sub_id"`
	Events map[string]map[string]any `json:"events"`
}

func (s specSET) event() string {
	for k := range s.Events {
		return k
	}
	return ""
}

// sessionID is the sessiond session a session-revoked SET names.
func (s specSET) sessionID() string {
	sess, _ := s.SubID["session"].(map[string]any)
	id, _ := sess["id"].(string)
	return id
}

// subject is the user sub of an iss_sub or complex sub_id.
func (s specSET) subject() string {
	u := s.SubID
	if s.SubID["format"] == "complex" {
		u, _ = s.SubID["user"].(map[string]any)
	}
	sub, _ := u["sub"].(string)
	return sub
}

// specReceiver is an SSF receiver written for the test from RFC 8417,
// RFC 8935, RFC 8936 and SSF 1.0, with net/http and go-jose: it reads the
// transmitter's configuration, verifies every SET against its JWKS and
// keeps those that verify.
type specReceiver struct {
	t      *testing.T
	issuer string
	cfg    struct {
		Issuer                   string   `json:"issuer"`
		JWKSURI                  string   `json:"jwks_uri"`
		DeliveryMethodsSupported []string `json:"delivery_methods_supported"`
		ConfigurationEndpoint    string   `json:"configuration_endpoint"`
		StatusEndpoint           string   `json:"status_endpoint"`
		VerificationEndpoint     string   `json:"verification_endpoint"`
		EventsSupported          []string `json:"events_supported"`
		SpecVersion              string   `json:"spec_version"`
	}
	apiKey  string
	srv     *httptest.Server
	pushAud string

	mu       sync.Mutex
	pushed   map[string]specSET // jti → SET
	down     bool
	failedAt int // pushes answered 503 while down
	refused  []string
}

func newSpecReceiver(t *testing.T, issuer, apiKey string) *specReceiver {
	r := &specReceiver{t: t, issuer: issuer, apiKey: apiKey, pushed: map[string]specSET{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.push))
	t.Cleanup(r.srv.Close)
	res, err := http.Get(issuer + "/.well-known/ssf-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&r.cfg); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("ssf-configuration = %d %v", res.StatusCode, err)
	}
	return r
}

// push is the RFC 8935 endpoint: 202 for a SET that verifies, 400 with
// the RFC's error otherwise, 503 while the receiver is "down".
func (r *specReceiver) push(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	down := r.down
	if down {
		r.failedAt++
	}
	r.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if req.Header.Get("Authorization") != receiverToken || req.Header.Get("Content-Type") != "application/secevent+jwt" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"err":"authentication_failed","description":"token or content type"}`)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(req.Body, 64<<10))
	set, err := r.verify(string(body), r.pushAud)
	if errors.Is(err, errJWKSUnavailable) { // not the SET's fault: the transmitter retries
		http.Error(w, "jwks unavailable", http.StatusServiceUnavailable)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.refused = append(r.refused, err.Error())
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"err":"invalid_request","description":%q}`, err.Error())
		return
	}
	r.pushed[set.Jti] = set
	w.WriteHeader(http.StatusAccepted)
}

// verify checks one SET as RFC 8417 §2 and SSF 1.0 ask: a JWS with typ
// secevent+jwt signed by a key of the published JWKS, the issuer, the
// stream's audience, a recent iat, a jti and exactly one event.
func (r *specReceiver) verify(raw, aud string) (specSET, error) {
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	if err != nil {
		return specSET{}, fmt.Errorf("parse: %w", err)
	}
	h := jws.Signatures[0].Protected
	if h.ExtraHeaders[jose.HeaderType] != "secevent+jwt" {
		return specSET{}, fmt.Errorf("typ %v", h.ExtraHeaders[jose.HeaderType])
	}
	res, err := http.Get(r.cfg.JWKSURI)
	if err != nil {
		return specSET{}, fmt.Errorf("%w: %v", errJWKSUnavailable, err)
	}
	defer res.Body.Close()
	var keys jose.JSONWebKeySet
	if err := json.NewDecoder(res.Body).Decode(&keys); err != nil || res.StatusCode != http.StatusOK {
		return specSET{}, fmt.Errorf("%w: %d %v", errJWKSUnavailable, res.StatusCode, err)
	}
	ks := keys.Key(h.KeyID)
	if len(ks) != 1 {
		return specSET{}, fmt.Errorf("kid %q not in the JWKS", h.KeyID)
	}
	payload, err := jws.Verify(ks[0].Key)
	if err != nil {
		return specSET{}, fmt.Errorf("signature: %w", err)
	}
	var s specSET
	if err := json.Unmarshal(payload, &s); err != nil {
		return specSET{}, err
	}
	s.Raw = raw
	switch {
	case s.Iss != r.cfg.Issuer:
		return s, fmt.Errorf("iss %q", s.Iss)
	case s.Aud != aud:
		return s, fmt.Errorf("aud %v; want %s", s.Aud, aud)
	case s.Jti == "" || len(s.Events) != 1:
		return s, fmt.Errorf("jti %q, %d events", s.Jti, len(s.Events))
	case time.Since(time.Unix(s.Iat, 0)) > 5*time.Minute || time.Until(time.Unix(s.Iat, 0)) > time.Minute:
		return s, fmt.Errorf("iat %d out of window", s.Iat)
	}
	return s, nil
}

// call is one stream management request with the receiver's API key.
func (r *specReceiver) call(method, u string, body any, out any) int {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	res := apiRequest(r.t, method, u, r.apiKey, "application/json", rd)
	defer res.Body.Close()
	if out != nil && res.StatusCode < 300 {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			r.t.Fatalf("%s %s: %v", method, u, err)
		}
	}
	return res.StatusCode
}

type specStream struct {
	StreamID        string   `json:"stream_id"`
	Iss             string   `json:"iss"`
	Aud             string   `json:"aud"`
	EventsDelivered []string `json:"events_delivered"`
	Delivery        struct {
		Method      string `json:"method"`
		EndpointURL string `json:"endpoint_url"`
	} `json:"delivery"`
}

// pollUntil polls (RFC 8936) until done holds for what it got, or
// the time is up, acknowledging every SET that verifies.
func (r *specReceiver) pollUntil(endpoint, aud string, within time.Duration, done func([]specSET) bool) []specSET {
	r.t.Helper()
	var got []specSET
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got = append(got, r.poll(endpoint, aud)...)
		if done(got) {
			return got
		}
	}
	return got
}

// poll makes RFC 8936 polls until the transmitter has nothing more,
// acknowledging every SET that verifies, and returns them.
func (r *specReceiver) poll(endpoint, aud string) []specSET {
	r.t.Helper()
	var got []specSET
	var ack []string
	for range 20 {
		var resp struct {
			Sets          map[string]string `json:"sets"`
			MoreAvailable bool              `json:"moreAvailable"`
		}
		req := map[string]any{"ack": ack, "maxEvents": 2, "returnImmediately": true}
		if code := r.call(http.MethodPost, endpoint, req, &resp); code != http.StatusOK {
			r.t.Fatalf("poll = %d", code)
		}
		ack = nil
		for jti, raw := range resp.Sets {
			s, err := r.verify(raw, aud)
			if err != nil || s.Jti != jti {
				r.t.Fatalf("polled SET %s: %v", jti, err)
			}
			got = append(got, s)
			ack = append(ack, jti)
		}
		if !resp.MoreAvailable && len(ack) == 0 {
			return got
		}
	}
	r.t.Fatal("poll never ran dry")
	return nil
}

// waitPushed waits until a pushed SET satisfies ok.
func (r *specReceiver) waitPushed(what string, within time.Duration, ok func(specSET) bool) specSET {
	r.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, s := range r.pushed {
			if ok(s) {
				r.mu.Unlock()
				return s
			}
		}
		r.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.t.Fatalf("no pushed SET %s within %s; have %d, refused %v", what, within, len(r.pushed), r.refused)
	return specSET{}
}

// freeAddr returns a loopback address nothing listens on, so a node can be
// restarted at the address its issuer names.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// apiCall is a request with the admin test key; it returns the status
// and decodes a JSON answer into out.
func apiCall(t *testing.T, method, u, body string, out any) int {
	t.Helper()
	res := apiRequest(t, method, u, string(testKey), "application/json", strings.NewReader(body))
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}

func createSession(t *testing.T, base, subject string) string {
	t.Helper()
	var out struct {
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	if code := apiCall(t, http.MethodPost, base+"/v1/sessions", `{"subject":"`+subject+`"}`, &out); code != http.StatusCreated || out.Session.ID == "" {
		t.Fatalf("create session = %d %+v", code, out)
	}
	return out.Session.ID
}

// TestSSF_Transmitter: two nodes on one SQLite file are one transmitter.
// A receiver written from the specifications subscribes through the
// stream management API (one push stream, one poll stream), gets a
// verification event, receives a CAEP session-revoked SET for revocations
// made on either node and a RISC sessions-revoked for a subject-wide one,
// polls the same SETs, and loses nothing while it is down across a
// restart of every node. npm jose verifies every SET independently.
func TestSSF_Transmitter(t *testing.T) {
	addrA := freeAddr(t)
	issuer := "http://" + addrA
	db := filepath.Join(t.TempDir(), "shared.db")
	nodeConfig := func(listen string) config.Config {
		cfg := devConfig(t)
		cfg.Server.Listen = listen
		cfg.Store.DSN = db
		cfg.SSF.Transmitter = config.SSFTransmitter{Enabled: true, Issuer: issuer}
		return cfg
	}
	a := start(t, server.Options{Config: nodeConfig(addrA)})
	b := start(t, server.Options{Config: nodeConfig("127.0.0.1:0")})
	baseA, baseB := "http://"+a.addr, "http://"+b.addr

	// An API key with the ssf scope only, for the receiver.
	var created struct {
		Secret string `json:"secret"`
	}
	if code := apiCall(t, http.MethodPost, baseA+"/v1/api-keys", `{"name":"receiver","scopes":["ssf"]}`, &created); code != http.StatusCreated {
		t.Fatalf("create ssf key = %d", code)
	}
	r := newSpecReceiver(t, issuer, created.Secret)
	c := r.cfg
	if c.Issuer != issuer || c.JWKSURI != issuer+"/.well-known/jwks.json" || c.SpecVersion == "" ||
		!slices.Contains(c.DeliveryMethodsSupported, specPush) || !slices.Contains(c.DeliveryMethodsSupported, specPoll) ||
		c.ConfigurationEndpoint == "" || c.StatusEndpoint == "" || c.VerificationEndpoint == "" ||
		!slices.Contains(c.EventsSupported, specSessionRevoked) || !slices.Contains(c.EventsSupported, specSessionsRevoked) {
		t.Fatalf("ssf-configuration = %+v", c)
	}

	// Stream management needs the ssf scope.
	verifyKey := &specReceiver{t: t, apiKey: string(testKey)}
	if code := verifyKey.call(http.MethodGet, c.ConfigurationEndpoint, nil, nil); code != http.StatusOK {
		t.Fatalf("admin key GET streams = %d", code)
	}
	stranger := &specReceiver{t: t, apiKey: "sdak_unknown_0123456789abcdefghijklmnopqrstuvwxyz"}
	if code := stranger.call(http.MethodGet, c.ConfigurationEndpoint, nil, nil); code != http.StatusUnauthorized {
		t.Fatalf("unknown key GET streams = %d; want 401", code)
	}

	// Subscribe: a push stream (created on node B) and a poll stream.
	var push, poll specStream
	if code := r.call(http.MethodPost, strings.Replace(c.ConfigurationEndpoint, issuer, baseB, 1), map[string]any{
		"delivery":         map[string]any{"method": specPush, "endpoint_url": r.srv.URL + "/ssf", "authorization_header": receiverToken},
		"events_requested": []string{specSessionRevoked, specSessionsRevoked},
		"description":      "spec receiver",
	}, &push); code != http.StatusCreated {
		t.Fatalf("create push stream = %d", code)
	}
	r.pushAud = push.Aud
	if code := r.call(http.MethodPost, c.ConfigurationEndpoint, map[string]any{
		"delivery": map[string]any{"method": specPoll}, "events_requested": []string{specSessionRevoked, specSessionsRevoked},
	}, &poll); code != http.StatusCreated || poll.Delivery.EndpointURL == "" {
		t.Fatalf("create poll stream = %d %+v", code, poll)
	}
	if push.StreamID == "" || push.Iss != issuer || push.Aud == "" || len(push.EventsDelivered) != 2 {
		t.Fatalf("push stream = %+v", push)
	}
	// Read, update, status.
	var read specStream
	if code := r.call(http.MethodGet, c.ConfigurationEndpoint+"?stream_id="+push.StreamID, nil, &read); code != http.StatusOK || read.StreamID != push.StreamID {
		t.Fatalf("read stream = %d %+v", code, read)
	}
	var patched map[string]any
	if code := r.call(http.MethodPatch, c.ConfigurationEndpoint, map[string]any{"stream_id": push.StreamID, "description": "renamed"}, &patched); code != http.StatusOK || patched["description"] != "renamed" {
		t.Fatalf("update stream = %d %v", code, patched)
	}
	var status map[string]any
	if code := r.call(http.MethodGet, c.StatusEndpoint+"?stream_id="+push.StreamID, nil, &status); code != http.StatusOK || status["status"] != "enabled" {
		t.Fatalf("stream status = %d %v", code, status)
	}
	if code := r.call(http.MethodPost, c.ConfigurationEndpoint, map[string]any{
		"delivery": map[string]any{"method": specPush, "endpoint_url": "ftp://example.com/x"}}, nil); code != http.StatusBadRequest {
		t.Errorf("stream with an ftp endpoint = %d; want 400", code)
	}

	// Verification event, delivered by push.
	if code := r.call(http.MethodPost, c.VerificationEndpoint, map[string]any{"stream_id": push.StreamID, "state": "s-123"}, nil); code != http.StatusNoContent {
		t.Fatalf("verification = %d", code)
	}
	r.waitPushed("verification", 10*time.Second, func(s specSET) bool {
		return s.event() == specVerification && s.Events[specVerification]["state"] == "s-123"
	})

	// Revocations on either node. A node reads the stream list at most a
	// second old (documented): wait that long after the last stream change
	// made on another node.
	time.Sleep(1100 * time.Millisecond)
	onA := createSession(t, baseA, "alice")
	onB := createSession(t, baseB, "alice")
	createSession(t, baseA, "bob")
	createSession(t, baseA, "bob")
	if code := apiCall(t, http.MethodDelete, baseA+"/v1/sessions/"+onA, "", nil); code != http.StatusNoContent {
		t.Fatalf("revoke on A = %d", code)
	}
	if code := apiCall(t, http.MethodDelete, baseB+"/v1/sessions/"+onB, "", nil); code != http.StatusNoContent {
		t.Fatalf("revoke on B = %d", code)
	}
	if code := apiCall(t, http.MethodDelete, baseB+"/v1/subjects/bob/sessions", "", nil); code != http.StatusOK && code != http.StatusNoContent {
		t.Fatalf("revoke bob on B = %d", code)
	}
	for _, id := range []string{onA, onB} {
		s := r.waitPushed("session-revoked "+id, 10*time.Second, func(s specSET) bool {
			return s.event() == specSessionRevoked && s.sessionID() == id
		})
		if s.subject() != "alice" || s.Txn == "" {
			t.Errorf("session-revoked SET = %+v; want subject alice and a txn", s)
		}
	}
	r.waitPushed("sessions-revoked bob", 10*time.Second, func(s specSET) bool {
		return s.event() == specSessionsRevoked && s.subject() == "bob"
	})

	// The poll stream holds the same revocations: polled from both nodes.
	var ids []string
	subjectWide := 0
	count := func(polled []specSET) bool {
		ids, subjectWide = nil, 0
		for _, s := range polled {
			switch s.event() {
			case specSessionRevoked:
				ids = append(ids, s.sessionID())
			case specSessionsRevoked:
				subjectWide++
			}
		}
		return len(ids) >= 4 && subjectWide >= 1
	}
	polled := r.pollUntil(strings.Replace(poll.Delivery.EndpointURL, issuer, baseB, 1), poll.Aud, 10*time.Second, count)
	if !slices.Contains(ids, onA) || !slices.Contains(ids, onB) || len(ids) != 4 || subjectWide != 1 {
		t.Errorf("polled %d session-revoked (%v), %d sessions-revoked; want 4 including %s and %s, and 1", len(ids), ids, subjectWide, onA, onB)
	}
	if again := r.poll(poll.Delivery.EndpointURL, poll.Aud); len(again) != 0 {
		t.Errorf("acknowledged SETs polled again: %d", len(again))
	}

	// Independent verification with npm jose of every SET seen so far.
	r.mu.Lock()
	var raws []string
	for _, s := range r.pushed {
		raws = append(raws, s.Raw)
	}
	r.mu.Unlock()
	checkWithJose(t, issuer, push.Aud, raws)
	polledRaw := make([]string, len(polled))
	for i, s := range polled {
		polledRaw[i] = s.Raw
	}
	checkWithJose(t, issuer, poll.Aud, polledRaw)

	// The receiver goes down; a revocation is tried and fails; every node
	// restarts; the receiver comes back and gets it.
	late := createSession(t, baseB, "carol")
	r.mu.Lock()
	r.down = true
	r.mu.Unlock()
	if code := apiCall(t, http.MethodDelete, baseB+"/v1/sessions/"+late, "", nil); code != http.StatusNoContent {
		t.Fatalf("revoke carol = %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		n := r.failedAt
		r.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no push attempt while the receiver was down")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := a.stop(); err != nil {
		t.Fatalf("stop A: %v", err)
	}
	if err := b.stop(); err != nil {
		t.Fatalf("stop B: %v", err)
	}
	r.mu.Lock()
	r.down = false
	r.mu.Unlock()
	start(t, server.Options{Config: nodeConfig(addrA)})
	s := r.waitPushed("session-revoked after restart", 30*time.Second, func(s specSET) bool {
		return s.event() == specSessionRevoked && s.sessionID() == late
	})
	checkWithJose(t, issuer, push.Aud, []string{s.Raw})
}

// checkWithJose verifies sets with npm jose against the JWKS the issuer
// publishes (ssf/testdata/node/verify.mjs) and fails on any that does not
// verify or whose claims break RFC 8417 or the event schemas. A tampered
// copy of the first must fail, so the check itself can fail.
func checkWithJose(t *testing.T, issuer, aud string, sets []string) {
	t.Helper()
	if len(sets) == 0 {
		t.Fatal("no SETs to check")
	}
	require := os.Getenv("SESSIOND_TEST_REQUIRE") == "1"
	node, err := exec.LookPath("node")
	dir := filepath.Join("..", "..", "ssf", "testdata", "node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "jose"))
	}
	if err != nil {
		if require {
			t.Fatalf("node or npm jose missing: npm ci --prefix ssf/testdata/node (%v)", err)
		}
		t.Skipf("node or npm jose missing: npm ci --prefix ssf/testdata/node (%v)", err)
	}
	res, err := http.Get(issuer + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(res.Body)
	res.Body.Close()
	parts := strings.Split(sets[0], ".")
	tampered := parts[0] + "." + parts[1][:len(parts[1])-2] + "AA." + parts[2]
	in, _ := json.Marshal(map[string]any{"jwks": json.RawMessage(jwks), "issuer": issuer, "audience": aud,
		"sets": append(slices.Clone(sets), tampered)})
	file := filepath.Join(t.TempDir(), "sets.json")
	if err := os.WriteFile(file, in, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), node, "verify.mjs", file)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node verify.mjs: %v", err)
	}
	var results []struct {
		OK     bool           `json:"ok"`
		Error  string         `json:"error"`
		Header map[string]any `json:"header"`
	}
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(sets)+1 {
		t.Fatalf("verify.mjs output %s: %v", out, err)
	}
	for i, r := range results[:len(sets)] {
		if !r.OK || r.Header["typ"] != "secevent+jwt" {
			t.Errorf("jose: SET %d: %s (header %v)", i, r.Error, r.Header)
		}
	}
	if results[len(sets)].OK {
		t.Error("jose accepted a tampered SET")
	}
}
