package main

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// Password guessing (ASVS 6.3.1): after accountFailures wrong passwords
// for one account, sign-in answers 429 with Retry-After, even with the
// right password; another account is not affected, and successful
// sign-ins spend nothing.
func TestApp_LoginThrottlesFailures(t *testing.T) {
	_, srv := newTestApp(t)
	c := client(t)
	for range accountFailures + 2 { // right passwords spend nothing
		if resp := post(t, c, srv.URL+"/login", url.Values{"username": {"bob"}, "password": {"builder"}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("bob's sign-in = %d, want 303", resp.StatusCode)
		}
	}
	for i := range accountFailures {
		resp := post(t, c, srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"guess-" + strconv.Itoa(i)}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d = %d; want 401", i, resp.StatusCode)
		}
	}
	resp := post(t, c, srv.URL+"/login", url.Values{"username": {"alice"}, "password": {"wonderland"}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("sign-in after %d failures = %d (Retry-After %q); want 429 with Retry-After", accountFailures, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := post(t, c, srv.URL+"/login", url.Values{"username": {"bob"}, "password": {"builder"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("bob's sign-in while alice is throttled = %d, want 303", resp.StatusCode)
	}
}

// A flood of made-up names must not reset a real account's count, nor
// grow the table without bound.
func TestLoginLimits_FloodKeepsCounts(t *testing.T) {
	l := newLoginLimits()
	now := time.Now()
	for range accountFailures {
		l.failed("alice", "192.0.2.1", now)
	}
	for i := range maxTracked + 10 {
		l.failed("user"+strconv.Itoa(i), "198.51.100."+strconv.Itoa(i%200), now)
	}
	if !l.throttled("alice", "203.0.113.9", now) {
		t.Error("alice's failures were forgotten in a flood of other names")
	}
	if n := len(l.accounts); n > maxTracked {
		t.Errorf("%d account buckets; want at most %d", n, maxTracked)
	}
	if !l.throttled("newcomer", "203.0.113.9", now) {
		t.Error("a new name was tracked although the table is full of unrefilled buckets")
	}
	if l.throttled("alice", "203.0.113.9", now.Add(accountRefill)) {
		t.Error("alice's bucket did not refill")
	}
}
