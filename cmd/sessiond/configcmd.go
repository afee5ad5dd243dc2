package main

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sessiond/sessiond/internal/config"
)

const validateHelp = `Report what is unsafe in a configuration file.

Usage:
  sessiond config validate FILE [--env development|production] [--format text|json|sarif]

Flags (before or after FILE):
  --env string      check for this environment: development or production
                    (default: the file's own environment key)
  --format string   output format: text, json or sarif (default text)
  -h, --help        this help

Only the file is checked: SESSIOND_* variables are not applied, so the result
is the same on a laptop and in CI. The global --config, --listen and --data
flags do not apply here, and are refused (exit 2): name the file as FILE.

Exit status: 0 no errors (warnings and infos allowed), 1 at least one error,
2 the file is unreadable or not YAML, or the flags are wrong.
`

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with configuration files"}
	validate := &cobra.Command{
		Use:   "validate FILE [--env development|production] [--format text|json|sarif]",
		Short: "Report what is unsafe in a configuration file (exit 0 ok, 1 errors, 2 unreadable)",
		// The validator parses its own flags so its exit codes stay exact.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, arg := range args {
				// Every spelling the flag package takes for help.
				if arg == "-h" || arg == "--help" || arg == "-help" || arg == "--h" {
					return cmd.Help()
				}
			}
			// The root's flags reach this command's arguments unparsed; the
			// flag package would call them "not defined", as if sessiond
			// had none.
			if name := rootFlag(cmd.Root(), args); name != "" {
				fmt.Fprintf(a.stderr, "sessiond config validate: --%s does not apply to config validate, which checks the FILE it is given alone: sessiond config validate FILE\n", name)
				return exitError{config.ExitUsage}
			}
			if code := config.RunValidate(args, a.stdout, a.stderr); code != 0 {
				return exitError{code}
			}
			return nil
		},
	}
	// Its own help: cobra's would list the global flags it does not take.
	validate.SetHelpFunc(func(c *cobra.Command, _ []string) { fmt.Fprint(c.OutOrStdout(), validateHelp) })
	cmd.AddCommand(validate)
	return cmd
}

// rootFlag returns the name of the first of root's persistent flags
// (--config, --listen, --data) that args give, in any spelling the flag
// package takes (-name, --name, either with =value), where RunValidate's
// parser would meet it as a flag; "" when none is. It reads args as that
// parser does: the value of one of its own flags (--env -data) is a
// value, and "--" makes only the next argument a FILE, since RunValidate
// parses flags again after each FILE.
func rootFlag(root *cobra.Command, args []string) string {
	own := config.ValidateFlags() // each takes one value
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			i++ // the FILE it shields
			continue
		}
		name, ok := strings.CutPrefix(arg, "-")
		if !ok {
			continue
		}
		name, _, withValue := strings.Cut(strings.TrimPrefix(name, "-"), "=")
		if name == "" {
			continue
		}
		if root.PersistentFlags().Lookup(name) != nil {
			return name
		}
		if !withValue && slices.Contains(own, name) {
			i++ // its value, whatever it looks like
		}
	}
	return ""
}

func (a *app) migrateCmd() *cobra.Command {
	var create, check bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the store's schema migrations and exit",
		Long: "Apply the store's schema migrations and exit (serve also applies them at start, unless\n" +
			"store.migrate is manual). With --check, change nothing: exit 0 if no migration of this\n" +
			"build is pending, 1 naming those that are (for a release pipeline deciding whether to\n" +
			"run migrate before a rollout).\n" + storeHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := a.loadConfig()
			if err != nil {
				return err
			}
			store, err := a.openExisting(cmd.Context(), cfg, create, !check, slog.New(slog.NewTextHandler(a.stderr, nil)))
			if err != nil {
				return err
			}
			defer store.Close()
			done := "migrations applied"
			if check {
				done = "no migration pending"
			}
			_, err = fmt.Fprintf(a.stdout, "%s (%s)\n", done, describeStore(cfg))
			return err
		},
	}
	cmd.Flags().BoolVar(&create, "create", false, "create the store if it does not exist")
	cmd.Flags().BoolVar(&check, "check", false, "change nothing: fail if a migration of this build is pending")
	cmd.MarkFlagsMutuallyExclusive("create", "check")
	return cmd
}
