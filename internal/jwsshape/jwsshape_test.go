package jwsshape_test

import (
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/jwsshape"
)

func TestCheck(t *testing.T) {
	const max = 32
	for _, tt := range []struct {
		name, s string
		want    jwsshape.Fault
	}{
		{"compact", "aa.bb.cc", jwsshape.OK},
		{"every base64url character", "AZaz09-_.x.y", jwsshape.OK},
		{"at the limit", strings.Repeat("a", max-4) + ".b.c", jwsshape.OK},
		{"empty", "", jwsshape.Empty},
		{"over the limit", strings.Repeat("a", max-3) + ".b.c", jwsshape.TooLarge},
		{"padding", "aa=.bb.cc", jwsshape.Charset},
		{"standard base64", "a+/a.bb.cc", jwsshape.Charset},
		{"line feed", "aa.b\nb.cc", jwsshape.Charset},
		{"carriage return at the end", "aa.bb.cc\r", jwsshape.Charset},
		{"space", "aa.bb .cc", jwsshape.Charset},
		{"JSON serialisation", `{"payload":"aa"}`, jwsshape.Charset},
		{"two segments", "aa.bb", jwsshape.Segments},
		{"five segments (JWE)", "a.b.c.d.e", jwsshape.Segments},
		{"empty first segment", ".bb.cc", jwsshape.Segments},
		{"empty middle segment", "aa..cc", jwsshape.Segments},
		{"empty last segment", "aa.bb.", jwsshape.Segments},
		{"no dots", "aabbcc", jwsshape.Segments},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := jwsshape.Check(tt.s, max); got != tt.want {
				t.Errorf("Check(%q) = %v; want %v", tt.s, got, tt.want)
			}
		})
	}
}
