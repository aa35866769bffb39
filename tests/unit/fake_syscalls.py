"""A recording fake of berth.linux.syscalls.Syscalls over an in-memory tree."""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from types import SimpleNamespace

from berth.linux.syscalls import Syscalls


class FakeSyscalls(Syscalls):
    def __init__(self, dirs=(), files=(), symlinks=None) -> None:
        self.dirs = {"/", *dirs}
        self.files = set(files)
        self.symlinks = dict(symlinks or {})
        self.fds: dict[int, str] = {}
        self.next_fd = 100
        self.calls: list[tuple] = []

    def _fd(self, path: str) -> int:
        self.next_fd += 1
        self.fds[self.next_fd] = path
        return self.next_fd

    def _target(self, target: str) -> str:
        if target.startswith("/proc/self/fd/"):
            return self.fds[int(target.rsplit("/", 1)[1])]
        return target

    def mount(self, source, target, fstype, flags, data=None):
        self.calls.append(("mount", source and self._target(source), self._target(target), fstype, flags, data, target))

    def umount2(self, target, flags):
        self.calls.append(("umount2", target, flags))

    def pivot_root(self, new_root, put_old):
        self.calls.append(("pivot_root", new_root, put_old))

    def open_in_root(self, root_fd, path, flags=os.O_PATH):
        root = self.fds[root_fd]
        full = posixpath.normpath(posixpath.join(root, path.lstrip("/")))
        for link, target in self.symlinks.items():  # follow links inside the root, as RESOLVE_IN_ROOT does
            if full == link or full.startswith(link + "/"):
                full = posixpath.normpath(root + "/" + target.lstrip("/") + full[len(link) :])
        if full not in self.dirs and full not in self.files:
            raise FileNotFoundError(errno.ENOENT, "No such file", full)
        return self._fd(full)

    def open(self, path, flags, dir_fd=None, mode=0o644):
        full = posixpath.join(self.fds[dir_fd], path) if dir_fd is not None else path
        if flags & os.O_CREAT:
            if flags & os.O_EXCL and self._exists(full):
                raise FileExistsError(errno.EEXIST, "File exists", full)
            self.files.add(full)
            self.calls.append(("create", full))
        elif full not in self.dirs and full not in self.files:
            raise FileNotFoundError(errno.ENOENT, "No such file", full)
        return self._fd(full)

    def close(self, fd):
        self.fds.pop(fd)

    def _exists(self, full):
        return full in self.dirs or full in self.files or full in self.symlinks

    def mkdirat(self, dir_fd, name, mode=0o755):
        full = posixpath.join(self.fds[dir_fd], name)
        if self._exists(full):
            raise FileExistsError(errno.EEXIST, "File exists", full)
        self.dirs.add(full)
        self.calls.append(("mkdir", full))

    def lstatat(self, dir_fd, name):
        full = posixpath.join(self.fds[dir_fd], name)
        if full in self.symlinks:
            return os.stat_result((stat.S_IFLNK | 0o777, 0, 0, 1, 0, 0, 0, 0, 0, 0))
        if full in self.dirs or full in self.files:
            return os.stat_result((stat.S_IFDIR | 0o755, 0, 0, 1, 0, 0, 0, 0, 0, 0))
        raise FileNotFoundError(errno.ENOENT, "No such file", full)

    def readlinkat(self, dir_fd, name):
        return self.symlinks[posixpath.join(self.fds[dir_fd], name)]

    def fstat(self, fd):
        path = self.fds[fd]
        if path == "/dev/null":
            return SimpleNamespace(st_mode=stat.S_IFCHR | 0o666, st_rdev=os.makedev(1, 3))
        mode = stat.S_IFDIR if path in self.dirs else stat.S_IFREG
        return SimpleNamespace(st_mode=mode | 0o755, st_rdev=0)

    def mknodat(self, dir_fd, name, mode, device):
        self.calls.append(("mknod", posixpath.join(self.fds[dir_fd], name), mode, device))

    def fchownat(self, dir_fd, name, uid, gid):
        pass

    def symlinkat(self, target, dir_fd, name):
        self.calls.append(("symlink", target, posixpath.join(self.fds[dir_fd], name)))

    def chdir(self, path):
        self.calls.append(("chdir", path))

    def fchdir(self, fd):
        self.calls.append(("fchdir", self.fds[fd]))

    def statvfs_flags(self, path):
        return 0

    def is_dir(self, path):
        return True

    def kinds(self) -> list[str]:
        return [c[0] for c in self.calls]
