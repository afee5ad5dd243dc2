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
	var env, format onceFlag
	format.value = FormatText
	fs.Var(&env, "env", "check for `environment` development or production (default: the file's environment key)")
	fs.Var(&format, "format", "output `format`: text, json or sarif") // the flag package adds "(default text)"
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
	switch env.value {
	case "", EnvDevelopment, EnvProduction:
	default:
		fmt.Fprintf(stderr, "sessiond config validate: --env %q: want development or production\n", env.value)
		return ExitUsage
	}
	switch format.value {
	case FormatText, FormatJSON, FormatSARIF:
	default:
		fmt.Fprintf(stderr, "sessiond config validate: --format %q: want text, json or sarif\n", format.value)
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
	findings := Validate(cfg, doc, env.value)
	if err := Report(stdout, format.value, file, findings); err != nil {
		fmt.Fprintf(stderr, "sessiond config validate: %v\n", err)
		return ExitUsage
	}
	if e, _, _ := Count(findings); e > 0 {
		return ExitFindings
	}
	return ExitOK
}

// onceFlag is a string flag given at most once: of "--format sarif ...
// --format text" a CI job would get the last, a report its upload step
// cannot read, so a second one is a usage error.
type onceFlag struct {
	value string
	set   bool
}

func (f *onceFlag) String() string { return f.value }

func (f *onceFlag) Set(v string) error {
	if f.set {
		return errors.New("given more than once")
	}
	f.value, f.set = v, true
	return nil
}
