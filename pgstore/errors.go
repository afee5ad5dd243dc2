package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessiond/sessiond"
)

// Preallocated errors keep the common not-found paths free of allocations.
var (
	errClosed         = fmt.Errorf("pgstore: closed: %w", sessiond.ErrStoreUnavailable)
	errLookupNotFound = fmt.Errorf("pgstore: lookup token: %w", sessiond.ErrNotFound)
	errGetNotFound    = fmt.Errorf("pgstore: get session: %w", sessiond.ErrNotFound)
)

// SQLSTATE codes the store acts on.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeSerialization       = "40001"
	codeDeadlock            = "40P01"
	codeLockNotAvailable    = "55P03"
	codeQueryCanceled       = "57014" // statement_timeout
	codeAdminShutdown       = "57P01"
	codeCrashShutdown       = "57P02"
	codeCannotConnectNow    = "57P03"
	codeReadOnly            = "25006" // read_only_sql_transaction: a hot standby, default_transaction_read_only
	codeProgramLimit        = "54000" // e.g. an index row too large
)

// translate maps a driver error to the sessiond sentinels, so no pgx type
// reaches a caller:
//
//   - no rows → ErrNotFound; unique violation → ErrConflict; a lost
//     serialization, deadlock or lock timeout → ErrConflict (nothing
//     changed; retrying is safe), except in FinishClaimed, where
//     ErrConflict means a lost claim (see lockFailure);
//   - a value PostgreSQL cannot store (class 22, 54000) → ErrInvalidArgument;
//   - no connection, a broken one, an acquire or statement that ran out of
//     time, a server shutting down, a server that only reads (a standby
//     after a failover, default_transaction_read_only) → ErrStoreUnavailable;
//   - a caller's cancellation stays context.Canceled.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case code == codeUniqueViolation:
			return fmt.Errorf("pgstore: %s: %w (%s)", op, sessiond.ErrConflict, pgErr.ConstraintName)
		case code == codeForeignKeyViolation:
			// A token's session was deleted under us.
			return fmt.Errorf("pgstore: %s: session gone: %w", op, sessiond.ErrNotFound)
		case code == codeSerialization || code == codeDeadlock || code == codeLockNotAvailable:
			return fmt.Errorf("pgstore: %s: transaction lost a race, retry: %w", op, sessiond.ErrConflict)
		case strings.HasPrefix(code, "22") || code == codeProgramLimit:
			return fmt.Errorf("pgstore: %s: %w", op, &sessiond.ArgumentError{Field: "value", Msg: pgErr.Message})
		case strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") ||
			code == codeAdminShutdown || code == codeCrashShutdown || code == codeCannotConnectNow ||
			code == codeQueryCanceled || code == codeReadOnly:
			return fmt.Errorf("pgstore: %s: %w: %s (SQLSTATE %s)", op, sessiond.ErrStoreUnavailable, pgErr.Message, code)
		}
		return fmt.Errorf("pgstore: %s: %s (SQLSTATE %s)", op, pgErr.Message, pgErr.Code)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("pgstore: %s: %w", op, context.Canceled)
	}
	if unavailable(err) {
		return fmt.Errorf("pgstore: %s: %w: %w", op, sessiond.ErrStoreUnavailable, cause(err))
	}
	return fmt.Errorf("pgstore: %s: %s", op, err.Error())
}

// lockFailure reports whether err is a serialization failure, a deadlock
// or a lock timeout: the statement changed nothing and may be run again.
func lockFailure(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == codeSerialization || pgErr.Code == codeDeadlock || pgErr.Code == codeLockNotAvailable
}

// pgMessage is a PostgreSQL error's message and SQLSTATE, without the
// driver's type.
func pgMessage(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message + " (SQLSTATE " + pgErr.Code + ")"
	}
	return err.Error()
}

// unavailable reports whether err says the server could not be reached or
// answered too late.
func unavailable(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		pgconn.Timeout(err) ||
		pgconn.SafeToRetry(err)
}

// cause keeps a context deadline visible to errors.Is and flattens every
// other driver error to its text, so no pgx type escapes.
func cause(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (%s)", context.DeadlineExceeded, err.Error())
	}
	return errors.New(err.Error())
}

// translate is the package translate, but after Close every failure is
// ErrStoreUnavailable.
func (s *Store) translate(op string, err error) error {
	if err != nil && s.closed.Load() {
		return errClosed
	}
	return translate(op, err)
}

// wrap names the store and the operation in err.
func wrap(op string, err error) error { return fmt.Errorf("pgstore: %s: %w", op, err) }
