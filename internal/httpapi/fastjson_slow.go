package httpapi

import (
	"bytes"
	"encoding/json"
)

func appendCompactSlow(b []byte, raw []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return append(b, "{}"...)
	}
	var out bytes.Buffer
	json.HTMLEscape(&out, buf.Bytes())
	return append(b, out.Bytes()...)
}
