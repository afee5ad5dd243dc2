#!/bin/sh
# The shipped binary against a bare net/http handler, in one run, with wrk
# (docs/PERFORMANCE.md). Called through verify.sh or check.sh, which set
# ROUTE; prints each round and then the medians of the ratios.
#
#   ROUTE=verify  POST /v1/sessions/verify with the API key, cycling through
#                 200 sessions' access tokens (wrk-verify.lua)
#   ROUTE=check   GET /sessiond/check with the session cookie of one of 200
#                 sessions (wrk-check.lua), gateway enabled
#
# `sessiond serve` runs with the default configuration (hybrid, embedded
# SQLite, production, every request logged as JSON on stderr, redirected to
# a file) except: the per-API-key and per-address rate limits are raised
# from their default 5,000/s (a runaway-client cap, far below what one
# node answers) so the limiter still runs but never refuses; for check,
# gateway.enabled with a login_url. EXTRA adds environment for serve, e.g.
# EXTRA=SESSIOND_LOG_REQUESTS=errors. The bare handler is `sessiond bench
# --bare-server` (the same binary): reads the body, writes a fixed
# verify-sized answer (check: an empty 200). PROFILE=FILE records
# `perf record -g` of the server during its last round.
set -eu
SD=${SD:-/tmp/sd}
ROUTE=${ROUTE:-verify}
ROUNDS=${1:-3}
SECS=${2:-6}
EXTRA=${EXTRA:-}
PROFILE=${PROFILE:-}
PORT=${PORT:-18420}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
spid= bpid=
trap 'kill -TERM $spid $bpid 2>/dev/null; wait $spid $bpid 2>/dev/null; rm -rf "$dir"' EXIT
case $ROUTE in
verify) path=/v1/sessions/verify script=wrk-verify.lua gw= ;;
check) path=/sessiond/check script=wrk-check.lua gw="SESSIOND_GATEWAY_ENABLED=true SESSIOND_GATEWAY_LOGIN_URL=/login" ;;
*) echo "ROUTE must be verify or check" >&2; exit 2 ;;
esac
sport=$PORT bport=$((PORT + 1))
env $gw $EXTRA \
  "$SD" serve --data "$dir/data" --listen 127.0.0.1:$sport 2>"$dir/serve.log" &
spid=$!
"$SD" bench --bare-server 127.0.0.1:$bport >/dev/null &
bpid=$!
while [ ! -s "$dir/data/api-key" ] || ! curl -sf http://127.0.0.1:$sport/readyz >/dev/null; do sleep 0.2; done
key=$(cat "$dir/data/api-key")
i=0
while [ $i -lt 200 ]; do
  if [ "$ROUTE" = check ]; then
    curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      -d "{\"subject\":\"user-$i\",\"set_cookie\":true}" http://127.0.0.1:$sport/v1/sessions | jq -r '.set_cookie[0]' | cut -d';' -f1
  else
    curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      -d "{\"subject\":\"user-$i\"}" http://127.0.0.1:$sport/v1/sessions | jq -r .access_token
  fi
  i=$((i + 1))
done >"$dir/tokens"
printf '%s\n' "$key" >"$dir/key"
lines0=$(wc -l <"$dir/serve.log")
run() { # url → wrk output
  wrk -t2 -c32 -d"${SECS}s" --latency -s "$here/$script" "$1" -- "$dir/tokens" "$dir/key"
}
# Warm-up: every token's one signature check, outside the measured rounds.
run http://127.0.0.1:$sport$path >/dev/null
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system clock ticks
ms() { # wrk latency (e.g. 812.00us, 1.20ms, 1.01s) → milliseconds
  echo "$1" | awk '/us$/ {sub("us", ""); print $1 / 1000; next} /ms$/ {sub("ms", ""); print $1; next} /s$/ {sub("s", ""); print $1 * 1000; next} {print $1}'
}
echo "$ROUTE, $ROUNDS rounds of ${SECS}s, wrk -t2 -c32, load average $(cut -d' ' -f1-3 /proc/loadavg) at start${EXTRA:+, $EXTRA}"
r=1
while [ $r -le "$ROUNDS" ]; do
  for name in bare sessiond; do
    if [ $name = bare ]; then port=$bport pid=$bpid; else port=$sport pid=$spid; fi
    if [ $name = sessiond ] && [ $r -eq "$ROUNDS" ] && [ -n "$PROFILE" ]; then
      (sleep 1; perf record -F 999 -g -p $spid -o "$PROFILE" -- sleep $((SECS - 2)) >/dev/null 2>&1) &
    fi
    c0=$(cpu $pid)
    out=$(run "http://127.0.0.1:$port$path")
    c1=$(cpu $pid)
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
    echo "$r $name $(echo "$out" | awk '/Requests\/sec/ {print $2}') $(ms "$(echo "$out" | awk '$1 == "50%" {print $2}')") $(ms "$(echo "$out" | awk '$1 == "99%" {print $2}')") $(((c1 - c0) * 1000000 / $(getconf CLK_TCK) / n)) ${non2xx:-0}"
  done
  r=$((r + 1))
done | awk -v route="$ROUTE" '
  { rps[$2, $1] = $3; p50[$2, $1] = $4; p99[$2, $1] = $5; cpu[$2, $1] = $6; bad[$2, $1] = $7
    printf "round %d %-8s %9.0f req/s  p50 %6.2f ms  p99 %7.2f ms  CPU %3d us/request  non-2xx %d\n", $1, $2, $3, $4, $5, $6, $7
    if ($2 == "sessiond") {
      n++; tr[n] = $3 / rps["bare", $1]; pr[n] = $5 / p99["bare", $1]; cr[n] = cpu["bare", $1] / $6
      printf "round %d ratio: throughput %.2f, p99 %.2f x bare, CPU per request %.2f\n", $1, tr[n], pr[n], cr[n]
    } }
  function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  END { printf "%s median of %d rounds: throughput %.2f x bare, p99 %.2f x bare, bare CPU / sessiond CPU per request %.2f\n", route, n, med(tr, n), med(pr, n), med(cr, n) }'
echo "serve log: $(($(wc -l <"$dir/serve.log") - lines0)) lines during the measurement, $(wc -c <"$dir/serve.log") bytes in all"
