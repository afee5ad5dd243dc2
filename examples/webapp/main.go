// Command webapp is the sessiond browser demo: a small web app that embeds
// the library (hybrid strategy) with the httpsession middleware and the JS
// client. Demo users alice/wonderland and bob/builder; a protected page;
// "Your devices" with sign-out per device. See README.md beside this file.
//
//	go run ./examples/webapp --insecure-dev-cookies
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sqlitestore"
)

// config is what the flags set.
type config struct {
	listen        string
	insecure      bool
	store         string
	access        time.Duration
	idle          time.Duration
	absolute      time.Duration
	reuse         time.Duration
	refreshBefore time.Duration
	reauthAfter   time.Duration
	testEndpoints bool
	logLevel      slog.Level
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("webapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address to listen on (port 0: any free port, printed on start)")
	fs.BoolVar(&c.insecure, "insecure-dev-cookies", false, "plain-HTTP development: cookies without Secure and without the __Host-/__Secure- prefixes (logged loudly; never in production)")
	fs.StringVar(&c.store, "store", "memory", "session store: memory, or sqlite (in a temporary directory removed on exit)")
	fs.DurationVar(&c.access, "access-ttl", 15*time.Minute, "access token lifetime")
	fs.DurationVar(&c.idle, "idle-timeout", 30*time.Minute, "idle timeout (counted from the last access token's expiry)")
	fs.DurationVar(&c.absolute, "absolute-timeout", 8*time.Hour, "absolute session lifetime")
	fs.DurationVar(&c.reuse, "reuse-interval", 5*time.Second, "how long a just-rotated refresh token is still accepted (negative: never; any reuse revokes the session)")
	fs.DurationVar(&c.refreshBefore, "refresh-before", 5*time.Minute, "the JS client refreshes this long before the access token expires")
	fs.DurationVar(&c.reauthAfter, "reauth-after", 10*time.Minute, "signing other devices out needs a sign-in within this long (sudo mode); older sessions are sent to sign in again")
	fs.BoolVar(&c.testEndpoints, "test-endpoints", false, "expose GET /debug/events (the recorded security events) for the browser tests")
	fs.TextVar(&c.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.store != "memory" && c.store != "sqlite" {
		return c, fmt.Errorf("--store must be memory or sqlite, got %q", c.store)
	}
	if c.access <= 0 || c.idle <= 0 || c.absolute <= 0 || c.reauthAfter <= 0 || c.refreshBefore < 0 {
		return c, errors.New("--access-ttl, --idle-timeout, --absolute-timeout and --reauth-after must be positive, --refresh-before not negative")
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()

	var store sessiond.Store
	switch cfg.store {
	case "sqlite":
		dir, err := os.MkdirTemp("", "sessiond-webapp-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		st, err := sqlitestore.New(ctx, filepath.Join(dir, "sessions.db"), sqlitestore.Options{Logger: log})
		if err != nil {
			return err
		}
		defer st.Close()
		store = st
	default:
		store = memstore.New()
	}

	life := sessiond.Lifetimes{Access: cfg.access, Refresh: 7 * 24 * time.Hour, Idle: cfg.idle, Absolute: cfg.absolute}
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: life.Refresh})
	if err != nil {
		return err
	}
	signed, err := jwttoken.New(ring, jwttoken.Options{Issuer: base, Audience: "sessiond-webapp"})
	if err != nil {
		return err
	}
	events := newEventLog(1000)
	m, err := sessiond.New(ctx, sessiond.Options{
		Strategy:      sessiond.StrategyHybrid,
		Store:         store,
		Signed:        signed,
		Opaque:        opaquetoken.Codec{},
		Lifetimes:     life,
		ReuseInterval: cfg.reuse,
		Events:        events,
		Logger:        log,
	})
	if err != nil {
		return err
	}
	defer m.Close()

	sessions, err := httpsession.New(httpsession.Options{
		Manager:            m,
		InsecureDevCookies: cfg.insecure,
		Unauthenticated:    unauthenticated,
		Logger:             log,
	})
	if err != nil {
		return err
	}
	if !cfg.insecure {
		log.Warn("cookies are Secure with __Host-/__Secure- names: browsers only keep them over HTTPS (or on localhost in some browsers); for plain-HTTP development pass --insecure-dev-cookies")
	}
	users, err := newUsers(map[string]string{"alice": "wonderland", "bob": "builder"})
	if err != nil {
		return err
	}
	a := &app{
		m: m, s: sessions, users: users, events: events, log: log,
		refreshBefore: cfg.refreshBefore, reauthAfter: cfg.reauthAfter, testEndpoints: cfg.testEndpoints,
	}
	srv := &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "webapp: listening on %s (users alice/wonderland, bob/builder)\n", base)
	log.Info("webapp started", "url", base, "store", cfg.store, "access_ttl", cfg.access, "reuse_interval", cfg.reuse,
		"insecure_dev_cookies", cfg.insecure, "test_endpoints", cfg.testEndpoints)
	if cfg.testEndpoints {
		log.Warn("test endpoints enabled: GET /debug/events shows every security event; never in production")
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// unauthenticated sends a page navigation to the sign-in page, saying why
// when a session existed but has ended (revoked from another device, timed
// out) or is too old for what the user asked (signing other devices out):
// a user should not land on a bare sign-in form without a word.
func unauthenticated(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, httpsession.ErrReauthenticationRequired) && strings.Contains(r.Header.Get("Accept"), "text/html"):
		// A form post from the devices page: back there once signed in
		// again. (A script gets the 401 challenge.)
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "/login?reason=reauth&next=%2Fdevices", http.StatusSeeOther)
	case errors.Is(err, sessiond.ErrRevoked), errors.Is(err, sessiond.ErrIdleTimeout),
		errors.Is(err, sessiond.ErrAbsoluteTimeout), errors.Is(err, sessiond.ErrRefreshReused):
		httpsession.RedirectTo("/login?reason=ended")(w, r, err)
	default:
		httpsession.RedirectTo("/login")(w, r, err)
	}
}
