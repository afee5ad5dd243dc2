package apitype_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

func TestCodes_HaveTitles(t *testing.T) {
	codes := apitype.Codes()
	if len(codes) < 15 {
		t.Fatalf("Codes() = %d codes; want the 15 of the contract", len(codes))
	}
	for _, c := range codes {
		if apitype.Title(c) == "" {
			t.Errorf("Title(%q) is empty", c)
		}
	}
	if apitype.Title("no_such_code") != "" || apitype.Sentinel("no_such_code") != nil {
		t.Error("an unknown code has a title or a sentinel")
	}
}

func TestSentinel(t *testing.T) {
	for _, tc := range []struct {
		code string
		want error
	}{
		{apitype.CodeTokenExpired, sessiond.ErrExpired},
		{apitype.CodeSessionRevoked, sessiond.ErrRevoked},
		{apitype.CodeRefreshReused, sessiond.ErrRefreshReused},
		{apitype.CodeStoreUnavailable, sessiond.ErrStoreUnavailable},
		{apitype.CodeUnauthorized, nil},
		{apitype.CodeTooManyRequests, sessiond.ErrRateLimited},
	} {
		if got := apitype.Sentinel(tc.code); !errors.Is(got, tc.want) || (tc.want == nil && got != nil) {
			t.Errorf("Sentinel(%q) = %v; want %v", tc.code, got, tc.want)
		}
	}
}

func TestSessionOf_WireForm(t *testing.T) {
	loc := time.FixedZone("x", 3600)
	s := &sessiond.Session{ID: "s1", Subject: "alice", Strategy: sessiond.StrategyHybrid,
		CreatedAt: time.Date(2030, 1, 2, 3, 4, 5, 0, loc), Client: sessiond.Client{IP: "192.0.2.1"}}
	b, err := json.Marshal(apitype.SessionOf(s))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["created_at"] != "2030-01-02T02:04:05Z" {
		t.Errorf("created_at = %v; want UTC", got["created_at"])
	}
	if claims, ok := got["claims"].(map[string]any); !ok || len(claims) != 0 {
		t.Errorf("claims = %v; want {} for a session without claims", got["claims"])
	}
	if c, _ := got["client"].(map[string]any); c["ip"] != "192.0.2.1" {
		t.Errorf("client = %v; want ip 192.0.2.1", got["client"])
	}
}
