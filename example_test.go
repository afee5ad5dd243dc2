package sessiond_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/setup"
)

// Example is the library quick-start from the README: a Manager wired by
// package setup on the in-memory store (hybrid tokens, signing keys kept in
// the store, anomaly detection on), a login, a verify, a refresh and a
// logout.
func Example() {
	ctx := context.Background()
	m, err := setup.New(ctx, memstore.New(), setup.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// Login: a new session and its tokens.
	iss, err := m.Create(ctx, "user-42", sessiond.CreateOptions{
		Client: sessiond.Client{IP: "203.0.113.9", UserAgent: "Mozilla/5.0"},
	})
	if err != nil {
		log.Fatal(err)
	}

	// Every request: verify the access token (no store read in hybrid).
	s, err := m.Verify(ctx, iss.AccessToken, sessiond.Client{})
	fmt.Println("verified:", s.Subject, err)

	// Before the access token expires: rotate the refresh token.
	next, err := m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
	fmt.Println("refreshed, same session:", err == nil && next.Session.ID == iss.Session.ID)

	// Logout: the session is revoked and its access tokens stop verifying at once.
	if err := m.Revoke(ctx, s.ID, sessiond.ReasonLogout); err != nil {
		log.Fatal(err) // not logged out: the session lives on (errors.Is(err, sessiond.ErrStoreUnavailable): retry)
	}
	_, err = m.Verify(ctx, next.AccessToken, sessiond.Client{})
	fmt.Println("after logout:", errors.Is(err, sessiond.ErrRevoked))
	// Output:
	// verified: user-42 <nil>
	// refreshed, same session: true
	// after logout: true
}

// New with the least wiring: a Store and, for the default hybrid
// strategy, a signer. The strategy (hybrid), the opaque token format, the
// lifetimes (the b2c preset) and everything else take their defaults; a key
// ring too short for the lifetimes fails here, not at the first login.
func ExampleNew() {
	ctx := context.Background()
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	signed, err := jwttoken.New(ring, jwttoken.Options{Issuer: "https://auth.example.com", Audience: "example-app"})
	if err != nil {
		log.Fatal(err)
	}
	m, err := sessiond.New(ctx, sessiond.Options{Store: memstore.New(), Signed: signed})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	fmt.Println(m.Strategy(), "access tokens live", m.Lifetimes().Access)

	iss, err := m.Create(ctx, "user-42", sessiond.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	s, err := m.Verify(ctx, iss.AccessToken, sessiond.Client{})
	fmt.Println(s.Subject, err)
	// Output:
	// hybrid access tokens live 1h0m0s
	// user-42 <nil>
}

func ExampleManager_Refresh() {
	ctx := context.Background()
	ring, _ := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: 30 * 24 * time.Hour})
	signed, _ := jwttoken.New(ring, jwttoken.Options{Issuer: "https://auth.example.com", Audience: "app"})
	m, _ := sessiond.New(ctx, sessiond.Options{
		Strategy: sessiond.StrategyHybrid, Store: memstore.New(), Signed: signed, Opaque: opaquetoken.Codec{},
		ReuseInterval: -1, // no grace: any second use of a refresh token is theft
	})
	defer m.Close()
	iss, _ := m.Create(ctx, "user-7", sessiond.CreateOptions{})
	if _, err := m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); err != nil {
		log.Fatal(err)
	}
	// The same refresh token again: stolen. The whole session is revoked.
	_, err := m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
	fmt.Println(errors.Is(err, sessiond.ErrRefreshReused))
	// Output: true
}

// InspectChecked lets the caller refuse a session for what the token alone
// does not show, before the Manager records the session's activity.
func ExampleManager_InspectChecked() {
	ctx := context.Background()
	m, _ := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: memstore.New(), Opaque: opaquetoken.Codec{}})
	defer m.Close()
	iss, _ := m.Create(ctx, "user-9", sessiond.CreateOptions{})
	errNoProof := errors.New("this session needs a proof of its key")
	_, err := m.InspectChecked(ctx, iss.AccessToken, sessiond.Client{}, func(s *sessiond.Session) error {
		if s.Subject == "user-9" { // say, a session bound to a key the request did not prove
			return errNoProof
		}
		return nil
	})
	fmt.Println(errors.Is(err, errNoProof))
	// Output: true
}

// ListPage walks a subject's sessions a bounded page at a time, however
// many sessions the subject has: follow Next until it is "".
func ExampleManager_ListPage() {
	ctx := context.Background()
	m, _ := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: memstore.New(), Opaque: opaquetoken.Codec{}})
	defer m.Close()
	for range 5 {
		if _, err := m.Create(ctx, "user-3", sessiond.CreateOptions{}); err != nil {
			log.Fatal(err)
		}
	}
	r := sessiond.PageRequest{Limit: 2}
	for {
		page, err := m.ListPage(ctx, "user-3", r)
		if err != nil {
			log.Fatal(err) // a cursor not from a page of user-3: errors.Is(err, sessiond.ErrInvalidArgument)
		}
		fmt.Println(len(page.Sessions), "sessions, more:", page.Next != "")
		if page.Next == "" {
			break
		}
		r.After = page.Next
	}
	// Output:
	// 2 sessions, more: true
	// 2 sessions, more: true
	// 1 sessions, more: false
}

// RevokeTokenChecked ends a token's session only if the check passes: a
// logout that must prove more than the token (a bound session's proof)
// revokes nothing without it, and records who logged out when it does.
func ExampleManager_RevokeTokenChecked() {
	ctx := context.Background()
	m, _ := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: memstore.New(), Opaque: opaquetoken.Codec{}})
	defer m.Close()
	iss, _ := m.Create(ctx, "user-7", sessiond.CreateOptions{})
	errNoProof := errors.New("the request does not prove the session's binding")
	from := sessiond.Client{IP: "198.51.100.7", UserAgent: "Example/1.0"}
	err := m.RevokeTokenChecked(ctx, iss.AccessToken, from, func(*sessiond.Session) error { return errNoProof })
	_, verr := m.Verify(ctx, iss.AccessToken, sessiond.Client{})
	fmt.Println(errors.Is(err, errNoProof), verr == nil)
	err = m.RevokeTokenChecked(ctx, iss.AccessToken, from, func(*sessiond.Session) error { return nil })
	_, verr = m.Verify(ctx, iss.AccessToken, sessiond.Client{})
	fmt.Println(err == nil, errors.Is(verr, sessiond.ErrRevoked))
	// Output:
	// true true
	// true true
}

// An Issued holds bearer tokens, so it has no JSON form of its own;
// TokenResponse writes them, deliberately, for the client they belong to.
func ExampleIssued_TokenResponse() {
	ctx := context.Background()
	m, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: memstore.New(), Opaque: opaquetoken.Codec{}})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	iss, err := m.Create(ctx, "user-42", sessiond.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	_, err = json.Marshal(iss)
	fmt.Println("json.Marshal(iss) fails:", errors.Is(err, sessiond.ErrInvalidArgument))

	b, err := json.Marshal(iss.TokenResponse())
	if err != nil {
		log.Fatal(err)
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	fmt.Println("token in clear:", out["access_token"] == string(iss.AccessToken), out["token_type"])
	// Output:
	// json.Marshal(iss) fails: true
	// token in clear: true Bearer
}
