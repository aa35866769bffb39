"""The container verbs under berth and under Debian's docker.io, side by side: the same commands
on the same busybox image, their outputs compared with IDs, times and sizes masked."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time

import pytest

from tests.conftest import berth_and_docker

pytestmark = pytest.mark.root

_MASKS = [
    (re.compile(r"\b[0-9a-f]{64}\b"), "<ID>"),
    (re.compile(r"\b[0-9a-f]{12}\b"), "<ID>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"), "<TIME>"),
]


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


@pytest.fixture(scope="module")
def pair(tmp_path_factory, dockerd):
    cli, top = berth_and_docker(tmp_path_factory, dockerd, "verbs")

    def theirs(*args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], capture_output=True, text=True, env=dockerd.env, timeout=120, **kw)

    def both(*args: str, **kw) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
        ours_kw = {**kw, "input": kw["input"].encode()} if "input" in kw else kw  # berth's helper takes bytes
        return cli(*args, **ours_kw), theirs(*args, **kw)

    both.top, both.ours, both.theirs, both.env = top, cli, theirs, dockerd.env
    yield both
    cli.cleanup()
    for name in ("v-exit", "v-run", "v-files", "v-other"):
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, env=dockerd.env)


def same(ours, theirs, stream: str = "stdout") -> None:
    a, b = mask(getattr(ours, stream)), mask(getattr(theirs, stream))
    assert (ours.returncode, a) == (theirs.returncode, b), (
        f"berth {ours.returncode} {a!r} != docker {theirs.returncode} {b!r}"
    )


def test_exited_container_as_docker(pair):
    pair("run", "--name", "v-exit", "--network", "none", "busybox", "sh", "-c", "echo one; echo two >&2; exit 3")
    for args in (
        [
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}} {{.Name}} {{.Config.Cmd}}",
            "v-exit",
        ],
        ["wait", "v-exit"],
        ["logs", "v-exit"],
        ["logs", "--tail", "2", "v-exit"],  # (which of the two streams' lines came last is a race in both)
        ["port", "v-exit"],
    ):
        same(*pair(*args))
    ours, theirs = pair("logs", "v-exit")
    assert ours.stderr == theirs.stderr == "two\n"
    ours, theirs = pair("logs", "-t", "v-exit")
    assert mask(ours.stdout) == mask(theirs.stdout) == "<TIME> one\n"
    for args in (["kill", "v-exit"], ["pause", "v-exit"], ["exec", "v-exit", "true"], ["top", "v-exit"]):
        ours, theirs = pair(*args)
        assert ours.returncode == theirs.returncode != 0, (args, ours.stderr, theirs.stderr)


def test_running_container_as_docker(pair):
    pair("run", "-d", "--name", "v-run", "--network", "none", "busybox", "sh", "-c", "echo up; sleep 1000")
    pair("run", "-d", "--name", "v-other", "--network", "none", "busybox", "sleep", "1000")
    time.sleep(0.5)
    for args in (
        ["inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.State.Paused}} {{.RestartCount}}", "v-run"],
        ["exec", "v-run", "sh", "-c", "echo $HOSTNAME | wc -c; exit 4"],
        ["exec", "v-run", "/nonexistent"],
        ["exec", "-w", "/tmp", "-e", "X=1", "-u", "1:2", "v-run", "sh", "-c", "pwd; echo $X; id -u; id -g"],
        ["rename", "v-other", "v-run"],
        ["rm", "v-run"],
        ["logs", "v-run"],
    ):
        same(*pair(*args))
    ours, theirs = pair("top", "v-run")
    assert ours.stdout.splitlines()[0].split() == theirs.stdout.splitlines()[0].split()
    assert [line.split()[-2:] for line in ours.stdout.splitlines()[1:]] == [
        line.split()[-2:] for line in theirs.stdout.splitlines()[1:]]  # fmt: skip
    for verb in ("pause", "unpause"):
        same(*pair(verb, "v-run"))
    ours, theirs = pair("stats", "--no-stream", "v-run")
    assert ours.stdout.splitlines()[0].split() == theirs.stdout.splitlines()[0].split()
    ours, theirs = pair("ps", "-a")
    assert ours.stdout.splitlines()[0] == theirs.stdout.splitlines()[0]
    same(*pair("stop", "-t", "1", "v-run"))
    same(*pair("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "v-run"))


def test_files_as_docker(pair):
    pair("run", "--name", "v-files", "--network", "none", "busybox", "sh", "-c",
         "mkdir /new && echo x > /new/f && rm /etc/shadow; echo y >> /etc/motd; true")  # fmt: skip
    ours, theirs = pair("diff", "v-files")
    assert sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines())
    out = pair.top / "out"
    for engine, dest in zip(("berth", "docker"), pair("cp", "v-files:/new/f", "-"), strict=True):
        assert dest.returncode == 0, (engine, dest.stderr)
    ours, theirs = pair("cp", "v-files:/nope", str(out))
    assert ours.returncode == theirs.returncode != 0
    ours, theirs = pair("commit", "-c", "ENV A=b", "-m", "msg", "v-files", "v-files-img")
    assert ours.returncode == theirs.returncode == 0
    same(*pair("run", "--rm", "--network", "none", "v-files-img", "sh", "-c", "cat /new/f; echo $A"))
    same(*pair("image", "inspect", "-f", "{{.Comment}} {{.Config.Env}}", "v-files-img"))
    pair("rmi", "-f", "v-files-img")


def test_volumes_and_prune_as_docker(pair):
    for args in (
        ["volume", "create", "v-vol"],
        ["volume", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}}", "v-vol"],
        ["volume", "create", "--label", "k=v", "v-vol2"],
        ["volume", "ls", "-q", "--filter", "label=k=v"],
        ["run", "--rm", "--network", "none", "-v", "v-vol:/data", "busybox", "sh", "-c", "echo kept > /data/f"],
        [
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "v-vol:/data:ro",
            "busybox",
            "sh",
            "-c",
            "cat /data/f; touch /data/g",
        ],
        ["volume", "rm", "v-vol", "v-vol2"],
        ["volume", "rm", "v-vol"],
        ["volume", "inspect", "v-vol"],
    ):
        same(*pair(*args))
    ours, theirs = pair("volume", "ls")
    assert ours.stdout.splitlines()[0].split() == theirs.stdout.splitlines()[0].split()
    pair("create", "--name", "v-pruned", "--network", "none", "busybox", "true")
    ours, theirs = pair("container", "prune", "-f")
    assert ours.returncode == theirs.returncode == 0
    for out in (ours.stdout, theirs.stdout):
        assert out.startswith("Deleted Containers:\n") and "Total reclaimed space:" in out, out
    same(*pair("inspect", "v-pruned"), "stderr")


def test_ps_format_templates_as_docker(pair):
    pair("run", "-d", "--name", "v-ps", "--network", "none", "-l", "k=v", "busybox", "sleep", "1000")
    try:
        for fmt in ("{{.Names}} {{.Image}} {{.Command}} {{.State}} {{.Labels}} {{.Networks}}",
                    "table {{.Names}}\\t{{.Image}}\\t{{.State}}", "{{json .Names}}"):  # fmt: skip
            same(*pair("ps", "--filter", "name=v-ps", "--format", fmt))
    finally:
        pair("rm", "-f", "v-ps")
    for fmt in ("{{.Repository}}:{{.Tag}}", "table {{.Repository}}\t{{.Tag}}"):
        same(*pair("images", "--format", fmt, "busybox"))


def test_restart_update_and_cp_as_docker(pair):
    pair("run", "-d", "--name", "v-up", "--network", "none", "busybox", "sh", "-c", "echo start; sleep 1000")
    try:
        time.sleep(0.3)
        same(*pair("restart", "-t", "1", "v-up"))
        time.sleep(0.5)
        same(*pair("logs", "v-up"))  # both runs' lines
        same(*pair("update", "--memory", "96m", "--memory-swap", "192m", "v-up"))
        same(*pair("exec", "v-up", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"))
        same(*pair("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "v-up"))
        copies = []
        for run, dest in ((pair.ours, pair.top / "cp-berth"), (pair.theirs, pair.top / "cp-docker")):
            dest.mkdir()
            proc = run("cp", "v-up:/etc/passwd", str(dest))
            assert proc.returncode == 0, proc.stderr
            copies.append((dest / "passwd").read_text())
        assert copies[0] == copies[1]
    finally:
        pair("rm", "-f", "v-up")


def test_events_and_inspect_shape_as_docker(pair):
    since = str(int(time.time()) - 1)
    pair("run", "--rm", "--name", "v-ev", "--network", "none", "busybox", "true")
    until = str(int(time.time()) + 1)
    ours, theirs = pair("events", "--since", since, "--until", until, "--filter", "container=v-ev",
                        "--format", "{{.Type}} {{.Action}}")  # fmt: skip
    assert ours.stdout.splitlines() == theirs.stdout.splitlines(), (ours.stdout, theirs.stdout)
    pair("create", "--name", "v-shape", "--network", "none", "busybox", "true")
    try:
        import json

        ours, theirs = (json.loads(p.stdout)[0] for p in pair("inspect", "v-shape"))
        assert set(theirs) - set(ours) == set(), "top-level keys docker has and berth lacks"
        for part in ("State", "Config", "HostConfig"):
            missing = set(theirs[part]) - set(ours[part])
            assert not missing, (part, sorted(missing))
    finally:
        pair("rm", "v-shape")


def test_inspect_mounts_as_docker(pair, tmp_path):
    """Mounts: an anonymous and a named volume, a read-only bind and a tmpfs mount, field by field
    (the volumes' host paths are each engine's own)."""
    import json

    flags = ("-v", "/scratch", "-v", "v-named:/n", "-v", f"{tmp_path}:/hosttmp:ro", "--mount", "type=tmpfs,target=/t")
    pair("create", "--name", "v-mounts", "--network", "none", *flags, "busybox", "true")
    try:
        ours, theirs = (
            sorted((m["Type"], m["Destination"], m.get("Driver", ""), m["Mode"], m["RW"], m["Propagation"],
                    mask(m.get("Name", "")), m["Source"] if m["Type"] == "bind" else "")
                   for m in json.loads(p.stdout)[0]["Mounts"])
            for p in pair("inspect", "v-mounts")
        )  # fmt: skip
        assert ours == theirs
        assert len(ours) == 4
    finally:
        pair("rm", "-v", "v-mounts")
        pair("volume", "rm", "v-named")


def test_more_flags_of_the_verbs_as_docker(pair):
    pair("create", "--name", "v-first", "--network", "none", "-v", "/anon", "busybox", "true")
    pair("run", "-d", "--name", "v-second", "--network", "none", "busybox", "sh", "-c", "echo hi; sleep 1000")
    try:
        time.sleep(0.3)
        for args in (
            ["ps", "-l", "--format", "{{.Names}}"],
            ["ps", "-a", "-n", "2", "--format", "{{.Names}} {{.State}}"],
            ["exec", "-i", "v-second", "cat"],
            ["exec", "-d", "v-second", "sleep", "1"],
            ["logs", "--since", "2099-01-01T00:00:00Z", "v-second"],
            ["logs", "--until", "2000-01-01T00:00:00Z", "v-second"],
            ["logs", "--since", "1h", "v-second"],
        ):
            same(*pair(*args, input="piped\n"))
        ours, theirs = pair("exec", "-t", "v-second", "echo", "tty")
        # (\r: docker's own exec -t gives \r\n or \n from one run to the next here)
        assert ours.stdout.replace("\r", "") == theirs.stdout.replace("\r", "") == "tty\n"
        ours, theirs = pair("ps", "-a", "-s", "--filter", "name=v-first")
        assert ours.stdout.splitlines()[0].split() == theirs.stdout.splitlines()[0].split()
        ours, theirs = pair("system", "df")
        assert [line.split()[:1] for line in ours.stdout.splitlines()] == [
            line.split()[:1] for line in theirs.stdout.splitlines()]  # fmt: skip
        for verb in ("info", "version"):
            ours, theirs = pair(verb)
            assert ours.returncode == theirs.returncode == 0, (verb, ours.stderr)
        volumes = [set(p.stdout.split()) for p in pair("volume", "ls", "-q")]
        same(*pair("rm", "-v", "v-first"))
        after = [set(p.stdout.split()) for p in pair("volume", "ls", "-q")]
        assert [len(b - a) for b, a in zip(volumes, after, strict=True)] == [1, 1]  # -v took the anonymous one
    finally:
        pair("rm", "-f", "v-first", "v-second")


def test_logs_follow_and_live_stats_as_docker(pair):
    pair("run", "-d", "--name", "v-follow", "--network", "none", "busybox",
         "sh", "-c", "for i in 1 2 3; do echo line-$i; sleep 0.4; done")  # fmt: skip
    try:
        ours, theirs = pair("logs", "-f", "v-follow")  # returns once the container has exited
        assert ours.returncode == theirs.returncode == 0
        assert ours.stdout == theirs.stdout == "line-1\nline-2\nline-3\n"
    finally:
        pair("rm", "-f", "v-follow")
    pair("run", "-d", "--name", "v-stats", "--network", "none", "busybox", "sleep", "1000")
    try:
        headers = []
        cli = pair.ours
        for argv, env in (([cli.binary, "--root", cli.root, "stats", "v-stats"], None),
                          (["docker", "stats", "v-stats"], pair.env)):  # fmt: skip
            with tempfile.TemporaryFile() as out:
                proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env)
                time.sleep(2.5)  # the live table runs until stopped
                proc.kill()
                proc.wait()
                out.seek(0)
                text = out.read().decode(errors="replace")
            headers.append(next(re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line).split()
                                for line in text.splitlines() if "CONTAINER" in line))  # fmt: skip
        assert headers[0] == headers[1], headers
    finally:
        pair("rm", "-f", "v-stats")


def test_ipc_shared_with_a_container_as_docker(pair):
    pair("run", "-d", "--name", "v-donor", "--ipc", "shareable", "--network", "none", "busybox", "sleep", "1000")
    try:
        script = 'test "$(readlink /proc/self/ns/ipc)" = "$IPC" && echo shared'
        for run, inspect in ((pair.ours, pair.ours), (pair.theirs, pair.theirs)):
            pid = inspect("inspect", "-f", "{{.State.Pid}}", "v-donor").stdout.strip()
            ipc = os.readlink(f"/proc/{pid}/ns/ipc")
            out = run("run", "--rm", "--ipc", "container:v-donor", "--network", "none", "-e", f"IPC={ipc}", "busybox",
                      "sh", "-c", script)  # fmt: skip
            assert (out.returncode, out.stdout) == (0, "shared\n"), out.stderr
    finally:
        pair("rm", "-f", "v-donor")
