"""Regression tests for known container escapes, one per CVE, through `berth` as
users run it. Where an escape would harm the host if berth were vulnerable, the
test aims at a throwaway target or only reads. The runtime-level checks of the
same bugs are in test_runtime_safety.py (fd leaks, /proc and /sys symlinks,
mount targets, the cwd through a leaked fd) and test_layer_apply.py (CVE-2014-6407).
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.root


def rootfs_tar(busybox_rootfs: str, tweak) -> bytes:
    """The busybox root file system as a tar, with `tweak(tar)` adding or replacing entries."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        skip = tweak.skip if hasattr(tweak, "skip") else ()
        for entry in sorted(os.listdir(busybox_rootfs)):
            if entry not in skip:
                tar.add(os.path.join(busybox_rootfs, entry), arcname=entry)
        tweak(tar)
    return out.getvalue()


def symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def test_cve_2019_5736_runtime_binary_out_of_reach(berth):
    """The exe of whatever enters the container for `exec` (berth's Python) must never be reachable
    from inside: berth's helpers are non-dumpable before they join. Read-only probe: were it reachable,
    the test would fail without writing anything."""
    berth("run", "-d", "--name", "cve5736", "busybox", "sh", "-c",
          "while true; do for p in /proc/[0-9]*; do t=$(readlink $p/exe 2>/dev/null) || continue; "
          "case $t in /bin/*|/usr/*|/sbin/*) ;; *) echo \"$p $t\" >> /tmp/seen;; esac; "
          "[ -r $p/exe ] && head -c1 $p/exe >/dev/null 2>&1 && echo \"$p opened\" >> /tmp/seen; done; done",
          check=True)  # fmt: skip
    python = Path(sys.executable).resolve()
    before = hashlib.sha256(python.read_bytes()).hexdigest()
    for _ in range(15):
        berth("exec", "cve5736", "true", check=True)
    seen = berth("exec", "cve5736", "cat", "/tmp/seen").stdout
    assert "python" not in seen and "berth" not in seen, seen
    assert hashlib.sha256(python.read_bytes()).hexdigest() == before


def test_cve_2016_9962_no_host_fd_in_exec(berth):
    berth("run", "-d", "--name", "cve9962", "busybox", "sleep", "60", check=True)
    out = berth("exec", "cve9962", "sh", "-c", "for f in /proc/self/fd/*; do echo $f $(readlink $f); done",
                check=True).stdout  # fmt: skip
    # fds 0-2 are the caller's own stdio, passed on by design; nothing else may come from the host
    targets = [line.split(" ", 1)[1] for line in out.splitlines() if " " in line and line.split()[0][-1] not in "012"]
    for target in targets:
        assert not target.startswith(("/var/", "/run/", "/tmp/", "/root", "/work", "/home")), out
        assert ".venv" not in target and "berth" not in target, out


def test_cve_2024_21626_workdir_through_a_leaked_fd(berth):
    for n in range(3, 9):
        proc = berth("run", "--rm", "-w", f"/proc/self/fd/{n}", "busybox", "sh", "-c", "ls ../../../../.. | head -3")
        assert proc.returncode != 0 or "berth" not in proc.stdout, proc.stdout
        assert "var" not in proc.stdout.split() or proc.returncode != 0


def test_cve_2019_16884_and_2023_27561_proc_as_a_symlink_or_volume(berth, busybox_rootfs, tmp_path):
    def tweak(tar):
        symlink(tar, "proc", "/etc")

    tweak.skip = ("proc",)
    archive = tmp_path / "evil-proc.tar"
    archive.write_bytes(rootfs_tar(busybox_rootfs, tweak))
    berth("import", "-c", 'CMD ["true"]', str(archive), "evil-proc", check=True)
    proc = berth("run", "--rm", "evil-proc")
    assert proc.returncode != 0 and "proc" in proc.stderr and "symlink" in proc.stderr
    host_dir = tmp_path / "fake-proc"
    host_dir.mkdir()
    proc = berth("run", "--rm", "-v", f"{host_dir}:/proc", "busybox", "sh", "-c", "cat /proc/self/status | head -1")
    assert proc.returncode != 0 or proc.stdout.startswith("Name:")  # never the host directory as /proc
    assert berth("ps", "-aq").stdout == ""


def test_cve_2019_19921_and_2021_30465_volume_target_through_a_symlink(berth, busybox_rootfs, tmp_path):
    throwaway = tmp_path / "throwaway-host-target"
    throwaway.mkdir()
    (throwaway / "marker").write_text("host side\n")

    def tweak(tar):
        symlink(tar, "data", str(throwaway))  # an absolute link that names a host directory

    archive = tmp_path / "evil-link.tar"
    archive.write_bytes(rootfs_tar(busybox_rootfs, tweak))
    berth("import", "-c", 'CMD ["true"]', str(archive), "evil-link", check=True)
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "from-volume").write_text("volume\n")
    out = berth("run", "--rm", "-v", f"{volume}:/data", "evil-link", "sh", "-c",
                f"ls {throwaway}; cat {throwaway}/marker 2>&1").stdout  # fmt: skip
    assert "from-volume" in out and "host side" not in out  # resolved inside the root, not on the host
    assert sorted(os.listdir(throwaway)) == ["marker"]


def test_cve_2022_29162_no_inheritable_capabilities(berth):
    berth("run", "-d", "--name", "cve29162", "busybox", "sleep", "60", check=True)
    for argv in (["run", "--rm", "busybox"], ["exec", "cve29162"]):
        out = berth(*argv, "grep", "-E", "CapInh|CapAmb", "/proc/self/status", check=True).stdout
        assert out.split() == ["CapInh:", "0000000000000000", "CapAmb:", "0000000000000000"], out


def test_cve_2025_31133_52565_52881_masks_console_and_procfs(berth, busybox_rootfs, tmp_path):
    def tweak(tar):
        symlink(tar, "dev/null", "/proc/sys/kernel/core_pattern")  # a mask source an image cannot choose
        symlink(tar, "dev/console", "/proc/sysrq-trigger")

    archive = tmp_path / "evil-dev.tar"
    archive.write_bytes(rootfs_tar(busybox_rootfs, tweak))
    berth("import", "-c", 'CMD ["true"]', str(archive), "evil-dev", check=True)
    out = berth("run", "--rm", "evil-dev", "sh", "-c",
                "stat -c '%F %t:%T' /dev/null /proc/keys /proc/timer_list; "
                "( : > /proc/sys/kernel/core_pattern ) 2>/dev/null && echo core_pattern=writable; "
                "( : > /proc/sysrq-trigger ) 2>/dev/null && echo sysrq=writable; "
                "grep -c ' /proc/sys ' /proc/self/mountinfo", check=True).stdout  # fmt: skip
    lines = out.splitlines()
    assert lines[:3] == ["character special file 1:3"] * 3, out  # masks are the real /dev/null
    assert "writable" not in out and lines[-1] == "1"  # /proc/sys stays read-only


def test_cve_2020_15257_no_abstract_sockets(berth):
    berth("run", "-d", "--name", "cve15257", "-t", "busybox", "sleep", "60", check=True)
    berth("exec", "cve15257", "true", check=True)
    cdir = Path(berth.root, "containers", berth("inspect", "-f", "{{.Id}}", "cve15257", check=True).stdout.strip())
    monitor = int((cdir / "monitor.pid").read_text())
    inodes = set()
    for fd in os.listdir(f"/proc/{monitor}/fd"):
        link = os.readlink(f"/proc/{monitor}/fd/{fd}")
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    with open("/proc/net/unix") as f:
        abstract = [line for line in f if line.split()[6:7] and line.split()[6] in inodes and "@" in line]
    assert not abstract, abstract


def test_cve_2022_0492_no_cgroup_release_agent(berth):
    out = berth("run", "--rm", "busybox", "sh", "-c",
                "mkdir -p /tmp/cg; mount -t cgroup -o memory cgroup /tmp/cg 2>/dev/null && echo mounted; "
                "unshare -Urm true 2>/dev/null && echo unshared; "
                "for f in /sys/fs/cgroup/*/release_agent; do test -w $f && echo writable $f; done; echo done",
                check=True).stdout  # fmt: skip
    assert out == "done\n", out


def test_device_nodes_made_inside_stay_closed(berth):
    """CAP_MKNOD is a default capability: the device cgroup must keep every node a container makes
    closed but Docker's defaults (a config without device rules once left the cgroup's inherited
    "a *:* rwm" in place: a mknod'd tty1, loop-control or vcs opened). Only opens, never writes."""
    script = ('for d in "c 10 237" "c 7 0" "c 4 1" "c 10 229" "b 7 0" "c 1 3" "c 1 5" "c 10 200"; do set -- $d; '
              'mknod /dev/t$2_$3 $1 $2 $3; true < /dev/t$2_$3 2>/dev/null && echo "$d open" || echo "$d denied"; done')  # fmt: skip
    out = berth("run", "--rm", "--network", "none", "busybox", "sh", "-c", script, check=True).stdout.splitlines()
    assert out == ["c 10 237 denied", "c 7 0 denied", "c 4 1 denied", "c 10 229 denied", "b 7 0 denied",
                   "c 1 3 open", "c 1 5 open", "c 10 200 open"]  # fmt: skip


def host_block_device() -> tuple[int, int]:
    """A block device of /dev that this test itself can open: the one under / first (a sandboxed
    host may deny even root its disk), else the first that opens."""
    import stat

    nodes = [e.path for e in os.scandir("/dev") if stat.S_ISBLK(e.stat(follow_symlinks=False).st_mode)]
    nodes.sort(key=lambda p: (os.stat(p).st_rdev != os.stat("/").st_dev, p))
    for path in nodes:
        try:
            os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        except OSError:
            continue
        rdev = os.stat(path).st_rdev
        return os.major(rdev), os.minor(rdev)
    raise AssertionError(f"none of the block devices {nodes} opens for root here: nothing to probe with")


def test_a_made_block_device_reads_only_under_privileged(berth):
    """A block device of the host's, made with mknod (CAP_MKNOD is a default capability): a default
    container cannot open it, a --privileged one reads it (the same probe). Reads, never writes."""
    major, minor = host_block_device()
    probe = f"mknod /tmp/disk b {major} {minor} && head -c 512 /tmp/disk >/dev/null 2>&1 && echo read || echo denied"
    out = berth("run", "--rm", "--network", "none", "busybox", "sh", "-c", probe, check=True).stdout
    assert out == "denied\n", out
    out = berth("run", "--rm", "--network", "none", "--privileged", "busybox", "sh", "-c", probe, check=True).stdout
    assert out == "read\n", out


def test_security_shows_the_isolation_at_a_glance(berth, tmp_path):
    import json

    berth("run", "-d", "--name", "sec-a", "--memory", "64m", "--pids-limit", "50", "busybox", "sleep", "60", check=True)
    berth("run", "-d", "--name", "sec-b", "--pid", "container:sec-a", "--security-opt", "no-new-privileges",
          "--cap-drop", "ALL", "busybox", "sleep", "60", check=True)  # fmt: skip
    berth("run", "-d", "--name", "sec-p", "--privileged", "busybox", "sleep", "60", check=True)
    text = berth("security", "sec-b", check=True).stdout
    assert "pid " in text and "sec-a" in text and "No new privs:     yes" in text
    effective = next(line for line in text.splitlines() if line.startswith("Capabilities effective:"))
    assert effective.endswith("none (0)") and "Seccomp:          filter, profile: berth default" in text
    a = json.loads(berth("security", "--format", "json", "sec-a", check=True).stdout)
    assert a["Namespaces"]["pid"]["shared_with"] == ["sec-b"]
    assert a["Namespaces"]["net"]["shared_with"] == [] and a["Namespaces"]["mnt"]["shared_with"] == []
    assert a["CgroupLimits"] == {"memory": 64 << 20, "pids": 50}
    assert len(a["Capabilities"]["effective"]) == 14 and a["Capabilities"]["inheritable"] == []
    assert "/proc/keys" in a["MaskedPaths"] and "/proc/sys" in a["ReadonlyPaths"]
    p = json.loads(berth("security", "--format", "json", "sec-p", check=True).stdout)
    assert p["Seccomp"] == {"mode": "disabled", "profile": "none (unconfined)"} and p["MaskedPaths"] == []
    berth("stop", "-t", "0", "sec-b", check=True)
    stopped = berth("security", "sec-b")
    assert stopped.returncode == 1 and "is not running" in stopped.stderr
    assert berth("security", "nosuch").returncode == 1
