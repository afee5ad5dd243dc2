package redisstore

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.LiveCounter = (*Store)(nil)

// CountLive returns how many sessions are neither revoked nor past their
// idle or absolute expiry at now, by strategy, with one ZCOUNT per
// strategy on the live indexes: O(log n), whatever the number of
// sessions. A live index scores each session by the earlier of its two
// expiries (activity moves it later), so a session that went idle is not
// counted even before DeleteExpired deletes it. Sessions created before
// the live indexes existed (an older redisstore) are not counted.
func (s *Store) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	const op = "count live sessions"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	reply, err := countLiveScript.Exec(ctx, s.client, []string{s.stratKey}, []string{s.liveBase, "(" + itoa(floorMicros(now))}).ToArray()
	if err != nil {
		return nil, s.fail(op, err)
	}
	out := make(map[sessiond.Strategy]int, len(reply)/2)
	for i := 0; i+1 < len(reply); i += 2 {
		st, _ := field(&reply[i])
		n, err := reply[i+1].AsInt64()
		if err != nil {
			return nil, s.fail(op, errCorrupt)
		}
		out[sessiond.Strategy(st)] = int(n)
	}
	return out, nil
}
