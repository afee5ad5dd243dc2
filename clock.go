package sessiond

import (
	"context"
	"time"
)

// Clock tells the time. Inject a fake one in tests so expiry never needs a sleep.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock, in UTC.
type SystemClock struct{}

// Now returns time.Now in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

type ctxKey struct{}

// NewContext returns a copy of ctx carrying s, the session of the request.
func NewContext(ctx context.Context, s *Session) context.Context {
	return context.WithValue(ctx, ctxKey{}, s)
}

// FromContext returns the session stored by NewContext, or nil and false.
func FromContext(ctx context.Context) (*Session, bool) {
	s, ok := ctx.Value(ctxKey{}).(*Session)
	return s, ok && s != nil
}
