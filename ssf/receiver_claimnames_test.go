package ssf_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/ssf"
)

// TestPushClaimNamesExact: claim and member names are case-sensitive
// (RFC 7519 §4) and unique (RFC 7519 §4, RFC 8259 §4). encoding/json
// alone takes "ISS" or "iſs" for iss and keeps the last of two "iss",
// where a reader that follows the RFCs reads another value or refuses the
// SET; the receiver refuses such a SET rather than act on its own reading.
// Each refused SET below is one encoding/json alone acts on (revoking
// alice's sessions, or the one named); the accepted ones show that claims
// sessiond does not read, in any letters, are still let through.
func TestPushClaimNamesExact(t *testing.T) {
	const (
		alice = `{"format":"email","email":"alice@example.com"}`
		bob   = `{"format":"email","email":"bob@example.com"}`
	)
	tests := []struct {
		name string
		// claims is the claim set, with {iss} {aud} {iat} {jti} {ev}
		// (account-disabled), {sr} (session-revoked) and {sid} (the
		// session's ID) filled in.
		claims string
		accept bool
	}{
		{"Iss for iss", `{"Iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{ev}":{"subject":` + alice + `}}}`, false},
		{"ISS after iss", `{"iss":"https://evil.example/","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{ev}":{"subject":` + alice + `}},"ISS":"{iss}"}`, false},
		{"long s in iss", `{"i\u017fs":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{ev}":{"subject":` + alice + `}}}`, false},
		{"AUD", `{"iss":"{iss}","AUD":"{aud}","iat":{iat},"jti":"{jti}","events":{"{ev}":{"subject":` + alice + `}}}`, false},
		{"Iat", `{"iss":"{iss}","aud":"{aud}","Iat":{iat},"jti":"{jti}","events":{"{ev}":{"subject":` + alice + `}}}`, false},
		{"JTI", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"JTI":"{jti}","events":{"{ev}":{"subject":` + alice + `}}}`, false},
		{"Events", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","Events":{"{ev}":{"subject":` + alice + `}}}`, false},
		{"Exp", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","Exp":{iat},"events":{"{ev}":{"subject":` + alice + `}}}`, false},
		{"SUB_ID", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","SUB_ID":` + alice + `,"events":{"{ev}":{}}}`, false},
		{"Subject in the event", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{ev}":{"Subject":` + alice + `}}}`, false},
		{"FORMAT and EMAIL", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{ev}":{"subject":{"FORMAT":"email","EMAIL":"alice@example.com"}}}}`, false},
		{"USER of a complex subject", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{sr}":{"subject":{"format":"complex","USER":` + alice + `}}}}`, false},
		{"Session of a complex subject", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{sr}":{"subject":{"format":"complex","user":` + alice + `,"Session":{"format":"opaque","id":"{sid}"}}}}}`, false},
		{"ID of a complex session", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{sr}":{"subject":{"format":"complex","user":` + alice + `,"session":{"format":"opaque","ID":"{sid}"}}}}}`, false},

		{"iss twice", `{"iss":"https://evil.example/","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{ev}":{"subject":` + alice + `}},"iss":"{iss}"}`, false},
		{"iss twice, once escaped", `{"iss":"https://evil.example/","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{ev}":{"subject":` + alice + `}},"\u0069ss":"{iss}"}`, false},
		{"one event type twice", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{ev}":{"subject":` + bob + `},"{ev}":{"subject":` + alice + `}}}`, false},
		{"subject twice in the event", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{ev}":{"subject":` + bob + `,"subject":` + alice + `}}}`, false},
		{"email twice in the subject", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{ev}":{"subject":{"format":"email","email":"bob@example.com","email":"alice@example.com"}}}}`, false},
		{"a name twice in a claim sessiond does not read", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","ext":{"a":1,"a":2},"events":{"{ev}":{"subject":` + alice + `}}}`, false},

		{"claims sessiond does not read, in any letters", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","txn":"t1","TXN":"t2","toe":{iat},"Foo":{"x":1,"X":2},"events":{"{ev}":{"subject":` + alice + `,"reason_admin":{"en":"x"},"Reason_Admin":{}}}}`, true},
		{"session-revoked naming the session", `{"iss":"{iss}","aud":"{aud}","iat":{iat},"jti":"{jti}","events":{"{sr}":{"subject":{"format":"complex","user":` + alice + `,"session":{"format":"opaque","id":"{sid}"}}}}}`, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			a, err := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			claims := strings.NewReplacer("{iss}", testIss, "{aud}", testAud, "{iat}", fmt.Sprint(f.now.Unix()),
				"{jti}", fmt.Sprintf("names-%d", i), "{ev}", ssf.RISCAccountDisabled, "{sr}", ssf.CAEPSessionRevoked,
				"{sid}", string(a.Session.ID)).Replace(tc.claims)
			set := testenv.SignJWS(t, f.tr.key, jose.ES256,
				(&jose.SignerOptions{}).WithHeader("kid", "tx-1").WithType("secevent+jwt"), json.RawMessage(claims))
			code, e, desc := f.pushDescribed(t, set)
			_, getErr := f.mgr.Get(ctx, a.Session.ID)
			switch {
			case tc.accept && code != http.StatusAccepted:
				t.Errorf("push = %d %q %q; want 202", code, e, desc)
			case tc.accept && getErr == nil:
				t.Error("accepted, but alice's session is still live")
			case !tc.accept && (code != http.StatusBadRequest || e != ssf.CodeInvalidRequest):
				t.Errorf("push = %d %q %q; want 400 invalid_request", code, e, desc)
			case !tc.accept && getErr != nil:
				t.Errorf("refused, but alice's session ended: %v", getErr)
			}
		})
	}
}
