#!/usr/bin/env bash
# The README's promise, checked: right after `pnpm install`, with nothing built, `pnpm start` serves
# the zoo and a client reaches a device through it (`pnpm client info SOCKET`).
set -euo pipefail
cd "$(dirname "$0")/.."

dir="$(mktemp -d)"
log="$dir/server.log"
# Its own process group, so that pnpm and the server under it stop together.
setsid pnpm start --runtime-dir "$dir/run" >"$log" 2>&1 &
group=$!
cleanup() {
  kill -TERM -- "-$group" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

started=$(date +%s%N)
until grep -q '^vfu-server: ready' "$log"; do
  if ! kill -0 "$group" 2>/dev/null; then
    cat "$log"
    echo "start-smoke: pnpm start exited before it was ready" >&2
    exit 1
  fi
  if [ $(( ($(date +%s%N) - started) / 1000000000 )) -ge 60 ]; then
    cat "$log"
    echo "start-smoke: pnpm start not ready within 60 s" >&2
    exit 1
  fi
  sleep 0.1
done
echo "start-smoke: pnpm start ready in $(( ($(date +%s%N) - started) / 1000000 )) ms"

sock="$(sed -n 's/^vfu-server: endpoint s0 device edu0 (edu) listening on //p' "$log")"
[ -n "$sock" ] || { cat "$log"; echo "start-smoke: no edu endpoint announced" >&2; exit 1; }
info="$(pnpm --silent client info "$sock")"
echo "$info" | head -3
# edu's vendor:device, read from its config space over vfio-user.
grep -q '\[1234:11e8\]' <<<"$info" || { echo "start-smoke: the client did not reach edu" >&2; exit 1; }
echo "start-smoke: ok"
