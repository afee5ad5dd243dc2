package verifier_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/verifier"
)

// A resource server checks sessiond access tokens locally; revocations
// reach it through the revocation stream.
func ExampleNew() {
	ctx := context.Background()
	v, err := verifier.New(ctx, verifier.Options{
		URL:      "https://sessiond.internal:8420",
		APIKey:   sessiond.Secret(os.Getenv("SESSIOND_API_KEY")),
		Issuer:   "https://auth.example.com", // the server's jwt.issuer (see docs/verifier.md)
		Audience: "my-app",
		// Past a minute without word from sessiond, keep serving and log
		// a warning instead of refusing every request.
		MaxStaleness: time.Minute,
		WhenStale:    verifier.AcceptWhenStale,
	})
	if err != nil {
		log.Print(err) // sessiond is unreachable, or the options are wrong
		return
	}
	defer v.Close()
	fmt.Println(v.Status().Connected)
}

func ExampleVerifier_Verify() {
	var v *verifier.Verifier // from verifier.New
	check := func(ctx context.Context, token string) (string, int) {
		c, err := v.Verify(ctx, token)
		switch {
		case errors.Is(err, verifier.ErrStale):
			return "", http.StatusServiceUnavailable // revocations cannot be checked now
		case err != nil:
			return "", http.StatusUnauthorized // invalid, expired or revoked
		}
		return c.Subject, http.StatusOK
	}
	_ = check
}

func ExampleVerifier_Middleware() {
	var v *verifier.Verifier // from verifier.New
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := verifier.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "hello %s (session %s)", c.Subject, c.SessionID)
	})
	mux := http.NewServeMux()
	mux.Handle("/api/", v.Middleware(api))
}
