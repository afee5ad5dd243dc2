#!/bin/sh
# Soak: two `sessiond serve` nodes on one PostgreSQL, each under a mixed load
# (`sessiond bench mixed`, rate-capped) plus a login and a revocation every
# few seconds, for MINUTES minutes. Every INTERVAL seconds it samples each
# node's /metrics: heap in use, goroutines, open files, resident memory.
# Writes OUT (CSV) and, when gnuplot is installed, OUT.png.
# (docs/PERFORMANCE.md, "Soak"; not part of CI.)
#
#   go build -o /tmp/sd ./cmd/sessiond
#   SD=/tmp/sd MINUTES=30 RATE=400 OUT=/tmp/soak.csv docs/bench/soak.sh
set -u
SD=${SD:-/tmp/sd}
MINUTES=${MINUTES:-30}
RATE=${RATE:-400}       # requests/s per node
INTERVAL=${INTERVAL:-30}
OUT=${OUT:-soak.csv}
PG=${PG:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
KEY=sdak_soak_0123456789abcdefghijklmnopqrstuvwxyz0123
dir=$(mktemp -d)
ns=soak$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
pids=""
cleanup() {
  for p in $pids; do kill -TERM "$p" 2>/dev/null; done
  wait 2>/dev/null
  psql "$PG" -q -c "DROP SCHEMA IF EXISTS $ns CASCADE" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM

for n in 1 2; do
  SESSIOND_STORE_DRIVER=postgres SESSIOND_STORE_DSN="$PG" SESSIOND_STORE_NAMESPACE=$ns \
    SESSIOND_API_KEY=$KEY "$SD" serve --data "$dir/data$n" --listen 127.0.0.1:1845$n 2>"$dir/serve$n.log" &
  pids="$pids $!"
  until curl -sf http://127.0.0.1:1845$n/readyz >/dev/null; do sleep 0.2; done
done
secs=$((MINUTES * 60))
for n in 1 2; do
  SESSIOND_API_KEY=$KEY "$SD" bench mixed --url http://127.0.0.1:1845$n --concurrency 8 \
    --rate "$RATE" --duration "${secs}s" --json >"$dir/bench$n.json" 2>"$dir/bench$n.err" &
  pids="$pids $!"
done

metric() { # node, metric name
  curl -sf -H "Authorization: Bearer $KEY" http://127.0.0.1:1845$1/metrics |
    awk -v m="$2" '$1 == m { printf "%.0f", $2; exit }'
}
echo "elapsed_s,node,heap_inuse_bytes,goroutines,open_fds,rss_bytes" >"$OUT"
start=$(date +%s)
i=0
while [ $(( $(date +%s) - start )) -le "$secs" ]; do
  now=$(( $(date +%s) - start ))
  for n in 1 2; do
    echo "$now,$n,$(metric $n go_memstats_heap_inuse_bytes),$(metric $n go_goroutines),$(metric $n process_open_fds),$(metric $n process_resident_memory_bytes)" >>"$OUT"
  done
  # A login on one node, its revocation through the other.
  n=$((i % 2 + 1)); o=$((2 - i % 2)); i=$((i + 1))
  id=$(curl -sf -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "{\"subject\":\"soak-$i\"}" http://127.0.0.1:1845$n/v1/sessions | jq -r .session.id)
  curl -sf -o /dev/null -X DELETE -H "Authorization: Bearer $KEY" http://127.0.0.1:1845$o/v1/sessions/"$id" ||
    echo "soak: revoke of $id through node $o failed" >&2
  sleep "$INTERVAL"
done
wait_bench() { for n in 1 2; do jq -r '"node '$n': \(.requests) requests, \(.errors) errors, \(.requests_per_second|floor) req/s, p99 \(.latency_ms.p99) ms"' "$dir/bench$n.json" 2>/dev/null || cat "$dir/bench$n.err"; done; }
sleep 5
wait_bench
if command -v gnuplot >/dev/null; then
  gnuplot <<GP
set datafile separator ","
set terminal pngcairo size 1000,700
set output "$OUT.png"
set multiplot layout 2,2 title "sessiond soak: two nodes on PostgreSQL, $RATE req/s each, $MINUTES min"
set xlabel "minutes"
set key bottom right
set offsets 0, 0, graph 0.15, 0
set yrange [0:*]
n1 = "< awk -F, '\$2 == 1' $OUT"
n2 = "< awk -F, '\$2 == 2' $OUT"
set title "heap in use (MiB)"
plot n1 using (\$1/60):(\$3/1048576) with lines title "node 1", n2 using (\$1/60):(\$3/1048576) with lines title "node 2"
set title "goroutines"
plot n1 using (\$1/60):4 with lines title "node 1", n2 using (\$1/60):4 with lines title "node 2"
set title "open files"
plot n1 using (\$1/60):5 with lines title "node 1", n2 using (\$1/60):5 with lines title "node 2"
set title "resident memory (MiB)"
plot n1 using (\$1/60):(\$6/1048576) with lines title "node 1", n2 using (\$1/60):(\$6/1048576) with lines title "node 2"
unset multiplot
GP
fi
