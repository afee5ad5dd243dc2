package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/sqlitestore"
)

// queryCounter is an event log that counts the queries reaching it.
type queryCounter struct {
	sessiond.EventLog
	queries atomic.Int64
}

func (c *queryCounter) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	c.queries.Add(1)
	return c.EventLog.QueryEvents(ctx, q)
}

// eventLogs opens each store sessiond ships as an event log.
var eventLogs = []struct {
	name string
	open func(t *testing.T) sessiond.EventLog
}{
	{"memstore", func(t *testing.T) sessiond.EventLog { return memstore.New() }},
	{"sqlitestore", func(t *testing.T) sessiond.EventLog {
		st, err := sqlitestore.New(t.Context(), filepath.Join(t.TempDir(), "sessiond.db"), sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"pgstore", func(t *testing.T) sessiond.EventLog {
		dsn := sessiondtest.RequireEnv(t, "SESSIOND_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
		schema := testenv.PostgresSchema(t, dsn, "httpapi_cursor_") // dropped after the store closes
		st, err := pgstore.New(context.Background(), dsn, pgstore.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"redisstore", func(t *testing.T) sessiond.EventLog {
		u := sessiondtest.RequireEnv(t, "SESSIOND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
		prefix := testenv.UniqueName("httpapicursor")
		t.Cleanup(func() { testenv.DeleteRedisPrefix(t, u, prefix) }) // after the store closes
		st, err := redisstore.New(context.Background(), u, redisstore.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
}

// TestEvents_Cursor: every next_cursor a store hands out is taken back,
// whichever store it is, and paging with it walks the whole log once; a
// cursor no page could have given is refused with 400 before it reaches
// the store.
func TestEvents_Cursor(t *testing.T) {
	for _, tc := range eventLogs {
		t.Run(tc.name, func(t *testing.T) {
			log := &queryCounter{EventLog: tc.open(t)}
			e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.Events = log })

			// Two events in one microsecond: their IDs differ in the
			// random half only.
			at := []time.Duration{0, 0, time.Microsecond, time.Second, time.Minute, time.Hour, 25 * time.Hour}
			var want []string
			for i, d := range at {
				tm := t0.Add(d)
				ev := sessiond.Event{ID: sessiond.NewEventID(tm), Time: tm, Type: sessiond.EventSessionCreated, Subject: "alice",
					Details: map[string]any{"n": i}}
				if err := log.AppendEvents(t.Context(), ev); err != nil {
					t.Fatal(err)
				}
				want = append(want, ev.ID)
			}
			slices.Sort(want)

			var got []string
			cursor := ""
			for page := 0; ; page++ {
				if page > len(want) {
					t.Fatalf("no end after %d pages: %v", page, got)
				}
				q := url.Values{"limit": {"2"}}
				if cursor != "" {
					q.Set("cursor", cursor)
				}
				r := e.do(http.MethodGet, "/v1/events?"+q.Encode(), "", nil, nil)
				if r.status != http.StatusOK {
					t.Fatalf("page %d (cursor %q) = %d %s; want 200: a store's own cursor was refused", page, cursor, r.status, r.body)
				}
				var p struct {
					Events []struct {
						ID string `json:"id"`
					} `json:"events"`
					NextCursor *string `json:"next_cursor"`
				}
				if err := json.Unmarshal(r.body, &p); err != nil {
					t.Fatal(err)
				}
				for _, ev := range p.Events {
					got = append(got, ev.ID)
				}
				if p.NextCursor == nil {
					break
				}
				cursor = *p.NextCursor
			}
			if !slices.Equal(got, want) {
				t.Errorf("paged through %v; want %v", got, want)
			}

			before := log.queries.Load()
			valid := want[0]
			for _, c := range []string{
				"a", // sorts before every ID: the whole log
				"0",
				"evt_",
				"evt",
				valid[:len(valid)-1],
				valid + "0",
				strings.ToUpper(valid),
				"evt_" + strings.ToUpper(valid[4:]),
				valid[:len(valid)-1] + "w", // not base32hex
				valid[:len(valid)-1] + "1", // bits set past the ID's 16 bytes: a second spelling
				"evx_" + valid[4:],
				"msg_" + valid[4:],
				"evt_" + strings.Repeat("-", 26),
				"evt_" + strings.Repeat("z", 26),
			} {
				r := e.do(http.MethodGet, "/v1/events?cursor="+url.QueryEscape(c), "", nil, nil)
				wantProblem(t, "cursor "+c, r, http.StatusBadRequest, "invalid_request", "cursor")
			}
			if n := log.queries.Load() - before; n != 0 {
				t.Errorf("%d malformed cursors reached the store; want none", n)
			}
		})
	}
}
