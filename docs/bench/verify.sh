#!/bin/sh
# POST /v1/sessions/verify of `sessiond serve` against a bare handler, one
# run (see against-bare.sh):
#   go build -o /tmp/sd ./cmd/sessiond
#   SD=/tmp/sd docs/bench/verify.sh [rounds] [seconds]
exec env ROUTE=verify sh "$(dirname "$0")/against-bare.sh" "$@"
