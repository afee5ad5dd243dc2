package deploy

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/sessiond/sessiond/internal/config"
)

// TestStopDeadlines: every way the project ships sessiond kills it later
// than a graceful stop takes (server.shutdown_delay, then
// server.shutdown_timeout for requests in flight): the Helm chart's
// terminationGracePeriodSeconds (with the chart's own config.server, as
// the chart does not compute it), docker-compose.yml's stop_grace_period
// (docker stop waits 10 s by default) and the systemd unit's
// TimeoutStopSec. A deadline shorter than the stop cuts requests in flight
// at every restart; a shutdown_timeout of 0 leaves the stop unbounded.
func TestStopDeadlines(t *testing.T) {
	stop := func(server map[string]any) time.Duration {
		t.Helper()
		d := config.Default().Server
		delay, timeout := d.ShutdownDelay.Std(), d.ShutdownTimeout.Std()
		for key, into := range map[string]*time.Duration{"shutdown_delay": &delay, "shutdown_timeout": &timeout} {
			if v, ok := server[key]; ok {
				s, _ := v.(string)
				p, err := time.ParseDuration(s)
				if err != nil {
					t.Fatalf("config.server.%s %v: %v", key, v, err)
				}
				*into = p
			}
		}
		if timeout == 0 {
			// 0 bounds nothing: the stop waits for the store's close
			// without limit, so no deadline covers it (SD-SERVER-008).
			t.Errorf("config.server.shutdown_timeout 0: the stop has no bound for a kill deadline to cover")
		}
		return delay + timeout
	}
	check := func(what string, deadline, stop time.Duration) {
		t.Helper()
		if deadline <= stop {
			t.Errorf("%s = %v; want more than the %v a graceful stop takes (shutdown_delay + shutdown_timeout)", what, deadline, stop)
		}
	}

	var values struct {
		Grace  *int `yaml:"terminationGracePeriodSeconds"`
		Config struct {
			Server map[string]any `yaml:"server"`
		} `yaml:"config"`
	}
	b, err := os.ReadFile("helm/sessiond/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	if values.Grace == nil {
		t.Fatal("helm values.yaml sets no terminationGracePeriodSeconds (Kubernetes' default is 30 s)")
	}
	out := renderChart(t, "helm/sessiond", map[string]any{"secrets.apiKey": "sdak_test", "secrets.storeDSN": "postgres://u:p@db/s"})
	if !strings.Contains(out, fmt.Sprintf("      terminationGracePeriodSeconds: %d\n", *values.Grace)) {
		t.Errorf("the rendered Deployment does not carry terminationGracePeriodSeconds: %d from values.yaml", *values.Grace)
	}
	check("helm terminationGracePeriodSeconds", time.Duration(*values.Grace)*time.Second, stop(values.Config.Server))

	var compose struct {
		Anchor struct {
			StopGrace string `yaml:"stop_grace_period"`
		} `yaml:"x-sessiond"`
	}
	b, err = os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	grace, err := time.ParseDuration(compose.Anchor.StopGrace)
	if err != nil {
		t.Fatalf("docker-compose.yml x-sessiond.stop_grace_period %q: %v", compose.Anchor.StopGrace, err)
	}
	check("docker-compose.yml stop_grace_period", grace, stop(nil))

	unit, err := os.ReadFile("systemd/sessiond.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\S+)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("systemd/sessiond.service sets no TimeoutStopSec (systemd's default is 90 s, but say it)")
	}
	stopSec, err := time.ParseDuration(string(m[1]))
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", m[1], err)
	}
	check("systemd TimeoutStopSec", stopSec, stop(nil))
}
