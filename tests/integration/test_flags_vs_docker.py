"""`run` flags, one by one, under berth and under Debian's docker.io from the same busybox image:
what the process sees inside must be the same (Docker's behaviour is the reference).

Each case is (flags, a shell script printing what the flag changes); both engines run it with
`--network none` (the tests' dockerd has no bridge) and their outputs must be equal. --privileged
is left to test_hardening_vs_docker.py: Docker's cannot run on this kind of machine, whose
bounding set lacks CAP_SYS_RESOURCE.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import berth_and_docker

pytestmark = pytest.mark.root

CASES = {
    "env": (["-e", "A=1", "-e", "B", "--env", "C=x y"], "echo $A; echo ${B-unset}; echo $C; env | grep -c ^HOME="),
    "env-file": (["--env-file", "{envfile}"], "echo $FROM_FILE; echo $SECOND"),
    "workdir": (["-w", "/tmp/new/dir"], "pwd; ls -ld /tmp/new/dir | cut -c1-10"),
    "user": (["-u", "1:2"], "id -u; id -g; echo $HOME"),
    "user-by-name": (["-u", "root"], "id"),
    "hostname": (["-h", "myhost"], "hostname; cat /etc/hostname; echo $HOSTNAME; grep -c myhost /etc/hosts || true"),
    "entrypoint": (["--entrypoint", "/bin/echo"], None),
    "read-only": (
        ["--read-only"],
        "touch /x 2>/dev/null && echo wrote || echo refused; touch /tmp/x 2>/dev/null && echo tmp || echo notmp",
    ),
    "tmpfs": (
        ["--tmpfs", "/scratch:size=2m"],
        "grep -c ' /scratch ' /proc/mounts; df -k /scratch | tail -1 | awk '{print $2}'",
    ),
    "cap-drop": (["--cap-drop", "NET_RAW", "--cap-drop", "chown"], "grep CapEff /proc/self/status"),
    "cap-add": (["--cap-add", "SYS_TIME"], "grep CapEff /proc/self/status"),
    "ulimit": (["--ulimit", "nofile=512:1024", "--ulimit", "nproc=100"], "ulimit -n; ulimit -Hn; ulimit -u"),
    "shm-size": (["--shm-size", "8m"], "df -k /dev/shm | tail -1 | awk '{print $2}'"),
    "sysctl": (
        ["--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.msgmax=9000"],
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax",
    ),
    "add-host": (["--add-host", "db:10.1.2.3", "--add-host", "cache:10.1.2.4"], "grep -E '^10\\.1\\.2' /etc/hosts"),
    "oom-score-adj": (["--oom-score-adj", "500"], "cat /proc/self/oom_score_adj"),
    "memory": (["--memory", "64m"], "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"),
    "pids-limit": (["--pids-limit", "42"], "cat /sys/fs/cgroup/pids/pids.max"),
    "cpus": (["--cpus", "0.5"], "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    "ipc-private": ([], "ls /dev/mqueue | wc -l; grep -c ' /dev/shm ' /proc/mounts"),
    "security-opt-nnp": (["--security-opt", "no-new-privileges"], "grep NoNewPrivs /proc/self/status"),
    "seccomp-unconfined": (["--security-opt", "seccomp=unconfined"], "grep Seccomp: /proc/self/status"),
    "init": (["--init"], "cat /proc/1/cmdline | tr '\\0' ' '; echo; cat /proc/1/comm"),
    "volume-ro": (["-v", "{hostdir}:/data:ro"], "cat /data/f; touch /data/x 2>/dev/null || echo read-only"),
    "stop-signal": (["--stop-signal", "USR1"], "true"),
    "label": (["-l", "a=b", "--label", "c"], "true"),
    "memory-reservation": (["--memory-reservation", "32m"], "cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes"),
    "cpu-shares": (["--cpu-shares", "512"], "cat /sys/fs/cgroup/cpu/cpu.shares"),
    "cpuset-cpus": (["--cpuset-cpus", "0"], "cat /sys/fs/cgroup/cpuset/cpuset.cpus"),
    "pid-host": (["--pid", "host"], "test $$ -ne 1 && echo not-pid-1; test -d /proc/1 && echo sees-host-init"),
    "ipc-host": (["--ipc", "host"], "readlink /proc/self/ns/ipc"),
    "uts-host": (["--uts", "host"], "hostname"),
    "mount-tmpfs": (["--mount", "type=tmpfs,target=/m,tmpfs-size=1m"], "grep ' /m ' /proc/mounts | cut -d' ' -f3"),
    "mount-bind": (
        ["--mount", "type=bind,source={hostdir},target=/b,readonly"],
        "cat /b/f; touch /b/x 2>/dev/null || echo read-only",
    ),
    "stop-timeout": (["--stop-timeout", "5"], "true"),
    "health": (["--health-cmd", "true", "--health-interval", "1s", "--health-retries", "2"], "true"),
    "log-opt": (["--log-driver", "json-file", "--log-opt", "max-size=1m", "--log-opt", "max-file=2"], "echo logged"),
    "shm-and-tmpfs-modes": (["--tmpfs", "/t:mode=1777"], "stat -c %a /t /dev/shm"),
    "memory-swap": (
        ["--memory", "64m", "--memory-swap", "96m"],
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
    ),
    "memory-default-swap": (["--memory", "64m"], "cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
    "volume-z": (["-v", "{hostdir}:/data:z"], "cat /data/f"),
}


@pytest.fixture(scope="module")
def engines(tmp_path_factory, dockerd):
    cli, top = berth_and_docker(tmp_path_factory, dockerd, "flags")
    (top / "env").write_text("FROM_FILE=hello\n# a comment\nSECOND=two words\n")
    (top / "share").mkdir()
    (top / "share" / "f").write_text("shared\n")
    yield cli, dockerd, {"envfile": str(top / "env"), "hostdir": str(top / "share")}
    cli.cleanup()


def both(
    engines, flags: list[str], script: str | None
) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    cli, docker, paths = engines
    flags = [f.format(**paths) for f in flags]
    command = ["sh", "-c", script] if script is not None else ["hello", "from", "entrypoint"]
    ours = cli("run", "--rm", "--network", "none", *flags, "busybox", *command)
    theirs = subprocess.run(["docker", "run", "--rm", "--network", "none", *flags, "busybox", *command],
                            capture_output=True, text=True, env=docker.env, timeout=120)  # fmt: skip
    return ours, theirs


@pytest.mark.parametrize("case", sorted(CASES))
def test_flag_as_docker(engines, case):
    flags, script = CASES[case]
    ours, theirs = both(engines, flags, script)
    assert theirs.returncode == 0, f"docker: {theirs.stderr}"
    assert ours.returncode == 0, f"berth: {ours.stderr}"
    assert ours.stdout == theirs.stdout, f"{case}: berth {ours.stdout!r} != docker {theirs.stdout!r}"


@pytest.mark.parametrize(
    ("flags", "code"),
    [
        (["--memory", "12q"], 125),
        (["--cpus", "x"], 125),
        (["--ulimit", "nofile=x"], 125),
        (["--restart", "sometimes"], 125),
        (["-p", "x"], 125),
        (["--sysctl", "novalue"], 125),
        (["--oom-score-adj", "5000"], 125),
        (["--memory-swap", "128m"], 125),
        (["--memory", "64m", "--memory-swap", "32m"], 125),
        (["--memory", "32m", "--memory-reservation", "64m"], 125),
        (["--cpu-shares", "x"], 125),
        (["--cpuset-cpus", "x"], 125),
        (["--uts", "host", "-h", "name"], 125),
    ],
)
def test_bad_flag_values_exit_as_docker(engines, flags, code):
    ours, theirs = both(engines, flags, "true")
    assert theirs.returncode == code and ours.returncode == code, (ours.stderr, theirs.stderr)
    assert len(ours.stderr.strip().splitlines()) == 1


def test_missing_and_unrunnable_commands_exit_as_docker(engines):
    cli, docker, _ = engines
    for command, code in ((["/nonexistent"], 127), (["/etc/passwd"], 126)):
        ours = cli("run", "--rm", "--network", "none", "busybox", *command)
        theirs = subprocess.run(["docker", "run", "--rm", "--network", "none", "busybox", *command],
                                capture_output=True, text=True, env=docker.env, timeout=120)  # fmt: skip
        assert ours.returncode == theirs.returncode == code, (ours.stderr, theirs.stderr)


def test_stdin_only_with_i_as_docker(engines):
    cli, docker, _ = engines
    for flags in ([], ["-i"]):
        ours = cli("run", "--rm", "--network", "none", *flags, "busybox", "cat", input=b"from stdin\n")
        theirs = subprocess.run(["docker", "run", "--rm", "--network", "none", *flags, "busybox", "cat"], input="from stdin\n",
                                capture_output=True, text=True, env=docker.env, timeout=120)  # fmt: skip
        assert ours.stdout == theirs.stdout == ("from stdin\n" if flags else ""), (flags, ours.stdout, theirs.stdout)
