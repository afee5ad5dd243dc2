package server

import "testing"

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{1 << 20, 6400},            // 1 MB live: collect after 64 MB more
		{8 << 20, 800},             // 8 MB: 64 MB more
		{GCHeadroomBytes, 100},     // from here on, Go's default
		{4 * GCHeadroomBytes, 100}, // a large heap keeps twice its size
		{GCHeadroomBytes - 1, 100}, // rounding never goes under the default
	} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d) = %d; want %d", c.live, got, c.want)
		}
	}
}
