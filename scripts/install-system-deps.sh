#!/usr/bin/env bash
# Installs the Debian packages that the test suites use, when missing. Idempotent; needs root
# (or sudo) only when something is missing.
set -euo pipefail

# command -> Debian package
declare -A wanted=(
  [g++]=g++
  [lspci]=pciutils
  [make]=make
  [nbdfuse]=libnbd-bin
  [nbdkit]=nbdkit
  [python3]=python3
  [tshark]=tshark
  [qemu-nbd]=qemu-utils
)

missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
