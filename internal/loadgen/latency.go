package loadgen

import (
	"slices"
	"time"
)

// Latency summarises the latencies of a set of requests, in milliseconds,
// from exact samples (every request's time is kept and sorted; no
// histogram buckets).
type Latency struct {
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// summarise sorts d in place and returns its summary; zero for no samples.
func summarise(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return Latency{
		Mean: ms(sum / time.Duration(len(d))),
		P50:  ms(percentile(d, 0.50)),
		P90:  ms(percentile(d, 0.90)),
		P99:  ms(percentile(d, 0.99)),
		Max:  ms(d[len(d)-1]),
	}
}

// percentile returns the nearest-rank percentile of sorted samples: the
// smallest sample that at least p of the samples do not exceed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p*float64(len(sorted))+0.999999999) - 1
	rank = min(max(rank, 0), len(sorted)-1)
	return sorted[rank]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
