package ssf_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/ssf"
)

// TestSubjectRule_Map_IssSubIssuer: a sub is unique only within its iss
// (RFC 9493 §3.2.3). Mapped from the sub alone, an iss_sub of another
// issuer names that issuer's user, who may share the sub with one of
// ours: refused, unless the template puts {iss} in the subject.
func TestSubjectRule_Map_IssSubIssuer(t *testing.T) {
	t.Parallel()
	const ours, theirs = "https://idp.example.com/", "https://other-tenant.example.com/"
	issSub := func(iss string) map[string]any { return map[string]any{"format": "iss_sub", "iss": iss, "sub": "00u1"} }
	tests := []struct {
		name string
		rule ssf.SubjectRule
		id   map[string]any
		want string // "" when refused
	}{
		{"the expected issuer", ssf.SubjectRule{Format: ssf.FormatIssSub, Issuers: []string{ours}}, issSub(ours), "00u1"},
		{"one of several expected issuers", ssf.SubjectRule{Format: ssf.FormatIssSub, Template: "okta:{value}", Issuers: []string{theirs, ours}}, issSub(ours), "okta:00u1"},
		{"another issuer", ssf.SubjectRule{Format: ssf.FormatIssSub, Issuers: []string{ours}}, issSub(theirs), ""},
		{"another issuer inside complex", ssf.SubjectRule{Format: ssf.FormatIssSub, Issuers: []string{ours}},
			map[string]any{"format": "complex", "user": issSub(theirs), "session": map[string]any{"format": "opaque", "id": "s1"}}, ""},
		{"issuer differing by a trailing slash", ssf.SubjectRule{Format: ssf.FormatIssSub, Issuers: []string{ours}}, issSub(strings.TrimSuffix(ours, "/")), ""},
		{"no expected issuer", ssf.SubjectRule{Format: ssf.FormatIssSub}, issSub(ours), ""},
		{"template holding {iss}", ssf.SubjectRule{Format: ssf.FormatIssSub, Template: "{iss}#{value}", Issuers: []string{ours}}, issSub(theirs), theirs + "#00u1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(tc.id)
			got, _, err := tc.rule.Map(raw)
			if tc.want == "" {
				if !errors.Is(err, ssf.ErrSubject) {
					t.Errorf("Map(%s) = %q, %v; want ErrSubject", raw, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Map(%s) = %q, %v; want %q", raw, got, err, tc.want)
			}
		})
	}
}

// TestPush_IssSubOfAnotherIssuer: a receiver mapping iss_sub by the sub
// alone acts on its transmitter's users (the iss of the SET, by default)
// and refuses, with invalid_request, a SET naming another issuer's user
// whose sub is one of its users' subjects.
func TestPush_IssSubOfAnotherIssuer(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: f.tr.jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatIssSub}, Revoker: f.mgr, Replay: f.store})
	if err != nil {
		t.Fatal(err)
	}
	push := func(jti, iss string) (int, string) {
		c := claims(jti, f.now, ssf.RISCAccountDisabled, map[string]any{})
		c["sub_id"] = map[string]any{"format": "iss_sub", "iss": iss, "sub": "00u1"}
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", c)))
		req.Header.Set("Content-Type", "application/secevent+jwt")
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		var e struct {
			Err string `json:"err"`
		}
		_ = json.NewDecoder(w.Body).Decode(&e)
		return w.Code, e.Err
	}
	s, _ := f.mgr.Create(ctx, "00u1", sessiond.CreateOptions{})
	if code, e := push("foreign", "https://other-tenant.example.com/"); code != http.StatusBadRequest || e != ssf.CodeInvalidRequest {
		t.Errorf("iss_sub of another issuer = %d %q; want 400 invalid_request", code, e)
	}
	if _, err := f.mgr.Get(ctx, s.Session.ID); err != nil {
		t.Fatalf("a SET about another issuer's user ended the session of our user with the same sub: %v", err)
	}
	if code, e := push("ours", testIss); code != http.StatusAccepted {
		t.Errorf("iss_sub of the transmitter's issuer = %d %q; want 202", code, e)
	}
	if _, err := f.mgr.Get(ctx, s.Session.ID); err == nil {
		t.Error("a SET about the transmitter's own user left the session live")
	}
}

// TestPush_SessionOutsideComplex: RFC 9493 gives simple identifiers no
// "session" member; only a complex subject names a session. One on an
// email identifier is ignored: session-revoked then ends all the user's
// sessions (more than asked, never another user's), rather than being
// refused and ending none.
func TestPush_SessionOutsideComplex(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a1, _ := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
	a2, _ := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
	b, _ := f.mgr.Create(ctx, "user:bob@example.com", sessiond.CreateOptions{})
	// The stray session member even names bob's session: it must not count.
	subj := map[string]any{"format": "email", "email": "alice@example.com",
		"session": map[string]any{"format": "opaque", "id": string(b.Session.ID)}}
	c := claims("stray-session", f.now, ssf.CAEPSessionRevoked, map[string]any{"subject": subj})
	if code, e := f.push(t, sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", c)); code != http.StatusAccepted {
		t.Fatalf("session-revoked with a session member on an email identifier = %d %s; want 202", code, e)
	}
	for _, id := range []sessiond.SessionID{a1.Session.ID, a2.Session.ID} {
		if _, err := f.mgr.Get(ctx, id); err == nil {
			t.Errorf("alice's session %s still live; want all of hers ended", id)
		}
	}
	if _, err := f.mgr.Get(ctx, b.Session.ID); err != nil {
		t.Errorf("bob's session, named by the stray member, ended: %v", err)
	}
}

// Listing more issuers adds to the receiver's own: an iss_sub of its own
// issuer is still acted on.
func TestPush_SubjectIssuersKeepOwnIssuer(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: f.tr.jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatIssSub, Issuers: []string{"https://tenant-b.example.com/"}},
		Revoker: f.mgr, Replay: f.store})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := f.mgr.Create(ctx, "00u1", sessiond.CreateOptions{})
	c := claims("own-issuer", f.now, ssf.RISCAccountDisabled, map[string]any{})
	c["sub_id"] = map[string]any{"format": "iss_sub", "iss": testIss, "sub": "00u1"}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", c)))
	req.Header.Set("Content-Type", "application/secevent+jwt")
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	var e struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}
	_ = json.NewDecoder(w.Body).Decode(&e)
	if w.Code != http.StatusAccepted {
		t.Errorf("iss_sub of the receiver's own issuer, with subject_issuers listing another = %d %q %q; want 202 (the receiver's issuer is always accepted, as CHANGELOG says)", w.Code, e.Err, e.Description)
	}
	if _, err := f.mgr.Get(ctx, s.Session.ID); err == nil {
		t.Error("the transmitter's own user's session is still live: the revocation was dropped")
	}
}
