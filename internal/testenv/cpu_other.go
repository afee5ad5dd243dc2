//go:build !unix

package testenv

import (
	"testing"
	"time"
)

// processCPU: not measured here; client-µs/op reads 0.
func processCPU(testing.TB) time.Duration { return 0 }
