"""Containers through `berth`, checked against Docker's behaviour: exit codes,
messages, output columns, and what is left (nothing) after failures and rm."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import cgroup_dir

pytestmark = pytest.mark.root


def test_run_foreground_exit_codes_and_rm(berth):
    assert berth("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    assert berth("run", "--rm", "busybox", "true").returncode == 0
    proc = berth(
        "run", "--rm", "-e", "A=1", "-w", "/tmp", "-h", "box", "busybox", "sh", "-c", "echo $A $(pwd) $(hostname)"
    )
    assert proc.stdout == "1 /tmp box\n"
    assert berth("ps", "-aq").stdout == ""


def test_every_busybox_applet_resolves(berth):
    """bootstrap's applet links, /sbin's among them, all lead to busybox (sbin/ip once pointed at a
    busybox in /sbin, where there is none)."""
    out = berth("run", "--rm", "--network", "none", "busybox", "sh", "-c",
                'for a in $(busybox --list-full); do [ -x "/$a" ] || echo "broken /$a"; done; ip -o link show lo',
                check=True).stdout  # fmt: skip
    assert "broken" not in out and "lo:" in out, out


def test_create_with_an_unknown_user_fails_only_at_start(berth, tmp_path):
    """As Docker: create succeeds (so create + export or cp can take files out of the image), start
    fails with Docker's message, and once the user exists in the container's files it starts as them."""
    cid = berth("create", "-u", "nosuch", "--network", "none", "busybox", "id", "-u", check=True).stdout.strip()
    assert berth("export", "-o", str(tmp_path / "fs.tar"), cid).returncode == 0
    start = berth("start", "-a", cid)
    assert start.returncode != 0
    assert start.stderr.strip().endswith("unable to find user nosuch: no matching entries in passwd file"), start.stderr
    run = berth("run", "--rm", "-u", "nosuch", "--network", "none", "busybox", "true")
    assert run.returncode == 125 and "unable to find user nosuch" in run.stderr
    (tmp_path / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnosuch:x:4321:4321::/:/bin/sh\n")
    berth("cp", str(tmp_path / "passwd"), f"{cid}:/etc/passwd", check=True)
    assert berth("start", "-a", cid, check=True).stdout == "4321\n"
    berth("rm", cid, check=True)


def test_docker_exit_codes_for_bad_input(berth):
    for args, code, message in (
        (("run", "nosuchimage"), 125, "No such image"),
        (("run", "busybox", "/nonexistent"), 127, "stat /nonexistent: no such file or directory"),
        (("run", "busybox", "nosuchcmd"), 127, "executable file not found"),
        (("run", "--memory", "12q", "busybox", "true"), 125, "invalid argument \"12q\""),
        (("run", "--name", "x y", "busybox", "true"), 125, "Invalid container name"),
        (("run", "--pid", "container:ghost", "busybox", "true"), 125, "No such container: ghost"),
        (("run", "--bogus", "busybox"), 125, "unknown flag: --bogus"),
    ):  # fmt: skip
        proc = berth(*args)
        assert proc.returncode == code, (args, proc.returncode, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert berth("ps", "-aq").stdout == "", "a failed run left a container behind"


def test_name_conflict(berth):
    berth("run", "--name", "dup", "-d", "busybox", "sleep", "100", check=True)
    proc = berth("run", "--name", "dup", "busybox", "true")
    assert proc.returncode == 125 and 'The container name "/dup" is already in use' in proc.stderr
    assert len(berth("ps", "-aq").stdout.split()) == 1


def test_ps_columns_statuses_and_rm_rules(berth):
    cid = berth("run", "-d", "--name", "runner", "busybox", "sleep", "100", check=True).stdout.strip()
    assert len(cid) == 64
    berth("create", "--name", "fresh", "busybox", "true", check=True)
    berth("run", "--name", "done", "busybox", "sh", "-c", "exit 2")
    lines = berth("ps", check=True).stdout.splitlines()
    assert lines[0].split()[:3] == ["CONTAINER", "ID", "IMAGE"] and lines[0].index("IMAGE") == 15
    assert len(lines) == 2 and lines[1].startswith(cid[:12]) and "Up " in lines[1] and lines[1].endswith("runner")
    everything = {line.split()[-1]: line for line in berth("ps", "-a", check=True).stdout.splitlines()[1:]}
    assert set(everything) == {"runner", "fresh", "done"}
    assert "Created" in everything["fresh"] and "Exited (2)" in everything["done"]
    rows = [json.loads(line) for line in berth("ps", "-a", "--format", "json", check=True).stdout.splitlines()]
    assert {r["Names"]: r["State"] for r in rows} == {"runner": "running", "fresh": "created", "done": "exited"}
    assert berth("ps", "-l", "-q").stdout.strip() == rows[0]["ID"]
    proc = berth("rm", "runner")
    assert (
        proc.returncode == 1
        and "container is running: stop the container before removing or force remove" in proc.stderr
    )
    assert berth("rm", "-f", "runner", "fresh", "done", check=True).stdout == "runner\nfresh\ndone\n"
    assert berth("rm", "ghost").returncode == 1


def test_inspect_state_pid_and_image_fallback(berth):
    berth("run", "-d", "--name", "insp", "-l", "k=v", "busybox", "sleep", "100", check=True)
    pid = int(berth("inspect", "-f", "{{.State.Pid}}", "insp", check=True).stdout)
    assert pid > 0 and open(f"/proc/{pid}/cmdline").read().startswith("sleep")
    doc = json.loads(berth("container", "inspect", "insp", check=True).stdout)[0]
    assert doc["Name"] == "/insp" and doc["State"]["Running"] and doc["Config"]["Labels"] == {"k": "v"}
    assert doc["Path"] == "sleep" and doc["Args"] == ["100"]
    assert json.loads(berth("inspect", "busybox", check=True).stdout)[0]["RepoTags"] == ["busybox:latest"]
    assert berth("inspect", "nothing").stderr.strip() == "Error: No such object: nothing"


def test_exec_codes_env_user_workdir(berth):
    berth("run", "-d", "--name", "ex", "busybox", "sleep", "100", check=True)
    assert (
        berth("exec", "-e", "X=1", "-w", "/tmp", "-u", "nobody", "ex", "sh", "-c", "echo $X $(pwd) $(id -u)").stdout
        == "1 /tmp 65534\n"
    )
    assert berth("exec", "ex", "sh", "-c", "exit 4").returncode == 4
    missing = berth("exec", "ex", "nosuchcmd")
    # docker's: an exec that cannot start exits 126, its error on stdout
    assert missing.returncode == 126 and 'exec: "nosuchcmd": executable file not found in $PATH' in missing.stdout
    assert berth("exec", "ghost", "true").returncode == 1
    berth("exec", "-d", "ex", "sleep", "77", check=True)
    assert "sleep 77" in berth("exec", "ex", "ps", check=True).stdout


def test_logs_stop_kill_wait(berth):
    berth(
        "run",
        "-d",
        "--name",
        "talk",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done",
        check=True,
    )
    deadline = time.monotonic() + 10
    while "out" not in berth("logs", "talk").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    logs = berth("logs", "talk", check=True)
    assert logs.stdout == "out\n" and logs.stderr == "err\n"
    tail = berth("logs", "--tail", "1", "-t", "talk", check=True)
    assert tail.stdout == "" and tail.stderr.endswith("Z err\n")
    assert berth("stop", "talk", check=True).stdout == "talk\n"
    assert berth("wait", "talk", check=True).stdout == "0\n"
    assert berth("logs", "talk", check=True).stdout == "out\nbye\n"
    berth("run", "-d", "--name", "victim", "busybox", "sleep", "100", check=True)
    assert berth("kill", "victim", check=True).stdout == "victim\n"
    assert berth("wait", "victim", check=True).stdout == "137\n"
    assert "Exited (137)" in berth("ps", "-a", check=True).stdout
    assert berth("kill", "victim").returncode == 1


def test_killed_monitor_ps_stays_truthful_and_rm_cleans(berth):
    cid = berth("run", "-d", "--name", "orphan", "busybox", "sleep", "100", check=True).stdout.strip()
    cdir = os.path.join(berth.root, "containers", cid)
    monitor = int(open(os.path.join(cdir, "monitor.pid")).read())
    init = int(open(os.path.join(cdir, "init.pid")).read())
    os.kill(monitor, signal.SIGKILL)
    time.sleep(0.2)
    assert "Up " in berth("ps", check=True).stdout  # the container itself still runs
    os.kill(init, signal.SIGKILL)
    for _ in range(100):
        if "Exited" in berth("ps", "-a", check=True).stdout:
            break
        time.sleep(0.05)
    assert "Exited" in berth("ps", "-a", check=True).stdout
    berth("rm", "orphan", check=True)
    assert not os.path.exists(cdir)
    assert not os.path.exists(cgroup_dir("memory", f"/berth/{cid}"))
    assert berth("ps", "-aq").stdout == ""


def test_rm_that_cannot_finish_keeps_the_container_listed(berth):
    import subprocess

    cid = berth("create", "--name", "stuck", "--network", "none", "busybox", "true", check=True).stdout.strip()
    pinned = os.path.join(berth.root, "containers", cid, "hostname")
    subprocess.run(["chattr", "+i", pinned], check=True)  # its directory cannot go: rm fails midway
    try:
        failed = berth("rm", "stuck")
        assert failed.returncode == 1 and "Operation not permitted" in failed.stderr, failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1
        assert berth("ps", "-aq", "--no-trunc").stdout.split() == [cid]  # still there, for another rm
    finally:
        subprocess.run(["chattr", "-i", pinned], check=True)
    berth("rm", "stuck", check=True)
    assert berth("ps", "-aq").stdout == "" and not os.path.exists(os.path.dirname(pinned))


def test_run_of_an_unpacked_image_loads_no_heavy_module(berth):
    """`berth run` of an image already unpacked: no tarfile, OpenSSL, socket wrapper, ipaddress or re
    (each 3-8 ms to import), in the CLI and in the monitor that starts the container."""
    import subprocess
    import sys

    heavy = {"tarfile", "hashlib", "_hashlib", "socket", "ipaddress", "re", "enum", "json", "subprocess", "shutil"}
    berth("run", "--rm", "--network", "none", "busybox", "true", check=True)  # unpacked now
    proc = subprocess.run([sys.executable, "-X", "importtime", berth.binary, "--root", berth.root, "run", "--rm",
                           "--network", "none", "busybox", "true"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert not loaded & heavy, sorted(loaded & heavy)
    code = "import sys, berth.monitor.monitor, berth.monitor.attach, berth.monitor.logs; print(' '.join(sys.modules))"
    monitor = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert not monitor & heavy, sorted(monitor & heavy)


def test_twenty_parallel_detached_runs(berth):
    with ThreadPoolExecutor(20) as pool:
        results = list(
            pool.map(lambda i: berth("run", "-d", "--name", f"par{i}", "busybox", "sleep", "100"), range(20))
        )
    assert [r.returncode for r in results] == [0] * 20, [r.stderr for r in results if r.returncode]
    running = berth("ps", "-q").stdout.split()
    assert len(running) == 20
    assert sorted(line.split()[-1] for line in berth("ps", check=True).stdout.splitlines()[1:]) == sorted(
        f"par{i}" for i in range(20)
    )


def test_parallel_first_use_of_a_fresh_store(tmp_path):
    """Every database is new: the processes racing to make them must all succeed."""
    from tests.conftest import BerthCLI

    fresh = BerthCLI(str(tmp_path / "fresh"))
    with ThreadPoolExecutor(8) as pool:
        listed = list(pool.map(lambda _: fresh("images"), range(8)))
    assert [r.returncode for r in listed] == [0] * 8, [r.stderr for r in listed]
    fresh("image", "bootstrap", "busybox", check=True)  # images, no snapshot database yet
    try:
        with ThreadPoolExecutor(8) as pool:
            made = list(pool.map(lambda i: fresh("create", "--name", f"f{i}", "busybox", "true"), range(8)))
        assert [r.returncode for r in made] == [0] * 8, [r.stderr for r in made]
        assert len(fresh("ps", "-aq").stdout.split()) == 8
    finally:
        fresh.cleanup()


def test_pause_unpause_rename_top(berth):
    berth("run", "-d", "--name", "frozen", "busybox", "sh", "-c", "while :; do sleep 0.05; done", check=True)
    assert berth("pause", "frozen", check=True).stdout == "frozen\n"
    assert "(Paused)" in berth("ps", check=True).stdout
    assert berth("inspect", "-f", "{{.State.Status}} {{.State.Paused}}", "frozen", check=True).stdout == "paused true\n"
    assert berth("pause", "frozen").returncode == 1
    assert berth("unpause", "frozen", check=True).stdout == "frozen\n"
    assert "(Paused)" not in berth("ps", check=True).stdout
    berth("rename", "frozen", "thawed", check=True)
    assert berth("ps", "--format", "json", check=True).stdout.count('"Names":"thawed"') == 1
    berth("run", "-d", "--name", "other", "busybox", "sleep", "100", check=True)
    clash = berth("rename", "other", "thawed")
    assert clash.returncode == 1 and "already in use" in clash.stderr
    top = berth("top", "thawed", check=True).stdout.splitlines()
    assert top[0].split()[:3] == ["UID", "PID", "PPID"] and any("while" in line or "sh -c" in line for line in top[1:])
    berth("pause", "thawed", check=True)
    started = time.monotonic()
    berth("rm", "-f", "thawed", check=True)  # a paused container is thawed, then killed
    assert time.monotonic() - started < 10


def test_rmi_refuses_an_image_a_container_uses(berth):
    berth("tag", "busybox", "inuse:v1", check=True)
    cid = berth("create", "--name", "user", "inuse:v1", "true", check=True).stdout.strip()
    proc = berth("rmi", "inuse:v1")
    assert proc.returncode == 1 and f"container {cid[:12]} is using its referenced image" in proc.stderr
    berth("rm", "user", check=True)
    assert berth("rmi", "inuse:v1", check=True).stdout == "Untagged: inuse:v1\n"


def test_terminals(berth):
    out = berth("run", "--rm", "-t", "busybox", "sh", "-c", "tty; test -t 1 && echo is-a-tty", check=True).stdout
    assert out.replace("\r", "") == "/dev/pts/0\nis-a-tty\n"
    berth("run", "-d", "-t", "--name", "tty", "busybox", "sh", "-c", "tty; echo logged; sleep 100", check=True)
    deadline = time.monotonic() + 10
    while "logged" not in berth("logs", "tty").stdout and time.monotonic() < deadline:
        time.sleep(0.05)
    assert berth("logs", "tty", check=True).stdout.replace("\r", "") == "/dev/pts/0\nlogged\n"
    assert berth("exec", "-t", "tty", "tty", check=True).stdout.replace("\r", "").strip().startswith("/dev/pts/")
    assert berth("exec", "tty", "sh", "-c", "test -t 1 || echo not-a-tty", check=True).stdout == "not-a-tty\n"


def test_env_file_ps_filters_and_container_prune(berth, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nA=from-file\n\nB=2\nHOME_FROM_CALLER\n")
    out = berth(
        "run", "--rm", "--env-file", str(env_file), "-e", "B=3", "busybox", "sh", "-c", "echo $A $B", check=True
    )
    assert out.stdout == "from-file 3\n"
    assert berth("run", "--env-file", str(tmp_path / "missing"), "busybox", "true").returncode == 125
    berth("run", "-d", "--name", "web-1", "-l", "tier=web", "busybox", "sleep", "100", check=True)
    berth("create", "--name", "db-1", "-l", "tier=db", "busybox", "true", check=True)
    berth("run", "--name", "job-1", "busybox", "true", check=True)
    names = lambda *f: sorted(berth("ps", "-a", "--format", "json", *f, check=True).stdout.split('"Names":"')[1:])  # noqa: E731
    assert [n.split('"')[0] for n in names("--filter", "label=tier=web")] == ["web-1"]
    assert [n.split('"')[0] for n in names("--filter", "status=exited")] == ["job-1"]
    assert [n.split('"')[0] for n in names("--filter", "name=-1", "--filter", "status=created")] == ["db-1"]
    assert berth("ps", "--filter", "status=created", "-q").stdout.count("\n") == 1  # status implies -a
    assert berth("ps", "--filter", "bogus=1").returncode != 0
    out = berth("container", "prune", "-f", check=True).stdout
    assert out.startswith("Deleted Containers:\n") and out.count("\n") == 5
    assert [line.split()[-1] for line in berth("ps", "-a", check=True).stdout.splitlines()[1:]] == ["web-1"]


def test_spec_flags(berth, tmp_path):
    host = tmp_path / "share"
    host.mkdir()
    (host / "f").write_text("from the host\n")
    script = ("ulimit -n; ulimit -Hn; df -k /dev/shm | tail -1 | awk '{print $2}'; cat /proc/sys/net/ipv4/ip_forward; "
              "cat /proc/self/oom_score_adj; grep -w db /etc/hosts; grep -c ' /scratch tmpfs' /proc/mounts; cat /data/f; "
              "touch /data/x 2>/dev/null || echo read-only; touch /rw/y && echo written")  # fmt: skip
    out = berth("run", "--rm", "--ulimit", "nofile=100:200", "--shm-size", "1m", "--sysctl", "net.ipv4.ip_forward=1",
                "--oom-score-adj", "300", "--add-host", "db:10.0.0.5", "--tmpfs", "/scratch:size=1m",
                "-v", f"{host}:/data:ro", "-v", f"{host}:/rw", "busybox", "sh", "-c", script, check=True).stdout  # fmt: skip
    assert out.split("\n")[:-1] == [
        "100",
        "200",
        "1024",
        "1",
        "300",
        "10.0.0.5\tdb",
        "1",
        "from the host",
        "read-only",
        "written",
    ]
    assert (host / "y").exists()
    for args, message in ((("--ulimit", "nofile=abc"), "invalid ulimit argument"), (("-v", "bad/name:/x"), "includes invalid characters"),
                          (("-v", "/nonexistent/dir:/x"), "bind source path does not exist"), (("--oom-score-adj", "5000"), "between -1000 and 1000"),
                          (("--stop-signal", "NOPE"), "invalid signal"), (("--add-host", "nocolon"), "bad format for add-host"),
                          (("--shm-size", "1q"), "--shm-size")):  # fmt: skip
        proc = berth("run", *args, "busybox", "true")
        assert proc.returncode == 125 and message in proc.stderr, (args, proc.stderr)
    assert berth("ps", "-aq").stdout == ""


def test_stop_signal_and_timeout(berth):
    berth("run", "-d", "--name", "st", "--stop-signal", "USR1", "--stop-timeout", "1", "busybox", "sh", "-c",
          "trap 'echo got usr1' USR1; while :; do sleep 0.1; done", check=True)  # fmt: skip
    started = time.monotonic()
    berth("stop", "st", check=True)
    assert 0.8 < time.monotonic() - started < 8  # USR1 is trapped, then SIGKILL after 1 s
    assert berth("logs", "st", check=True).stdout == "got usr1\n"
    assert berth("wait", "st", check=True).stdout == "137\n"


def test_a_mount_under_another_is_mounted_after_it(berth, tmp_path):
    """-v for /a/b before -v for /a: /a/b still shows (mounted after its parent, as Docker sorts)."""
    (tmp_path / "inner").mkdir()
    (tmp_path / "outer").mkdir()
    (tmp_path / "inner" / "f").write_text("inner\n")
    got = berth("run", "--rm", "--network", "none", "-v", f"{tmp_path / 'inner'}:/a/b", "-v",
                f"{tmp_path / 'outer'}:/a", "busybox", "cat", "/a/b/f")  # fmt: skip
    assert (got.returncode, got.stdout) == (0, "inner\n"), got.stderr
