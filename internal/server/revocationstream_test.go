package server

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/verifier/stream"
)

func TestWakeHub(t *testing.T) {
	t.Parallel()
	h := newWakeHub()
	if revs, last := h.recent(^uint64(0)); revs != nil || last != 0 {
		t.Fatalf("empty hub = %v %d", revs, last)
	}
	woken := h.next()
	for i := range hubRing + 10 {
		h.add(sessiond.Revocation{SessionID: sessiond.SessionID(string(rune('a' + i%26)))})
	}
	select {
	case <-woken:
	default:
		t.Error("add did not wake")
	}
	revs, last := h.recent(0)
	if last != hubRing+10 || len(revs) != hubRing {
		t.Errorf("recent(0) after overflow = %d entries, last %d; want the ring's %d, last %d", len(revs), last, hubRing, hubRing+10)
	}
	revs, _ = h.recent(last - 2)
	if len(revs) != 2 || revs[1] != h.ring[last%hubRing] {
		t.Errorf("recent(last-2) = %v; want the two newest", revs)
	}
	if revs, _ := h.recent(last); revs != nil {
		t.Errorf("recent(last) = %v; want none", revs)
	}
}

func TestReadWatermarks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memstore.New()
	if got, err := readWatermarks(ctx, st); err != nil || len(got) != 0 {
		t.Errorf("no document: %v %v", got, err)
	}
	all := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	if _, err := st.PutMeta(ctx, watermarkDoc, []byte(`{"all":"2030-01-02T03:04:05.000006Z","subjects":{"b":"2030-01-01T00:00:00Z","a":"2030-01-01T00:00:00Z"}}`), 0); err != nil {
		t.Fatal(err)
	}
	got, err := readWatermarks(ctx, st)
	want := []stream.Watermark{{All: true, IssuedBefore: all}, {Subject: "a", IssuedBefore: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Subject: "b", IssuedBefore: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if err != nil || len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("readWatermarks = %v, %v; want %v", got, err, want)
	}
	if _, err := st.PutMeta(ctx, watermarkDoc, []byte(`{"all":`), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := readWatermarks(ctx, st); err == nil {
		t.Error("corrupt document: no error")
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		driver string
		keep   time.Duration
		want   time.Duration
	}{
		{"postgres", 90 * 24 * time.Hour, 90 * 24 * time.Hour},
		{"postgres", 0, 0},
		{"redis", 90 * 24 * time.Hour, 90 * 24 * time.Hour},
		{"redis", 0, 400 * 24 * time.Hour},
		{"redis", 500 * 24 * time.Hour, 400 * 24 * time.Hour},
	} {
		cfg := config.Default()
		cfg.Store.Driver, cfg.Events.Retention = c.driver, config.Duration(c.keep)
		if got := retention(cfg); got != c.want {
			t.Errorf("retention(%s, %v) = %v; want %v", c.driver, c.keep, got, c.want)
		}
	}
}
