package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/client"
)

// TestCLI_SessionsListPages: sessions list --limit shows one page and, when
// more follow, "more: --cursor C" on stderr, in the table and with --json;
// --cursor C shows the next page; the pages together show each session
// once. Without --limit the listing is every session, with no cursor.
func TestCLI_SessionsListPages(t *testing.T) {
	n := startNode(t, nodeConfig{env: []string{"SESSIOND_API_KEY=" + testAPIKey}})
	c := n.client()
	want := map[string]bool{}
	for range 3 {
		tr, err := c.CreateSession(context.Background(), client.CreateRequest{Subject: "pat"})
		if err != nil {
			t.Fatal(err)
		}
		want[string(tr.Session.ID)] = true
	}
	next := func(errOut string) string {
		c, _ := strings.CutPrefix(strings.TrimSpace(errOut), "more: --cursor ")
		return c
	}
	for _, asJSON := range []bool{false, true} {
		args := []string{"sessions", "list", "--subject", "pat", "--limit", "2"}
		if asJSON {
			args = append(args, "--json")
		}
		seen := map[string]int{}
		rows := func(out string) (n int) {
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if asJSON {
					var s client.Session
					if err := json.Unmarshal([]byte(line), &s); err != nil {
						t.Fatalf("--json line %q: %v", line, err)
					}
					seen[string(s.ID)]++
					n++
				} else if id, _, _ := strings.Cut(line, " "); want[id] {
					seen[id]++
					n++
				}
			}
			return n
		}
		out, errOut, code := n.cli(args...)
		cursor := next(errOut)
		if code != 0 || rows(out) != 2 || cursor == "" {
			t.Fatalf("%v = exit %d, %q, %q; want 2 sessions and \"more: --cursor C\" on stderr", args, code, out, errOut)
		}
		out, errOut, code = n.cli(append(args, "--cursor", cursor)...)
		if code != 0 || rows(out) != 1 || errOut != "" {
			t.Fatalf("%v --cursor = exit %d, %q, %q; want the last session and no cursor", args, code, out, errOut)
		}
		for id := range want {
			if seen[id] != 1 {
				t.Errorf("json %v: session %s shown %d times over the pages; want once", asJSON, id, seen[id])
			}
		}
	}
	out, errOut, code := n.cli("sessions", "list", "--subject", "pat")
	if code != 0 || strings.Count(out, "\n") != 4 || errOut != "" {
		t.Errorf("sessions list without --limit = exit %d, %q, %q; want a header and the 3 sessions, nothing on stderr", code, out, errOut)
	}
	// Another subject's cursor: the server refuses it.
	_, errOut, _ = n.cli("sessions", "list", "--subject", "pat", "--limit", "1")
	if _, err := c.CreateSession(context.Background(), client.CreateRequest{Subject: "quin"}); err != nil {
		t.Fatal(err)
	}
	if _, errQ, code := n.cli("sessions", "list", "--subject", "quin", "--limit", "1", "--cursor", next(errOut)); code == 0 || !strings.Contains(errQ, "cursor") {
		t.Errorf("quin's page after pat's cursor = exit %d, %q; want a failure naming the cursor", code, errQ)
	}
}
