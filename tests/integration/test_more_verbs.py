"""logs --since/--until, stats, info and system df, in Docker's shapes."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import wait_for

pytestmark = pytest.mark.root


def test_logs_since_and_until(berth):
    berth("run", "-d", "--name", "timed", "busybox", "sh", "-c", "echo one; sleep 1.5; echo two", check=True)
    berth("wait", "timed", check=True)
    stamped = berth("logs", "-t", "timed", check=True).stdout.splitlines()
    assert [line.split()[1] for line in stamped] == ["one", "two"]
    second = stamped[1].split()[0]
    assert berth("logs", "--since", "1s", "timed", check=True).stdout == "two\n"
    assert berth("logs", "--until", "1s", "timed", check=True).stdout == "one\n"
    assert berth("logs", "--since", second, "timed", check=True).stdout == "two\n"
    assert berth("logs", "--since", "2000-01-01", "--until", str(time.time() + 60), "timed").stdout == "one\ntwo\n"
    bad = berth("logs", "--since", "yesterday", "timed")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1


def test_stats_no_stream(berth):
    berth("run", "-d", "--name", "busy", "--memory", "64m", "--pids-limit", "20", "busybox", "sh", "-c",
          "while true; do :; done", check=True)  # fmt: skip
    berth("run", "-d", "--name", "idle", "busybox", "sleep", "60", check=True)
    table = berth("stats", "--no-stream", check=True).stdout.splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%",
                                "NET", "I/O", "BLOCK", "I/O", "PIDS"]  # fmt: skip
    rows = {
        r["Name"]: r for r in map(json.loads, berth("stats", "--no-stream", "--format", "json").stdout.splitlines())
    }
    assert float(rows["busy"]["CPUPerc"].rstrip("%")) > 50  # a spinning shell
    assert float(rows["idle"]["CPUPerc"].rstrip("%")) < 5
    assert rows["busy"]["MemUsage"].endswith("/ 64MiB") and rows["busy"]["PIDs"] == "1"
    assert berth("stats", "--no-stream", "nosuch").returncode != 0


def test_info_and_system_df(berth):
    berth("run", "-d", "--name", "counted", "busybox", "sleep", "60", check=True)
    berth("create", "--name", "stopped", "busybox", "sh", "-c", "echo x > /file", check=True)
    info = json.loads(berth("info", "--format", "json", check=True).stdout)
    assert info["ContainersRunning"] >= 1 and info["ContainersStopped"] >= 1 and info["Images"] >= 1
    assert info["Driver"] == "overlay" and info["OSType"] == "linux" and info["NCPU"] >= 1
    assert "Storage Driver: overlay" in berth("info", check=True).stdout
    assert berth("info", "-f", "{{.Driver}}", check=True).stdout == "overlay\n"
    df = berth("system", "df", check=True).stdout.splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split()[0] for line in df[1:]] == ["Images", "Containers", "Local", "Build"]


def test_cp_both_ways_and_never_through_a_symlink_to_the_host(berth, tmp_path):
    import io
    import tarfile

    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "sub" / "f").write_text("inner\n")
    (tmp_path / "file").write_text("top\n")
    host_target = tmp_path / "host-only"
    host_target.mkdir()
    berth("run", "-d", "--name", "copier", "busybox", "sh", "-c",
          f"ln -s /etc/passwd /link; ln -s {host_target} /escape; sleep 60", check=True)  # fmt: skip
    assert wait_for(lambda: berth("exec", "copier", "test", "-L", "/escape").returncode == 0)
    berth("cp", str(tmp_path / "file"), "copier:/tmp/", check=True)
    berth("cp", str(tmp_path / "dir"), "copier:/opt/copied", check=True)
    out = berth("exec", "copier", "sh", "-c", "cat /tmp/file /opt/copied/sub/f; stat -c %u:%g /tmp/file").stdout
    assert out == "top\ninner\n0:0\n"
    berth("cp", "copier:/link", str(tmp_path / "passwd"), check=True)  # the container's /etc/passwd, not the host's
    assert (tmp_path / "passwd").read_text().startswith("root:x:0:0:root:/root:/bin/sh")
    assert not (tmp_path / "passwd").is_symlink()
    berth("cp", str(tmp_path / "file"), "copier:/escape/planted", check=True)
    assert sorted(p.name for p in host_target.iterdir()) == []  # written inside the container's root
    assert berth("exec", "copier", "cat", f"{host_target}/planted").stdout == "top\n"
    archive = subprocess_tar(berth, "copier:/opt/copied")
    assert sorted(archive.getnames()) == ["copied", "copied/sub", "copied/sub/f"]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("from-stdin")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"in\n"))
    berth("cp", "-", "copier:/root", input=buf.getvalue(), check=True)
    assert berth("exec", "copier", "cat", "/root/from-stdin").stdout == "in\n"
    missing = berth("cp", "copier:/nonexistent", str(tmp_path / "x"))
    assert missing.returncode != 0 and "Could not find the file /nonexistent" in missing.stderr
    berth("stop", "-t", "0", "copier", check=True)
    berth("cp", "copier:/tmp/file", str(tmp_path / "from-stopped"), check=True)
    assert (tmp_path / "from-stopped").read_text() == "top\n"
    assert berth("cp", "a", "b").returncode != 0


def subprocess_tar(berth, source: str):
    import io
    import subprocess
    import tarfile

    proc = subprocess.run([berth.binary, "--root", berth.root, "cp", source, "-"], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return tarfile.open(fileobj=io.BytesIO(proc.stdout))


def test_named_and_anonymous_volumes(berth):
    assert berth("volume", "create", "--label", "team=a", "data1", check=True).stdout == "data1\n"
    berth("run", "--rm", "-v", "data1:/data", "busybox", "sh", "-c", "echo persisted > /data/f", check=True)
    out = berth("run", "--rm", "--mount", "type=volume,source=data1,target=/d,readonly", "busybox", "sh", "-c",
                "cat /d/f; touch /d/x 2>&1").stdout  # fmt: skip
    assert out == "persisted\ntouch: /d/x: Read-only file system\n"
    berth("run", "--rm", "-v", "auto:/x", "busybox", "true", check=True)  # made on first use, as Docker does
    assert berth("volume", "ls", "-q", check=True).stdout.split() == ["auto", "data1"]
    doc = json.loads(berth("volume", "inspect", "data1", check=True).stdout)[0]
    assert doc["Driver"] == "local" and doc["Labels"] == {"team": "a"} and doc["Scope"] == "local"
    assert doc["Mountpoint"].endswith("/volumes/data1/_data")
    cid = berth("run", "-d", "-v", "data1:/data", "-v", "/anon", "busybox", "sleep", "60", check=True).stdout.strip()
    anon = [n for n in berth("volume", "ls", "-q").stdout.split() if n not in ("auto", "data1")]
    assert len(anon) == 1 and len(anon[0]) == 64
    busy = berth("volume", "rm", "data1")
    assert busy.returncode == 1 and "volume is in use" in busy.stderr
    assert berth("volume", "ls", "-q", "--filter", "dangling=true").stdout.split() == ["auto"]
    berth("rm", "-f", "-v", cid, check=True)  # -v takes the anonymous volume along
    assert berth("volume", "ls", "-q").stdout.split() == ["auto", "data1"]
    assert berth("volume", "rm", "data1", "auto", check=True).stdout == "data1\nauto\n"
    bad = berth("volume", "create", "no/slash")
    assert bad.returncode != 0 and "invalid characters" in bad.stderr
    assert berth("run", "--rm", "--mount", "type=nope,target=/x", "busybox", "true").returncode == 125
    berth("run", "--rm", "-v", "/anon2", "busybox", "true", check=True)
    assert berth("volume", "ls", "-q").stdout == ""  # --rm took its anonymous volume


def test_update_ps_size_and_port(berth):
    cid = berth("run", "-d", "--name", "updated", "--memory", "64m", "busybox", "sh", "-c", "echo x > /file; sleep 60",
                check=True).stdout.strip()  # fmt: skip
    assert wait_for(lambda: berth("exec", "updated", "test", "-s", "/file").returncode == 0)
    assert (
        berth("update", "--memory", "128m", "--pids-limit", "30", "--cpus", "0.5", "updated", check=True).stdout
        == "updated\n"
    )
    base = f"/sys/fs/cgroup/{{}}/berth/{cid}/"
    assert open(base.format("memory") + "memory.limit_in_bytes").read().strip() == str(128 << 20)
    assert open(base.format("pids") + "pids.max").read().strip() == "30"
    assert open(base.format("cpu") + "cpu.cfs_quota_us").read().strip() == "50000"
    assert berth("update", "updated").returncode == 1  # no flag
    lines = berth("ps", "-s", check=True).stdout.splitlines()
    assert lines[0].split()[-1] == "SIZE" and "(virtual " in lines[1]
    assert berth("port", "updated", check=True).stdout == ""
    none = berth("port", "updated", "80")
    assert none.returncode == 1 and "No public port '80/tcp' published for updated" in none.stderr
    berth("stop", "-t", "0", "updated", check=True)
    # a stopped container keeps new limits for its next start, as Docker's
    assert berth("update", "--memory", "96m", "--pids-limit", "20", "updated", check=True).stdout == "updated\n"
    bad = berth("update", "--blkio-weight", "5", "updated")
    assert bad.returncode == 1 and "--blkio-weight must be between 10 and 1000" in bad.stderr
    berth("start", "updated", check=True)
    assert open(base.format("memory") + "memory.limit_in_bytes").read().strip() == str(96 << 20)
    assert open(base.format("pids") + "pids.max").read().strip() == "20"
    assert open(base.format("cpu") + "cpu.cfs_quota_us").read().strip() == "50000"  # kept from the update before


def test_restart_policies(berth):
    berth("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 3",
          check=True)  # fmt: skip
    deadline = time.monotonic() + 15
    while berth("inspect", "-f", "{{.State.Status}}", "flaky").stdout.strip() != "exited":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert berth("inspect", "-f", "{{.RestartCount}} {{.State.ExitCode}}", "flaky").stdout.split() == ["2", "3"]
    assert berth("logs", "flaky").stdout == "run\nrun\nrun\n"
    berth("run", "-d", "--name", "forever", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2", check=True)
    deadline = time.monotonic() + 15
    while int(berth("inspect", "-f", "{{.RestartCount}}", "forever").stdout or 0) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    berth("stop", "-t", "1", "forever", check=True)  # a stopped container stays stopped
    count = berth("inspect", "-f", "{{.RestartCount}}", "forever").stdout
    time.sleep(1)
    assert berth("inspect", "-f", "{{.RestartCount}} {{.State.Status}}", "forever").stdout.split() == [
        count.strip(),
        "exited",
    ]
    assert json.loads(berth("inspect", "forever").stdout)[0]["HostConfig"]["RestartPolicy"] == {
        "Name": "always", "MaximumRetryCount": 0}  # fmt: skip
    conflict = berth("run", "--rm", "--restart", "always", "busybox", "true")
    assert conflict.returncode == 125 and "Conflicting options: --restart and --rm" in conflict.stderr
    assert berth("run", "--restart", "sometimes", "busybox", "true").returncode == 125


def _wait_for(berth, name: str, status: str, seconds: float = 15) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        health = json.loads(berth("inspect", name, check=True).stdout)[0]["State"].get("Health") or {}
        if health.get("Status") == status:
            return health
        assert time.monotonic() < deadline, health
        time.sleep(0.1)


def test_health_checks(berth, tmp_path):
    berth("run", "-d", "--name", "checked", "--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms",
          "--health-retries", "2", "busybox", "sleep", "60", check=True)  # fmt: skip
    health = _wait_for(berth, "checked", "unhealthy")
    assert health["FailingStreak"] >= 2 and health["Log"][-1]["ExitCode"] == 1
    assert "(unhealthy)" in berth("ps", "--filter", "name=checked", check=True).stdout
    berth("exec", "checked", "touch", "/tmp/ok", check=True)
    health = _wait_for(berth, "checked", "healthy")
    assert health["FailingStreak"] == 0 and "(healthy)" in berth("ps", "--filter", "name=checked").stdout
    # an image's HEALTHCHECK, a timeout, and --no-healthcheck
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        'FROM busybox\nHEALTHCHECK --interval=200ms --timeout=300ms --retries=1 CMD ["sleep", "5"]\n'
    )
    berth("build", "-q", "-t", "slowcheck", str(ctx), check=True)
    berth("run", "-d", "--name", "slow", "slowcheck", "sleep", "60", check=True)
    health = _wait_for(berth, "slow", "unhealthy")
    assert "exceeded timeout" in health["Log"][-1]["Output"]
    berth("run", "-d", "--name", "unchecked", "--no-healthcheck", "slowcheck", "sleep", "60", check=True)
    time.sleep(0.6)
    assert "Health" not in json.loads(berth("inspect", "unchecked").stdout)[0]["State"]
    bad = berth("run", "--health-interval", "soon", "busybox", "true")
    assert bad.returncode == 125 and "--health-interval" in bad.stderr


def test_init_is_pid_1_and_forwards_signals(berth):
    out = berth("run", "--rm", "--init", "busybox", "ps", "-o", "pid,comm", check=True).stdout.split()
    assert out[2:6] == ["1", "docker-init", "2", "ps"]
    berth("run", "-d", "--name", "with-init", "--init", "busybox", "sleep", "60", check=True)
    start = time.monotonic()
    berth("stop", "-t", "10", "with-init", check=True)
    assert time.monotonic() - start < 5  # SIGTERM reached sleep through the init; no 10 s wait for SIGKILL
    assert berth("inspect", "-f", "{{.State.ExitCode}}", "with-init").stdout.strip() == "143"


def test_device(berth):
    out = berth("run", "--rm", "--device", "/dev/null:/dev/mynull", "busybox", "sh", "-c",
                "stat -c '%F %t %T' /dev/mynull; echo hi > /dev/mynull && echo wrote", check=True).stdout  # fmt: skip
    assert out == "character special file 1 3\nwrote\n"
    # a device outside the default rules becomes usable (read-only here; Debian's docker with runc 1.1
    # allows a device it makes rwm whatever the permissions say, and so does berth-runtime)
    out = berth("run", "--rm", "--device", "/dev/loop-control:/dev/lc:r", "busybox", "sh", "-c",
                "true < /dev/lc && echo opened", check=True).stdout  # fmt: skip
    assert out == "opened\n"
    without = berth("run", "--rm", "busybox", "sh", "-c", "mknod /dev/lc c 10 237; true < /dev/lc || echo denied")
    assert without.stdout == "denied\n"
    missing = berth("run", "--rm", "--device", "/dev/nosuch", "busybox", "true")
    assert missing.returncode == 125
    assert (
        'error gathering device information while adding custom device "/dev/nosuch": no such file or directory'
        in missing.stderr
    )
    assert berth("run", "--rm", "--device", "/etc/passwd", "busybox", "true").returncode == 125
    assert berth("ps", "-aq").stdout == ""


def test_log_drivers_and_rotation(berth):
    script = "echo a; echo b >&2; printf c"
    berth("run", "-d", "--name", "k8s", "--log-driver", "k8s-file", "busybox", "sh", "-c", script, check=True)
    berth("wait", "k8s", check=True)
    cid = berth("inspect", "-f", "{{.Id}}", "k8s", check=True).stdout.strip()
    with open(f"{berth.root}/containers/{cid}/container.log") as f:
        records = [line.split(" ", 1)[1] for line in f.read().splitlines()]  # CRI's: TIME STREAM F|P TEXT
    assert sorted(records) == ["stderr F b", "stdout F a", "stdout P c"]
    logs = berth("logs", "k8s", check=True)
    assert logs.stdout == "a\nc" and logs.stderr == "b\n"
    assert berth("inspect", "-f", "{{.HostConfig.LogConfig.Type}}", "k8s", check=True).stdout == "k8s-file\n"
    berth("run", "-d", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi", check=True)
    unreadable = berth("logs", "quiet")
    assert unreadable.returncode == 1 and "configured logging driver does not support reading" in unreadable.stderr
    # 300 lines of ~70 bytes a record in files of at most 4 KiB, three files at most
    berth("run", "-d", "--name", "rotated", "--log-opt", "max-size=4k", "--log-opt", "max-file=3", "busybox", "sh", "-c",
          "i=0; while [ $i -lt 300 ]; do echo line$i; i=$((i+1)); done", check=True)  # fmt: skip
    berth("wait", "rotated", check=True)
    rid = berth("inspect", "-f", "{{.Id}}", "rotated", check=True).stdout.strip()
    base = f"{berth.root}/containers/{rid}/container.log"
    import os

    assert os.path.exists(base + ".1") and os.path.exists(base + ".2") and not os.path.exists(base + ".3")
    assert all(os.path.getsize(p) <= 4096 for p in (base, base + ".1", base + ".2"))
    lines = berth("logs", "rotated", check=True).stdout.splitlines()
    assert lines[-1] == "line299" and lines == [f"line{i}" for i in range(300 - len(lines), 300)]
    for args, message in ((["--log-driver", "syslogx"], "no log driver named 'syslogx'"),
                          (["--log-opt", "foo=1"], "unknown log opt 'foo' for json-file log driver"),
                          (["--log-opt", "max-file=2"], "max-file cannot be set without max-size"),
                          (["--log-opt", "path=/tmp/x.log"], "log opt 'path' is k8s-file's"),
                          (["--log-driver", "k8s-file", "--log-opt", "path=x.log"], "an absolute path")):  # fmt: skip
        bad = berth("run", "--rm", *args, "busybox", "true")
        assert bad.returncode == 125 and message in bad.stderr, bad.stderr


def test_events(berth):
    import json
    import re
    import subprocess

    t0 = time.time() - 0.5
    follower = subprocess.Popen([berth.binary, "--root", berth.root, "events", "--filter", "event=start", "--format", "json"],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        time.sleep(0.5)
        cid = berth("run", "-d", "--name", "ev", "busybox", "sleep", "30", check=True).stdout.strip()
        started = json.loads(follower.stdout.readline())
        assert started["Action"] == "start" and started["Actor"]["ID"] == cid and started["status"] == "start"
        assert started["Actor"]["Attributes"] == {"image": "busybox", "name": "ev"}
    finally:
        follower.kill()
        follower.wait()
    berth("rename", "ev", "ev2", check=True)
    berth("stop", "-t", "0", "ev2", check=True)
    berth("rm", "ev2", check=True)
    out = berth(
        "events", "--since", str(t0), "--until", str(time.time()), "--filter", f"container={cid}", check=True
    ).stdout
    actions = [line.split()[2] for line in out.splitlines()]
    assert actions == ["create", "start", "rename", "kill", "kill", "die", "stop", "destroy"], out  # TERM, then KILL
    assert "signal=15" in out.splitlines()[3] and "signal=9" in out.splitlines()[4]
    first = out.splitlines()[0]
    assert re.fullmatch(
        rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{9}}Z container create {cid} \(image=busybox, name=ev\)", first
    )
    die = next(line for line in out.splitlines() if " die " in line)
    assert "exitCode=137" in die and "name=ev2" in die
    only = berth("events", "--since", str(t0), "--until", str(time.time()), "--filter", "event=destroy", "--format",
                 "{{.Actor.Attributes.name}}", check=True).stdout  # fmt: skip
    assert "ev2\n" in only
    assert berth("events", "--filter", "bogus=1").returncode != 0


def test_image_volumes_get_the_images_content(berth, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN mkdir /data && echo seed > /data/f && chown 1:2 /data/f && chmod 640 /data/f"
        " && ln -s /etc /link\nVOLUME /data\nRUN echo step > /data/g\n"
    )
    volumes_before_build = set(berth("volume", "ls", "-q", check=True).stdout.split())
    berth("build", "-q", "-t", "volimg", str(tmp_path), check=True)
    try:
        before = set(berth("volume", "ls", "-q", check=True).stdout.split())
        assert before == volumes_before_build  # a build step after VOLUME gets no volume, as BuildKit
        # an anonymous volume for the image's VOLUME, with the image's files, ownership and modes
        out = berth("run", "--rm", "volimg", "stat", "-c", "%u:%g %a %n", "/data/f", check=True).stdout
        assert out == "1:2 640 /data/f\n"
        assert set(berth("volume", "ls", "-q", check=True).stdout.split()) == before  # --rm took it along
        berth("run", "-d", "--name", "vol1", "volimg", "sleep", "60", check=True)
        mounts = berth("inspect", "-f", "{{json .Config}}", "vol1", check=True)
        assert mounts.returncode == 0
        assert len(set(berth("volume", "ls", "-q", check=True).stdout.split()) - before) == 1
        berth("rm", "-f", "-v", "vol1", check=True)
        # a new named volume gets the content too; an existing one keeps its own
        assert berth("run", "--rm", "-v", "seeded:/data", "volimg", "cat", "/data/f", check=True).stdout == "seed\n"
        berth("run", "--rm", "-v", "seeded:/data", "volimg", "sh", "-c", "echo mine > /data/f", check=True)
        assert berth("run", "--rm", "-v", "seeded:/data", "volimg", "cat", "/data/f", check=True).stdout == "mine\n"
        # a volume at a path that is a symlink in the image: the image's /etc, never the host's
        out = berth("run", "--rm", "-v", "linked:/link", "volimg", "ls", "/link", check=True).stdout.split()
        assert "passwd" in out and set(out) <= {"group", "hostname", "passwd"}  # not the host's os-release, shadow...
    finally:
        for name in ("seeded", "linked"):
            berth("volume", "rm", name)
        berth("rmi", "volimg")


def test_exec_privileged(berth):
    berth("run", "-d", "--name", "px", "--network", "none", "busybox", "sleep", "60", check=True)
    with open("/proc/self/status") as f:
        host = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    assert (
        berth("exec", "--privileged", "px", "grep", "CapEff", "/proc/self/status", check=True).stdout.split()[1] == host
    )
    plain = berth("exec", "px", "grep", "CapEff", "/proc/self/status", check=True).stdout.split()[1]
    assert plain == "00000000a80425fb"  # Docker's default set


def test_group_add(berth):
    """--group-add: GIDs and the image's group names join the process's supplementary groups, as
    Docker's; an unknown name is refused before anything is made."""
    got = berth("run", "--rm", "--network", "none", "--group-add", "1234", "--group-add", "tty", "busybox", "id", "-G",
                check=True).stdout.split()  # fmt: skip
    assert got == ["0", "5", "1234"]  # the kernel keeps them sorted
    cid = berth("create", "--network", "none", "--group-add", "42", "busybox", "true", check=True).stdout.strip()
    assert berth("inspect", "-f", "{{json .HostConfig.GroupAdd}}", cid, check=True).stdout.strip() == '["42"]'
    bad = berth("run", "--rm", "--network", "none", "--group-add", "nosuch", "busybox", "true")
    assert bad.returncode == 125 and "unable to find group nosuch: no matching entries in group file" in bad.stderr
    assert berth("ps", "-aq").stdout.split() == [cid[:12]]
