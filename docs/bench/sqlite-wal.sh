#!/bin/sh
# Size of SQLite's -wal file under a sustained write load: `sessiond serve`
# (hybrid) on SQLite, `sessiond bench create` then `bench refresh` with 32
# connections, the -wal file's size printed every second, and the server's
# CPU time per request (docs/PERFORMANCE.md, docs/operations.md).
#
#   go build -o /tmp/sd ./cmd/sessiond
#   SD=/tmp/sd [PORT=18440] docs/bench/sqlite-wal.sh [create-seconds] [refresh-seconds]
set -u
. "$(dirname "$0")/serve-store.sh"
create=${1:-6}
refresh=${2:-12}
port=${PORT:-18440}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
serve_store sqlite - $dir/data $port $dir/serve.log
(i=0; while kill -0 $pid 2>/dev/null; do
  echo "t=$i wal=$(find $dir/data -name '*-wal' -printf '%s' 2>/dev/null)"; i=$((i+1)); sleep 1
done) &
sampler=$!
for sc in create refresh; do
  eval secs=\$$sc
  c0=$(awk '{print $14+$15}' /proc/$pid/stat)
  bench_store $sc $port $secs $dir/$sc.json
  c1=$(awk '{print $14+$15}' /proc/$pid/stat)
  n=$(jq -r .requests $dir/$sc.json)
  echo "sqlite $sc: $(summary $dir/$sc.json), server CPU $(awk "BEGIN{printf \"%.0f\", ($c1-$c0)*1e6/$(getconf CLK_TCK)/$n}") µs/request"
done
kill -TERM $pid; wait $pid
kill $sampler 2>/dev/null
