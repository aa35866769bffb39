"""berth-runtime end to end on real namespaces, mounts and cgroups: what the
container's process sees, and every lifecycle operation of runc's CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import pytest

from tests.conftest import CGROUP_V2, cgroup_dir, host_mountinfo, unique, userns_bundle, wait_for

pytestmark = pytest.mark.root


def test_foreground_run_sees_pid1_hostname_and_only_its_processes(runtime, bundle):
    bundle.config["hostname"] = "inside"
    bundle.set_args("sh", "-c", "echo $$; hostname; ps -o pid,comm; true")
    before = host_mountinfo()
    cid = unique()
    proc = runtime("run", "--bundle", str(bundle), cid, check=True)
    lines = proc.stdout.split("\n")
    assert lines[0] == "1"
    assert lines[1] == "inside"
    rows = [line.split() for line in lines[3:] if line.strip()]
    assert rows == [["1", "sh"], [rows[1][0], "ps"]], proc.stdout
    assert host_mountinfo() == before, "the host's mount table changed"
    assert not os.path.exists(os.path.join(runtime.root, cid))


def test_start_returns_once_the_process_is_execd(runtime, bundle):
    """After `start`, PID 1 is the user's program, not Python: a signal sent then reaches it (the
    kernel drops a signal PID 1 has no handler for, so one sent to a Python init was lost)."""
    bundle.set_args("sh", "-c", "trap 'echo got-usr1 > /dev/shm/usr1; exit 7' USR1; while :; do sleep 0.01; done")
    # init's work between its release and execve made long, so that a `start` returning early shows
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/sleep", "args": ["sleep", "0.3"]}]}
    bundle.write()
    for _ in range(3):
        cid = unique()
        runtime("create", "--bundle", str(bundle), cid, check=True)
        pid = runtime.state(cid)["pid"]
        assert "python" in os.readlink(f"/proc/{pid}/exe")
        runtime("start", cid, check=True)
        assert os.readlink(f"/proc/{pid}/exe").endswith("/busybox")
        runtime("kill", cid, "USR1", check=True)
        assert wait_for(lambda c=cid: runtime.state(c)["status"] == "stopped", 10), "USR1 was lost"
        runtime("delete", cid, check=True)


def test_joins_a_mount_namespace_by_path(runtime, bundle):
    """linux.namespaces may name a mount namespace to join, as runc allows: here one the test made
    (a copy of the host's table, private), so the container's mounts change it and never the host's."""
    holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sleep", "60"])
    try:
        path = f"/proc/{holder.pid}/ns/mnt"
        assert wait_for(lambda: os.readlink(path) != os.readlink("/proc/self/ns/mnt"))
        for n in bundle.config["linux"]["namespaces"]:
            if n["type"] == "mount":
                n["path"] = path
        bundle.set_args("sh", "-c", "readlink /proc/self/ns/mnt; test -x /bin/busybox && echo rootfs")
        before = host_mountinfo()
        out = runtime("run", "--bundle", str(bundle), unique(), check=True).stdout.split()
        assert out == [os.readlink(path), "rootfs"], out
        assert host_mountinfo() == before
    finally:
        holder.kill()
        holder.wait()


def test_fifo_device_entry_is_made_but_no_cgroup_rule(runtime, bundle):
    """A "p" entry of linux.devices is a FIFO in /dev; the device cgroup takes no rule for it (v1
    refused 'p 8:666 rwm' with EINVAL and the create failed)."""
    bundle.config["linux"]["devices"] = [{"type": "p", "path": "/dev/fifo", "major": 8, "minor": 666}]
    bundle.set_args("sh", "-c", "test -p /dev/fifo && echo fifo")
    assert runtime("run", "--bundle", str(bundle), unique(), check=True).stdout == "fifo\n"


def test_create_start_kill_delete(runtime, bundle):
    bundle.set_args("sh", "-c", "echo started > /dev/shm/x; exec sleep 1000")
    cid = unique()
    pid_file = os.path.join(str(bundle), "pid")
    runtime("create", "--bundle", str(bundle), "--pid-file", pid_file, cid, check=True)
    state = runtime.state(cid)
    assert state["status"] == "created"
    assert state["pid"] == int(open(pid_file).read())
    assert set(state) >= {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"}
    assert state["bundle"] == str(bundle)
    cgroup = bundle.config["linux"]["cgroupsPath"]
    assert os.path.isdir(cgroup_dir("memory", cgroup))
    runtime("start", cid, check=True)
    assert runtime.state(cid)["status"] == "running"
    assert "cannot start an already running container" in runtime("start", cid).stderr
    assert "not stopped" in runtime("delete", cid).stderr
    runtime("kill", cid, "KILL", check=True)
    for _ in range(200):
        if runtime.state(cid)["status"] == "stopped":
            break
        time.sleep(0.01)
    assert runtime.state(cid)["status"] == "stopped"
    runtime("delete", cid, check=True)
    assert not os.path.exists(cgroup_dir("memory", cgroup))
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert "does not exist" in runtime("state", cid).stderr


def test_delete_of_created_container_kills_init(runtime, bundle):
    bundle.set_args("true")
    cid = unique()
    runtime("create", "--bundle", str(bundle), cid, check=True)
    pid = runtime.state(cid)["pid"]
    runtime("delete", cid, check=True)
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


@pytest.mark.parametrize("script, code", [("exit 3", 3), ("true", 0)])
def test_exit_codes(runtime, bundle, script, code):
    bundle.set_args("sh", "-c", script)
    assert runtime("run", "--bundle", str(bundle), unique()).returncode == code


def test_foreground_run_returns_128_plus_signal_and_forwards_signals(runtime, bundle):
    bundle.set_args("sh", "-c", "trap 'echo got TERM; exit 5' TERM; echo ready; while :; do sleep 0.05; done")
    cid = unique()
    proc = subprocess.Popen([runtime.binary, "--root", runtime.root, "run", "--bundle", str(bundle), cid],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    runtime.made.append(cid)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(15)  # to berth-runtime, which forwards it to the container
    assert proc.wait(30) == 5 and proc.stdout.read() == "got TERM\n"
    bundle.set_args("sleep", "1000")
    cid = unique()
    proc = subprocess.Popen([runtime.binary, "--root", runtime.root, "run", "--bundle", str(bundle), cid])
    runtime.made.append(cid)
    for _ in range(500):
        if runtime("state", cid).returncode == 0 and runtime.state(cid)["status"] == "running":
            break
        time.sleep(0.01)
    runtime("kill", cid, "KILL", check=True)
    assert proc.wait(30) == 137


def test_detached_run_exec_ps_pause_resume(runtime, bundle):
    bundle.set_args("sleep", "1000")
    cid = unique()
    runtime("run", "-d", "--bundle", str(bundle), cid, check=True)
    assert runtime.state(cid)["status"] == "running"
    out = runtime("exec", cid, "ps", "-o", "pid,args", check=True).stdout.splitlines()
    assert out[1].split(None, 1) == ["1", "sleep 1000"]
    assert out[-1].split()[1:] == ["ps", "-o", "pid,args"]
    assert (
        runtime("exec", "--env", "FOO=bar", "--cwd", "/tmp", cid, "sh", "-c", "echo $FOO $(pwd)", check=True).stdout
        == "bar /tmp\n"
    )
    assert runtime("exec", "--user", "65534:65534", cid, "id", check=True).stdout.startswith("uid=65534")
    assert runtime("exec", cid, "sh", "-c", "exit 7").returncode == 7
    bad = runtime("exec", cid, "nosuchcmd")
    assert bad.returncode != 0 and "executable file not found" in bad.stderr
    pids = json.loads(runtime("ps", "--format", "json", cid, check=True).stdout)
    assert runtime.state(cid)["pid"] in pids
    assert str(runtime.state(cid)["pid"]) in runtime("ps", cid, check=True).stdout
    stats = json.loads(runtime("events", "--stats", cid, check=True).stdout)  # runc's shape
    assert stats["type"] == "stats" and stats["id"] == cid
    # at least init: an exec just ended may still be counted while it is reaped
    assert stats["data"]["pids"]["current"] >= 1 and stats["data"]["memory"]["usage"]["usage"] > 0
    assert stats["data"]["cpu"]["usage"]["total"] > 0
    assert "only --stats" in runtime("events", cid).stderr
    runtime("pause", cid, check=True)
    assert runtime.state(cid)["status"] == "paused"
    assert runtime("exec", cid, "true").returncode != 0
    runtime("resume", cid, check=True)
    assert runtime.state(cid)["status"] == "running"
    listing = runtime("list", check=True).stdout.splitlines()
    assert listing[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert any(line.startswith(cid) and "running" in line for line in listing)
    assert runtime("list", "-q", check=True).stdout.split() == [cid]
    assert json.loads(runtime("list", "--format", "json", check=True).stdout)[0]["id"] == cid
    runtime("delete", "--force", cid, check=True)
    assert runtime("list", "-q", check=True).stdout == ""


def test_exec_detached_with_pid_file(runtime, bundle, tmp_path):
    bundle.set_args("sleep", "1000")
    cid = unique()
    runtime("run", "-d", "--bundle", str(bundle), cid, check=True)
    pid_file = tmp_path / "exec.pid"
    runtime("exec", "-d", "--pid-file", str(pid_file), cid, "sleep", "999", check=True)
    pid = int(pid_file.read_text())
    assert open(f"/proc/{pid}/cmdline").read().split("\0")[:2] == ["sleep", "999"]
    assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{runtime.state(cid)['pid']}/ns/pid")
    # exec returns once the process is exec'd: with a large environment to build just before the
    # execve, a pid file written at an earlier hang-up named a process still running Python
    # (seen in the slow v2 guest: the channel was closed with the other fds, before the execve)
    process = {"args": ["sleep", "998"], "env": [f"V{i}=x" for i in range(100_000)], "cwd": "/"}
    (tmp_path / "process.json").write_text(json.dumps(process))
    runtime("exec", "-d", "--pid-file", str(pid_file), "--process", str(tmp_path / "process.json"), cid, check=True)
    pid = int(pid_file.read_text())
    assert open(f"/proc/{pid}/cmdline").read().split("\0")[:2] == ["sleep", "998"]
    runtime("kill", "--all", cid, "KILL", check=True)


def test_update_changes_cgroup(runtime, bundle):
    bundle.set_args("sleep", "1000")
    cid = unique()
    runtime("run", "-d", "--bundle", str(bundle), cid, check=True)
    cg = bundle.config["linux"]["cgroupsPath"]
    runtime(
        "update",
        "--pids-limit",
        "33",
        "--memory",
        "100m",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        cid,
        check=True,
    )
    assert open(cgroup_dir("pids", cg) + "/pids.max").read().strip() == "33"
    if CGROUP_V2:
        assert open(cgroup_dir("memory", cg) + "/memory.max").read().strip() == str(100 << 20)
        assert open(cgroup_dir("cpu", cg) + "/cpu.max").read().strip() == "20000 100000"
    else:
        assert open(cgroup_dir("memory", cg) + "/memory.limit_in_bytes").read().strip() == str(100 << 20)
        assert open(cgroup_dir("cpu", cg) + "/cpu.cfs_quota_us").read().strip() == "20000"
    assert "between 10 and 1000" in runtime("update", "--blkio-weight", "5", cid).stderr


def test_console_socket_receives_the_pty(runtime, bundle, tmp_path):
    bundle.config["process"]["terminal"] = True
    bundle.set_args("sh", "-c", "tty; echo hello")
    path = str(tmp_path / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    cid = unique()
    proc = subprocess.Popen([runtime.binary, "--root", runtime.root, "create", "--bundle", str(bundle),
                             "--console-socket", path, cid], stderr=subprocess.PIPE)  # fmt: skip
    runtime.made.append(cid)
    conn, _ = server.accept()
    _msg, fds, _flags, _addr = socket.recv_fds(conn, 1024, 1)
    assert proc.wait(30) == 0, proc.stderr.read()
    master = fds[0]
    runtime("start", cid, check=True)
    out = b""
    deadline = time.monotonic() + 10
    while b"hello" not in out and time.monotonic() < deadline:
        try:
            out += os.read(master, 1024)
        except OSError:
            break
    assert b"/dev/pts/0" in out and b"hello" in out
    os.close(master)
    conn.close()
    server.close()


def test_foreground_terminal_without_console_socket(runtime, bundle):
    bundle.config["process"]["terminal"] = True
    bundle.set_args("sh", "-c", "test -t 0 && tty")
    proc = runtime("run", "--bundle", str(bundle), unique(), check=True, stdin=subprocess.DEVNULL)
    assert "/dev/pts/0" in proc.stdout


def test_hooks_run_with_state(runtime, bundle, tmp_path):
    out = tmp_path / "hooks.log"
    hook = tmp_path / "hook.sh"
    hook.write_text(f'#!/bin/sh\necho "$1 $(readlink /proc/self/ns/pid) $(cat)" >> {out}\n')
    hook.chmod(0o755)
    bundle.config["hooks"] = {
        stage: [{"path": str(hook), "args": ["hook.sh", stage]}]
        for stage in ("prestart", "createRuntime", "createContainer", "poststart", "poststop")
    }
    bundle.set_args("true")
    cid = unique()
    runtime("run", "--bundle", str(bundle), cid, check=True)
    lines = out.read_text().splitlines()
    stages = [line.split()[0] for line in lines]
    assert stages == ["prestart", "createRuntime", "createContainer", "poststart", "poststop"]
    state = json.loads(lines[0].split(" ", 2)[2])
    assert state["id"] == cid and state["pid"] > 0 and state["bundle"] == str(bundle)
    # the runtime's hooks run in the host's PID namespace (main points only init at the container's)
    host = os.readlink("/proc/self/ns/pid")
    assert {line.split()[0]: line.split()[1] == host for line in lines} == {
        "prestart": True,
        "createRuntime": True,
        "createContainer": False,
        "poststart": True,
        "poststop": True,
    }


def test_failing_prestart_hook_fails_create_and_leaves_nothing(runtime, bundle):
    bundle.config["hooks"] = {"prestart": [{"path": "/bin/false"}]}
    bundle.set_args("true")
    cid = unique()
    proc = runtime("create", "--bundle", str(bundle), cid)
    assert proc.returncode != 0 and "prestart hook /bin/false" in proc.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert not os.path.exists(cgroup_dir("memory", bundle.config["linux"]["cgroupsPath"]))


def test_user_namespace_mappings(runtime, bundle, open_rootfs):
    userns_bundle(bundle, open_rootfs)
    bundle.set_args("sh", "-c", "cat /proc/self/uid_map; id -u")
    proc = runtime("run", "--bundle", str(bundle), unique(), check=True)
    assert proc.stdout.split() == ["0", "100000", "65536", "0"]


def test_seccomp_profile_is_enforced(runtime, bundle):
    bundle.config["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
    }
    bundle.set_args("sh", "-c", "mkdir /tmp/x 2>&1; grep Seccomp: /proc/self/status")
    proc = runtime("run", "--bundle", str(bundle), unique())
    assert "Operation not permitted" in proc.stdout
    assert "Seccomp:\t2" in proc.stdout


def test_rlimits_oom_score_and_umask(runtime, bundle):
    bundle.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]
    bundle.config["process"]["oomScoreAdj"] = 123
    bundle.config["process"]["user"]["umask"] = 0o027
    bundle.set_args("sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj; umask")
    assert runtime("run", "--bundle", str(bundle), unique(), check=True).stdout.split() == ["256", "512", "123", "0027"]


def test_sysctl_domainname_and_devices(runtime, bundle):
    bundle.config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    bundle.config["domainname"] = "example.test"
    bundle.config["linux"]["devices"] = [
        {"type": "c", "path": "/dev/fuse-like", "major": 1, "minor": 7, "fileMode": 0o600}
    ]
    bundle.set_args(
        "sh",
        "-c",
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/domainname; stat -c '%t:%T %a' /dev/fuse-like; head -c 3 /dev/fuse-like | wc -c",
    )
    assert runtime("run", "--bundle", str(bundle), unique(), check=True).stdout.split() == [
        "1",
        "example.test",
        "1:7",
        "600",
        "3",
    ]


def test_join_existing_namespace_by_path(runtime, bundle, tmp_path):
    bundle.set_args("sleep", "1000")
    first = unique()
    runtime("run", "-d", "--bundle", str(bundle), first, check=True)
    pid = runtime.state(first)["pid"]
    second_bundle = tmp_path / "b2"
    second_bundle.mkdir()
    cfg = dict(bundle.config)
    cfg["linux"] = dict(cfg["linux"], cgroupsPath="/" + unique("cg"))
    cfg["linux"]["namespaces"] = [n if n["type"] != "pid" else {"type": "pid", "path": f"/proc/{pid}/ns/pid"}
                                  for n in cfg["linux"]["namespaces"]]  # fmt: skip
    cfg["process"] = dict(cfg["process"], args=["ps", "-o", "pid,args"])
    (second_bundle / "config.json").write_text(json.dumps(cfg))
    out = runtime("run", "--bundle", str(second_bundle), unique(), check=True).stdout
    assert "1 sleep 1000" in " ".join(out.split())


def test_preserve_fds_and_no_leaks(runtime, bundle, tmp_path):
    bundle.set_args("ls", "/proc/self/fd")
    keep = open(tmp_path / "kept", "w")
    leak = open(tmp_path / "leaked", "w")
    os.set_inheritable(leak.fileno(), True)
    r, w = os.pipe()
    os.dup2(keep.fileno(), 3) if keep.fileno() != 3 else None
    try:
        proc = subprocess.run([runtime.binary, "--root", runtime.root, "run", "--preserve-fds", "1", "--bundle", str(bundle),
                               unique()], capture_output=True, text=True, pass_fds=(3, leak.fileno()))  # fmt: skip
    finally:
        keep.close()
        leak.close()
        os.close(r)
        os.close(w)
    # ls opens one fd of its own for the directory
    assert sorted(int(x) for x in proc.stdout.split()) == [0, 1, 2, 3, 4], proc.stdout + proc.stderr


def test_lsm_fields_are_ignored_with_a_warning(runtime, bundle):
    bundle.config["process"]["apparmorProfile"] = "docker-default"
    bundle.config["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
    bundle.set_args("true")
    proc = runtime("run", "--bundle", str(bundle), unique(), check=True)
    if not os.path.isdir("/sys/kernel/security/apparmor"):
        assert "apparmorProfile 'docker-default' ignored" in proc.stderr
    if not os.path.isdir("/sys/fs/selinux"):
        assert "SELinux label" in proc.stderr


def test_exec_process_file_and_added_capability(runtime, bundle, tmp_path):
    bundle.set_args("sleep", "1000")
    cid = unique()
    runtime("run", "-d", "--bundle", str(bundle), cid, check=True)
    process = {"args": ["sh", "-c", "echo $X; pwd; id -u"], "env": ["X=from-file", "PATH=/bin"], "cwd": "/tmp",
               "user": {"uid": 65534, "gid": 65534}}  # fmt: skip
    (tmp_path / "process.json").write_text(json.dumps(process))
    out = runtime("exec", "--process", str(tmp_path / "process.json"), cid, check=True).stdout.split()
    assert out == ["from-file", "/tmp", "65534"]
    caps = runtime("exec", "--cap", "CAP_SYS_ADMIN", cid, "grep", "CapEff", "/proc/self/status", check=True).stdout
    assert int(caps.split()[1], 16) >> 21 & 1
    plain = runtime("exec", cid, "grep", "CapEff", "/proc/self/status", check=True).stdout
    assert not int(plain.split()[1], 16) >> 21 & 1
    bad = runtime("exec", "--process", str(tmp_path / "missing.json"), cid)
    assert bad.returncode != 0 and "missing.json" in bad.stderr


def test_rootfs_propagation_private(runtime, bundle):
    bundle.config["linux"]["rootfsPropagation"] = "private"
    bundle.set_args("awk", '$5 == "/"', "/proc/self/mountinfo")
    line = runtime("run", "--bundle", str(bundle), unique(), check=True).stdout
    assert line and "shared:" not in line and "master:" not in line
    bundle.config["linux"]["rootfsPropagation"] = "rshared"
    bundle.write()
    assert "shared:" in runtime("run", "--bundle", str(bundle), unique(), check=True).stdout
    bundle.config["linux"]["rootfsPropagation"] = "sideways"
    bundle.write()
    proc = runtime("run", "--bundle", str(bundle), unique())
    assert proc.returncode != 0 and "invalid rootfsPropagation 'sideways'" in proc.stderr


def test_start_container_hook_runs_inside(runtime, bundle, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    bundle.config["mounts"].append(
        {"destination": "/shared", "type": "bind", "source": str(shared), "options": ["rbind"]}
    )
    # the path resolves in the container: busybox's sh, writing the hostname it sees
    bundle.config["hooks"] = {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "hostname > /shared/seen"]}]}
    bundle.config["hostname"] = "hooked"
    bundle.set_args("true")
    runtime("run", "--bundle", str(bundle), unique(), check=True)
    assert (shared / "seen").read_text() == "hooked\n"


def test_session_keyring(runtime, bundle):
    bundle.config["linux"]["maskedPaths"] = [p for p in bundle.config["linux"]["maskedPaths"] if p != "/proc/keys"]
    bundle.set_args("cat", "/proc/keys")
    own = runtime("run", "--bundle", str(bundle), unique(), check=True).stdout
    assert f"_ses.{runtime.made[-1]}" in own
    cid = unique()
    shared = runtime("run", "--no-new-keyring", "--bundle", str(bundle), cid, check=True).stdout
    assert f"_ses.{cid}" not in shared
