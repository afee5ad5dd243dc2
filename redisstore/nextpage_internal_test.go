package redisstore

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"strconv"
	"testing"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestNextPage_ExactlyOnce: a walk with next_page (pageScript here; List,
// SubjectClients and the kill switch's walks share it) returns each member
// present for the whole walk exactly once, in index order, while other
// members come and go between its pages, the one each page ended on
// included. Members share a few scores and differ in bytes above 0x7f and
// NUL, in length, and as prefixes of one another: where the member a page
// ended on has left, the binary search among its score's members must
// order them as Redis does (unsigned bytes, the shorter first), not as Lua
// or the server's locale would.
func TestNextPage_ExactlyOnce(t *testing.T) {
	url := sessiondtest.RequireEnv(t, "SESSIOND_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "sdtest-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { testenv.DeleteRedisPrefix(t, url, prefix+":") })
	ctx := t.Context()
	const at = 1000 // members scored at or below it are not walked
	alphabet := []byte{0x00, 'a', 'b', 0x7f, 0x80, 0xc3, 0xff}
	for seed := range uint64(30) {
		r := mrand.New(mrand.NewPCG(seed, 7))
		key := prefix + ":{np}:exp" + strconv.FormatUint(seed, 10)
		used := map[string]bool{}
		score := map[string]int{}
		fresh := func() string {
			for {
				m := make([]byte, 1+r.IntN(4))
				for i := range m {
					m[i] = alphabet[r.IntN(len(alphabet))]
				}
				if !used[string(m)] {
					used[string(m)] = true
					return string(m)
				}
			}
		}
		add := func(m string, sc int) {
			score[m] = sc
			if err := c.Do(ctx, c.B().Zadd().Key(key).ScoreMember().ScoreMember(float64(sc), m).Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
		remove := func(m string) {
			delete(score, m)
			if err := c.Do(ctx, c.B().Zrem().Key(key).Member(m).Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
		stable := map[string]bool{} // present for the whole walk, above at
		for range 40 {
			m, sc := fresh(), at-1+r.IntN(4) // at-1 … at+2: three scores walked
			add(m, sc)
			if sc > at {
				stable[m] = true
			}
		}
		count := 1 + r.IntN(4)
		got := map[string]int{}
		var prev string
		var m, sc string
		for pages := 0; ; pages++ {
			if pages > 200 {
				t.Fatalf("seed %d: the walk did not end", seed)
			}
			reply, err := pageScript.Exec(ctx, c, []string{key}, []string{strconv.Itoa(at), m, sc, strconv.Itoa(count)}).ToArray()
			if err != nil || len(reply) != 2 {
				t.Fatalf("seed %d: page = %v, %v", seed, reply, err)
			}
			batch, err := reply[0].AsStrSlice()
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range batch {
				got[x]++
				if prev != "" && indexOrder(score[prev], prev, score[x], x) >= 0 {
					t.Errorf("seed %d: %q (score %d) returned after %q (score %d): not in index order", seed, x, score[x], prev, score[prev])
				}
				prev = x
			}
			if len(batch) < count {
				break
			}
			m = batch[len(batch)-1]
			if sc, err = reply[1].ToString(); err != nil {
				t.Fatal(err)
			}
			// Between pages: the member the page ended on leaves (half the
			// time), others leave, new ones come, on either side of it.
			if r.IntN(2) == 0 {
				delete(stable, m)
				remove(m)
			}
			for range r.IntN(3) {
				for x := range score {
					if r.IntN(len(score)) == 0 {
						delete(stable, x)
						remove(x)
						break
					}
				}
			}
			for range r.IntN(3) {
				add(fresh(), at+r.IntN(3))
			}
		}
		for x := range stable {
			if got[x] != 1 {
				t.Errorf("seed %d, pages of %d: %q (score %d), present for the whole walk, returned %d times; want once", seed, count, x, score[x], got[x])
			}
		}
		for x, n := range got {
			if n > 1 {
				t.Errorf("seed %d: %q returned %d times", seed, x, n)
			}
		}
	}
}

// indexOrder compares two members of a sorted set as Redis orders them:
// by score, then by their bytes, unsigned.
func indexOrder(sa int, a string, sb int, b string) int {
	if c := cmp.Compare(sa, sb); c != 0 {
		return c
	}
	return bytes.Compare([]byte(a), []byte(b))
}
