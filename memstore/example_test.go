package memstore_test

import (
	"context"
	"fmt"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

func ExampleNew() {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()

	now := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	s := &sessiond.Session{
		ID:            sessiond.NewSessionID(),
		Subject:       "alice",
		Strategy:      sessiond.StrategyDatabase,
		CreatedAt:     now,
		LastActiveAt:  now,
		IdleExpiresAt: now.Add(30 * time.Minute),
		ExpiresAt:     now.Add(8 * time.Hour),
	}
	tok := sessiond.Token{
		Hash:      sessiond.HashToken("example-access-token"),
		Kind:      sessiond.KindAccess,
		SessionID: s.ID,
		IssuedAt:  now,
		ExpiresAt: s.ExpiresAt,
	}
	if err := st.Create(ctx, s, tok); err != nil {
		fmt.Println(err)
		return
	}

	_, got, err := st.Lookup(ctx, sessiond.HashToken("example-access-token"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.Subject, got.Live(now.Add(time.Minute)))
	// Output: alice true
}
