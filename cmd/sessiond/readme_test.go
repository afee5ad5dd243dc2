package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
)

// readmeBlock returns the fenced code block that follows the line holding
// marker in README.md.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("README.md has no %q", marker)
	}
	s = s[i:]
	start := strings.Index(s, "\n```")
	if start < 0 {
		t.Fatalf("README.md: no code block after %q", marker)
	}
	s = s[start+1:]
	s = s[strings.Index(s, "\n")+1:] // past the opening fence
	end := strings.Index(s, "\n```")
	if end < 0 {
		t.Fatalf("README.md: unclosed code block after %q", marker)
	}
	return s[:end+1]
}

// copyTree copies the repository's files (tracked, and untracked but not
// ignored) into dst, as a fresh clone would have them: no binary, data
// directory or node_modules a build left. git says which they are, by the
// repository's .gitignore files; in a copy without its .git (an unpacked
// archive, a work tree copied alone) it reads them through an empty
// repository of its own, so that every file not ignored is copied.
func copyTree(t *testing.T, root, dst string) map[string]bool {
	t.Helper()
	args := []string{"-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"}
	if top, err := exec.Command("git", "-C", root, "rev-parse", "--show-toplevel").Output(); err != nil || !sameDir(strings.TrimSpace(string(top)), root) {
		empty := t.TempDir()
		if out, err := exec.Command("git", "init", "-q", "--bare", empty).CombinedOutput(); err != nil {
			t.Fatalf("git init: %v\n%s", err, out)
		}
		args = []string{"--git-dir", empty, "--work-tree", root, "-C", root, "ls-files", "-z", "--others", "--exclude-standard"}
	}
	out, err := exec.Command("git", args...).Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	files := map[string]bool{}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		info, err := os.Lstat(src)
		if err != nil || !info.Mode().IsRegular() { // deleted in the work tree, or a symlink
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		files[filepath.ToSlash(name)] = true
	}
	return files
}

// sameDir reports whether a and b name the same directory.
func sameDir(a, b string) bool {
	ai, err := os.Stat(a)
	if err != nil {
		return false
	}
	bi, err := os.Stat(b)
	return err == nil && os.SameFile(ai, bi)
}

// TestCopyTree: the quick start's copy holds what a clean clone holds,
// wherever the repository is: no file a .gitignore of its own ignores
// (the root's, or a package's), every other file, tracked or not; in a
// clone, a tracked file even if ignored, and not one deleted from the work
// tree. A copy without .git is asked through an empty repository, so it
// neither skips nor takes the ignore rules of a repository it happens to
// sit in.
func TestCopyTree(t *testing.T) {
	testenv.Programs(t, "the README quick start's copy", "", "git")
	// No user's global excludes or identity: only the tree's own rules.
	t.Setenv("GIT_CONFIG_GLOBAL", os.DevNull)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	tree := func(root string) {
		t.Helper()
		for name, body := range map[string]string{
			".gitignore":                "/sessiond\nsessiond-data/\nnode_modules/\n",
			"README.md":                 "readme",
			"sessiond":                  "a built binary",
			"sessiond-data/sessiond.db": "data",
			"sdk/node/.gitignore":       "dist/\n",
			"sdk/node/src/index.ts":     "source",
			"sdk/node/dist/index.js":    "built",
			"sdk/node/node_modules/x":   "installed",
			"zz_probe_x.go":             "untracked, not ignored",
		} {
			p := filepath.Join(root, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	kept := []string{".gitignore", "README.md", "sdk/node/.gitignore", "sdk/node/src/index.ts", "zz_probe_x.go"}
	for _, c := range []struct {
		name  string
		setup func(t *testing.T) string // returns the tree's root
		want  []string
	}{
		{"copy without .git", func(t *testing.T) string {
			root := t.TempDir()
			tree(root)
			return root
		}, kept},
		{"copy inside another repository", func(t *testing.T) string {
			outer := t.TempDir()
			git(outer, "init", "-q")
			if err := os.WriteFile(filepath.Join(outer, ".gitignore"), []byte("*.md\n*.go\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			root := filepath.Join(outer, "sessiond")
			tree(root)
			return root
		}, kept},
		{"clone", func(t *testing.T) string {
			root := t.TempDir()
			tree(root)
			git(root, "init", "-q")
			if err := os.WriteFile(filepath.Join(root, "gone.txt"), []byte("deleted"), 0o644); err != nil {
				t.Fatal(err)
			}
			git(root, "add", ".gitignore", "README.md", "sdk", "gone.txt")
			git(root, "add", "-f", "sdk/node/dist/index.js") // tracked though ignored
			git(root, "commit", "-q", "-m", "tree")
			if err := os.Remove(filepath.Join(root, "gone.txt")); err != nil {
				t.Fatal(err)
			}
			return root
		}, append(slices.Clone(kept), "sdk/node/dist/index.js")},
	} {
		t.Run(c.name, func(t *testing.T) {
			root, dst := c.setup(t), t.TempDir()
			files := copyTree(t, root, dst)
			got := slices.Sorted(maps.Keys(files))
			want := slices.Sorted(slices.Values(c.want))
			if !slices.Equal(got, want) {
				t.Errorf("copyTree copied %q; want %q", got, want)
			}
			for _, name := range want {
				if b, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(name))); err != nil || len(b) == 0 {
					t.Errorf("the copy's %s: %q, %v", name, b, err)
				}
			}
		})
	}
}

// TestREADME_CLICommands: every `sessiond …` line of the README's CLI block
// names a real command with flags it takes and arguments it accepts (so a
// shell pipe such as `keys list | rotate` cannot pass for two commands).
func TestREADME_CLICommands(t *testing.T) {
	block := readmeBlock(t, "## The CLI")
	n := 0
	for _, line := range strings.Split(block, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "sessiond ") {
			continue
		}
		args, err := shellWords(line)
		if err != nil {
			t.Errorf("README: %q: %v", line, err)
			continue
		}
		n++
		a := &app{stdout: io.Discard, stderr: io.Discard}
		root := a.rootCmd()
		cmd, rest, err := root.Find(args[1:])
		if err != nil || cmd == root {
			t.Errorf("README: %q is not a sessiond command: %v", line, err)
			continue
		}
		if cmd.DisableFlagParsing {
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("README: %q: %v", line, err)
			continue
		}
		if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
			t.Errorf("README: %q: %v", line, err)
		}
	}
	if n < 5 {
		t.Fatalf("found only %d sessiond commands in the README's CLI block", n)
	}
}

// isPlaceholder reports whether a word of a documented command stands for
// a value the reader fills in: a word in capitals, such as ID, S or FILE.
func isPlaceholder(word string) bool {
	return word != "" && strings.Trim(word, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == ""
}

// shellWords splits a command line the way sh would for these simple
// lines: words, "double" and 'single' quotes, and a # comment. A pipe,
// redirection or separator is an error: the CLI block shows one command a
// line.
func shellWords(line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool
		quote rune
	)
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case r == '#' && !in:
			return words, nil
		case strings.ContainsRune("|&;<>`$", r):
			return nil, fmt.Errorf("shell syntax %q: write one command a line", r)
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, errors.New("unclosed quote")
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// TestDocs_CLICommands: every sessiond command the pages (README.md,
// docs/*.md, the examples' and the Node SDK's READMEs) show in code, in a
// fenced block or inline (`sessiond …`, wrapped over lines or not), is one
// the real command tree accepts. Those written with flags to be copied as
// they stand (no … and no placeholder such as ID) are run: those that ask
// the running server (incident, sessions, events) against a closed port,
// those that open the store (apikey, keys, migrate) on a SQLite store of
// their own; they must get as far as the server or the store (exit 0 or
// 1), not stop at a usage error (exit 2: a misspelt --scope or --type is
// one). docs/operations.md told an operator after a Redis rollback to run
// `sessiond incident revoke --all --rotate-keys`, which exits 2 without
// --reason; docs/redisstore.md still named `sessiond incident revoke --all`
// after a ```go fence, where the pattern that found the commands before
// markdownCode no longer read the page as written.
func TestDocs_CLICommands(t *testing.T) {
	env := []string{"SESSIOND_URL=http://127.0.0.1:1", "SESSIOND_DATA=" + t.TempDir(),
		"SESSIOND_API_KEY=sdak_" + strings.Repeat("0123456789abcdef", 4)}
	// The commands that open the store themselves (apikey, keys, migrate)
	// run on a SQLite store of their own, made first.
	if _, errOut, code := runInProcess(env, "migrate", "--create"); code != 0 {
		t.Fatalf("sessiond migrate --create = exit %d: %s", code, errOut)
	}
	n, ran := 0, 0
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for i := range pages {
		pages[i] = strings.TrimPrefix(pages[i], "../../")
	}
	pages = append(pages, "README.md", "SECURITY.md", "sdk/node/README.md", "examples/webapp/README.md",
		"examples/gateway/README.md")
	for _, page := range pages {
		b, err := os.ReadFile(filepath.Join("../..", page))
		if err != nil {
			t.Fatal(err)
		}
		blocks, spans := markdownCode(string(b))
		var lines []string // a block's lines, one command each; then the inline spans
		for _, blk := range blocks {
			switch blk.lang {
			case "", "sh", "bash", "shell", "console":
				for _, line := range blk.lines {
					line = strings.TrimSpace(line)
					if blk.lang == "console" {
						line = strings.TrimPrefix(line, "$ ")
					}
					lines = append(lines, line)
				}
			}
		}
		inlineFrom := len(lines)
		lines = append(lines, spans...)
		for i, line := range lines {
			if !strings.HasPrefix(line, "sessiond ") {
				continue
			}
			args, err := shellWords(line)
			if err != nil {
				continue // not one simple command (a redirection, a substitution)
			}
			n++
			a := &app{stdout: io.Discard, stderr: io.Discard}
			root := a.rootCmd()
			cmd, rest, err := root.Find(args[1:])
			if err != nil {
				t.Errorf("%s: %q is not a sessiond command: %v", page, line, err)
				continue
			}
			if cmd == root {
				continue // sessiond --version, whose flag cobra adds when run
			}
			mention := false // inline, `sessiond events --type` names a flag: parse it, do not run it
			if k := len(rest) - 1; i >= inlineFrom && k >= 0 && strings.HasPrefix(rest[k], "--") {
				f := cmd.Flags().Lookup(strings.TrimPrefix(rest[k], "--"))
				if mention = rest[k] == "--help" || f != nil && f.NoOptDefVal == ""; mention {
					rest = rest[:k]
				}
			}
			if err := cmd.ParseFlags(rest); err != nil {
				t.Errorf("%s: %q: %v", page, line, err)
				continue
			}
			if mention || page == "docs/PERFORMANCE.md" {
				continue // PERFORMANCE.md records runs; its commands are shorthand for the docs/bench scripts
			}
			switch strings.Fields(cmd.CommandPath() + " x")[1] {
			case "incident", "sessions", "events", "apikey", "keys", "migrate":
			default:
				continue
			}
			if !strings.Contains(line, " --") || strings.Contains(line, "…") || slices.ContainsFunc(args, isPlaceholder) {
				continue // names the command, or has placeholders: not one to copy as it stands
			}
			ran++
			if _, errOut, code := runInProcess(env, args[1:]...); code == 2 {
				t.Errorf("%s: %q = exit 2 (usage): %s", page, line, strings.TrimSpace(errOut))
			}
		}
	}
	t.Logf("%d sessiond commands in the pages, %d of them run", n, ran)
	if n < 200 || ran < 10 {
		t.Fatalf("found only %d sessiond commands in the pages, %d of them run; want more", n, ran)
	}
}
