package httpsession_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/memstore"
)

// revokeDownStore fails revocations while down is set, as a store that
// cannot be written for a moment.
type revokeDownStore struct {
	*memstore.Store
	down *atomic.Bool
}

func (s revokeDownStore) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) (*sessiond.Session, error) {
	if s.down.Load() {
		return nil, sessiond.ErrStoreUnavailable
	}
	return s.Store.Revoke(ctx, id, at, reason)
}

func (s revokeDownStore) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	if s.down.Load() {
		return nil, false, sessiond.ErrStoreUnavailable
	}
	return s.Store.RevokeRecorded(ctx, id, at, reason, revoked)
}

// A logout whose revocation could not reach the store answers 503 and
// keeps the cookies: expired, they would leave a live session (whoever
// copied its cookies keeps it) with nothing in the browser to end it, and
// the retry the 503 asks for would answer 204 as if signed out.
func TestSessions_Logout_StoreDownKeepsCookies(t *testing.T) {
	down := &atomic.Bool{}
	e := newEnv(t, envOptions{store: revokeDownStore{Store: memstore.New(), down: down}})
	b := e.browser(t)
	b.login("alice")
	at := b.cookie("/", httpsession.DefaultCookieName)
	sess, err := e.m.Verify(context.Background(), sessiond.Secret(at), sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}

	down.Store(true)
	failed := b.do(http.MethodPost, "/logout", nil)
	if failed.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("POST /logout with the store failing = %d; want 503", failed.StatusCode)
	}
	if got := failed.Header.Values("Set-Cookie"); len(got) != 0 || failed.Header.Get("Clear-Site-Data") != "" {
		t.Errorf("a failed logout changed the browser: Set-Cookie %q, Clear-Site-Data %q", got, failed.Header.Get("Clear-Site-Data"))
	}
	down.Store(false)

	// The user retries, as told.
	retry := b.do(http.MethodPost, "/logout", nil)
	if _, err := e.m.Get(context.Background(), sess.ID); err == nil {
		t.Errorf("after a 503 logout and a retry answered %d, session %s is still live server-side (its copied cookie still works: GET /me = %d)",
			retry.StatusCode, sess.ID, e.status(t, http.MethodGet, "/me", "Cookie", httpsession.DefaultCookieName+"="+at))
	}
}
