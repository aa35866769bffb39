"""The container's init: builds the root file system from inside its own mount
namespace, pivots into it, reports ready, waits for `start` on exec.fifo (or `run`'s pipe), then
becomes the user's process with execve. No Python remains once it runs.
"""

from __future__ import annotations

import os

from berth.linux import keyctl, netdev, uts
from berth.linux.syscalls import Syscalls
from berth.oci.runtime_spec import Spec
from berth.runtime import process_setup, rootfs, sync
from berth.runtime.intermediate import describe


class InitConfig:
    """What main hands to init through fork."""

    __slots__ = ("container_id", "spec", "bundle", "rootfs", "ch", "fifo_fd", "console_fd",
                 "preserve_fds", "new_keyring", "in_userns", "cgroupns", "cgroup_layout", "main_hooks", "new_netns",
                 "seccomp")  # fmt: skip

    def __init__(self, **kw: object) -> None:
        for k, v in kw.items():
            setattr(self, k, v)


def run(cfg: InitConfig) -> None:
    """Never returns: execve's the container process or exits 1 after reporting why."""
    ch: sync.Channel = cfg.ch
    ready = False
    try:
        executable, seccomp_filter = prepare(cfg)
        ch.send(sync.READY)
        ready = True
        wait_for_start(cfg.fifo_fd)
        spec: Spec = cfg.spec
        if spec.hooks:
            from berth.runtime import hooks  # imported by prepare, before pivot_root

            hooks.run(spec.hooks.start_container, {"id": cfg.container_id, "status": "running",
                      "pid": os.getpid(), "bundle": cfg.bundle}, "startContainer")  # fmt: skip
        # exec.fifo stays open until execve closes it: `start` returns when it sees that
        process_setup.finalize(spec.process, seccomp_filter, cfg.preserve_fds, executable, cfg.fifo_fd)
    except BaseException as e:  # noqa: BLE001
        message = describe(e)
        try:
            if ready:
                os.write(2, f"berth-runtime: {message}\n".encode())
            else:
                ch.send(sync.ERROR, message)
        finally:
            os._exit(1)


def prepare(cfg: InitConfig) -> tuple[str, object | None]:
    spec: Spec = cfg.spec
    process = spec.process
    os.setsid()
    old_umask = os.umask(0)
    if process.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(process.oom_score_adj))
    if cfg.new_keyring:
        try:
            keyctl.join_session_keyring(f"_ses.{cfg.container_id}")
        except OSError as e:
            if e.errno not in (38, 1):  # ENOSYS, EPERM: keyrings unavailable here
                raise
    sys = Syscalls()
    the_plan = rootfs.plan(spec, cfg.in_userns)
    builder = rootfs.RootfsBuilder(sys, cfg.rootfs, cfg.in_userns, cfg.cgroupns, cfg.cgroup_layout, cfg.bundle)
    builder.before_pivot(the_plan.before_pivot)
    # after pivot_root nothing more can be imported: load what comes later now
    seccomp_filter = cfg.seccomp  # compiled by main, loaded by prctl: nothing to import after pivot_root
    if spec.hooks:
        from berth.runtime import hooks  # most configs have none: only then is it loaded
    if spec.hooks and spec.hooks.start_container:
        import subprocess  # noqa: F401 - hooks.run needs it after pivot_root
    if process.terminal:
        from berth.runtime import console
    if cfg.main_hooks:
        cfg.ch.send(sync.HOOKS)
        cfg.ch.expect(sync.OK)
    if spec.hooks:
        state = {"ociVersion": spec.oci_version, "id": cfg.container_id, "status": "created",
                 "pid": os.getpid(), "bundle": cfg.bundle}  # fmt: skip
        hooks.run(spec.hooks.create_container, state, "createContainer")
    builder.pivot_root()
    if process.terminal:
        size = process.console_size
        console.make_pty(cfg.console_fd, size.height if size else 0, size.width if size else 0)
    elif cfg.console_fd >= 0:
        os.close(cfg.console_fd)
    if cfg.new_netns:
        netdev.set_up("lo")  # as runc does: a new network namespace starts with loopback down
    if spec.hostname:
        uts.sethostname(spec.hostname)
    if spec.domainname:
        uts.setdomainname(spec.domainname)
    # sysctls before the read-only paths: /proc/sys is one of them
    for key, value in (spec.linux.sysctl if spec.linux else {}).items():
        with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
            f.write(value)
    builder.after_pivot(the_plan.after_pivot)
    process_setup.set_rlimits(process)
    os.umask(old_umask)
    return process_setup.find_executable(process.args, process.env), seccomp_filter


def wait_for_start(fifo_fd: int) -> None:
    """Block until `start` writes to exec.fifo (opened read-write before pivot_root: it never
    reads end of file), or `run`'s main to the pipe it gave instead (end of file: main is gone).
    The fd stays open (close-on-exec) until the execve."""
    if not os.read(fifo_fd, 1):
        raise OSError("start: the runtime that created the container is gone")
