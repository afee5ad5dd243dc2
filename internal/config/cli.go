package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
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
	var env, format onceFlag
	format.value = FormatText
	fs := validateFlags(&env, &format)
	// The flag package's own messages and usage spell flags -env; they are
	// printed here as every other command of the CLI spells them (--env).
	// It still takes both spellings.
	fs.SetOutput(io.Discard)
	usage := func() {
		fmt.Fprintln(stderr, "usage: sessiond config validate FILE [--env development|production] [--format text|json|sarif]")
		fs.VisitAll(func(f *flag.Flag) {
			name, help := flag.UnquoteUsage(f)
			if f.DefValue != "" {
				help += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(stderr, "  %-20s %s\n", "--"+f.Name+" "+name, help)
		})
	}
	var files []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				usage()
				return ExitOK
			}
			fmt.Fprintln(stderr, "sessiond config validate:", doubleDash(err.Error()))
			usage()
			return ExitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	for _, f := range []struct {
		name string
		v    *onceFlag
	}{{"env", &env}, {"format", &format}} {
		if f.v.n > 1 {
			// Of "--format sarif ... --format text" a CI job would get the
			// last, a report its upload step cannot read.
			fmt.Fprintf(stderr, "sessiond config validate: invalid argument: --%s given %d times; give it once\n", f.name, f.v.n)
			return ExitUsage
		}
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "sessiond config validate: want exactly one FILE, got %d\n", len(files))
		usage()
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

// validateFlags defines RunValidate's flags on a new FlagSet.
func validateFlags(env, format *onceFlag) *flag.FlagSet {
	fs := flag.NewFlagSet("sessiond config validate", flag.ContinueOnError)
	fs.Var(env, "env", "check for `environment` development or production (default: the file's environment key)")
	fs.Var(format, "format", "output `format`: text, json or sarif")
	return fs
}

// ValidateFlags lists the names of RunValidate's flags, each of which
// takes one value: the CLI's tests give each twice.
func ValidateFlags() []string {
	var names []string
	validateFlags(new(onceFlag), new(onceFlag)).VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// doubleDash is a message of the flag package with the flag it names
// spelt --name, as the CLI spells flags ("flag provided but not defined:
// -verbose", "invalid value … for flag -format: …", "flag needs an
// argument: -format").
func doubleDash(msg string) string {
	for _, p := range []string{"not defined: -", "for flag -", "needs an argument: -"} {
		if i := strings.Index(msg, p); i >= 0 && !strings.HasPrefix(msg[i+len(p):], "-") {
			return msg[:i+len(p)] + "-" + msg[i+len(p):]
		}
	}
	return msg
}

// onceFlag is a string flag that counts how often it was given:
// RunValidate refuses one given twice.
type onceFlag struct {
	value string
	n     int
}

func (f *onceFlag) String() string { return f.value }

func (f *onceFlag) Set(v string) error {
	f.value = v
	f.n++
	return nil
}
