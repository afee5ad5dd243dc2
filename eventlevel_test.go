package sessiond_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestEventType_LogLevel: every event type has a deliberate level: WARN
// for those that say something may be wrong, INFO for the routine ones
// (a client's bad input included). A new type fails here until it is
// given a row.
func TestEventType_LogLevel(t *testing.T) {
	want := map[sessiond.EventType]slog.Level{
		sessiond.EventRefreshReused:      slog.LevelWarn,
		sessiond.EventAnomaly:            slog.LevelWarn,
		sessiond.EventDeviceProofRefused: slog.LevelWarn,
		sessiond.EventIncident:           slog.LevelWarn,
		sessiond.EventWatermarkRaised:    slog.LevelWarn,
		sessiond.EventStoreReset:         slog.LevelWarn,

		sessiond.EventSessionCreated:    slog.LevelInfo,
		sessiond.EventSessionRefreshed:  slog.LevelInfo,
		sessiond.EventSessionRotated:    slog.LevelInfo,
		sessiond.EventSessionRevoked:    slog.LevelInfo,
		sessiond.EventBulkRevoked:       slog.LevelInfo,
		sessiond.EventRevokedByIncident: slog.LevelInfo,
		sessiond.EventUnknownToken:      slog.LevelInfo,
		sessiond.EventSessionExpired:    slog.LevelInfo,
		sessiond.EventCSRFRejected:      slog.LevelInfo,
		sessiond.EventConcurrentLogin:   slog.LevelInfo,
		sessiond.EventDeviceBound:       slog.LevelInfo,
		sessiond.EventDeviceRefreshed:   slog.LevelInfo,
		sessiond.EventConsoleSignedIn:   slog.LevelInfo,
		sessiond.EventConsoleSignedOut:  slog.LevelInfo,
		sessiond.EventAPIKeyAuthFailed:  slog.LevelInfo,
		sessiond.EventKeysRotated:       slog.LevelInfo,
		sessiond.EventKeysRetired:       slog.LevelInfo,
		sessiond.EventAPIKeyCreated:     slog.LevelInfo,
		sessiond.EventAPIKeyRevoked:     slog.LevelInfo,
		sessiond.EventAPIKeyScopes:      slog.LevelInfo,
		sessiond.EventSETReceived:       slog.LevelInfo,
		sessiond.EventSSFStreamCreated:  slog.LevelInfo,
		sessiond.EventSSFStreamDeleted:  slog.LevelInfo,
		sessiond.EventSSFStreamUpdated:  slog.LevelInfo,
	}
	for _, typ := range sessiond.EventTypes() {
		w, ok := want[typ]
		if !ok {
			t.Errorf("event type %s has no row here: decide its level (INFO routine, WARN suspicious)", typ)
			continue
		}
		if got := typ.LogLevel(); got != w {
			t.Errorf("%s.LogLevel() = %v; want %v", typ, got, w)
		}
	}
}

// TestEvent_LogLevel: an event's level is its type's, but for an API key
// created that nobody received and whose revocation failed (details
// revocation "failed", written by the API, the console and apikey
// create): the key may be live, which is WARN, where a key created is
// routine.
func TestEvent_LogLevel(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    sessiond.Event
		want slog.Level
	}{
		{"API key created", sessiond.Event{Type: sessiond.EventAPIKeyCreated, Details: map[string]any{"key_id": "key_x"}}, slog.LevelInfo},
		{"API key created without details", sessiond.Event{Type: sessiond.EventAPIKeyCreated}, slog.LevelInfo},
		{"API key created, its revocation failed", sessiond.Event{Type: sessiond.EventAPIKeyCreated,
			Details: map[string]any{"key_id": "key_x", "revocation": "failed"}}, slog.LevelWarn},
		{"API key created, revocation another value", sessiond.Event{Type: sessiond.EventAPIKeyCreated,
			Details: map[string]any{"revocation": "done"}}, slog.LevelInfo},
		{"API key revoked, not received", sessiond.Event{Type: sessiond.EventAPIKeyRevoked,
			Details: map[string]any{"reason": "not_received"}}, slog.LevelInfo},
		{"another type with revocation failed", sessiond.Event{Type: sessiond.EventSessionRevoked,
			Details: map[string]any{"revocation": "failed"}}, slog.LevelInfo},
		{"refresh token reused", sessiond.Event{Type: sessiond.EventRefreshReused}, slog.LevelWarn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.LogLevel(); got != tc.want {
				t.Errorf("Event{%s, %v}.LogLevel() = %v; want %v", tc.e.Type, tc.e.Details, got, tc.want)
			}
		})
	}
}

// TestManager_EventLineLevel: the Manager's event lines follow
// EventType.LogLevel: a refresh token used twice (a theft) is WARN, the
// login and the refresh before it INFO.
func TestManager_EventLineLevel(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	ctx := context.Background()
	iss := h.create(t, "alice", sessiond.CreateOptions{})
	h.clock.Advance(time.Minute)
	if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRefreshReused) {
		t.Fatalf("reused refresh = %v; want ErrRefreshReused", err)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] == "event" {
			got[m["type"].(string)] = m["level"].(string)
		}
	}
	for typ, level := range map[sessiond.EventType]string{
		sessiond.EventSessionCreated:   "INFO",
		sessiond.EventSessionRefreshed: "INFO",
		sessiond.EventRefreshReused:    "WARN",
	} {
		if got[string(typ)] != level {
			t.Errorf("event %s logged at %q; want %s (lines: %v)", typ, got[string(typ)], level, slices.Sorted(maps.Keys(got)))
		}
	}
}
