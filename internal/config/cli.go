package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Exit codes of RunValidate.
const (
	ExitOK       = 0 // no errors (warnings and infos allowed)
	ExitFindings = 1 // at least one error finding
	ExitUsage    = 2 // unreadable file, not YAML, or bad flags
)

// RunValidate implements
//
//	sessiond config validate FILE [--env development|production] [--format text|json|sarif]
//
// Flags may come before or after FILE. The report goes to stdout, usage
// and fatal problems to stderr. It returns ExitOK when there is no error
// finding, ExitFindings when there is one (unknown keys and type errors
// included), and ExitUsage when the file cannot be read or is not YAML, or
// the flags are wrong.
//
// Only the file is checked: SESSIOND_* environment overrides are not
// applied, so the result is the same on a laptop and in CI. --env defaults
// to the file's own environment key.
func RunValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sessiond config validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := fs.String("env", "", "check for `environment` development or production (default: the file's environment key)")
	format := fs.String("format", FormatText, "output `format`: text, json or sarif")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: sessiond config validate FILE [--env development|production] [--format text|json|sarif]")
		fs.PrintDefaults()
	}
	var files []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return ExitOK
			}
			return ExitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "sessiond config validate: want exactly one FILE, got %d\n", len(files))
		fs.Usage()
		return ExitUsage
	}
	switch *env {
	case "", EnvDevelopment, EnvProduction:
	default:
		fmt.Fprintf(stderr, "sessiond config validate: --env %q: want development or production\n", *env)
		return ExitUsage
	}
	switch *format {
	case FormatText, FormatJSON, FormatSARIF:
	default:
		fmt.Fprintf(stderr, "sessiond config validate: --format %q: want text, json or sarif\n", *format)
		return ExitUsage
	}
	file := files[0]
	cfg, doc, err := Load(file)
	if doc == nil {
		// Unreadable or not YAML: nothing to validate.
		fmt.Fprintf(stderr, "sessiond config validate: %v\n", err)
		return ExitUsage
	}
	// Field errors are in doc and come back as SD-SCHEMA findings.
	findings := Validate(cfg, doc, *env)
	if err := Report(stdout, *format, file, findings); err != nil {
		fmt.Fprintf(stderr, "sessiond config validate: %v\n", err)
		return ExitUsage
	}
	if e, _, _ := Count(findings); e > 0 {
		return ExitFindings
	}
	return ExitOK
}
