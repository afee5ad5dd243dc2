package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// TestGroupCommit: writes queued while the write slot is busy run in one
// transaction, each in its own savepoint: each caller gets its own outcome,
// a failed write leaves nothing, the others commit, and a write whose ctx
// ends before it runs never runs.
func TestGroupCommit(t *testing.T) {
	s, err := New(t.Context(), filepath.Join(t.TempDir(), "gc.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.db.ExecContext(t.Context(), `CREATE TABLE scratch (k TEXT PRIMARY KEY); INSERT INTO scratch VALUES ('before')`); err != nil {
		t.Fatal(err)
	}
	errRefused := errors.New("refused")
	type outcome struct {
		name string
		err  error
	}
	cases := []struct {
		name   string
		fn     func(ctx context.Context, tx *sql.Tx) error
		want   error // nil: committed
		stored bool
	}{
		{"ok-1", insert("ok-1"), nil, true},
		{"refused", func(ctx context.Context, tx *sql.Tx) error {
			if err := insert("refused")(ctx, tx); err != nil {
				return err
			}
			return errRefused
		}, errRefused, false},
		{"ok-2", insert("ok-2"), nil, true},
		{"duplicate", func(ctx context.Context, tx *sql.Tx) error {
			if err := insert("dup-other")(ctx, tx); err != nil {
				return err
			}
			return insert("before")(ctx, tx) // a constraint violation mid-write
		}, errors.New("any"), false},
		{"ok-3", insert("ok-3"), nil, true},
	}
	var (
		mu  sync.Mutex
		txs = map[*sql.Tx]bool{}
		got = make(chan outcome, len(cases)+1)
	)
	s.wsem <- struct{}{} // the slot is busy: everything queues
	for _, tc := range cases {
		go func() {
			err := s.write(t.Context(), tc.name, func(tx *sql.Tx) error {
				mu.Lock()
				txs[tx] = true
				mu.Unlock()
				return tc.fn(t.Context(), tx)
			})
			got <- outcome{tc.name, err}
		}()
	}
	// One more whose caller gives up before the slot frees.
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		err := s.write(ctx, "withdrawn", insert("withdrawn-row").bind(ctx))
		got <- outcome{"withdrawn", err}
	}()
	waitQueued(t, s, len(cases)+1)
	cancel()
	if o := <-got; o.name != "withdrawn" || !errors.Is(o.err, context.Canceled) {
		t.Fatalf("first outcome %s: %v; want the withdrawn write with context.Canceled", o.name, o.err)
	}
	<-s.wsem // free the slot: one caller leads the batch

	outcomes := map[string]error{}
	for range cases {
		o := <-got
		outcomes[o.name] = o.err
	}
	for _, tc := range cases {
		err := outcomes[tc.name]
		if (tc.want == nil) != (err == nil) || (tc.want == errRefused && !errors.Is(err, errRefused)) {
			t.Errorf("write %s = %v; want %v", tc.name, err, tc.want)
		}
	}
	if len(txs) != 1 {
		t.Errorf("the queued writes ran in %d transactions; want 1", len(txs))
	}
	for _, k := range []string{"ok-1", "ok-2", "ok-3", "refused", "dup-other", "withdrawn-row"} {
		var n int
		if err := s.db.QueryRowContext(t.Context(), `SELECT count(*) FROM scratch WHERE k = ?`, k).Scan(&n); err != nil {
			t.Fatal(err)
		}
		want := map[bool]int{true: 1, false: 0}[k == "ok-1" || k == "ok-2" || k == "ok-3"]
		if n != want {
			t.Errorf("row %s stored %d times; want %d", k, n, want)
		}
	}
}

type writeFn func(ctx context.Context, tx *sql.Tx) error

func insert(k string) writeFn {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO scratch (k) VALUES (?)`, k)
		return err
	}
}

func (f writeFn) bind(ctx context.Context) func(*sql.Tx) error {
	return func(tx *sql.Tx) error { return f(ctx, tx) }
}

// waitQueued waits until n writes are queued.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for {
		q := s.queue.Len()
		if q == n {
			return
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%d writes queued; want %d", q, n)
		default:
		}
		runtime.Gosched()
	}
}
