package ssf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// Poll defaults.
const (
	DefaultPollInterval  = 30 * time.Second
	DefaultPollMaxEvents = 100
	maxPollResponse      = 8 << 20
)

// PollOptions configure a Poller.
type PollOptions struct {
	// URL is the transmitter's poll endpoint for the stream (RFC 8936).
	URL string
	// Authorization, when set, is sent as the Authorization header
	// ("Bearer …"), as the transmitter's stream management asked.
	Authorization string
	// Interval between polls once the transmitter has nothing more;
	// default DefaultPollInterval.
	Interval time.Duration
	// MaxEvents asked for in one poll; default DefaultPollMaxEvents.
	MaxEvents int
	// HTTPClient polls; default a client with a 30s timeout.
	HTTPClient *http.Client
}

// redacted is o with its Authorization shown as REDACTED (empty when
// none), for the ways PollOptions are printed. The local type keeps the
// name ssf.PollOptions in %#v.
func (o PollOptions) redacted() any {
	type PollOptions struct {
		URL           string
		Authorization string
		Interval      time.Duration
		MaxEvents     int
		HTTPClient    *http.Client
	}
	out := PollOptions{URL: o.URL, Interval: o.Interval, MaxEvents: o.MaxEvents, HTTPClient: o.HTTPClient}
	if o.Authorization != "" {
		out.Authorization = "REDACTED"
	}
	return out
}

// Format prints o with its Authorization as REDACTED, whatever the verb.
func (o PollOptions) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), o.redacted())
}

// LogValue implements slog.LogValuer: o without its Authorization.
func (o PollOptions) LogValue() slog.Value {
	return slog.AnyValue(o.redacted())
}

// Poller fetches SETs for one Receiver from its transmitter's poll
// endpoint (RFC 8936), acts on each as a pushed one, and acknowledges it
// (ack) or reports why it was refused (setErrs) in the next poll. A SET
// the store failed to act upon is neither: the transmitter delivers it
// again. Several nodes may poll one stream: the jti replay record makes a
// SET act once, and a copy seen again is acknowledged.
type Poller struct {
	r *Receiver
	// o is behind a pointer so that printing the Poller shows an address,
	// never PollOptions.Authorization.
	o    *PollOptions
	acks []string
	errs map[string]setErr
}

type setErr struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

type pollRequest struct {
	Ack               []string          `json:"ack,omitempty"`
	SetErrs           map[string]setErr `json:"setErrs,omitempty"`
	MaxEvents         int               `json:"maxEvents"`
	ReturnImmediately bool              `json:"returnImmediately"`
}

type pollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// NewPoller returns a Poller delivering to r.
func (r *Receiver) NewPoller(o PollOptions) (*Poller, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("ssf: poll url is not an absolute http(s) URL")
	}
	if o.Interval <= 0 {
		o.Interval = DefaultPollInterval
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = DefaultPollMaxEvents
	}
	o.HTTPClient = noRedirects(o.HTTPClient, 30*time.Second)
	return &Poller{r: r, o: &o, errs: map[string]setErr{}}, nil
}

// Run polls until ctx ends, at once again while the transmitter has more
// or acknowledgements are owed, else every Interval. Failures are logged.
// On the way out it sends the acknowledgements still owed.
func (p *Poller) Run(ctx context.Context) {
	for {
		more, err := p.Poll(ctx)
		if err != nil && ctx.Err() == nil {
			p.r.o.Logger.WarnContext(ctx, "ssf: poll", "receiver", p.r.o.Name, "err", err)
		}
		if ctx.Err() != nil {
			break
		}
		if more && err == nil {
			continue
		}
		t := time.NewTimer(p.o.Interval)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if len(p.acks)+len(p.errs) > 0 {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := p.exchange(fctx, 0); err != nil {
			p.r.o.Logger.WarnContext(fctx, "ssf: final acknowledgement", "receiver", p.r.o.Name, "err", err)
		}
	}
}

// Poll makes one request: it sends the acknowledgements owed, acts on the
// SETs returned and reports whether the transmitter has more or
// acknowledgements are owed (poll again at once).
func (p *Poller) Poll(ctx context.Context) (bool, error) {
	resp, err := p.exchange(ctx, p.o.MaxEvents)
	if err != nil {
		return false, err
	}
	for jti, set := range resp.Sets {
		out := outcome{delivery: "poll"}
		err := p.r.process(ctx, set, p.r.o.PollMaxAge, &out)
		if out.jti == "" {
			out.jti = jti
		}
		p.r.record(ctx, &out, err)
		var refused *RefusedError
		switch {
		case err == nil, errors.Is(err, ErrReplayed): // acted upon, here or by another node
			p.acks = append(p.acks, jti)
		case errors.As(err, &refused):
			p.errs[jti] = setErr{Err: refused.Code, Description: refused.Reason}
		default: // not acknowledged: the transmitter delivers it again
			p.r.o.Logger.Log(ctx, unavailableLevel(ctx, err), "ssf: polled SET not acted upon", "receiver", p.r.o.Name, "err", err)
		}
	}
	return resp.MoreAvailable || len(p.acks)+len(p.errs) > 0, nil
}

// exchange posts one poll request carrying the acknowledgements owed,
// which are forgotten once the transmitter answered 200.
func (p *Poller) exchange(ctx context.Context, maxEvents int) (pollResponse, error) {
	body, err := json.Marshal(pollRequest{Ack: p.acks, SetErrs: p.errs, MaxEvents: maxEvents, ReturnImmediately: true})
	if err != nil {
		return pollResponse{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.o.URL, bytes.NewReader(body))
	if err != nil {
		return pollResponse{}, errors.New("ssf: poll: cannot build request")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if p.o.Authorization != "" {
		req.Header.Set("Authorization", p.o.Authorization)
	}
	res, err := p.o.HTTPClient.Do(req)
	if err != nil {
		return pollResponse{}, fmt.Errorf("ssf: poll: %w", withoutURL(err))
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		return pollResponse{}, fmt.Errorf("ssf: poll: transmitter answered %s", res.Status)
	}
	p.acks, p.errs = nil, map[string]setErr{}
	body, err = io.ReadAll(io.LimitReader(res.Body, maxPollResponse+1))
	if err != nil {
		return pollResponse{}, fmt.Errorf("ssf: poll: read response: %w", err)
	}
	if len(body) > maxPollResponse {
		return pollResponse{}, fmt.Errorf("ssf: poll: response larger than %d bytes", maxPollResponse)
	}
	// Read as strictly as a request to sessiond's own endpoints: a jti
	// twice in "sets" would otherwise drop the first SET, and
	// acknowledging the jti would remove both from the transmitter's
	// queue. Refused whole, nothing in it is acknowledged and the
	// transmitter delivers it again.
	var out pollResponse
	if err := unmarshalExact(body, &out); err != nil {
		return pollResponse{}, fmt.Errorf("ssf: poll: response is not an RFC 8936 object: %w", err)
	}
	return out, nil
}

// withoutURL strips the URL from a request error: a poll URL or push
// endpoint may hold a credential, which no error may carry.
func withoutURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
