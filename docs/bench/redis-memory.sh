#!/bin/sh
# Redis memory per login and per refresh made over HTTP by `sessiond serve`
# (hybrid) on a private redis-server (port REDIS_PORT, no persistence):
# Redis's used_memory before and after `sessiond bench create` and then
# `sessiond bench refresh` (32 connections), divided by the requests
# (docs/redisstore.md, "Memory").
#
#   SD=/tmp/sd [PORT=18536] [REDIS_PORT=18535] docs/bench/redis-memory.sh [create seconds] [refresh seconds]
set -u
. "$(dirname "$0")/serve-store.sh"
csecs=${1:-20}
rsecs=${2:-10}
port=${PORT:-18536}
rport=${REDIS_PORT:-18535}
dir=$(mktemp -d)
private_redis "$rport" redis-memory.sh
# Stop only the server this script started (by its process ID).
trap 'kill $rpid 2>/dev/null; wait $rpid; rm -rf "$dir"' EXIT
used() { redis-cli -p "$rport" info memory | awk -F: '/^used_memory:/ {print $2 + 0}'; }
m0=$(used)
serve_store redis mem "$dir/data" "$port" "$dir/serve.log"
bench_store create "$port" "$csecs" "$dir/create.json"
m1=$(used)
n1=$(jq .requests "$dir/create.json")
bench_store refresh "$port" "$rsecs" "$dir/refresh.json"
m2=$(used)
n2=$(jq .requests "$dir/refresh.json")
echo "logins: $n1, Redis memory $(( (m1 - m0) / n1 )) B each"
echo "refreshes: $n2, Redis memory $(( (m2 - m1) / n2 )) B each"
kill -TERM "$pid"; wait "$pid"
