package server

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
		logPendingKeys(log, res)
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
		case res.other != nil && res.other.Name != generatedKeyName:
			recreated = fmt.Sprintf("nothing: key %s (%q) was added meanwhile", res.other.ID, res.other.Name)
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
	// adopted is the absolute path of the key file a pending file was
	// moved over: an earlier start was killed after the store took its
	// key and before the move. "" otherwise.
	adopted string
	// left are the pending key files left in place (adoptPendingKeys).
	left []leftKeyFile
}

// leftKeyFile is a pending key file seedAPIKey left where it is, and why.
type leftKeyFile struct {
	file string // absolute
	why  string
}

// seedAPIKey makes sure at least one API key works, as bootstrapAPIKey
// says, and reports whether it generated one (written to a file) or found
// a live key added meanwhile (another node's, generated or given, or an
// operator's).
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
	path := filepath.Join(cfg.Server.DataDir, APIKeyFile)
	abs, _ := filepath.Abs(path)
	for _, k := range list {
		if k.RevokedAt.IsZero() {
			return adoptPendingKeys(ctx, keys, path, abs), nil
		}
	}
	// No live key: a pending file's key was revoked, or never stored.
	left := adoptPendingKeys(ctx, keys, path, abs).left
	// The first key administers the rest. Seed, not Create: another node
	// starting on the same empty store may have seeded since the List, and
	// only the compare-and-swap can tell. The key is in a file before the
	// store takes it: a key stored but in no file would be live with
	// nobody holding it, and the next start, finding a live key, would
	// make none. That file is a new one beside <data>/api-key, moved over
	// it once the store took the key (or may have): a node that makes no
	// key leaves <data>/api-key as it was, another node's in a shared data
	// directory, or the key of a store that lost its data.
	secret, err := apikey.NewSecret()
	if err != nil {
		return seeded{}, err
	}
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return seeded{}, fmt.Errorf("data directory: %w (no API key was stored)", err)
	}
	pending, err := writePendingKey(path, []byte(string(secret)+"\n"))
	var dirErr *dataDirError
	switch {
	case errors.As(err, &dirErr):
		// Its file is removed: the directory is what to mend.
		return seeded{}, fmt.Errorf("write API key: %w (no API key was stored: free space in the data directory or make it writable by this user, then start again)", err)
	case err != nil:
		return seeded{}, fmt.Errorf("write API key: %w (no API key was stored: make %s writable by this user, then start again)", err, abs)
	}
	// A panic in the store's write (a driver's bug) leaves the outcome
	// unknown, as a lost answer does: the key is moved into place, not
	// left in a pending file nothing reads.
	settled := false
	defer func() {
		if !settled {
			_ = placeKey(pending, path)
		}
	}()
	key, err := keys.SeedSecret(ctx, generatedKeyName, secret, apikey.ScopeAdmin)
	if err != nil && key.ID != "" && !errors.Is(err, apikey.ErrHasLiveKey) {
		// The write's outcome is unknown (a timeout, a lost answer): seed
		// the same secret again, which finds it if it landed and otherwise
		// stores it, so the lost write cannot land after this answer.
		// Bounded, and not ended by a stop signal: the file must not be
		// left out of step with the store if it can be helped.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), seedSettleTimeout)
		again, aerr := keys.SeedSecret(sctx, generatedKeyName, secret, apikey.ScopeAdmin)
		cancel()
		settled = true
		if aerr != nil && !errors.Is(aerr, apikey.ErrHasLiveKey) {
			// Perhaps stored: the file keeps the key, which the next start
			// keeps if it is live, or replaces.
			_ = placeKey(pending, path)
			return seeded{}, fmt.Errorf("store the first API key: %w; key %s may be stored all the same: %s holds it (start again once the store answers)", err, key.ID, keyHolder(pending, abs))
		}
		key, err = again, aerr
	}
	settled = true
	switch {
	case errors.Is(err, apikey.ErrHasLiveKey):
		_ = os.Remove(pending) // its key was never stored
		return seeded{other: &key, left: left}, nil
	case err != nil:
		_ = os.Remove(pending) // nothing was stored, nor can land later
		return seeded{}, err
	}
	if err := placeKey(pending, path); err != nil && !(errors.Is(err, os.ErrNotExist) && holds(path, secret)) {
		// Stored: the file that holds it is named; the next start moves it
		// into place (adoptPendingKeys). A node restarting on a shared data
		// directory may have moved it already: then path holds it.
		return seeded{}, fmt.Errorf("write API key: %w (key %s is stored and live: %s holds it)", err, key.ID, keyHolder(pending, abs))
	}
	return seeded{file: abs, left: left}, nil
}

// adoptPendingKeys finds the pending key files beside path (abs: its
// absolute form) that a start killed between the store's taking its key
// and the move (SIGKILL, a power cut) left. The first whose key is live
// (keys.Authenticate: the hash of the file's key looked up, never
// compared byte by byte) is moved over path, unless path's key is live
// itself. Every other one is left in place, named: its key may be another
// node's start in progress, in a data directory nodes share, about to be
// stored; removed, that key would be live in no file. keys must have read
// the set (List) just before: Authenticate answers from that read.
func adoptPendingKeys(ctx context.Context, keys *apikey.Keys, path, abs string) seeded {
	found, _ := filepath.Glob(path + ".new-*")
	if len(found) == 0 {
		return seeded{}
	}
	var res seeded
	placed, _ := fileKeyLive(ctx, keys, path) // unreadable: replaced, as a start replaces it
	for _, f := range found {
		fabs, _ := filepath.Abs(f)
		live, err := fileKeyLive(ctx, keys, f)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Moved or removed since the Glob, by a node starting on this
			// data directory: nothing left to say.
		case err != nil:
			// Not "not live": told so, an operator would delete what may
			// be the only copy of the admin key.
			res.left = append(res.left, leftKeyFile{fabs, "its key was not checked: " + err.Error() + "; a start leaves a regular file its user can read: look at it once no node is starting"})
		case !live:
			res.left = append(res.left, leftKeyFile{fabs, "its key is not live (revoked, or not stored: an interrupted start's, or one still running on this data directory); delete it once no node is starting"})
		case placed:
			res.left = append(res.left, leftKeyFile{fabs, "its key is live, but so is the key of " + abs + ", which is kept; use either, or revoke the one not meant"})
		default:
			if err := checkKeyFile(path); err != nil {
				res.left = append(res.left, leftKeyFile{fabs, "its key is live, but it was not moved into place: " + err.Error()})
				continue
			}
			if err := ownOnly(f); err != nil {
				res.left = append(res.left, leftKeyFile{fabs, "its key is live, but it was not moved into place: " + err.Error()})
				continue
			}
			if err := placeKey(f, path); err != nil {
				// Moved already by another node restarting on this data
				// directory, or not movable.
				if placed, _ = fileKeyLive(ctx, keys, path); !placed {
					res.left = append(res.left, leftKeyFile{fabs, "its key is live, but it was not moved into place: " + err.Error()})
				}
				continue
			}
			placed, res.adopted = true, abs
		}
	}
	return res
}

// fileKeyLive reports whether the key in the regular file path is live;
// an error when path cannot be read as one (absent, a FIFO, a symbolic
// link) or the key could not be looked up.
func fileKeyLive(ctx context.Context, keys *apikey.Keys, path string) (bool, error) {
	secret, err := readKeyFile(path)
	if err != nil {
		return false, err
	}
	_, err = keys.Authenticate(ctx, secret)
	switch {
	case errors.Is(err, apikey.ErrUnauthorized):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// readKeyFile reads the key in the regular file path, without following
// a symbolic link or waiting on a FIFO, and reading no more than a key's
// length.
func readKeyFile(path string) (sessiond.Secret, error) {
	f, err := openRegular(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, apikey.MaxKeyLen+2))
	if err != nil {
		return "", err
	}
	return sessiond.Secret(strings.TrimSpace(string(raw))), nil
}

// openRegular opens path for reading if it is a regular file, without
// following a symbolic link or waiting on a FIFO.
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|openNoFollow, 0)
	if err != nil {
		if fi, lerr := os.Lstat(path); lerr == nil && !fi.Mode().IsRegular() {
			return nil, config.NotRegularError(path, fi.Mode()) // a symbolic link
		}
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		_ = f.Close()
		if err == nil {
			err = config.NotRegularError(path, st.Mode())
		}
		return nil, err
	}
	return f, nil
}

// ownOnly makes the regular file path readable by its owner only, as
// <data>/api-key must be: a pending file moved over it keeps its mode.
func ownOnly(path string) error {
	f, err := openRegular(path)
	if err != nil {
		return err
	}
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// holds reports whether the file at path holds secret.
func holds(path string, secret sessiond.Secret) bool {
	got, err := readKeyFile(path)
	return err == nil && subtle.ConstantTimeCompare([]byte(got), []byte(secret)) == 1
}

// writePendingKey writes data to a new file beside path, readable by its
// owner only (mode 0600 whatever the umask; moved over path, it also
// replaces the looser mode of a key file an earlier store left, copied
// under umask 022), and returns its name: seedAPIKey moves it over path
// once the store took the key. What is at path is checked first and left
// unchanged, so that the move seldom fails after the store took the key:
// none, or a regular file this user may write. Anything else is refused
// with config.ErrSecretNotRegular, naming the file: a FIFO (opened
// without blocking, as a plain open would wait for a reader), a symbolic
// link (not followed: an operator who points it at another file expects
// that file written, which a move would not do), a directory.
// The new file is synced and placeKey syncs the directory after the move,
// so a full disk or a crash leaves the old file or the new one whole,
// never a truncated or half-written key, and a stored key is not lost
// from its file to a power cut.
func writePendingKey(path string, data []byte) (string, error) {
	if err := checkKeyFile(path); err != nil {
		return "", err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".new-*") // mode 0600
	if err != nil {
		return "", newDataDirError(dir, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync() // on the disk before the store takes its key
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return "", newDataDirError(dir, err)
	}
	return f.Name(), nil
}

// checkKeyFile returns nil when path is absent or a regular file this
// user may write (writePendingKey), and an error naming it otherwise.
func checkKeyFile(path string) error {
	if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK|openNoFollow, 0); err == nil {
		st, serr := f.Stat()
		_ = f.Close()
		if serr == nil && !st.Mode().IsRegular() {
			return config.NotRegularError(path, st.Mode())
		}
	} else if fi, lerr := os.Lstat(path); lerr == nil && !fi.Mode().IsRegular() {
		return config.NotRegularError(path, fi.Mode())
	} else if !errors.Is(err, os.ErrNotExist) {
		return err // an *fs.PathError: names the file
	}
	return nil
}

// dataDirError is writePendingKey's error making or writing its own file
// (no room, not writable): it names the data directory, what the operator
// mends, rather than that file, which is removed.
type dataDirError struct {
	dir string
	err error
}

func newDataDirError(dir string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // its path is the removed file's
	}
	abs, aerr := filepath.Abs(dir)
	if aerr != nil {
		abs = dir
	}
	return &dataDirError{dir: abs, err: err}
}

func (e *dataDirError) Error() string { return "data directory " + e.dir + ": " + e.err.Error() }
func (e *dataDirError) Unwrap() error { return e.err }

// placeKey moves writePendingKey's file over path and syncs the directory,
// so that the move outlives a power cut.
func placeKey(pending, path string) error {
	if err := os.Rename(pending, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// keyHolder names the file that holds a key placeKey may have failed to
// move: the pending file while it is there, else the key file (moved; only
// the directory's sync failed).
func keyHolder(pending, keyFile string) string {
	if _, err := os.Lstat(pending); err == nil {
		abs, _ := filepath.Abs(pending)
		return abs
	}
	return keyFile
}

// generatedKeyName names the key seedAPIKey generates: a live key found
// under another name was not generated by a node (SESSIOND_API_KEY's is
// "env").
const generatedKeyName = "generated"

// seedSettleTimeout bounds seedAPIKey's second write of a generated key
// whose first write's outcome is unknown.
const seedSettleTimeout = 10 * time.Second

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
