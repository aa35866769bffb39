"""A container's root file system: a pure plan, then applied through Syscalls.

The plan is split at pivot_root: everything before it is mounted on the bundle's
rootfs from init's private mount namespace; masking, read-only paths and the
read-only root come after. Every mount target inside the rootfs is opened with
openat2(RESOLVE_IN_ROOT) and mounted through /proc/self/fd/N, so a symlink in
the image can never redirect a mount outside the rootfs.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat

from berth.errors import InvalidArgument
from berth.fs import open_or_make_in_root
from berth.linux import mount as m
from berth.linux.syscalls import Syscalls
from berth.oci.record import record
from berth.oci.runtime_spec import Spec
from berth.runtime import mountopts

DEFAULT_DEVICES = (
    ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
    ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
)  # fmt: skip
DEV_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)  # fmt: skip
# mount types that must land on a real directory, never through a symlink
_NO_SYMLINK_TYPES = ("proc", "sysfs")
_KEEP_FLAGS = ((os.ST_NOSUID, m.MS_NOSUID), (os.ST_NODEV, m.MS_NODEV), (os.ST_NOEXEC, m.MS_NOEXEC),
               (os.ST_NOATIME, m.MS_NOATIME), (os.ST_NODIRATIME, m.MS_NODIRATIME), (os.ST_RELATIME, m.MS_RELATIME))  # fmt: skip


@record
class Step:
    kind: str  # propagate-root bind-rootfs mount cgroup device symlink | mask readonly root-readonly
    dest: str = ""
    source: str = ""
    fstype: str = ""
    flags: int = 0
    data: str = ""
    propagation: tuple[int, ...] = ()
    device: tuple[str, int, int, int, int, int] | None = None  # type, major, minor, mode, uid, gid


@record
class Plan:
    before_pivot: tuple[Step, ...]
    after_pivot: tuple[Step, ...]


def _clean(path: str) -> str:
    # "/" + lstrip: normpath keeps a leading "//" as POSIX allows
    return posixpath.normpath("/" + path.lstrip("/"))


def plan(spec: Spec, in_userns: bool) -> Plan:
    linux = spec.linux
    propagation = linux.rootfs_propagation if linux else ""
    # pivot_root refuses shared mounts: a shared root becomes shared only after it
    before_flags = mountopts.rootfs_propagation("" if propagation in ("shared", "rshared") else propagation)
    before: list[Step] = [Step(kind="propagate-root", flags=before_flags), Step(kind="bind-rootfs")]
    dev_bound = False
    for mnt in spec.mounts:
        opts = mountopts.parse(mnt.options)
        dest = _clean(mnt.destination)
        is_bind = mnt.type == "bind" or opts.flags & m.MS_BIND
        if dest == "/dev" and is_bind:
            dev_bound = True
        kind = "cgroup" if mnt.type in ("cgroup", "cgroup2") else "mount"
        before.append(Step(kind=kind, dest=dest, source=mnt.source, fstype="bind" if is_bind else mnt.type,
                           flags=opts.flags, data=opts.data, propagation=opts.propagation))  # fmt: skip
    if not dev_bound:
        devices = {d.path: d for d in (linux.devices if linux else ())}
        for path, major, minor in DEFAULT_DEVICES:
            if path not in devices:
                before.append(Step(kind="device", dest=path, device=("c", major, minor, 0o666, 0, 0)))
        for d in devices.values():
            mode = d.file_mode if d.file_mode is not None else 0o666
            before.append(Step(kind="device", dest=_clean(d.path),
                               device=(d.type, d.major, d.minor, mode, d.uid or 0, d.gid or 0)))  # fmt: skip
        for target, link in DEV_SYMLINKS:
            before.append(Step(kind="symlink", dest=link, source=target))
    after: list[Step] = []
    if linux:
        after += [Step(kind="mask", dest=_clean(p)) for p in linux.masked_paths]
        after += [Step(kind="readonly", dest=_clean(p)) for p in linux.readonly_paths]
    if spec.root and spec.root.readonly:
        after.append(Step(kind="root-readonly", dest="/"))
    if propagation in ("shared", "rshared"):
        after.append(Step(kind="propagate-root", flags=m.MS_SHARED | m.MS_REC))
    return Plan(before_pivot=tuple(before), after_pivot=tuple(after))


class RootfsBuilder:
    """Applies a Plan. `cgroup_layout` lists (subdir, fstype, data, host dir) per hierarchy."""

    def __init__(self, sys: Syscalls, rootfs: str, in_userns: bool, cgroupns: bool,
                 cgroup_layout: list[tuple[str, str, str, str]], bundle: str) -> None:  # fmt: skip
        self.sys = sys
        self.rootfs = rootfs
        self.in_userns = in_userns
        self.cgroupns = cgroupns
        self.cgroup_layout = cgroup_layout
        self.bundle = bundle
        self.root_fd = -1
        self.null_fd = -1  # the container's /dev/null, opened and checked once for every mask

    # -- before pivot_root ------------------------------------------------
    def before_pivot(self, steps: tuple[Step, ...]) -> None:
        for step in steps:
            try:
                getattr(self, "_" + step.kind.replace("-", "_"))(step)
            except OSError as e:
                raise OSError(e.errno, f"{step.kind} {step.dest or self.rootfs}: {e.strerror}") from None

    def _propagate_root(self, step: Step) -> None:
        self.sys.mount(None, "/", None, step.flags)

    def _bind_rootfs(self, step: Step) -> None:
        self.sys.mount(self.rootfs, self.rootfs, None, m.MS_BIND | m.MS_REC)
        self.root_fd = self.sys.open(self.rootfs, os.O_PATH | os.O_DIRECTORY)

    def _parent(self, path: str) -> tuple[int, str]:
        """An O_PATH fd of path's parent inside the root (made if missing), and the last name."""
        parent, name = posixpath.split(path)
        fd = self._target(parent, True)
        return fd, name

    def _target(self, path: str, directory: bool, no_symlink: bool = False) -> int:
        """An O_PATH fd of the mount target inside the root, made if missing."""
        if no_symlink:
            self._refuse_symlink(path)
        return open_or_make_in_root(self.sys, self.root_fd, path, directory)

    def _refuse_symlink(self, path: str) -> None:
        parent, name = posixpath.split(path)
        try:
            pfd = self.sys.open_in_root(self.root_fd, parent)
        except FileNotFoundError:
            return
        try:
            if stat.S_ISLNK(self.sys.lstatat(pfd, name).st_mode):
                raise InvalidArgument(f"rootfs: {path} is a symlink; refusing to mount there")
        except FileNotFoundError:
            pass
        finally:
            self.sys.close(pfd)

    def _at(self, path: str, fn) -> None:
        """Run fn('/proc/self/fd/N') on the target as it resolves now (mounts included)."""
        fd = self.sys.open_in_root(self.root_fd, path)
        try:
            fn(f"/proc/self/fd/{fd}")
        finally:
            self.sys.close(fd)

    def _mount(self, step: Step) -> None:
        if step.fstype == "bind":
            source = step.source if step.source.startswith("/") else os.path.join(self.bundle, step.source)
            fd = self._target(step.dest, self.sys.is_dir(source))
            self.sys.close(fd)
            self._at(step.dest, lambda t: self.sys.mount(source, t, None, step.flags & (m.MS_BIND | m.MS_REC)))
            extra = step.flags & ~(m.MS_BIND | m.MS_REC)
            if extra:
                self._at(step.dest, lambda t: self.sys.mount(None, t, None, m.MS_BIND | m.MS_REMOUNT | extra))
        else:
            fd = self._target(step.dest, True, no_symlink=step.fstype in _NO_SYMLINK_TYPES)
            try:
                self.sys.mount(
                    step.source or step.fstype, f"/proc/self/fd/{fd}", step.fstype, step.flags, step.data or None
                )
            except PermissionError:
                if step.fstype != "sysfs":
                    raise
                # no network namespace of its own: sysfs cannot be mounted, bind the host's
                self.sys.mount("/sys", f"/proc/self/fd/{fd}", None, m.MS_BIND | m.MS_REC)
                self.sys.close(fd)
                self._at(step.dest, lambda t: self.sys.mount(None, t, None, m.MS_BIND | m.MS_REMOUNT | step.flags))
                fd = -1
            finally:
                if fd >= 0:
                    self.sys.close(fd)
        for prop in step.propagation:
            self._at(step.dest, lambda t, p=prop: self.sys.mount(None, t, None, p))

    def _cgroup(self, step: Step) -> None:
        ro = step.flags & m.MS_RDONLY
        if len(self.cgroup_layout) == 1 and not self.cgroup_layout[0][0]:
            _, fstype, data, host = self.cgroup_layout[0]
            self._mount_cgroup(step.dest, fstype, data, host, step.flags)
            return
        fd = self._target(step.dest, True)
        self.sys.mount("tmpfs", f"/proc/self/fd/{fd}", "tmpfs", (step.flags & ~m.MS_RDONLY), "mode=755")
        self.sys.close(fd)
        for subdir, fstype, data, host in self.cgroup_layout:
            self._mount_cgroup(f"{step.dest}/{subdir}", fstype, data, host, step.flags)
        if ro:
            self._at(step.dest, lambda t: self.sys.mount(None, t, None, m.MS_BIND | m.MS_REMOUNT | step.flags))

    def _mount_cgroup(self, dest: str, fstype: str, data: str, host: str, flags: int) -> None:
        fd = self._target(dest, True)
        try:
            if self.cgroupns:
                try:
                    self.sys.mount("cgroup", f"/proc/self/fd/{fd}", fstype, flags, data or None)
                    return
                except OSError as e:
                    # in a user namespace the kernel may refuse (EBUSY over a sysfs bound from the
                    # host's, when the network namespace is the host's): the container's own
                    # cgroup is bound instead, as runc does
                    if not (self.in_userns and e.errno in (errno.EPERM, errno.EBUSY)):
                        raise
            self.sys.mount(host, f"/proc/self/fd/{fd}", None, m.MS_BIND | m.MS_REC)
        finally:
            self.sys.close(fd)
        if flags:
            self._at(dest, lambda t: self.sys.mount(None, t, None, m.MS_BIND | m.MS_REMOUNT | flags))

    def _device(self, step: Step) -> None:
        kind, major, minor, mode, uid, gid = step.device
        if self.in_userns:
            # mknod is not allowed in a user namespace: bind the host's node instead
            self.sys.close(self._target(step.dest, False))
            self._at(step.dest, lambda t: self.sys.mount(step.dest, t, None, m.MS_BIND))
            return
        pfd, name = self._parent(step.dest)
        try:
            try:
                self.sys.lstatat(pfd, name)
                os.unlink(name, dir_fd=pfd)
            except FileNotFoundError:
                pass
            fmt = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}.get(kind)
            if fmt is None:
                raise InvalidArgument(f"linux.devices: {step.dest}: unknown device type {kind!r}")
            self.sys.mknodat(pfd, name, fmt | (mode & 0o7777), os.makedev(major, minor))
            self.sys.fchownat(pfd, name, uid, gid)
        finally:
            self.sys.close(pfd)

    def _symlink(self, step: Step) -> None:
        pfd, name = self._parent(step.dest)
        try:
            self.sys.symlinkat(step.source, pfd, name)
        except FileExistsError:
            pass
        finally:
            self.sys.close(pfd)

    def pivot_root(self) -> None:
        """pivot_root(".", ".") then detach the old root: never chroot."""
        new_root = self.sys.open(self.rootfs, os.O_DIRECTORY | os.O_RDONLY)
        old_root = self.sys.open("/", os.O_DIRECTORY | os.O_RDONLY)
        try:
            self.sys.fchdir(new_root)
            self.sys.pivot_root(".", ".")
            self.sys.fchdir(old_root)
            # make the old root a slave so detaching it cannot propagate to the host
            self.sys.mount(None, ".", None, m.MS_SLAVE | m.MS_REC)
            self.sys.umount2(".", m.MNT_DETACH)
            self.sys.chdir("/")
        finally:
            self.sys.close(new_root)
            self.sys.close(old_root)
            if self.root_fd >= 0:
                self.sys.close(self.root_fd)
                self.root_fd = -1

    # -- after pivot_root -------------------------------------------------
    def after_pivot(self, steps: tuple[Step, ...]) -> None:
        try:
            for step in steps:
                try:
                    getattr(self, "_" + step.kind.replace("-", "_"))(step)
                except OSError as e:
                    raise OSError(e.errno, f"{step.kind} {step.dest}: {e.strerror}") from None
        finally:
            if self.null_fd >= 0:
                self.sys.close(self.null_fd)
                self.null_fd = -1

    def _open_nofollow(self, path: str) -> int:
        return self.sys.open(path, os.O_PATH | os.O_NOFOLLOW)

    def _mask(self, step: Step) -> None:
        try:
            fd = self._open_nofollow(step.dest)
        except FileNotFoundError:
            return
        try:
            if stat.S_ISDIR(self.sys.fstat(fd).st_mode):
                self.sys.mount("tmpfs", f"/proc/self/fd/{fd}", "tmpfs", m.MS_RDONLY, "size=0k")
                return
            self.sys.mount(f"/proc/self/fd/{self._null()}", f"/proc/self/fd/{fd}", None, m.MS_BIND)
        finally:
            self.sys.close(fd)

    def _null(self) -> int:
        if self.null_fd < 0:
            null = self._open_nofollow("/dev/null")
            st = self.sys.fstat(null)
            if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
                self.sys.close(null)
                raise InvalidArgument("/dev/null in the container is not the null device; refusing to mask with it")
            self.null_fd = null
        return self.null_fd

    def _readonly(self, step: Step) -> None:
        try:
            fd = self._open_nofollow(step.dest)
        except FileNotFoundError:
            return
        try:
            self.sys.mount(f"/proc/self/fd/{fd}", f"/proc/self/fd/{fd}", None, m.MS_BIND | m.MS_REC)
        finally:
            self.sys.close(fd)
        self._remount_ro(step.dest)

    def _root_readonly(self, step: Step) -> None:
        self._remount_ro("/")

    def _remount_ro(self, path: str) -> None:
        fd = self._open_nofollow(path)
        try:
            target = f"/proc/self/fd/{fd}"
            current = self.sys.statvfs_flags(target)
            keep = 0
            for st_flag, ms_flag in _KEEP_FLAGS:
                if current & st_flag:
                    keep |= ms_flag
            try:
                self.sys.mount(None, target, None, m.MS_BIND | m.MS_REMOUNT | m.MS_RDONLY | keep)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                self.sys.mount(None, target, None, m.MS_REMOUNT | m.MS_RDONLY | keep)
        finally:
            self.sys.close(fd)
