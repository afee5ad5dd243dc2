package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// resumeHarness runs the refresh page's script in node with a stand-in
// browser: fetch answers as the case says (or never: "stall"), timers run
// at once (their delays recorded), and the Web Lock is released when the
// script's callback settles. It prints what the page did after a second
// of real time.
const resumeHarness = `
const vm = require("node:vm");
const fs = require("node:fs");
const script = fs.readFileSync(0, "utf8");
const answers = JSON.parse(process.argv[1]);
const out = { replaced: null, fetches: 0, lockReleased: false, delays: [] };
const ctx = {
  document: { documentElement: { dataset: { to: "/app", login: "/login", first: process.argv[2] } } },
  location: { pathname: "/sessiond/refresh", replace(u) { out.replaced = u; } },
  navigator: { locks: { request(name, fn) { return Promise.resolve(fn()).finally(() => { out.lockReleased = true; }); } } },
  fetch(url, init) {
    const a = answers[out.fetches++] || "stall";
    if (a === "error") return Promise.reject(new TypeError("network error"));
    if (a !== "stall") return Promise.resolve({ ok: +a < 300, status: +a });
    return new Promise((resolve, reject) => {
      const s = init && init.signal;
      if (s) s.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    });
  },
  AbortController, DOMException, Promise,
  setTimeout(fn, ms) { out.delays.push(ms); return setTimeout(fn, 0); },
  clearTimeout,
};
vm.runInNewContext(script, ctx);
setTimeout(() => console.log(JSON.stringify(out)), 1000);
`

// TestResumeScript: the refresh page's script never waits on a refresh
// forever. It holds the cross-tab Web Lock while it refreshes, so a
// request whose answer never comes (the connection went silent after the
// server committed: a train in a tunnel) must not hold every tab's
// refresh, nor leave the user on a blank page: it gives up after a time,
// sends the refresh once more, and then goes to the login page.
func TestResumeScript(t *testing.T) {
	node := testenv.Node(t, "the refresh page's script", ".")
	e := newEnv(t, envOptions{})
	b := e.loggedIn(t, e.login(t, "alice"))
	r := b.do(http.MethodGet, "/sessiond/refresh?return_to=/app", "")
	// The first attempt's bound, as the server rendered it for its reuse
	// interval (the default 5s).
	_, first, _ := strings.Cut(r.body, `data-first="`)
	first, _, _ = strings.Cut(first, `"`)
	if first != "3000" {
		t.Errorf("data-first = %q; want 3000 (the default reuse interval less the pause and a second)", first)
	}
	_, script, _ := strings.Cut(r.body, "<script>")
	script, _, _ = strings.Cut(script, "</script>")
	if script == "" {
		t.Fatalf("no script in the refresh page: %s", r.body)
	}
	tests := []struct {
		name        string
		answers     []string // per fetch: a status, "error" or "stall"
		wantTo      string
		wantFetches int
		wantDelays  []int // the attempts' bounds and the pause before the retry
	}{
		{"answered", []string{"200"}, "/app", 1, []int{3000}},
		{"refused", []string{"401"}, "/login", 1, []int{3000}},
		{"network error, then answered", []string{"error", "200"}, "/app", 2, []int{3000, 1000, 15000}},
		{"5xx twice", []string{"503", "503"}, "/login", 2, []int{3000, 1000, 15000}},
		// Given up after 3s, the retry is sent 4s after the first, within
		// the 5s the server takes the token the first may have retired;
		// the retry itself waits 15s, for a slow link's answer.
		{"stalled, then answered", []string{"stall", "200"}, "/app", 2, []int{3000, 1000, 15000}},
		{"stalled twice", []string{"stall", "stall"}, "/login", 2, []int{3000, 1000, 15000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answers, _ := json.Marshal(tt.answers)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, "-e", resumeHarness, string(answers), first)
			cmd.Stdin = strings.NewReader(script)
			raw, err := cmd.Output()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, raw)
			}
			var got struct {
				Replaced     *string
				Fetches      int
				LockReleased bool
				Delays       []int
			}
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatalf("harness output %q: %v", raw, err)
			}
			if got.Replaced == nil || *got.Replaced != tt.wantTo || got.Fetches != tt.wantFetches || !got.LockReleased {
				to := "nowhere"
				if got.Replaced != nil {
					to = *got.Replaced
				}
				t.Errorf("page went to %s after %d fetches, lock released %v (timers %v); want %s after %d, released",
					to, got.Fetches, got.LockReleased, got.Delays, tt.wantTo, tt.wantFetches)
			}
			if !slices.Equal(got.Delays, tt.wantDelays) {
				t.Errorf("timers = %v; want %v", got.Delays, tt.wantDelays)
			}
		})
	}
}
