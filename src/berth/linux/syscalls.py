"""The syscalls that set up a container's root file system, behind one object.

Rootfs code calls these methods and never libc directly, so tests can swap in
a recording fake and check the order of operations without root.
"""

import os
import stat

from berth.linux import mount as _mount
from berth.linux.openat2 import open_in_root


class Syscalls:
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        _mount.mount(source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int) -> None:
        _mount.umount2(target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        _mount.pivot_root(new_root, put_old)

    def open_in_root(self, root_fd: int, path: str, flags: int = os.O_PATH) -> int:
        return open_in_root(root_fd, path, flags)

    def open(self, path: str, flags: int, dir_fd: int | None = None, mode: int = 0o644) -> int:
        return os.open(path, flags | os.O_CLOEXEC, mode, dir_fd=dir_fd)

    def close(self, fd: int) -> None:
        os.close(fd)

    def mkdirat(self, dir_fd: int, name: str, mode: int = 0o755) -> None:
        os.mkdir(name, mode, dir_fd=dir_fd)

    def lstatat(self, dir_fd: int, name: str) -> os.stat_result:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)

    def readlinkat(self, dir_fd: int, name: str) -> str:
        return os.readlink(name, dir_fd=dir_fd)

    def fstat(self, fd: int) -> os.stat_result:
        return os.fstat(fd)

    def mknodat(self, dir_fd: int, name: str, mode: int, device: int) -> None:
        os.mknod(name, mode, device, dir_fd=dir_fd)

    def fchownat(self, dir_fd: int, name: str, uid: int, gid: int) -> None:
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)

    def fchmodat(self, dir_fd: int, name: str, mode: int) -> None:
        # no AT_SYMLINK_NOFOLLOW for chmod on Linux; callers only pass names they just made
        os.chmod(name, mode, dir_fd=dir_fd)

    def symlinkat(self, target: str, dir_fd: int, name: str) -> None:
        os.symlink(target, name, dir_fd=dir_fd)

    def chdir(self, path: str) -> None:
        os.chdir(path)

    def fchdir(self, fd: int) -> None:
        os.fchdir(fd)

    def statvfs_flags(self, path: str) -> int:
        return os.statvfs(path).f_flag

    def is_dir(self, path: str) -> bool:
        return stat.S_ISDIR(os.stat(path).st_mode)
