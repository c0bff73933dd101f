# Guest-side helpers for interop scenarios (busybox ash). Sourced by every run's script before the
# scenario's own lines. They report through the console line protocol (src/console-protocol.ts):
# checks, values and marks, each one line starting with "@@vfu-interop ".
# Functions that find something print it on stdout and return 1 when it is not there.

vfu_failed=0

# vfu_ok NAME / vfu_fail NAME DETAIL...: report a check.
vfu_ok() { echo "@@vfu-interop check ok $1"; }
vfu_fail() {
  name="$1"
  shift
  echo "@@vfu-interop check fail $name $*"
  vfu_failed=$((vfu_failed + 1))
}

# vfu_value KEY VALUE...: hand a value to the host.
vfu_value() {
  key="$1"
  shift
  echo "@@vfu-interop value $key $*"
}

# vfu_mark NAME: a rendezvous point; the host may act on it (e.g. hot-add a device).
vfu_mark() { echo "@@vfu-interop mark $1"; }

# vfu_wait_host NAME: print mark NAME, then block until the host answers with a line on the
# console (RunningGuest.release), e.g. after it hot-added a device or another guest caught up.
vfu_wait_host() {
  vfu_mark "$1"
  read -r vfu_reply
}

# vfu_check NAME CMD...: passes when CMD exits 0; on failure the detail is CMD's output.
vfu_check() {
  name="$1"
  shift
  if out="$("$@" 2>&1)"; then
    vfu_ok "$name"
  else
    status=$?
    vfu_fail "$name" "status $status from: $*${out:+ -> $(echo "$out" | tr '\n' ' ' | cut -c1-300)}"
  fi
}

# vfu_expect_eq NAME ACTUAL EXPECTED
vfu_expect_eq() {
  if [ "$2" = "$3" ]; then vfu_ok "$1"; else vfu_fail "$1" "expected '$3', got '$2'"; fi
}

# vfu_expect_match NAME TEXT PATTERN: TEXT contains the fixed string PATTERN.
vfu_expect_match() {
  if printf '%s\n' "$2" | grep -qF -- "$3"; then
    vfu_ok "$1"
  else
    vfu_fail "$1" "'$3' not in: $(printf '%s' "$2" | tr '\n' '|' | cut -c1-400)"
  fi
}

# vfu_finish: exit with the number of failed checks (the result marker carries it).
vfu_finish() { exit "$vfu_failed"; }

# vfu_find_device VENDOR:DEVICE [N]: the BDF (0000:00:01.0) of the Nth (default 1st) such function.
vfu_find_device() {
  want_vendor="0x${1%%:*}"
  want_device="0x${1##*:}"
  want_n="${2:-1}"
  n=0
  for dev in /sys/bus/pci/devices/*; do
    [ "$(cat "$dev/vendor" 2>/dev/null)" = "$want_vendor" ] || continue
    [ "$(cat "$dev/device" 2>/dev/null)" = "$want_device" ] || continue
    n=$((n + 1))
    if [ "$n" -eq "$want_n" ]; then
      basename "$dev"
      return 0
    fi
  done
  return 1
}

# vfu_wait_device VENDOR:DEVICE SECONDS: wait (polling 10 times a second) until the function has
# appeared and the kernel has finished adding it (its `enable` attribute exists once it is added to
# sysfs after resource assignment). No rescan: it would race pciehp, which assigns bridge resources.
vfu_wait_device() {
  i=0
  while [ "$i" -lt $(($2 * 10)) ]; do
    if bdf="$(vfu_find_device "$1")" && [ -e "/sys/bus/pci/devices/$bdf/enable" ]; then
      echo "$bdf"
      return 0
    fi
    usleep 100000
    i=$((i + 1))
  done
  return 1
}

# vfu_pci_enable BDF: turn on memory/IO decoding (what a driver's pci_enable_device does).
vfu_pci_enable() { echo 1 >"/sys/bus/pci/devices/$1/enable"; }

# vfu_bar BDF N: "KIND START SIZE" of BAR N; KIND is io, mem32, mem64 or none (and +pf if
# prefetchable). Read from sysfs `resource`, whose line N is "start end flags".
vfu_bar() {
  line="$(sed -n "$(($2 + 1))p" "/sys/bus/pci/devices/$1/resource")"
  set -- $line
  start=$(($1))
  end=$(($2))
  flags=$(($3))
  if [ "$start" -eq 0 ] && [ "$end" -eq 0 ]; then
    echo "none 0x0 0x0"
    return 0
  fi
  size=$((end - start + 1))
  if [ $((flags & 0x100)) -ne 0 ]; then
    kind=io
  elif [ $((flags & 0x100000)) -ne 0 ]; then
    kind=mem64
  else
    kind=mem32
  fi
  [ $((flags & 0x2000)) -ne 0 ] && kind="$kind+pf"
  printf '%s 0x%x 0x%x\n' "$kind" "$start" "$size"
}

# vfu_bar_read BDF N OFFSET WIDTH: read WIDTH (1, 2, 4, 8) bytes at OFFSET of BAR N, printed as
# 0x%0*x. IO BARs go through sysfs resourceN (the kernel does in/out of that width); memory BARs
# through /dev/mem at the BAR's physical address (sysfs resourceN of a memory BAR cannot be read).
vfu_bar_read() {
  set -- "$1" "$2" $(($3)) "$4" $(vfu_bar "$1" "$2")
  case "$5" in
    io*)
      value="$(dd if="/sys/bus/pci/devices/$1/resource$2" bs="$4" skip=$(($3 / $4)) count=1 2>/dev/null |
        od -An -v -tx"$4" | tr -d ' \n')"
      [ -n "$value" ] || return 1
      printf '0x%s\n' "$value"
      ;;
    mem*)
      printf "0x%0$(($4 * 2))x\n" "$(devmem $(($6 + $3)) $(($4 * 8)))"
      ;;
    *) return 1 ;;
  esac
}

# vfu_bar_write BDF N OFFSET WIDTH VALUE: write WIDTH bytes at OFFSET of BAR N.
vfu_bar_write() {
  set -- "$1" "$2" $(($3)) "$4" $(($5)) $(vfu_bar "$1" "$2")
  case "$6" in
    io*)
      bytes=""
      i=0
      while [ "$i" -lt "$4" ]; do
        bytes="$bytes$(printf '\\%03o' $((($5 >> (i * 8)) & 0xff)))"
        i=$((i + 1))
      done
      printf "$bytes" | dd of="/sys/bus/pci/devices/$1/resource$2" bs="$4" seek=$(($3 / $4)) count=1 \
        conv=notrunc 2>/dev/null
      ;;
    mem*) devmem $(($7 + $3)) $(($4 * 8)) "$5" ;;
    *) return 1 ;;
  esac
}

# vfu_driver BDF: the name of the bound driver, or "none".
vfu_driver() {
  if [ -L "/sys/bus/pci/devices/$1/driver" ]; then
    basename "$(readlink "/sys/bus/pci/devices/$1/driver")"
  else
    echo none
  fi
}

# vfu_find_tty BDF: the ttyS device(s) an 8250 driver registered for the function.
vfu_find_tty() {
  found=1
  for tty in /sys/class/tty/*; do
    dev="$(readlink -f "$tty/device" 2>/dev/null)" || continue
    case "$dev" in
      */"$1" | */"$1"/*)
        basename "$tty"
        found=0
        ;;
    esac
  done
  return "$found"
}

# vfu_find_gpiochip BDF: the gpiochipN registered below the function.
vfu_find_gpiochip() {
  for chip in /sys/bus/gpio/devices/gpiochip*; do
    dev="$(readlink -f "$chip")"
    case "$dev" in
      */"$1"/*)
        basename "$chip"
        return 0
        ;;
    esac
  done
  return 1
}

# vfu_gpio_get CHIP LINE: 0 or 1, through the GPIO character device (libgpiod's gpioget).
vfu_gpio_get() { gpioget --numeric -c "$1" "$2"; }

# vfu_gpio_set CHIP LINE VALUE: drive an output line through the character device and let go.
vfu_gpio_set() { gpioset -c "$1" -t 0 "$2=$3"; }

# vfu_load_module NAME: modprobe with the error in the check's detail when it fails.
vfu_load_module() { vfu_check "modprobe-$1" modprobe "$1"; }
