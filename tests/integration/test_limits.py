"""Resource limits hold, seen from what the container's processes can do (on the host's cgroups, and
in CI on a cgroup v2-only guest kernel): memory, pids and cpu, and the values the cgroup files show."""

from __future__ import annotations

import pytest

from tests.conftest import CGROUP_V2

pytestmark = pytest.mark.root


def test_memory_limit_kills_what_grows_past_it(berth):
    """tail keeps its input's last lines whole: fed no newline, it grows: it grows until the limit kills it,
    which the cgroup counts (oom_kill in memory.events on v2, memory.oom_control on v1).
    head and tail are the OOM killer's first choices (oom_score_adj 1000), so that a second OOM, met
    while the killed tail still holds some of its charge, takes head and never the shell that
    reports; and the shell reads the counter with builtins, forking nothing after the kill."""
    events = "/sys/fs/cgroup/memory.events" if CGROUP_V2 else "/sys/fs/cgroup/memory/memory.oom_control"
    first = "echo 1000 > /proc/self/oom_score_adj && exec"
    script = (f"sh -c '{first} head -c 200m /dev/zero' | sh -c '{first} tail' >/dev/null; echo tail=$?; "
              f'while read -r key value; do if [ "$key" = oom_kill ]; then echo "oom_kill $value"; fi; done < {events}')  # fmt: skip
    out = berth("run", "--rm", "--network", "none", "--memory", "32m", "--memory-swap", "32m", "busybox",
                "sh", "-c", script, check=True).stdout  # fmt: skip
    assert "tail=137" in out, out  # SIGKILLed
    assert int(next(line for line in out.splitlines() if line.startswith("oom_kill ")).split()[1]) >= 1, out


def test_memory_limit_shown_inside(berth):
    path = "/sys/fs/cgroup/memory.max" if CGROUP_V2 else "/sys/fs/cgroup/memory/memory.limit_in_bytes"
    out = berth("run", "--rm", "--network", "none", "--memory", "48m", "busybox", "cat", path, check=True).stdout
    assert out.strip() == str(48 << 20)


def test_pids_limit_stops_forks(berth):
    """Thirty sleeps asked for under a limit of 10: the count stays at 10 (read with the shell's own
    `read`: at the limit a shell cannot fork a cat)."""
    current = "/sys/fs/cgroup/pids.current" if CGROUP_V2 else "/sys/fs/cgroup/pids/pids.current"
    script = f"(for i in $(seq 30); do sleep 5 & done) 2>/dev/null; read n < {current}; echo $n"
    out = berth("run", "--rm", "--network", "none", "--pids-limit", "10", "busybox", "sh", "-c", script,
                check=True).stdout  # fmt: skip
    assert 5 <= int(out) <= 10, out


def test_cpu_quota_holds(berth):
    """--cpus 0.2 over ~1.5 s of a busy loop: the cgroup's CPU time stays near 20% of the wall time."""
    usage = ("cat /sys/fs/cgroup/cpu.stat | grep usage_usec | cut -d' ' -f2" if CGROUP_V2
             else "echo $(($(cat /sys/fs/cgroup/cpuacct/cpuacct.usage) / 1000))")  # fmt: skip
    script = (f"a=$(cat /proc/uptime | cut -d' ' -f1 | tr -d .); u0=$({usage}); "
              "i=0; while [ $i -lt 1000000 ]; do i=$((i+1)); t=$(cat /proc/uptime | cut -d' ' -f1 | tr -d .); "
              "[ $((t - a)) -ge 150 ] && break; done; "
              f"echo $((t - a)) $(( $({usage}) - u0 ))")  # fmt: skip
    out = berth("run", "--rm", "--network", "none", "--cpus", "0.2", "busybox", "sh", "-c", script, check=True).stdout
    wall_cs, cpu_us = (int(x) for x in out.split())
    ratio = cpu_us / (wall_cs * 10_000)
    assert ratio < 0.35, f"{cpu_us} us of CPU in {wall_cs / 100} s: {ratio:.2f} with --cpus 0.2"
