package anomaly

import (
	"time"

	"github.com/sessiond/sessiond"
)

// Checker adapts a Detector to sessiond.AnomalyChecker, the hook the
// Manager calls on verify and refresh.
type Checker struct{ D *Detector }

var _ sessiond.AnomalyChecker = Checker{}

// Check runs the detector; stage "refresh" is Refresh, anything else Verify.
func (c Checker) Check(now time.Time, stage string, sessionID string, issued, current sessiond.Client) []sessiond.Anomaly {
	st := Verify
	if stage == "refresh" {
		st = Refresh
	}
	fs := c.D.Check(now, st, sessionID, issued, current)
	if len(fs) == 0 {
		return nil
	}
	out := make([]sessiond.Anomaly, len(fs))
	for i, f := range fs {
		out[i] = sessiond.Anomaly{Rule: string(f.Rule), Action: string(f.Action), Detail: f.Detail}
	}
	return out
}
