package config

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestDrawn: drawn drops each run of 8 bytes or more that copies bytes
// before it, the copy taken from the first place its first 8 bytes
// occur and extended as far as it matches (overlapping its source, as a
// phrase typed again and again does), and keeps the rest, a run of 7 that
// comes back included.
func TestDrawn(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"abcdefgh", "abcdefgh"},
		{"abcdefgXabcdefgY", "abcdefgXabcdefgY"}, // 7 bytes repeated: counted
		{"abcdefghXabcdefghY", "abcdefghXY"},     // 8: not
		{"abcdefghXabcdef", "abcdefghXabcdef"},   // a tail under 8 bytes is kept
		{"abcabcabcabc", "abc"},                  // the copy overlaps its source, to the end
		{"aaaaaaaaaaaaaaaaaaaa", "a"},
		{"Summer2024!Summer2024!Summer2024!Summer2024!", "Summer2024!"},
		// The source of the last copy ("FGHijklmnop") begins inside the
		// first copy ("ABCDEFGH", at 9) and ends past it.
		{"ABCDEFGHxABCDEFGHijklmnop-FGHijklmnop", "ABCDEFGHxijklmnop-"},
	} {
		if got := string(drawn([]byte(tc.in))); got != tc.want {
			t.Errorf("drawn(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
	// Any input, against the rule above read literally (quadratic).
	r := rand.New(rand.NewPCG(1, 2))
	for _, alphabet := range []string{"ab", "abc", "abcdefgh", "0123456789"} {
		for n := range 80 {
			for range 50 {
				b := make([]byte, n)
				for i := range b {
					b[i] = alphabet[r.IntN(len(alphabet))]
				}
				if got, want := drawn(b), drawnLiterally(b); !bytes.Equal(got, want) {
					t.Fatalf("drawn(%q) = %q; want %q", b, got, want)
				}
			}
		}
	}
}

func drawnLiterally(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		j := 0
		for ; j < i && i+minRepeat <= len(b); j++ {
			if bytes.Equal(b[j:j+minRepeat], b[i:i+minRepeat]) {
				break
			}
		}
		if i+minRepeat > len(b) || j == i {
			out = append(out, b[i])
			i++
			continue
		}
		n := minRepeat
		for i+n < len(b) && b[j+n] == b[i+n] {
			n++
		}
		i += n
	}
	return out
}
