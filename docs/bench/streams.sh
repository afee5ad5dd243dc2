#!/bin/sh
# What open revocation streams cost the node that serves them: STREAMS
# clients hold GET /v1/revocations/stream open (curl -N, one verify key),
# then the server's CPU time is read from /proc over SECS seconds idle,
# and while SECS × 10 sessions are logged out one every 100 ms or so (each
# revocation wakes every stream). Default configuration (hybrid, embedded
# SQLite). Alternate binaries to compare:
#   go build -o /tmp/sd ./cmd/sessiond
#   SD=/tmp/sd STREAMS=500 sh docs/bench/streams.sh [seconds]
set -eu
SD=${SD:-/tmp/sd}
STREAMS=${STREAMS:-500}
SECS=${1:-20}
PORT=${PORT:-18440}
dir=$(mktemp -d)
spid=
trap 'pkill -P $$ curl 2>/dev/null; kill -TERM $spid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
"$SD" serve --data "$dir/data" --listen 127.0.0.1:$PORT 2>"$dir/serve.log" &
spid=$!
while [ ! -s "$dir/data/api-key" ] || ! curl -sf http://127.0.0.1:$PORT/readyz >/dev/null; do sleep 0.2; done
key=$(cat "$dir/data/api-key")
api() { curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' "$@"; }
i=0
while [ $i -lt $((SECS * 10)) ]; do
  api -d "{\"subject\":\"user-$i\"}" http://127.0.0.1:$PORT/v1/sessions | jq -r .session.id
  i=$((i + 1))
done >"$dir/ids"
i=0
while [ $i -lt "$STREAMS" ]; do
  curl -sN -H "Authorization: Bearer $key" http://127.0.0.1:$PORT/v1/revocations/stream >/dev/null 2>&1 &
  i=$((i + 1))
done
sleep 5 # every stream connected and caught up
cpu() { awk '{print $14 + $15}' "/proc/$spid/stat"; } # user + system clock ticks
hz=$(getconf CLK_TCK)
c0=$(cpu)
sleep "$SECS"
c1=$(cpu)
t1=$(date +%s.%N)
while read -r id; do
  api -X DELETE "http://127.0.0.1:$PORT/v1/sessions/$id" >/dev/null
  sleep 0.1
done <"$dir/ids"
c2=$(cpu)
t2=$(date +%s.%N)
open=$(ss -Htn state established "( sport = :$PORT )" | wc -l)
echo "$STREAMS streams ($open connections open at the end), load average $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v a="$c0" -v b="$c1" -v c="$c2" -v hz="$hz" -v s="$SECS" -v t1="$t1" -v t2="$t2" -v n="$(wc -l <"$dir/ids")" 'BEGIN {
  printf "idle:        %.3f CPU seconds a second\n", (b - a) / hz / s
  printf "revocations: %.3f CPU seconds a second (%d logouts in %.1f s)\n", (c - b) / hz / (t2 - t1), n, t2 - t1
}'
