package main

import (
	"slices"
	"strings"
	"testing"
)

// docBlock is a fenced code block of a Markdown page: its info string's
// first word (the language, "" for none) and its lines.
type docBlock struct {
	lang  string
	lines []string
}

// markdownCode returns what a reader of a Markdown page can copy: its
// fenced blocks, and its inline code spans outside them, each span's white
// space (a span wrapped over lines) folded to single spaces. It reads
// fences and spans as CommonMark does, which a regular expression pairing
// backticks across the page does not: a fence of another language (```go,
// ```yaml) would pair its backticks with the prose's and turn the rest of
// the page inside out, code read as prose and prose as code.
func markdownCode(src string) (blocks []docBlock, spans []string) {
	var prose strings.Builder
	var open *docBlock
	fence := ""
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimLeft(line, " \t")
		if open != nil {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]+" \t") == "" {
				blocks = append(blocks, *open)
				open = nil
			} else {
				open.lines = append(open.lines, line)
			}
			prose.WriteString("\n") // a block ends a paragraph, and any span in it
			continue
		}
		if f := fenceOf(trimmed); f != "" {
			fence = f
			open = &docBlock{lang: strings.ToLower(strings.Fields(trimmed[len(f):] + " x")[0])}
			if open.lang == "x" {
				open.lang = ""
			}
			prose.WriteString("\n")
			continue
		}
		prose.WriteString(line + "\n")
	}
	if open != nil { // unclosed: runs to the end of the page
		blocks = append(blocks, *open)
	}
	for _, para := range strings.Split(prose.String(), "\n\n") {
		spans = append(spans, codeSpans(para)...)
	}
	return blocks, spans
}

// fenceOf returns the run of three or more backticks or tildes that opens a
// fenced block on line (its indentation removed), or "".
func fenceOf(line string) string {
	for _, c := range "`~" {
		n := len(line) - len(strings.TrimLeft(line, string(c)))
		if n >= 3 && (c == '~' || !strings.Contains(line[n:], "`")) {
			return line[:n]
		}
	}
	return ""
}

// codeSpans returns the code spans of one paragraph: a run of n backticks
// opens a span that the next run of exactly n backticks closes; an opener
// that nothing closes is plain text.
func codeSpans(para string) []string {
	var spans []string
	for i := 0; i < len(para); {
		if para[i] != '`' {
			i++
			continue
		}
		n := len(para[i:]) - len(strings.TrimLeft(para[i:], "`"))
		opener := para[i : i+n]
		end := -1
		for j := i + n; j < len(para); {
			k := strings.Index(para[j:], opener)
			if k < 0 {
				break
			}
			k += j
			m := len(para[k:]) - len(strings.TrimLeft(para[k:], "`"))
			if m == n {
				end = k
				break
			}
			j = k + m
		}
		if end < 0 {
			i += n // literal backticks
			continue
		}
		spans = append(spans, strings.Join(strings.Fields(para[i+n:end]), " "))
		i = end + n
	}
	return spans
}

// TestMarkdownCode: the pages' code is read as a Markdown renderer shows
// it. The regular expression TestDocs_CLICommands used before paired the
// backticks of a ```go or ```yaml fence with the prose's and missed 56 of
// the pages' 229 sessiond commands (the README's whole CLI block among
// them), checking text between spans instead.
func TestMarkdownCode(t *testing.T) {
	for _, c := range []struct {
		name   string
		src    string
		blocks []docBlock
		spans  []string
	}{
		{"span after a fence of another language",
			"```go\nx := `raw`\n```\n\nRun `sessiond keys list` now.\n",
			[]docBlock{{"go", []string{"x := `raw`"}}}, []string{"sessiond keys list"}},
		{"fence with an odd number of backticks inside",
			"```yaml\na: '`'\n```\nthen `sessiond migrate --check`\n",
			[]docBlock{{"yaml", []string{"a: '`'"}}}, []string{"sessiond migrate --check"}},
		{"indented fence in a list, language case folded",
			"1. Do:\n   ```SH\n   sessiond migrate\n   ```\n2. `done`\n",
			[]docBlock{{"sh", []string{"   sessiond migrate"}}}, []string{"done"}},
		{"fence without a language, longer closing fence",
			"```\nsessiond version\n`````\n",
			[]docBlock{{"", []string{"sessiond version"}}}, nil},
		{"span wrapped over lines",
			"the `sessiond\n  incident revoke --all` command\n",
			nil, []string{"sessiond incident revoke --all"}},
		{"double backticks hold a backtick",
			"``a ` b`` and `c`\n",
			nil, []string{"a ` b", "c"}},
		{"an opener nothing closes is text",
			"a `` b `c`\n",
			nil, []string{"c"}},
		{"no span across paragraphs",
			"a `b\n\nc d `e`\n",
			nil, []string{"e"}},
		{"tilde fence",
			"~~~sh\nsessiond serve\n~~~\n`y`\n",
			[]docBlock{{"sh", []string{"sessiond serve"}}}, []string{"y"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			blocks, spans := markdownCode(c.src)
			if !slices.EqualFunc(blocks, c.blocks, func(a, b docBlock) bool {
				return a.lang == b.lang && slices.Equal(a.lines, b.lines)
			}) {
				t.Errorf("blocks = %q; want %q", blocks, c.blocks)
			}
			if !slices.Equal(spans, c.spans) {
				t.Errorf("spans = %q; want %q", spans, c.spans)
			}
		})
	}
}
