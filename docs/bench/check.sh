#!/bin/sh
# GET /sessiond/check (the gateway's forward-auth) of `sessiond serve`
# against a bare handler, one run (see against-bare.sh):
#   go build -o /tmp/sd ./cmd/sessiond
#   SD=/tmp/sd docs/bench/check.sh [rounds] [seconds]
exec env ROUTE=check sh "$(dirname "$0")/against-bare.sh" "$@"
