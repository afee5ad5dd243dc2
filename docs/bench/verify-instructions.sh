#!/bin/sh
# verify-instructions.sh BINARY [N] [PORT]: instructions the server runs
# per cached verify (docs/PERFORMANCE.md, "The verify path's
# instructions"). Serves with defaults under valgrind's callgrind, creates
# 200 sessions, warms up with 2,000 verifies, then counts N verifies over
# one keep-alive connection. KEEP=FILE keeps the profile for
# callgrind_annotate. perf cannot count instructions on every VM; callgrind
# can, with Go's asynchronous preemption and rdtscp off.
set -eu
SD=$1 N=${2:-3000} PORT=${3:-28420}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/verify-ir.XXXX)
go build -o "$dir/client" "$here/verifyclient.go"
GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" \
	"$SD" serve --data "$dir/data" --listen 127.0.0.1:"$PORT" 2>"$dir/serve.log" &
vpid=$!
trap 'kill -TERM $vpid 2>/dev/null; wait $vpid 2>/dev/null; rm -rf "$dir"' EXIT
t=0
until [ -s "$dir/data/api-key" ] && curl -sf http://127.0.0.1:"$PORT"/readyz >/dev/null; do
	sleep 0.5
	t=$((t + 1))
	if [ $t -gt 240 ] || ! kill -0 $vpid; then tail -30 "$dir/serve.log"; exit 1; fi
done
key=$(cat "$dir/data/api-key")
i=0
while [ $i -lt 200 ]; do
	curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
		-d "{\"subject\":\"user-$i\"}" http://127.0.0.1:"$PORT"/v1/sessions | jq -r .access_token
	i=$((i + 1))
done >"$dir/tokens"
printf '%s\n' "$key" >"$dir/key"
"$dir/client" 127.0.0.1:"$PORT" "$dir/tokens" "$dir/key" 2000
callgrind_control -z $vpid >/dev/null
"$dir/client" 127.0.0.1:"$PORT" "$dir/tokens" "$dir/key" "$N"
callgrind_control -d $vpid >/dev/null
last=$(ls -t "$dir"/cg.$vpid.* | head -1)
ir=$(grep '^summary:\|^totals:' "$last" | head -1 | awk '{print $2}')
echo "$SD N=$N Ir=$ir Ir/request=$((ir / N))"
if [ -n "${KEEP:-}" ]; then cp "$last" "$KEEP"; fi
