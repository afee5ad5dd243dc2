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
