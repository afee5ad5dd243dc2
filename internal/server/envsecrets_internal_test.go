package server

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
)

// TestWarnTypedEnvSecrets: the validator warns of a typed KEK or poll
// credential in a file (SD-JWT-012, SD-SSF-004) but cannot see the
// environment, so serve warns of the same secrets given there, by the
// same measures, without quoting them.
func TestWarnTypedEnvSecrets(t *testing.T) {
	typedKEK := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("Summer2024!", 3)[:32]))
	randomKEK := base64.StdEncoding.EncodeToString([]byte(rand.Text() + rand.Text())[:32])
	typedAuth := "Bearer " + strings.Repeat("letmein-", 6)
	randomAuth := "Bearer " + rand.Text() + rand.Text()
	poll := config.SSFReceiver{Name: "idp-1", Delivery: config.SSFDeliveryPoll}
	push := config.SSFReceiver{Name: "idp-1", Delivery: config.SSFDeliveryPush}
	for _, tc := range []struct {
		name    string
		kekFile string
		recv    []config.SSFReceiver
		env     map[string]string
		want    []string // rules warned of, in order
	}{
		{"typed SESSIOND_KEK", "", nil, map[string]string{"SESSIOND_KEK": typedKEK}, []string{"SD-JWT-012"}},
		{"random SESSIOND_KEK", "", nil, map[string]string{"SESSIOND_KEK": randomKEK}, nil},
		{"kek_file wins over a typed SESSIOND_KEK", "/nonexistent/kek", nil, map[string]string{"SESSIOND_KEK": typedKEK}, nil},
		{"SESSIOND_KEK not a 32-byte key (serve refuses it elsewhere)", "", nil, map[string]string{"SESSIOND_KEK": "c2hvcnQ="}, nil},
		{"typed poll credential", "", []config.SSFReceiver{poll}, map[string]string{"SESSIOND_SSF_IDP_1_POLL_AUTHORIZATION": typedAuth}, []string{"SD-SSF-004"}},
		{"random poll credential", "", []config.SSFReceiver{poll}, map[string]string{"SESSIOND_SSF_IDP_1_POLL_AUTHORIZATION": randomAuth}, nil},
		{"push receiver ignores the poll variable", "", []config.SSFReceiver{push}, map[string]string{"SESSIOND_SSF_IDP_1_POLL_AUTHORIZATION": typedAuth}, nil},
		{"both", "", []config.SSFReceiver{poll}, map[string]string{"SESSIOND_KEK": typedKEK, "SESSIOND_SSF_IDP_1_POLL_AUTHORIZATION": typedAuth}, []string{"SD-JWT-012", "SD-SSF-004"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Signing.KEKFile = tc.kekFile
			cfg.SSF.Receivers = tc.recv
			var logs bytes.Buffer
			warnTypedEnvSecrets(cfg, func(k string) string { return tc.env[k] }, slog.New(slog.NewTextHandler(&logs, nil)))
			out := logs.String()
			for _, v := range tc.env {
				if strings.Contains(out, v) || strings.Contains(out, strings.TrimPrefix(v, "Bearer ")) {
					t.Errorf("the log quotes a secret:\n%s", out)
				}
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if _, rule, ok := strings.Cut(line, " rule="); ok && strings.Contains(line, "level=WARN") {
					got = append(got, rule)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("warned of %v; want %v; the log:\n%s", got, tc.want, out)
			}
		})
	}
}
