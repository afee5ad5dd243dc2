package setup_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/anomaly"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/setup"
	"github.com/sessiond/sessiond/sqlitestore"
)

// Two clients of one user: the same browser on another network, and
// another browser and OS (a stolen token replayed elsewhere).
var (
	laptop = sessiond.Client{IP: "203.0.113.9", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"}
	thief  = sessiond.Client{IP: "198.51.100.7", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0"}
)

// backend opens the store under test; reopen gives a new handle on the same
// data (a process restart), or the same store where that is all there is.
type backend struct {
	name string
	open func(t *testing.T) (first sessiond.Store, reopen func(t *testing.T) sessiond.Store)
}

func backends() []backend {
	return []backend{
		{"memstore", func(t *testing.T) (sessiond.Store, func(*testing.T) sessiond.Store) {
			st := memstore.New()
			return st, func(*testing.T) sessiond.Store { return st }
		}},
		{"sqlitestore", func(t *testing.T) (sessiond.Store, func(*testing.T) sessiond.Store) {
			path := filepath.Join(t.TempDir(), "sessions.db")
			open := func(t *testing.T) sessiond.Store {
				st, err := sqlitestore.New(context.Background(), path, sqlitestore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			return open(t), open
		}},
	}
}

func newManager(t *testing.T, st sessiond.Store, opts setup.Options) *sessiond.Manager {
	t.Helper()
	m, err := setup.New(context.Background(), st, opts)
	if err != nil {
		t.Fatalf("setup.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func create(t *testing.T, m *sessiond.Manager, c sessiond.Client) *sessiond.Issued {
	t.Helper()
	iss, err := m.Create(context.Background(), "user-42", sessiond.CreateOptions{Client: c})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return iss
}

// TestNew_Defaults: with a store alone, New gives the hybrid strategy on
// the b2c lifetimes, tokens of both kinds, and a working login cycle.
func TestNew_Defaults(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st, _ := b.open(t)
			m := newManager(t, st, setup.Options{})
			b2c, _ := sessiond.Preset(sessiond.PresetB2C)
			if m.Strategy() != sessiond.StrategyHybrid || m.Lifetimes() != b2c {
				t.Fatalf("Strategy %q, Lifetimes %+v; want hybrid on b2c", m.Strategy(), m.Lifetimes())
			}
			iss := create(t, m, laptop)
			if strings.Count(string(iss.AccessToken), ".") != 2 || iss.RefreshToken == "" {
				t.Fatalf("Create: want a JWT access token and a refresh token")
			}
			if _, err := m.Verify(context.Background(), iss.AccessToken, laptop); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if _, err := m.Refresh(context.Background(), iss.RefreshToken, laptop); err != nil {
				t.Fatalf("Refresh: %v", err)
			}
		})
	}
}

// TestNew_TokensSurviveRestart: the signing keys persist in the store, so
// a new Manager (on a reopened store, for SQLite) verifies and refreshes
// tokens issued before the restart.
func TestNew_TokensSurviveRestart(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st, reopen := b.open(t)
			m1, err := setup.New(context.Background(), st, setup.Options{})
			if err != nil {
				t.Fatal(err)
			}
			iss := create(t, m1, laptop)
			m1.Close()

			m2 := newManager(t, reopen(t), setup.Options{})
			s, err := m2.Verify(context.Background(), iss.AccessToken, laptop)
			if err != nil || s.ID != iss.Session.ID {
				t.Fatalf("Verify after restart = %v; want the session", err)
			}
			if _, err := m2.Refresh(context.Background(), iss.RefreshToken, laptop); err != nil {
				t.Fatalf("Refresh after restart: %v", err)
			}
		})
	}
}

// TestNew_ManagersShareKeys: two Managers on one store verify each
// other's tokens; a Manager on another store verifies neither.
func TestNew_ManagersShareKeys(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st, _ := b.open(t)
			a := newManager(t, st, setup.Options{})
			c := newManager(t, st, setup.Options{})
			other, _ := b.open(t)
			stranger := newManager(t, other, setup.Options{})
			ctx := context.Background()
			fromA, fromC := create(t, a, laptop), create(t, c, laptop)
			if _, err := c.Verify(ctx, fromA.AccessToken, laptop); err != nil {
				t.Errorf("token of A on C: %v", err)
			}
			if _, err := a.Verify(ctx, fromC.AccessToken, laptop); err != nil {
				t.Errorf("token of C on A: %v", err)
			}
			if _, err := stranger.Verify(ctx, fromA.AccessToken, laptop); !errors.Is(err, sessiond.ErrInvalidToken) {
				t.Errorf("token of A on another store's Manager = %v; want ErrInvalidToken", err)
			}
		})
	}
}

// TestNew_AnomalyDetectionByDefault: a refresh from another browser and OS
// (refresh_device_change, revoke by default) revokes the session; with
// NoAnomalies the same refresh succeeds.
func TestNew_AnomalyDetectionByDefault(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			for _, c := range []struct {
				name    string
				opts    setup.Options
				wantErr error
			}{
				{"Default", setup.Options{}, sessiond.ErrRevoked},
				{"NoAnomalies", setup.Options{NoAnomalies: true}, nil},
				{"OwnActions", setup.Options{Anomaly: anomaly.Options{Actions: map[anomaly.Rule]anomaly.Action{anomaly.RuleIPChange: anomaly.ActionLog}}}, nil},
			} {
				t.Run(c.name, func(t *testing.T) {
					st, _ := b.open(t)
					m := newManager(t, st, c.opts)
					iss := create(t, m, laptop)
					if _, err := m.Refresh(ctx, iss.RefreshToken, thief); !errors.Is(err, c.wantErr) {
						t.Fatalf("Refresh from another device = %v; want %v", err, c.wantErr)
					}
				})
			}
		})
	}
}

// TestNew_IPChangeFlagged: a refresh from another network with the same
// browser is recorded as ip_change and, being a refresh from another
// device, revokes the session (the server's defaults too); a refresh from
// the same network records nothing.
func TestNew_IPChangeFlagged(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := b.open(t)
			events := &sessiondtest.Events{}
			m := newManager(t, st, setup.Options{Manager: sessiond.Options{Events: events}})
			iss := create(t, m, laptop)
			next, err := m.Refresh(ctx, iss.RefreshToken, sessiond.Client{IP: "203.0.113.77", UserAgent: laptop.UserAgent})
			if err != nil || events.Count(sessiond.EventAnomaly) != 0 {
				t.Fatalf("Refresh from the same /24 = %v with %d anomaly events; want success, none", err, events.Count(sessiond.EventAnomaly))
			}
			moved := sessiond.Client{IP: thief.IP, UserAgent: laptop.UserAgent}
			if _, err := m.Refresh(ctx, next.RefreshToken, moved); !errors.Is(err, sessiond.ErrRevoked) {
				t.Fatalf("Refresh from another network = %v; want ErrRevoked", err)
			}
			var rules []string
			for _, e := range events.All() {
				if e.Type == sessiond.EventAnomaly {
					rules = append(rules, fmt.Sprint(e.Details["rule"]))
				}
			}
			if !slices.Contains(rules, string(anomaly.RuleIPChange)) || !slices.Contains(rules, string(anomaly.RuleRefreshDeviceChange)) {
				t.Fatalf("anomaly events %v; want ip_change and refresh_device_change", rules)
			}
		})
	}
}

// checker records that the Manager consulted it.
type checker struct{ calls int }

func (c *checker) Check(time.Time, sessiond.AnomalyStage, sessiond.SessionID, sessiond.Client, sessiond.Client) []sessiond.Anomaly {
	c.calls++
	return nil
}

// TestNew_Overrides: whatever Options set is used instead of the default.
func TestNew_Overrides(t *testing.T) {
	ctx := context.Background()
	t.Run("StrategyAndLifetimes", func(t *testing.T) {
		b2b, _ := sessiond.Preset(sessiond.PresetB2B)
		m := newManager(t, memstore.New(), setup.Options{Manager: sessiond.Options{Strategy: sessiond.StrategyDatabase, Lifetimes: b2b}})
		if m.Strategy() != sessiond.StrategyDatabase || m.Lifetimes() != b2b {
			t.Fatalf("Strategy %q, Lifetimes %+v; want database on b2b", m.Strategy(), m.Lifetimes())
		}
		if iss := create(t, m, laptop); strings.Contains(string(iss.AccessToken), ".") {
			t.Fatal("database strategy issued a JWT")
		}
	})
	t.Run("IssuerAudience", func(t *testing.T) {
		st := memstore.New()
		own := newManager(t, st, setup.Options{Issuer: "https://auth.example.com", Audience: "shop"})
		def := newManager(t, st, setup.Options{})
		iss := create(t, own, laptop)
		if _, err := own.Verify(ctx, iss.AccessToken, laptop); err != nil {
			t.Fatal(err)
		}
		if _, err := def.Verify(ctx, iss.AccessToken, laptop); !errors.Is(err, sessiond.ErrInvalidToken) {
			t.Fatalf("token for audience shop on the default audience = %v; want ErrInvalidToken", err)
		}
	})
	t.Run("Signed", func(t *testing.T) {
		ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		codec, err := jwttoken.New(ring, jwttoken.Options{Issuer: "i", Audience: "a"})
		if err != nil {
			t.Fatal(err)
		}
		m := newManager(t, memstore.New(), setup.Options{Manager: sessiond.Options{Signed: codec}})
		iss := create(t, m, laptop)
		if _, err := codec.Verify(sessiond.KindAccess, iss.AccessToken, time.Now()); err != nil {
			t.Fatalf("access token not signed by the given codec: %v", err)
		}
	})
	t.Run("Anomalies", func(t *testing.T) {
		c := &checker{}
		m := newManager(t, memstore.New(), setup.Options{Manager: sessiond.Options{Anomalies: c}})
		iss := create(t, m, laptop)
		if _, err := m.Refresh(ctx, iss.RefreshToken, thief); err != nil {
			t.Fatalf("Refresh with a checker that finds nothing: %v", err)
		}
		if c.calls == 0 {
			t.Fatal("the given AnomalyChecker was not called")
		}
	})
	t.Run("SealedKeys", func(t *testing.T) {
		raw := make([]byte, signing.KEKSize)
		rand.Read(raw)
		kek, err := signing.ParseKEK([]byte(base64.StdEncoding.EncodeToString(raw)))
		if err != nil {
			t.Fatal(err)
		}
		st := memstore.New()
		newManager(t, st, setup.Options{Keys: signing.Options{KEK: kek}})
		if _, err := setup.New(ctx, st, setup.Options{}); !errors.Is(err, signing.ErrKEKRequired) {
			t.Fatalf("New without the KEK of a sealed ring = %v; want ErrKEKRequired", err)
		}
	})
}

// TestNew_BadOptions: what cannot work fails New, naming the problem.
func TestNew_BadOptions(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		store sessiond.Store
		opts  setup.Options
	}{
		{"NoStore", nil, setup.Options{}},
		{"OnChangeSet", memstore.New(), setup.Options{Keys: signing.Options{OnChange: func(bool) {}}}},
		{"RingTooShort", memstore.New(), setup.Options{Keys: signing.Options{MaxTokenLifetime: time.Minute}}},
		{"BadAnomalyRule", memstore.New(), setup.Options{Anomaly: anomaly.Options{Actions: map[anomaly.Rule]anomaly.Action{"teleport": anomaly.ActionLog}}}},
		{"BadStrategy", memstore.New(), setup.Options{Manager: sessiond.Options{Strategy: "hybird"}}},
		{"LongLeeway", memstore.New(), setup.Options{Leeway: 24 * time.Hour}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := setup.New(ctx, c.store, c.opts)
			if err == nil {
				m.Close()
			}
			if !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Fatalf("New = %v; want ErrInvalidArgument", err)
			}
		})
	}
}

// TestOpen_FailureLeavesRing: an Open that fails on the Manager's options
// (here a leeway over the limit) has already written the key ring, sealed
// with its KEK. Nothing harmful is left: the next Open with the same Keys
// reads that ring back and signs with its key, and one without the KEK is
// refused at once (ErrKEKRequired), as after a start that succeeded.
func TestOpen_FailureLeavesRing(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st, reopen := b.open(t)
			kek := newKEK(t)
			keys := signing.Options{KEK: kek}
			if n, err := setup.Open(ctx, st, setup.Options{Keys: keys, Leeway: 24 * time.Hour}); !errors.Is(err, sessiond.ErrInvalidArgument) {
				if err == nil {
					n.Close()
				}
				t.Fatalf("Open with a 24h leeway = %v; want ErrInvalidArgument", err)
			}
			st = reopen(t)
			left, err := signing.Load(ctx, st.(sessiond.MetaStore), signing.Options{KEK: kek, MaxTokenLifetime: time.Hour})
			if err != nil {
				t.Fatalf("Load after the failed Open = %v; want the ring it wrote", err)
			}
			leftDoc, err := left.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := setup.Open(ctx, st, setup.Options{}); !errors.Is(err, signing.ErrKEKRequired) {
				t.Errorf("Open without the KEK = %v; want ErrKEKRequired", err)
			}
			n := openNode(t, st, setup.Options{Keys: keys})
			iss := create(t, n.Manager, laptop)
			if kid := kidOf(t, iss.AccessToken); !slices.Equal(kids(t, leftDoc), []string{kid}) {
				t.Errorf("the next Open signs with %s; the failed one left %v", kid, kids(t, leftDoc))
			}
		})
	}
}

// TestNew_StoreWithoutMeta: a store that cannot share keys still gets a
// working Manager, with a warning in the log saying tokens are per process.
func TestNew_StoreWithoutMeta(t *testing.T) {
	var log bytes.Buffer
	st := struct{ sessiond.Store }{memstore.New()} // hides MetaStore
	m := newManager(t, st, setup.Options{Manager: sessiond.Options{Logger: slog.New(slog.NewTextHandler(&log, nil))}})
	iss := create(t, m, laptop)
	if _, err := m.Verify(context.Background(), iss.AccessToken, laptop); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "level=WARN") || !strings.Contains(log.String(), "MetaStore") {
		t.Fatalf("no warning about per-process keys; log:\n%s", log.String())
	}
}

// TestNew_RotatesKeysByDefault: as the server does by default
// (jwt.key_rotation_interval 720h; the validator warns when it is zero),
// the ring schedules a new signing key once the signer is
// DefaultRotateEvery old; a negative RotateEvery never rotates.
func TestNew_RotatesKeysByDefault(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name   string
		every  time.Duration
		rotate bool
	}{
		{"Default", 0, true},
		{"Never", -1, false},
		{"Own", 48 * time.Hour, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := sessiondtest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			n := openNode(t, memstore.New(), setup.Options{
				Manager: sessiond.Options{Clock: clock},
				Keys:    signing.Options{RotateEvery: c.every},
			})
			every := cmp.Or(max(c.every, 0), setup.DefaultRotateEvery)
			clock.Advance(every - time.Minute)
			if err := n.Keys.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
			if got := len(n.Keys.Ring().Keys()); got != 1 {
				t.Fatalf("keys before the signer is %s old = %d; want 1", every, got)
			}
			clock.Advance(time.Minute)
			if err := n.Keys.Maintain(ctx); err != nil {
				t.Fatal(err)
			}
			if got := len(n.Keys.Ring().Keys()) == 2; got != c.rotate {
				t.Fatalf("a key scheduled once the signer is %s old: %v; want %v (keys %+v)", every, got, c.rotate, n.Keys.Ring().Keys())
			}
		})
	}
}
