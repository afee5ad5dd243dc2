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
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/ssf"
	"github.com/sessiond/sessiond/webhook"
)

// NodeSettingsDoc is the meta document in which every node of a
// deployment records a fingerprint of each setting the nodes must share,
// so that one started with other values is seen (docs/operations.md,
// "Nodes with different settings").
const NodeSettingsDoc = "node_settings"

// DefaultDriftInterval is how often a node writes its entry and compares.
const DefaultDriftInterval = 30 * time.Second

// A node whose entry this node has not seen change for driftLive
// intervals is taken as gone (not compared with); after driftForget
// intervals its entry is removed. Judged by this node's clock, as it
// watches each entry's Beat: the writer's clock may be off by minutes.
// At most driftMaxNodes entries are kept (crash loops leave one per
// start, about 2.5 kB each), the ones seen longest ago dropped first.
const (
	driftLive     = 3
	driftForget   = 20
	driftMaxNodes = 100
)

// driftTimeout bounds one check: a store that does not answer must not
// hold the start, nor the removal of the entry at stop.
const driftTimeout = 5 * time.Second

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
	Host    string `json:"host"`
	Version string `json:"version,omitempty"`
	// Seen is the writer's clock, a hint for entries first seen; Beat
	// counts its writes, so that readers judge liveness by their own.
	Seen time.Time `json:"seen"`
	Beat uint64    `json:"beat"`
	// Settings maps a dotted path to a hash of its value, never the
	// value. Ordinary settings are hashed with a public key (a guess of
	// limits.max_sessions can be tested against it); a value that may
	// hold a secret (a webhook's URL and secret) with a key drawn from
	// the KEK, as "kek:<KEK ID>:<hash>", and not recorded without one.
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
	cfg = effectiveZeros(cfg)
	// gateway.go reads it so: "Lax" and "lax" set the same cookie.
	cfg.Cookie.SameSite = strings.ToLower(cfg.Cookie.SameSite)
	cfg.Webhooks = nil // from endpoints, with their secrets
	values := map[string]string{}
	walkSettings(reflect.ValueOf(cfg), "", values)
	// Not recorded: compare skips a key one side lacks, so a node that
	// reads the setting is compared only with the others that read it.
	for p := range values {
		if unread(cfg, p) {
			delete(values, p)
		}
	}

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

	// Values that may hold a secret: a hash anyone could recompute would
	// confirm a guess of a secret typed by hand.
	secrets := map[string]string{}
	var secretKey []byte
	if kek != nil {
		secretKey, _ = kek.DeriveKey("node settings")
	}
	addSecret := func(path string, value []byte) {
		if secretKey == nil {
			return
		}
		m := hmac.New(sha256.New, secretKey)
		m.Write([]byte(path + "\x00"))
		m.Write(value)
		secrets[path] = "kek:" + kek.ID + ":" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
	}

	names := []string{}
	for _, ep := range endpoints {
		p := "webhooks." + ep.Name + "."
		names = append(names, ep.Name)
		events := slices.Clone(ep.Events)
		slices.Sort(events)
		addSecret(p+"url", []byte(ep.URL))
		values[p+"events"] = jsonString(events)
		// As the dispatcher reads them: 0 is the default.
		attempts, age := ep.MaxAttempts, ep.MaxPendingAge
		if attempts == 0 {
			attempts = webhook.DefaultMaxAttempts
		}
		if age == 0 {
			age = webhook.DefaultMaxPendingAge
		}
		values[p+"max_attempts"] = jsonString(attempts)
		// As max_attempts: whichever node claims a delivery ends it. A
		// node of a version without the key records none, and compare
		// skips a key one side lacks.
		values[p+"max_pending_age"] = jsonString(age)
		addSecret(p+"secret", ep.Secret)
	}
	slices.Sort(names)
	values["webhooks"] = jsonString(names)

	out := make(map[string]string, len(values))
	for p, v := range values {
		out[p] = settingHash(p, v)
	}
	maps.Copy(out, secrets)
	return out
}

// effectiveZeros returns cfg with each setting whose zero (or empty)
// value means its default replaced by that default, as the part reading
// it resolves it, so that a node leaving the key out (or writing 0) and
// one writing the default out agree. A zero that means something else
// (off, never) stays as it is.
func effectiveZeros(cfg config.Config) config.Config {
	if cfg.Store.Namespace == "" {
		switch cfg.Store.Driver {
		case "postgres":
			cfg.Store.Namespace = "public" // pgstore.Options.Schema
		case "redis":
			cfg.Store.Namespace = "sd" // redisstore.Options.Prefix
		}
	}
	if cfg.Store.RevocationReplicas == "" {
		cfg.Store.RevocationReplicas = config.RevocationReplicasAuto
	}
	if cfg.JWT.KeyPublishPeriod == 0 {
		cfg.JWT.KeyPublishPeriod = config.Duration(signing.DefaultPublishFor)
	}
	if cfg.Cookie.Name == "" {
		cfg.Cookie.Name = httpsession.DefaultCookieName
	}
	if cfg.Cookie.RefreshName == "" {
		cfg.Cookie.RefreshName = httpsession.DefaultRefreshCookieName
	}
	if !cfg.Cookie.Secure {
		// httpsession drops the prefixes without Secure
		// (InsecureDevCookies), the defaults' too: "sessiond".
		cfg.Cookie.Name, cfg.Cookie.RefreshName = unprefixed(cfg.Cookie.Name), unprefixed(cfg.Cookie.RefreshName)
	}
	if cfg.Cookie.Path == "" {
		cfg.Cookie.Path = "/" // httpsession.Options.CookiePath
	}
	if cfg.Cookie.RefreshPath == "" {
		cfg.Cookie.RefreshPath = cfg.Gateway.Prefix + "/refresh" // addGateway: the refresh route
	}
	rs := slices.Clone(cfg.SSF.Receivers)
	for i := range rs {
		if rs[i].Delivery == "" {
			rs[i].Delivery = config.SSFDeliveryPush
		}
		if rs[i].SubjectTemplate == "" {
			rs[i].SubjectTemplate = ssf.DefaultTemplate
		}
		if rs[i].PollInterval == 0 {
			rs[i].PollInterval = config.Duration(ssf.DefaultPollInterval)
		}
		if rs[i].PollMaxAge == 0 {
			rs[i].PollMaxAge = config.Duration(ssf.DefaultPollMaxAge)
		}
	}
	cfg.SSF.Receivers = rs
	return cfg
}

// unprefixed is a cookie name as httpsession sets it without Secure:
// browsers refuse a __Host- or __Secure- cookie that is not Secure.
func unprefixed(name string) string {
	for _, p := range []string{"__Host-", "__Secure-"} {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return name[len(p):]
		}
	}
	return name
}

// unread reports whether the server does not read the setting at path of
// cfg, as something it depends on is off: a difference there changes
// nothing.
func unread(cfg config.Config, path string) bool {
	database := cfg.Strategy == sessiond.StrategyDatabase
	switch path {
	case "jwt.algorithm", "jwt.key_publish_period", "jwt.key_rotation_interval":
		// The signing ring's own settings: no ring is built on the
		// database strategy unless the ssf transmitter signs with it
		// (buildManager).
		return database && !cfg.SSF.Transmitter.Enabled
	case "jwt.issuer", "jwt.audience":
		// The claims of signed tokens (jwttoken.Options), which the
		// database strategy does not issue, transmitter or not: its SETs
		// name ssf.transmitter.issuer.
		return database
	case "gateway.enabled":
		return false
	case "gateway.dbsc_cookie_lifetime":
		// The bound cookie exists only with DBSC on (addGateway).
		if cfg.Gateway.DBSC == "" || cfg.Gateway.DBSC == config.DBSCOff {
			return true
		}
	}
	// Only the gateway reads its settings, the cookies it sets and the
	// origins its CSRF check trusts (addGateway).
	return !cfg.Gateway.Enabled && matches([]string{"gateway.", "cookie.", "csrf."}, path)
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

func exempt(path string) bool { return matches(driftExempt, path) }

// matches reports whether path is one of paths, or under one of them
// that ends in ".".
func matches(paths []string, path string) bool {
	for _, e := range paths {
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
// Its key is public, so it hides no secret (see driftSettings).
func settingHash(path, value string) string {
	m := hmac.New(sha256.New, []byte("sessiond node settings"))
	m.Write([]byte(path + "\x00" + value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:12])
}

// configDrift records this node's settings in the store and compares
// them with those of the other live nodes. Safe for concurrent use.
type configDrift struct {
	meta    sessiond.MetaStore
	clock   sessiond.Clock
	log     *slog.Logger
	every   time.Duration
	timeout time.Duration // of one check: driftTimeout
	id      string
	entry   nodeEntry

	mu        sync.Mutex
	reported  string // the last differing set logged, to log each change once
	failing   bool   // the last check failed (logged once a streak)
	watched   map[string]watch
	differing atomic.Int64
}

// watch is what this node last saw of another node's entry: its Beat;
// since, when (by this node's clock) it first saw that beat; at, when
// the entry counts as written: since, or on first sight the writer's
// Seen if earlier (a node started after another's crash does not take
// it as live).
type watch struct {
	beat      uint64
	since, at time.Time
}

func newConfigDrift(meta sessiond.MetaStore, settings map[string]string, version string, every time.Duration, clock sessiond.Clock, log *slog.Logger) *configDrift {
	if every <= 0 {
		every = DefaultDriftInterval
	}
	host, _ := os.Hostname()
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return &configDrift{meta: meta, clock: clock, log: log, every: every, timeout: driftTimeout, id: hex.EncodeToString(b[:]),
		entry: nodeEntry{Host: host, Version: version, Settings: settings}, watched: map[string]watch{}}
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
			if err := d.update(context.WithoutCancel(ctx), true); err != nil {
				d.log.Debug("node settings: remove this node's entry", "err", err)
			}
			return
		case <-t.C:
			d.tick(ctx)
		}
	}
}

// tick checks, logging the first failure of a streak and its end: a
// store down for an hour is reported by the store's own alerts, not by
// a line every 30 s.
func (d *configDrift) tick(ctx context.Context) {
	err := d.check(ctx)
	if ctx.Err() != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err != nil && !d.failing:
		d.log.Warn("node settings: cannot compare with the other nodes (logged once until it works again)", "err", err)
	case err != nil:
		d.log.Debug("node settings: cannot compare with the other nodes", "err", err)
	case d.failing:
		d.log.Info("node settings: can compare with the other nodes again")
	}
	d.failing = err != nil
}

// check writes this node's entry and compares it with the others'.
func (d *configDrift) check(ctx context.Context) error {
	return d.update(ctx, false)
}

// update writes (or with remove, deletes) this node's entry, forgets
// nodes long gone, and compares with the live ones.
func (d *configDrift) update(ctx context.Context, remove bool) error {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
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
		live := d.watch(doc, now)
		if remove {
			delete(doc.Nodes, d.id)
		} else {
			e := d.entry
			e.Seen = now
			if old, ok := doc.Nodes[d.id]; ok {
				e.Beat = old.Beat + 1
			}
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
			d.compare(doc, live)
		}
		return nil
	}
	return fmt.Errorf("write %s: %w", NodeSettingsDoc, sessiond.ErrConflict)
}

// watch notes each other entry's beat, removes the entries not seen to
// change for driftForget intervals and, past driftMaxNodes, those seen
// longest ago; it returns the IDs of the live ones. Ages are this node's
// own: an entry first seen counts as written at its Seen, unless that
// is ahead of this clock, until its Beat changes.
func (d *configDrift) watch(doc nodeSettings, now time.Time) map[string]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id := range d.watched {
		if _, ok := doc.Nodes[id]; !ok {
			delete(d.watched, id)
		}
	}
	live := map[string]bool{}
	for id, e := range doc.Nodes {
		if id == d.id {
			continue
		}
		w, ok := d.watched[id]
		switch {
		case !ok:
			w = watch{beat: e.Beat, since: now, at: now}
			if e.Seen.Before(now) {
				w.at = e.Seen
			}
		case w.beat != e.Beat:
			w = watch{beat: e.Beat, since: now, at: now}
		}
		d.watched[id] = w
		// Forgotten only once watched unchanged for the whole period:
		// the writer's Seen may be a clock's error.
		if now.Sub(w.since) > driftForget*d.every {
			delete(doc.Nodes, id)
			delete(d.watched, id)
			continue
		}
		if now.Sub(w.at) <= driftLive*d.every {
			live[id] = true
		}
	}
	// Room for this node's entry, which update adds after (or removes).
	others := len(doc.Nodes)
	if _, ok := doc.Nodes[d.id]; ok {
		others--
	}
	if over := others + 1 - driftMaxNodes; over > 0 {
		ids := slices.Collect(maps.Keys(doc.Nodes))
		ids = slices.DeleteFunc(ids, func(id string) bool { return id == d.id })
		slices.SortFunc(ids, func(a, b string) int { return doc.Nodes[a].Seen.Compare(doc.Nodes[b].Seen) })
		for _, id := range ids[:min(over, len(ids))] {
			delete(doc.Nodes, id)
			delete(d.watched, id)
			delete(live, id)
		}
	}
	return live
}

// compare sets the gauge and logs when the set of differing settings
// changes. Only settings both nodes record are compared (a node of
// another version may record more or fewer), and a secret's hash only
// with one drawn from the same KEK (the KEK's own difference is
// signing.kek).
func (d *configDrift) compare(doc nodeSettings, live map[string]bool) {
	differ := map[string]bool{}
	var nodes []string
	for _, id := range slices.Sorted(maps.Keys(doc.Nodes)) {
		e := doc.Nodes[id]
		if !live[id] {
			continue
		}
		n := 0
		for p, h := range d.entry.Settings {
			if o, ok := e.Settings[p]; ok && o != h && sameKey(o, h) {
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

// sameKey reports whether two hashes can be compared: both public, or
// both drawn from the same KEK ("kek:<ID>:…").
func sameKey(a, b string) bool {
	kekOf := func(h string) string {
		if rest, ok := strings.CutPrefix(h, "kek:"); ok {
			id, _, _ := strings.Cut(rest, ":")
			return id
		}
		return ""
	}
	return kekOf(a) == kekOf(b)
}
