package server_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// pushedTo is a push endpoint that keeps, per session ID, the
// Authorization header of the session-revoked SET naming it. It reads the
// SET's claims without verifying them: TestSSF_Transmitter verifies.
type pushedTo struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string]string // session ID → Authorization
}

func newPushedTo(t *testing.T) *pushedTo {
	p := &pushedTo{got: map[string]string{}}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		parts := strings.Split(string(body), ".")
		var claims struct {
			SubID struct {
				Session struct {
					ID string `json:"id"`
				} `json:"session"`
			} `json:"sub_id"`
		}
		if len(parts) == 3 {
			b, _ := base64.RawURLEncoding.DecodeString(parts[1])
			_ = json.Unmarshal(b, &claims)
		}
		p.mu.Lock()
		p.got[claims.SubID.Session.ID] = r.Header.Get("Authorization")
		p.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *pushedTo) auth(session string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.got[session]
	return a, ok
}

var byteaHex = regexp.MustCompile(`\\x([0-9a-f]+)`)

// rawStore returns everything the deployment keeps in its namespace of
// PostgreSQL (every row of every table, as text) or Redis (every value of
// every key), for a test to search.
func rawStore(t *testing.T, cfg config.Config) string {
	t.Helper()
	ctx := t.Context()
	var out strings.Builder
	switch cfg.Store.Driver {
	case "postgres":
		conn, err := pgx.Connect(ctx, cfg.Store.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		rows, err := conn.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = $1", cfg.Store.Namespace)
		if err != nil {
			t.Fatal(err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil || len(tables) == 0 {
			t.Fatalf("tables of %s: %v %v", cfg.Store.Namespace, tables, err)
		}
		for _, tb := range tables {
			var s string
			q := "SELECT coalesce(string_agg(x::text, ' '), '') FROM " + pgx.Identifier{cfg.Store.Namespace, tb}.Sanitize() + " x"
			if err := conn.QueryRow(ctx, q).Scan(&s); err != nil {
				t.Fatal(err)
			}
			out.WriteString(s)
			// bytea columns read as \x and hex: add them decoded.
			for _, m := range byteaHex.FindAllStringSubmatch(s, -1) {
				b, _ := hex.DecodeString(m[1])
				out.Write(b)
			}
		}
	case "redis":
		opt, err := rueidis.ParseURL(cfg.Store.DSN)
		if err != nil {
			t.Fatal(err)
		}
		c, err := rueidis.NewClient(opt)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var cursor uint64
		for {
			e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Match(cfg.Store.Namespace+":*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range e.Elements {
				typ, _ := c.Do(ctx, c.B().Type().Key(k).Build()).ToString()
				var vals []string
				switch typ {
				case "string":
					v, _ := c.Do(ctx, c.B().Get().Key(k).Build()).ToString()
					vals = []string{v}
				case "hash":
					vals, _ = c.Do(ctx, c.B().Hvals().Key(k).Build()).AsStrSlice()
				case "list":
					vals, _ = c.Do(ctx, c.B().Lrange().Key(k).Start(0).Stop(-1).Build()).AsStrSlice()
				case "set":
					vals, _ = c.Do(ctx, c.B().Smembers().Key(k).Build()).AsStrSlice()
				case "zset":
					vals, _ = c.Do(ctx, c.B().Zrange().Key(k).Min("0").Max("-1").Build()).AsStrSlice()
				case "stream":
					entries, _ := c.Do(ctx, c.B().Xrange().Key(k).Start("-").End("+").Build()).AsXRange()
					for _, e := range entries {
						for f, v := range e.FieldValues {
							vals = append(vals, f, v)
						}
					}
				}
				out.WriteString(k + " " + strings.Join(vals, " ") + "\n")
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	default:
		t.Fatalf("rawStore: driver %s", cfg.Store.Driver)
	}
	return out.String()
}

// TestSSF_StreamsAcrossNodes: two transmitter nodes on one PostgreSQL or
// Redis store, with a KEK. Node A caches the stream list for an hour, so
// only the store's feed can tell it of a stream created on node B: a
// revocation on A then reaches the new stream. The stream's push
// authorization header is stored sealed (absent in clear from every row or
// key of the deployment), never shown by GET, never logged by either node,
// and still sent with every push.
func TestSSF_StreamsAcrossNodes(t *testing.T) {
	const secretHeader = "Bearer receiver-secret-5f0c2b7e9d8a4163"
	for _, st := range sharedStores(t) {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			cfg := devConfig(t)
			st.configure(t, &cfg)
			cfg.SSF.Transmitter = config.SSFTransmitter{Enabled: true, Issuer: "https://sessiond.example.com"}
			getenv := func(name string) string {
				if name == config.EnvKEK {
					return kekText(5)
				}
				return ""
			}
			logs := &testenv.SyncBuffer{}
			logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			na := start(t, server.Options{Config: cfg, Getenv: getenv, Logger: logger, SSFStreamCache: time.Hour})
			cfgB := cfg
			cfgB.Server.DataDir = t.TempDir()
			nb := start(t, server.Options{Config: cfgB, Getenv: getenv, Logger: logger, SSFStreamCache: time.Hour})
			baseA, baseB := "http://"+na.addr, "http://"+nb.addr

			// A reads the (empty) list on a revocation and caches it.
			first := createSession(t, baseA, "alice")
			if code := apiCall(t, http.MethodDelete, baseA+"/v1/sessions/"+first, "", nil); code != http.StatusNoContent {
				t.Fatalf("revoke = %d", code)
			}

			recv := newPushedTo(t)
			var stream struct {
				ID string `json:"stream_id"`
			}
			body := `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"` + recv.srv.URL + `","authorization_header":"` + secretHeader + `"}}`
			if code := apiCall(t, http.MethodPost, baseB+"/v1/ssf/streams", body, &stream); code != http.StatusCreated || stream.ID == "" {
				t.Fatalf("create stream on B = %d", code)
			}

			// Each round revokes a fresh session on A; one reaches the
			// stream once A has heard of it.
			var reached string
			eventually(t, 20*time.Second, "a revocation on node A reaches the stream created on node B", func() bool {
				if reached != "" {
					_, ok := recv.auth(reached)
					return ok
				}
				id := createSession(t, baseA, "bob")
				if code := apiCall(t, http.MethodDelete, baseA+"/v1/sessions/"+id, "", nil); code != http.StatusNoContent {
					t.Fatalf("revoke = %d", code)
				}
				// Deliveries were decided at the revocation: wait for
				// this one's push before trying another.
				deadline := time.Now().Add(3 * time.Second)
				for time.Now().Before(deadline) {
					if _, ok := recv.auth(id); ok {
						reached = id
						return true
					}
					time.Sleep(20 * time.Millisecond)
				}
				return false
			})
			if got, _ := recv.auth(reached); got != secretHeader {
				t.Errorf("push carried Authorization %q; want the stream's header", got)
			}

			var read map[string]any
			if code := apiCall(t, http.MethodGet, baseA+"/v1/ssf/streams?stream_id="+stream.ID, "", &read); code != http.StatusOK {
				t.Fatalf("read stream = %d", code)
			}
			if b, _ := json.Marshal(read); strings.Contains(string(b), "receiver-secret") || strings.Contains(string(b), "authorization") {
				t.Errorf("GET stream shows the authorization header: %s", b)
			}
			raw := rawStore(t, cfg)
			if strings.Contains(raw, "receiver-secret") {
				t.Error("the store holds the push authorization header in clear")
			}
			if !strings.Contains(raw, stream.ID) || !strings.Contains(raw, "authorization_sealed") {
				t.Error("the store holds no sealed authorization header for the stream; the search above proves nothing")
			}
			if strings.Contains(logs.String(), "receiver-secret") {
				t.Error("a node logged the push authorization header")
			}
		})
	}
}
