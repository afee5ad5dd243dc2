package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/signing"
	"github.com/sessiond/sessiond/jwttoken"
)

// withMeta opens the configured store for a command that manages shared
// documents (signing keys, API keys) directly, without a running server.
func (a *app) withMeta(ctx context.Context, fn func(cfg config.Config, meta sessiond.MetaStore) error) error {
	cfg, _, err := a.loadConfig()
	if err != nil {
		return err
	}
	store, err := server.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer store.Close()
	meta, ok := store.(sessiond.MetaStore)
	if !ok {
		return fmt.Errorf("store %s keeps no shared documents: %w", cfg.Store.Driver, sessiond.ErrUnsupported)
	}
	return fn(cfg, meta)
}

func (a *app) keysCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "List or rotate the JWT signing keys (in the store)"}
	open := func(ctx context.Context, cfg config.Config, meta sessiond.MetaStore) (*signing.Keys, error) {
		life, err := cfg.Lifetimes()
		if err != nil {
			return nil, err
		}
		secret, err := a.hmacSecret(cfg)
		if err != nil {
			return nil, err
		}
		kek, oldKEKs, err := server.SigningKEKs(cfg, os.Getenv) // a sealed ring needs the server's KEK
		if err != nil {
			return nil, err
		}
		return signing.Open(ctx, meta, signing.Options{Algorithm: jwttoken.Algorithm(cfg.JWT.Algorithm),
			HMACSecret: secret, MaxTokenLifetime: life.Refresh, KEK: kek, OldKEKs: oldKEKs,
			PublishFor: cfg.JWT.KeyPublishPeriod.Std()})
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List signing keys, the current signer first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withMeta(cmd.Context(), func(cfg config.Config, meta sessiond.MetaStore) error {
				keys, err := open(cmd.Context(), cfg, meta)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "KID\tALG\tCREATED\tRETIRED\tCURRENT")
				for _, k := range keys.Ring().Keys() {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", k.ID, k.Algorithm, stamp(k.CreatedAt), stamp(k.RetiredAt), k.Current)
				}
				return tw.Flush()
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Make a new key the signer; the old one verifies until its tokens expire",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withMeta(cmd.Context(), func(cfg config.Config, meta sessiond.MetaStore) error {
				keys, err := open(cmd.Context(), cfg, meta)
				if err != nil {
					return err
				}
				if err := keys.Rotate(cmd.Context()); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, "rotated; new signer", keys.Ring().Keys()[0].ID)
				a.record(cmd.Context(), meta, server.EventKeysRotated, map[string]any{"kid": keys.Ring().Keys()[0].ID})
				return nil
			})
		},
	})
	return cmd
}

// record appends an operator action to the store's event log, when it
// keeps one (API keys created or revoked, signing keys rotated).
func (a *app) record(ctx context.Context, meta sessiond.MetaStore, typ sessiond.EventType, details map[string]any) {
	log, ok := meta.(sessiond.EventLog)
	if !ok {
		return
	}
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

func (a *app) apikeyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "apikey", Short: "Manage the API keys backends use (in the store)"}
	var name string
	var scopes []string
	scopeHelp := "scopes, comma-separated or repeated: " + apikey.Join(apikey.Scopes) + " (admin grants all)"
	create := &cobra.Command{
		Use:   "create [--scope S,...]",
		Short: "Create an API key and print it once (scope verify unless --scope says more)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc := apikey.DefaultScopes
			if len(scopes) > 0 {
				var err error
				if sc, err = apikey.ParseScopes(scopes...); err != nil {
					return err
				}
			}
			return a.withMeta(cmd.Context(), func(_ config.Config, meta sessiond.MetaStore) error {
				secret, key, err := apikey.New(meta, nil, 0).Create(cmd.Context(), name, sc...)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "created %s (%s, scopes %s); the key is shown once:\n", key.ID, key.Name, apikey.Join(key.Scopes))
				fmt.Fprintln(a.stdout, string(secret))
				a.record(cmd.Context(), meta, server.EventAPIKeyCreated, map[string]any{"key_id": key.ID, "name": key.Name, "scopes": apikey.Join(key.Scopes)})
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "cli", "a name to recognise the key by")
	create.Flags().StringSliceVar(&scopes, "scope", nil, scopeHelp+"; default verify")
	cmd.AddCommand(create)
	cmd.AddCommand(&cobra.Command{
		Use:   "set-scopes ID S[,S...]",
		Short: "Replace the scopes of an API key (" + apikey.Join(apikey.Scopes) + ")",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := apikey.ParseScopes(args[1])
			if err != nil {
				return err
			}
			return a.withMeta(cmd.Context(), func(_ config.Config, meta sessiond.MetaStore) error {
				key, err := apikey.New(meta, nil, 0).SetScopes(cmd.Context(), args[0], sc)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s now has scopes %s\n", key.ID, apikey.Join(key.Scopes))
				a.record(cmd.Context(), meta, server.EventAPIKeyScopes, map[string]any{"key_id": key.ID, "scopes": apikey.Join(key.Scopes)})
				return nil
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List API keys (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withMeta(cmd.Context(), func(_ config.Config, meta sessiond.MetaStore) error {
				keys, err := apikey.New(meta, nil, 0).List(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSCOPES\tCREATED\tREVOKED")
				for _, k := range keys {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, apikey.Join(k.Scopes), stamp(k.CreatedAt), stamp(k.RevokedAt))
				}
				return tw.Flush()
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key (every node stops accepting it within a second)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withMeta(cmd.Context(), func(_ config.Config, meta sessiond.MetaStore) error {
				if err := apikey.New(meta, nil, 0).Revoke(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintln(a.stdout, "revoked", args[0])
				a.record(cmd.Context(), meta, server.EventAPIKeyRevoked, map[string]any{"key_id": args[0]})
				return nil
			})
		},
	})
	return cmd
}

// remote returns a client for the running server: --url (or SESSIOND_URL,
// else http://<server.listen>) and the API key from SESSIOND_API_KEY or
// <data>/api-key.
func (a *app) remote(urlFlag string) (*client.Client, error) {
	cfg, _, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	base := urlFlag
	if base == "" {
		base = a.getenv("SESSIOND_URL")
	}
	if base == "" {
		base = "http://" + cfg.Server.Listen
	}
	key := a.getenv("SESSIOND_API_KEY")
	if key == "" {
		b, err := os.ReadFile(a.apiKeyFile(cfg))
		if err != nil {
			return nil, fmt.Errorf("no API key: set SESSIOND_API_KEY or run where %s is readable", a.apiKeyFile(cfg))
		}
		key = strings.TrimSpace(string(b))
	}
	return client.New(base, sessiond.Secret(key))
}

func (a *app) sessionsCmd() *cobra.Command {
	var url string
	cmd := &cobra.Command{Use: "sessions", Short: "List and revoke sessions through the running server"}
	cmd.PersistentFlags().StringVar(&url, "url", "", "server URL (env SESSIOND_URL; default http://<server.listen>)")

	var subject string
	list := &cobra.Command{
		Use:   "list --subject S",
		Short: "List a subject's live sessions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.remote(url)
			if err != nil {
				return err
			}
			ss, err := c.ListSessions(cmd.Context(), subject)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tLAST ACTIVE\tEXPIRES\tIP\tUSER AGENT")
			for _, s := range ss {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, stamp(s.CreatedAt), stamp(s.LastActiveAt),
					stamp(s.ExpiresAt), s.Client.IP, s.Client.UserAgent)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&subject, "subject", "", "the subject (user) whose sessions to list")
	_ = list.MarkFlagRequired("subject")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke one session",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.remote(url)
			if err != nil {
				return err
			}
			if err := c.RevokeSessionAsAdmin(cmd.Context(), sessiond.SessionID(args[0])); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "revoked", args[0])
			return nil
		},
	}

	var except string
	revokeSubject := &cobra.Command{
		Use:   "revoke-subject S [--except ID]",
		Short: "Revoke every session of a subject, optionally all but one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.remote(url)
			if err != nil {
				return err
			}
			n, err := c.RevokeSubject(cmd.Context(), args[0], sessiond.SessionID(except))
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "revoked %d sessions\n", n)
			return nil
		},
	}
	revokeSubject.Flags().StringVar(&except, "except", "", "a session ID to keep")
	cmd.AddCommand(list, revoke, revokeSubject)
	return cmd
}
