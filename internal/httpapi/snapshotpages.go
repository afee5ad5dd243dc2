package httpapi

import (
	"context"

	"github.com/sessiond/sessiond"
)

// snapshotPage is how many revocations a snapshot reads from the store at
// a time.
const snapshotPage = sessiond.MaxPageLimit

// snapshotPages reads the revocations of one snapshot: a page at a time
// through RevocationStream.Page, the next one while the one before is
// written (on PostgreSQL a page is a thousand primary-key probes, which
// took as long as writing it), or all at once through Revocations. Each
// read has the deadline of a request's store calls (storeContext), and
// none outlives the request (stop).
type snapshotPages struct {
	s     *server
	rs    *RevocationStream
	ctx   context.Context // the request's
	q     sessiond.RevocationQuery
	over  bool          // the last page has been read
	ahead chan pageRead // the read of the next page, when one is under way
}

// pageRead is the outcome of one read of the store.
type pageRead struct {
	page sessiond.RevocationPage
	err  error
}

// next returns the next page and starts reading the one after it. An
// error is the store's, as a request answers it (storeDeadline).
func (p *snapshotPages) next() ([]sessiond.Revocation, error) {
	if p.rs.Page == nil {
		p.over = true
		ctx, cancel := p.s.storeContext(p.ctx)
		defer cancel()
		revs, err := p.rs.Revocations(ctx, p.q.Since)
		return revs, storeDeadline(ctx, err)
	}
	var r pageRead
	if p.ahead != nil {
		r = <-p.ahead
		p.ahead = nil
	} else {
		r = p.read(p.q)
	}
	if r.err != nil {
		return nil, r.err
	}
	p.q.After, p.over = r.page.Next, r.page.Done
	if !p.over {
		ahead, q := make(chan pageRead, 1), p.q
		go func() { ahead <- p.read(q) }()
		p.ahead = ahead
	}
	return r.page.Revocations, nil
}

func (p *snapshotPages) read(q sessiond.RevocationQuery) pageRead {
	ctx, cancel := p.s.storeContext(p.ctx)
	defer cancel()
	page, err := p.rs.Page(ctx, q)
	return pageRead{page, storeDeadline(ctx, err)}
}

// stop waits for the read under way, if any: it must not outlive the
// request (a client gone ends it at once).
func (p *snapshotPages) stop() {
	if p.ahead != nil {
		<-p.ahead
		p.ahead = nil
	}
}
