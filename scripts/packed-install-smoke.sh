#!/usr/bin/env bash
# A downstream user's install, checked: every publishable package is packed (as `pnpm publish`
# would), installed with plain npm into a fresh directory outside the repository with the compiler
# hidden (CC=false CXX=false, and no g++, cc or make on PATH), and the installed vfu-server serves
# the zoo while the installed vfu-client reaches edu. @vfu/sys must use its prebuilt binary.
# Needs the packages built (pnpm build) and the npm registry for third-party dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

work="$(mktemp -d)"
group=""
cleanup() {
  [ -z "$group" ] || kill -TERM -- "-$group" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

SECONDS=0
mkdir -p "$work/packs"
for dir in packages/* apps/*; do
  [ -f "$dir/package.json" ] || continue
  [ "$(node -p "require('./$dir/package.json').private === true")" = true ] && continue
  (cd "$dir" && pnpm pack --pack-destination "$work/packs" >"$work/pack.log" 2>&1) || {
    cat "$work/pack.log"
    exit 1
  }
done
echo "packed-install: $(ls "$work/packs" | wc -l) tarballs in $SECONDS s"
sys_files="$(tar -tzf "$work"/packs/vfu-sys-*.tgz)"
grep -q '^package/prebuilds/linux-x64/.*\.node$' <<<"$sys_files" || {
  echo "packed-install: @vfu/sys tarball has no prebuilt linux-x64 binary" >&2
  exit 1
}

# A PATH with node, npm and a shell, and no compiler or make.
mkdir -p "$work/bin" "$work/app"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(readlink -f "$(command -v npm)")" "$work/bin/npm"
ln -s "$(command -v sh)" "$work/bin/sh"
bare=(env "PATH=$work/bin" CC=false CXX=false)
for tool in g++ gcc cc c++ make; do
  if "${bare[@]}" sh -c "command -v $tool" >/dev/null 2>&1; then
    echo "packed-install: $tool still on PATH" >&2
    exit 1
  fi
done

cd "$work/app"
"${bare[@]}" npm init -y >/dev/null
SECONDS=0
"${bare[@]}" npm install --no-audit --no-fund "$work"/packs/*.tgz
echo "packed-install: npm install without a compiler in $SECONDS s"
[ ! -d node_modules/@vfu/sys/build ] || { echo "packed-install: @vfu/sys was built from source" >&2; exit 1; }

log="$work/server.log"
setsid "${bare[@]}" node_modules/.bin/vfu-server --runtime-dir "$work/run" >"$log" 2>&1 &
group=$!
for _ in $(seq 1 300); do
  grep -q '^vfu-server: ready' "$log" && break
  kill -0 "$group" 2>/dev/null || { cat "$log"; echo "packed-install: vfu-server exited" >&2; exit 1; }
  sleep 0.1
done
grep -q '^vfu-server: ready' "$log" || { cat "$log"; echo "packed-install: vfu-server not ready" >&2; exit 1; }
sock="$(sed -n 's/^vfu-server: endpoint s0 device edu0 (edu) listening on //p' "$log")"
info="$("${bare[@]}" node_modules/.bin/vfu-client info "$sock")"
echo "$info" | head -1
grep -q '\[1234:11e8\]' <<<"$info" || { echo "packed-install: vfu-client did not reach edu" >&2; exit 1; }
cd "$repo"
echo "packed-install: ok"
