"""The same probes inside a container under berth and under Debian's docker.io,
from the same busybox image: berth must never be looser than Docker.

Probes: the capability sets, no_new_privs and seccomp mode from /proc/self/status;
unshare and mount attempts; whether /proc/sys, /sys and /proc/sysrq-trigger are
writable (opened for writing with nothing written; busybox's `test -w` trusts
root); masked; masked /proc files; the /dev listing;
the cgroup mounts; the resource limits. Then the same with --privileged, which
must lift exactly what Docker's lifts, and `--user`, which must leave no
effective capability.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import bootstrapped

pytestmark = pytest.mark.root

PROBE = r"""
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status | tr -d '\t' | tr ':' '='
unshare -m true 2>/dev/null && echo unshare_mount=ok || echo unshare_mount=fail
unshare -n true 2>/dev/null && echo unshare_net=ok || echo unshare_net=fail
unshare -U true 2>/dev/null && echo unshare_user=ok || echo unshare_user=fail
mkdir -p /tmp/m && mount -t tmpfs none /tmp/m 2>/dev/null && echo mount=ok || echo mount=fail
( : > /proc/sys/kernel/hostname ) 2>/dev/null && echo proc_sys_writable=yes || echo proc_sys_writable=no
( : > /proc/sysrq-trigger ) 2>/dev/null && echo sysrq_writable=yes || echo sysrq_writable=no
touch /sys/kernel/berth-probe 2>&1 | grep -q Read-only && echo sys_writable=no || echo sys_writable=yes
echo kcore_bytes=$(head -c 16 /proc/kcore 2>/dev/null | wc -c)
echo masks=$(grep -cE ' /proc/(kcore|keys|timer_list|sched_debug) ' /proc/self/mountinfo)
echo keys_bytes=$(head -c 16 /proc/keys 2>/dev/null | wc -c)
echo dev=$(ls /dev | sort | tr '\n' ',')
echo cgroup_rw=$(grep ' /sys/fs/cgroup' /proc/self/mountinfo | grep -c ' rw,')
echo nofile=$(ulimit -n)
"""


@pytest.fixture(scope="module")
def pair(tmp_path_factory, dockerd):
    cli = bootstrapped(str(tmp_path_factory.mktemp("hardening-root")))
    archive = tmp_path_factory.mktemp("hardening") / "busybox.tar"
    cli("save", "-o", str(archive), "busybox", check=True)
    assert dockerd("load", "-i", str(archive)).returncode == 0
    yield cli, dockerd
    cli.cleanup()


def probe(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def run_both(pair, *flags: str) -> tuple[dict, dict]:
    cli, docker = pair
    ours = cli("run", "--rm", "--network", "none", *flags, "busybox", "sh", "-c", PROBE)
    assert ours.returncode == 0, ours.stderr
    theirs = subprocess.run(["docker", "run", "--rm", "--network", "none", *flags, "busybox", "sh", "-c", PROBE],
                            capture_output=True, text=True, env=docker.env, timeout=120)  # fmt: skip
    assert theirs.returncode == 0, theirs.stderr
    return probe(ours.stdout), probe(theirs.stdout)


def caps(value: str) -> int:
    return int(value, 16)


def assert_not_looser(ours: dict, theirs: dict) -> None:
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        extra = caps(ours[key]) & ~caps(theirs[key])
        assert not extra, f"{key}: berth grants {extra:#x} that docker does not"
    assert int(ours["NoNewPrivs"]) >= int(theirs["NoNewPrivs"])
    assert int(ours["Seccomp"]) >= int(theirs["Seccomp"])
    for key in ("unshare_mount", "unshare_net", "unshare_user", "mount"):
        assert not (ours[key] == "ok" and theirs[key] == "fail"), f"{key}: berth allows what docker refuses"
    for key in ("proc_sys_writable", "sysrq_writable", "sys_writable"):
        assert not (ours[key] == "yes" and theirs[key] == "no"), f"{key}: writable under berth only"
    for key in ("kcore_bytes", "keys_bytes"):
        assert int(ours[key]) <= int(theirs[key]), f"{key}: berth shows what docker masks"
    assert int(ours["masks"]) >= int(theirs["masks"]), "docker masks more of /proc"
    ours_dev, theirs_dev = set(ours["dev"].split(",")), set(theirs["dev"].split(","))
    assert ours_dev <= theirs_dev, f"/dev entries under berth only: {ours_dev - theirs_dev}"
    assert int(ours["cgroup_rw"]) <= int(theirs["cgroup_rw"])
    # nofile only: Docker sets no nproc limit of its own (the test's dockerd has one because this machine caps it)
    if theirs["nofile"] != "unlimited":
        assert ours["nofile"] != "unlimited" and int(ours["nofile"]) <= int(theirs["nofile"])


def test_defaults_are_never_looser_than_docker(pair):
    ours, theirs = run_both(pair)
    assert_not_looser(ours, theirs)
    # and the same in substance: the 14 capabilities, a filter, nothing created or mounted
    assert ours["CapEff"] == theirs["CapEff"] and ours["CapInh"] == "0000000000000000"
    assert ours["Seccomp"] == "2" and ours["unshare_mount"] == ours["mount"] == "fail"


def test_a_user_has_no_effective_capabilities(pair):
    ours, theirs = run_both(pair, "--user", "1000:1000")
    assert_not_looser(ours, theirs)
    assert caps(ours["CapEff"]) == caps(ours["CapPrm"]) == 0


def test_no_new_privileges_and_cap_drop(pair):
    ours, theirs = run_both(pair, "--security-opt", "no-new-privileges", "--cap-drop", "ALL", "--cap-add", "CHOWN")
    assert_not_looser(ours, theirs)
    assert ours["NoNewPrivs"] == "1" and caps(ours["CapEff"]) == 1


def test_privileged_lifts_what_docker_lifts(pair):
    """Docker's --privileged asks for every capability, which this machine's bounding set lacks (runc then
    fails): compared with what Docker's privileged mode is documented to lift instead."""
    cli, _ = pair
    ours = probe(cli("run", "--rm", "--network", "none", "--privileged", "busybox", "sh", "-c", PROBE).stdout)
    with open("/proc/self/status") as f:
        host_bounding = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    assert caps(ours["CapEff"]) == caps(ours["CapBnd"]) == caps(host_bounding)
    assert ours["Seccomp"] == "0" and ours["unshare_mount"] == ours["mount"] == "ok"
    assert ours["sys_writable"] == "yes" and ours["masks"] == "0"  # nothing masked
    import stat

    host_devices = {e.name for e in os.scandir("/dev") if stat.S_ISBLK(e.stat(follow_symlinks=False).st_mode)
                    or stat.S_ISCHR(e.stat(follow_symlinks=False).st_mode)}  # fmt: skip
    assert host_devices <= set(ours["dev"].split(",")), host_devices - set(ours["dev"].split(","))


def test_seccomp_unconfined_and_a_profile_file(pair, tmp_path):
    cli, _ = pair
    out = probe(cli("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c", PROBE).stdout)
    assert out["Seccomp"] == "0"
    profile = tmp_path / "profile.json"
    profile.write_text('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"],'
                       ' "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}')  # fmt: skip
    proc = cli("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c",
               "mkdir /x 2>&1; grep Seccomp: /proc/self/status")  # fmt: skip
    assert "Permission denied" in proc.stdout and "Seccomp:\t2" in proc.stdout
    bad = cli("run", "--rm", "--security-opt", f"seccomp={tmp_path / 'missing.json'}", "busybox", "true")
    assert bad.returncode == 125 and "opening seccomp profile" in bad.stderr
    profile.write_text("{not json")
    bad = cli("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "true")
    assert bad.returncode == 125 and "decoding seccomp profile failed" in bad.stderr
    assert cli("ps", "-aq").stdout == ""
