package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/webhook"
)

// NodeSettingsDoc is the meta document in which every node of a
// deployment records a fingerprint of each setting the nodes must share,
// so that one started with other values is seen (docs/operations.md,
// "Nodes with different settings").
const NodeSettingsDoc = "node_settings"

// DefaultDriftInterval is how often a node writes its entry and compares.
const DefaultDriftInterval = 30 * time.Second

// A node not seen for driftLive intervals is taken as gone (not compared
// with); after driftForget intervals its entry is removed.
const (
	driftLive   = 3
	driftForget = 20
)

// driftExempt are the settings each node may hold its own: where it
// listens and how it reaches the store, its own caches, budgets and
// logging, and the paths of files (their contents are compared where it
// matters: the KEK by its ID, webhook secrets by a keyed hash). A dotted
// path, or a prefix ending in ".".
var driftExempt = []string{
	"environment", // judges findings only
	"preset",      // its lifetimes are compared, as resolved
	"server.",
	"store.dsn", "store.client_cache", "store.write_groups", "store.migrate", "store.synchronous", "store.revocation_wait",
	"verify_cache_size", "refresh.cache_size",
	"console.", "log.",
	// per-node budgets (the shared refresh_failures counter is compared)
	"rate_limit.auth_failures.", "rate_limit.per_api_key.", "rate_limit.per_client_ip.", "rate_limit.revocation_streams_per_api_key",
	// nodes in different zones may sit behind different proxies
	"gateway.trusted_proxies",
	"signing.", // replaced by the KEK IDs
}

// nodeSettings is the document under NodeSettingsDoc.
type nodeSettings struct {
	Nodes map[string]nodeEntry `json:"nodes"`
}

// nodeEntry is one node's record.
type nodeEntry struct {
	Host    string    `json:"host"`
	Version string    `json:"version,omitempty"`
	Seen    time.Time `json:"seen"`
	// Settings maps a dotted path to a keyed hash of its value, never
	// the value: a webhook URL may carry a credential.
	Settings map[string]string `json:"settings"`
}

// driftSettings returns the fingerprint of every setting cfg holds that
// the nodes must share. kek and old are the signing KEKs, endpoints the
// webhooks as built (with their secrets).
func driftSettings(cfg config.Config, kek *signing.KEK, old []*signing.KEK, endpoints []webhook.Endpoint) map[string]string {
	// The lifetimes as resolved, so that a preset and the same values
	// written out agree.
	if l, err := cfg.Lifetimes(); err == nil {
		cfg.Lifetime.Access, cfg.Lifetime.Refresh = config.Duration(l.Access), config.Duration(l.Refresh)
	}
	cfg.Webhooks = nil // from endpoints, with their secrets
	values := map[string]string{}
	walkSettings(reflect.ValueOf(cfg), "", values)

	kekID := ""
	if kek != nil {
		kekID = kek.ID
	}
	oldIDs := []string{}
	for _, k := range old {
		oldIDs = append(oldIDs, k.ID)
	}
	slices.Sort(oldIDs)
	values["signing.kek"] = jsonString(kekID)
	values["signing.old_keks"] = jsonString(oldIDs)

	names := []string{}
	for _, ep := range endpoints {
		p := "webhooks." + ep.Name + "."
		names = append(names, ep.Name)
		events := slices.Clone(ep.Events)
		slices.Sort(events)
		values[p+"url"] = jsonString(ep.URL)
		values[p+"events"] = jsonString(events)
		values[p+"max_attempts"] = jsonString(ep.MaxAttempts)
		values[p+"secret"] = jsonString(secretFingerprint(ep.Secret))
	}
	slices.Sort(names)
	values["webhooks"] = jsonString(names)

	out := make(map[string]string, len(values))
	for p, v := range values {
		out[p] = settingHash(p, v)
	}
	return out
}

// walkSettings adds each leaf of v under its dotted YAML path, unless
// exempt. A list of structures is keyed by each element's name (its
// index when unnamed), with the list of keys at the list's own path.
func walkSettings(v reflect.Value, path string, out map[string]string) {
	if exempt(path) {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if _, ok := v.Interface().(json.Marshaler); ok {
			break
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || tag == "" || tag == "-" {
				continue
			}
			// A file's path may differ between nodes.
			if strings.HasSuffix(tag, "_file") || strings.HasSuffix(tag, "_files") {
				continue
			}
			walkSettings(v.Field(i), join(path, tag), out)
		}
		return
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			keys := []string{}
			for i := range v.Len() {
				el := v.Index(i)
				key := fmt.Sprintf("#%d", i)
				if n := el.FieldByName("Name"); n.IsValid() && n.Kind() == reflect.String && n.String() != "" {
					key = n.String()
				}
				keys = append(keys, key)
				walkSettings(el, join(path, key), out)
			}
			slices.Sort(keys)
			out[path] = jsonString(keys)
			return
		}
		if ss, ok := v.Interface().([]string); ok {
			// Lists of names (origins, events): their order means nothing.
			ss = slices.Clone(ss)
			slices.Sort(ss)
			out[path] = jsonString(ss)
			return
		}
	}
	out[path] = jsonString(v.Interface())
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func exempt(path string) bool {
	for _, e := range driftExempt {
		if path == e || (strings.HasSuffix(e, ".") && strings.HasPrefix(path, e)) {
			return true
		}
	}
	return false
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// settingHash names a value without showing it: nodes compare hashes.
func settingHash(path, value string) string {
	m := hmac.New(sha256.New, []byte("sessiond node settings"))
	m.Write([]byte(path + "\x00" + value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// secretFingerprint names a webhook secret: 24 or more random bytes (the
// validator refuses typed ones, SD-WEBHOOK-006), so that its keyed hash
// cannot be inverted.
func secretFingerprint(secret []byte) string {
	m := hmac.New(sha256.New, []byte("sessiond webhook secret fingerprint"))
	m.Write(secret)
	return hex.EncodeToString(m.Sum(nil)[:12])
}

// configDrift records this node's settings in the store and compares
// them with those of the other live nodes. Safe for concurrent use.
type configDrift struct {
	meta  sessiond.MetaStore
	clock sessiond.Clock
	log   *slog.Logger
	every time.Duration
	id    string
	entry nodeEntry

	mu        sync.Mutex
	reported  string // the last differing set logged, to log each change once
	differing atomic.Int64
}

func newConfigDrift(meta sessiond.MetaStore, settings map[string]string, version string, every time.Duration, clock sessiond.Clock, log *slog.Logger) *configDrift {
	if every <= 0 {
		every = DefaultDriftInterval
	}
	host, _ := os.Hostname()
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return &configDrift{meta: meta, clock: clock, log: log, every: every, id: hex.EncodeToString(b[:]),
		entry: nodeEntry{Host: host, Version: version, Settings: settings}}
}

// Differing is the number of settings this node holds otherwise than
// another live node (the sessiond_config_drift gauge).
func (d *configDrift) Differing() int { return int(d.differing.Load()) }

// run checks every interval until ctx ends, then removes this node's
// entry, so that a node restarted with new settings is not compared with
// its former self.
func (d *configDrift) run(ctx context.Context) {
	t := time.NewTicker(d.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			if err := d.update(wctx, true); err != nil {
				d.log.Debug("node settings: remove this node's entry", "err", err)
			}
			return
		case <-t.C:
			if err := d.check(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("node settings: cannot compare with the other nodes", "err", err)
			}
		}
	}
}

// check writes this node's entry and compares it with the others'.
func (d *configDrift) check(ctx context.Context) error {
	return d.update(ctx, false)
}

// update writes (or with remove, deletes) this node's entry, forgets
// nodes long gone, and compares with the live ones.
func (d *configDrift) update(ctx context.Context, remove bool) error {
	for attempt := 0; attempt < 5; attempt++ {
		var doc nodeSettings
		raw, version, err := d.meta.GetMeta(ctx, NodeSettingsDoc)
		switch {
		case errors.Is(err, sessiond.ErrNotFound):
			version = 0
		case err != nil:
			return fmt.Errorf("read %s: %w", NodeSettingsDoc, err)
		default:
			if json.Unmarshal(raw, &doc) != nil {
				doc = nodeSettings{} // unreadable: start it again
			}
		}
		if doc.Nodes == nil {
			doc.Nodes = map[string]nodeEntry{}
		}
		now := d.clock.Now()
		for id, e := range doc.Nodes {
			if now.Sub(e.Seen) > driftForget*d.every {
				delete(doc.Nodes, id)
			}
		}
		if remove {
			delete(doc.Nodes, d.id)
		} else {
			e := d.entry
			e.Seen = now
			doc.Nodes[d.id] = e
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		if _, err := d.meta.PutMeta(ctx, NodeSettingsDoc, b, version); errors.Is(err, sessiond.ErrConflict) {
			continue // another node wrote meanwhile: read theirs
		} else if err != nil {
			return fmt.Errorf("write %s: %w", NodeSettingsDoc, err)
		}
		if !remove {
			d.compare(doc, now)
		}
		return nil
	}
	return fmt.Errorf("write %s: %w", NodeSettingsDoc, sessiond.ErrConflict)
}

// compare sets the gauge and logs when the set of differing settings
// changes. Only settings both nodes record are compared (a node of
// another version may record more or fewer), except the webhook list.
func (d *configDrift) compare(doc nodeSettings, now time.Time) {
	differ := map[string]bool{}
	var nodes []string
	for _, id := range slices.Sorted(maps.Keys(doc.Nodes)) {
		e := doc.Nodes[id]
		if id == d.id || now.Sub(e.Seen) > driftLive*d.every {
			continue
		}
		n := 0
		for p, h := range d.entry.Settings {
			if o, ok := e.Settings[p]; ok && o != h {
				differ[p] = true
				n++
			}
		}
		if n > 0 {
			nodes = append(nodes, fmt.Sprintf("%s (node %s, version %s)", e.Host, id, e.Version))
		}
	}
	paths := slices.Sorted(maps.Keys(differ))
	d.differing.Store(int64(len(paths)))
	key := strings.Join(paths, ",")
	d.mu.Lock()
	defer d.mu.Unlock()
	if key == d.reported {
		return
	}
	if len(paths) > 0 {
		d.log.Warn("node settings differ from other nodes of this deployment: give every node the same values, or finish the rolling change (docs/operations.md, \"Nodes with different settings\")",
			"settings", paths, "nodes", nodes, "node", d.id)
	} else {
		d.log.Info("node settings agree with the other nodes again", "node", d.id)
	}
	d.reported = key
}
