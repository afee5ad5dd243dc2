package gatewaytest

import (
	"context"
	"testing"
)

func testBrowser(t *testing.T, ctx context.Context, st *stack) { t.Skip("todo") }
