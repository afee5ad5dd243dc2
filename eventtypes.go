package sessiond

import "log/slog"

// Event types the server adds to the Manager's: internal/server,
// internal/httpapi and ssf emit them under the same names (their
// constants refer to these). They are declared here so that EventTypes can
// list every type in one place.
const (
	EventAPIKeyAuthFailed EventType = "api_key.auth_failed"
	EventAPIKeyCreated    EventType = "api_key.created"
	EventAPIKeyRevoked    EventType = "api_key.revoked"
	EventAPIKeyScopes     EventType = "api_key.scopes_changed"
	EventKeysRotated      EventType = "signing_keys.rotated"
	EventKeysRetired      EventType = "signing_keys.retired"
	EventIncident         EventType = "incident.revoked"
	EventWatermarkRaised  EventType = "revocation.watermark_raised"
	EventSETReceived      EventType = "ssf.set_received"
	EventSSFStreamCreated EventType = "ssf.stream_created"
	EventSSFStreamDeleted EventType = "ssf.stream_deleted"
	EventSSFStreamUpdated EventType = "ssf.stream_updated"
)

// EventTypes returns every event type sessiond records, a new slice on
// each call. The configuration validator refuses a webhook that asks for
// any other type, and `sessiond events --type` accepts these; a test fails
// when the module declares an EventType this list lacks.
func EventTypes() []EventType {
	return []EventType{
		EventSessionCreated, EventSessionRefreshed, EventSessionRotated,
		EventSessionRevoked, EventRefreshReused, EventBulkRevoked,
		EventAnomaly, EventRevokedByIncident, EventUnknownToken, EventSessionExpired, EventCSRFRejected,
		EventConcurrentLogin,
		EventDeviceBound, EventDeviceRefreshed, EventDeviceProofRefused,
		EventConsoleSignedIn, EventConsoleSignedOut,
		EventAPIKeyAuthFailed, EventKeysRotated, EventAPIKeyCreated, EventAPIKeyRevoked,
		EventAPIKeyScopes, EventIncident, EventStoreReset,
		EventWatermarkRaised, EventKeysRetired,
		EventSETReceived, EventSSFStreamCreated, EventSSFStreamDeleted,
		EventSSFStreamUpdated,
	}
}

// LogLevel is the level of e's log line (msg "event"): its type's
// (EventType.LogLevel), but WARN for an API key created with
// details.revocation "failed", as the API, the console and apikey create
// record a key whose write's outcome was unknown and whose revocation
// failed too: a key that may be live and that nobody received, for an
// operator to revoke, where a key created is routine.
func (e Event) LogLevel() slog.Level {
	if e.Type == EventAPIKeyCreated && e.Details["revocation"] == "failed" {
		return slog.LevelWarn
	}
	return e.Type.LogLevel()
}

// LogLevel is the level of t's log line (msg "event"), the one rule for
// the Manager's events and the server's: WARN for an event that says
// something may be wrong (a refresh token used twice, an anomaly, a
// device proof refused, a kill switch, a store found reset), INFO for the
// routine ones, a client's bad input included (a wrong API key, a CSRF
// check failed, an unknown session). An operator who pages on WARN sees
// the first kind only. An event's details may raise it (Event.LogLevel).
func (t EventType) LogLevel() slog.Level {
	switch t {
	case EventRefreshReused, EventAnomaly, EventDeviceProofRefused,
		EventIncident, EventWatermarkRaised, EventStoreReset:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}
