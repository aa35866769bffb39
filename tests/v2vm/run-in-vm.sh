#!/bin/bash
# run-in-vm.sh 'COMMAND...'
# Boots the cgroup-v2-only guest that build-vm.sh made (User-mode Linux, cgroup_no_v1=all),
# runs COMMAND with bash in /berth (the project tree from $V2VM_SRC, with the venv made at build
# time in /berth/.venv), streams its output (stdout and stderr together) to stdout, powers off
# and exits with COMMAND's status. Each run writes to a fresh copy-on-write file, so every run
# starts from the same clean image. Runs as root (UML itself needs no privilege).
#
#   V2VM_SRC=DIR   project tree to copy in (default: the current directory); .venv, caches left out
#   V2VM_MEM=4096         guest memory, MiB (the guest has one CPU)
#   V2VM_TIMEOUT=3600     seconds before the guest is killed (exit 124)
#   V2VM_CONSOLE=FILE     keep the guest kernel's console (and UML's own messages) in FILE
# Exit: COMMAND's status; 124 timed out; 125 the guest reported no status (console shown).
set -euo pipefail
V2VM_DIR=${V2VM_DIR:-/var/tmp/bv2}
SRC=${V2VM_SRC:-$PWD}
MEM=${V2VM_MEM:-4096}
TIMEOUT=${V2VM_TIMEOUT:-3600}
[ $# -ge 1 ] || { sed -n '2,6p' "$0" >&2; exit 2; }
for f in uml/linux.uml rootfs.img; do
  [ -e "$V2VM_DIR/$f" ] || { echo "run-in-vm: $V2VM_DIR/$f missing: run build-vm.sh" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/v2vm-run.XXXXXX")
upid=
cleanup() { [ -n "$upid" ] && kill "$upid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# /dev/ubdb: a plain tar the guest's init unpacks at /: v2vm/cmd.sh and berth/ (the project tree)
mkdir -p "$work/in/v2vm" "$work/in/berth"
printf '%s\n' "$*" > "$work/in/v2vm/cmd.sh"
tar -C "$SRC" --exclude='./.venv*' --exclude=./.git --exclude=.pytest_cache --exclude=__pycache__ --exclude=.ruff_cache -cf - . \
  | tar -C "$work/in/berth" -xf -
tar -C "$work/in" -cf "$work/in.tar" v2vm berth
console=${V2VM_CONSOLE:-$work/console.log}
: > "$console"

# guest /dev/tty1 -> fd 3 (our stdout), /dev/tty2 -> fd 4 (status file), console -> fd 5 (log);
# each channel reads its own /dev/null (UML refuses one input fd for two channels: EALREADY).
# ubd0: rootfs.img read-only behind a per-run COW file; ubd1r: the tar, read-only.
preload=
[ -e "$V2VM_DIR/uml/lib/xstate-shim.so" ] && preload=$V2VM_DIR/uml/lib/xstate-shim.so
timeout -k 10 "$TIMEOUT" env LD_LIBRARY_PATH="$V2VM_DIR/uml/lib" LD_PRELOAD="$preload" TMPDIR=/dev/shm "$V2VM_DIR/uml/linux.uml" \
  mem="${MEM}M" umid="v2vm-$$" uml_dir="$work" \
  ubd0="$work/cow,$V2VM_DIR/rootfs.img" ubd1r="$work/in.tar" root=/dev/ubda rw \
  init=/sbin/v2vm-init quiet cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 \
  con=null con0=fd:0,fd:5 con1=fd:6,fd:3 con2=fd:7,fd:4 ssl=null \
  3>&1 4>"$work/status" 5>>"$console" 2>>"$console" >>"$console" </dev/null 6</dev/null 7</dev/null &
upid=$!
set +e
wait "$upid"
urc=$?
set -e
upid=
rc=$(tr -dc '0-9' < "$work/status")
if [ -z "$rc" ]; then
  [ "$urc" = 124 ] && { echo "run-in-vm: timed out after ${TIMEOUT}s" >&2; exit 124; }
  echo "run-in-vm: the guest reported no status (linux.uml exit $urc); its console:" >&2
  grep -av '^ *\[<' "$console" | tail -40 >&2
  exit 125
fi
exit "$rc"
