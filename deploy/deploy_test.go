// Package deploy holds the packaging (systemd unit, Helm chart) and the
// tests that check it, with the Dockerfile and docker-compose.yml at the
// repository root. The image is built and run with podman on stand-in base
// images (no registry is reachable); what these tests cannot run,
// docs/deployment.md marks as untested.
package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"github.com/goccy/go-yaml"

	"github.com/sessiond/sessiond/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/helm-rendered.yaml")

func require(t *testing.T, what string) {
	t.Helper()
	testenv.SkipOrFail(t, what+" is missing")
}

// TestSystemdUnit: systemd-analyze verify accepts the unit without a
// single warning, and the sandboxing the unit promises is there.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("systemd/sessiond.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "ProtectHome=yes",
		"PrivateTmp=yes", "PrivateDevices=yes", "CapabilityBoundingSet=\n", "RestrictAddressFamilies=", "SystemCallFilter=@system-service",
		"MemoryDenyWriteExecute=yes", "StateDirectory=sessiond", "RestartPreventExitStatus=78", "ExecStart=/usr/local/bin/sessiond serve",
		// The transient user cannot read root's 0640 configuration: it
		// comes as a credential.
		"LoadCredential=sessiond.yaml:/etc/sessiond/sessiond.yaml", "--config ${CREDENTIALS_DIRECTORY}/sessiond.yaml"} {
		if !bytes.Contains(unit, []byte(want)) {
			t.Errorf("systemd/sessiond.service lacks %q", strings.TrimSpace(want))
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		require(t, "systemd-analyze (apt-get install systemd)")
	}
	// verify wants ExecStart to exist: point it at an executable that does.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sessiond.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/sessiond"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// Unknown keys and bad values are only warnings: any output fails.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestDockerfile checks what the image promises, since no container
// runtime runs here: multi-stage, static, non-root, no shell, a health
// check by the binary itself.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stages; want a build stage and a final one", len(froms))
	}
	final := froms[len(froms)-1][1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") {
		t.Errorf("final image %s: want distroless static (no shell, no package manager)", final)
	}
	finalStage := df[strings.LastIndex(df, "\nFROM "):]
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "-X main.buildTime="} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile build lacks %s", want)
		}
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(finalStage)
	if user == nil || strings.HasPrefix(user[1], "0") || strings.HasPrefix(user[1], "root") {
		t.Errorf("final stage USER = %v; want a non-root uid", user)
	}
	hc := regexp.MustCompile(`(?m)^\s*CMD \["/usr/local/bin/sessiond", "healthcheck"`).MatchString(finalStage)
	if !strings.Contains(finalStage, "HEALTHCHECK") || !hc {
		t.Error("final stage: want HEALTHCHECK in exec form running `sessiond healthcheck` (there is no shell)")
	}
	if regexp.MustCompile(`"healthcheck"[^\n]*"--url"`).MatchString(finalStage) {
		t.Error("HEALTHCHECK pins a URL; without --url it follows server.listen (SESSIOND_LISTEN, a mounted configuration)")
	}
	if strings.Contains(finalStage, "RUN ") {
		t.Error("final stage has a RUN step, which needs a shell the image must not have")
	}
}

// TestCompose: two sessiond nodes on the shared store behind the proxy,
// secrets from the environment only.
func TestCompose(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Build       any               `yaml:"build"`
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			ReadOnly    bool              `yaml:"read_only"`
			CapDrop     []string          `yaml:"cap_drop"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	var nodes []string
	for name, s := range f.Services {
		if s.Build != nil {
			nodes = append(nodes, name)
			if !s.ReadOnly || !slices.Contains(s.CapDrop, "ALL") {
				t.Errorf("%s: want read_only and cap_drop ALL", name)
			}
			if !strings.Contains(s.Environment["SESSIOND_API_KEY"], "${SESSIOND_API_KEY:?") {
				t.Errorf("%s: SESSIOND_API_KEY must come from the environment and be required", name)
			}
			if !strings.Contains(s.Environment["SESSIOND_STORE_DRIVER"], "postgres") {
				t.Errorf("%s: store driver %q; want postgres by default", name, s.Environment["SESSIOND_STORE_DRIVER"])
			}
		}
	}
	slices.Sort(nodes)
	if len(nodes) != 2 {
		t.Fatalf("sessiond nodes = %v; want two", nodes)
	}
	proxy := strings.Join(f.Services["proxy"].Command, " ")
	for _, n := range nodes {
		if !strings.Contains(proxy, n+":8420") {
			t.Errorf("the proxy does not send to %s: %q", n, proxy)
		}
	}
	for _, s := range []string{"postgres", "redis"} {
		if _, ok := f.Services[s]; !ok {
			t.Errorf("no %s service", s)
		}
	}
}

// renderChart renders the Helm chart with text/template and the handful
// of Helm functions it uses: a light stand-in for `helm template` that
// needs no download (helm is not packaged by Debian). When a helm binary
// is on PATH, TestHelmChart also runs the real thing.
func renderChart(t *testing.T, dir string, overrides map[string]any) string {
	t.Helper()
	var values map[string]any
	vb, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(vb, &values); err != nil {
		t.Fatal(err)
	}
	var chart struct {
		Name       string `yaml:"name"`
		AppVersion string `yaml:"appVersion"`
	}
	cb, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(cb, &chart); err != nil {
		t.Fatal(err)
	}
	for path, v := range overrides {
		m := values
		keys := strings.Split(path, ".")
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		m[keys[len(keys)-1]] = v
	}
	data := map[string]any{
		"Values":  values,
		"Release": map[string]any{"Name": "demo", "Namespace": "default"},
		"Chart":   map[string]any{"Name": chart.Name, "AppVersion": chart.AppVersion},
	}
	empty := func(v any) bool {
		switch x := v.(type) {
		case nil:
			return true
		case string:
			return x == ""
		case bool:
			return !x
		case map[string]any:
			return len(x) == 0
		case []any:
			return len(x) == 0
		}
		return false
	}
	tpl := template.New("chart")
	tpl.Funcs(template.FuncMap{
		"include": func(name string, d any) (string, error) {
			var b strings.Builder
			err := tpl.ExecuteTemplate(&b, name, d)
			return b.String(), err
		},
		"toYaml": func(v any) (string, error) {
			b, err := yaml.Marshal(v)
			return strings.TrimSuffix(string(b), "\n"), err
		},
		"nindent": func(n int, s string) string {
			pad := strings.Repeat(" ", n)
			return "\n" + pad + strings.ReplaceAll(s, "\n", "\n"+pad)
		},
		"quote":      func(v any) string { return fmt.Sprintf("%q", fmt.Sprint(v)) },
		"trunc":      func(n int, s string) string { return s[:min(n, len(s))] },
		"trimSuffix": func(suf, s string) string { return strings.TrimSuffix(s, suf) },
		"b64enc":     func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"sha256sum":  func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) },
		"default": func(d, v any) any {
			if empty(v) {
				return d
			}
			return v
		},
		"required": func(msg string, v any) (any, error) {
			if empty(v) {
				return nil, errors.New(msg)
			}
			return v, nil
		},
	})
	files, _ := filepath.Glob(filepath.Join(dir, "templates", "*"))
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tpl.New(filepath.Base(f)).Parse(string(b)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	var out strings.Builder
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasPrefix(name, "_") {
			continue
		}
		var b strings.Builder
		if err := tpl.ExecuteTemplate(&b, name, data); err != nil {
			t.Fatalf("render %s: %v", name, err)
		}
		if s := strings.TrimSpace(b.String()); s != "" {
			fmt.Fprintf(&out, "---\n# Source: sessiond/templates/%s\n%s\n", name, s)
		}
	}
	return out.String()
}

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec map[string]any `yaml:"spec"`
}

func decodeAll(t *testing.T, s string) map[string]k8sObject {
	t.Helper()
	objs := map[string]k8sObject{}
	for _, doc := range strings.Split(s, "\n---\n") {
		doc = strings.TrimPrefix(doc, "---\n")
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var o k8sObject
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered document is not YAML: %v\n%s", err, doc)
		}
		objs[o.Kind] = o
	}
	return objs
}

// TestHelmChart renders the chart and checks what it promises: every
// object, probes on /readyz and /healthz, resource requests, a
// non-root read-only container, secrets only through a Secret. The
// rendered output is kept in testdata/helm-rendered.yaml (go test
// -update rewrites it) so a review sees what a chart change does.
func TestHelmChart(t *testing.T) {
	const dir = "helm/sessiond"
	overrides := map[string]any{"secrets.apiKey": "sdak_test", "secrets.storeDSN": "postgres://u:p@db/s"}
	out := renderChart(t, dir, overrides)
	objs := decodeAll(t, out)
	for _, kind := range []string{"ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget"} {
		if _, ok := objs[kind]; !ok {
			t.Errorf("the chart renders no %s", kind)
		}
	}
	for _, want := range []string{"path: /readyz", "path: /healthz", "runAsNonRoot: true", "readOnlyRootFilesystem: true",
		"allowPrivilegeEscalation: false", "requests:", "cpu: 100m", "secretRef:", "minAvailable: 1", "driver: postgres",
		// Pods read the API key and DSN at start: a new one must restart them.
		"checksum/secret:"} {
		if !strings.Contains(out, want) {
			t.Errorf("the rendered chart lacks %q", want)
		}
	}
	if strings.Contains(out, "sdak_test") || strings.Contains(out, "u:p@db") {
		t.Error("a secret value appears in clear in the rendered chart (it must be base64 in the Secret only)")
	}
	// A Secret managed elsewhere: the chart makes none and refers to it.
	ext := renderChart(t, dir, map[string]any{"secrets.existingSecret": "prod-sessiond"})
	if _, ok := decodeAll(t, ext)["Secret"]; ok || !strings.Contains(ext, "name: prod-sessiond") {
		t.Error("with secrets.existingSecret the chart must make no Secret and use the named one")
	}

	golden := "testdata/helm-rendered.yaml"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./deploy -update)", err)
	}
	if string(want) != out {
		t.Errorf("the rendered chart differs from %s; run go test ./deploy -update and review the diff", golden)
	}

	// The real helm, when there is one (it is not in Debian; see
	// docs/deployment.md for how it was checked).
	helm := os.Getenv("SESSIOND_HELM")
	if helm == "" {
		helm, _ = exec.LookPath("helm")
	}
	if helm == "" {
		t.Log("helm not found: rendered with the built-in stand-in only")
		return
	}
	args := []string{"template", "demo", dir, "--set", "secrets.apiKey=sdak_test", "--set", "secrets.storeDSN=postgres://u:p@db/s"}
	real, err := exec.Command(helm, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, real)
	}
	realObjs := decodeAll(t, string(real))
	for kind, o := range objs {
		if r, ok := realObjs[kind]; !ok || r.Metadata.Name != o.Metadata.Name || fmt.Sprint(r.Spec) != fmt.Sprint(o.Spec) {
			t.Errorf("helm template and the stand-in differ on %s:\nhelm: %+v\nstand-in: %+v", kind, r, o)
		}
	}
	if out, err := exec.Command(helm, "lint", dir, "--strict", "--set", "secrets.apiKey=x", "--set", "secrets.storeDSN=y").CombinedOutput(); err != nil {
		t.Errorf("helm lint --strict: %v\n%s", err, out)
	}
}
