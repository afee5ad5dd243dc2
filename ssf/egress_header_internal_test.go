package ssf

import (
	"net/http"
	"testing"
)

// TestPushClient_ResponseHeaderBound: whichever way the push client is
// made (guarded or AllowPrivate, default or caller's transport), it reads
// at most maxResponseHeaderBytes of response headers; a caller's lower
// bound is kept.
func TestPushClient_ResponseHeaderBound(t *testing.T) {
	tests := []struct {
		name         string
		client       *http.Client
		allowPrivate bool
		want         int64
	}{
		{"default, guarded", nil, false, maxResponseHeaderBytes},
		{"default, allow private", nil, true, maxResponseHeaderBytes},
		{"caller's transport, guarded", &http.Client{Transport: &http.Transport{}}, false, maxResponseHeaderBytes},
		{"caller's larger bound, allow private", &http.Client{Transport: &http.Transport{MaxResponseHeaderBytes: 10 << 20}}, true, maxResponseHeaderBytes},
		{"caller's lower bound kept", &http.Client{Transport: &http.Transport{MaxResponseHeaderBytes: 1 << 10}}, true, 1 << 10},
	}
	for _, tc := range tests {
		c, err := pushClient(tc.client, tc.allowPrivate)
		if err != nil {
			t.Fatalf("%s: pushClient = %v", tc.name, err)
		}
		tr, ok := c.Transport.(*http.Transport)
		if !ok {
			t.Errorf("%s: transport is a %T; want an *http.Transport", tc.name, c.Transport)
			continue
		}
		if tr.MaxResponseHeaderBytes != tc.want {
			t.Errorf("%s: MaxResponseHeaderBytes = %d; want %d", tc.name, tr.MaxResponseHeaderBytes, tc.want)
		}
	}
	if tr, ok := http.DefaultTransport.(*http.Transport); ok && tr.MaxResponseHeaderBytes != 0 {
		t.Errorf("pushClient changed http.DefaultTransport's MaxResponseHeaderBytes to %d", tr.MaxResponseHeaderBytes)
	}
}
