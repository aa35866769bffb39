"""`exec`: run another process in a running container's namespaces and cgroup.

main -> a child that joins the namespaces (non-dumpable first) -> its child,
which lands in the container's PID namespace and execve's the process. The
pipe to main is close-on-exec, so EOF after the pid means the execve worked.
"""

from __future__ import annotations

import os

from berth import fastjson
from berth.errors import FailedPrecondition, InvalidArgument
from berth.linux import ns, prctl
from berth.oci.record import from_json
from berth.oci.runtime_spec import Capabilities, Process, SpecError, User
from berth.runtime import process_setup, sync
from berth.runtime.container import Container
from berth.runtime.container_create import _child_signals
from berth.runtime.intermediate import describe

# setns order: user first (it grants the rights for the rest) unless ns.user_joined_late, mount last
_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")
_ORDER_USER_LATE = ("ipc", "uts", "network", "pid", "cgroup", "time", "user", "mount")


def process_from_file(path: str) -> Process:
    try:
        with open(path, "rb") as f:
            return from_json(Process, fastjson.loads(f.read()))
    except OSError as e:
        raise InvalidArgument(f"process file {path}: {e.strerror}") from None
    except (ValueError, SpecError) as e:
        raise InvalidArgument(f"process file {path}: {e}") from None


def process_from_options(base: Process, args: list[str], env: list[str], cwd: str | None, user: str | None,
                         caps: list[str], terminal: bool, no_new_privs: bool, additional_gids: list[str]) -> Process:  # fmt: skip
    """runc's rules: the container's process with args replaced and the options on top."""
    if not args:
        raise InvalidArgument("exec: no command given; usage: exec [options] <container-id> <command> [args...]")
    new_user = base.user
    if user:
        uid, _, gid = user.partition(":")
        try:
            new_user = User(uid=int(uid), gid=int(gid) if gid else 0, umask=base.user.umask)
        except ValueError:
            raise InvalidArgument(f"exec: --user {user!r} must be UID[:GID]") from None
    if additional_gids:
        try:
            new_user = new_user.replace(additional_gids=tuple(int(g) for g in additional_gids))
        except ValueError:
            raise InvalidArgument("exec: --additional-gids takes numbers") from None
    capabilities = base.capabilities
    if caps:
        c = capabilities or Capabilities()
        add = tuple(caps)
        capabilities = c.replace(bounding=c.bounding + add, effective=c.effective + add,
                                 permitted=c.permitted + add, ambient=c.ambient + add)  # fmt: skip
    return base.replace(args=tuple(args), env=base.env + tuple(env), cwd=cwd or base.cwd, user=new_user,
                        capabilities=capabilities, terminal=terminal,
                        no_new_privileges=base.no_new_privileges or no_new_privs)  # fmt: skip


def exec_process(root: str, container_id: str, process: Process, detach: bool, pid_file: str | None,
                 console_socket: str | None, preserve_fds: int) -> int:  # fmt: skip
    c = Container(root, container_id)
    status = c.status()
    if status != "running":
        raise FailedPrecondition(f"cannot exec in a {status} container")
    if process.terminal and detach and not console_socket:
        raise InvalidArgument("cannot allocate tty if berth-runtime will detach without setting console socket")
    spec = c.spec
    seccomp = spec.linux.seccomp if spec.linux else None
    pid = c.state.pid
    ns_fds = []
    for t in _ORDER_USER_LATE if ns.user_joined_late() else _ORDER:
        flag, name = ns.TYPES[t]
        if any(n.type == t for n in spec.linux.namespaces) and ns.ns_inode(pid, name) != ns.ns_inode("self", name):
            ns_fds.append((os.open(f"/proc/{pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC), flag))
    fg = None
    if not detach:
        from berth.foreground import Foreground

        fg = Foreground()
    ours = theirs = -1
    if process.terminal:
        from berth.runtime import console

        if console_socket:
            theirs = console.connect(console_socket)
        else:
            ours, theirs = console.pair()
    # compiled here: after joining the mount namespace, libseccomp cannot be loaded
    seccomp_filter = process_setup.compile_seccomp(seccomp, os.path.join(root, "seccomp-cache"))
    if process.terminal:
        from berth.runtime import console  # noqa: F401 - loaded before setns for the same reason
    parent_ch, child_ch = sync.pipes()
    child = os.fork()
    if child == 0:
        _child_signals()
        parent_ch.close()
        _join_and_exec(child_ch, c, ns_fds, process, seccomp_filter, preserve_fds, theirs)
    child_ch.close()
    for fd, _ in ns_fds:
        os.close(fd)
    if theirs >= 0:
        os.close(theirs)
    try:
        kind, payload = parent_ch.recv()
        if kind == sync.ERROR:
            raise FailedPrecondition(payload)
        exec_pid = int(payload)
        os.waitpid(child, 0)
        kind, payload = parent_ch.recv()
        if kind == sync.ERROR:
            raise FailedPrecondition(payload)
    except BaseException:
        if fg:
            fg.close()
        raise
    finally:
        parent_ch.close()
    if pid_file:
        from berth.fs import atomic_write

        atomic_write(os.path.abspath(pid_file), str(exec_pid).encode())
    if fg is None:
        return 0
    if ours >= 0:
        from berth.runtime import console

        fg.attach_terminal(console.recv_master(ours))
        os.close(ours)
    return fg.wait(exec_pid)


def _join_and_exec(ch: sync.Channel, c: Container, ns_fds: list, process: Process, seccomp_filter, preserve_fds: int,
                   console_fd: int) -> None:  # fmt: skip
    """In the child: never returns."""
    try:
        prctl.set_dumpable(False)
        c.cgroup.join()
        for fd, flag in ns_fds:
            ns.setns(fd, flag)
            os.close(fd)
        pid = os.fork()
        if pid:
            ch.send(sync.PID, str(pid))
            os._exit(0)
        if process.terminal:
            os.setsid()

            from berth.runtime import console

            size = process.console_size
            console.make_pty(console_fd, size.height if size else 0, size.width if size else 0, bind_console=False)
        elif console_fd >= 0:
            os.close(console_fd)
        process_setup.set_rlimits(process)
        executable = process_setup.find_executable(process.args, process.env)
        # the channel stays open to the execve (close-on-exec): main's end of file then means the
        # process is exec'd, not that finalize closed the fds (a pid file written then named Python)
        process_setup.finalize(process, seccomp_filter, preserve_fds, executable, keep_fd=ch.wfd)
    except BaseException as e:  # noqa: BLE001
        try:
            ch.send(sync.ERROR, describe(e))
        finally:
            os._exit(1)
