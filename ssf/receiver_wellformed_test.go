package ssf_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/ssf"
)

// TestPushIllFormedStrings: encoding/json reads an invalid UTF-8 byte and
// a lone surrogate escape alike as U+FFFD, so "\ud800bob", "\udfffbob"
// and "\xffbob" are one subject to it, where another reader of the SET
// (the transmitter's audit, a receiver in JavaScript) keeps them apart or
// refuses them: a SET naming one would end the sessions of a user whose
// name holds a U+FFFD. Such a SET is refused (RFC 7519 §7.2: the claims
// are UTF-8; RFC 7493 §2.1 forbids the escape), as the API refuses such a
// subject; a surrogate pair, and a literal backslash before "u", are not
// such strings.
func TestPushIllFormedStrings(t *testing.T) {
	tests := []struct {
		name, subject string
		accept        bool
	}{
		{"lone high surrogate escape", `\ud800bob@example.com`, false},
		{"lone low surrogate escape", `\udfffbob@example.com`, false},
		{"surrogates in the wrong order", `\udc00\ud800bob@example.com`, false},
		{"invalid UTF-8", "\xffbob@example.com", false},
		{"the replacement character itself", `\ufffdbob@example.com`, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			s, err := f.mgr.Create(ctx, "user:\ufffdbob@example.com", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			claims := fmt.Sprintf(`{"iss":%q,"aud":%q,"iat":%d,"jti":"wf-%d","events":{%q:{"subject":{"format":"email","email":"%s"}}}}`,
				testIss, testAud, f.now.Unix(), i, ssf.RISCAccountDisabled, tc.subject)
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: f.tr.key},
				(&jose.SignerOptions{}).WithHeader("kid", "tx-1").WithType("secevent+jwt"))
			if err != nil {
				t.Fatal(err)
			}
			obj, err := signer.Sign([]byte(claims)) // as written: no encoder repairs it
			if err != nil {
				t.Fatal(err)
			}
			set, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			code, e, desc := f.pushDescribed(t, set)
			_, getErr := f.mgr.Get(ctx, s.Session.ID)
			switch {
			case tc.accept && (code != http.StatusAccepted || getErr == nil):
				t.Errorf("push = %d %q %q, session error %v; want 202 and the session ended", code, e, desc, getErr)
			case !tc.accept && (code != http.StatusBadRequest || !strings.Contains(desc, "UTF-8")):
				t.Errorf("push = %d %q %q; want 400 invalid_request naming UTF-8", code, e, desc)
			case !tc.accept && getErr != nil:
				t.Errorf("refused, but the session of user:\ufffdbob@example.com ended: %v", getErr)
			}
		})
	}
}
