package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/memstore"
)

// committedMeta is a MetaStore whose write of the API key set commits and
// then loses its answer: held (until released, or until the call's
// context ends, which it then reports as a cut-short call does) or
// failed at once (ErrStoreUnavailable, as a dropped connection). Only the
// first such write; later ones answer.
type committedMeta struct {
	*memstore.Store
	done    bool
	hold    bool
	entered chan struct{} // closed once the write committed (hold)
	release chan struct{}
}

func (m *committedMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	return m.put(ctx, name, func() (int64, error) { return m.Store.PutMeta(ctx, name, value, version) })
}

// PutMetaRecorded: the key set's write with its events fails as PutMeta
// does (promoted from the store, it would bypass the fault).
func (m *committedMeta) PutMetaRecorded(ctx context.Context, name string, value []byte, version int64, rec sessiond.ChangeRecords) (int64, error) {
	return m.put(ctx, name, func() (int64, error) { return m.Store.PutMetaRecorded(ctx, name, value, version, rec) })
}

func (m *committedMeta) put(ctx context.Context, name string, write func() (int64, error)) (int64, error) {
	v, err := write()
	if err != nil || name != apikey.DocName || m.done {
		return v, err
	}
	m.done = true
	if !m.hold {
		return 0, fmt.Errorf("committedMeta: answer lost: %w", sessiond.ErrStoreUnavailable)
	}
	close(m.entered)
	select {
	case <-m.release:
		return v, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// TestCLI_APIKeyCreateWriteOutcome: apikey create leaves no live key that
// nobody received. A Ctrl-C while the key set's write is in flight (the
// write commits, the call's answer is still on its way) lets the write
// finish and prints the key; if that print then fails (the Ctrl-C also
// ended the pipe's reader), the key is revoked all the same; a write whose
// answer is lost (the outcome unknown) revokes the key it may have stored.
// Every live key named "victim" is the one on stdout.
func TestCLI_APIKeyCreateWriteOutcome(t *testing.T) {
	for _, tc := range []struct {
		name       string
		hold       bool // Ctrl-C during the write; else its answer is lost
		failStdout bool
		wantKey    bool
	}{
		{name: "ctrl-c during the write", hold: true, wantKey: true},
		{name: "ctrl-c during the write, then stdout closed", hold: true, failStdout: true},
		{name: "answer lost", hold: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := &committedMeta{Store: memstore.New(), hold: tc.hold, entered: make(chan struct{}), release: make(chan struct{})}
			defer meta.Close()
			var stdout, stderr bytes.Buffer
			a := &app{stdout: &stdout, stderr: &stderr}
			if tc.failStdout {
				a.stdout = failingWriter{}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- a.createAPIKey(ctx, meta, "victim", apikey.DefaultScopes) }()
			if tc.hold {
				<-meta.entered
				cancel() // Ctrl-C: the command's context ends
				close(meta.release)
			}
			err := <-done
			keys, lerr := apikey.New(meta.Store, nil, 0).List(context.Background())
			if lerr != nil {
				t.Fatal(lerr)
			}
			printed := strings.TrimSpace(stdout.String())
			for _, k := range keys {
				if k.Name != "victim" || !k.RevokedAt.IsZero() {
					continue
				}
				if printed == "" {
					t.Fatalf("createAPIKey = %v, stdout empty, stderr %q; key %s is live in the store: a key nobody received", err, stderr.String(), k.ID)
				}
				if _, aerr := apikey.New(meta.Store, nil, 0).Authenticate(context.Background(), sessiond.Secret(printed)); aerr != nil {
					t.Errorf("the key printed does not authenticate (%v) while key %s is live", aerr, k.ID)
				}
			}
			if got := err == nil && printed != ""; got != tc.wantKey {
				t.Errorf("createAPIKey = %v, stdout %q; want a key printed and no error: %v", err, printed, tc.wantKey)
			}
			if !tc.hold && !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Errorf("createAPIKey with the write's answer lost = %v; want the store's error", err)
			}
		})
	}
}

// TestCLI_APIKeyCreateEventLog: the events apikey create records tell an
// auditor the key's whole story. A key stored and then revoked because
// nobody received it (its write's answer lost, or its print failed) has
// api_key.created, then api_key.revoked saying why (reason
// "not_received"); before, a lost answer recorded the revocation of a key
// whose creation the log never showed. A key printed has api_key.created
// alone.
func TestCLI_APIKeyCreateEventLog(t *testing.T) {
	for _, tc := range []struct {
		name       string
		lostAnswer bool
		failStdout bool
		want       []string // event types with their reason, oldest first
	}{
		{name: "printed", want: []string{"api_key.created"}},
		{name: "answer lost", lostAnswer: true, want: []string{"api_key.created", "api_key.revoked not_received"}},
		{name: "stdout closed", failStdout: true, want: []string{"api_key.created", "api_key.revoked not_received"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := &committedMeta{Store: memstore.New(), done: !tc.lostAnswer}
			defer meta.Close()
			var stdout, stderr bytes.Buffer
			a := &app{stdout: &stdout, stderr: &stderr}
			if tc.failStdout {
				a.stdout = failingWriter{}
			}
			err := a.createAPIKey(context.Background(), meta, "audited", apikey.DefaultScopes)
			if got := err == nil; got != (!tc.lostAnswer && !tc.failStdout) {
				t.Fatalf("createAPIKey = %v; want an error: %v", err, !got)
			}
			keys, err := apikey.New(meta.Store, nil, 0).List(context.Background())
			if err != nil || len(keys) != 1 {
				t.Fatalf("keys = %v, %v; want one", keys, err)
			}
			events, _, err := meta.QueryEvents(context.Background(), sessiond.EventQuery{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range events {
				if e.Details["key_id"] != keys[0].ID || e.Details["by"] != "cli" {
					t.Errorf("event %s details %v; want key_id %s, by cli", e.Type, e.Details, keys[0].ID)
				}
				s := string(e.Type)
				if r, ok := e.Details["reason"]; ok {
					s += fmt.Sprint(" ", r)
				}
				if e.Type == sessiond.EventAPIKeyCreated && (e.Details["name"] != "audited" || e.Details["scopes"] != "verify") {
					t.Errorf("api_key.created details %v; want name audited, scopes verify", e.Details)
				}
				got = append(got, s)
			}
			if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
				t.Errorf("events = %q; want %q (stderr %q)", got, tc.want, stderr.String())
			}
		})
	}
}

// lingeringMeta is a MetaStore whose first write of the API key set gives
// up (the 30 s bound) while the write itself runs on: PostgreSQL keeps
// running a statement whose client left (pgx closes the connection, it
// sends no cancel request), e.g. one waiting for a row lock, and commits
// it later. The write lands, as the compare-and-swap it is (on the version
// it read), when land is called, or at the first read of the set after
// the give-up when landOnRead.
type lingeringMeta struct {
	*memstore.Store
	landOnRead bool
	gaveUp     bool   // the first write of the set gave up
	pending    func() // the write still running; nil once it landed
	landed     error  // its outcome
}

func (m *lingeringMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	return m.put(ctx, name, func(ctx context.Context) (int64, error) { return m.Store.PutMeta(ctx, name, value, version) })
}

// PutMetaRecorded: the key set's write with its events lingers as PutMeta
// does, its events landing with it.
func (m *lingeringMeta) PutMetaRecorded(ctx context.Context, name string, value []byte, version int64, rec sessiond.ChangeRecords) (int64, error) {
	return m.put(ctx, name, func(ctx context.Context) (int64, error) {
		return m.Store.PutMetaRecorded(ctx, name, value, version, rec)
	})
}

func (m *lingeringMeta) put(ctx context.Context, name string, write func(context.Context) (int64, error)) (int64, error) {
	if name != apikey.DocName || m.gaveUp {
		return write(ctx)
	}
	m.gaveUp = true
	m.pending = func() { _, m.landed = write(context.Background()) }
	return 0, fmt.Errorf("lingeringMeta: %w", context.DeadlineExceeded)
}

func (m *lingeringMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	v, version, err := m.Store.GetMeta(ctx, name)
	if name == apikey.DocName && m.landOnRead {
		m.land()
	}
	return v, version, err
}

func (m *lingeringMeta) land() {
	if p := m.pending; p != nil {
		m.pending = nil
		p()
	}
}

// TestCLI_APIKeyCreateWriteLingers: apikey create whose write gave up (its
// outcome unknown) leaves no live key however late the write lands: after
// the revocation read the set (and found no key), or after the command
// returned. The revocation must move the set on, so that the write, a
// compare-and-swap on the version it read, can no longer land.
func TestCLI_APIKeyCreateWriteLingers(t *testing.T) {
	for _, tc := range []struct {
		name       string
		landOnRead bool
	}{
		{name: "lands after the revocation read the set", landOnRead: true},
		{name: "lands after the command returned"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := &lingeringMeta{Store: memstore.New(), landOnRead: tc.landOnRead}
			defer meta.Close()
			// An existing key: the set is stored, the write an update.
			if _, _, err := apikey.New(meta.Store, nil, 0).Create(context.Background(), "other"); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			a := &app{stdout: &stdout, stderr: &stderr}
			err := a.createAPIKey(context.Background(), meta, "victim", apikey.DefaultScopes)
			meta.land()
			if err == nil || stdout.Len() != 0 {
				t.Fatalf("createAPIKey = %v, stdout %q; want an error and no key printed", err, stdout.String())
			}
			keys, lerr := apikey.New(meta.Store, nil, 0).List(context.Background())
			if lerr != nil {
				t.Fatal(lerr)
			}
			for _, k := range keys {
				if k.Name == "victim" && k.RevokedAt.IsZero() {
					t.Errorf("createAPIKey = %v; key %s is live in the store (the late write landed: %v): a key nobody received", err, k.ID, meta.landed)
				}
			}
		})
	}
}
