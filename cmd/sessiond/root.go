package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

// exitError carries a specific exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// errUsage marks a usage error (exit status 2): a command line refused
// before anything was done. Commands make them with usageErr; whatever
// cobra refuses before a command's RunE runs is one too (see run).
var errUsage = errors.New("usage error")

// usageError is a usage error whose message is its cause's alone.
type usageError struct{ err error }

func (e usageError) Error() string   { return e.err.Error() }
func (e usageError) Unwrap() []error { return []error{e.err, errUsage} }

// usageErr formats a usage error as fmt.Errorf does (%w wraps).
func usageErr(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// app holds what every command shares: its streams, environment and the
// global flags.
type app struct {
	stdout, stderr io.Writer
	environ        []string
	configPath     string
	listen         string
	dataDir        string
	// again receives at each SIGTERM or SIGINT after the first, once a
	// command took it (takeAgain); ownsAgain says one did.
	again     <-chan struct{}
	ownsAgain atomic.Bool
}

// takeAgain returns the channel that receives each further SIGTERM or
// SIGINT, for a command that stops by steps (serve): from then on a
// further signal is the command's to act on, and no longer stops the
// process at once.
func (a *app) takeAgain() <-chan struct{} {
	a.ownsAgain.Store(true)
	return a.again
}

// errStoppedNow: a further SIGTERM or SIGINT arrived while a command was
// still stopping after the first, and the process stopped without waiting
// for it.
var errStoppedNow = errors.New("stopped at once by a further signal, before the command finished")

func (a *app) getenv(name string) string {
	for _, kv := range a.environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// Exit codes: 0 success, 1 a failure, 2 a usage error, 78 (EX_CONFIG of
// sysexits.h) a configuration serve cannot start with.
const (
	exitFailure = 1
	exitUsage   = 2
	exitConfig  = 78
)

// run executes the CLI and returns the process exit code.
func run(args []string, stdout, stderr io.Writer, environ []string) int {
	out := &outputWriter{w: stdout}
	a := &app{stdout: out, stderr: stderr, environ: environ}
	root := a.rootCmd()
	root.SetArgs(args)
	// cobra finds the command, parses its flags and checks its arguments,
	// required flags and flag groups before it calls RunE: an error from
	// before any RunE is a refused command line. Its own help and
	// completion commands are added now, as Execute would add them, so
	// that they are wrapped too.
	root.InitDefaultHelpCmd()
	strictHelp(root)
	root.InitDefaultCompletionCmd(args...)
	eachCommand(root, refuseUnknownSubcommands)
	eachCommand(root, refuseRepeatedFlags)
	groupUsage(root)
	var ran atomic.Bool
	eachCommand(root, func(c *cobra.Command) {
		if runE := c.RunE; runE != nil {
			c.RunE = func(cmd *cobra.Command, args []string) error {
				ran.Store(true)
				return runE(cmd, args)
			}
		}
	})

	ctx, stopNow, stop := a.notifyStop()
	defer stop()
	err := executeUntil(ctx, root, stopNow)
	if err != nil && !errors.Is(err, errStoppedNow) && !ran.Load() {
		err = usageError{err}
	}
	if err == nil && out.err != nil {
		// What a command printed is its result: output that did not
		// arrive (a full disk, a closed pipe) is a failure, as for cat.
		err = fmt.Errorf("write output: %w", out.err)
	}
	var ee exitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(stderr, "sessiond:", clean(err.Error()))
	}
	return exitCode(err)
}

// executeUntil runs root until it returns, or until stopNow: then it
// returns errStoppedNow at once and leaves the command running (the
// process is about to exit).
func executeUntil(ctx context.Context, root *cobra.Command, stopNow <-chan struct{}) error {
	errc := make(chan error, 1)
	go func() { errc <- root.ExecuteContext(ctx) }()
	select {
	case err := <-errc:
		return err
	case <-stopNow:
		select {
		case err := <-errc: // it finished meanwhile
			return err
		default:
			return errStoppedNow
		}
	}
}

// notifyStop returns a context that SIGTERM or SIGINT ends, as
// signal.NotifyContext does; see watchSignals for the further ones.
func (a *app) notifyStop() (context.Context, <-chan struct{}, func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, stopNow, stop := a.watchSignals(sigs)
	return ctx, stopNow, func() {
		signal.Stop(sigs)
		stop()
	}
}

// watchSignals returns a context the first signal on sigs ends. A further
// one goes to a.again when a command took it (takeAgain): serve's shutdown
// delay then ends at once (an operator pressing Ctrl-C again), and one
// more stops without finishing the graceful stop. Any other command
// stopping slowly after the first (a store or server that does not
// answer) is not waited for: the further signal closes stopNow, as it
// stops serve at once.
func (a *app) watchSignals(sigs <-chan os.Signal) (context.Context, <-chan struct{}, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	// One pending at most: a signal nobody takes yet (between the delay
	// and the teardown) is kept for the next step; more add nothing.
	again := make(chan struct{}, 1)
	a.again = again
	stopNow := make(chan struct{})
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for first := true; ; first = false {
			select {
			case <-sigs:
			case <-quit: // the command returned
				return
			}
			if first {
				cancel()
				continue
			}
			if !a.ownsAgain.Load() {
				close(stopNow)
				return
			}
			select {
			case again <- struct{}{}:
			default:
			}
		}
	}()
	return ctx, stopNow, func() {
		close(quit)
		<-done
		cancel()
	}
}

// outputWriter is the commands' standard output. It remembers the first
// write that failed, so that run can fail a command whose output was lost
// although the command itself did not check every write.
type outputWriter struct {
	w   io.Writer
	err error
}

func (o *outputWriter) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.w.Write(p)
	if err != nil {
		o.err = err
	}
	return n, err
}

// exitCode is the exit status for the error a command returned: the code
// of an exitError, exitUsage for errUsage, else exitFailure. Only the
// sentinel decides: a failure's text may say "invalid argument" (EINVAL).
func exitCode(err error) int {
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, errUsage):
		return exitUsage
	}
	return exitFailure
}

// refuseUnknownSubcommands makes a group (sessions, apikey, keys…) refuse
// an argument that names none of its commands. cobra checks that only on
// the root: below it, a group given "revok ID" prints its help and exits
// 0, so a script with a typo would believe the key revoked. Alone, a group
// still prints its help.
func refuseUnknownSubcommands(c *cobra.Command) {
	if !c.HasParent() || !c.HasSubCommands() || c.Runnable() {
		return
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		// A long argument is no misspelt command but maybe a pasted
		// token: not repeated.
		msg := fmt.Sprintf("unknown command for %q", cmd.CommandPath())
		if len(args[0]) <= 24 {
			msg = fmt.Sprintf("unknown command %s for %q", quoted(args[0]), cmd.CommandPath())
		}
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return errors.New(msg)
	}
	c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// strictHelp makes `sessiond help TOPIC` refuse, as a usage error, a
// topic that names no command. cobra's help prints the root's usage for
// an unknown topic and the group's help for a misspelt subcommand ("help
// sessions revok"), both with exit 0, as if the help asked for existed.
func strictHelp(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "help" || c.Run == nil {
			continue
		}
		help := c.Run
		c.Run = nil
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if found, rest, err := root.Find(args); err != nil || found == nil || len(rest) > 0 {
				topic := strings.Join(args, " ")
				if len(topic) > 24 { // maybe a pasted token: not repeated
					return usageErr("unknown help topic; `sessiond --help` lists the commands")
				}
				return usageErr("unknown help topic %s; `sessiond --help` lists the commands", quoted(topic))
			}
			help(cmd, args)
			return nil
		}
	}
}

// groupUsage keeps, in cobra's usage template, a group that
// refuseUnknownSubcommands made runnable to the list of its commands,
// without a "sessiond apikey [flags]" line that would run nothing.
func groupUsage(root *cobra.Command) {
	const useLine = "{{if .Runnable}}\n  {{.UseLine}}"
	if t := root.UsageTemplate(); strings.Contains(t, useLine) {
		root.SetUsageTemplate(strings.Replace(t, useLine, "{{if and .Runnable (not .HasAvailableSubCommands)}}\n  {{.UseLine}}", 1))
	}
}

func eachCommand(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		eachCommand(sub, fn)
	}
}

// rootCmd builds the command tree.
func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "sessiond",
		Short:         "Session management and token lifecycle: server and operator CLI",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       currentBuild().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	pf := root.PersistentFlags()
	onceVar(pf, &a.configPath, "config", "YAML configuration file (env SESSIOND_CONFIG)")
	onceVar(pf, &a.listen, "listen", "listen address, overrides server.listen (env SESSIOND_LISTEN)")
	onceVar(pf, &a.dataDir, "data", "data directory, overrides server.data_dir (env SESSIOND_DATA)")
	// Refused given empty by every command (checkFlags), which names what
	// leaving them out means.
	pf.Lookup("config").Value.(*onceValue).absent = "SESSIOND_CONFIG or the defaults"
	pf.Lookup("listen").Value.(*onceValue).absent = "SESSIOND_LISTEN or server.listen"
	pf.Lookup("data").Value.(*onceValue).absent = "SESSIOND_DATA or server.data_dir"
	root.AddCommand(a.serveCmd(), a.configCmd(), a.sessionsCmd(), a.keysCmd(), a.apikeyCmd(), a.migrateCmd(),
		a.eventsCmd(), a.incidentCmd(), a.benchCmd(), a.versionCmd(), a.healthcheckCmd())
	inheritHelp(root, "")
	return root
}

// inheritHelp gives subcommands the part of their parent's help that says
// what they read (the variables, the store), so `sessiond sessions list
// --help` names them as `sessiond sessions --help` does.
func inheritHelp(cmd *cobra.Command, tail string) {
	for _, h := range []string{remoteHelp, storeHelp} {
		if strings.HasSuffix(cmd.Long, h) {
			tail = h
		}
	}
	if cmd.Long == "" && tail != "" {
		cmd.Long = cmd.Short + ".\n" + tail
	}
	for _, c := range cmd.Commands() {
		inheritHelp(c, tail)
	}
}

// loadConfig builds the effective configuration: defaults, then the file,
// then SESSIOND_* variables, then flags.
func (a *app) loadConfig() (config.Config, *config.Document, error) {
	cfg := config.Default()
	var doc *config.Document
	path := a.configPath
	if path == "" {
		path = a.getenv("SESSIOND_CONFIG")
	}
	if path != "" {
		c, d, err := config.Load(path)
		if err != nil {
			return cfg, nil, err
		}
		cfg, doc = c, d
	}
	if err := config.ApplyEnv(&cfg, a.environ); err != nil {
		return cfg, doc, err
	}
	if a.listen != "" {
		cfg.Server.Listen = a.listen
	}
	if a.dataDir != "" {
		cfg.Server.DataDir = a.dataDir
	}
	return cfg, doc, nil
}

// serveConfig is loadConfig for serve: when the file, the environment or
// the flags are wrong, or a file the configuration names (the HS256 key,
// the KEKs, a webhook secret, the TLS pair…) or a secret of the
// environment (SESSIOND_API_KEY, SESSIOND_KEK) cannot be used, it reports
// every problem at once, naming the file, and fails with exit status 78
// (exitConfig), whatever the problem, before anything is opened or
// written. It also returns the HS256 key (nil unless jwt.algorithm is
// HS256).
func (a *app) serveConfig() (config.Config, *config.Document, []byte, error) {
	path := a.configPath
	if path == "" {
		path = a.getenv("SESSIOND_CONFIG")
	}
	cfg, name := config.Default(), "(defaults)"
	var (
		doc     *config.Document
		loadErr error
	)
	if path != "" {
		name = path
		cfg, doc, loadErr = config.Load(path)
		if doc == nil { // unreadable or not YAML
			fmt.Fprintln(a.stderr, "sessiond:", clean(loadErr.Error()))
			return cfg, nil, nil, exitError{exitConfig}
		}
	}
	envErr := config.ApplyEnv(&cfg, a.environ)
	if a.listen != "" {
		cfg.Server.Listen = a.listen
	}
	if a.dataDir != "" {
		cfg.Server.DataDir = a.dataDir
	}
	secret, problems := a.startProblems(cfg)
	if loadErr == nil && envErr == nil && len(problems) == 0 {
		return cfg, doc, secret, nil
	}
	// The schema errors come back as SD-SCHEMA findings, beside what the
	// rules say about the rest of the file; the rules' errors are listed
	// too, as serve would list them once the rest is fixed.
	findings := config.Validate(cfg, doc, "")
	if nerr, _, _ := config.Count(findings); loadErr != nil || nerr > 0 {
		_ = config.Report(a.stderr, "text", name, findings)
	}
	if envErr != nil {
		errs := []error{envErr}
		if j, ok := envErr.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			fmt.Fprintln(a.stderr, "environment:", clean(e.Error()))
		}
	}
	a.notStarting(name, problems)
	return cfg, doc, nil, exitError{exitConfig}
}

// startProblems reads the HS256 key (hmacSecret) and checks every other
// file the configuration names and the secrets of the environment
// (server.CheckStart): every problem, in that order.
func (a *app) startProblems(cfg config.Config) ([]byte, []error) {
	var problems []error
	secret, err := a.hmacSecret(cfg)
	if err != nil {
		problems = append(problems, err)
	}
	problems = append(problems, server.CheckStart(cfg, sessiond.Secret(a.getenv(config.EnvAPIKey)), a.getenv)...)
	return secret, problems
}

// notStarting prints each problem on a line of its own, then the line
// saying serve does not start because of the configuration name.
func (a *app) notStarting(name string, problems []error) {
	for _, p := range problems {
		fmt.Fprintln(a.stderr, "sessiond:", clean(p.Error()))
	}
	if !strings.HasPrefix(name, "(") { // "(defaults)" is in brackets already
		name = "(" + name + ")"
	}
	fmt.Fprintf(a.stderr, "sessiond: not starting: fix the configuration problems above %s\n", name)
}

// hmacSecret reads the HS256 secret from SESSIOND_JWT_HS256_SECRET or
// jwt.hs256_secret_file; secrets are never inline in the config.
func (a *app) hmacSecret(cfg config.Config) ([]byte, error) {
	if cfg.JWT.Algorithm != "HS256" {
		return nil, nil
	}
	if s := a.getenv("SESSIOND_JWT_HS256_SECRET"); s != "" {
		// The validator never reads the environment (SD-JWT-002): the key
		// is held here to the rule a key file is held to, so a password
		// there is refused as it would be in a file.
		if p := config.HS256SecretProblem([]byte(s)); p != "" {
			return nil, fmt.Errorf("SESSIOND_JWT_HS256_SECRET %s (SD-JWT-003): %w", p, sessiond.ErrInvalidArgument)
		}
		return []byte(s), nil
	}
	if cfg.JWT.HS256SecretFile == "" {
		return nil, fmt.Errorf("HS256 needs jwt.hs256_secret_file or SESSIOND_JWT_HS256_SECRET: %w", sessiond.ErrInvalidArgument)
	}
	// Read as a secret file: a FIFO there would otherwise hang serve (and
	// the keys commands) at start, and a wrong path to a big file would be
	// read whole.
	b, err := config.ReadSecretFile(cfg.JWT.HS256SecretFile)
	if err != nil {
		return nil, fmt.Errorf("jwt.hs256_secret_file: %w", err)
	}
	// Trimmed as the validator trims it (SD-JWT-003): the key it checked
	// is the key used.
	return config.TrimLineEnds(b), nil
}

// apiKeyFile is <data_dir>/api-key, where the commands that ask the server
// read its key when SESSIOND_API_KEY is unset. An empty data directory is
// refused (SD-SERVER-009): it would be ./api-key, whatever deployment's key lies in the working directory.
func (a *app) apiKeyFile(cfg config.Config) (string, error) {
	if err := config.CheckDataDir(cfg); err != nil {
		return "", err
	}
	return filepath.Join(cfg.Server.DataDir, config.APIKeyFile), nil
}
