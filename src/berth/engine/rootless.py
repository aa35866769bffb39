"""Rootless berth: an ordinary user's engine, Podman's model.

Every berth command of the user runs inside one user namespace and one mount namespace that a
holder process keeps (Podman's pause process): the user's uid is root there, and the user's
subordinate ids (/etc/subuid, /etc/subgid, mapped by Debian's setuid newuidmap and newgidmap)
are the other ids. A command joins the holder's namespaces before it does anything else (it
must still have one thread), so containers, monitors and mounts made by one command are seen by
the next. The store is the user's (~/.local/share/berth, $XDG_DATA_HOME), the holder's pid file
is in $XDG_RUNTIME_DIR/berth; the user's containers are invisible to other users and to
root's berth."""

from __future__ import annotations

import os

from berth.errors import BerthError, InvalidArgument

HOLDER = "holder.pid"
NET_HOLDER = "netns.pid"  # the holder of the user's network namespace, where user networks live
NET_SYSFS = "netns-sys"  # that namespace's sysfs, mounted in the user's mount namespace
NET_API = "netns-slirp4netns.sock"  # the API socket of that namespace's slirp4netns
SIZE_WANTED = 65536  # subordinate ids a user needs at the least


def active() -> bool:
    """This process is berth run by an ordinary user (before or after joining the namespaces)."""
    return os.environ.get("BERTH_ROOTLESS") == "1" or os.geteuid() != 0


def store_root() -> str:
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "berth")


def runtime_dir() -> str:
    """$XDG_RUNTIME_DIR/berth, else /tmp/berth-UID; as chosen before joining (where the uid is 0)."""
    if os.environ.get("BERTH_RUNTIME_DIR"):
        return os.environ["BERTH_RUNTIME_DIR"]
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base and os.path.isdir(base):
        return os.path.join(base, "berth")
    return f"/tmp/berth-{os.getuid()}"


def enter() -> None:
    """Into the user's namespaces (made, with their holder, on first use). Call with one thread."""
    if os.environ.get("BERTH_ROOTLESS") == "1":
        return  # joined already: a monitor or a child of a joined command
    from berth.fs import Flock
    from berth.linux import ns

    rundir = runtime_dir()
    os.makedirs(rundir, mode=0o700, exist_ok=True)
    with Flock(os.path.join(rundir, "holder.lock"), file=True):  # one holder, whoever comes first
        pid = _holder(rundir) or _start_holder(rundir)
    user = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    mnt = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    cwd = os.getcwd()
    try:
        ns.setns(user, ns.CLONE_NEWUSER)
        ns.setns(mnt, ns.CLONE_NEWNS)
    finally:
        os.close(user)
        os.close(mnt)
    os.chdir(cwd)  # joining a mount namespace moves the caller to its root
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    os.environ["BERTH_ROOTLESS"] = "1"
    os.environ["BERTH_RUNTIME_DIR"] = rundir
    os.environ.setdefault("BERTH_NETWORK_ROOT", os.path.join(store_root(), "network"))
    os.environ["BERTH_NET_SYSFS"] = os.path.join(rundir, NET_SYSFS)  # where berth.network reads /sys/class/net


def in_network_namespace(work, make: bool = True):
    """work() run by a thread that has joined the user's network namespace (made on first use;
    not `make`: if there is none, work() runs in the caller's thread), and its result. User networks live there: their bridges, firewall rules and DNS servers, and
    the containers' other ends, reached from the host through slirp4netns. A thread, because a
    process outside the host's user namespace can never come back to the host's network
    namespace, where the caller must stay (pulls, the default network's slirp4netns); what the
    thread spawns starts in the namespace it joined."""
    import threading

    from berth.fs import Flock
    from berth.linux import ns

    rundir = runtime_dir()
    with Flock(os.path.join(rundir, "netns.lock"), file=True):
        pid = _holder(rundir, NET_HOLDER) or (_start_net_holder(rundir) if make else 0)
    if not pid:
        return work()
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    outcome: list = [None, None]

    def run() -> None:
        try:
            ns.setns(fd, ns.CLONE_NEWNET)
            outcome[0] = work()
        except BaseException as e:  # noqa: BLE001 - raised again by the caller's thread
            outcome[1] = e

    try:
        thread = threading.Thread(target=run, name="user-network")
        thread.start()
        thread.join()
    finally:
        os.close(fd)
    if outcome[1] is not None:
        raise outcome[1]
    return outcome[0]


def forward_ports(bindings: list[dict]) -> None:
    """Each published port (a PortBindings entry, its host port chosen) forwarded by the user's
    network namespace's slirp4netns from the host to that namespace (10.0.2.100), where the
    user network's rules forward it on to the container; any forward made is undone if one fails."""
    from berth.engine import slirp

    api = os.path.join(runtime_dir(), NET_API)
    done = []
    try:
        for b in bindings:
            slirp.forward(api, b, int(b["HostPort"]))
            done.append(b)
    except BaseException:
        unforward_ports(done)
        raise


def unforward_ports(bindings: list[dict]) -> None:
    """slirp4netns's forwards of these published ports, if its namespace is still there."""
    from berth.engine import slirp

    api = os.path.join(runtime_dir(), NET_API)
    if bindings and _holder(runtime_dir(), NET_HOLDER):
        slirp.unforward(api, bindings)


def cgroup_parent() -> str:
    """Where the user's containers' cgroups go: `berth` under the top of the cgroup v2 subtree
    the host delegates to the user (the highest cgroup above this process that the user may
    write, systemd's user@UID.service), as Podman's cgroupfs driver puts them under the user's
    own; plain `berth` if none is delegated (the runtime then runs containers without limits,
    and refuses limits)."""
    try:
        with open("/proc/self/cgroup") as f:
            path = next((line[3:].strip() for line in f if line.startswith("0::")), "")
    except OSError:
        path = ""
    top = "/sys/fs/cgroup"
    parts = [p for p in path.split("/") if p]
    for i in range(1, len(parts) + 1):
        directory = os.path.join(top, *parts[:i])
        if os.access(directory, os.W_OK) and os.access(os.path.join(directory, "cgroup.procs"), os.W_OK):
            return "/".join([*parts[:i], "berth"])
    return "berth"


def _holder(rundir: str, name: str = HOLDER) -> int:
    """The running holder's pid, 0 if there is none: its pid file names it with its start time,
    so that a pid used again by another process is not taken for it."""
    try:
        with open(os.path.join(rundir, name)) as f:
            pid, started = (int(x) for x in f.read().split())
    except (FileNotFoundError, ValueError):
        return 0
    return pid if _started(pid) == started else 0


def _started(pid: int) -> int:
    """The process's start time in clock ticks (/proc/PID/stat's 22nd field), -1 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return -1


def _ranges(path: str, user: str) -> tuple[int, int]:
    from berth.engine.userns import subordinate

    ranges = subordinate(user, path)
    if not ranges:
        raise InvalidArgument(f"rootless berth: user {user} has no subordinate ids in {path}: ask root for a range "
                              f"(usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user})")  # fmt: skip
    first, count = ranges[0]
    if count < SIZE_WANTED:
        raise InvalidArgument(f"rootless berth: {path} gives {user} {count} ids: at least {SIZE_WANTED} are needed")
    return first, count


def _start_holder(rundir: str) -> int:
    """A process in a new user and mount namespace, the user's uid root there and the
    subordinate ids the rest, sleeping until killed; its pid."""
    import pwd
    import shutil
    import subprocess

    from berth.linux import ns

    user = pwd.getpwuid(os.getuid()).pw_name
    uids, gids = _ranges("/etc/subuid", user), _ranges("/etc/subgid", user)
    for tool in ("newuidmap", "newgidmap"):
        if shutil.which(tool) is None:
            raise InvalidArgument(f"rootless berth: {tool} is missing: install Debian's uidmap package (as root)")

    def map_ids(pid: int) -> None:
        for tool, own, (first, count) in (("newuidmap", os.getuid(), uids), ("newgidmap", os.getgid(), gids)):
            proc = subprocess.run([tool, str(pid), "0", str(own), "1", "1", str(first), str(count)],
                                  capture_output=True, text=True)  # fmt: skip
            if proc.returncode != 0:
                raise BerthError(f"rootless berth: {tool}: {proc.stderr.strip() or proc.returncode}")

    def hold() -> None:
        # (the host's shared mounts are slaves in a mount namespace of a less privileged user
        # namespace: what the host mounts reaches it, nothing it mounts reaches the host)
        os.setsid()
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 1 << 16)
        os.execvp("sleep", ["sleep", "infinity"])

    pid, _ = ns.in_a_child(ns.CLONE_NEWUSER | ns.CLONE_NEWNS, map_ids, then=hold)
    from berth.fs import atomic_write

    atomic_write(os.path.join(rundir, HOLDER), f"{pid} {_started(pid)}".encode())
    return pid


def _start_net_holder(rundir: str) -> int:
    """A process in a new network namespace of the user's, sleeping until killed, with that
    namespace's sysfs mounted at NET_SYSFS (sysfs shows the namespace of whoever mounts it) and
    slirp4netns behind its tap0 (10.0.2.100, the way out). slirp4netns ends with the holder: its
    --exit-fd is a pipe whose other end only the holder keeps."""
    from berth.engine import slirp
    from berth.fs import atomic_write
    from berth.linux import mount, netdev, ns

    sysfs = os.path.join(rundir, NET_SYSFS)
    os.makedirs(sysfs, exist_ok=True)
    exit_r, exit_w = os.pipe()
    mounted_r, mounted_w = os.pipe()

    def hold() -> None:
        try:
            mount.umount2(sysfs, mount.MNT_DETACH)  # a dead namespace's, from an earlier holder
        except OSError:
            pass
        mount.mount("sysfs", sysfs, "sysfs", mount.MS_NOSUID | mount.MS_NODEV | mount.MS_NOEXEC)
        netdev.set_up("lo")
        os.write(mounted_w, b"m")
        os.setsid()
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.dup2(exit_w, 3)
        os.set_inheritable(3, True)  # slirp4netns's --exit-fd: open for as long as we live
        os.closerange(4, 1 << 16)
        os.execvp("sleep", ["sleep", "infinity"])

    try:
        pid, _ = ns.in_a_child(ns.CLONE_NEWNET, then=hold)
        os.close(mounted_w)
        mounted_w = -1
        os.close(exit_w)
        exit_w = -1
        if os.read(mounted_r, 1) != b"m":
            raise BerthError("rootless berth: the user's network namespace could not be made")
        try:
            slirp.launch(
                f"/proc/{pid}/ns/net",
                exit_r,
                os.path.join(rundir, "netns-slirp4netns.log"),
                os.path.join(rundir, "netns-slirp4netns.sock"),
            )
        except BaseException:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise
    finally:
        for fd in (exit_r, mounted_r, exit_w, mounted_w):
            if fd >= 0:
                os.close(fd)
    atomic_write(os.path.join(rundir, NET_HOLDER), f"{pid} {_started(pid)}".encode())
    return pid
