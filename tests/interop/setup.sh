#!/usr/bin/env bash
# Prepares everything the interop tests need, outside the repository, and reuses it when present:
#   - a Debian trixie root filesystem holding QEMU >= 10.1 (trixie-backports), the only QEMU with a
#     vfio-user client (`vfio-user-pci`) that Debian builds;
#   - the trixie guest kernel and a busybox initramfs with the real lspci/setpci (+ libraries and
#     pci.ids), libgpiod tools, kmod index files and the driver modules the scenarios load.
# A stamp keyed by the hash of this file makes re-runs free; a changed recipe rebuilds.
# Usage: setup.sh [--print-cache-dir]
# Environment: VFU_INTEROP_CACHE (the cache folder itself), VFU_INTEROP_CACHE_BASE (where per-recipe
# folders go, default /var/cache/vfu-interop), VFU_INTEROP_MIRROR.
set -euo pipefail

# Each recipe builds into its own folder under the base, so checkouts with different recipes (a
# branch that adds a guest module, say) can run side by side without rebuilding each other's cache.
base="${VFU_INTEROP_CACHE_BASE:-/var/cache/vfu-interop}"
recipe_hash="$(sha256sum "$0" | cut -c1-16)"
cache="${VFU_INTEROP_CACHE:-$base/$recipe_hash}"
if [ "${1:-}" = "--print-cache-dir" ]; then
  echo "$cache"
  exit 0
fi

stamp="$cache/stamp"
rootfs="$cache/rootfs"
guest="$cache/guest"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe_hash" ] && [ -x "$rootfs/usr/bin/qemu-system-x86_64" ] \
  && [ -f "$guest/vmlinuz" ] && [ -f "$guest/initramfs.cpio.gz" ]; then
  touch "$stamp"
  echo "interop cache up to date: $cache (recipe $recipe_hash)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: building the interop cache needs root (chroot, mounts, apt-get)" >&2
  exit 1
fi

started=$SECONDS
log() { printf '[interop setup %3ds] %s\n' "$((SECONDS - started))" "$*"; }

# The guest drivers that are modules in Debian's kernel; dependencies are added from modules.dep.
guest_modules=(gpio-pci-idio-16 nvme)
# Programs copied into the initramfs with their shared libraries.
guest_programs=(/usr/bin/lspci /usr/bin/setpci /usr/bin/gpiodetect /usr/bin/gpioinfo /usr/bin/gpioget
  /usr/bin/gpioset)

# Use the host's own Debian mirror unless told otherwise.
mirror="${VFU_INTEROP_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror="$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources \
    2>/dev/null | head -n1)"
fi
if [ -z "$mirror" ]; then
  mirror="$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\/debian\)\/\?[[:space:]].*/\2/p' \
    /etc/apt/sources.list 2>/dev/null | head -n1)"
fi
[ -n "$mirror" ] || { echo "setup.sh: no Debian mirror found; set VFU_INTEROP_MIRROR" >&2; exit 1; }

if ! command -v mmdebstrap >/dev/null 2>&1; then
  log "installing mmdebstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

mkdir -p "$cache"
# Two runs of the same recipe at once: the second waits for the first, then finds the cache ready.
exec 9>"$cache.lock"
flock 9
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$recipe_hash" ]; then
  echo "interop cache built meanwhile: $cache (recipe $recipe_hash)"
  exit 0
fi
# Caches of other recipes unused for two days go, so old branches do not fill the disk.
find "$base" -mindepth 2 -maxdepth 2 -name stamp -mtime +2 2>/dev/null | while read -r old; do
  rm -rf "$(dirname "$old")" "$(dirname "$old").lock"
done
rm -f "$stamp"
rm -rf "$rootfs.new" "$guest.new"

# One mmdebstrap call: the base packages from trixie, then QEMU from trixie-backports in a hook
# (mmdebstrap mounts /proc, /sys and /dev for hooks and unmounts them itself).
log "debootstrapping trixie from $mirror with QEMU (trixie-backports), kernel, busybox, pciutils, gpiod"
mmdebstrap --quiet --variant=minbase --components=main \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --include=linux-image-amd64,busybox-static,pciutils,pci.ids,gpiod,kmod,xz-utils,zstd,cpio \
  --customize-hook='chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t trixie-backports qemu-system-x86 >/dev/null' \
  trixie "$rootfs.new" "deb $mirror trixie main" "deb $mirror trixie-backports main"

kver="$(basename "$(ls -d "$rootfs.new"/lib/modules/* | sort -V | tail -n1)")"
log "building the guest initramfs for kernel $kver"
stage="$rootfs.new/tmp/initramfs"
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/share/misc,etc,proc,sys,dev,tmp,run,lib/modules/"$kver"}

# The kernel opens /dev/console for init before devtmpfs is mounted.
mknod -m 600 "$stage/dev/console" c 5 1
mknod -m 666 "$stage/dev/null" c 1 3

# busybox with a link per applet.
cp "$rootfs.new/usr/bin/busybox" "$stage/bin/busybox"
for applet in $("$stage/bin/busybox" --list-full); do
  [ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done

# Real programs and every library they load (resolved by the chroot's own loader).
for program in "${guest_programs[@]}"; do
  rm -f "$stage$program"
  cp "$rootfs.new$program" "$stage$program"
  for lib in $(chroot "$rootfs.new" ldd "$program" | grep -o '/[^ ]*'); do
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$rootfs.new$lib" "$stage$lib"
  done
done
cp "$rootfs.new/usr/share/misc/pci.ids" "$stage/usr/share/misc/pci.ids"

# Modules: the named ones and their dependencies, decompressed (busybox modprobe reads plain .ko),
# then indexed by depmod so modprobe and `lspci -k` find them.
moddir="/lib/modules/$kver"
declare -A wanted_ko=()
for name in "${guest_modules[@]}"; do
  path="$(chroot "$rootfs.new" modinfo -k "$kver" -n "$name")"
  wanted_ko["$path"]=1
  for dep in $(chroot "$rootfs.new" modprobe -S "$kver" --show-depends "$name" | awk '$1 == "insmod" {print $2}'); do
    wanted_ko["$dep"]=1
  done
done
for ko in "${!wanted_ko[@]}"; do
  rel="${ko#"$moddir"/}"
  mkdir -p "$stage$moddir/$(dirname "$rel")"
  case "$ko" in
    *.xz) xz -dc "$rootfs.new$ko" >"$stage$moddir/${rel%.xz}" ;;
    *.zst) chroot "$rootfs.new" zstd -qdc "$ko" >"$stage$moddir/${rel%.zst}" ;;
    *) cp "$rootfs.new$ko" "$stage$moddir/$rel" ;;
  esac
done
cp "$rootfs.new$moddir"/modules.builtin* "$rootfs.new$moddir/modules.order" "$stage$moddir/"
chroot "$rootfs.new" depmod -b /tmp/initramfs "$kver"

cat >"$stage/init" <<'INIT'
#!/bin/sh
# Guest init: mount the pseudo filesystems, run the run's script, print the result marker, power off.
# The run's script, its helpers and its nonce come from a second cpio appended per run.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /tmp /run
mount -t devpts devpts /dev/pts
nonce="$(cat /etc/vfu-interop/nonce 2>/dev/null || echo none)"
echo "@@vfu-interop init nonce=$nonce"
if [ -f /etc/vfu-interop/run.sh ]; then
  sh /etc/vfu-interop/run.sh </dev/console >/dev/console 2>&1
  rc=$?
else
  # Booted by hand: an interactive shell; the guest powers off when it exits.
  echo "no /etc/vfu-interop/run.sh: starting a shell, exit it to power off"
  setsid cttyhack sh
  rc=$?
fi
echo "@@vfu-interop result rc=$rc nonce=$nonce"
sync
poweroff -f
INIT
chmod 755 "$stage/init"

mkdir -p "$guest.new"
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | chroot "$rootfs.new" sh -c 'cd /tmp/initramfs && cpio -o -H newc --quiet --reproducible -R 0:0') \
  | gzip -1 >"$guest.new/initramfs.cpio.gz"
rm -rf "$stage"
cp "$rootfs.new/boot/vmlinuz-$kver" "$guest.new/vmlinuz"
echo "$kver" >"$guest.new/kernel-release"
"$rootfs.new/usr/bin/qemu-system-x86_64" --version 2>/dev/null | head -n1 >"$guest.new/qemu-version" || \
  chroot "$rootfs.new" qemu-system-x86_64 --version | head -n1 >"$guest.new/qemu-version"

rm -rf "$rootfs" "$guest"
mv "$rootfs.new" "$rootfs"
mv "$guest.new" "$guest"
echo "$recipe_hash" >"$stamp"
log "done: $(cat "$guest/qemu-version"), kernel $kver, initramfs $(du -h "$guest/initramfs.cpio.gz" | cut -f1)"
