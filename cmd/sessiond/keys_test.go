package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/jwttoken"
)

// keyJSON is a line of `keys list --json`.
type keyJSON struct {
	Kid       string    `json:"kid"`
	Current   bool      `json:"current"`
	SignsFrom time.Time `json:"signs_from"`
}

func listKeys(t *testing.T, env []string) []keyJSON {
	t.Helper()
	out, errOut, code := runInProcess(env, "keys", "list", "--json")
	if code != 0 {
		t.Fatalf("keys list --json = exit %d, %q", code, errOut)
	}
	var keys []keyJSON
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var k keyJSON
		if err := json.Unmarshal([]byte(line), &k); err != nil {
			t.Fatalf("keys list --json line %q: %v", line, err)
		}
		keys = append(keys, k)
	}
	return keys
}

var rotated = regexp.MustCompile(`^published key (\S+); it signs from (\S+), key (\S+) until then\n$`)

// TestKeys_RotateSaysWhenTheKeySigns: a rotation publishes a key that
// signs only jwt.key_publish_period later; `keys rotate` names it with
// that time and the key that signs until then, and `keys list` shows the
// time (SIGNS FROM, signs_from) and the key that signs now (CURRENT). A
// second rotation meanwhile changes nothing and says so.
func TestKeys_RotateSaysWhenTheKeySigns(t *testing.T) {
	env := []string{"SESSIOND_DATA=" + t.TempDir()}
	if _, errOut, code := runInProcess(env, "keys", "list", "--create"); code != 0 {
		t.Fatalf("keys list --create = exit %d, %q", code, errOut)
	}
	first := listKeys(t, env)
	start := time.Now()
	out, errOut, code := runInProcess(env, "keys", "rotate")
	m := rotated.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("keys rotate = exit %d, %q %q; want %q", code, out, errOut, rotated)
	}
	next, signer := m[1], m[3]
	from, err := time.Parse(time.RFC3339, m[2])
	if err != nil {
		t.Fatal(err)
	}
	// jwt.key_publish_period is 10 minutes by default; RFC 3339 keeps seconds.
	if lo, hi := start.Add(10*time.Minute-time.Second), time.Now().Add(10*time.Minute); from.Before(lo) || from.After(hi) {
		t.Errorf("keys rotate says the key signs from %v; want 10 minutes after the rotation (%v)", from, start)
	}
	if len(first) != 1 || signer != first[0].Kid || next == signer {
		t.Errorf("keys rotate named %s as the signer until then, %s as the new key; want the one key before it, %s, and another", signer, next, first[0].Kid)
	}

	keys := listKeys(t, env)
	want := []keyJSON{{Kid: next, SignsFrom: from}, {Kid: signer, Current: true}}
	same := func(a, b keyJSON) bool { // keys rotate prints whole seconds
		return a.Kid == b.Kid && a.Current == b.Current && a.SignsFrom.Truncate(time.Second).Equal(b.SignsFrom)
	}
	if !slices.EqualFunc(keys, want, same) {
		t.Errorf("keys list --json after the rotation = %+v; want %+v", keys, want)
	}
	table, _, _ := runInProcess(env, "keys", "list")
	var rows []string // each line's cells, one space apart
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		rows = append(rows, strings.Join(strings.Fields(line), " "))
	}
	if len(rows) != 3 || rows[0] != "KID ALG CREATED RETIRED CURRENT SIGNS FROM" ||
		!strings.HasSuffix(rows[1], "- false "+m[2]) || !strings.HasSuffix(rows[2], "- true -") {
		t.Errorf("keys list =\n%s\nwant the columns KID ALG CREATED RETIRED CURRENT SIGNS FROM, and %s on the new key", table, m[2])
	}

	again, _, code := runInProcess(env, "keys", "rotate")
	if want := "a rotation is already scheduled: key " + next + " signs from " + m[2] + ", key " + signer + " until then\n"; code != 0 || again != want {
		t.Errorf("second keys rotate = exit %d, %q; want %q", code, again, want)
	}
	if keys := listKeys(t, env); len(keys) != 2 {
		t.Errorf("after a second rotation, %d keys; want the same two", len(keys))
	}
}

// TestSigningNow: once the scheduled key's time has come it signs, on
// every node, before any node records it as the signer; keys list says
// so.
func TestSigningNow(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 10, 0, 0, time.UTC)
	ring := func() []jwttoken.KeyInfo {
		return []jwttoken.KeyInfo{{ID: "next", ActivatesAt: at}, {ID: "signer", Current: true}, {ID: "old", RetiredAt: at.Add(-time.Hour)}}
	}
	for _, tc := range []struct {
		now  time.Time
		want string
	}{
		{at.Add(-time.Second), "signer"},
		{at, "next"},
		{at.Add(time.Minute), "next"},
	} {
		var current []string
		for _, k := range signingNow(ring(), tc.now) {
			if k.Current {
				current = append(current, k.ID)
			}
		}
		if !slices.Equal(current, []string{tc.want}) {
			t.Errorf("signingNow at %v: current %q; want [%s]", tc.now, current, tc.want)
		}
	}
}

// TestKeys_KEKFromTheCommandEnvironment: keys reads SESSIOND_KEK from the
// environment the command runs with, as serve does, so that the ring it
// creates is sealed and a ring sealed with it opens. Given the KEK only as
// an old one (step 1 of introducing a KEK), it rotates and the ring stays
// sealed; without it, it changes nothing.
func TestKeys_KEKFromTheCommandEnvironment(t *testing.T) {
	raw := make([]byte, 32)
	rand.Read(raw)
	dir := t.TempDir()
	data := "SESSIOND_DATA=" + dir
	kekFile := filepath.Join(dir, "kek")
	if err := os.WriteFile(kekFile, []byte(base64.StdEncoding.EncodeToString(raw)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	withKEK := []string{data, "SESSIOND_KEK=" + base64.StdEncoding.EncodeToString(raw)}
	oldOnly := []string{data, "SESSIOND_SIGNING_OLD_KEK_FILES=" + kekFile}
	for _, step := range []struct {
		name string
		env  []string
		args []string
		ok   bool
	}{
		{"create sealed", withKEK, []string{"keys", "list", "--create"}, true},
		{"list without the KEK", []string{data}, []string{"keys", "list"}, false},
		{"rotate without the KEK", []string{data}, []string{"keys", "rotate"}, false},
		{"rotate with the KEK as an old one", oldOnly, []string{"keys", "rotate"}, true},
		{"list with the KEK as an old one", oldOnly, []string{"keys", "list"}, true},
		{"list without the KEK after the rotation", []string{data}, []string{"keys", "list"}, false},
		{"list with a malformed KEK", []string{data, "SESSIOND_KEK=not-a-kek"}, []string{"keys", "list"}, false},
		{"list with the KEK", withKEK, []string{"keys", "list"}, true},
	} {
		_, errOut, code := runInProcess(step.env, step.args...)
		if (code == 0) != step.ok {
			t.Errorf("%s: sessiond %v = exit %d, %q; want success %v", step.name, step.args, code, errOut, step.ok)
		}
		if strings.Contains(errOut, "not-a-kek") {
			t.Errorf("%s: the KEK was printed: %q", step.name, errOut)
		}
	}
}
