package config

import (
	"errors"
	"io"
	"testing"
)

// FuzzParse checks that no input makes Parse (or the validator and the
// report on what it returns) panic, and that Parse keeps its contract:
// a syntax error comes without a document, anything else with one.
func FuzzParse(f *testing.F) {
	f.Add([]byte("cookie:\n  secure: false\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, doc, err := Parse(data, "fuzz.yaml")
		if errors.Is(err, ErrSyntax) {
			if doc != nil {
				t.Fatalf("syntax error %v came with a document", err)
			}
			return
		}
		if doc == nil {
			t.Fatalf("no document and no syntax error: %v", err)
		}
		if (err == nil) != (len(doc.Errors()) == 0) {
			t.Fatalf("error %v but document has %d field errors", err, len(doc.Errors()))
		}
		// The validator must not read files the input names.
		cfg.JWT.HS256SecretFile = ""
		for i := range cfg.Webhooks {
			cfg.Webhooks[i].SecretFile = ""
		}
		fs := Validate(cfg, doc, "")
		for _, format := range []string{FormatText, FormatJSON, FormatSARIF} {
			if err := Report(io.Discard, format, "fuzz.yaml", fs); err != nil {
				t.Fatal(err)
			}
		}
	})
}
