package sessiond_test

import (
	"bytes"
	"fmt"
	"log/slog"
)

// fmtAll prints v every way a careless log line might.
func fmtAll(v any) string {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %s %+v %#v %q\n", v, v, v, v, v)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
	return buf.String()
}
