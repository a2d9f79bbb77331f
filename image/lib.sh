# shellcheck shell=bash
# What image/boot-test, image/update-test and image/bundle share: host tools, QEMU started
# and always stopped, one boot watched with bounded waits, checks. Sourced,
# with $prog set to the script's name; boot() reads the sourcing script's
# settings (accel, cpu, port, timeout, console, report, until, cut_*) and sets
# its results for it.
# shellcheck disable=SC2154,SC2034

say() { printf '==> %s\n' "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$prog" "$*" >&2
  exit 1
}

# install_tools PACKAGE=COMMAND ...: installs through apt each Debian package
# whose command (or file, when it starts with /) is missing.
install_tools() {
  local pair package tool missing=() sudo=()
  for pair in "$@"; do
    package=${pair%%=*} tool=${pair#*=}
    case "$tool" in
    /*) [ -e "$tool" ] || missing+=("$package") ;;
    *) command -v "$tool" >/dev/null || missing+=("$package") ;;
    esac
  done
  ((${#missing[@]})) || return 0
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root to install: ${missing[*]}"
    sudo=(sudo)
  fi
  say "installing host tools: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Prints the first URI this machine's apt configuration uses for SUITE
# (deb822 .sources files and one-line .list files), or nothing.
host_mirror() {
  local suite=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      BEGIN { RS = ""; FS = "\n" }
      {
        types = ""; uris = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^[ \t]*#/) continue
          key = tolower(line); sub(/:.*/, "", key)
          value = line; sub(/^[^:]*:[ \t]*/, "", value)
          if (key == "types") types = value
          else if (key == "uris") uris = value
          else if (key == "suites") suites = value
          else if (key == "enabled") enabled = tolower(value)
        }
        if (enabled == "no") next
        if ((" " types " ") !~ / deb /) next
        if ((" " suites " ") !~ (" " suite " ")) next
        split(uris, u, /[ \t]+/)
        if (u[1] != "" && u[1] !~ /^cdrom:/) { print u[1]; exit }
      }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v suite="$suite" '
      /^[ \t]*deb[ \t]/ {
        sub(/\[[^]]*\][ \t]*/, "")
        if ($3 == suite && $2 !~ /^cdrom:/) { print $2; exit }
      }' "$f"
  done
}

# Prints a qemu-system-aarch64 that has QEMU's Raspberry Pi 4 B machine
# (raspi4b, QEMU 9.0 and newer). Debian 12's QEMU (7.2) has none, so when the
# installed one lacks it, Debian's bookworm-backports QEMU is unpacked into
# target/qemu-raspi4b (the host's QEMU and its apt sources are left alone;
# the backports archive is this machine's bookworm archive), and the bookworm
# libraries it links are installed through apt.
raspi4b_qemu() {
  local q dir=$repo/target/qemu-raspi4b mirror deb deps
  for q in qemu-system-aarch64 "$dir/root/usr/bin/qemu-system-aarch64"; do
    if command -v "$q" >/dev/null && "$q" -machine help 2>/dev/null | grep -q '^raspi4b '; then
      command -v "$q"
      return 0
    fi
  done
  mirror=${IMAGE_MIRROR:-$(host_mirror bookworm | head -n 1)}
  [ -n "$mirror" ] || die "this machine's apt has no Debian bookworm archive to take bookworm-backports' QEMU from; set IMAGE_MIRROR"
  say "fetching QEMU with the raspi4b machine from bookworm-backports into ${dir#"$repo"/}"
  rm -rf "$dir"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/debs" "$dir/root"
  echo "deb $mirror bookworm-backports main" >"$dir/sources.list"
  local apt=(apt-get -q -o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o Debug::NoLocking=1)
  # (apt's download user cannot write into a root-owned work tree.)
  if [ "$(id -u)" -eq 0 ]; then apt+=(-o APT::Sandbox::User=root); fi
  "${apt[@]}" update >/dev/null || die "apt could not read bookworm-backports from $mirror"
  (cd "$dir/debs" && "${apt[@]}" download qemu-system-arm qemu-system-data >/dev/null) ||
    die "apt could not download qemu-system-arm from bookworm-backports"
  for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
  # Its libraries, which bookworm has: Depends without versions or QEMU's own.
  deps=$(dpkg-deb -f "$dir"/debs/qemu-system-arm_*.deb Depends | tr ',' '\n' |
    sed -e 's/(.*)//' -e 's/|.*//' -e 's/[[:space:]]//g' | grep -v '^qemu-' | grep . | sort -u)
  local pairs=() d
  for d in $deps; do
    dpkg-query -W -f '${Status}' "$d" 2>/dev/null | grep -q 'install ok installed' || pairs+=("$d=/nonexistent/$d")
  done
  if ((${#pairs[@]})); then install_tools "${pairs[@]}" >&2; fi
  q=$dir/root/usr/bin/qemu-system-aarch64
  "$q" -machine help 2>/dev/null | grep -q '^raspi4b ' || die "the QEMU unpacked in $dir has no raspi4b machine"
  echo "$q"
}

# The newest x86-64 image in target/image, or nothing.
newest_image() {
  find "$repo/target/image" -maxdepth 1 -name 'appliance-x86-64-*.img' -printf '%T@ %p\n' 2>/dev/null |
    sort -rn | head -n 1 | cut -d' ' -f2-
}

# "START SIZE" (512-byte sectors) of IMAGE's partition NAME, or nothing: by
# its GPT name, or on an MBR (the rpi image's) by its place in the same order
# (boot, root_a, root_b, data).
partition_span() { # IMAGE NAME
  local number=0
  case "$2" in
  boot) number=1 ;;
  root_a) number=2 ;;
  root_b) number=3 ;;
  data) number=4 ;;
  esac
  sfdisk --dump "$1" 2>/dev/null | awk -F'[=,]' -v name="name=\"$2\"" -v number="$number" '
    /^label: dos/ { dos = 1 }
    / : start=/ {
      n++
      if ((dos && n == number) || index($0, name)) { gsub(/ /, "", $2); gsub(/ /, "", $4); print $2, $4; exit }
    }'
}

# The byte offset of IMAGE's partition NAME, for mtools' FILE@@OFFSET.
partition_offset() { # IMAGE NAME
  local span
  span=$(partition_span "$1" "$2")
  [ -n "$span" ] || die "$1 has no partition named $2"
  echo $((${span%% *} * 512))
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

now_ms() { echo $(($(date +%s%N) / 1000000)); }
seconds() { awk -v ms="${1:-0}" 'BEGIN { printf "%.1f", ms / 1000 }'; }

qemu_pid=""
stop_qemu() {
  [ -n "$qemu_pid" ] || return 0
  if kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$qemu_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$qemu_pid" 2>/dev/null || true
  fi
  wait "$qemu_pid" 2>/dev/null || true
  qemu_pid=""
}

# Whether boot()'s cut mode has seen its line: $cut_after in the report when
# set, else $cut_console on the console.
cut_seen() {
  if [ -n "${cut_after:-}" ]; then
    grep -q "^SELFTEST $cut_after" "$report"
  else
    grep -aqE "$cut_console" "$console"
  fi
}

# boot QEMU_ARGS...: starts QEMU (serial console to $console, the self-test's
# report to $report, loopback port $port forwarded to the box's 8443, and
# $ssh_port, when set, to its 22) and watches the boot until $until says it is
# over, or $timeout seconds:
#   report  the self-test's report is in and HTTPS answered; then $on_ready,
#           when set, is run while the box is still up, and QEMU is stopped
#   exit    QEMU stopped by itself (the box restarted: -no-reboot)
#   cut     $cut_after (a report line), or $cut_console (an extended regular
#           expression, on the console), plus $cut_delay seconds: the power
#           is cut
# Sets ready_ms, https_ms, https_code, done_ms, exited (yes/no), cut_ms.
boot() {
  : >"$console"
  : >"$report"
  local start t deadline code cut_at="" forward
  forward="hostfwd=tcp:127.0.0.1:$port-:8443"
  if [ -n "${ssh_port:-}" ]; then forward+=",hostfwd=tcp:127.0.0.1:$ssh_port-:22"; fi
  # The machine: a PC, or for the arm64 (rpi) image QEMU's generic arm64
  # machine, whose one serial port is the console and whose virtio console
  # (hvc0) takes the self-test's report.
  local system=qemu-system-x86_64 machine=q35 report_port=(-serial "file:$report")
  if [ "${guest:-x86-64}" = arm64 ]; then
    system=qemu-system-aarch64 machine=virt
    report_port=(-device virtio-serial-pci -chardev "file,id=report,path=$report" -device "virtconsole,chardev=report")
  fi
  start=$(now_ms)
  "$system" -nodefaults -machine "$machine" -accel "$accel" -cpu "$cpu" -smp 2 -m 1024 "$@" \
    -netdev "user,id=net0,restrict=on,$forward" \
    -device virtio-net-pci,netdev=net0,romfile= \
    -device virtio-rng-pci \
    -serial "file:$console" "${report_port[@]}" \
    -display none -monitor none -no-reboot &
  qemu_pid=$!
  ready_ms="" https_ms="" https_code="" done_ms="" exited=no cut_ms=""
  deadline=$((start + timeout * 1000))
  while :; do
    t=$(now_ms)
    if ((t >= deadline)); then
      say "gave up after $timeout s"
      break
    fi
    if ! kill -0 "$qemu_pid" 2>/dev/null; then
      exited=yes
      say "QEMU stopped by itself after $(seconds $((t - start))) s"
      break
    fi
    if [ -z "$ready_ms" ] && grep -aqE 'Started .{0,20}appliance\.service' "$console"; then
      ready_ms=$((t - start))
      say "READY=1 after $(seconds "$ready_ms") s"
    fi
    if [ -z "$https_ms" ]; then
      code=$(curl -sk --max-time 3 -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/" 2>/dev/null || true)
      if [ -n "$code" ] && [ "$code" != 000 ]; then
        https_ms=$(($(now_ms) - start))
        https_code=$code
        say "HTTPS answered $code after $(seconds "$https_ms") s"
      fi
    fi
    if [ -z "$done_ms" ] && grep -q '^SELFTEST end' "$report"; then
      done_ms=$((t - start))
      say "self-test report in after $(seconds "$done_ms") s"
    fi
    case "$until" in
    report)
      if [ -n "$https_ms" ] && [ -n "$done_ms" ]; then
        if [ -n "${on_ready:-}" ]; then "$on_ready"; fi
        break
      fi
      ;;
    cut)
      if [ -z "$cut_at" ] && cut_seen; then
        cut_at=$((t + cut_delay * 1000))
        say "saw '${cut_after:-$cut_console}': cutting the power in $cut_delay s"
      fi
      if [ -n "$cut_at" ] && ((t >= cut_at)); then
        cut_ms=$((t - start))
        say "power cut after $(seconds "$cut_ms") s"
        break
      fi
      ;;
    esac
    sleep 0.5
  done
  stop_qemu
}

failures=0
check() { # NAME CONDITION-RESULT(0/1) DETAIL
  if [ "$2" -eq 0 ]; then
    printf '  ok    %s\n' "$1"
  else
    printf '  FAIL  %s: %s\n' "$1" "$3"
    failures=$((failures + 1))
  fi
}
# The value of a "SELFTEST NAME value" line of this boot's report.
fact() { sed -n "s/^SELFTEST $1 //p" "$report" | tr -d '\r' | head -n 1; }
# 0 when the condition holds, 1 when not: check "x" "$(holds [ ... ])" "detail".
holds() { if "$@"; then echo 0; else echo 1; fi; }
