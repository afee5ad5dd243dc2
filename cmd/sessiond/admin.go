package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/subject"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

func (a *app) keysCmd() *cobra.Command {
	var create bool
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List or rotate the JWT signing keys (in the store)",
		Long: "List or rotate the JWT signing keys, shared by every node through the store.\n" +
			"With jwt.algorithm HS256, the secret comes from SESSIOND_JWT_HS256_SECRET or jwt.hs256_secret_file.\n" + storeHelp,
	}
	cmd.PersistentFlags().BoolVar(&create, "create", false, "create the store (and a first key) if it does not exist")
	options := func(cfg config.Config) (signing.Options, error) {
		life, err := cfg.Lifetimes()
		if err != nil {
			return signing.Options{}, err
		}
		secret, err := a.hmacSecret(cfg)
		if err != nil {
			return signing.Options{}, err
		}
		kek, oldKEKs, err := server.SigningKEKs(cfg, a.getenv) // a sealed ring needs the server's KEK
		if err != nil {
			return signing.Options{}, err
		}
		return signing.Options{Algorithm: jwttoken.Algorithm(cfg.JWT.Algorithm),
			HMACSecret: secret, MaxTokenLifetime: life.Signed(cfg.Strategy), KEK: kek, OldKEKs: oldKEKs,
			PublishFor: cfg.JWT.KeyPublishPeriod.Std()}, nil
	}
	// withKeys runs fn on the store's signing keys, opened as a server
	// opens them, except that a ring made from another HS256 secret is
	// refused rather than replaced: a rotation run from a shell with the
	// wrong secret must not end every token and lock out the nodes that
	// hold the real one (a node started with the new secret replaces it).
	withKeys := func(ctx context.Context, fn func(sessiond.MetaStore, *signing.Keys) error) error {
		return a.withMeta(ctx, create, func(cfg config.Config, meta sessiond.MetaStore) error {
			if err := needRing(ctx, create, cfg, meta); err != nil {
				return err
			}
			o, err := options(cfg)
			if err != nil {
				return err
			}
			if _, err := signing.Load(ctx, meta, o); errors.Is(err, signing.ErrSecretDiffers) || errors.Is(err, signing.ErrSecretSuperseded) {
				return err
			}
			keys, err := signing.Open(ctx, meta, o)
			if err != nil {
				return err
			}
			return fn(meta, keys)
		})
	}
	// readKeys returns the store's signing keys without writing them: a
	// command that only looks must not replace the cluster's ring because
	// the shell it runs in has another HS256 secret, nor rewrite it under
	// another KEK. With --create and no ring yet, it makes the first one.
	readKeys := func(ctx context.Context, fn func(*jwttoken.KeyRing) error) error {
		return a.withMeta(ctx, create, func(cfg config.Config, meta sessiond.MetaStore) error {
			if err := needRing(ctx, create, cfg, meta); err != nil {
				return err
			}
			o, err := options(cfg)
			if err != nil {
				return err
			}
			ring, err := signing.Load(ctx, meta, o)
			if errors.Is(err, sessiond.ErrNotFound) && create {
				var keys *signing.Keys
				if keys, err = signing.Open(ctx, meta, o); err == nil {
					ring = keys.Ring()
				}
			}
			if err != nil {
				return err
			}
			return fn(ring)
		})
	}
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List signing keys: a published key that signs later (SIGNS FROM), the current signer, retired keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return readKeys(cmd.Context(), func(ring *jwttoken.KeyRing) error {
				type keyJSON struct {
					ID        string    `json:"kid"`
					Algorithm string    `json:"alg"`
					CreatedAt time.Time `json:"created_at"`
					RetiredAt time.Time `json:"retired_at,omitzero"`
					Current   bool      `json:"current"`
					SignsFrom time.Time `json:"signs_from,omitzero"` // the scheduled key only
				}
				return writeRows(a.stdout, asJSON, signingNow(ring.Keys(), time.Now()),
					func(k jwttoken.KeyInfo) any {
						return keyJSON{k.ID, string(k.Algorithm), k.CreatedAt.UTC(), k.RetiredAt.UTC(), k.Current, k.ActivatesAt.UTC()}
					},
					[]string{"KID", "ALG", "CREATED", "RETIRED", "CURRENT", "SIGNS FROM"},
					func(k jwttoken.KeyInfo) []string {
						return []string{k.ID, string(k.Algorithm), stamp(k.CreatedAt), stamp(k.RetiredAt), fmt.Sprint(k.Current),
							stamp(k.ActivatesAt)}
					})
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "one JSON object per key")
	cmd.AddCommand(list)
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Publish a new key, which signs after jwt.key_publish_period; the old one verifies until its tokens expire",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withKeys(cmd.Context(), func(meta sessiond.MetaStore, keys *signing.Keys) error {
				pending, _ := scheduledKey(keys.Ring().Keys())
				if err := keys.Rotate(cmd.Context()); err != nil {
					return err
				}
				next, signer := scheduledKey(keys.Ring().Keys())
				if next.ID == "" { // the ring promoted it at once
					fmt.Fprintf(a.stdout, "rotated; key %s signs now\n", cell(signer.ID))
					a.record(cmd.Context(), meta, server.EventKeysRotated, map[string]any{"kid": signer.ID})
					return nil
				}
				if next.ID == pending.ID {
					// Rotate leaves a scheduled rotation as it is.
					fmt.Fprintf(a.stdout, "a rotation is already scheduled: key %s signs from %s, key %s until then\n",
						cell(next.ID), stamp(next.ActivatesAt), cell(signer.ID))
					return nil
				}
				// Published now, every node signs with it only from then
				// (jwt.key_publish_period), so that verifiers know it first.
				fmt.Fprintf(a.stdout, "published key %s; it signs from %s, key %s until then\n",
					cell(next.ID), stamp(next.ActivatesAt), cell(signer.ID))
				a.record(cmd.Context(), meta, server.EventKeysRotated, map[string]any{"kid": next.ID})
				return nil
			})
		},
	})
	return cmd
}

// needRing refuses, unless create, a store with API keys but no signing
// key ring (a strategy database deployment's): keys would make one that
// no node of it reads.
func needRing(ctx context.Context, create bool, cfg config.Config, meta sessiond.MetaStore) error {
	if create {
		return nil
	}
	if _, _, err := meta.GetMeta(ctx, signing.DocName); errors.Is(err, sessiond.ErrNotFound) {
		return fmt.Errorf("%s holds no signing keys (a deployment with strategy database and no SSF transmitter keeps none); "+
			"check --config/SESSIOND_STORE_*, or pass --create", describeStore(cfg))
	} else if err != nil {
		return err
	}
	return nil
}

// scheduledKey returns the ring's next key (published, signing from its
// ActivatesAt; zero when none is scheduled) and its current signer.
func scheduledKey(keys []jwttoken.KeyInfo) (next, signer jwttoken.KeyInfo) {
	for _, k := range keys {
		switch {
		case !k.ActivatesAt.IsZero():
			next = k
		case k.Current:
			signer = k
		}
	}
	return next, signer
}

// signingNow marks as current the key that signs at now: the scheduled
// key once its time has come, although the ring records it as the signer
// only at a node's next maintenance (every node signs with it from
// ActivatesAt on).
func signingNow(keys []jwttoken.KeyInfo, now time.Time) []jwttoken.KeyInfo {
	next, _ := scheduledKey(keys)
	if next.ID == "" || now.Before(next.ActivatesAt) {
		return keys
	}
	for i := range keys {
		keys[i].Current = keys[i].ID == next.ID
	}
	return keys
}

// recordTimeout bounds the append of an operator action's event (record).
const recordTimeout = 5 * time.Second

// record appends an operator action to the store's event log, when it
// keeps one (API keys created or revoked, signing keys rotated). The
// action is done: a Ctrl-C now must not cost its audit record, so the
// append keeps ctx's values but not its cancellation, bounded by
// recordTimeout, as the server's events are (sessiond.Manager, the
// server's fanout).
func (a *app) record(ctx context.Context, meta sessiond.MetaStore, typ sessiond.EventType, details map[string]any) {
	log, ok := meta.(sessiond.EventLog)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Microsecond)
	details["by"] = "cli"
	if err := log.AppendEvents(ctx, sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: typ, Details: details}); err != nil {
		fmt.Fprintln(a.stderr, "warning: could not record the event:", err)
	}
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// apiKeyID is the form of the IDs apikey.Create makes.
var apiKeyID = regexp.MustCompile(`^key_[a-z2-7]{13}$`)

// checkAPIKeyID refuses an argument that is not an API key ID. It may be a
// key pasted by mistake: it is never printed, and only an ID's shape
// reaches the store (whose errors quote the ID).
func checkAPIKeyID(arg string) error {
	if !apiKeyID.MatchString(arg) {
		return usageErr("invalid argument: that is not an API key ID (IDs look like key_abcdefghijklm; " +
			"`sessiond apikey list` shows them; the argument is not printed in case it is a key)")
	}
	return nil
}

func (a *app) apikeyCmd() *cobra.Command {
	var create bool
	cmd := &cobra.Command{
		Use:   "apikey",
		Short: "Manage the API keys backends use (in the store)",
		Long:  "Manage the API keys backends send as \"Authorization: Bearer sdak_…\". Only their hashes are stored.\n" + storeHelp,
	}
	cmd.PersistentFlags().BoolVar(&create, "create", false, "create the store if it does not exist")
	var name string
	var scopes []string
	scopeHelp := "scopes, comma-separated or repeated: " + apikey.Join(apikey.Scopes) + " (admin grants all)"
	createCmd := &cobra.Command{
		Use:   "create [--scope S,...]",
		Short: "Create an API key and print it once on stdout (scope verify unless --scope says more)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc := apikey.DefaultScopes
			// Given, even empty: --scope "" (a script's unset variable)
			// must not mean the default scope, as --scope "," does not.
			if cmd.Flags().Changed("scope") {
				var err error
				if sc, err = apikey.ParseScopes(scopes...); err != nil {
					return usageErr("invalid argument: %w", err)
				}
			}
			// Stdout closed (a pipe whose reader is gone) would kill the
			// process with SIGPIPE at the key's write, before the key
			// nobody received could be revoked: while this runs, such a
			// write fails with EPIPE instead (os/signal).
			pipe := make(chan os.Signal, 1)
			signal.Notify(pipe, syscall.SIGPIPE)
			defer signal.Stop(pipe)
			return a.withMeta(cmd.Context(), create, func(_ config.Config, meta sessiond.MetaStore) error {
				return a.createAPIKey(cmd.Context(), meta, name, sc)
			})
		},
	}
	name = "cli"
	onceVar(createCmd.Flags(), &name, "name", "a name to recognise the key by")
	createCmd.Flags().StringSliceVar(&scopes, "scope", nil, scopeHelp+"; default verify")
	cmd.AddCommand(createCmd)
	cmd.AddCommand(&cobra.Command{
		Use:   "set-scopes ID S[,S...]",
		Short: "Replace the scopes of an API key (" + apikey.Join(apikey.Scopes) + ")",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAPIKeyID(args[0]); err != nil {
				return err
			}
			sc, err := apikey.ParseScopes(args[1])
			if err != nil {
				return usageErr("invalid argument: %w", err)
			}
			return a.withMeta(cmd.Context(), create, func(_ config.Config, meta sessiond.MetaStore) error {
				return a.setAPIKeyScopes(cmd.Context(), meta, args[0], sc)
			})
		},
	})
	var asJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withMeta(cmd.Context(), create, func(_ config.Config, meta sessiond.MetaStore) error {
				keys, err := apikey.New(meta, nil, 0).List(cmd.Context())
				if err != nil {
					return err
				}
				type keyJSON struct {
					ID        string         `json:"id"`
					Name      string         `json:"name"`
					Scopes    []apikey.Scope `json:"scopes"`
					CreatedAt time.Time      `json:"created_at"`
					RevokedAt time.Time      `json:"revoked_at,omitzero"`
				}
				return writeRows(a.stdout, asJSON, keys,
					func(k apikey.Key) any { return keyJSON{k.ID, k.Name, k.Scopes, k.CreatedAt.UTC(), k.RevokedAt.UTC()} },
					[]string{"ID", "NAME", "SCOPES", "CREATED", "REVOKED"},
					func(k apikey.Key) []string {
						return []string{k.ID, k.Name, apikey.Join(k.Scopes), stamp(k.CreatedAt), stamp(k.RevokedAt)}
					})
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "one JSON object per key")
	cmd.AddCommand(list)
	cmd.AddCommand(&cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key by its ID (every node stops accepting it within a second)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAPIKeyID(args[0]); err != nil {
				return err
			}
			return a.withMeta(cmd.Context(), create, func(_ config.Config, meta sessiond.MetaStore) error {
				return a.revokeAPIKey(cmd.Context(), meta, args[0])
			})
		},
	})
	return cmd
}

// setAPIKeyScopes is apikey set-scopes on meta.
func (a *app) setAPIKeyScopes(ctx context.Context, meta sessiond.MetaStore, id string, sc []apikey.Scope) error {
	key, recorded, err := apikey.New(meta, nil, 0).SetScopesRecorded(ctx, keyRecorder(meta), id, sc)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s now has scopes %s\n", key.ID, apikey.Join(key.Scopes))
	if !recorded {
		a.record(ctx, meta, server.EventAPIKeyScopes, map[string]any{"key_id": key.ID, "scopes": apikey.Join(key.Scopes)})
	}
	return nil
}

// revokeAPIKey is apikey revoke on meta. An ID no key has is an error,
// but the set is written all the same (RevokeOrFence): the ID may be that
// of an apikey create whose write gave up and whose clean-up failed too
// (its message sends the operator here), and that write must not land
// after this answer.
func (a *app) revokeAPIKey(ctx context.Context, meta sessiond.MetaStore, id string) error {
	found, changed, recorded, err := apikey.New(meta, nil, 0).RevokeOrFenceRecorded(ctx, keyRecorder(meta), id)
	switch {
	case err != nil:
		return err
	case !found:
		return fmt.Errorf("no API key has the ID %s in this store (were it that of a failed `apikey create`, its write can no longer land)", id)
	case !changed:
		fmt.Fprintln(a.stdout, "already revoked", id)
		return nil
	}
	fmt.Fprintln(a.stdout, "revoked", id)
	if !recorded {
		a.record(ctx, meta, server.EventAPIKeyRevoked, map[string]any{"key_id": id})
	}
	return nil
}

// keyWriteTimeout bounds apikey create's write of the key set, which a
// Ctrl-C does not cut short (createAPIKey).
const keyWriteTimeout = 30 * time.Second

// createAPIKey is apikey create on meta: it stores a new key and prints
// it once on stdout. No key nobody received stays live: the write runs to
// its end whatever a Ctrl-C does meanwhile (cut short, it may still
// commit while the call gives up), bounded by keyWriteTimeout; a write
// whose outcome is unknown (a timeout, a lost answer), like a key that
// could not be printed, is revoked, also past a Ctrl-C.
func (a *app) createAPIKey(ctx context.Context, meta sessiond.MetaStore, name string, sc []apikey.Scope) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyWriteTimeout)
	secret, key, recorded, err := apikey.New(meta, nil, 0).CreateRecorded(wctx, keyRecorder(meta), name, sc...)
	cancel()
	if ae := (*sessiond.ArgumentError)(nil); errors.As(err, &ae) && ae.Field == "name" {
		return usageErr("invalid argument: --name %s", ae.Msg) // a usage error; nothing was stored
	} else if err != nil {
		if key.ID == "" { // refused before any write
			return err
		}
		// The key may be stored, or may still be: the log gets its
		// creation before its revocation, as for a key that could not be
		// printed.
		switch stored, rerr := a.revokeUnreceived(ctx, meta, key, true); {
		case rerr != nil:
			// The key may be live (its write may land): the log must not
			// lose it; the message names it and the command that revokes it.
			a.record(ctx, meta, server.EventAPIKeyCreated, map[string]any{"key_id": key.ID, "name": key.Name,
				"scopes": apikey.Join(key.Scopes), "revocation": "failed"})
			return fmt.Errorf("%w; key %s may have been stored, and revoking it failed too (run `sessiond apikey revoke %s` once the store answers: "+
				"it revokes the key, or, if the key is not there, stops the write from landing later): %w", err, key.ID, key.ID, rerr)
		case stored:
			return fmt.Errorf("%w (key %s was stored all the same, and is revoked: nobody received it)", err, key.ID)
		default:
			return fmt.Errorf("%w (key %s is recorded revoked, should the write still land: nobody received it)", err, key.ID)
		}
	}
	fmt.Fprintf(a.stderr, "created %s (%s, scopes %s); the key is shown once:\n", key.ID, cell(key.Name), apikey.Join(key.Scopes))
	if !recorded {
		a.recordCreated(ctx, meta, key)
	}
	if _, err := fmt.Fprintln(a.stdout, string(secret)); err != nil {
		// The key is shown only here: one that nobody received
		// (a full disk, a closed pipe) must not stay live, nor
		// the script that ran this believe it has a key.
		if _, rerr := a.revokeUnreceived(ctx, meta, key, false); rerr != nil {
			return fmt.Errorf("write the key: %w; revoking %s, which nobody received, failed too: %w", err, key.ID, rerr)
		}
		return fmt.Errorf("write the key: %w (%s revoked: nobody received it)", err, key.ID)
	}
	return nil
}

// revokeUnreceived revokes key, which nobody received, and records it
// (api_key.revoked with reason not_received), whether or not ctx was
// cancelled (a Ctrl-C must not leave it live), bounded by
// keyWriteTimeout. A key not found in the set is recorded revoked all the
// same (stored false): a write of it whose outcome was unknown may still
// land, and this write stops it (RevokeUnreceived). unrecorded says its
// creation is not in the event log yet (the write's answer was lost): it
// is recorded first, so that the log never shows the revocation of a key
// it never showed created.
func (a *app) revokeUnreceived(ctx context.Context, meta sessiond.MetaStore, key apikey.Key, unrecorded bool) (stored bool, err error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keyWriteTimeout)
	defer cancel()
	stored, changed, recorded, err := apikey.New(meta, nil, 0).RevokeUnreceivedRecorded(rctx, keyRecorder(meta), key)
	if err != nil {
		return false, err
	}
	if recorded {
		// Written with the revocation: the creation too when the key was
		// not in the set (one that landed was written with its creation).
		return stored, nil
	}
	// A key found stored landed with its creation's event when the store
	// writes events with the key set (found revoked already, nothing else
	// was written now).
	if unrecorded && !(stored && writesKeyEvents(meta)) {
		a.recordCreated(ctx, meta, key)
	}
	if changed {
		a.record(ctx, meta, server.EventAPIKeyRevoked, map[string]any{"key_id": key.ID, "reason": revokedNotReceived})
	}
	return stored, nil
}

// revokedNotReceived is the reason of the api_key.revoked event of a key
// apikey create revoked because nobody received it.
const revokedNotReceived = "not_received"

// recordCreated records key's api_key.created event.
func (a *app) recordCreated(ctx context.Context, meta sessiond.MetaStore, key apikey.Key) {
	a.record(ctx, meta, server.EventAPIKeyCreated, map[string]any{"key_id": key.ID, "name": key.Name, "scopes": apikey.Join(key.Scopes)})
}

// keyRecorder is what writes the events of apikey's changes on meta in
// the key set's own write (apikey.Recorder), when the store can: on a full
// disk a change then fails with its event rather than being kept without
// it. nil when meta keeps no event log (nothing to record).
func keyRecorder(meta sessiond.MetaStore) apikey.Recorder {
	if _, ok := meta.(sessiond.EventLog); !ok {
		return nil
	}
	return cliKeyRecorder{}
}

// writesKeyEvents reports whether a write of the key set on meta carries
// its events (keyRecorder's are written with it).
func writesKeyEvents(meta sessiond.MetaStore) bool {
	mr, ok := meta.(sessiond.MetaChangeRecorder)
	return ok && keyRecorder(meta) != nil && mr.WritesChangeEvents()
}

// cliKeyRecorder makes the events a.record would append after the change.
// The CLI runs no webhook sender nor outbox: as with record, its events go
// to the log alone.
type cliKeyRecorder struct{}

var _ apikey.Recorder = cliKeyRecorder{}

// Prepare returns c's event as a.record would append it.
func (cliKeyRecorder) Prepare(_ context.Context, c apikey.Change) (sessiond.Event, sessiond.ChangeRecords, bool) {
	details := map[string]any{"key_id": c.Key.ID}
	var typ sessiond.EventType
	switch c.Action {
	case apikey.ActionCreated:
		typ, details["name"], details["scopes"] = server.EventAPIKeyCreated, c.Key.Name, apikey.Join(c.Key.Scopes)
	case apikey.ActionScopes:
		typ, details["scopes"] = server.EventAPIKeyScopes, apikey.Join(c.Key.Scopes)
	case apikey.ActionRevoked:
		typ = server.EventAPIKeyRevoked
	case apikey.ActionNotReceived:
		typ, details["reason"] = server.EventAPIKeyRevoked, revokedNotReceived
	default:
		return sessiond.Event{}, sessiond.ChangeRecords{}, false
	}
	details["by"] = "cli"
	now := time.Now().UTC().Truncate(time.Microsecond)
	e := sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: typ, Details: details}
	return e, sessiond.ChangeRecords{Events: []sessiond.Event{e}}, true
}

// Committed has nothing left to do: the event is stored, and the CLI
// keeps no metrics nor event log lines.
func (cliKeyRecorder) Committed(context.Context, sessiond.Event) {}

// walkSessions calls each with every page of subject's live sessions, in
// page order, until the last page or an error (the pages before it were
// given to each). A table with no session still gets its header.
func walkSessions(ctx context.Context, c *client.Client, subject string, each func([]client.Session) error) error {
	seen := followed{}
	for cursor := ""; ; {
		ss, next, err := c.ListSessionsPage(ctx, subject, cursor, sessiond.MaxPageLimit)
		if err != nil {
			return err
		}
		if err := each(ss); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		if err := seen.follow(next); err != nil {
			return err
		}
		cursor = next
	}
}

// checkSubject refuses, as a usage error and before anything is sent, a
// subject the server would refuse (empty, too long, control characters,
// invalid UTF-8). The subject is not repeated: it may be megabytes.
func checkSubject(name, s string) error {
	if _, err := subject.Clean(name, s); err != nil {
		return usageErr("invalid argument: %w", err)
	}
	return nil
}

// checkSessionID refuses what is not a session ID before it is sent: the
// argument may be a token pasted by mistake, which must not reach the
// server's request log in a URL, nor this command's output.
func checkSessionID(name, id string) error {
	if !sessiond.SessionID(id).Valid() {
		return usageErr("invalid argument: %s is not a session ID (IDs are 26 characters a-z and 2-7; "+
			"`sessiond sessions list --subject S` shows them; the argument is not printed in case it is a token)", name)
	}
	return nil
}

// remoteHelp is appended to the help of the commands that talk to a
// running server.
const remoteHelp = `
These commands ask the running server. They read:
  SESSIOND_URL       the server's URL, e.g. http://127.0.0.1:8420 (or --url;
                     default http://<server.listen> of the configuration)
  SESSIOND_API_KEY   the API key; without it, the file <data>/api-key that
                     the first start wrote (./sessiond-data/api-key by default;
                     --data, SESSIOND_DATA or --config choose <data>)
  SESSIOND_CONFIG    the configuration file (or --config)
The commands that revoke print on stderr which server they ask, and where
its URL and API key came from.`

// remote returns a client for the running server: --url (or SESSIOND_URL,
// else http://<server.listen>) and the API key from SESSIOND_API_KEY or
// <data>/api-key.
func (a *app) remote(urlFlag string) (*client.Client, error) {
	c, _, err := a.remoteFrom(urlFlag)
	return c, err
}

// remoteFrom is remote that also says which server the client asks and
// where its URL and API key came from, for the commands that change
// something to print (announce).
func (a *app) remoteFrom(urlFlag string) (*client.Client, string, error) {
	cfg, _, err := a.loadConfig()
	if err != nil {
		return nil, "", err
	}
	base, from := urlFlag, "--url"
	if base == "" {
		base, from = a.getenv("SESSIOND_URL"), "SESSIOND_URL"
	}
	if base == "" {
		base, from = "http://"+cfg.Server.Listen, "" // from the configuration: not the command line
	}
	if !strings.Contains(base, "://") {
		return nil, "", usageErr("invalid argument: %s %s has no scheme; did you mean http://%s (or https://)?", from, quoted(base), clean(base))
	}
	key, keyFrom := a.getenv("SESSIOND_API_KEY"), "SESSIOND_API_KEY"
	if key == "" {
		if keyFrom, err = a.apiKeyFile(cfg); err != nil {
			return nil, "", err
		}
		b, err := config.ReadSecretFile(keyFrom)
		if err != nil {
			// The reason (missing, unreadable, a FIFO) names the file;
			// ReadSecretFile never quotes its content.
			return nil, "", fmt.Errorf("no API key: %w (set SESSIOND_API_KEY, or run where that file is readable)", err)
		}
		key = strings.TrimSpace(string(b))
	}
	c, err := client.New(base, sessiond.Secret(key))
	// A URL the client refuses is a mistake on the command line, as one
	// without a scheme is (exit 2); not quoted: it may carry a password.
	if ae := (*sessiond.ArgumentError)(nil); errors.As(err, &ae) && ae.Field == "baseURL" && from != "" {
		return nil, "", usageErr("invalid argument: %s %s", from, ae.Msg)
	} else if err != nil {
		return nil, "", err
	}
	if from == "" {
		from = "server.listen"
	}
	// The client refuses a URL with user info: base holds no password.
	return c, fmt.Sprintf("%s (from %s; API key from %s)", strings.TrimSuffix(base, "/"), from, keyFrom), nil
}

// announce prints on stderr which server a command that changes something
// asks, before it asks, as the commands that open the store print the
// store: an operator who reached another deployment than meant (a stale
// SESSIOND_URL, another data directory's key) sees it beside the result
// or the refusal, whichever comes.
func (a *app) announce(where string) {
	fmt.Fprintln(a.stderr, "server:", cell(where))
}

func (a *app) sessionsCmd() *cobra.Command {
	var url string
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List and revoke sessions through the running server",
		Long:  "List and revoke sessions through the running server.\n" + remoteHelp,
	}
	urlVar(cmd.PersistentFlags(), &url)

	var (
		subject, cursor string
		limit           int
		asJSON          bool
	)
	list := &cobra.Command{
		Use:   "list --subject S [--limit N [--cursor C]]",
		Short: "List a subject's live sessions",
		Long: "List a subject's live sessions: every one, or with --limit one page of them.\n" +
			"A page reads at most N of the subject's sessions and shows the live ones; when more follow,\n" +
			"\"more: --cursor C\" on stderr gives the next page's --cursor. Pages are in creation order\n" +
			"(expiry order on Redis), and a walk of them is not one snapshot. Without --limit the command\n" +
			"walks every page of 1000 itself, printing each as it comes.\n" + remoteHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkSubject("--subject", subject); err != nil {
				return err
			}
			paged := cmd.Flags().Changed("limit")
			switch {
			case paged && (limit < 1 || limit > sessiond.MaxPageLimit):
				return usageErr("invalid argument: --limit must be from 1 to %d, got %d", sessiond.MaxPageLimit, limit)
			case cursor != "" && !paged:
				return usageErr("invalid argument: --cursor needs --limit")
			case cursor != "" && !sessiond.ValidPageCursor(cursor):
				// Checked before anything is sent: it travels in the URL's
				// query, which proxies log, and a token pasted as --cursor
				// must not land there.
				return usageErr("invalid argument: --cursor is not a cursor (as printed after \"more: --cursor\"; " +
					"the argument is not printed in case it is a token)")
			}
			c, err := a.remote(url)
			if err != nil {
				return err
			}
			out := rowsOut[client.Session]{w: a.stdout, asJSON: asJSON,
				toJSON: func(s client.Session) any { return s },
				header: []string{"ID", "CREATED", "LAST ACTIVE", "EXPIRES", "DEVICE-BOUND", "IP", "USER AGENT"},
				cells: func(s client.Session) []string {
					bound := "no"
					if s.DeviceBound {
						bound = "yes"
					}
					return []string{string(s.ID), stamp(s.CreatedAt), stamp(s.LastActiveAt), stamp(s.ExpiresAt), bound, s.Client.IP, s.Client.UserAgent}
				}}
			if paged {
				ss, next, err := c.ListSessionsPage(cmd.Context(), subject, cursor, limit)
				if err != nil {
					return err
				}
				if err := out.write(ss); err != nil {
					return err
				}
				if next != "" {
					fmt.Fprintln(a.stderr, "more: --cursor", cell(next))
				}
				return nil
			}
			// Every session, a page at a time, each printed as it comes:
			// the whole list as one answer is as large as the subject
			// has sessions (100,000 are more than the client takes, and
			// hundreds of MB on the server).
			return walkSessions(cmd.Context(), c, subject, out.write)
		},
	}
	list.Flags().StringVar(&subject, "subject", "", "the subject (user) whose sessions to list")
	list.Flags().IntVar(&limit, "limit", 0, fmt.Sprintf("one page: read at most this many of the subject's sessions (1-%d; default every session)", sessiond.MaxPageLimit))
	list.Flags().StringVar(&cursor, "cursor", "", "the page after this cursor (as printed after \"more: --cursor\"; with --limit)")
	list.Flags().BoolVar(&asJSON, "json", false, "one JSON object per session")
	_ = list.MarkFlagRequired("subject")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke one session",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSessionID("ID", args[0]); err != nil {
				return err
			}
			c, where, err := a.remoteFrom(url)
			if err != nil {
				return err
			}
			a.announce(where)
			if err := c.RevokeSessionAsAdmin(cmd.Context(), sessiond.SessionID(args[0])); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "revoked", cell(args[0]))
			return nil
		},
	}

	var except string
	revokeSubject := &cobra.Command{
		Use:   "revoke-subject S [--except ID]",
		Short: "Revoke every session of a subject, optionally all but one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// --except "" would be sent as none and revoke the session
			// meant to be kept; given twice, the first would be revoked.
			// (--url "" is refused with the deployment flags: checkFlags.)
			if err := checkSelectors(cmd, "except"); err != nil {
				return err
			}
			if err := checkSubject("S", args[0]); err != nil {
				return err
			}
			if except != "" {
				if err := checkSessionID("--except", except); err != nil {
					return err
				}
			}
			noteSpaces(a.stderr, "subject", args[0])
			noteEscapes(a.stderr, "subject", args[0])
			c, where, err := a.remoteFrom(url)
			if err != nil {
				return err
			}
			a.announce(where)
			n, err := c.RevokeSubject(cmd.Context(), args[0], sessiond.SessionID(except))
			if err != nil {
				return revokedBefore(n, err)
			}
			fmt.Fprintf(a.stdout, "revoked %s\n", plural(n, "session"))
			return nil
		},
	}
	onceVar(revokeSubject.Flags(), &except, "except", "a session ID to keep")
	cmd.AddCommand(list, revoke, revokeSubject)
	return cmd
}
