package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// sessionsAnswer is the answer of GET /v1/subjects/{subject}/sessions,
// with the members it has.
type sessionsAnswer struct {
	Sessions []struct {
		ID      sessiond.SessionID `json:"id"`
		Subject string             `json:"subject"`
	} `json:"sessions"`
	NextCursor *string `json:"next_cursor"`
	members    []string
}

func listAnswer(t *testing.T, e *env, target string) sessionsAnswer {
	t.Helper()
	r := e.do(http.MethodGet, target, "", nil, nil)
	if !wantAnswer(t, "GET "+target, r, http.StatusOK, "application/json") {
		t.FailNow()
	}
	var a sessionsAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("GET %s: %v (body %s)", target, err, r.body)
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(r.body, &m)
	for k := range m {
		a.members = append(a.members, k)
	}
	slices.Sort(a.members)
	return a
}

// TestListSessions_Pages: with limit, GET /v1/subjects/{subject}/sessions
// answers pages whose walk returns each of the subject's live sessions
// once, oldest first (memstore's order), with next_cursor on every page
// but the last, where it is absent; without limit the answer is what it
// always was: every live session, oldest first, no next_cursor member.
func TestListSessions_Pages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	var want []sessiond.SessionID
	for i := range 23 {
		e.clock.Advance(time.Millisecond)
		want = append(want, e.create("alice").Session.ID)
		if i%5 == 0 {
			e.create("bob")
		}
	}
	if err := e.m.Revoke(t.Context(), want[4], sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	want = slices.Delete(want, 4, 5)

	whole := listAnswer(t, e, "/v1/subjects/alice/sessions")
	var got []sessiond.SessionID
	for _, s := range whole.Sessions {
		got = append(got, s.ID)
	}
	if !slices.Equal(got, want) || !slices.Equal(whole.members, []string{"sessions"}) {
		t.Errorf("without limit: %d sessions, members %v; want alice's %d live ones oldest first, members [sessions]", len(got), whole.members, len(want))
	}

	// An empty limit is none, as on GET /v1/events.
	if a := listAnswer(t, e, "/v1/subjects/alice/sessions?limit="); len(a.Sessions) != len(want) || !slices.Equal(a.members, []string{"sessions"}) {
		t.Errorf("limit= (empty): %d sessions, members %v; want every one, members [sessions]", len(a.Sessions), a.members)
	}

	for _, limit := range []int{1, 10, 22, 1000} {
		var walked []sessiond.SessionID
		target := "/v1/subjects/alice/sessions?limit=" + itoa(limit)
		pages := 0
		for {
			a := listAnswer(t, e, target)
			pages++
			if len(a.Sessions) > limit {
				t.Fatalf("limit %d: a page of %d sessions", limit, len(a.Sessions))
			}
			for _, s := range a.Sessions {
				if s.Subject != "alice" {
					t.Fatalf("limit %d: a session of %q on alice's page", limit, s.Subject)
				}
				walked = append(walked, s.ID)
			}
			if a.NextCursor == nil {
				if !slices.Equal(a.members, []string{"sessions"}) {
					t.Errorf("limit %d: the last page has members %v; want [sessions] (next_cursor absent)", limit, a.members)
				}
				break
			}
			if *a.NextCursor == "" || pages > len(want)+1 {
				t.Fatalf("limit %d: page %d answered next_cursor %q", limit, pages, *a.NextCursor)
			}
			target = "/v1/subjects/alice/sessions?" + url.Values{"limit": {itoa(limit)}, "cursor": {*a.NextCursor}}.Encode()
		}
		if !slices.Equal(walked, want) {
			t.Errorf("limit %d: walked %d sessions in %d pages; want alice's %d live ones once each, oldest first", limit, len(walked), pages, len(want))
		}
	}
	// An empty cursor is the first page.
	if a := listAnswer(t, e, "/v1/subjects/alice/sessions?limit=2&cursor="); len(a.Sessions) != 2 || a.Sessions[0].ID != want[0] || a.NextCursor == nil {
		t.Errorf("limit=2&cursor=: %+v; want alice's first two sessions and a next_cursor", a)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestListSessions_PageBadInput: a bad limit (0, negative, over 1000, not
// a number, not in its canonical form, given twice), a cursor given twice,
// without limit, malformed, oversized or of another subject's walk is
// refused with 400 invalid_request, and never answers another subject's
// sessions.
func TestListSessions_PageBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	for range 3 {
		e.create("alice")
		e.create("bob")
	}
	first := func(subject string) string {
		a := listAnswer(t, e, "/v1/subjects/"+subject+"/sessions?limit=1")
		if a.NextCursor == nil {
			t.Fatalf("%s's first page has no next_cursor", subject)
		}
		return *a.NextCursor
	}
	alice, bob := first("alice"), first("bob")
	dot := strings.LastIndexByte(alice, '.')
	for _, tc := range []struct{ name, query, detail string }{
		{"limit 0", "limit=0", "limit must be an integer from 1 to 1000"},
		{"limit negative", "limit=-1", "limit must be an integer from 1 to 1000"},
		{"limit over 1000", "limit=1001", "limit must be an integer from 1 to 1000"},
		{"limit not a number", "limit=ten", "limit must be an integer from 1 to 1000"},
		{"limit with a sign", "limit=%2B5", "limit must be an integer from 1 to 1000"},
		{"limit with a leading zero", "limit=05", "limit must be an integer from 1 to 1000"},
		{"limit twice", "limit=5&limit=6", "limit: must be given at most once"},
		{"cursor twice", "limit=5&cursor=" + url.QueryEscape(alice) + "&cursor=" + url.QueryEscape(alice), "cursor: must be given at most once"},
		{"cursor without limit", "cursor=" + url.QueryEscape(alice), "cursor needs limit"},
		{"another subject's cursor", "limit=5&cursor=" + url.QueryEscape(bob), "cursor must be the next_cursor of a previous page of this subject's sessions"},
		{"the cursor without its subject", "limit=5&cursor=" + url.QueryEscape(alice[:dot]), "cursor must be the next_cursor"},
		{"a malformed cursor", "limit=5&cursor=evt_0123", "cursor must be the next_cursor"},
		{"an oversized cursor", "limit=5&cursor=" + strings.Repeat("1", 65), "a query parameter is too long"},
		{"a cursor with a NUL", "limit=5&cursor=" + url.QueryEscape(alice[:dot]+"\x00"+alice[dot+1:]), "cursor must be the next_cursor"},
		{"an unknown parameter", "limit=5&newest=1", "unknown query parameter"},
	} {
		r := e.do(http.MethodGet, "/v1/subjects/alice/sessions?"+tc.query, "", nil, nil)
		wantProblem(t, tc.name, r, http.StatusBadRequest, "invalid_request", tc.detail)
	}
	// The cursors work where they belong.
	for subject, cursor := range map[string]string{"alice": alice, "bob": bob} {
		a := listAnswer(t, e, "/v1/subjects/"+subject+"/sessions?limit=5&cursor="+url.QueryEscape(cursor))
		if len(a.Sessions) != 2 || a.NextCursor != nil {
			t.Errorf("%s's second page: %d sessions, next %v; want the other 2, last", subject, len(a.Sessions), a.NextCursor)
		}
		for _, s := range a.Sessions {
			if s.Subject != subject {
				t.Errorf("%s's second page holds a session of %s", subject, s.Subject)
			}
		}
	}
}

// TestListSessions_PageJWT: the jwt strategy keeps no sessions to page,
// as it keeps none to list.
func TestListSessions_PageJWT(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyJWT, nil)
	for _, q := range []string{"", "?limit=5"} {
		r := e.do(http.MethodGet, "/v1/subjects/alice/sessions"+q, "", nil, nil)
		wantProblem(t, "jwt list"+q, r, http.StatusBadRequest, "invalid_request", "")
	}
}
