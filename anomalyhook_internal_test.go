package sessiond

import (
	"fmt"
	"testing"
	"time"
)

// TestAnomalyDedup_BudgetBounded: the per-session budget memory stays
// within anomalyDedupMax sessions however many record findings, and making
// room drops sessions whose findings are all older than the window before
// it forgets a live budget: a session that used its budget stays refused.
func TestAnomalyDedup_BudgetBounded(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var d anomalyDedup
	finding := func(id SessionID, n int, at time.Time) bool {
		return d.first(id, fmt.Sprintf("%s\x00ip_change\x00%d", id, n), at)
	}
	for i := range anomalyDedupMax - 1 {
		if !finding(SessionID(fmt.Sprintf("filler-%d", i)), 0, t0) {
			t.Fatalf("filler %d's first finding was not recorded", i)
		}
	}
	mallory := SessionID("mallory")
	for n := range anomalyPerSession {
		if !finding(mallory, n, t0.Add(5*time.Minute)) {
			t.Fatalf("mallory's finding %d of %d was not recorded", n+1, anomalyPerSession)
		}
	}
	if got := len(d.recorded); got != anomalyDedupMax {
		t.Fatalf("%d sessions remembered; want %d (full)", got, anomalyDedupMax)
	}

	// The fillers' findings have left the window, mallory's have not.
	later := t0.Add(11 * time.Minute)
	if !finding("newcomer", 0, later) {
		t.Fatal("a new session's first finding was not recorded")
	}
	if got := len(d.recorded); got != 2 {
		t.Errorf("%d sessions remembered after making room; want 2 (mallory, newcomer)", got)
	}
	if finding(mallory, anomalyPerSession, later) {
		t.Errorf("mallory's finding %d within 10 minutes of her first %d was recorded: making room forgot a live budget",
			anomalyPerSession+1, anomalyPerSession)
	}

	// Live sessions only: still bounded.
	for i := range anomalyDedupMax + 10 {
		finding(SessionID(fmt.Sprintf("crowd-%d", i)), 0, later)
		if got := len(d.recorded); got > anomalyDedupMax {
			t.Fatalf("%d sessions remembered after %d more; want at most %d", got, i+1, anomalyDedupMax)
		}
	}
}

// TestAnomalyDedup_FullMapScannedRarely: when a scan for room frees only
// a few entries (the map is full of recent findings, a few just expired),
// the maps are cleared rather than left nearly full, so the next new
// finding does not scan all of them again under the lock.
func TestAnomalyDedup_FullMapScannedRarely(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var d anomalyDedup
	for i := range anomalyDedupMax {
		at := t0.Add(5 * time.Minute)
		if i < 10 {
			at = t0 // these ten leave the window first
		}
		id := SessionID(fmt.Sprintf("s-%d", i))
		if !d.first(id, string(id)+"\x00ip_change", at) {
			t.Fatalf("finding %d was not recorded", i)
		}
	}
	if len(d.recorded) != anomalyDedupMax || len(d.seen) != anomalyDedupMax {
		t.Fatalf("maps hold %d sessions, %d findings; want %d each (full)", len(d.recorded), len(d.seen), anomalyDedupMax)
	}
	if !d.first("newcomer", "newcomer\x00ip_change", t0.Add(anomalyEventEvery+time.Second)) {
		t.Fatal("a new session's finding was not recorded")
	}
	if len(d.recorded) > anomalyDedupKeep || len(d.seen) > anomalyDedupKeep {
		t.Errorf("after a scan that freed 10 entries the maps hold %d sessions, %d findings; want at most %d, so the next finding does not scan again",
			len(d.recorded), len(d.seen), anomalyDedupKeep)
	}
}
