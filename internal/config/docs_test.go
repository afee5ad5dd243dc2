package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

func readDoc(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../../docs/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDocs_ConfigurationListsEveryKey fails when a key exists that
// docs/configuration.md does not list as a backticked dotted path.
func TestDocs_ConfigurationListsEveryKey(t *testing.T) {
	doc := readDoc(t, "configuration.md")
	for _, k := range Keys() {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("docs/configuration.md does not mention `%s`", k)
		}
		if n := EnvName(k); n != "" && !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("docs/configuration.md does not mention the variable `%s` for %s", n, k)
		}
	}
	for _, r := range Rules() {
		if !strings.Contains(doc, r.ID) {
			t.Errorf("docs/configuration.md does not name %s next to the keys it checks", r.ID)
		}
	}
}

// TestDocs_RulesListsEveryRule fails when a rule is missing from
// docs/config-rules.md, or the page documents a rule that does not exist.
func TestDocs_RulesListsEveryRule(t *testing.T) {
	doc := readDoc(t, "config-rules.md")
	known := map[string]bool{}
	for _, r := range Rules() {
		known[r.ID] = true
		section := regexp.MustCompile(`(?m)^### ` + regexp.QuoteMeta(r.ID) + `\n\n\*\*([^*]+)\*\*`).FindStringSubmatch(doc)
		if section == nil {
			t.Errorf("docs/config-rules.md has no \"### %s\" section with its severity", r.ID)
			continue
		}
		if !strings.HasPrefix(section[1], string(r.Severity)) {
			t.Errorf("docs/config-rules.md gives %s severity %q; the table says %s", r.ID, section[1], r.Severity)
		}
	}
	for _, id := range regexp.MustCompile(`SD-[A-Z]+-\d{3}`).FindAllString(doc, -1) {
		if !known[id] {
			t.Errorf("docs/config-rules.md mentions %s, which is not a rule", id)
		}
	}
}

// TestDocs_DefaultFile checks that the complete default file shown in
// docs/configuration.md is exactly Default().
func TestDocs_DefaultFile(t *testing.T) {
	file := defaultFile(t)
	cfg, _, err := Parse([]byte(file), "configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("the default file in docs/configuration.md differs from Default():\n%+v\n%+v", cfg, Default())
	}
}

// defaultFile is the YAML of docs/configuration.md's "Complete default
// file".
func defaultFile(t *testing.T) string {
	t.Helper()
	m := regexp.MustCompile("(?s)## Complete default file\n\n```yaml\n(.*?)```").FindStringSubmatch(readDoc(t, "configuration.md"))
	if m == nil {
		t.Fatal("docs/configuration.md has no complete default file")
	}
	return m[1]
}

// TestDocs_DefaultFileValidates: the complete default file is a valid
// configuration, and its findings are the ones the text after it lists.
func TestDocs_DefaultFileValidates(t *testing.T) {
	file := defaultFile(t)
	cfg, d, err := Parse([]byte(file), "configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range Validate(cfg, d, "") {
		got = append(got, string(f.Severity)+" "+f.RuleID)
	}
	if want := []string{"info SD-JWT-009", "info SD-LIFE-005"}; !reflect.DeepEqual(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("the complete default file's findings = %q; want %q, as the text after it says", got, want)
	}
}

// TestDocs_DefaultFileHasEveryKey: the complete default file names every
// key (an omitted key would still parse to its default, so
// TestDocs_DefaultFile alone cannot see it missing).
func TestDocs_DefaultFileHasEveryKey(t *testing.T) {
	file := defaultFile(t)
	// Dotted paths of the file, from its indentation (two spaces a level).
	have := map[string]bool{}
	var stack []string
	for _, line := range strings.Split(file, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		depth := (len(line) - len(trimmed)) / 2
		// A key shown in a comment ("# issuer: …"): one whose default
		// cannot be written, named all the same.
		if c, ok := strings.CutPrefix(trimmed, "# "); ok {
			if k, _, ok := strings.Cut(c, ":"); ok && !strings.ContainsAny(k, " ,") {
				trimmed = c
			}
		}
		key, _, ok := strings.Cut(trimmed, ":")
		if !ok || trimmed == "" || strings.HasPrefix(trimmed, "#") || strings.HasPrefix(trimmed, "-") {
			continue
		}
		if depth > len(stack) {
			continue
		}
		stack = append(stack[:depth], key)
		have[strings.Join(stack, ".")] = true
	}
	for _, k := range Keys() {
		if strings.HasPrefix(k, "webhooks[]") || strings.HasPrefix(k, "ssf.receivers[]") || strings.HasPrefix(k, "anomaly.rules.") {
			continue // a list of endpoints; rules shown in flow style
		}
		if !have[k] {
			t.Errorf("the complete default file in docs/configuration.md omits %s", k)
		}
	}
}

// TestDocs_CiteStandards: the docs cite the standard a requirement comes
// from, never the numbering of a checklist that is not in the repository.
func TestDocs_CiteStandards(t *testing.T) {
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md")
	re := regexp.MustCompile(`(?i)checklist(\s+items?)?\s+\d`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if loc := re.FindIndex(b); loc != nil {
			t.Errorf("%s cites %q: cite the standard instead", filepath.Base(f), b[loc[0]:loc[1]])
		}
	}
	for _, r := range Rules() {
		if re.MatchString(r.Rationale) {
			t.Errorf("rule %s's rationale cites a checklist number", r.ID)
		}
	}
}

// TestDocs_KeysNamedExist: every dotted key the pages write in code
// (`store.write_groups`, `webhooks[].events`, `signing.old_kek_files: […]`)
// is a key of the file, or a section holding keys, so a reader who sets it
// is not refused for an unknown key (SD-SCHEMA-001), or worse, looks for a
// setting that does not exist. Names that share a section's first word
// without being keys are listed apart: event types (sessiond.EventTypes),
// the documents a store shares, and files.
func TestDocs_KeysNamedExist(t *testing.T) {
	keys := Keys()
	sections := map[string]bool{}
	for _, k := range keys {
		sections[strings.TrimSuffix(strings.SplitN(k, ".", 2)[0], "[]")] = true
	}
	notKeys := map[string]bool{
		"gateway.dbsc_key": true, // the DBSC key, a document in the store
		"ssf.streams":      true, // the Shared Signals streams, a document in the store
		"ssf.poll":         true, // their poll queues, documents in the store (ssf.poll.*)
		// Settings node_settings compares that no key names: the KEK that
		// seals and those that only open, by their IDs (configdrift.go).
		"signing.kek":      true,
		"signing.old_keks": true,
	}
	for _, e := range sessiond.EventTypes() {
		notKeys[string(e)] = true
	}
	index := regexp.MustCompile(`\[\d*\]`)
	itemNumber := regexp.MustCompile(`\.(\d+)(\.|$)`)
	file := regexp.MustCompile(`\.(go|md|js|png|sh|sql|yaml)$`)
	isKey := func(name string) bool {
		name = index.ReplaceAllString(name, "[]")
		name = itemNumber.ReplaceAllString(name, "[]$2") // webhooks.0.url, as the validator reports it
		item := strings.TrimSuffix(name, "[]")           // csrf.trusted_origins.1: an item of a list of strings
		for _, k := range keys {
			if k == name || k == item || strings.HasPrefix(k, name+".") || strings.HasPrefix(k, name+"[]") {
				return true
			}
		}
		return false
	}
	span := regexp.MustCompile("`([a-z_]+(?:\\[\\d*\\])?(?:\\.[a-z0-9_]+(?:\\[\\d*\\])?)+)(?::[^`]*)?`")
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md")
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range span.FindAllStringSubmatch(string(b), -1) {
			name := m[1]
			section := index.ReplaceAllString(strings.SplitN(name, ".", 2)[0], "")
			if !sections[section] || notKeys[name] || file.MatchString(name) {
				continue
			}
			n++
			if !isKey(name) {
				t.Errorf("%s names `%s`, which is not a configuration key", filepath.Base(f), name)
			}
		}
	}
	if n < 300 {
		t.Fatalf("found only %d configuration keys named in the pages; the pattern is wrong", n)
	}
}
