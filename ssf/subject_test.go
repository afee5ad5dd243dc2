package ssf_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/ssf"
)

// TestSubjectRule_Map_Normalises: the mapped subject takes the form the
// HTTP API stores subjects under (NFC, docs/operations.md "Subjects"),
// is otherwise exact, and is refused where the API would refuse it.
func TestSubjectRule_Map_Normalises(t *testing.T) {
	t.Parallel()
	const nfc, nfd = "zo\u00eb", "zo\u0065\u0308"
	tests := []struct {
		name     string
		rule     ssf.SubjectRule
		id       map[string]any
		want     string // "" when refused
		wantSess sessiond.SessionID
	}{
		{"email in NFD", ssf.SubjectRule{Format: ssf.FormatEmail, Template: "user:{value}"},
			map[string]any{"format": "email", "email": nfd + "@example.com"}, "user:" + nfc + "@example.com", ""},
		{"email already NFC", ssf.SubjectRule{Format: ssf.FormatEmail, Template: "user:{value}"},
			map[string]any{"format": "email", "email": nfc + "@example.com"}, "user:" + nfc + "@example.com", ""},
		{"ASCII unchanged", ssf.SubjectRule{Format: ssf.FormatEmail},
			map[string]any{"format": "email", "email": "alice@example.com"}, "alice@example.com", ""},
		{"iss_sub in NFD", ssf.SubjectRule{Format: ssf.FormatIssSub, Template: "{iss}|{value}"},
			map[string]any{"format": "iss_sub", "iss": "https://idp.example.com", "sub": nfd}, "https://idp.example.com|" + nfc, ""},
		{"template in NFD", ssf.SubjectRule{Format: ssf.FormatOpaque, Template: "e\u0301quipe:{value}"},
			map[string]any{"format": "opaque", "id": "00u1"}, "\u00e9quipe:00u1", ""},
		{"complex user in NFD", ssf.SubjectRule{Format: ssf.FormatOpaque},
			map[string]any{"format": "complex", "user": map[string]any{"format": "opaque", "id": nfd},
				"session": map[string]any{"format": "opaque", "id": "s_1"}}, nfc, "s_1"},
		{"surrounding spaces kept", ssf.SubjectRule{Format: ssf.FormatOpaque},
			map[string]any{"format": "opaque", "id": " alice "}, " alice ", ""},
		{"right-to-left override", ssf.SubjectRule{Format: ssf.FormatOpaque},
			map[string]any{"format": "opaque", "id": "alice\u202egnp.exe"}, "", ""},
		{"left-to-right mark", ssf.SubjectRule{Format: ssf.FormatOpaque},
			map[string]any{"format": "opaque", "id": "ali\u200ece"}, "", ""},
		{"C1 control", ssf.SubjectRule{Format: ssf.FormatOpaque},
			map[string]any{"format": "opaque", "id": "alice\u0085"}, "", ""},
		{"C0 control", ssf.SubjectRule{Format: ssf.FormatOpaque},
			map[string]any{"format": "opaque", "id": "alice\x1b[2J"}, "", ""},
		{"too long once templated", ssf.SubjectRule{Format: ssf.FormatOpaque, Template: "okta:{value}"},
			map[string]any{"format": "opaque", "id": strings.Repeat("a", sessiond.MaxSubjectBytes-4)}, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, _ := json.Marshal(tc.id)
			got, sess, err := tc.rule.Map(raw)
			if tc.want == "" {
				if err == nil || !errors.Is(err, ssf.ErrSubject) || !errors.Is(err, sessiond.ErrInvalidArgument) {
					t.Errorf("Map(%s) = %q, %v; want ErrSubject (an invalid argument)", raw, got, err)
				}
				return
			}
			if err != nil || got != tc.want || sess != tc.wantSess {
				t.Errorf("Map(%s) = %q, %q, %v; want %q, %q", raw, got, sess, err, tc.want, tc.wantSess)
			}
		})
	}
}

// TestSubjectRule_Map_IllFormedStrings: encoding/json reads an invalid
// UTF-8 byte or a lone surrogate escape as U+FFFD, so a library caller's
// identifier for "\ud800bob" would map to the subject "\ufffdbob", another
// user than the transmitter named; Map refuses it, as the Receiver does.
func TestSubjectRule_Map_IllFormedStrings(t *testing.T) {
	t.Parallel()
	rule := ssf.SubjectRule{Format: ssf.FormatOpaque}
	tests := []struct {
		name, raw string
		want      string // "" when refused
	}{
		{"lone high surrogate", `{"format":"opaque","id":"\ud800bob"}`, ""},
		{"lone low surrogate", `{"format":"opaque","id":"bob\udfff"}`, ""},
		{"invalid UTF-8", "{\"format\":\"opaque\",\"id\":\"\xffbob\"}", ""},
		{"in a complex user", `{"format":"complex","user":{"format":"opaque","id":"\ud800bob"}}`, ""},
		{"in a member not read", `{"format":"opaque","id":"bob","x":"\udc00"}`, ""},
		{"a surrogate pair", `{"format":"opaque","id":"\ud83d\ude00bob"}`, "\U0001F600bob"},
		{"an escaped backslash before u", `{"format":"opaque","id":"\\ud800bob"}`, `\ud800bob`},
		{"the replacement character", `{"format":"opaque","id":"\ufffdbob"}`, "\ufffdbob"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := rule.Map(json.RawMessage(tc.raw))
			if tc.want == "" {
				if !errors.Is(err, ssf.ErrSubject) {
					t.Errorf("Map(%s) = %q, %v; want ErrSubject", tc.raw, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Map(%s) = %q, %v; want %q", tc.raw, got, err, tc.want)
			}
		})
	}
}
