package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// benchJSON is the shape `sessiond bench --json` promises.
type benchJSON struct {
	Scenario    string           `json:"scenario"`
	URL         string           `json:"url"`
	Concurrency int              `json:"concurrency"`
	Sessions    int              `json:"sessions"`
	Seconds     float64          `json:"duration_seconds"`
	Requests    int64            `json:"requests"`
	Errors      int64            `json:"errors"`
	RPS         float64          `json:"requests_per_second"`
	ErrorsBy    map[string]int64 `json:"errors_by_kind"`
	Latency     struct {
		Mean, P50, P90, P99, Max *float64
	} `json:"latency_ms"`
	Operations []struct {
		Operation string             `json:"operation"`
		Requests  int64              `json:"requests"`
		Errors    int64              `json:"errors"`
		RPS       float64            `json:"requests_per_second"`
		ErrorsBy  map[string]int64   `json:"errors_by_kind"`
		Latency   map[string]float64 `json:"latency_ms"`
	} `json:"operations"`
}

func decodeBench(t *testing.T, stdout string) benchJSON {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	var b benchJSON
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("bench --json output does not decode: %v\n%s", err, stdout)
	}
	l := b.Latency
	if l.Mean == nil || l.P50 == nil || l.P90 == nil || l.P99 == nil || l.Max == nil {
		t.Fatalf("latency_ms lacks a field: %s", stdout)
	}
	return b
}

// TestE2E_Bench runs `sessiond bench` briefly against a real server: each
// scenario without an error, the JSON shape, and a refused API key counted
// as errors with exit status 1.
func TestE2E_Bench(t *testing.T) {
	n := startNode(t, nodeConfig{})
	for _, tt := range []struct {
		scenario string
		ops      []string
	}{
		{"verify", []string{"verify"}},
		{"refresh", []string{"refresh"}},
		{"create", []string{"create"}},
		{"mixed", nil}, // which kinds appear depends on how many requests fit in the time
	} {
		t.Run(tt.scenario, func(t *testing.T) {
			stdout, stderr, code := n.cli("bench", tt.scenario, "--concurrency", "4", "--duration", "500ms", "--sessions", "10", "--json")
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			b := decodeBench(t, stdout)
			if b.Scenario != tt.scenario || b.URL != n.url || b.Concurrency != 4 || b.Requests == 0 || b.Errors != 0 || b.RPS <= 0 {
				t.Errorf("unexpected result: %+v", b)
			}
			if (tt.scenario == "verify" || tt.scenario == "mixed") != (b.Sessions == 10) {
				t.Errorf("sessions = %d for %s", b.Sessions, tt.scenario)
			}
			var sum int64
			var names []string
			for _, o := range b.Operations {
				sum += o.Requests
				names = append(names, o.Operation)
			}
			if sum != b.Requests {
				t.Errorf("operations add up to %d; total %d", sum, b.Requests)
			}
			if tt.ops != nil && strings.Join(names, ",") != strings.Join(tt.ops, ",") {
				t.Errorf("operations %v; want %v", names, tt.ops)
			}
		})
	}

	t.Run("text output", func(t *testing.T) {
		stdout, stderr, code := n.cli("bench", "verify", "--concurrency", "2", "--duration", "200ms", "--sessions", "3")
		if code != 0 || !strings.Contains(stdout, "sessiond bench verify: "+n.url) || !strings.Contains(stdout, "req/s") {
			t.Errorf("exit %d\n%s%s", code, stdout, stderr)
		}
	})

	t.Run("refused API key", func(t *testing.T) {
		wrong := "sdak_wrong_" + strings.Repeat("z", 40)
		stdout, stderr, code := runCLI(t, []string{"SESSIOND_URL=" + n.url}, "bench", "create", "--api-key", wrong,
			"--concurrency", "2", "--duration", "200ms", "--json")
		if code != 1 {
			t.Fatalf("exit %d; want 1\n%s", code, stderr)
		}
		b := decodeBench(t, stdout)
		// Refused keys answer 401, and 429 once the server limits the
		// address's failed attempts.
		if b.Requests == 0 || b.Errors != b.Requests || b.ErrorsBy["401"] == 0 || b.ErrorsBy["401"]+b.ErrorsBy["429"] != b.Requests {
			t.Errorf("%d requests, %d errors %v; want all counted as 401 or 429", b.Requests, b.Errors, b.ErrorsBy)
		}
		// Verify needs sessions first: the setup fails, with exit 1.
		_, stderr, code = runCLI(t, []string{"SESSIOND_URL=" + n.url, "SESSIOND_API_KEY=" + wrong}, "bench", "verify",
			"--duration", "200ms")
		if code != 1 || !strings.Contains(stderr, "setup failed") || !strings.Contains(stderr, "status 4") {
			t.Errorf("verify with a wrong key: exit %d, stderr %q; want 1 and the setup failure", code, stderr)
		}
	})

	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"bench"},
			{"bench", "delete"},
			{"bench", "verify", "--concurrency", "x"},
			{"bench", "verify", "create"},
		} {
			if _, _, code := n.cli(args...); code != 2 {
				t.Errorf("%v: exit %d; want 2", args, code)
			}
		}
		for _, bad := range [][]string{{"--concurrency", "0"}, {"--duration", "0s"}, {"--sessions", "-1"}} {
			if _, _, code := n.cli(append([]string{"bench", "verify"}, bad...)...); code != 2 {
				t.Errorf("%v: exit %d; want 2", bad, code)
			}
		}
		if _, stderr, code := n.cli("bench", "--bare-server", "0.0.0.0:0"); code == 0 || !strings.Contains(stderr, "loopback") {
			t.Errorf("--bare-server on a public address: exit %d %q; want refused", code, stderr)
		}
	})
}

// TestE2E_BenchBareServer runs the baseline handler and loads it: every
// scenario works against it, so the generator can be measured alone.
func TestE2E_BenchBareServer(t *testing.T) {
	cmd := exec.Command(binary(t), "bench", "--bare-server", "127.0.0.1:0")
	cmd.Env = cleanEnv()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			line <- sc.Text()
		}
	}()
	var url string
	select {
	case l := <-line:
		url = strings.TrimPrefix(l, "bare handler on ")
	case <-time.After(30 * time.Second):
		t.Fatal("bare server did not start")
	}
	stdout, stderr, code := runCLI(t, []string{"SESSIOND_API_KEY=any"}, "bench", "mixed", "--url", url,
		"--concurrency", "2", "--duration", "300ms", "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if b := decodeBench(t, stdout); b.Requests == 0 || b.Errors != 0 {
		t.Errorf("against the bare handler: %+v", b)
	}
}
