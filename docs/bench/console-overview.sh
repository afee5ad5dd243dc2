#!/bin/sh
# The console's overview over an incident-sized event log
# (docs/PERFORMANCE.md, "The console's overview during an incident"):
# fills the event log of STORE (sqlite, postgres or redis) with N events
# of the overview's types (docs/bench/eventfill.go) unless FILLED=1, starts
# `sessiond serve` on it, signs in to the console, views the overview 5
# times, and prints each view's time, the server's CPU and the bytes it
# allocated per view (go_memstats_alloc_bytes_total), and how many series
# say "at least".
#
#   SD=/tmp/sd sh docs/bench/console-overview.sh sqlite 140000
set -eu
. "$(dirname "$0")/serve-store.sh"
STORE=$1 N=${2:-140000} PORT=${PORT:-18520} NS=${NS:-bench_overview}
DATA=${DATA:-/tmp/sessiond-overview}
mkdir -p "$DATA"
if [ "${FILLED:-0}" != 1 ]; then
  case $STORE in
    sqlite) dsn=$DATA/sessiond.db;;
    postgres) dsn=$BENCH_PG;;
    redis) dsn=$BENCH_REDIS;;
  esac
  go run "$(dirname "$0")/eventfill.go" -driver "$STORE" -dsn "$dsn" -ns "$NS" -n "$N"
fi
serve_store "$STORE" "$NS" "$DATA" "$PORT" "$DATA/serve.log"
B=http://localhost:$PORT J=$DATA/jar
rm -f "$J"
curl -s -o /dev/null -c "$J" -b "$J" -H "Origin: $B" --data-urlencode api_key=$BENCH_KEY "$B/console/signin"
alloc() { curl -s "$B/metrics" | awk '/^go_memstats_alloc_bytes_total/{printf "%d", $2}'; }
cpu() { awk '{print $14+$15}' /proc/$pid/stat; }
a0=$(alloc) c0=$(cpu)
for i in 1 2 3 4 5; do
  curl -s -o "$DATA/overview.html" -w "view %{http_code} %{time_total} s\n" -c "$J" -b "$J" "$B/console/overview"
done
c1=$(cpu) a1=$(alloc)
echo "server CPU per view: $(echo "($c1 - $c0) / 5 / $(getconf CLK_TCK)" | bc -l | cut -c1-5) s"
echo "allocated per view: $(echo "($a1 - $a0) / 5 / 1048576" | bc -l | cut -c1-6) MiB"
echo "series shown as at least: $(grep -o 'at_least&#34;:true' "$DATA/overview.html" | wc -l)"
kill $pid; wait $pid 2>/dev/null || true
