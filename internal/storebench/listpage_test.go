package storebench

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/testenv"
)

// BenchmarkListSessionsHuge: what one request for the sessions of one
// subject with SESSIOND_BENCH_SUBJECT_SESSIONS live sessions (4 KB of
// claims each, created a microsecond apart) costs the node, the HTTP
// round trip in process included (the client discards the body as it
// reads it): GET /v1/subjects/{subject}/sessions
// without limit (every session, as before paging), with limit=100 and
// limit=1000 (the first page; "next" a page from the cursor of the first
// of 1000), and the console's sessions page, unfiltered (one page of 100)
// and under an IP filter that matches none (the walk reads its budget of
// 1,000 sessions). Run one store at a time: -bench 'ListSessionsHuge/sqlite'.
func BenchmarkListSessionsHuge(b *testing.B) {
	n := hugeSessions(b)
	for label, newStore := range hugeStores(b) {
		b.Run(label, func(b *testing.B) {
			st := newStore(b)
			meta, ok := st.(sessiond.MetaStore)
			if !ok {
				b.Skip("not a MetaStore (the console's API keys)")
			}
			now := time.Now().UTC().Truncate(time.Microsecond)
			createSpread(b, st, "huge-subject", n, now)
			m := manager(b, sessiond.StrategyDatabase, st)
			ctx := context.Background()

			h, err := httpapi.New(httpapi.Options{Manager: m, Authenticate: func(context.Context, sessiond.Secret) (apikey.Key, error) {
				return apikey.Key{ID: "bench", Scopes: []apikey.Scope{apikey.ScopeAdmin}}, nil
			}})
			if err != nil {
				b.Fatal(err)
			}
			api := httptest.NewServer(h)
			b.Cleanup(api.Close)
			get := func(b *testing.B, c *http.Client, u string, header map[string]string, keep bool) ([]byte, int) {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
				if header == nil { // the API's
					req.Header.Set("Authorization", "Bearer k")
				}
				for k, v := range header {
					req.Header.Set(k, v)
				}
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					body, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
					b.Fatalf("GET %s = %d %s", u, resp.StatusCode, body)
				}
				if keep {
					body, _ := io.ReadAll(resp.Body)
					return body, len(body)
				}
				// The client's copy would count as the node's allocations.
				n, _ := io.Copy(io.Discard, resp.Body)
				return nil, int(n)
			}
			path := api.URL + "/v1/subjects/huge-subject/sessions"
			var first struct {
				NextCursor string `json:"next_cursor"`
			}
			body, _ := get(b, api.Client(), path+"?limit=1000", nil, true)
			if err := json.Unmarshal(body, &first); err != nil || first.NextCursor == "" {
				b.Fatalf("the first page of 1000: cursor %q, %v", first.NextCursor, err)
			}
			for _, tc := range []struct{ label, query string }{
				{"api/all", ""},
				{"api/limit=100", "?limit=100"},
				{"api/limit=1000", "?limit=1000"},
				{"api/limit=1000/next", "?limit=1000&cursor=" + url.QueryEscape(first.NextCursor)},
			} {
				b.Run(tc.label, func(b *testing.B) {
					b.ReportAllocs()
					var size int
					for b.Loop() {
						_, size = get(b, api.Client(), path+tc.query, nil, false)
					}
					b.ReportMetric(float64(size)/(1<<20), "body-MB")
				})
			}

			keys := apikey.New(meta, nil, time.Second)
			admin, _, err := keys.Create(ctx, "bench", apikey.ScopeAdmin)
			if err != nil {
				b.Fatal(err)
			}
			con, err := console.New(ctx, console.Options{Manager: m, Keys: keys})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { con.Close() })
			srv := httptest.NewTLSServer(con)
			b.Cleanup(srv.Close)
			c, _ := testenv.CookieClient(srv.Client())
			same := map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": srv.URL, "Accept": "text/html"}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/console/signin", strings.NewReader(url.Values{"api_key": {string(admin)}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range same {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil || resp.StatusCode != http.StatusSeeOther {
				b.Fatalf("console sign-in: %v %v", resp, err)
			}
			resp.Body.Close()
			for _, tc := range []struct{ label, query string }{
				{"console", "subject=huge-subject"},
				{"console/filtered", "subject=huge-subject&ip=192.0.2.1"},
			} {
				b.Run(tc.label, func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						get(b, c, srv.URL+"/console/sessions?"+tc.query, same, false)
					}
				})
			}
		})
	}
}
