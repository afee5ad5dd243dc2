package config

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"unicode"
)

// Report formats.
const (
	FormatText  = "text"
	FormatJSON  = "json"
	FormatSARIF = "sarif"
)

// SARIF constants.
const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	toolName     = "sessiond"
	toolInfoURI  = "https://github.com/sessiond/sessiond"
)

// Report writes findings about file in the given format:
//
//   - text: one line per finding, "file:line:col: severity RULE-ID path:
//     message (fix: …)", then a summary line;
//   - json: {"file", "findings": [...], "errors", "warnings", "infos"};
//   - sarif: a SARIF 2.1.0 log with one run, every rule and one result per
//     finding.
//
// Findings are written sorted by position (SortFindings) whatever their
// order in the slice, which is not modified.
func Report(w io.Writer, format, file string, findings []Finding) error {
	fs := append([]Finding(nil), findings...)
	SortFindings(fs)
	switch format {
	case FormatText:
		return reportText(w, file, fs)
	case FormatJSON:
		return reportJSON(w, file, fs)
	case FormatSARIF:
		return reportSARIF(w, file, fs)
	default:
		return fmt.Errorf("config: unknown report format %q (want text, json or sarif)", format)
	}
}

func reportText(w io.Writer, file string, fs []Finding) error {
	var b strings.Builder
	file = oneLine(file)
	for _, f := range fs {
		b.WriteString(file)
		if f.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", f.Line, f.Column)
		}
		fmt.Fprintf(&b, ": %s %s", f.Severity, f.RuleID)
		if f.Path != "" {
			fmt.Fprintf(&b, " %s", oneLine(f.Path))
		}
		fmt.Fprintf(&b, ": %s", oneLine(f.Message))
		if f.Fix != "" {
			fmt.Fprintf(&b, " (fix: %s)", oneLine(f.Fix))
		}
		b.WriteByte('\n')
	}
	e, wn, i := Count(fs)
	fmt.Fprintf(&b, "%s: %s, %s, %s\n", file, plural(e, "error"), plural(wn, "warning"), plural(i, "info"))
	_, err := io.WriteString(w, b.String())
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// oneLine keeps a value read from the file (a key's name reaches the
// path) from breaking the one-line format, forging extra lines or sending
// terminal escapes: controls (C0, DEL, C1), invisible format characters
// (bidi overrides, zero-width) and line separators become spaces, invalid
// UTF-8 becomes U+FFFD.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\t' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029') {
			return ' '
		}
		return r
	}, s)
}

type jsonReport struct {
	File     string    `json:"file"`
	Findings []Finding `json:"findings"`
	Errors   int       `json:"errors"`
	Warnings int       `json:"warnings"`
	Infos    int       `json:"infos"`
}

func reportJSON(w io.Writer, file string, fs []Finding) error {
	r := jsonReport{File: file, Findings: fs}
	if r.Findings == nil {
		r.Findings = []Finding{}
	}
	r.Errors, r.Warnings, r.Infos = Count(fs)
	return writeJSON(w, r)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// The subset of SARIF 2.1.0 sessiond writes.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool sarifTool `json:"tool"`
		// ColumnKind says how startColumn counts (SARIF 2.1.0 §3.14.27: a
		// producer of text results SHALL say): the positions are counted
		// in Unicode code points, as the YAML parser gives them.
		ColumnKind string        `json:"columnKind"`
		Results    []sarifResult `json:"results"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name           string      `json:"name"`
		InformationURI string      `json:"informationUri"`
		Rules          []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string        `json:"id"`
		Name                 string        `json:"name"`
		ShortDescription     sarifText     `json:"shortDescription"`
		FullDescription      sarifText     `json:"fullDescription"`
		Help                 sarifText     `json:"help"`
		DefaultConfiguration sarifRuleConf `json:"defaultConfiguration"`
	}
	sarifRuleConf struct {
		Level string `json:"level"`
	}
	sarifText struct {
		Text string `json:"text"`
	}
	sarifResult struct {
		RuleID    string          `json:"ruleId"`
		RuleIndex int             `json:"ruleIndex"`
		Level     string          `json:"level"`
		Message   sarifText       `json:"message"`
		Locations []sarifLocation `json:"locations"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysical `json:"physicalLocation"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
		Region           *sarifRegion  `json:"region,omitempty"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine   int `json:"startLine"`
		StartColumn int `json:"startColumn,omitempty"`
	}
)

func sarifLevel(s Severity) string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	default:
		return "note"
	}
}

func reportSARIF(w io.Writer, file string, fs []Finding) error {
	index := map[string]int{}
	driver := sarifDriver{Name: toolName, InformationURI: toolInfoURI, Rules: []sarifRule{}}
	for i, r := range rules {
		index[r.ID] = i
		driver.Rules = append(driver.Rules, sarifRule{
			ID:                   r.ID,
			Name:                 ruleName(r.Title),
			ShortDescription:     sarifText{r.Title},
			FullDescription:      sarifText{r.Rationale},
			Help:                 sarifText{r.Fix},
			DefaultConfiguration: sarifRuleConf{sarifLevel(r.Severity)},
		})
	}
	uri := (&url.URL{Path: filepath.ToSlash(file)}).String()
	results := []sarifResult{}
	for _, f := range fs {
		msg := f.Message
		if f.Fix != "" {
			msg += " (fix: " + f.Fix + ")"
		}
		loc := sarifLocation{PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: uri}}}
		if f.Line > 0 {
			loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line, StartColumn: max(f.Column, 0)}
		}
		ri, ok := index[f.RuleID]
		if !ok {
			ri = -1
		}
		results = append(results, sarifResult{
			RuleID: f.RuleID, RuleIndex: ri, Level: sarifLevel(f.Severity),
			Message: sarifText{msg}, Locations: []sarifLocation{loc},
		})
	}
	return writeJSON(w, sarifLog{
		Schema:  sarifSchema,
		Version: sarifVersion,
		Runs:    []sarifRun{{Tool: sarifTool{Driver: driver}, ColumnKind: "unicodeCodePoints", Results: results}},
	})
}

// ruleName turns a title into the PascalCase name SARIF viewers show next
// to the ID: "unknown key" → "UnknownKey".
func ruleName(title string) string {
	var b strings.Builder
	for w := range strings.FieldsFuncSeq(title, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}
