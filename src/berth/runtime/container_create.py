"""`create`: the main role. Validates the bundle, claims the id, makes the
cgroup and exec.fifo, forks the first child (init itself, or the intermediate
when the container has a user namespace of its own), answers the children's
requests (id maps, hooks) and records the state once init reports ready.

Everything the children need is imported here, before the fork: importing after
it costs more, each page the import touches being copied on write.
"""

from __future__ import annotations

import os

from berth import fastjson
from berth.clock import rfc3339
from berth.errors import BerthError, FailedPrecondition, InvalidArgument, NotFound
from berth.fs import atomic_write, remove_tree
from berth.linux import ns, prctl
from berth.oci.runtime_spec import Spec, parse_spec
from berth.runtime import cgroups, init, intermediate, statedir, sync
from berth.runtime.cgroups import device_rules
from berth.runtime.container import Container
from berth.runtime.init import InitConfig
from berth.runtime.validate import namespace_types, validate


def load_bundle(bundle: str) -> tuple[Spec, bytes]:
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise NotFound(f"JSON specification file {path} not found") from None
    try:
        return parse_spec(fastjson.loads(raw)), raw
    except ValueError as e:
        raise InvalidArgument(f"{path}: {e}") from None


def _write_id_maps(pid: int, spec: Spec) -> None:
    linux = spec.linux
    if os.geteuid() != 0:  # an ordinary user maps its own gid only once setgroups is denied there
        with open(f"/proc/{pid}/setgroups", "w") as f:
            f.write("deny")
    for name, maps in (("uid_map", linux.uid_mappings), ("gid_map", linux.gid_mappings)):
        text = "".join(f"{mp.container_id} {mp.host_id} {mp.size}\n" for mp in maps)
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(text)


def oci_state(container_id: str, spec: Spec, bundle: str, pid: int, status: str) -> dict:
    return {"ociVersion": spec.oci_version, "id": container_id, "status": status, "pid": pid,
            "bundle": bundle, "annotations": spec.annotations}  # fmt: skip


def create(root: str, container_id: str, bundle: str, pid_file: str | None = None,
           console_fd: int = -1, preserve_fds: int = 0, new_keyring: bool = True,
           loaded: tuple[Spec, bytes] | None = None,
           start_pipe: tuple[int, int] | None = None) -> Container:  # fmt: skip
    """start_pipe: (read end, write end) of a pipe init waits on for `start` instead of exec.fifo,
    the write end staying with the caller: `run` starts what it created itself, and no other
    process needs the fifo (two file system operations fewer on the start path)."""
    bundle = os.path.abspath(bundle)
    statedir.check_id(container_id)
    spec, raw = loaded or load_bundle(bundle)
    rootfs = validate(spec, bundle)
    if spec.process.terminal and console_fd < 0:
        raise InvalidArgument("cannot allocate tty if berth-runtime will detach without setting console socket")
    from berth.runtime import process_setup

    # compiled (or read from the cache) here, before any fork: a profile libseccomp rejects fails now
    seccomp_program = process_setup.compile_seccomp(spec.linux.seccomp if spec.linux else None,
                                                    os.path.join(root, "seccomp-cache"))  # fmt: skip
    types = namespace_types(spec)
    try:
        cg = cgroups.manager(cgroups.normalize(spec.linux.cgroups_path if spec.linux else "", container_id))
    except ValueError as e:
        raise InvalidArgument(f"config.json: {e}") from None
    cdir = statedir.make_dir(root, container_id)
    made: tuple[str, ...] = ()
    init_pid = 0
    child = 0
    parent_ch = child_ch = None
    fifo_fd = -1
    try:
        if start_pipe is None:
            fifo = os.path.join(cdir, "exec.fifo")
            os.mkfifo(fifo, 0o600)
            fifo_fd = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)
        made = cg.create()
        cg.apply(spec.linux.resources if spec.linux else None,
                 device_rules.for_devices(spec.linux.devices if spec.linux else ()))  # fmt: skip
        ns_fds = {t: os.open(p, os.O_RDONLY | os.O_CLOEXEC) for t, p in types.items() if p}
        parent_ch, child_ch = sync.pipes()
        main_hooks = bool(spec.hooks and (spec.hooks.prestart or spec.hooks.create_runtime))
        start_fd = fifo_fd if start_pipe is None else start_pipe[0]  # what init waits on for `start`
        cfg = InitConfig(container_id=container_id, spec=spec, bundle=bundle, rootfs=rootfs, ch=child_ch,
                         fifo_fd=start_fd, console_fd=console_fd, preserve_fds=preserve_fds,
                         new_keyring=new_keyring, in_userns="user" in types or not ns.in_initial_user_namespace(),
                         cgroupns="cgroup" in types,
                         cgroup_layout=cg.layout(), main_hooks=main_hooks, seccomp=seccomp_program,
                         new_netns=types.get("network") == "")  # fmt: skip
        # Without a user namespace of its own, init is forked straight into its PID namespace:
        # main points its children there and comes back, one Python fork fewer (~1 ms). A new
        # user namespace must own the PID namespace, so then an intermediate makes both.
        # A process in a user namespace other than the host's may not come back to the host's PID
        # namespace (rootless): the intermediate makes the PID namespace then.
        direct = "user" not in types and ns.in_initial_user_namespace()
        home = _pid_ns_for_children(types, ns_fds) if direct else -1
        try:
            child = os.fork()
            if child == 0:
                try:  # the child never runs main's code below
                    _child_signals()
                    parent_ch.close()
                    if start_pipe is not None:
                        os.close(start_pipe[1])  # main's: init reads end of file if main dies before start
                    _child(cfg, types, ns_fds, cg, direct)
                finally:
                    os._exit(1)
        finally:
            if home >= 0:
                _back_to_pid_ns(home)
        if direct:
            init_pid = child
        child_ch.close()
        if fifo_fd >= 0:
            os.close(fifo_fd)
            fifo_fd = -1
        for fd in ns_fds.values():
            os.close(fd)
        # the config as it was at create, for the later commands; written while the child builds
        # the container (main would only wait), not before the fork
        atomic_write(os.path.join(cdir, "config.json"), raw, 0o600)
        init_pid = _converse(parent_ch, spec, container_id, bundle, init_pid)
        if not direct:
            os.waitpid(child, 0)
        child = 0
        state = statedir.ContainerState(
            id=container_id, bundle=bundle, rootfs=rootfs, pid=init_pid,
            pid_start=statedir.process_start(init_pid), created=rfc3339(),
            annotations=spec.annotations, cgroup_path=cg.path, cgroup_dirs=made,
        )  # fmt: skip
        statedir.save(root, state)
        if pid_file:
            atomic_write(os.path.abspath(pid_file), str(init_pid).encode())
        return Container(root, container_id, state, spec, cg)
    except BaseException:
        if init_pid:
            _kill(init_pid)
        if child:
            if not init_pid:  # failed before init's pid was known: the child would wait for `start`
                _kill(child)
            os.waitpid(child, 0)
        for pid in cg.pids():
            _kill(pid)
        cg.destroy(made)
        remove_tree(cdir)
        raise
    finally:
        if parent_ch:
            parent_ch.close()
        if fifo_fd >= 0:
            os.close(fifo_fd)


def _child(cfg: InitConfig, types: dict[str, str], ns_fds: dict[str, int], cg: cgroups.Manager,
           direct: bool) -> None:  # fmt: skip
    """The forked child: init itself when `direct` (main chose its PID namespace), else the
    intermediate. Never returns."""
    if direct:
        intermediate.become_init(cfg.ch, {t: p for t, p in types.items() if t != "pid"}, ns_fds, cg,
                                 lambda: init.run(cfg))  # fmt: skip
    intermediate.run(cfg.ch, types, ns_fds, cg, lambda: init.run(cfg))


def _pid_ns_for_children(types: dict[str, str], ns_fds: dict[str, int]) -> int:
    """Point main's next child at the container's PID namespace (new or joined); return an fd
    of main's own to come back with."""
    # the child is born non-dumpable: in a joined PID namespace others see it at once
    prctl.set_dumpable(False)
    home = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if "pid" in ns_fds:
            fd = ns_fds.pop("pid")
            try:
                ns.setns(fd, ns.CLONE_NEWPID)
            finally:
                os.close(fd)
        elif "pid" in types:
            ns.unshare(ns.CLONE_NEWPID)
    except BaseException:
        os.close(home)
        raise
    return home


def _back_to_pid_ns(home: int) -> None:
    try:
        ns.setns(home, ns.CLONE_NEWPID)
    finally:
        os.close(home)


def _converse(ch: sync.Channel, spec: Spec, container_id: str, bundle: str, init_pid: int = 0) -> int:
    """Serve the children's requests until init is ready; return init's pid."""
    while True:
        kind, payload = ch.recv()
        if kind == sync.PID:
            init_pid = int(payload)
        elif kind == sync.USERMAP:
            _write_id_maps(int(payload), spec)
            ch.send(sync.OK)
        elif kind == sync.HOOKS:
            from berth.runtime import hooks

            state = oci_state(container_id, spec, bundle, init_pid, "creating")
            hooks.run(spec.hooks.prestart, state, "prestart")
            hooks.run(spec.hooks.create_runtime, state, "createRuntime")
            ch.send(sync.OK)
        elif kind == sync.READY:
            if not init_pid:
                init_pid = int(ch.expect(sync.PID))
            return init_pid
        elif kind == sync.ERROR:
            raise _ChildError(payload, init_pid)
        else:
            raise FailedPrecondition("container init exited before it was ready")


class _ChildError(BerthError):
    def __init__(self, message: str, pid: int) -> None:
        super().__init__(message)
        self.pid = pid


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


def _child_signals() -> None:
    """A forked child must not keep the foreground run's signal plumbing."""
    import _signal

    _signal.set_wakeup_fd(-1)
    for sig in range(1, _signal.NSIG):
        if sig in (_signal.SIGKILL, _signal.SIGSTOP):
            continue
        try:
            _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])
