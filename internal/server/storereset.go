package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// A store can lose the shared documents under running nodes: a Redis
// without persistence that restarts comes back empty, and so does a
// failover to an empty replica. Each node then does what a fresh start
// would, at the reload that finds the loss (the API key set's, at most
// once a second on a request or /readyz; the signing ring's poll, every
// 2 s, or a token naming a key it lacks): it seeds the API key set with its
// SESSIOND_API_KEY, writes its signing ring back (or merges its keys into
// a ring a node started since made) after the deployment identity, logs
// one ERROR line per document and records a store.reset_detected event.
// /readyz fails while a lost document cannot be written back; not for a
// SESSIOND_API_KEY revoked meanwhile, which is never added again (see
// apiKeysReset).

// apiKeysReset re-creates a lost API key set as bootstrapAPIKey does at
// start (apikey.Keys.OnReset). The store lost the signing ring too, most
// likely: the key set's reload comes first (a request or /readyz within a
// second), so the ring is checked at once rather than at its next poll,
// leaving a node started meanwhile less time to take the store for a new
// one (its own ring, deployment and default issuer). So are the shared
// secrets (secrets: the DPoP nonce secret, the DBSC key), put back or
// adopted here.
func apiKeysReset(cfg config.Config, env sessiond.Secret, keys *apikey.Keys, signer *signing.Keys, secrets *sharedSecrets, events *fanout, log *slog.Logger) func(context.Context, apikey.Reset) error {
	return func(ctx context.Context, r apikey.Reset) error {
		if signer != nil {
			if err := signer.Sync(ctx); err != nil {
				log.Warn("signing key ring sync", "err", err)
			}
		}
		// The DPoP and DBSC secrets went with the key set: put them back
		// before a node starting meanwhile makes its own.
		if err := secrets.restore(ctx, events, log); err != nil {
			return err // tried again at the next reload; /readyz fails meanwhile
		}
		res, err := seedAPIKey(ctx, cfg, env, keys)
		revoked := env != "" && errors.Is(err, apikey.ErrKeyRevoked)
		if err != nil && !revoked {
			return err // tried again at the next reload; /readyz fails with it meanwhile
		}
		recreated := "SESSIOND_API_KEY"
		switch {
		case revoked:
			// An operator revoked it while this node ran: the revocation
			// outlives the loss (internal/apikey writes it back), and no
			// try will ever add the key again. The repair ends here and
			// /readyz passes: the node serves with the keys it has, as
			// before the loss. Only a restart would fail (serve exits 78).
			recreated = "nothing: SESSIOND_API_KEY is revoked"
			log.Warn("SESSIOND_API_KEY is revoked: not seeded again; this node keeps serving with the keys it has, "+
				"but set SESSIOND_API_KEY to a key that was never revoked (or unset it) before it restarts, or serve will exit 78",
				"document", apikey.DocName)
		case env != "":
		case res.file != "":
			recreated = "a generated key, written to " + res.file
		case res.other != nil:
			recreated = "nothing: another node seeded key " + res.other.ID
		default:
			recreated = "nothing: another node seeded a key"
		}
		msg := "the shared API key set vanished from the store, which lost its data: seeded it again as at start; keys made with `sessiond apikey create` or POST /v1/api-keys are gone and must be made again"
		if r.RolledBack {
			// The set found was an older copy of this node's: its newer
			// keys and revocations were written back (internal/apikey).
			msg = "the shared API key set in the store was an older copy (a store restored from a snapshot, or a lagging replica): wrote this node's newer set back, revocations kept"
		}
		log.Error(msg, "document", apikey.DocName, "was_version", r.Was, "found_version", r.Found, "recreated", recreated,
			"rolled_back", r.RolledBack)
		events.emit(ctx, sessiond.Event{Type: EventStoreReset, Details: map[string]any{
			"document": apikey.DocName, "was_version": r.Was, "found_version": r.Found, "recreated": recreated,
			"rolled_back": r.RolledBack}})
		return nil
	}
}

// signingReset runs before a node writes its signing ring back to a store
// that lost it (signing.Options.OnReset): the deployment identity goes
// back first, so that a node starting meanwhile does not take the store
// for one that predates it (loadDeployment) and pick other default
// issuer and audience. dep is nil when both are configured.
func signingReset(meta sessiond.MetaStore, dep *deployment, events *fanout, log *slog.Logger) func(context.Context, signing.Reset) {
	return func(ctx context.Context, r signing.Reset) {
		details := map[string]any{"document": signing.DocName, "was_version": r.Was, "found_version": r.Found}
		if dep != nil {
			if restored, err := restoreDeployment(ctx, meta, *dep); err != nil {
				log.Error("the deployment document vanished from the store and could not be written back", "document", DeploymentDoc, "err", err)
			} else if restored {
				details["deployment"] = "restored"
			}
		}
		if events != nil {
			events.emit(ctx, sessiond.Event{Type: EventStoreReset, Details: details})
		}
	}
}

// restoreDeployment writes d back if the store has no deployment
// document, and reports whether it did.
func restoreDeployment(ctx context.Context, meta sessiond.MetaStore, d deployment) (bool, error) {
	if _, _, err := meta.GetMeta(ctx, DeploymentDoc); err == nil {
		return false, nil // another node put it back, or one started since made it
	} else if !errors.Is(err, sessiond.ErrNotFound) {
		return false, fmt.Errorf("load deployment: %w", err)
	}
	doc, err := json.Marshal(d)
	if err != nil {
		return false, err
	}
	if _, err := meta.PutMeta(ctx, DeploymentDoc, doc, 0); errors.Is(err, sessiond.ErrConflict) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("save deployment: %w", err)
	}
	return true, nil
}

// readiness is /readyz: the store answers, neither shared document this
// node needs is lost without being written back, and this node's last
// read of the signing ring could open it (signing.ErrRingUnreadable: a
// node without the KEK another sealed it with misses rotations and the
// kill switch). The key set is read at most once per its cache period
// (1 s), the ring not at all.
func readiness(store sessiond.Store, apiKeys *apikey.Keys, keys *signing.Keys) func(context.Context) error {
	return func(ctx context.Context) error {
		if err := store.Ping(ctx); err != nil {
			return err
		}
		if err := apiKeys.Ready(ctx); err != nil {
			return err
		}
		if keys != nil {
			return keys.Ready()
		}
		return nil
	}
}

// seeded is what seedAPIKey did.
type seeded struct {
	// file is the absolute path of the file a generated key was written
	// to; "" when this node generated none.
	file string
	// other is the live key another node (or an operator) added between
	// this node's read of the empty key set and its write: this node
	// generated no key and wrote no file. nil otherwise.
	other *apikey.Key
}

// seedAPIKey makes sure at least one API key works, as bootstrapAPIKey
// says, and reports whether it generated one (written to a file) or found
// one another node generated meanwhile.
func seedAPIKey(ctx context.Context, cfg config.Config, env sessiond.Secret, keys *apikey.Keys) (seeded, error) {
	if env != "" {
		_, err := keys.Ensure(ctx, "env", env)
		return seeded{}, err
	}
	// A live key read here is a restart's (nothing to say); one that
	// Seed finds, a key another node seeded meanwhile.
	list, err := keys.List(ctx)
	if err != nil {
		return seeded{}, err
	}
	for _, k := range list {
		if k.RevokedAt.IsZero() {
			return seeded{}, nil
		}
	}
	// The first key administers the rest. Seed, not Create: another node
	// starting on the same empty store may have seeded since the List, and
	// only the compare-and-swap can tell. The file is written first: a key
	// stored but in no file would be live with nobody holding it, and the
	// next start, finding a live key, would make none.
	secret, err := apikey.NewSecret()
	if err != nil {
		return seeded{}, err
	}
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return seeded{}, fmt.Errorf("data directory: %w (no API key was stored)", err)
	}
	path := filepath.Join(cfg.Server.DataDir, APIKeyFile)
	abs, _ := filepath.Abs(path)
	if err := writeOwnerOnly(path, []byte(string(secret)+"\n")); err != nil {
		return seeded{}, fmt.Errorf("write API key: %w (no API key was stored: make %s writable by this user, then start again)", err, abs)
	}
	key, err := keys.SeedSecret(ctx, "generated", secret, apikey.ScopeAdmin)
	if err != nil && key.ID != "" && !errors.Is(err, apikey.ErrHasLiveKey) {
		// The write's outcome is unknown (a timeout, a lost answer): seed
		// the same secret again, which finds it if it landed and otherwise
		// stores it, so the lost write cannot land after this answer.
		// Bounded, and not ended by a stop signal: the file must not be
		// left out of step with the store if it can be helped.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), seedSettleTimeout)
		again, aerr := keys.SeedSecret(sctx, "generated", secret, apikey.ScopeAdmin)
		cancel()
		if aerr != nil && !errors.Is(aerr, apikey.ErrHasLiveKey) {
			// Perhaps stored: the file keeps the key, which the next start
			// keeps if it is live, or replaces.
			return seeded{}, fmt.Errorf("store the first API key: %w; key %s may be stored all the same: %s holds it (start again once the store answers)", err, key.ID, abs)
		}
		key, err = again, aerr
	}
	switch {
	case errors.Is(err, apikey.ErrHasLiveKey):
		_ = os.Remove(path) // its key was never stored
		return seeded{other: &key}, nil
	case err != nil:
		_ = os.Remove(path) // nothing was stored, nor can land later
		return seeded{}, err
	}
	return seeded{file: abs}, nil
}

// seedSettleTimeout bounds seedAPIKey's second write of a generated key
// whose first write's outcome is unknown.
const seedSettleTimeout = 10 * time.Second

// writeOwnerOnly writes data to the file at path, readable by its owner
// only. The data goes to a new file beside it (mode 0600 from the start:
// a key file of an earlier store, copied under umask 022, keeps no wider
// mode), synced to the disk, then renamed over path and the directory
// synced: a full disk or a crash leaves the old file or the new one
// whole, never a truncated or half-written key, and a key stored after
// this returns is not lost from the file to a power cut.
//
// Only a regular file is replaced: a FIFO, a symbolic link (whose target
// is left alone), a directory or a socket at path is refused with
// config.ErrSecretNotRegular, naming the file.
func writeOwnerOnly(path string, data []byte) error {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return config.NotRegularError(path, fi.Mode())
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err // an *fs.PathError: names the file
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// sharedSecret is a secret every node holds in memory from a meta
// document (sealedSecret: the DPoP nonce secret, the DBSC key), read once
// at start. When the store loses the document, a node started afterwards
// would make a secret of its own, and refuse the nonces, challenges and
// cookies of the running nodes (and they its own): check writes the held
// secret back, or adopts the one another node wrote back first, so every
// node ends with the stored one. Safe for concurrent use.
type sharedSecret struct {
	meta sessiond.MetaStore
	name string
	bare bool
	kek  *signing.KEK
	old  []*signing.KEK
	// seal is what check seals the secret it writes back with
	// (writeBackKEK): kek, else the old KEK that sealed the last sealed
	// copy it read. Under mu.
	seal     *signing.KEK
	cur      atomic.Pointer[[]byte]
	onChange func([]byte) // called with the adopted secret; may be nil
	mu       sync.Mutex   // one check at a time
}

// newSharedSecret loads or makes the secret kept in name (sealedSecret).
func newSharedSecret(ctx context.Context, meta sessiond.MetaStore, name string, bare bool, kek *signing.KEK, old []*signing.KEK) (*sharedSecret, error) {
	secret, sealedWith, err := sealedSecret(ctx, meta, name, bare, kek, old)
	if err != nil {
		return nil, err
	}
	s := &sharedSecret{meta: meta, name: name, bare: bare, kek: kek, old: old, seal: writeBackKEK(kek, old, sealedWith)}
	s.cur.Store(&secret)
	return s, nil
}

// current is the secret in use.
func (s *sharedSecret) current() []byte { return *s.cur.Load() }

// check puts the document back if the store lost it, and says what it did
// ("" when the stored secret is the one held: nothing was lost).
func (s *sharedSecret) check(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	held := s.current()
	for range 3 {
		raw, _, err := s.meta.GetMeta(ctx, s.name)
		switch {
		case errors.Is(err, sessiond.ErrNotFound):
			doc, err := sealSecretDoc(s.name, held, s.seal)
			if err != nil {
				return "", err
			}
			if _, err := s.meta.PutMeta(ctx, s.name, doc, 0); errors.Is(err, sessiond.ErrConflict) {
				continue // another node wrote one first: compare with it
			} else if err != nil {
				return "", fmt.Errorf("save %s: %w", s.name, err)
			}
			return "this node's secret", nil
		case err != nil:
			return "", fmt.Errorf("load %s: %w", s.name, err)
		}
		stored, sealedWith, _, err := openSecretDoc(s.name, raw, s.bare, s.kek, s.old)
		if err != nil {
			return "", err
		}
		if k := writeBackKEK(s.kek, s.old, sealedWith); k != nil {
			s.seal = k // once sealed, stays sealed (as the signing ring)
		}
		if bytes.Equal(stored, held) {
			return "", nil
		}
		// Written back by another node, or made by a node started on the
		// empty store: every node takes the stored one.
		s.cur.Store(&stored)
		if s.onChange != nil {
			s.onChange(stored)
		}
		return "adopted the secret another node wrote back", nil
	}
	return "", fmt.Errorf("%s keeps changing: %w", s.name, sessiond.ErrConflict)
}

// sharedSecrets are the node's sharedSecret documents, checked when the
// store is found to have lost its data. Features register theirs as they
// are built, before serving.
type sharedSecrets struct {
	mu   sync.Mutex
	list []*sharedSecret
}

func (r *sharedSecrets) add(s *sharedSecret) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.list = append(r.list, s)
	r.mu.Unlock()
}

// restore checks every secret (sharedSecret.check), logging one ERROR line
// and recording one store.reset_detected event for each the store lost.
// It returns the first error; the others are still checked.
func (r *sharedSecrets) restore(ctx context.Context, events *fanout, log *slog.Logger) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	list := slices.Clone(r.list)
	r.mu.Unlock()
	var first error
	for _, s := range list {
		recreated, err := s.check(ctx)
		if err != nil {
			log.Warn("shared secret check after the store lost its data", "document", s.name, "err", err)
			if first == nil {
				first = err
			}
			continue
		}
		if recreated == "" {
			continue
		}
		log.Error("a shared secret vanished from the store, which lost its data: put it back so every node uses the same one",
			"document", s.name, "recreated", recreated)
		if events != nil {
			events.emit(ctx, sessiond.Event{Type: EventStoreReset, Details: map[string]any{"document": s.name, "recreated": recreated}})
		}
	}
	return first
}
