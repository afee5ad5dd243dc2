package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/jwttoken"
)

// SigningKeys is what the console needs of the server's signing keys
// (jwttoken/signing.Keys): rotate, and the ring to list.
type SigningKeys interface {
	Rotate(ctx context.Context) error
	Ring() *jwttoken.KeyRing
}

type keysView struct {
	Signing   []jwttoken.KeyInfo
	HasSigner bool
	APIKeys   []apikey.Key
	Scopes    []apikey.Scope
	Created   string // the new key's secret, shown once
	CreatedID string
}

func (c *Console) keysView() keysView {
	v := keysView{Scopes: apikey.Scopes, HasSigner: c.o.Signing != nil}
	if c.o.Signing != nil {
		v.Signing = c.o.Signing.Ring().Keys()
	}
	return v
}

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	c.renderKeys(w, r, key, http.StatusOK, c.keysView(), "", "")
}

func (c *Console) renderKeys(w http.ResponseWriter, r *http.Request, key apikey.Key, status int, v keysView, errMsg, notice string) {
	list, err := c.o.Keys.List(r.Context())
	if err != nil {
		c.logReadFailure(r.Context(), "console: list API keys", err)
		errMsg, status = "Listing API keys failed; see the server log.", http.StatusServiceUnavailable
	}
	v.APIKeys = list
	if r.Method == http.MethodPost {
		// htmx puts a boosted form's answer in the history under the
		// form's action, which answers GET with 405: Back or a reload
		// after creating, revoking or rotating showed "Method Not
		// Allowed". Under /console/keys they show the keys (a new key's
		// secret not again).
		w.Header().Set("HX-Push-Url", Prefix+"/keys")
	}
	c.pages.render(w, r, status, "keys", pageData{Title: "Keys", Nav: "keys", Operator: operatorName(key), Data: v, Error: errMsg, Notice: notice})
}

// keyRevokeTimeout bounds the revocation of a key whose creation failed
// with its outcome unknown (createAPIKey).
const keyRevokeTimeout = 30 * time.Second

// keyNotReceived is the reason of the api_key.revoked event of such a key,
// as apikey create and the API record it.
const keyNotReceived = "not_received"

// createAPIKey makes a key with the scopes ticked; its secret is shown on
// this one response only (no-store) and never again.
func (c *Console) createAPIKey(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	v := c.keysView()
	if err := r.ParseForm(); err != nil {
		c.renderKeys(w, r, key, http.StatusBadRequest, v, "The form could not be read.", "")
		return
	}
	// The CLI's and the API's rule (apikey.CheckName): a format character
	// (U+200B, U+202E) would reach events and webhooks unseen.
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if apikey.CheckName(name) != nil {
		c.renderKeys(w, r, key, http.StatusBadRequest, v, "A key needs a name of 1 to 64 bytes of printable text: "+
			"no control, format (such as U+200B or U+202E) or line-separator characters.", "")
		return
	}
	scopes, err := apikey.ParseScopes(r.PostForm["scope"]...)
	if err != nil || len(scopes) == 0 {
		c.renderKeys(w, r, key, http.StatusBadRequest, v, "Tick at least one known scope.", "")
		return
	}
	secret, k, recorded, err := c.o.Keys.CreateRecorded(r.Context(), c.keyRecorder(key), name, scopes...)
	if err != nil && k.ID != "" {
		// The write failed with its outcome unknown (a timeout, a lost
		// answer): it may be stored, or land later, and nobody is shown
		// the secret. Recorded revoked, whatever the browser does
		// meanwhile (apikey.RevokeUnreceived). The event log gets its
		// creation before its revocation (reason not_received), as
		// apikey create records it: never a key revoked it never showed
		// created. Recorded past a browser gone, as the revocation is.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), keyRevokeTimeout)
		defer cancel()
		rr := r.WithContext(ctx)
		created := map[string]any{"key_id": k.ID, "name": k.Name, "scopes": apikey.Join(k.Scopes), "by": key.ID, "via": "console"}
		_, changed, revokeRecorded, rerr := c.o.Keys.RevokeUnreceivedRecorded(ctx, c.keyRecorder(key), k)
		if rerr != nil {
			// The key may be live (its write may land): the log must not
			// lose it, and the operator is told which key to revoke.
			created["revocation"] = "failed"
			_ = c.record(rr, sessiond.Event{Type: sessiond.EventAPIKeyCreated, Details: created})
			c.logWriteFailure(r.Context(), "console: create API key", fmt.Errorf("%w; key %s may have been stored, and revoking it failed too: %w", err, k.ID, rerr),
				"by", key.ID, "name", name, "key_id", k.ID)
			c.renderKeys(w, r, key, http.StatusServiceUnavailable, v, "Creating the key failed, and key "+k.ID+
				" may have been stored all the same: revoking it failed too. Revoke it once the store answers (sessiond apikey revoke "+
				k.ID+", or DELETE /v1/api-keys/"+k.ID+").", "")
			return
		}
		if !revokeRecorded {
			_ = c.record(rr, sessiond.Event{Type: sessiond.EventAPIKeyCreated, Details: created})
			if changed {
				_ = c.record(rr, sessiond.Event{Type: sessiond.EventAPIKeyRevoked, Details: map[string]any{"key_id": k.ID, "by": key.ID, "via": "console",
					"reason": keyNotReceived}})
			}
		}
	}
	if err != nil {
		status, msg := http.StatusServiceUnavailable, "Creating the key failed; see the server log."
		if errors.Is(err, sessiond.ErrInvalidArgument) {
			status, msg = http.StatusBadRequest, "The key was refused: check its name and scopes."
		} else {
			c.logWriteFailure(r.Context(), "console: create API key", err, "by", key.ID, "name", name)
		}
		c.renderKeys(w, r, key, status, v, msg, "")
		return
	}
	c.log.InfoContext(r.Context(), "console: API key created", "by", key.ID, "key_id", k.ID, "scopes", scopes)
	if !recorded {
		_ = c.record(r, keyEvent(apikey.Change{Action: apikey.ActionCreated, Key: k}, key))
	}
	v.Created, v.CreatedID = string(secret), k.ID
	c.renderKeys(w, r, key, http.StatusOK, v, "", "")
}

func (c *Console) revokeAPIKey(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	v := c.keysView()
	if err := r.ParseForm(); err != nil || r.PostForm.Get("id") == "" || len(r.PostForm.Get("id")) > 64 {
		c.renderKeys(w, r, key, http.StatusBadRequest, v, "The form was incomplete or malformed.", "")
		return
	}
	id := r.PostForm.Get("id")
	// One click cut off every application using the key: it is revoked
	// only with the word typed on the confirmation page.
	if r.PostForm.Get("confirm") != Confirmation {
		c.confirmRevokeAPIKey(w, r, key, v, id)
		return
	}
	// An ID no key has is written all the same, as apikey revoke does
	// (RevokeOrFence): a create of it whose write gave up must not land
	// after this answer.
	found, changed, recorded, err := c.o.Keys.RevokeOrFenceRecorded(r.Context(), c.keyRecorder(key), id)
	if err == nil && !found {
		err = fmt.Errorf("console: revoke %q: %w", id, sessiond.ErrNotFound)
	}
	if err != nil {
		status, msg := http.StatusServiceUnavailable, "Revoking the key failed; see the server log."
		if errors.Is(err, sessiond.ErrNotFound) {
			status, msg = http.StatusNotFound, "There is no such key."
		} else {
			c.logWriteFailure(r.Context(), "console: revoke API key", err, "by", key.ID, "key_id", id)
		}
		c.renderKeys(w, r, key, status, v, msg, "")
		return
	}
	if changed { // a key revoked already (a second click) is recorded once
		c.log.InfoContext(r.Context(), "console: API key revoked", "by", key.ID, "key_id", id)
		if !recorded {
			_ = c.record(r, sessiond.Event{Type: sessiond.EventAPIKeyRevoked, Details: map[string]any{"key_id": id, "by": key.ID, "via": "console"}})
		}
	}
	if id == key.ID { // the operator revoked their own key: the console session ends with it
		_ = c.logout(w, r)
		http.Redirect(w, r, Prefix+"/signin", http.StatusSeeOther)
		return
	}
	c.renderKeys(w, r, key, http.StatusOK, v, "", "API key "+id+" revoked.")
}

// confirmRevokeAPIKey shows the key that revoking would cut off and asks
// for Confirmation typed; a word typed wrong comes back refused (400).
func (c *Console) confirmRevokeAPIKey(w http.ResponseWriter, r *http.Request, key apikey.Key, v keysView, id string) {
	k, err := c.o.Keys.Get(r.Context(), id)
	if errors.Is(err, sessiond.ErrNotFound) {
		// "No such key" is an answer the operator acts on, so it is
		// fenced as the confirmed step is: a create of id whose write
		// gave up must not land after it. Fence revokes nothing: a key
		// that landed meanwhile is asked about below, as any other.
		found, ferr := c.o.Keys.Fence(r.Context(), id)
		switch {
		case ferr != nil:
			c.logWriteFailure(r.Context(), "console: revoke API key", ferr, "by", key.ID, "key_id", id)
			c.renderKeys(w, r, key, http.StatusServiceUnavailable, v, "Checking the key failed; see the server log.", "")
			return
		case !found:
			c.renderKeys(w, r, key, http.StatusNotFound, v, "There is no such key.", "")
			return
		}
		k, err = c.o.Keys.Get(r.Context(), id)
	}
	switch {
	case err != nil:
		c.logReadFailure(r.Context(), "console: read API key", err)
		c.renderKeys(w, r, key, http.StatusServiceUnavailable, v, "Reading the key failed; see the server log.", "")
		return
	case !k.RevokedAt.IsZero():
		c.renderKeys(w, r, key, http.StatusOK, v, "", "API key "+k.ID+" is revoked already.")
		return
	}
	scopes := apikey.Join(k.Scopes)
	if scopes == "" {
		scopes = "none recorded (read as admin)"
	}
	cv := confirmView{
		Heading: "Revoke API key " + k.ID + "?",
		Lines: []string{"Name: " + inline(k.Name) + ". Scopes: " + scopes + ". Created " + when(k.CreatedAt) + ".",
			"Every application and service that uses this key is refused from its next request. Revoking cannot be undone: they need a new key."},
		Action: Prefix + "/keys/revoke", Hidden: []field{{"id", k.ID}},
		Typed: Confirmation, Button: "Revoke API key " + k.ID, Cancel: Prefix + "/keys",
	}
	if k.ID == key.ID {
		cv.Lines = append(cv.Lines, "It is the key you signed in with: revoking it also signs you out of the console.")
	}
	d := pageData{Title: "Keys", Nav: "keys", Operator: operatorName(key)}
	status := http.StatusOK
	if r.PostForm.Has("confirm") {
		cv.Refused, status = true, http.StatusBadRequest
		d.Error = "Type " + Confirmation + " to confirm: the key was not revoked."
	}
	c.renderConfirm(w, r, status, d, cv)
}

func (c *Console) rotateSigning(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	v := c.keysView()
	if c.o.Signing == nil {
		c.renderKeys(w, r, key, http.StatusNotImplemented, v, "This strategy signs nothing: there are no signing keys.", "")
		return
	}
	if err := c.o.Signing.Rotate(r.Context()); err != nil {
		c.logWriteFailure(r.Context(), "console: rotate signing keys", err, "by", key.ID)
		c.renderKeys(w, r, key, http.StatusServiceUnavailable, v, "Rotating failed; see the server log.", "")
		return
	}
	c.log.InfoContext(r.Context(), "console: signing key rotation scheduled", "by", key.ID)
	_ = c.record(r, sessiond.Event{Type: sessiond.EventKeysRotated, Details: map[string]any{"by": key.ID, "via": "console"}})
	c.renderKeys(w, r, key, http.StatusOK, c.keysView(), "", "A new signing key is published; it signs once every verifier can know it.")
}

// EventRecorder writes an event with the change it records: Prepare
// returns e as it is to be stored and the records to write with the
// change (the event, its webhook deliveries), ok false when they cannot
// go with it; Committed tells that the change carrying them is committed.
// The server's event fan-out implements it.
type EventRecorder interface {
	Prepare(ctx context.Context, e sessiond.Event) (_ sessiond.Event, _ sessiond.ChangeRecords, ok bool)
	Committed(ctx context.Context, e sessiond.Event)
}

// keyRecorder is the apikey.Recorder of the changes operator makes, nil
// without Options.KeyEvents or Record (the events then go to Record after
// the change, or nowhere).
func (c *Console) keyRecorder(operator apikey.Key) apikey.Recorder {
	if c.o.KeyEvents == nil || c.o.Record == nil {
		return nil
	}
	return consoleKeyRecorder{events: c.o.KeyEvents, operator: operator}
}

type consoleKeyRecorder struct {
	events   EventRecorder
	operator apikey.Key
}

func (r consoleKeyRecorder) Prepare(ctx context.Context, ch apikey.Change) (sessiond.Event, sessiond.ChangeRecords, bool) {
	e := keyEvent(ch, r.operator)
	if e.Type == "" {
		return e, sessiond.ChangeRecords{}, false
	}
	return r.events.Prepare(ctx, e)
}

func (r consoleKeyRecorder) Committed(ctx context.Context, e sessiond.Event) {
	r.events.Committed(ctx, e)
}

// keyEvent is the event of ch made on the console by operator, as record
// has always been given it; no type for an action the console does not
// make.
func keyEvent(ch apikey.Change, operator apikey.Key) sessiond.Event {
	k := ch.Key
	switch ch.Action {
	case apikey.ActionCreated:
		return sessiond.Event{Type: sessiond.EventAPIKeyCreated, Details: map[string]any{"key_id": k.ID, "name": k.Name,
			"scopes": apikey.Join(k.Scopes), "by": operator.ID, "via": "console"}}
	case apikey.ActionRevoked:
		return sessiond.Event{Type: sessiond.EventAPIKeyRevoked, Details: map[string]any{"key_id": k.ID, "by": operator.ID, "via": "console"}}
	case apikey.ActionNotReceived:
		return sessiond.Event{Type: sessiond.EventAPIKeyRevoked, Details: map[string]any{"key_id": k.ID, "by": operator.ID, "via": "console",
			"reason": keyNotReceived}}
	}
	return sessiond.Event{}
}

// record sends an event of a console action to Options.Record, if set,
// and logs and returns the error if the event was not stored. Only a
// sign-in acts on it; the other actions are done by then.
func (c *Console) record(r *http.Request, e sessiond.Event) error {
	if c.o.Record == nil {
		return nil
	}
	err := c.o.Record(r.Context(), e)
	if err != nil {
		c.log.ErrorContext(r.Context(), "console: record event", "type", string(e.Type), "err", err)
	}
	return err
}
