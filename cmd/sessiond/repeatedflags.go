package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// A flag that takes one value, given twice, keeps the last value without
// a word (pflag's rule): `--url a --url b` asks b, `--since 1h --since 7d`
// reads a week, `--config prod.yaml --config staging.yaml` acts on
// staging. Every command refuses it, as a usage error (exit 2) before it
// does anything, even with the same value twice, as the API refuses a
// parameter given twice. Flags that take no value (--json, --all…) may
// repeat, since `--json --json` can only mean one thing, but not with
// values that differ (`--create=true --create=false` would not create:
// boolValue); so may the list flags, which collect every value given
// (--scope, --subject).

// onceValue is a flag value that counts how often it was given, for
// checkOnce.
type onceValue struct {
	pflag.Value
	n      int
	absent string // what leaving the flag out means, for checkSelectors' message ("": none)
}

func (v *onceValue) Set(s string) error { v.n++; return v.Value.Set(s) }

// boolValue is a flag that takes no value (a bool), remembering whether
// it was given both true and false, for checkOnce.
type boolValue struct {
	pflag.Value
	given   string // the first value given, as the flag prints it
	clashes bool   // a later value differed from it
}

func (v *boolValue) Set(s string) error {
	if err := v.Value.Set(s); err != nil {
		return err
	}
	switch got := v.Value.String(); {
	case v.given == "":
		v.given = got
	case got != v.given:
		v.clashes = true
	}
	return nil
}

// IsBoolFlag keeps the flag one that takes no value.
func (v *boolValue) IsBoolFlag() bool { return true }

// onceVar defines a string flag as StringVar does (its default is *p),
// counted as onceValue.
func onceVar(f *pflag.FlagSet, p *string, name, usage string) {
	f.StringVar(p, name, *p, usage)
	countGiven(f.Lookup(name))
}

// countGiven makes f an onceValue, or a boolValue when it is a bool,
// unless it takes a list, or is one already.
func countGiven(f *pflag.Flag) {
	switch f.Value.(type) {
	case *onceValue, *boolValue:
		return
	}
	if f.Value.Type() == "bool" && f.NoOptDefVal != "" {
		f.Value = &boolValue{Value: f.Value}
		return
	}
	if !singleValue(f) {
		return
	}
	f.Value = &onceValue{Value: f.Value}
}

// singleValue says whether f takes one value: not a bool (which takes
// none: pflag gives it NoOptDefVal), nor a list (pflag.SliceValue).
func singleValue(f *pflag.Flag) bool {
	if f.NoOptDefVal != "" {
		return false
	}
	_, list := f.Value.(pflag.SliceValue)
	return !list
}

// refuseRepeatedFlags makes c count its single-value flags and refuse,
// before it checks its arguments (whose rules may depend on a flag, as
// bench's do on --bare-server) and before it runs, one given more than
// once, and a deployment flag given empty (checkFlags). run applies it to
// every command.
func refuseRepeatedFlags(c *cobra.Command) {
	c.Flags().VisitAll(countGiven)
	c.PersistentFlags().VisitAll(countGiven)
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := checkFlags(cmd); err != nil {
				return err
			}
			return args(cmd, a)
		}
	}
	if runE := c.RunE; runE != nil {
		c.RunE = func(cmd *cobra.Command, a []string) error {
			if err := checkFlags(cmd); err != nil {
				return err
			}
			return runE(cmd, a)
		}
	}
}

// checkFlags refuses, as a usage error, a flag of cmd given more than once
// (checkOnce), and --config, --listen, --data or --url given empty
// (deploymentFlags): a script's unset variable would be read as the flag
// left out, and the command, whichever it is (serve, migrate, a
// revocation, a key's creation, bench's load, a health check), would act
// on the deployment SESSIOND_CONFIG, SESSIOND_DATA, SESSIOND_URL or the
// defaults name.
func checkFlags(cmd *cobra.Command) error {
	if err := checkOnce(cmd); err != nil {
		return err
	}
	return checkSelectors(cmd, deploymentFlags...)
}

// checkOnce refuses, as a usage error, a flag of names (every flag of cmd
// when none is named) given more than once, or a bool given both true and
// false.
func checkOnce(cmd *cobra.Command, names ...string) error {
	var err error
	check := func(f *pflag.Flag) {
		if err != nil {
			return
		}
		switch v := f.Value.(type) {
		case *onceValue:
			if v.n > 1 {
				err = usageErr("invalid argument: --%s given %d times; give it once", f.Name, v.n)
			}
		case *boolValue:
			if v.clashes {
				err = usageErr("invalid argument: --%s given both true and false; give it once", f.Name)
			}
		}
	}
	if len(names) == 0 {
		cmd.Flags().VisitAll(check)
	}
	for _, name := range names {
		if f := cmd.Flags().Lookup(name); f != nil {
			check(f)
		}
	}
	return err
}
