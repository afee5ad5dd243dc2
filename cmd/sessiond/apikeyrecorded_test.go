package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
)

// TestCLI_APIKeyChangeWithItsEvent: a change made by apikey create,
// set-scopes or revoke and its event are one write. With the store
// refusing the event (a trigger on SQLite's event log, as a full disk
// refuses the insert that needs a new page), the key set is left as it
// was and the command exits 1; before, the change was kept, the command
// exited 0 and only a warning said the event was lost.
func TestCLI_APIKeyChangeWithItsEvent(t *testing.T) {
	dir := t.TempDir()
	env := []string{"SESSIOND_DATA=" + dir}
	if _, errOut, code := runInProcess(env, "keys", "list", "--create"); code != 0 {
		t.Fatalf("keys list --create = exit %d, %q", code, errOut)
	}
	type listed struct {
		ID        string    `json:"id"`
		Name      string    `json:"name"`
		Scopes    []string  `json:"scopes"`
		RevokedAt time.Time `json:"revoked_at"`
	}
	list := func() map[string]listed {
		t.Helper()
		out, errOut, code := runInProcess(env, "apikey", "list", "--json")
		if code != 0 {
			t.Fatalf("apikey list = exit %d, %q", code, errOut)
		}
		byName := map[string]listed{}
		for line := range strings.Lines(out) {
			var k listed
			if err := json.Unmarshal([]byte(line), &k); err != nil {
				t.Fatalf("apikey list --json line %q: %v", line, err)
			}
			byName[k.Name] = k
		}
		return byName
	}
	for _, name := range []string{"scoped", "live"} {
		if _, errOut, code := runInProcess(env, "apikey", "create", "--name", name); code != 0 {
			t.Fatalf("apikey create --name %s = exit %d, %q", name, code, errOut)
		}
	}
	keys := list()
	scoped, live := keys["scoped"].ID, keys["live"].ID

	refusal := testenv.RefuseKeyEvents(t, dir)
	for _, tc := range []struct {
		name string
		args []string
		kept func(map[string]listed) bool
	}{
		{"create", []string{"apikey", "create", "--name", "refused"},
			func(ks map[string]listed) bool { _, ok := ks["refused"]; return ok }},
		{"set-scopes", []string{"apikey", "set-scopes", scoped, "sessions:read"},
			func(ks map[string]listed) bool { return !slices.Equal(ks["scoped"].Scopes, []string{"verify"}) }},
		{"revoke", []string{"apikey", "revoke", live},
			func(ks map[string]listed) bool { return !ks["live"].RevokedAt.IsZero() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runInProcess(env, tc.args...)
			t.Logf("apikey %s with its event refused: exit %d, stderr %q", tc.name, code, errOut)
			if code != exitFailure {
				t.Errorf("apikey %s with its event refused = exit %d, stdout %q, stderr %q; want %d", tc.name, code, out, errOut, exitFailure)
			}
			if tc.kept(list()) {
				t.Errorf("apikey %s with its event refused: the change is kept without its event (stderr %q)", tc.name, errOut)
			}
		})
	}
	if got := refusal.Count(t); got != refusal.Before {
		t.Errorf("%d api_key events stored; want the %d stored before the trigger", got, refusal.Before)
	}

	// With the store taking events again, each change is written with its
	// one event; a second revoke records none.
	refusal.Lift(t)
	if out, errOut, code := runInProcess(env, "apikey", "set-scopes", scoped, "sessions:read"); code != 0 || out != scoped+" now has scopes sessions:read\n" {
		t.Fatalf("apikey set-scopes = exit %d, %q, %q", code, out, errOut)
	}
	for _, want := range []string{"revoked ", "already revoked "} {
		if out, errOut, code := runInProcess(env, "apikey", "revoke", live); code != 0 || out != want+live+"\n" {
			t.Fatalf("apikey revoke = exit %d, %q, %q; want %q", code, out, errOut, want+live)
		}
	}
	for id, want := range map[string][]string{
		scoped: {"api_key.created", "api_key.scopes_changed"},
		live:   {"api_key.created", "api_key.revoked"},
	} {
		got := refusal.Types(t, id, "cli", false)
		if !slices.Equal(got, want) {
			t.Errorf("events of key %s = %v; want %v", id, got, want)
		}
	}
}

// TestCLI_APIKeyEventsAsBefore: the events apikey create, set-scopes and
// revoke write with their change on SQLite are the rows record appended
// after it before: no subject, session nor client, and these details
// exactly (by "cli", the key's fields); a second revoke writes none.
func TestCLI_APIKeyEventsAsBefore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := []string{"SESSIOND_DATA=" + dir}
	if _, errOut, code := runInProcess(env, "keys", "list", "--create"); code != 0 {
		t.Fatalf("keys list --create = exit %d, %q", code, errOut)
	}
	if _, errOut, code := runInProcess(env, "apikey", "create", "--name", "audited", "--scope", "verify,sessions:read"); code != 0 {
		t.Fatalf("apikey create = exit %d, %q", code, errOut)
	}
	out, errOut, code := runInProcess(env, "apikey", "list", "--json")
	var k struct {
		ID string `json:"id"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &k) != nil {
		t.Fatalf("apikey list = exit %d, %q, %q", code, out, errOut)
	}
	for _, args := range [][]string{{"set-scopes", k.ID, "events:read"}, {"revoke", k.ID}, {"revoke", k.ID}} {
		if _, errOut, code := runInProcess(env, append([]string{"apikey"}, args...)...); code != 0 || strings.Contains(errOut, "warning") {
			t.Fatalf("apikey %v = exit %d, stderr %q", args, code, errOut)
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "sessiond.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT type, subject, session_id, client_ip, client_ua, details FROM events
		WHERE details ->> '$.key_id' = ? ORDER BY id`, k.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type row struct {
		Type, Subject, SessionID, IP, UA string
		Details                          map[string]any
	}
	var got []row
	for rows.Next() {
		var r row
		var subject, session, ip, ua sql.NullString
		var details string
		if err := rows.Scan(&r.Type, &subject, &session, &ip, &ua, &details); err != nil {
			t.Fatal(err)
		}
		r.Subject, r.SessionID, r.IP, r.UA = subject.String, session.String, ip.String, ua.String
		if err := json.Unmarshal([]byte(details), &r.Details); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []row{
		{Type: "api_key.created", Details: map[string]any{"key_id": k.ID, "name": "audited", "scopes": "verify,sessions:read", "by": "cli"}},
		{Type: "api_key.scopes_changed", Details: map[string]any{"key_id": k.ID, "scopes": "events:read", "by": "cli"}},
		{Type: "api_key.revoked", Details: map[string]any{"key_id": k.ID, "by": "cli"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events of %s:\n got %+v\nwant %+v", k.ID, got, want)
	}
}

// appendOnlyMeta keeps an event log but cannot write events with the key
// set (no sessiond.MetaChangeRecorder): the events go after the change.
type appendOnlyMeta struct {
	sessiond.MetaStore
	sessiond.EventLog
}

// TestCLI_APIKeyEventsAfterTheChange: on a store that keeps an event log
// but does not write events with the key set, apikey create, set-scopes
// and revoke record their event after the change, once each, as before
// they wrote it with the change.
func TestCLI_APIKeyEventsAfterTheChange(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	defer store.Close()
	meta := appendOnlyMeta{store, store}
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr}
	if err := a.createAPIKey(ctx, meta, "appended", apikey.DefaultScopes); err != nil {
		t.Fatal(err)
	}
	keys, err := apikey.New(store, nil, 0).List(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys = %v, %v; want one", keys, err)
	}
	id := keys[0].ID
	if err := a.setAPIKeyScopes(ctx, meta, id, []apikey.Scope{apikey.ScopeEventsRead}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := a.revokeAPIKey(ctx, meta, id); err != nil {
			t.Fatal(err)
		}
	}
	evs, _, err := store.QueryEvents(ctx, sessiond.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, fmt.Sprint(e.Type, " ", e.Details["key_id"] == id, " ", e.Details["by"]))
	}
	slices.Sort(got) // the log's order within a second is by random ID
	want := []string{"api_key.created true cli", "api_key.revoked true cli", "api_key.scopes_changed true cli"}
	if !slices.Equal(got, want) {
		t.Errorf("events = %q; want %q (stderr %q)", got, want, stderr.String())
	}
}

// revokedMeanwhileMeta is a store whose first write of the key set lands
// with its events but loses its answer, the key it added being revoked
// meanwhile (another operator's apikey revoke).
type revokedMeanwhileMeta struct {
	*memstore.Store
	done bool
}

func (m *revokedMeanwhileMeta) PutMetaRecorded(ctx context.Context, name string, value []byte, version int64, rec sessiond.ChangeRecords) (int64, error) {
	v, err := m.Store.PutMetaRecorded(ctx, name, value, version, rec)
	if err != nil || name != apikey.DocName || m.done {
		return v, err
	}
	m.done = true
	keys, err := apikey.New(m.Store, nil, 0).List(ctx)
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := apikey.New(m.Store, nil, 0).Revoke(ctx, k.ID); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("revokedMeanwhileMeta: answer lost: %w", sessiond.ErrStoreUnavailable)
}

// TestCLI_APIKeyCreateLandedRevokedMeanwhile: apikey create whose write
// landed with its event but lost its answer, the key then found revoked
// already, leaves one api_key.created in the log: the one written with
// the key. Before, the clean-up recorded the creation a second time.
func TestCLI_APIKeyCreateLandedRevokedMeanwhile(t *testing.T) {
	ctx := context.Background()
	meta := &revokedMeanwhileMeta{Store: memstore.New()}
	defer meta.Close()
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr}
	err := a.createAPIKey(ctx, meta, "raced", apikey.DefaultScopes)
	if !errors.Is(err, sessiond.ErrStoreUnavailable) || !strings.Contains(err.Error(), "was stored all the same") {
		t.Fatalf("createAPIKey = %v; want the store's error, saying the key was stored", err)
	}
	evs, _, err := meta.QueryEvents(ctx, sessiond.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, string(e.Type))
	}
	if want := []string{"api_key.created"}; !slices.Equal(got, want) {
		t.Errorf("events = %q; want %q", got, want)
	}
}
