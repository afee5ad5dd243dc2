package sessiond_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestArchitecture_Map keeps docs/ARCHITECTURE.md, the newcomer's map, in
// step with the tree: every package folder and every root-package file is
// on it, and every file it names exists.
func TestArchitecture_Map(t *testing.T) {
	doc, err := os.ReadFile("docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	named := func(s string) bool { return strings.Contains(text, "`"+s+"`") }

	files := map[string]bool{}   // base names of the repository's files
	missing := map[string]bool{} // package folders reported
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		files[d.Name()] = true
		dir := filepath.ToSlash(filepath.Dir(path))
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		switch {
		case dir == "." && !strings.HasSuffix(path, "_test.go"):
			if !named(path) {
				t.Errorf("ARCHITECTURE.md does not name the root package's %s", path)
			}
		case dir != "." && !missing[dir] && !named(dir+"/") && !named(filepath.Base(dir)+"/"):
			missing[dir] = true
			t.Errorf("ARCHITECTURE.md does not name the package folder %s/", dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A file the map names, by its base name: where it is, the text around
	// it says. Patterns and suffixes stand for no one file.
	placeholder := map[string]bool{"NNNN_description.sql": true, "_test.go": true}
	for _, m := range regexp.MustCompile("`([A-Za-z0-9_./-]+\\.(?:go|sh|js|sql))`").FindAllStringSubmatch(text, -1) {
		if base := filepath.Base(m[1]); !placeholder[base] && !files[base] {
			t.Errorf("ARCHITECTURE.md names %s, which no folder holds", m[1])
		}
	}
}
