package loadgen

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteText writes the result for a terminal: the load, then one line of
// totals and one per operation when there are several.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "sessiond bench %s: %s, %d connections, %.1fs", r.Scenario, r.URL, r.Concurrency, r.Seconds)
	if r.Sessions > 0 {
		fmt.Fprintf(&b, ", %d sessions", r.Sessions)
	}
	if r.Client {
		b.WriteString(", with a browser's client")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "%-8s %10s %12s %8s %8s %8s %8s %8s\n", "", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors")
	line := func(name string, s Stats) {
		fmt.Fprintf(&b, "%-8s %10d %12.1f %8.2f %8.2f %8.2f %8.2f %8d%s\n", name, s.Requests, s.RequestsPerSecond,
			s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.Max, s.Errors, kinds(s.ErrorsByKind))
	}
	line("total", r.Stats)
	if len(r.Operations) > 1 {
		for _, o := range r.Operations {
			line(o.Operation, o.Stats)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// kinds formats an error breakdown: " (401: 3, transport: 1)".
func kinds(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
