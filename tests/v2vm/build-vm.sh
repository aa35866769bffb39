#!/bin/bash
# One-time build of a small Linux guest whose kernel runs cgroup v2 ONLY (cgroup_no_v1=all,
# cgroup2 alone at /sys/fs/cgroup), to test berth's cgroup v2 code on a host whose own
# hierarchy is a v1/v2 hybrid. Run as root on Debian 12.
#
# The guest is User-mode Linux, not a KVM guest: this host's /dev/kvm is PVM (kvm_pvm, no
# VMX), which boots only PVM-enlightened kernels; Debian's kernels crawl through its
# instruction emulator and die (KVM internal error on cmpxchg16b). See README.md here.
#
#   bash build-vm.sh                 # builds what is missing under $V2VM_DIR (default: /var/tmp/bv2;
#                                    # short: uml/lib/ld.so's path must fit in 27 bytes)
#   V2VM_FORCE=1 bash build-vm.sh    # rebuild the root file system and the project's venv
#
# Makes, under $V2VM_DIR:
#   uml/linux.uml    User-mode Linux 6.12 (Debian trixie's user-mode-linux; V2VM_UML=7.2 for sid's),
#                    its ELF interpreter pointed at uml/lib/ld.so: trixie's glibc (it needs >= 2.38)
#   uml/lib/xstate-shim.so   built from uml-xstate-shim.c beside this script: preloaded, it lets
#                    UML <= 6.12 run on a host with AVX-512/AMX (else: "userspace - ptrace set fp
#                    regs failed, errno = 14" and a panic at the first process)
#   rootfs.img       ext4: debootstrap minbase bookworm + python3, busybox-static, iproute2,
#                    iptables, runc..., the UML kernel's modules, /sbin/v2vm-init, and the project
#                    at /berth with /berth/.venv (pip install -e '.[test]', made in a chroot, so its
#                    paths are the guest's)
# The project comes from $BERTH_SRC (default: the current directory, the project root); its venv is
# made again when pyproject.toml changes.
# run-in-vm.sh boots it; rootfs.img is its read-only backing file, never written by a run.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
V2VM_DIR=${V2VM_DIR:-/var/tmp/bv2}  # short: uml/lib/ld.so's path must fit in 27 bytes
mkdir -p "$V2VM_DIR"
BERTH_SRC=${BERTH_SRC:-$PWD}
# the Debian mirror this host's apt uses (its first deb822 or one-line source of the main archive)
host_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ ! -e "$f" ] || awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f"
  done | head -1
  if [ -e /etc/apt/sources.list ]; then
    awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list
  fi
}
MIRROR=${MIRROR:-$(host_mirror | head -1)}
[ -n "$MIRROR" ] || { echo "build-vm: no Debian mirror in /etc/apt/sources.list*: set MIRROR" >&2; exit 1; }
IMG_SIZE=${IMG_SIZE:-8G}
export DEBIAN_FRONTEND=noninteractive LC_ALL=C
cd "$V2VM_DIR"
ROOT=$V2VM_DIR/root
log() { echo "[build-vm $(date +%T)] $*" >&2; }

apt_get() { # waits for another apt/dpkg to let go of the lock
  local i
  for i in $(seq 30); do
    apt-get -o DPkg::Lock::Timeout=60 "$@" && return 0
    log "apt-get $* failed (lock?), retry $i"; sleep 10
  done
  return 1
}

# --- 1. host packages -------------------------------------------------------------------------
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --- 2. User-mode Linux from Debian's newer suites, unpacked here (nothing installed on the host)
# V2VM_UML=6.12 (default): trixie's user-mode-linux, with uml/lib/xstate-shim.so preloaded (see
#   uml-xstate-shim.c: without it UML dies at its first process on this AVX-512/AMX host) and
#   iptables-legacy in the guest (its kernel has the legacy filter/nat tables, no IPv4 nftables).
# V2VM_UML=7.2: forky/sid's, which sizes the XSAVE area itself and has a faster seccomp mode, but
#   has no IPv4 netfilter table at all (berth's bridge networks cannot work there).
# Either wants glibc >= 2.38: trixie's libc, reached by rewriting linux.uml's ELF interpreter.
UML=${V2VM_UML:-6.12}
case $UML in 6.12) UML_SUITE=trixie ;; 7.2) UML_SUITE=sid ;; *) echo "V2VM_UML: 6.12 or 7.2" >&2; exit 2 ;; esac
INTERP=$V2VM_DIR/uml/lib/ld.so
if [ ! -x uml/linux.uml ] || [ ! -e "$INTERP" ] || [ "$(cat uml/series 2>/dev/null)" != "$UML" ]; then
  [ ${#INTERP} -le 27 ] || { echo "build-vm: $INTERP is longer than the 27 bytes of linux.uml's PT_INTERP: use a shorter V2VM_DIR" >&2; exit 1; }
  log "fetching user-mode-linux ($UML_SUITE) and libc6 (trixie)"
  A=$V2VM_DIR/apt-newer
  mkdir -p "$A"/lists/partial "$A"/cache/archives/partial "$A"/debs
  for s in trixie sid; do
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $s main"
  done > "$A"/sources.list
  aopt=(-o Dir::Etc::SourceList="$A"/sources.list -o Dir::Etc::SourceParts=/nonexistent
        -o Dir::State::Lists="$A"/lists -o Dir::Cache="$A"/cache -o Dir::State::status=/var/lib/dpkg/status)
  apt-get "${aopt[@]}" update -qq
  umlver=$(apt-cache "${aopt[@]}" madison user-mode-linux | awk -v s="$UML_SUITE/" '$0 ~ s {print $3}' | sort -V | tail -1)
  libcver=$(apt-cache "${aopt[@]}" madison libc6 | awk '$0 ~ /trixie\// {print $3}' | sort -V | tail -1)
  rm -f "$A"/debs/*.deb
  (cd "$A"/debs && apt-get "${aopt[@]}" download "user-mode-linux=$umlver" "libc6=$libcver" 2>&1 | grep -v unsandboxed || true)
  rm -rf uml uml-x && mkdir -p uml/lib uml-x
  for d in "$A"/debs/*.deb; do dpkg-deb -x "$d" uml-x; done
  cp uml-x/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 uml/lib/ld.so
  cp uml-x/usr/lib/x86_64-linux-gnu/libc.so.6 uml/lib/
  mv uml-x/usr/lib/uml/modules uml/modules
  # the same binary, its PT_INTERP rewritten in place (patchelf would move its segments, and UML
  # wants its fixed layout; running it as `ld.so linux.uml` maps it where UML cannot work)
  python3 - uml-x/usr/bin/linux.uml uml/linux.uml "$INTERP" <<'PY'
import struct, sys
src, dst, new = sys.argv[1], sys.argv[2], sys.argv[3].encode()
b = bytearray(open(src, 'rb').read())
phoff = struct.unpack_from('<Q', b, 0x20)[0]
phentsize, phnum = struct.unpack_from('<HH', b, 0x36)
for i in range(phnum):
    t, _, off, _, _, fsz, _, _ = struct.unpack_from('<IIQQQQQQ', b, phoff + i * phentsize)
    if t == 3:  # PT_INTERP
        assert len(new) < fsz, (new, fsz)
        b[off:off + fsz] = new + b'\0' * (fsz - len(new))
        break
else:
    sys.exit('no PT_INTERP')
open(dst, 'wb').write(b)
PY
  chmod 755 uml/linux.uml
  rm -rf uml-x
  echo "$UML" > uml/series
fi
if [ "$UML" = 6.12 ]; then
  command -v gcc >/dev/null || apt_get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null
  gcc -shared -fPIC -O2 -Wall -o uml/lib/xstate-shim.so "$HERE"/uml-xstate-shim.c
else
  rm -f uml/lib/xstate-shim.so
fi
UML_KVER=$(env LD_LIBRARY_PATH="$V2VM_DIR"/uml/lib uml/linux.uml --version)
echo "$UML_KVER" > kernel.version
log "User-mode Linux $UML_KVER"

# --- 3. root file system ------------------------------------------------------------------------
if [ -n "${V2VM_FORCE:-}" ]; then rm -rf "$ROOT" rootfs.img; fi
if [ ! -x "$ROOT/usr/bin/python3" ]; then
  log "debootstrap bookworm into $ROOT"
  rm -rf "$ROOT"
  debootstrap --variant=minbase \
    --include=python3,python3-venv,busybox-static,bash-static,iproute2,iptables,libseccomp2,procps,util-linux,kmod,ca-certificates,git,runc,tini,time,openssl,uidmap \
    bookworm "$ROOT" "$MIRROR" >debootstrap.log 2>&1 || { tail -20 debootstrap.log; exit 1; }
  # the registry tests' docker-registry and htpasswd; no service is started in the chroot
  printf '#!/bin/sh\nexit 101\n' > "$ROOT"/usr/sbin/policy-rc.d && chmod 755 "$ROOT"/usr/sbin/policy-rc.d
  cp /etc/resolv.conf "$ROOT"/etc/resolv.conf
  chroot "$ROOT" apt-get install -y -qq --no-install-recommends docker-registry apache2-utils >>debootstrap.log 2>&1 \
    || { tail -20 debootstrap.log; exit 1; }
  rm -f "$ROOT"/usr/sbin/policy-rc.d "$ROOT"/etc/resolv.conf
  rm -rf "$ROOT"/var/cache/apt/archives/*.deb
fi
# rootless berth's tests need newuidmap and newgidmap (Debian's uidmap): added to a tree made
# before they were asked for
if [ ! -x "$ROOT/usr/bin/newuidmap" ]; then
  log "uidmap into $ROOT"
  cp /etc/resolv.conf "$ROOT"/etc/resolv.conf
  chroot "$ROOT" apt-get install -y -qq --no-install-recommends uidmap >>debootstrap.log 2>&1 \
    || { tail -20 debootstrap.log; exit 1; }
  rm -f "$ROOT"/etc/resolv.conf
  rm -rf "$ROOT"/var/cache/apt/archives/*.deb
  rm -f rootfs.img
fi
# the UML kernel's modules (overlay, veth, bridge, nf_tables... are modules; modprobe in the guest)
if [ ! -e "$ROOT/usr/lib/modules/$UML_KVER/modules.dep" ]; then
  rm -rf "$ROOT"/usr/lib/modules && mkdir -p "$ROOT"/usr/lib/modules
  cp -a uml/modules/"$UML_KVER" "$ROOT"/usr/lib/modules/
  chroot "$ROOT" depmod "$UML_KVER"
fi
# the host's CA certificates (its HTTPS egress proxy's CA among them), for pip in the chroot
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$ROOT"/usr/local/share/ca-certificates
  cp /usr/local/share/ca-certificates/*.crt "$ROOT"/usr/local/share/ca-certificates/
  chroot "$ROOT" update-ca-certificates >/dev/null 2>&1 || true
fi
if [ "$UML" = 6.12 ]; then  # its kernel has x_tables' filter and nat tables, not IPv4 nftables
  chroot "$ROOT" update-alternatives --quiet --set iptables /usr/sbin/iptables-legacy
  chroot "$ROOT" update-alternatives --quiet --set ip6tables /usr/sbin/ip6tables-legacy
else
  chroot "$ROOT" update-alternatives --quiet --set iptables /usr/sbin/iptables-nft
  chroot "$ROOT" update-alternatives --quiet --set ip6tables /usr/sbin/ip6tables-nft
fi
# procps 4.0.2's ps fails with "Unable to get system boot time" on UML's /proc/cpuinfo (no "core
# id"/"physical id" lines), so `ps -ef` (berth-runtime ps, berth top) exits 1. This ps shows
# procps a topology-complete copy in a mount namespace of its own: /proc stays untouched for
# everything else (an overmount there would stop user-namespace containers mounting procfs).
mkdir -p "$ROOT"/usr/local/bin
cat > "$ROOT"/usr/local/bin/ps <<'EOF2'
#!/bin/sh
# v2vm: procps' ps, shown a /proc/cpuinfo it can parse (see build-vm.sh)
if [ -s /run/v2vm-cpuinfo ] && [ "$(id -u)" = 0 ]; then
  exec unshare --mount --propagation private sh -c 'mount --bind /run/v2vm-cpuinfo /proc/cpuinfo && exec /usr/bin/ps "$@"' ps "$@"
fi
exec /usr/bin/ps "$@"
EOF2
chmod 755 "$ROOT"/usr/local/bin/ps
echo v2vm > "$ROOT"/etc/hostname
printf '127.0.0.1\tlocalhost v2vm\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOT"/etc/hosts

# PID 1 of the guest: no systemd. cgroup2 alone at /sys/fs/cgroup (the kernel has cgroup_no_v1=all),
# PID 1 in /init.scope as under systemd, every controller enabled at the root; unpacks /dev/ubdb
# (run-in-vm.sh's tar: v2vm/cmd.sh and the project tree), runs the command in /berth with its
# output on /dev/tty1 and its exit status on /dev/tty2 (host fds, see run-in-vm.sh), powers off.
cat > "$ROOT"/sbin/v2vm-init <<'EOF'
#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
# opened once: UML's console channels refuse a reopen while the last close is under way (EALREADY)
exec 7>/dev/tty1 8>/dev/tty2
stty raw -echo <&7 2>/dev/null; stty raw -echo <&8 2>/dev/null
# tty1 and tty2 become the controlling terminals of sessions that last until power-off. Else a
# container that opens one (a privileged one may: mknod c 4 1) makes it its own controlling
# terminal, and the kernel hangs it up when that container's init exits: the command's output
# then fails with EIO.
setsid -f -c sleep infinity <&7 >/dev/null 2>&1
setsid -f -c sleep infinity <&8 >/dev/null 2>&1
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts /dev/pts
ln -sfn pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
mount -t mqueue mqueue /dev/mqueue
ln -sfn /proc/self/fd /dev/fd; ln -sfn /proc/self/fd/0 /dev/stdin
ln -sfn /proc/self/fd/1 /dev/stdout; ln -sfn /proc/self/fd/2 /dev/stderr
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp  # no nosuid/nodev: like a /tmp on the root file system
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
mount -t bpf -o mode=700 bpf /sys/fs/bpf 2>/dev/null
hostname v2vm
{ sed '/^$/d' /proc/cpuinfo; printf 'physical id\t: 0\nsiblings\t: 1\ncore id\t\t: 0\ncpu cores\t: 1\n\n'; } > /run/v2vm-cpuinfo
ip link set lo up
for m in overlay veth bridge br_netfilter nf_tables; do modprobe -q $m; done
mkdir -p /sys/fs/cgroup/init.scope && echo $$ > /sys/fs/cgroup/init.scope/cgroup.procs
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
if [ -b /dev/ubdb ]; then
  # the project tree replaces /berth's; its venv (made at build time, editable) stays
  find /berth -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
  tar -xf /dev/ubdb -C / 2>&1 | grep -v 'A lone zero block' >&2
  # the venv's copies of bin/* (setuptools script-files) follow the tree's
  for f in /berth/bin/*; do
    t=/berth/.venv/bin/$(basename "$f")
    [ -e "$t" ] && sed '1s|^#!python.*|#!/berth/.venv/bin/python|' "$f" > "$t" && chmod 755 "$t"
  done
fi
cd /berth 2>/dev/null || cd /
rc=127
if [ -f /v2vm/cmd.sh ]; then
  V2VM=1 bash /v2vm/cmd.sh </dev/null >&7 2>&7 7>&- 8>&-
  rc=$?
fi
sync
echo "$rc" >&8
busybox poweroff -f
EOF
chmod 755 "$ROOT"/sbin/v2vm-init

# --- 4. the project and its venv, made in a chroot at the guest's path ---------------------------
deps=$(sha256sum "$BERTH_SRC"/pyproject.toml | cut -c1-16)
if [ ! -x "$ROOT"/berth/.venv/bin/berth ] || [ -n "${V2VM_FORCE:-}" ] || [ "$(cat "$ROOT"/berth/.venv/deps 2>/dev/null)" != "$deps" ]; then
  log "venv at /berth/.venv (pip install -e '.[test]' in a chroot)"
  rm -rf "$ROOT"/berth && mkdir -p "$ROOT"/berth
  tar -C "$BERTH_SRC" --exclude='./.venv*' --exclude=./.git --exclude=__pycache__ --exclude='*.egg-info' -cf - . \
    | tar -C "$ROOT"/berth -xf -
  unshare --mount --propagation private bash -euc '
    R=$1
    mount --rbind /dev "$R/dev"; mount -t proc proc "$R/proc"; mount -t sysfs sysfs "$R/sys"
    cp /etc/resolv.conf "$R/etc/resolv.conf"
    chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
      PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
      bash -euc "cd /berth && /usr/bin/python3 -m venv .venv && .venv/bin/pip install -q -e \".[test]\" && .venv/bin/pip uninstall -y -q setuptools"
    rm -f "$R/etc/resolv.conf"
  ' _ "$ROOT"
  echo "$deps" > "$ROOT"/berth/.venv/deps
  rm -f rootfs.img
fi

# --- 5. the ext4 image -----------------------------------------------------------------------------
if [ -e rootfs.img ]; then log "done: rootfs.img is up to date"; exit 0; fi
log "rootfs.img ($IMG_SIZE sparse ext4 from $ROOT)"
rm -f rootfs.img.new
mkfs.ext4 -q -F -L v2vmroot -d "$ROOT" rootfs.img.new "$IMG_SIZE" >mkfs.log 2>&1 || { cat mkfs.log; exit 1; }
mv rootfs.img.new rootfs.img
log "done: User-mode Linux $UML_KVER; rootfs.img $(du -h rootfs.img | cut -f1) used"
