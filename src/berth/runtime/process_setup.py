"""The last steps before execve, shared by a container's init and by exec:
rlimits, seccomp, capabilities, user and groups, umask, cwd, fds, signals.
"""

from __future__ import annotations

import _signal
import os

from berth.errors import FailedPrecondition, InvalidArgument
from berth.linux import caps, prctl, rlimit
from berth.oci.runtime_spec import Process, Seccomp


def set_rlimits(process: Process) -> None:
    for rl in process.rlimits:
        if rl.type not in rlimit.NUMBERS:
            raise InvalidArgument(f"process.rlimits: unknown type {rl.type!r}")
        rlimit.setrlimit(rl.type, rl.soft, rl.hard)


def find_executable(args: tuple[str, ...], env: tuple[str, ...] | list[str]) -> str:
    """Resolve args[0] through the process's PATH, as execvp would, or fail now."""
    if not args:
        raise InvalidArgument("process.args must not be empty")
    name = args[0]
    if "/" in name:
        candidates = [name]
    else:
        path = next((e[5:] for e in env if e.startswith("PATH=")), "/usr/local/bin:/usr/bin:/bin")
        candidates = [os.path.join(d or ".", name) for d in path.split(":")]
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    if "/" in name and os.path.exists(name):  # there, but not something to run: Docker's 126
        problem = "is a directory" if os.path.isdir(name) else "permission denied"
        raise FailedPrecondition(f'exec: "{name}": {problem}')
    if "/" in name:  # runc's words
        raise FailedPrecondition(f'exec: "{name}": stat {name}: no such file or directory')
    raise FailedPrecondition(f'exec: "{name}": executable file not found in $PATH')


def compile_seccomp(profile: Seccomp | None, cache_dir: str) -> object | None:
    """Compile the filter now (or take it from the cache): after pivot_root nothing can be loaded."""
    if profile is None:
        return None
    from berth.runtime import seccomp

    return seccomp.program(profile, cache_dir)


def finalize(process: Process, seccomp_filter: object | None, preserve_fds: int, executable: str,
             keep_fd: int = -1) -> None:  # fmt: skip
    """Become the container process and execve it. Never returns.

    keep_fd: a close-on-exec fd left open to the execve itself, which closes it: how `start`
    knows the process is exec'd (init's end of exec.fifo).
    Everything used here must already be imported: it runs after pivot_root.
    """
    nnp = process.no_new_privileges
    if seccomp_filter is not None and not nnp:
        # without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it while we have it
        seccomp_filter.load()
    capset = process.capabilities
    if capset is not None:
        caps.drop_bounding(caps.mask(capset.bounding))
    user = process.user
    prctl.set_keepcaps(True)
    try:
        os.setgroups(list(user.additional_gids))
    except PermissionError:
        if user.additional_gids or not _setgroups_denied():
            raise  # (denied in a user namespace an ordinary user made: it has no groups to drop)
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    prctl.set_keepcaps(False)
    if capset is not None:
        inheritable, permitted = caps.mask(capset.inheritable), caps.mask(capset.permitted)
        caps.capset(caps.mask(capset.effective), permitted, inheritable)
        caps.set_ambient(caps.mask(capset.ambient), inheritable, permitted)
    else:
        caps.capset(0, 0, 0)
    os.umask(user.umask if user.umask is not None else 0o022)
    enter_cwd(process.cwd)
    if nnp:
        prctl.set_no_new_privs()
        if seccomp_filter is not None:
            seccomp_filter.load()
    close_fds(preserve_fds, keep_fd)
    reset_signals()
    os.execve(executable, list(process.args), env_dict(process.env))


def env_dict(env: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for entry in env:
        key, _, value = entry.partition("=")
        out[key] = value
    return out


def enter_cwd(cwd: str) -> None:
    try:
        os.chdir(cwd)
    except OSError as e:
        raise FailedPrecondition(f"process.cwd {cwd}: {e.strerror}") from None
    # CVE-2024-21626: a cwd reached through a leaked fd would be outside the root
    if os.getcwd().startswith("(unreachable)"):
        raise FailedPrecondition(f"process.cwd {cwd} is outside the container's root")


def close_fds(preserve_fds: int, keep_fd: int = -1) -> None:
    """Keep stdio and the preserved fds 3..3+N-1 (and keep_fd); close every other."""
    first = 3 + preserve_fds
    if keep_fd >= first:
        os.closerange(first, keep_fd)
        os.closerange(keep_fd + 1, 1 << 20)
    else:
        os.closerange(first, 1 << 20)
    for fd in range(3, first):
        os.set_inheritable(fd, True)


def reset_signals() -> None:
    """Python ignores SIGPIPE and SIGXFSZ and may block signals: give the process clean ones."""
    for sig in (_signal.SIGPIPE, _signal.SIGXFSZ, _signal.SIGINT, _signal.SIGTERM, _signal.SIGCHLD):
        _signal.signal(sig, _signal.SIG_DFL)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def _setgroups_denied() -> bool:
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() == "deny"
    except OSError:
        return False
