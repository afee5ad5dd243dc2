#!/bin/sh
# Verify throughput of the shipped binary against a bare net/http handler,
# measured as a user does (docs/PERFORMANCE.md): `sessiond serve` with the
# default configuration (hybrid, embedded SQLite) and its log in a file,
# 200 sessions, wrk POSTing /v1/sessions/verify cycling through their access
# tokens; the bare handler is `sessiond bench --bare-server`. Rounds
# alternate bare and sessiond, with wrk and then with `sessiond bench verify`
# (which creates its own 200 sessions), and print the server's CPU time per
# request (from /proc) beside wrk's figures.
#
#   go build -o /tmp/sd ./cmd/sessiond
#   SD=/tmp/sd docs/bench/verify-vs-bare.sh [rounds] [seconds] [extra env for serve, e.g. SESSIOND_LOG_REQUESTS=errors]
set -eu
SD=${SD:-/tmp/sd}
ROUNDS=${1:-2}
SECS=${2:-8}
EXTRA=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'kill -TERM $spid $bpid 2>/dev/null; wait $spid $bpid 2>/dev/null; rm -rf "$dir"' EXIT
# The default rate limits (5,000/s per API key and per address) would
# refuse most of the load: raised, as in against-bare.sh.
env $EXTRA \
  "$SD" serve --data "$dir/data" --listen 127.0.0.1:18420 2>"$dir/serve.log" &
spid=$!
"$SD" bench --bare-server 127.0.0.1:18421 >/dev/null &
bpid=$!
while [ ! -s "$dir/data/api-key" ] || ! curl -sf http://127.0.0.1:18420/readyz >/dev/null; do sleep 0.2; done
key=$(cat "$dir/data/api-key")
i=0
while [ $i -lt 200 ]; do
  curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"subject\":\"user-$i\"}" http://127.0.0.1:18420/v1/sessions | jq -r .access_token
  i=$((i + 1))
done >"$dir/tokens"
cp "$dir/data/api-key" "$dir/key"
# Warm-up: every token's one signature check, outside the measured rounds.
wrk -t2 -c32 -d2s -s "$here/wrk-verify.lua" http://127.0.0.1:18420/v1/sessions/verify -- "$dir/tokens" "$dir/key" >/dev/null
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system clock ticks
r=1
while [ $r -le "$ROUNDS" ]; do
  for target in bare:18421:$bpid sessiond:18420:$spid; do
    name=${target%%:*}
    rest=${target#*:}
    port=${rest%%:*}
    pid=${rest#*:}
    c0=$(cpu "$pid")
    out=$(wrk -t2 -c32 -d"${SECS}s" --latency -s "$here/wrk-verify.lua" "http://127.0.0.1:$port/v1/sessions/verify" -- "$dir/tokens" "$dir/key")
    c1=$(cpu "$pid")
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    echo "round $r wrk   $name: $rps req/s p50 $p50 p99 $p99 non-2xx ${non2xx:-0}; server CPU $(( (c1 - c0) * 1000000 / $(getconf CLK_TCK) / n )) us/request"
  done
  for target in bare:18421 sessiond:18420; do
    name=${target%%:*}
    port=${target##*:}
    SESSIOND_API_KEY=$key "$SD" bench verify --url "http://127.0.0.1:$port" --concurrency 32 --duration "${SECS}s" --json |
      jq -r --arg r "$r" --arg n "$name" '"round \($r) bench \($n): \(.requests_per_second | floor) req/s p50 \(.latency_ms.p50)ms p99 \(.latency_ms.p99)ms errors \(.errors)"'
  done
  r=$((r + 1))
done
echo "serve log: $(wc -l <"$dir/serve.log") lines, $(wc -c <"$dir/serve.log") bytes"
