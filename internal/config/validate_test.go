package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/validate")

// corpus returns the validator corpus, as paths relative to the package
// directory (the golden files contain them).
func corpus(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/validate/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in testdata/validate: %v", err)
	}
	for i, f := range files {
		files[i] = filepath.ToSlash(f)
	}
	return files
}

func TestValidate_Golden(t *testing.T) {
	schema := loadSARIFSchema(t)
	for _, file := range corpus(t) {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		for _, format := range []string{FormatText, FormatJSON, FormatSARIF} {
			t.Run(name+"/"+format, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				code := RunValidate([]string{"--format", format, file}, &stdout, &stderr)
				if stderr.Len() > 0 {
					t.Errorf("stderr: %s", stderr.String())
				}
				if code != ExitOK && code != ExitFindings {
					t.Fatalf("RunValidate(%s) = %d; want 0 or 1", file, code)
				}
				golden := strings.TrimSuffix(file, ".yaml") + "." + format
				if *update {
					if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got := stdout.String(); got != string(want) {
					t.Errorf("output differs from %s (run go test -update and review the diff)\ngot:\n%s\nwant:\n%s", golden, got, want)
				}
				if format == FormatSARIF {
					validateSARIF(t, schema, stdout.Bytes())
				}
			})
		}
	}
}

// TestValidate_RuleCoverage checks that across the corpus every rule fires
// at least once and stays quiet at least once, so each rule's golden output
// shows both sides.
func TestValidate_RuleCoverage(t *testing.T) {
	files := corpus(t)
	fired := map[string]int{}
	for _, file := range files {
		cfg, doc, err := Load(file)
		if doc == nil {
			t.Fatalf("Load(%s): %v", file, err)
		}
		seen := map[string]bool{}
		for _, f := range Validate(cfg, doc, "") {
			seen[f.RuleID] = true
		}
		for id := range seen {
			fired[id]++
		}
	}
	known := map[string]bool{}
	for _, r := range Rules() {
		known[r.ID] = true
		switch n := fired[r.ID]; {
		case n == 0:
			t.Errorf("%s never fires in testdata/validate; add a case", r.ID)
		case n == len(files):
			t.Errorf("%s fires in every corpus file; add a case where it does not", r.ID)
		}
	}
	for id := range fired {
		if !known[id] {
			t.Errorf("finding with rule %s, which is not in the rule table", id)
		}
	}
}

func TestValidate_GoodHasNoErrorsOrWarnings(t *testing.T) {
	cfg, doc, err := Load("testdata/validate/good.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fs := Validate(cfg, doc, "")
	if e, w, _ := Count(fs); e != 0 || w != 0 {
		t.Errorf("good.yaml: %d errors, %d warnings; want none: %+v", e, w, fs)
	}
}

func TestValidate_EnvOverridesFile(t *testing.T) {
	cfg, doc, err := Load("testdata/validate/cookies-dev.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sev := func(env string) Severity {
		for _, f := range Validate(cfg, doc, env) {
			if f.RuleID == "SD-COOKIE-002" {
				return f.Severity
			}
		}
		return ""
	}
	if got := sev(""); got != SeverityWarning {
		t.Errorf("SD-COOKIE-002 with the file's environment (development) = %q; want warning", got)
	}
	if got := sev(EnvProduction); got != SeverityError {
		t.Errorf("SD-COOKIE-002 with env production = %q; want error", got)
	}
}

func TestValidate_NilDocument(t *testing.T) {
	cfg := Default()
	cfg.Cookie.HTTPOnly = false
	fs := Validate(cfg, nil, EnvProduction)
	var found bool
	for _, f := range fs {
		if f.Line != 0 || f.Column != 0 {
			t.Errorf("finding %s has position %d:%d without a document", f.RuleID, f.Line, f.Column)
		}
		found = found || f.RuleID == "SD-COOKIE-001"
	}
	if !found {
		t.Errorf("Validate(http_only false) did not report SD-COOKIE-001: %+v", fs)
	}
	var buf bytes.Buffer
	if err := Report(&buf, FormatSARIF, "env", fs); err != nil {
		t.Fatal(err)
	}
	validateSARIF(t, loadSARIFSchema(t), buf.Bytes())
}

func TestValidate_Positions(t *testing.T) {
	cfg, doc, err := Load("testdata/validate/cookies.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int{
		"SD-COOKIE-001": {7, 14},  // http_only: false
		"SD-COOKIE-009": {10, 11}, // domain: example.com
	}
	for _, f := range Validate(cfg, doc, "") {
		if w, ok := want[f.RuleID]; ok {
			if f.Line != w[0] || f.Column != w[1] {
				t.Errorf("%s at %d:%d; want %d:%d", f.RuleID, f.Line, f.Column, w[0], w[1])
			}
			delete(want, f.RuleID)
		}
	}
	for id := range want {
		t.Errorf("%s not reported", id)
	}
}

func TestRules_Table(t *testing.T) {
	idRE := regexp.MustCompile(`^SD-[A-Z]+-\d{3}$`)
	rs := Rules()
	if !slices.IsSortedFunc(rs, func(a, b Rule) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("Rules() is not sorted by ID")
	}
	seen := map[string]bool{}
	for _, r := range rs {
		if !idRE.MatchString(r.ID) {
			t.Errorf("rule ID %q does not match %s", r.ID, idRE)
		}
		if seen[r.ID] {
			t.Errorf("duplicate rule ID %s", r.ID)
		}
		seen[r.ID] = true
		switch r.Severity {
		case SeverityError, SeverityWarning, SeverityInfo:
		default:
			t.Errorf("%s: severity %q", r.ID, r.Severity)
		}
		if r.Title == "" || r.Rationale == "" || r.Fix == "" || r.Check == nil {
			t.Errorf("%s: title, rationale, fix and check are all required", r.ID)
		}
	}
}

func TestReport_UnknownFormat(t *testing.T) {
	if err := Report(&bytes.Buffer{}, "xml", "f", nil); err == nil {
		t.Error("Report(xml) = nil error; want an error")
	}
}

func TestReport_JSONShape(t *testing.T) {
	var buf bytes.Buffer
	if err := Report(&buf, FormatJSON, "c.yaml", nil); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"file", "findings", "errors", "warnings", "infos"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON report has no %q key: %s", k, buf.String())
		}
	}
	if fs, ok := got["findings"].([]any); !ok || len(fs) != 0 {
		t.Errorf("findings = %v; want an empty array, not null", got["findings"])
	}
}

func TestReport_TextIsOneLinePerFinding(t *testing.T) {
	fs := []Finding{{RuleID: "SD-X-001", Severity: SeverityError, Path: "a", Line: 1, Column: 1,
		Message: "value \"x\ny: forged\"", Fix: "do\nthis"}}
	var buf bytes.Buffer
	if err := Report(&buf, FormatText, "c.yaml", fs); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Errorf("text report has %d lines; want 2 (finding and summary):\n%s", n, buf.String())
	}
}

func loadSARIFSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-schema-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateSARIF(t *testing.T, s *jsonschema.Schema, out []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("SARIF output is not JSON: %v", err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("SARIF output does not match the 2.1.0 schema: %v", err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string `json:"name"`
					Rules []struct {
						ID string `json:"id"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			ColumnKind string `json:"columnKind"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(out, &log); err != nil {
		t.Fatal(err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "sessiond" {
		t.Errorf("SARIF header: version %q, %d runs", log.Version, len(log.Runs))
	}
	// SARIF 2.1.0 §3.14.27: a tool reporting text positions SHALL say how
	// it counts columns; the YAML parser counts code points.
	if len(log.Runs) == 1 && log.Runs[0].ColumnKind != "unicodeCodePoints" {
		t.Errorf("SARIF run.columnKind = %q; want unicodeCodePoints", log.Runs[0].ColumnKind)
	}
	if len(log.Runs) == 1 && len(log.Runs[0].Tool.Driver.Rules) != len(Rules()) {
		t.Errorf("SARIF lists %d rules; want all %d", len(log.Runs[0].Tool.Driver.Rules), len(Rules()))
	}
}

// TestSARIFSchema_RejectsInvalid makes sure the schema check is live: a
// SARIF log with an invalid level must fail it.
func TestSARIFSchema_RejectsInvalid(t *testing.T) {
	s := loadSARIFSchema(t)
	var buf bytes.Buffer
	fs := []Finding{{RuleID: "SD-COOKIE-001", Severity: SeverityError, Path: "cookie.http_only", Line: 2, Column: 3, Message: "m"}}
	if err := Report(&buf, FormatSARIF, "c.yaml", fs); err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(buf.Bytes(), []byte(`"level": "error",
          "message"`), []byte(`"level": "fatal",
          "message"`), 1)
	if bytes.Equal(bad, buf.Bytes()) {
		t.Fatal("test setup: result level not found in the SARIF output")
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(bad))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err == nil {
		t.Error("the SARIF schema accepted a result with level \"fatal\"")
	}
}

// TestRedactURL: a finding names a URL without what may be a secret: its
// credentials, query, fragment, or path past the first segment (Slack-
// and Discord-style webhook URLs keep the secret in the path).
func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://hooks.example.com/sessiond":                           "http://hooks.example.com/sessiond",
		"http://hooks.example.com/services/T000/B000/XXXXsecret":      "http://hooks.example.com/services/…",
		"http://u:pw@hooks.example.com/api/webhooks/1/XXXXsecret?x=y": "http://hooks.example.com/api/…",
		"http://localhost:9000/hook?token=XXXXsecret#f":               "http://localhost:9000/hook",
		"http://localhost:9000/":                                      "http://localhost:9000/",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactURL(u); got != want || strings.Contains(got, "XXXX") {
			t.Errorf("redactURL(%q) = %q; want %q", in, got, want)
		}
	}
}

// `config validate --env production` checks a file as production whatever
// its environment key, the Shared Signals URLs included.
func TestValidate_SSFRulesFollowEnvFlag(t *testing.T) {
	cfg := Default()
	cfg.Environment = EnvDevelopment
	cfg.SSF.Receivers = []SSFReceiver{{
		Name: "idp", Issuer: "https://idp.example", Audience: "sessiond",
		JWKSURL: "http://idp.example/jwks", SubjectFormat: "email",
		Delivery: SSFDeliveryPoll, PollURL: "http://idp.example/poll",
	}}
	cfg.SSF.Transmitter = SSFTransmitter{Enabled: true, Issuer: "http://sessiond.example"}
	fs := Validate(cfg, nil, EnvProduction)
	for _, path := range []string{"ssf.receivers.0.jwks_url", "ssf.receivers.0.poll_url", "ssf.transmitter.issuer"} {
		if !hasFinding(fs, path, SeverityError) {
			t.Errorf("--env production: plain-http %s not reported", path)
		}
	}
}

// poll_max_age and subject_issuers are checked with the other receiver keys.
func TestValidate_SSFPollMaxAgeAndSubjectIssuers(t *testing.T) {
	base := SSFReceiver{
		Name: "idp", Issuer: "https://idp.example", Audience: "sessiond",
		JWKSURL: "https://idp.example/jwks", SubjectFormat: "iss_sub",
		Delivery: SSFDeliveryPoll, PollURL: "https://idp.example/poll",
	}
	for _, tc := range []struct {
		name string
		edit func(*SSFReceiver)
		bad  string // the path reported, "" for none
	}{
		{"defaults", func(*SSFReceiver) {}, ""},
		{"a day", func(r *SSFReceiver) { r.PollMaxAge = Duration(24 * time.Hour) }, ""},
		{"under 5m", func(r *SSFReceiver) { r.PollMaxAge = Duration(time.Minute) }, "ssf.receivers.0.poll_max_age"},
		{"over 30 days", func(r *SSFReceiver) { r.PollMaxAge = Duration(31 * 24 * time.Hour) }, "ssf.receivers.0.poll_max_age"},
		{"issuers", func(r *SSFReceiver) { r.SubjectIssuers = []string{"https://idp.example/tenant-1"} }, ""},
		{"an empty issuer", func(r *SSFReceiver) { r.SubjectIssuers = []string{""} }, "ssf.receivers.0.subject_issuers"},
		{"issuers for email", func(r *SSFReceiver) {
			r.SubjectFormat, r.SubjectIssuers = "email", []string{"https://idp.example"}
		}, "ssf.receivers.0.subject_issuers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			r := base
			tc.edit(&r)
			cfg.SSF.Receivers = []SSFReceiver{r}
			fs := Validate(cfg, nil, EnvProduction)
			for _, path := range []string{"ssf.receivers.0.poll_max_age", "ssf.receivers.0.subject_issuers"} {
				if got := hasFinding(fs, path, SeverityError); got != (path == tc.bad) {
					t.Errorf("%s reported = %v; want %v (%v)", path, got, path == tc.bad, fs)
				}
			}
		})
	}
}

// hasFinding reports whether findings hold one at severity error (or, when
// min is SeverityWarning, warning) for path.
func hasFinding(fs []Finding, path string, min Severity) bool {
	for _, f := range fs {
		if f.Path == path && (f.Severity == SeverityError || min == SeverityWarning && f.Severity == SeverityWarning) {
			return true
		}
	}
	return false
}
