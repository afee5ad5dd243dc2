package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// TestGroupCommit: writes queued while the write slot is busy commit in one
// transaction (when one fails, after a second pass that puts each in its
// own savepoint): each caller gets its own outcome, a failed write leaves
// nothing, the others commit, no write runs more than twice, and a write
// whose ctx ends before it runs never runs.
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
		mu   sync.Mutex
		last = map[string]*sql.Tx{} // the transaction of each write's last run
		runs = map[string]int{}
		got  = make(chan outcome, len(cases)+1)
	)
	s.wsem <- struct{}{} // the slot is busy: everything queues
	for _, tc := range cases {
		go func() {
			err := s.write(t.Context(), tc.name, func(tx *sql.Tx) error {
				mu.Lock()
				last[tc.name] = tx
				runs[tc.name]++
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
	committed := map[*sql.Tx]bool{}
	for _, tc := range cases {
		if tc.want == nil {
			committed[last[tc.name]] = true
		}
		if runs[tc.name] > 2 {
			t.Errorf("write %s ran %d times; want at most 2", tc.name, runs[tc.name])
		}
	}
	if len(committed) != 1 {
		t.Errorf("the committed writes ran last in %d transactions; want 1", len(committed))
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

// TestGroupCommit_NoSavepoints: a batch whose writes all succeed runs them
// once each, in one transaction, with no savepoint around them (a savepoint
// copies every page its write touches). RELEASE of the group-commit
// savepoint only succeeds inside one, so a write that can release it ran in
// a savepoint.
func TestGroupCommit_NoSavepoints(t *testing.T) {
	s, err := New(t.Context(), filepath.Join(t.TempDir(), "gc.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.db.ExecContext(t.Context(), `CREATE TABLE scratch (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	const n = 5
	var (
		mu   sync.Mutex
		txs  = map[*sql.Tx]bool{}
		runs = map[string]int{}
		errs = make(chan error, n)
	)
	s.wsem <- struct{}{} // the slot is busy: everything queues
	for i := range n {
		name := "w" + strconv.Itoa(i)
		go func() {
			errs <- s.write(t.Context(), name, func(tx *sql.Tx) error {
				mu.Lock()
				txs[tx] = true
				runs[name]++
				mu.Unlock()
				if _, err := tx.ExecContext(t.Context(), "RELEASE "+savepointName); err == nil {
					return errors.New("ran inside a savepoint")
				}
				return insert(name)(t.Context(), tx)
			})
		}()
	}
	waitQueued(t, s, n)
	<-s.wsem
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("write = %v; want nil", err)
		}
	}
	if len(txs) != 1 {
		t.Errorf("the batch ran in %d transactions; want 1", len(txs))
	}
	for name, r := range runs {
		if r != 1 {
			t.Errorf("write %s ran %d times; want 1", name, r)
		}
	}
	var got int
	if err := s.db.QueryRowContext(context.Background(), `SELECT count(*) FROM scratch`).Scan(&got); err != nil || got != n {
		t.Errorf("rows stored = %d, %v; want %d", got, err, n)
	}
}

// TestGroupCommit_CallerGone: a write whose caller's ctx ends while its
// statement runs is interrupted, and SQLite then rolls back the whole
// transaction, the batch's other writes included. Those others still
// commit (the batch runs again without the write whose caller has gone),
// and that write reports its ctx's error.
func TestGroupCommit_CallerGone(t *testing.T) {
	s, err := New(t.Context(), filepath.Join(t.TempDir(), "gc.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.db.ExecContext(t.Context(), `CREATE TABLE scratch (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	gone, leave := context.WithCancel(t.Context())
	defer leave()
	running := make(chan struct{})
	var once sync.Once
	type outcome struct {
		name string
		err  error
	}
	got := make(chan outcome, 3)
	s.wsem <- struct{}{} // the slot is busy: everything queues
	for i, w := range []struct {
		name string
		ctx  context.Context
		fn   func(tx *sql.Tx) error
	}{
		{"a", t.Context(), insert("a").bind(t.Context())},
		{"gone", gone, func(tx *sql.Tx) error {
			once.Do(func() { close(running) })
			// Runs until interrupted.
			_, err := tx.ExecContext(gone, `INSERT INTO scratch (k) SELECT 'never' WHERE (
				WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n) > 0`)
			return err
		}},
		{"c", t.Context(), insert("c").bind(t.Context())},
	} {
		go func() { got <- outcome{w.name, s.write(w.ctx, w.name, w.fn)} }()
		waitQueued(t, s, i+1) // in this order: a, gone, c
	}
	<-s.wsem
	<-running
	leave()
	for range 3 {
		o := <-got
		if o.name == "gone" {
			if !errors.Is(o.err, context.Canceled) {
				t.Errorf("write gone = %v; want context.Canceled", o.err)
			}
		} else if o.err != nil {
			t.Errorf("write %s = %v; want nil", o.name, o.err)
		}
	}
	for _, k := range []string{"a", "c"} {
		var n int
		if err := s.db.QueryRowContext(t.Context(), `SELECT count(*) FROM scratch WHERE k = ?`, k).Scan(&n); err != nil || n != 1 {
			t.Errorf("row %s stored %d times, %v; want once", k, n, err)
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
