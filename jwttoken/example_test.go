package jwttoken_test

import (
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
)

func ExampleCodec() {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ring, err := jwttoken.NewRing(now, jwttoken.RingOptions{MaxTokenLifetime: 7 * 24 * time.Hour})
	if err != nil {
		panic(err)
	}
	codec, err := jwttoken.New(ring, jwttoken.Options{Issuer: "https://auth.example.com", Audience: "api.example.com"})
	if err != nil {
		panic(err)
	}

	access, err := codec.Sign(sessiond.KindAccess, sessiond.TokenClaims{
		SessionID: "x7kq2m4vb5n6p3r2s7t4u5v6w2", Subject: "user-42", Strategy: sessiond.StrategyJWT,
		IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute),
		AuthTime: now, SessionExpiresAt: now.Add(8 * time.Hour),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(access) // a Secret prints redacted

	c, err := codec.Verify(sessiond.KindAccess, access, now.Add(time.Minute))
	fmt.Println(c.Subject, c.SessionID, c.ExpiresAt, err)

	_, err = codec.Verify(sessiond.KindRefresh, access, now.Add(time.Minute))
	fmt.Println(err)
	_, err = codec.Verify(sessiond.KindAccess, access, now.Add(time.Hour))
	fmt.Println(err)
	// Output:
	// REDACTED
	// user-42 x7kq2m4vb5n6p3r2s7t4u5v6w2 2030-01-02 03:19:05 +0000 UTC <nil>
	// jwttoken: wrong typ for this token kind: invalid token
	// jwttoken: token past exp: token expired
}

// A ring shared by several processes publishes a new key before it signs
// with it: Schedule makes it verify (and appear in the JWKS) at once, and
// sign only tokens issued from its activation time.
func ExampleKeyRing_Schedule() {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	ring, err := jwttoken.NewRing(now, jwttoken.RingOptions{MaxTokenLifetime: 24 * time.Hour})
	if err != nil {
		panic(err)
	}
	if _, _, err := ring.Schedule(now, now.Add(10*time.Minute)); err != nil {
		panic(err)
	}
	for _, k := range ring.Keys() {
		if k.Current {
			fmt.Println("signs now")
		} else {
			fmt.Println("published, signs from", k.ActivatesAt.Format(time.Kitchen))
		}
	}
	ring.Settle(now.Add(10 * time.Minute)) // later, by the owner's maintenance
	fmt.Println(len(ring.Keys()), ring.Keys()[0].Current)
	// Output:
	// published, signs from 12:10AM
	// signs now
	// 2 true
}
