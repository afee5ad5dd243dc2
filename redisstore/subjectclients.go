package redisstore

import (
	"context"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var _ sessiond.SubjectClientLister = (*Store)(nil)

// subjectClientsScript reads a page of a subject's live sessions
// (subject_page), the ID and client of each.
//
//	KEYS: subject index
//	ARGV: base, subject, now (µs), last member ("": none yet), its score, count
//	→ {members read, last member, its score, id, ip, user agent, id, ...}
var subjectClientsScript = rueidis.NewLuaScriptReadOnly(prelude + nextPageFn + subjectPageFn + `
return subject_page(function(k)
  return redis.call('HMGET', k, 'sub', 'ra', 'ie', 'e', 'ip', 'ua')
end)
`)

// SubjectClients returns the ID and client of each of subject's sessions
// live at now, clientsPage sessions a script (subjectPages), so that a
// subject with very many sessions neither holds Redis for one long script
// nor brings every session, claims included, into memory at once.
func (s *Store) SubjectClients(ctx context.Context, subject string, now time.Time) (map[sessiond.SessionID]sessiond.Client, error) {
	out := map[sessiond.SessionID]sessiond.Client{}
	err := s.subjectClients(ctx, subject, now, clientsPage, func(id sessiond.SessionID, c sessiond.Client) { out[id] = c })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// subjectClients walks subject's sessions live at now, page a script, and
// calls fn with the ID and client of each.
func (s *Store) subjectClients(ctx context.Context, subject string, now time.Time, page int, fn func(sessiond.SessionID, sessiond.Client)) error {
	const op = "list subject clients"
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	err := s.subjectPages(ctx, subjectClientsScript, subject, now, page, func(rows []rueidis.RedisMessage) error {
		for i := 0; i+3 <= len(rows); i += 3 {
			id, _ := field(&rows[i])
			ip, _ := field(&rows[i+1])
			ua, _ := field(&rows[i+2])
			fn(sessiond.SessionID(id), sessiond.Client{IP: ip, UserAgent: ua})
		}
		return nil
	})
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}
