package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sessiond/sessiond/client"
)

// What the commands that revoke check of their input and say of their
// result, beyond what the server checks: a flag given empty or twice, a
// subject with spaces at its ends, a revocation that failed part way.

// urlVar defines --url as onceVar does. It selects the deployment: given
// empty it would be read as left out, and the command would act on
// SESSIOND_URL's server or the configuration's (checkFlags refuses it);
// given twice, on the last one named.
func urlVar(f *pflag.FlagSet, p *string) {
	onceVar(f, p, "url", "server URL (env SESSIOND_URL; default http://<server.listen>)")
	f.Lookup("url").Value.(*onceValue).absent = "SESSIOND_URL or http://<server.listen>"
}

// checkSelectors refuses, as a usage error before anything is sent, a flag
// of names given empty (a script's empty variable), which would be read as
// the flag left out and so widen what the command selects (every subject's
// events, every session of a subject whatever its age, the session meant
// to be kept, another deployment's sessions), or a flag given more than
// once (checkOnce).
func checkSelectors(cmd *cobra.Command, names ...string) error {
	for _, name := range names {
		f := cmd.Flags().Lookup(name)
		if f == nil || !f.Changed {
			continue
		}
		if err := checkOnce(cmd, name); err != nil {
			return err
		}
		if f.Value.String() == "" {
			if v, ok := f.Value.(*onceValue); ok && v.absent != "" {
				return usageErr("invalid argument: --%s must not be empty; leave it out for %s", name, v.absent)
			}
			return usageErr("invalid argument: --%s must not be empty; if none is meant, leave the flag out", name)
		}
	}
	return nil
}

// deploymentFlags are the flags that choose the deployment a command acts
// on: the root's (the configuration, and through it the server or the
// store) and --url (the server, on the commands that ask one), which
// every command that has them refuses given empty (checkFlags).
var deploymentFlags = []string{"config", "listen", "data", "url"}

// noteSpaces notes on stderr that subject s, given as name, begins or ends
// with white space. Such a subject is valid and may be stored (the API
// takes subjects exactly), so it is sent as typed; but it is more often a
// paste that caught a space, which matches no session of the subject meant.
func noteSpaces(w io.Writer, name, s string) {
	if strings.TrimFunc(s, unicode.IsSpace) != s {
		fmt.Fprintf(w, "note: %s %s begins or ends with white space; subjects match exactly, so only sessions of that very subject are revoked\n", name, quoted(s))
	}
}

// noteEscapes notes on stderr that subject s, given as name, holds what
// reads as an escape (\u, \U, \x) or begins with a double quote. Such a
// subject is sent as typed; but it is more often a quoted cell copied
// from this CLI or the console whose quotes the shell removed: "alice\u200b"
// arrives as the characters alice\u200b, which ends a subject anyone could
// have signed up as and leaves the look-alike meant live.
func noteEscapes(w io.Writer, name, s string) {
	if strings.HasPrefix(s, `"`) || strings.Contains(s, `\u`) || strings.Contains(s, `\U`) || strings.Contains(s, `\x`) {
		fmt.Fprintf(w, "note: %s %s is taken as typed, backslashes and quotes included; "+
			"for a subject shown quoted (\"alice\\u200b\"), give its characters: $'alice\\u200b' in bash or zsh\n", name, quoted(s))
	}
}

// incidentFailed is err of a kill switch that failed once it had begun,
// with the command that finishes it: the same one bound to the first
// run's time (the problem's issued_before), since without a bound a re-run
// is a new incident that also revokes every session created since.
func incidentFailed(n int, err error, rerun string) error {
	done := "its watermark may already refuse the matching tokens"
	if n > 0 {
		done = "revoked " + plural(n, "session") + " before the failure; they stay revoked"
	}
	return fmt.Errorf("%w; %s; to finish it, run: %s (the same command without --issued-before would also revoke every session created since)", err, done, rerun)
}

// rerunCommand is the incident revoke command that finishes in, a kill
// switch that failed, bounded by issuedBefore, its arguments quoted for a
// POSIX shell. --rotate-keys is left out: the keys were retired before the
// revocation began, and retiring them again would end the tokens signed
// since.
func rerunCommand(in client.Incident, issuedBefore time.Time, url string) string {
	args := []string{"sessiond", "incident", "revoke"}
	if in.All {
		args = append(args, "--all")
	}
	for _, s := range in.Subjects {
		args = append(args, "--subject", shellQuote(s))
	}
	args = append(args, "--issued-before", issuedBefore.UTC().Format(time.RFC3339Nano), "--reason", shellQuote(in.Reason))
	if in.Notify {
		args = append(args, "--notify")
	}
	if url != "" {
		args = append(args, "--url", shellQuote(url))
	}
	return strings.Join(args, " ")
}

// shellQuote is s as one word of a POSIX shell (dash, bash, zsh): as it
// is when it holds only characters no shell treats specially, else in
// single quotes. A character a terminal does not show (a control or
// format character, such as the ZWJ of an emoji sequence, or a byte that
// is not UTF-8) goes as printf's octal escapes, "$(printf '\342\200\215')",
// since clean's \u200d inside quotes would be another subject, and $'…'
// is not in dash: the word is s, and the line stays plain text (the CLI
// prints errors through clean). Only newlines ending s are lost (command
// substitution drops them); subjects hold none. A leading '=' is quoted:
// zsh expands =word to a path.
func shellQuote(s string) string {
	const plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,:/@%+="
	if s != "" && s[0] != '=' && strings.Trim(s, plain) == "" {
		return s
	}
	unseen := func(i int) (int, bool) { return unsafeAt(s, i) }
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); {
		if _, ok := unseen(i); ok {
			b.WriteString(`'"$(printf '`)
			j := i
			for i < len(s) {
				n, ok := unseen(i)
				if !ok {
					if s[i-1] == '\n' {
						// The substitution would drop the newline
						// that ends it: one more character after it.
						i += n
					}
					break
				}
				i += n
			}
			for _, c := range []byte(s[j:i]) {
				fmt.Fprintf(&b, `\%03o`, c)
			}
			b.WriteString(`')"'`)
			continue
		}
		n, _ := unseen(i)
		if s[i] == '\'' {
			b.WriteString(`'\''`)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	b.WriteByte('\'')
	return b.String()
}

// revokedBefore is err of a revocation that failed, saying how many
// sessions the server had revoked before the failure (client.Error's
// Revoked): they stay revoked, and the same command again revokes the rest
// (revoked sessions are not selected twice).
func revokedBefore(n int, err error) error {
	if n <= 0 {
		return err
	}
	return fmt.Errorf("%w; revoked %s before the failure (they stay revoked; the same command again revokes the rest)", err, plural(n, "session"))
}
