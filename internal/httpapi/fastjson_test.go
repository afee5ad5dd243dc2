package httpapi

import (
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// FuzzAppendSession: the hand-written encoder writes exactly what
// encoding/json writes for any session.
func FuzzAppendSession(f *testing.F) {
	f.Add("alice", "203.0.113.1", "Mozilla/5.0 \"quoted\" <b>&", `{"role":"admin"}`, int64(1795698650194575), true)
	f.Add("\x00\x1f\u2028\u2029\xff", "", "\t\n\r\b\f", `{ "a" : [1, 2] , "b":"<x>" }`, int64(0), false)
	f.Add("ünï©ødé", "::1", "", `{}`, int64(-62135596800000000), false)
	f.Fuzz(func(t *testing.T, subject, ip, ua, claims string, micros int64, persistent bool) {
		if !json.Valid([]byte(claims)) || len(claims) == 0 || claims[0] != '{' {
			claims = `{}`
		}
		tm := time.UnixMicro(micros).UTC()
		s := apitype.Session{ID: sessiond.SessionID(subject + "id"), Subject: subject, Strategy: sessiond.StrategyHybrid,
			CreatedAt: tm, LastActiveAt: tm.Add(time.Second), IdleExpiresAt: tm.Add(time.Hour), ExpiresAt: tm.Add(8 * time.Hour),
			Persistent: persistent, Client: sessiond.Client{IP: ip, UserAgent: ua}, Claims: json.RawMessage(claims)}
		want, err := json.Marshal(s)
		if err != nil {
			return // years outside [0,9999]: json.Marshal refuses, and so do our times
		}
		got := appendSession(nil, &s)
		if string(got) != string(want) {
			t.Fatalf("appendSession =\n%s\njson.Marshal =\n%s", got, want)
		}
		if utf8.ValidString(claims) && (!utf8.Valid(got) || !json.Valid(got)) {
			t.Fatal("invalid JSON") // claims reach here as valid UTF-8 (the Manager checks)
		}
	})
}
