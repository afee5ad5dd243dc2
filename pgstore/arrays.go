package pgstore

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// The arguments of a group's one statement (createset.go, swapset.go),
// gathered from its writes' own: each write's argument list is that of
// the statement it would run alone. Every array is new, so a write's own
// arguments stay as they are, for when it runs again alone.

// gatherScalars returns the scalar argument col of each list, as one
// array.
func gatherScalars(lists [][]any, col int) any {
	switch lists[0][col].(type) {
	case string:
		return gatherAs[string](lists, col)
	case time.Time:
		return gatherAs[time.Time](lists, col)
	case bool:
		return gatherAs[bool](lists, col)
	case []byte:
		return gatherAs[[]byte](lists, col)
	case pgtype.Timestamptz:
		return gatherAs[pgtype.Timestamptz](lists, col)
	}
	panic(fmt.Sprintf("pgstore: gatherScalars: unexpected argument %T", lists[0][col]))
}

func gatherAs[T any](lists [][]any, col int) []T {
	out := make([]T, len(lists))
	for i, l := range lists {
		out[i] = l[col].(T)
	}
	return out
}

// concatColumns concatenates, column by column, the arrays of lists (nil
// when there are none).
func concatColumns(lists [][]any) []any {
	if len(lists) == 0 {
		return nil
	}
	out := make([]any, len(lists[0]))
	for col := range out {
		out[col] = concatColumn(lists, col)
	}
	return out
}

// concatColumn concatenates the array argument col of each list.
func concatColumn(lists [][]any, col int) any {
	switch lists[0][col].(type) {
	case []string:
		return concatAs[string](lists, col)
	case []time.Time:
		return concatAs[time.Time](lists, col)
	case [][]byte:
		return concatAs[[]byte](lists, col)
	case []bool:
		return concatAs[bool](lists, col)
	case []int16:
		return concatAs[int16](lists, col)
	case []int64:
		return concatAs[int64](lists, col)
	case []pgtype.Timestamptz:
		return concatAs[pgtype.Timestamptz](lists, col)
	}
	panic(fmt.Sprintf("pgstore: concatColumn: unexpected argument %T", lists[0][col]))
}

func concatAs[T any](lists [][]any, col int) []T {
	n := 0
	for _, l := range lists {
		n += len(l[col].([]T))
	}
	out := make([]T, 0, n)
	for _, l := range lists {
		out = append(out, l[col].([]T)...)
	}
	return out
}

// owned returns list, the arrays of some rows of one write, with an array
// in front naming owner as the write of every row: the first array's
// length is the number of rows.
func owned(list []any, owner int64) []any {
	n := len(list[0].([]string))
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = owner
	}
	return append([]any{ids}, list...)
}
