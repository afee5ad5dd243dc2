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

// FuzzParseDuration: a duration that parses is not negative and reads
// back from what String and MarshalText write (the forms `sessiond config`
// prints); a refusal leaves an UnmarshalText target as it was.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"15m", "1h30m", "30d", " 7d ", "100000d", "100001d", "-1s", "", "0", "1.5h", "+5d", "d", "9223372036s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		var into Duration = 42
		uerr := into.UnmarshalText([]byte(s))
		if err != nil {
			if d != 0 || uerr == nil || into != 42 {
				t.Fatalf("ParseDuration(%q) = %v, %v; UnmarshalText left %v, %v", s, d, err, into, uerr)
			}
			return
		}
		if d < 0 || uerr != nil || into != d {
			t.Fatalf("ParseDuration(%q) = %v; UnmarshalText = %v, %v", s, d, into, uerr)
		}
		text, _ := d.MarshalText()
		if again, err := ParseDuration(string(text)); err != nil || again != d {
			t.Fatalf("ParseDuration(%q) = %v, whose text %q reads back as %v, %v", s, d, text, again, err)
		}
	})
}

// FuzzParseProxy: a trusted proxy entry that parses is a masked prefix of
// a plain (not IPv4-mapped) address, and its own spelling reads back the
// same.
func FuzzParseProxy(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.1/8", "::ffff:10.0.0.1", "::ffff:10.0.0.0/104", "fe80::1%eth0", "2001:db8::/32", "192.0.2.1", "1.2.3.4/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parseProxy(s)
		if err != nil {
			if p.IsValid() {
				t.Fatalf("parseProxy(%q) refused but returned %v", s, p)
			}
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			t.Fatalf("parseProxy(%q) = %v", s, p)
		}
		if again, err := parseProxy(p.String()); err != nil || again != p {
			t.Fatalf("parseProxy(%q) = %v, whose spelling reads back as %v, %v", s, p, again, err)
		}
	})
}
